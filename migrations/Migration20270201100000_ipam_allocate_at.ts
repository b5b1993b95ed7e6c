import { Migration } from '@mikro-orm/migrations'

const SIGNATURE = `int, text, inet, boolean, text, macaddr, text, text, text, text, text, boolean, boolean, timestamptz, text,
  text, inet, text, text, text, text, text, text, text, text, uuid, text, text, timestamptz`

/** plpgsql: raise 42501 unless the session's login holds netkeeper_operator (superusers and the owner do). */
const REQUIRE_OPERATOR = `
        if not (pg_has_role(session_user, 'netkeeper_operator', 'USAGE') or pg_has_role(session_user, 'netkeeper_owner', 'USAGE')) then
          raise exception 'permission denied: % needs the netkeeper_operator role', 'allocating addresses' using errcode = '42501',
            hint = 'an owner runs: netkeeper db grant --login ' || session_user || ' --role operator';
        end if;`

/**
 * An explicit address (`netkeeper ipam allocate --ip X`, the subnet map's "allocate this address") in one
 * statement, as ipam_allocate_next_keyed is for next-free: the service's explicit path took about nine round
 * trips (begin, the pool's lock, the dhcp/reserved range, the free range, its update, the holder, the insert,
 * the audit append, a durable commit), all under the pool's row lock. Here, in one call:
 *
 * - the pool is resolved (an id first, a name second; a name several address spaces hold is refused as
 *   ambiguous, naming them) and locked;
 * - the address is checked against the pool: its family, inside the network, not the network, broadcast or
 *   IPv6 subnet-router anycast address, not the gateway;
 * - an address inside a dhcp range is refused unless forced (the range named); one inside a reserved range
 *   is free for an explicit request, as before;
 * - the space's unique-address rule: the address's holder in the pool's space is locked and read; an active
 *   holder is a refusal naming it; an address in a child pool is refused naming the child;
 * - the address leaves the pool's free-space cache (ipam_free_take), the row is inserted (the DNS and DHCP
 *   outbox rows are queued by its deferred triggers at commit, as for every insert), and the audit row is
 *   appended, stamped by the server (time, login) like ipam_allocate_next_keyed's;
 * - given an idempotency key (an offline edit being replayed), the key is recorded with the same result
 *   shape as the replayer's hook; a key already there raises NK002 and undoes the statement.
 *
 * The audit body and details come as templates with placeholders for the row's id, its address and the
 * pool's name (the caller does not read the pool first); to_json gives the same JSON text as the caller's
 * serialiser, so the hash is the one verify recomputes.
 *
 * A refusal is an outcome with nothing changed, not an error: the caller words it exactly as the general
 * path does (src/main/core/ipam/explicit.ts) and audits it as a failure. Outcomes: 'ok' (one row), 'not_found',
 * 'ambiguous' (detail: the pools), 'inactive', 'family', 'unusable', 'gateway', 'dhcp_range' (detail: the
 * range), 'held' (detail: the holder), 'child' (detail: the child pool), 'not_free', and 'slow': the address
 * is held by a lapsed reservation (or the free-space cache disagrees with the rows), which the general path
 * reuses with the former holder's values in the audit row's before; nothing was changed here.
 *
 * Run as the owner (SECURITY DEFINER, pinned search_path) with the operator check it no longer gets from
 * table grants; executable by netkeeper_operator (and above) only.
 */
export class Migration20270201100000_ipam_allocate_at extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create function "ipam_allocate_at"(
        p_pool_id int, p_pool_name text, p_ip inet, p_force boolean,
        p_hostname text, p_mac macaddr, p_owner text, p_owner_dn text, p_purpose text, p_description text, p_status text,
        p_dns boolean, p_dhcp boolean, p_until timestamptz, p_by text,
        p_user_id text, p_user_ip inet, p_user_agent text, p_request_id text, p_source text,
        p_body_tpl text, p_details_tpl text, p_id_ph text, p_ip_ph text, p_pool_ph text,
        p_key uuid, p_key_operation text, p_key_actor text, p_key_queued_at timestamptz)
      returns table ("outcome" text, "pool_id" int, "pool_name" text, "space_name" text, "network" text, "gateway" text,
                     "detail" jsonb, "id" int, "ip" text, "created_at" timestamptz, "updated_at" timestamptz, "version" int)
      language plpgsql security definer as $$
      declare
        pool record; n int := 0; r record; holder record; skip record; free record; a record; h record;
        s bigint; hash text; pool_json text; id_json text; ip_json text; body text;
      begin
        ${REQUIRE_OPERATOR}
        -- The pool, by id first; a pool may also be named with digits only. Found and locked in one statement.
        if p_pool_id is not null then
          select p."id", p."name", p."network", p."gateway", p."is_active", p."space_id", sp."name" as space
            into pool from "ip_pools" p join "ip_spaces" sp on sp."id" = p."space_id" where p."id" = p_pool_id for update of p;
          n := case when found then 1 else 0 end;
        end if;
        if n = 0 then
          for r in select p."id", p."name", p."network", p."gateway", p."is_active", p."space_id", sp."name" as space
                     from "ip_pools" p join "ip_spaces" sp on sp."id" = p."space_id"
                    where p."name" = p_pool_name order by p."space_id" limit 2 for update of p loop
            n := n + 1;
            if n = 1 then pool := r; end if;
          end loop;
        end if;
        if n = 0 then outcome := 'not_found'; return next; return; end if;
        if n > 1 then
          outcome := 'ambiguous';
          select jsonb_agg(jsonb_build_object('id', p."id", 'space', sp."name") order by sp."name") into detail
            from "ip_pools" p join "ip_spaces" sp on sp."id" = p."space_id" where p."name" = p_pool_name;
          return next; return;
        end if;
        pool_id := pool."id"; pool_name := pool."name"; space_name := pool.space; network := pool."network"::text;
        gateway := host(pool."gateway");
        if not pool."is_active" then outcome := 'inactive'; return next; return; end if;

        -- The address against the pool (the caller words each refusal, src/shared/net.ts unusableReason).
        if family(p_ip) <> family(pool."network") then outcome := 'family'; return next; return; end if;
        if not (p_ip <<= pool."network")
           or (family(p_ip) = 4 and masklen(pool."network") < 31 and (host(p_ip) = host(pool."network") or host(p_ip) = host(broadcast(pool."network"))))
           or (family(p_ip) = 6 and masklen(pool."network") < 127 and host(p_ip) = host(pool."network")) then
          outcome := 'unusable'; return next; return;
        end if;
        if pool."gateway" is not null and host(pool."gateway") = host(p_ip) then outcome := 'gateway'; return next; return; end if;

        -- A dhcp range belongs to the DHCP server: an address in it only when forced.
        select host(x."first_ip") as "first", host(x."last_ip") as "last", x."purpose", x."description" into skip
          from "ip_ranges" x where x."pool_id" = pool."id" and x."first_ip" <= p_ip and x."last_ip" >= p_ip and x."purpose" in ('dhcp', 'reserved') limit 1;
        if found and skip."purpose" = 'dhcp' and not coalesce(p_force, false) then
          outcome := 'dhcp_range';
          detail := jsonb_build_object('first', skip."first", 'last', skip."last", 'purpose', skip."purpose", 'description', skip."description");
          return next; return;
        end if;

        -- The space's unique-address rule: the holder in this pool's space, locked.
        select l."hostname", l."owner", l."allocated_by", l."status", hp."name" as holder_pool,
               (l."status" = 'reserved' and l."reserved_until" is not null and l."reserved_until" <= now()) as expired
          into holder from "ip_allocations" l join "ip_pools" hp on hp."id" = l."pool_id"
         where l."ip_address" = p_ip and l."space_id" = pool."space_id" for update of l;
        if found then
          if holder.expired or exists (select 1 from "ip_free_ranges" f where f."pool_id" = pool."id" and f."first_ip" <= p_ip and f."last_ip" >= p_ip) then
            -- A lapsed hold to reuse (or a cache to mend): the general path writes it, with the former holder as before.
            outcome := 'slow'; return next; return;
          end if;
          outcome := 'held';
          detail := jsonb_build_object('hostname', holder."hostname", 'owner', holder."owner", 'allocatedBy', holder."allocated_by",
                                       'status', holder."status", 'pool', holder.holder_pool);
          return next; return;
        end if;

        select f."first_ip", f."last_ip" into free from "ip_free_ranges" f
         where f."pool_id" = pool."id" and f."first_ip" <= p_ip order by f."first_ip" desc limit 1;
        if found and free."last_ip" >= p_ip then
          perform "ipam_free_take"(pool."id", p_ip, p_ip);
        elsif skip."purpose" is null then
          -- Neither in the free space nor in a range next-free skips: a child pool's, or not free.
          select c."name", c."network"::text as "network" into r from "ip_pools" c where c."parent_id" = pool."id" and c."network" >>= p_ip limit 1;
          if found then
            outcome := 'child'; detail := jsonb_build_object('name', r."name", 'network', r."network");
          else
            outcome := 'not_free';
          end if;
          return next; return;
        end if;

        insert into "ip_allocations" as t ("pool_id", "ip_address", "hostname", "mac_address", "owner", "owner_dn", "purpose", "description",
                                           "status", "dns_managed", "dhcp_managed", "reserved_until", "allocated_by")
        values (pool."id", p_ip, p_hostname, p_mac, p_owner, p_owner_dn, p_purpose, p_description, p_status, p_dns, p_dhcp, p_until, p_by)
        returning t."id", host(t."ip_address") as "ip", t."created_at", t."updated_at", t."version" into a;

        pool_json := to_json(pool."name"::text)::text;
        id_json := to_json(a."id"::text)::text;
        ip_json := to_json(a."ip")::text;
        body := "audit_stamp_body"(replace(replace(replace(p_body_tpl, p_pool_ph, pool_json), p_id_ph, id_json), p_ip_ph, ip_json),
                                   to_char(date_trunc('milliseconds', now()) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), session_user);
        select c."last_seq", c."last_hash" into h from "audit_chain_head" c where c."id" = 1 for update;
        s := h."last_seq" + 1;
        hash := encode(sha256(convert_to(h."last_hash" || chr(10) || s::text || chr(10) || body, 'UTF8')), 'hex');
        insert into "audit_logs" ("seq", "created_at", "action", "resource_type", "resource_id", "resource_name", "user_id",
                                  "user_ip", "user_agent", "status", "details", "request_id", "source", "prev_hash", "row_hash", "db_user")
        values (s, date_trunc('milliseconds', now()), 'create', 'ip_allocation', a."id"::text, a."ip", p_user_id, p_user_ip, p_user_agent,
                'success', replace(replace(replace(p_details_tpl, p_pool_ph, pool_json), p_id_ph, id_json), p_ip_ph, ip_json)::jsonb,
                p_request_id, p_source, h."last_hash", hash, session_user);
        update "audit_chain_head" set "last_seq" = s, "last_hash" = hash where "audit_chain_head"."id" = 1;

        if p_key is not null then
          insert into "offline_applied" ("idempotency_key", "operation", "actor", "queued_at", "result")
          values (p_key, p_key_operation, p_key_actor, p_key_queued_at,
                  jsonb_build_object('allocations', jsonb_build_array(jsonb_build_object('id', a."id", 'ip', a."ip", 'pool', pool."name", 'version', a."version"))))
          on conflict ("idempotency_key") do nothing;
          if not found then
            -- Another replayer committed this key: undo everything this statement did.
            raise exception 'offline edit % was already applied', p_key using errcode = 'NK002';
          end if;
        end if;

        outcome := 'ok'; id := a."id"; ip := a."ip"; created_at := a."created_at"; updated_at := a."updated_at"; version := a."version";
        return next;
      end $$;`)
    this.addSql(`
      do $$
      declare s text := current_schema();
      begin
        alter function "ipam_allocate_at"(${SIGNATURE}) owner to netkeeper_owner;
        execute format('alter function "ipam_allocate_at"(${SIGNATURE}) set search_path = %I, pg_catalog, pg_temp', s);
        revoke all on function "ipam_allocate_at"(${SIGNATURE}) from public;
        grant execute on function "ipam_allocate_at"(${SIGNATURE}) to netkeeper_operator;
      end $$;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "ipam_allocate_at"(${SIGNATURE});`)
  }
}

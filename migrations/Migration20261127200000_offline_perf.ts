import { Migration } from '@mikro-orm/migrations'

const SIGNATURE = `int, text, int, text, macaddr, text, text, text, text, boolean, boolean, timestamptz, text, timestamptz, text, inet, text, text, text,
  text, text, text, text, text, text, text, uuid, text, text, timestamptz, boolean`

/**
 * Next-free allocation in one statement, with two changes from ipam_allocate_next (which stays, unused,
 * for a later clean-up migration):
 *
 * - it resolves the pool itself (an id first, a name second, the same rule as everywhere else) and puts
 *   the locked pool's name into the audit body and details through a third placeholder (p_pool_ph), so
 *   the caller no longer reads the pool first: one round trip instead of two;
 * - given an idempotency key (an offline-queued edit being replayed, docs/offline.md), it records the key
 *   in offline_applied in the same statement, so the key commits with the change or not at all. A key
 *   already there raises SQLSTATE NK002 and rolls the whole statement back. The stored result has the
 *   shape replay's summarize() gives for ipam.allocate: {"allocations": [{id, ip, pool, version}]}.
 *
 * Outcomes as before: 'ok' with the rows; 'not_found'; 'inactive'; 'slow' (lapsed holds exist: the caller
 * takes the general path, nothing changed); a shortage raises NK001 with the number of free addresses.
 * With p_strict, every outcome but 'ok' raises (NK003, the outcome in the detail): replay sends runs of
 * these calls in one round trip, each in its own transaction, and an error is what stops such a run.
 * p_pool_name is the reference as given (the name, or the digits of an id when p_pool_id is set).
 */
export class Migration20261127200000_offline_perf extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create function "ipam_allocate_next_keyed"(
        p_pool_id int, p_pool_name text, p_count int,
        p_hostname text, p_mac macaddr, p_owner text, p_purpose text, p_description text, p_status text,
        p_dns boolean, p_dhcp boolean, p_until timestamptz, p_by text,
        p_created_at timestamptz, p_user_id text, p_user_ip inet, p_user_agent text, p_request_id text, p_source text,
        p_action text, p_resource_type text, p_body_tpl text, p_details_tpl text, p_id_ph text, p_ip_ph text, p_pool_ph text,
        p_key uuid, p_key_operation text, p_key_actor text, p_key_queued_at timestamptz, p_strict boolean)
      returns table ("outcome" text, "pool_id" int, "pool_name" text, "id" int, "ip" text, "created_at" timestamptz,
                     "updated_at" timestamptz, "version" int)
      language plpgsql as $$
      declare
        pool record; have_pool boolean := false; r record; x inet; last_taken inet; taken int := 0; ips inet[] := '{}';
        ids int[] := '{}'; h record; s bigint; prev text; hash text; body_tpl text; details_tpl text; body text; a record;
        res jsonb;
      begin
        if p_pool_id is not null then
          select p."id", p."name", p."is_active" into pool from "ip_pools" p where p."id" = p_pool_id for update;
          have_pool := found;
        end if;
        if not have_pool then
          -- A pool may be named with digits only.
          select p."id", p."name", p."is_active" into pool from "ip_pools" p where p."name" = p_pool_name for update;
          have_pool := found;
        end if;
        if have_pool then pool_id := pool."id"; pool_name := pool."name"; else outcome := 'not_found'; end if;
        if outcome is null then
          if not pool."is_active" then outcome := 'inactive'; end if;
        end if;
        if outcome is null then
          perform 1 from "ip_allocations" l
            where l."pool_id" = pool."id" and l."status" = 'reserved' and l."reserved_until" is not null and l."reserved_until" <= now()
            limit 1;
          if found then outcome := 'slow'; end if;
        end if;
        if outcome is not null then
          -- Strict (a run of replayed edits sent together): stop the run here; the caller retries this one alone.
          if p_strict then raise exception 'next-free allocation needs the caller: %', outcome using errcode = 'NK003', detail = outcome; end if;
          return next; return;
        end if;

        for r in select f."first_ip", f."last_ip" from "ip_free_ranges" f where f."pool_id" = pool."id" order by f."first_ip" limit p_count loop
          x := r."first_ip";
          last_taken := null;
          loop
            exit when taken >= p_count;
            ips := ips || x; taken := taken + 1; last_taken := x;
            exit when x = r."last_ip";
            x := x + 1;
          end loop;
          if last_taken is not null then
            if last_taken = r."last_ip" then
              delete from "ip_free_ranges" f where f."pool_id" = pool."id" and f."first_ip" = r."first_ip";
            else
              update "ip_free_ranges" f set "first_ip" = last_taken + 1 where f."pool_id" = pool."id" and f."first_ip" = r."first_ip";
            end if;
          end if;
          exit when taken >= p_count;
        end loop;
        if taken < p_count then
          raise exception 'not enough free addresses: % free, % asked', taken, p_count using errcode = 'NK001', detail = taken::text;
        end if;

        -- The pool's name as locked: to_json gives the same JSON string text as the caller's serialiser.
        body_tpl := replace(p_body_tpl, p_pool_ph, to_json(pool."name"::text)::text);
        details_tpl := replace(p_details_tpl, p_pool_ph, to_json(pool."name"::text)::text);
        select "last_seq", "last_hash" into h from "audit_chain_head" where "audit_chain_head"."id" = 1 for update;
        s := h."last_seq"; prev := h."last_hash";
        for a in
          insert into "ip_allocations" as t ("pool_id", "ip_address", "hostname", "mac_address", "owner", "purpose", "description",
                                             "status", "dns_managed", "dhcp_managed", "reserved_until", "allocated_by")
          select pool."id", u.x, p_hostname, p_mac, p_owner, p_purpose, p_description, p_status, p_dns, p_dhcp, p_until, p_by
            from unnest(ips) as u(x)
          returning t."id", t."ip_address", t."created_at", t."updated_at", t."version"
        loop
          s := s + 1;
          body := replace(replace(body_tpl, p_id_ph, to_json(a."id"::text)::text), p_ip_ph, to_json(host(a."ip_address"))::text);
          hash := encode(sha256(convert_to(prev || chr(10) || s::text || chr(10) || body, 'UTF8')), 'hex');
          insert into "audit_logs" ("seq", "created_at", "action", "resource_type", "resource_id", "resource_name", "user_id",
                                    "user_ip", "user_agent", "status", "details", "request_id", "source", "prev_hash", "row_hash")
          values (s, p_created_at, p_action, p_resource_type, a."id"::text, host(a."ip_address"), p_user_id, p_user_ip, p_user_agent,
                  'success', replace(replace(details_tpl, p_id_ph, to_json(a."id"::text)::text), p_ip_ph, to_json(host(a."ip_address"))::text)::jsonb,
                  p_request_id, p_source, prev, hash);
          prev := hash;
          ids := ids || a."id";
          outcome := 'ok'; id := a."id"; ip := host(a."ip_address"); created_at := a."created_at"; updated_at := a."updated_at";
          version := a."version";
          return next;
        end loop;
        update "audit_chain_head" set "last_seq" = s, "last_hash" = prev where "audit_chain_head"."id" = 1;

        if p_key is not null then
          select jsonb_build_object('allocations', jsonb_agg(jsonb_build_object('id', t."id", 'ip', host(t."ip_address"), 'pool', pool."name",
                                                                                'version', t."version") order by t."ip_address"))
            into res from "ip_allocations" t where t."id" = any(ids);
          insert into "offline_applied" ("idempotency_key", "operation", "actor", "queued_at", "result")
          values (p_key, p_key_operation, p_key_actor, p_key_queued_at, res)
          on conflict ("idempotency_key") do nothing;
          if not found then
            -- Another replayer committed this key: undo everything this statement did.
            raise exception 'offline edit % was already applied', p_key using errcode = 'NK002';
          end if;
        end if;
      end $$;`)
    // Pinned like every other Netkeeper function (Migration20261127170000_function_search_path).
    this.addSql(`alter function "ipam_allocate_next_keyed"(${SIGNATURE}) set search_path from current;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "ipam_allocate_next_keyed"(${SIGNATURE});`)
  }
}

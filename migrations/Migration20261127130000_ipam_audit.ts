import { Migration } from '@mikro-orm/migrations'

/**
 * IPAM and audit machinery:
 * - ip_free_ranges: the free space of each pool as ranges, kept in step with allocations under the pool's
 *   row lock, so "next free" is one index probe however full the pool is;
 * - search indexes (case-insensitive hostname prefix, owner, addresses by containment);
 * - the audit hash chain: a single head row appended under a row lock, checkpoints left by purges, and a
 *   trigger that refuses UPDATE, DELETE and TRUNCATE on audit_logs except inside the retention purge.
 */
export class Migration20261127130000_ipam_audit extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "ip_free_ranges" (
        "pool_id" int not null references "ip_pools" ("id") on delete cascade,
        "first_ip" inet not null,
        "last_ip" inet not null,
        primary key ("pool_id", "first_ip"),
        constraint "ip_free_ranges_order" check ("first_ip" <= "last_ip")
      );`)

    // Rebuilds a pool's free ranges from its allocations: used when a pool is created, its network or
    // gateway changes, or rows were written in bulk (import). O(allocations), run under the pool lock.
    this.addSql(`
      create function "ipam_rebuild_free_ranges"(p_pool int) returns void language plpgsql as $$
      declare
        net cidr; gw inet; lo inet; hi inet; cur inet; a inet;
      begin
        select "network", "gateway" into net, gw from "ip_pools" where "id" = p_pool;
        delete from "ip_free_ranges" where "pool_id" = p_pool;
        if net is null then return; end if;
        lo := host(net)::inet;
        hi := host(broadcast(net))::inet;
        if family(net) = 4 and masklen(net) < 31 then lo := lo + 1; hi := hi - 1;
        elsif family(net) = 6 and masklen(net) < 127 then lo := lo + 1;
        end if;
        cur := lo;
        for a in
          select "ip_address" from "ip_allocations"
           where "pool_id" = p_pool and "status" <> 'available' and "ip_address" between lo and hi
          union
          select gw where gw is not null and gw between lo and hi
          order by 1
        loop
          if a > cur then
            insert into "ip_free_ranges" values (p_pool, cur, a - 1);
          end if;
          if a = hi then cur := null; exit; end if;
          cur := a + 1;
        end loop;
        if cur is not null and cur <= hi then
          insert into "ip_free_ranges" values (p_pool, cur, hi);
        end if;
      end $$;`)

    // The hot path of "next free": locks the pool row (by id or name), takes the lowest `p_count` free
    // addresses from the free ranges and from reservations whose hold has lapsed, merged in address order,
    // and draws an id for each new row. One round trip. Each statement in a plpgsql function takes a fresh
    // snapshot, so after waiting for the lock it sees what the previous holder committed.
    // Returns one row per address; a pool that is missing returns nothing, an inactive or full one a row with ip null.
    this.addSql(`
      create function "ipam_next"(p_pool_id int, p_pool_name text, p_count int)
      returns table ("pool_id" int, "pool_name" text, "network" text, "gateway" text, "is_active" boolean,
                     "ip" inet, "reuse" boolean, "new_id" int)
      language plpgsql as $$
      declare
        pool record; r record; x inet; last_taken inet; taken int := 0; lapsed inet[]; li int := 1; n_lapsed int;
      begin
        select p."id", p."name", p."network", p."gateway", p."is_active" into pool from "ip_pools" p
         where (p_pool_id is not null and p."id" = p_pool_id) or (p_pool_id is null and p."name" = p_pool_name)
         for update;
        if not found then return; end if;
        pool_id := pool."id"; pool_name := pool."name"; network := pool."network"::text;
        gateway := host(pool."gateway"); is_active := pool."is_active";
        if not pool."is_active" then
          ip := null; reuse := null; new_id := null; return next; return;
        end if;
        select coalesce(array_agg(a."ip_address" order by a."ip_address"), '{}') into lapsed from (
          select "ip_address" from "ip_allocations"
           where "ip_allocations"."pool_id" = pool."id" and "status" = 'reserved' and "reserved_until" is not null
             and "reserved_until" <= now()
           order by "ip_address" limit p_count) a;
        n_lapsed := coalesce(array_length(lapsed, 1), 0);
        for r in select f."first_ip", f."last_ip" from "ip_free_ranges" f where f."pool_id" = pool."id" order by f."first_ip" limit p_count loop
          x := r."first_ip";
          last_taken := null;
          loop
            exit when taken >= p_count;
            if li <= n_lapsed and lapsed[li] < x then
              ip := lapsed[li]; reuse := true; new_id := null; return next;
              taken := taken + 1; li := li + 1;
              continue;
            end if;
            ip := x; reuse := false; new_id := nextval('ip_allocations_id_seq'); return next;
            taken := taken + 1; last_taken := x;
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
        while taken < p_count and li <= n_lapsed loop
          ip := lapsed[li]; reuse := true; new_id := null; return next;
          taken := taken + 1; li := li + 1;
        end loop;
        if taken = 0 then
          -- A full pool: one row with the pool and no address.
          ip := null; reuse := null; new_id := null; return next;
        end if;
      end $$;`)

    // "Next free" in one statement, run on its own (autocommit): lock the pool, take the lowest free
    // addresses, insert them and append their audit rows, all inside the server, so the pool's lock is held
    // for no client round trip at all. The caller serialises the audit body and details once, with
    // placeholders for the row id and address (p_id_ph, p_ip_ph: JSON string literals that cannot occur in
    // validated input), and this fills them in per row. Outcomes: 'ok' with the rows; 'not_found';
    // 'inactive'; 'slow' when lapsed holds exist (the caller then takes the general path, nothing changed);
    // a shortage raises SQLSTATE NK001 with the number of free addresses in the message.
    this.addSql(`
      create function "ipam_allocate_next"(
        p_pool_id int, p_pool_name text, p_count int,
        p_hostname text, p_mac macaddr, p_owner text, p_purpose text, p_description text, p_status text,
        p_dns boolean, p_dhcp boolean, p_until timestamptz, p_by text,
        p_created_at timestamptz, p_user_id text, p_user_ip inet, p_user_agent text, p_request_id text, p_source text,
        p_action text, p_resource_type text, p_body_tpl text, p_details_tpl text, p_id_ph text, p_ip_ph text)
      returns table ("outcome" text, "pool_id" int, "pool_name" text, "id" int, "ip" text, "created_at" timestamptz,
                     "updated_at" timestamptz, "version" int)
      language plpgsql as $$
      declare
        pool record; r record; x inet; last_taken inet; taken int := 0; ips inet[] := '{}';
        h record; s bigint; prev text; hash text; body text; a record; free_n bigint;
      begin
        select p."id", p."name", p."is_active" into pool from "ip_pools" p
         where (p_pool_id is not null and p."id" = p_pool_id) or (p_pool_id is null and p."name" = p_pool_name)
         for update;
        if not found then outcome := 'not_found'; return next; return; end if;
        pool_id := pool."id"; pool_name := pool."name";
        if not pool."is_active" then outcome := 'inactive'; return next; return; end if;
        perform 1 from "ip_allocations" l
          where l."pool_id" = pool."id" and l."status" = 'reserved' and l."reserved_until" is not null and l."reserved_until" <= now()
          limit 1;
        if found then outcome := 'slow'; return next; return; end if;

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
          body := replace(replace(p_body_tpl, p_id_ph, to_json(a."id"::text)::text), p_ip_ph, to_json(host(a."ip_address"))::text);
          hash := encode(sha256(convert_to(prev || chr(10) || s::text || chr(10) || body, 'UTF8')), 'hex');
          insert into "audit_logs" ("seq", "created_at", "action", "resource_type", "resource_id", "resource_name", "user_id",
                                    "user_ip", "user_agent", "status", "details", "request_id", "source", "prev_hash", "row_hash")
          values (s, p_created_at, p_action, p_resource_type, a."id"::text, host(a."ip_address"), p_user_id, p_user_ip, p_user_agent,
                  'success', replace(replace(p_details_tpl, p_id_ph, to_json(a."id"::text)::text), p_ip_ph, to_json(host(a."ip_address"))::text)::jsonb,
                  p_request_id, p_source, prev, hash);
          prev := hash;
          outcome := 'ok'; id := a."id"; ip := host(a."ip_address"); created_at := a."created_at"; updated_at := a."updated_at";
          version := a."version";
          return next;
        end loop;
        update "audit_chain_head" set "last_seq" = s, "last_hash" = prev where "audit_chain_head"."id" = 1;
      end $$;`)

    this.addSql(`create index "ip_allocations_hostname_lower_idx" on "ip_allocations" (lower("hostname") text_pattern_ops);`)
    this.addSql(`create index "ip_allocations_owner_lower_idx" on "ip_allocations" (lower("owner") text_pattern_ops);`)
    this.addSql(`create index "ip_allocations_expired_holds_idx" on "ip_allocations" ("pool_id", "ip_address")
                   where "status" = 'reserved' and "reserved_until" is not null;`)
    this.addSql(`create index "ip_pools_site_idx" on "ip_pools" ("site");`)
    this.addSql(`create index "ip_pools_environment_idx" on "ip_pools" ("environment");`)

    this.addSql(`
      create table "audit_chain_head" (
        "id" smallint primary key default 1 check ("id" = 1),
        "last_seq" bigint not null,
        "last_hash" varchar(64) not null
      );`)
    this.addSql(`insert into "audit_chain_head" ("id", "last_seq", "last_hash") values (1, 0, repeat('0', 64));`)
    this.addSql(`
      create table "audit_checkpoints" (
        "id" serial primary key,
        -- A run of consecutive sequence numbers removed by a purge, and the hash of its last row: the row
        -- after the run still links to it, so verification holds with the run gone.
        "first_seq" bigint not null,
        "last_seq" bigint not null,
        "last_hash" varchar(64) not null,
        "rows" bigint not null,
        -- The audit row that records the purge (its details list every run).
        "purge_seq" bigint null,
        "created_at" timestamptz not null default now(),
        constraint "audit_checkpoints_range" check ("first_seq" <= "last_seq"),
        constraint "audit_checkpoints_first_seq_key" unique ("first_seq")
      );`)
    // Keyset pagination for the viewer: newest first by (created_at, seq).
    this.addSql(`create index "audit_logs_created_at_seq_idx" on "audit_logs" ("created_at" desc, "seq" desc);`)
    // Text search inside details: a trigram index where pg_trgm can be had (a trusted extension since
    // PostgreSQL 13, so the database owner may create it; the embedded store loads it). Without it the
    // search still works, by scanning.
    this.addSql(`
      do $$ begin
        create extension if not exists pg_trgm;
      exception when others then
        raise notice 'pg_trgm is not available (%): audit text search will scan', sqlerrm;
      end $$;`)
    this.addSql(`
      do $$ begin
        if exists (select 1 from pg_extension where extname = 'pg_trgm') then
          execute 'create index "audit_logs_details_trgm_idx" on "audit_logs" using gin ((details::text) gin_trgm_ops)';
        end if;
      end $$;`)
    this.addSql(`create index "audit_logs_request_id_idx" on "audit_logs" ("request_id");`)
    this.addSql(`create index "audit_logs_resource_id_idx" on "audit_logs" ("resource_type", "resource_id");`)

    // Appends audit rows to the chain in one round trip. The caller computes each row's canonical body
    // (see src/main/core/audit/canonical.ts); this assigns the next sequence numbers under the head's row
    // lock and hashes sha256(prev_hash || LF || seq || LF || body), the same definition verify uses.
    this.addSql(`
      create function "audit_append"(
        p_created_at timestamptz[], p_action text[], p_resource_type text[], p_resource_id text[], p_resource_name text[],
        p_user_id text[], p_user_ip inet[], p_user_agent text[], p_status text[], p_details jsonb[], p_request_id text[],
        p_source text[], p_body text[])
      returns table ("id" uuid, "seq" bigint, "row_hash" text) language plpgsql as $$
      declare
        h record; s bigint; prev text; hash text; i int;
      begin
        select "last_seq", "last_hash" into h from "audit_chain_head" where "audit_chain_head"."id" = 1 for update;
        s := h."last_seq"; prev := h."last_hash";
        for i in 1 .. coalesce(array_length(p_body, 1), 0) loop
          s := s + 1;
          hash := encode(sha256(convert_to(prev || chr(10) || s::text || chr(10) || p_body[i], 'UTF8')), 'hex');
          insert into "audit_logs" ("seq", "created_at", "action", "resource_type", "resource_id", "resource_name", "user_id",
                                    "user_ip", "user_agent", "status", "details", "request_id", "source", "prev_hash", "row_hash")
          values (s, p_created_at[i], p_action[i], p_resource_type[i], p_resource_id[i], p_resource_name[i], p_user_id[i],
                  p_user_ip[i], p_user_agent[i], p_status[i], p_details[i], p_request_id[i], p_source[i], prev, hash)
          returning "audit_logs"."id" into id;
          seq := s; row_hash := hash; return next;
          prev := hash;
        end loop;
        update "audit_chain_head" set "last_seq" = s, "last_hash" = prev where "audit_chain_head"."id" = 1;
      end $$;`)
    this.addSql(`
      create function "audit_logs_guard"() returns trigger language plpgsql as $$
      begin
        if tg_op = 'DELETE' and coalesce(current_setting('netkeeper.audit_purge', true), '') = 'on' then
          return old;
        end if;
        raise exception 'audit_logs is append-only: % refused', tg_op
          using errcode = '42501', hint = 'rows leave the audit log only through the retention purge';
      end $$;`)
    this.addSql(`create trigger "audit_logs_no_update" before update or delete on "audit_logs" for each row execute function "audit_logs_guard"();`)
    this.addSql(`create trigger "audit_logs_no_truncate" before truncate on "audit_logs" for each statement execute function "audit_logs_guard"();`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "audit_logs_no_truncate" on "audit_logs";`)
    this.addSql(`drop trigger if exists "audit_logs_no_update" on "audit_logs";`)
    this.addSql(`drop function if exists "audit_logs_guard"();`)
    this.addSql(`drop function if exists "audit_append"(timestamptz[], text[], text[], text[], text[], text[], inet[], text[], text[], jsonb[], text[], text[], text[]);`)
    this.addSql(`drop index if exists "audit_logs_resource_id_idx";`)
    this.addSql(`drop index if exists "audit_logs_details_trgm_idx";`)
    // Created by up() where it was missing; kept if something else still uses it.
    this.addSql(`
      do $$ begin
        drop extension if exists pg_trgm;
      exception when others then
        raise notice 'pg_trgm kept: %', sqlerrm;
      end $$;`)
    this.addSql(`drop index if exists "audit_logs_request_id_idx";`)
    this.addSql(`drop index if exists "audit_logs_created_at_seq_idx";`)
    this.addSql(`drop table if exists "audit_checkpoints";`)
    this.addSql(`drop table if exists "audit_chain_head";`)
    this.addSql(`drop index if exists "ip_pools_environment_idx";`)
    this.addSql(`drop index if exists "ip_pools_site_idx";`)
    this.addSql(`drop index if exists "ip_allocations_expired_holds_idx";`)
    this.addSql(`drop index if exists "ip_allocations_owner_lower_idx";`)
    this.addSql(`drop index if exists "ip_allocations_hostname_lower_idx";`)
    this.addSql(`drop function if exists "ipam_allocate_next"(int, text, int, text, macaddr, text, text, text, text, boolean, boolean, timestamptz, text, timestamptz, text, inet, text, text, text, text, text, text, text, text, text);`)
    this.addSql(`drop function if exists "ipam_next"(int, text, int);`)
    this.addSql(`drop function if exists "ipam_rebuild_free_ranges"(int);`)
    this.addSql(`drop table if exists "ip_free_ranges";`)
  }
}

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

    // Takes the lowest `p_count` free addresses of a pool: from the free ranges and from reservations
    // whose hold has lapsed, merged in address order. The caller holds the pool's row lock; each statement
    // here sees a fresh snapshot, so it sees what the previous lock holder committed. Returns the addresses
    // and whether each reuses an existing (lapsed) row. One round trip instead of four on the hot path.
    this.addSql(`
      create function "ipam_take_next"(p_pool int, p_count int)
      returns table ("ip" inet, "reuse" boolean) language plpgsql as $$
      declare
        r record; x inet; last_taken inet; taken int := 0; lapsed inet[]; li int := 1; n_lapsed int;
      begin
        select coalesce(array_agg(a."ip_address" order by a."ip_address"), '{}') into lapsed from (
          select "ip_address" from "ip_allocations"
           where "pool_id" = p_pool and "status" = 'reserved' and "reserved_until" is not null and "reserved_until" <= now()
           order by "ip_address" limit p_count) a;
        n_lapsed := coalesce(array_length(lapsed, 1), 0);
        for r in select "first_ip", "last_ip" from "ip_free_ranges" where "pool_id" = p_pool order by "first_ip" limit p_count loop
          x := r."first_ip";
          last_taken := null;
          loop
            exit when taken >= p_count;
            -- A lapsed hold below the next free address comes first.
            if li <= n_lapsed and lapsed[li] < x then
              ip := lapsed[li]; reuse := true; return next;
              taken := taken + 1; li := li + 1;
              continue;
            end if;
            ip := x; reuse := false; return next;
            taken := taken + 1; last_taken := x;
            exit when x = r."last_ip";
            x := x + 1;
          end loop;
          if last_taken is not null then
            if last_taken = r."last_ip" then
              delete from "ip_free_ranges" where "pool_id" = p_pool and "first_ip" = r."first_ip";
            else
              update "ip_free_ranges" set "first_ip" = last_taken + 1 where "pool_id" = p_pool and "first_ip" = r."first_ip";
            end if;
          end if;
          exit when taken >= p_count;
        end loop;
        while taken < p_count and li <= n_lapsed loop
          ip := lapsed[li]; reuse := true; return next;
          taken := taken + 1; li := li + 1;
        end loop;
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
        "purged_through_seq" bigint not null,
        "purged_through_hash" varchar(64) not null,
        "rows_purged" bigint not null,
        "created_at" timestamptz not null default now()
      );`)
    // Keyset pagination for the viewer: newest first by (created_at, seq).
    this.addSql(`create index "audit_logs_created_at_seq_idx" on "audit_logs" ("created_at" desc, "seq" desc);`)
    this.addSql(`create index "audit_logs_request_id_idx" on "audit_logs" ("request_id");`)
    this.addSql(`create index "audit_logs_resource_id_idx" on "audit_logs" ("resource_type", "resource_id");`)

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
    this.addSql(`drop index if exists "audit_logs_resource_id_idx";`)
    this.addSql(`drop index if exists "audit_logs_request_id_idx";`)
    this.addSql(`drop index if exists "audit_logs_created_at_seq_idx";`)
    this.addSql(`drop table if exists "audit_checkpoints";`)
    this.addSql(`drop table if exists "audit_chain_head";`)
    this.addSql(`drop index if exists "ip_pools_environment_idx";`)
    this.addSql(`drop index if exists "ip_pools_site_idx";`)
    this.addSql(`drop index if exists "ip_allocations_expired_holds_idx";`)
    this.addSql(`drop index if exists "ip_allocations_owner_lower_idx";`)
    this.addSql(`drop index if exists "ip_allocations_hostname_lower_idx";`)
    this.addSql(`drop function if exists "ipam_take_next"(int, int);`)
    this.addSql(`drop function if exists "ipam_rebuild_free_ranges"(int);`)
    this.addSql(`drop table if exists "ip_free_ranges";`)
  }
}

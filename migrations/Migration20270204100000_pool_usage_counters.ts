import { Migration } from '@mikro-orm/migrations'

/**
 * Per-status counters beside `ip_pool_usage.used` (issue 19, item 2: a fast first screen).
 *
 * The dashboard's totals (core/ipam/stats.ts) and the pools' threshold levels (core/ipam/usage.ts poolLevels,
 * asked at start and every minute) counted every allocation of every pool on each call: seconds with 5,000
 * pools and 500,000 allocations, on the connections the first screen needs. Now `ip_pool_usage` keeps, per
 * pool, how many rows are allocated, reserved and blocked (`used` stays their sum, for the roll-up), so those
 * reads take one small row per pool. A reservation whose hold lapsed is still counted as reserved here, as
 * `used` always did (a clock, not a write, ends a hold): readers subtract the lapsed holds, which the partial
 * index ip_allocations_expired_holds_idx finds, exactly as the roll-up does.
 *
 * The same four statement-level triggers as Migration20261215020000 (one grouped upsert per statement,
 * whatever its size) now keep every counter. An update whose rows keep their pool and status (a hostname or
 * an owner edited) changes no counter and writes nothing, as before.
 *
 * The trigger functions become SECURITY DEFINER of netkeeper_owner with a pinned search_path, and operators
 * lose their direct write grant on the table: the counters are written only by the triggers, so a login may
 * not set them to anything but what its allocations say (they were writable by any operator before).
 *
 * The counters are rebuilt from the allocations themselves here, whatever the old `used` said. The daily
 * usage snapshot (`ipam_snapshot_usage()`, run by the app's upkeep at start and daily) reads them too, less
 * the lapsed holds, instead of counting every allocation of every pool.
 */
const FNS = ['ip_allocations_usage_ins()', 'ip_allocations_usage_del()', 'ip_allocations_usage_upd()', 'ip_pools_usage_del()']

const COUNTED = (t: string): string => `${t}."status" in ('allocated', 'blocked', 'reserved')`

/** One row per pool: the four counters of the rows of `src` (a table or transition table aliased `r`), times `sign`. */
const GROUPED = (src: string, sign: string): string => `
  select r."pool_id",
         ${sign} * count(*) as used,
         ${sign} * count(*) filter (where r."status" = 'allocated') as allocated,
         ${sign} * count(*) filter (where r."status" = 'reserved') as reserved,
         ${sign} * count(*) filter (where r."status" = 'blocked') as blocked
    from ${src} r where ${COUNTED('r')} group by r."pool_id"`

const UPSERT = `
  on conflict ("pool_id") do update
     set "used" = u."used" + excluded."used", "allocated" = u."allocated" + excluded."allocated",
         "reserved" = u."reserved" + excluded."reserved", "blocked" = u."blocked" + excluded."blocked"`

/** ipam_snapshot_usage() as Migration20261227100000 wrote it, with `counts` giving each pool's c.allocated, c.reserved, c.blocked. */
const snapshotFunction = (counts: string): string => `
      create or replace function "ipam_snapshot_usage"() returns int language plpgsql security definer as $$
      declare n int;
      begin
        insert into "ip_pool_usage_daily" ("pool_id", "day", "usable", "allocated", "reserved", "blocked", "percent", "taken_at")
        select p."id", current_date, u.usable, c.allocated, c.reserved, c.blocked,
               case when u.usable > 0 then least(100, trunc(100.0 * (c.allocated + c.reserved + c.blocked) / u.usable, 2)) else 0 end,
               now()
          from "ip_pools" p
          cross join lateral (
            select greatest(0, power(2::numeric, (case family(p."network") when 4 then 32 else 128 end) - masklen(p."network"))
                     - case when family(p."network") = 4 and masklen(p."network") < 31 then 2
                            when family(p."network") = 6 and masklen(p."network") < 127 then 1 else 0 end
                     - case when p."gateway" is not null and p."gateway" <<= p."network"
                                 and p."gateway" <> host(network(p."network"))::inet
                                 and (family(p."network") = 6 or masklen(p."network") >= 31 or p."gateway" <> host(broadcast(p."network"))::inet)
                            then 1 else 0 end) as usable
          ) u
          ${counts}
        on conflict ("pool_id", "day") do update
           set "usable" = excluded."usable", "allocated" = excluded."allocated", "reserved" = excluded."reserved",
               "blocked" = excluded."blocked", "percent" = excluded."percent", "taken_at" = excluded."taken_at";
        get diagnostics n = row_count;
        return n;
      end $$;`

/** CREATE OR REPLACE keeps the owner and grants but not the pinned search_path. */
const PIN_SNAPSHOT = `
      do $$
      begin
        execute format('alter function "ipam_snapshot_usage"() set search_path = %I, pg_catalog, pg_temp', current_schema());
      end $$;`

export class Migration20270204100000_pool_usage_counters extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table "ip_pool_usage"
        add column "allocated" bigint not null default 0,
        add column "reserved" bigint not null default 0,
        add column "blocked" bigint not null default 0;`)
    // Rebuilt from the allocations (the ip_pools_usage_del trigger removes a deleted pool's row; none is kept for a pool that is gone).
    this.addSql(`delete from "ip_pool_usage";`)
    this.addSql(`
      insert into "ip_pool_usage" ("pool_id", "used", "allocated", "reserved", "blocked")
      ${GROUPED('"ip_allocations"', '1')};`)

    this.addSql(`
      create or replace function "ip_allocations_usage_ins"() returns trigger language plpgsql security definer as $$
      begin
        insert into "ip_pool_usage" as u ("pool_id", "used", "allocated", "reserved", "blocked")
        ${GROUPED('"new_rows"', '1')}
        ${UPSERT};
        return null;
      end $$;`)
    this.addSql(`
      create or replace function "ip_allocations_usage_del"() returns trigger language plpgsql security definer as $$
      begin
        update "ip_pool_usage" u
           set "used" = u."used" + d.used, "allocated" = u."allocated" + d.allocated,
               "reserved" = u."reserved" + d.reserved, "blocked" = u."blocked" + d.blocked
          from (${GROUPED('"old_rows"', '-1')}) d
         where u."pool_id" = d."pool_id";
        return null;
      end $$;`)
    // Per pool and status, what the statement added less what it took away; pairs that cancel out (the rows
    // kept their pool and status) drop out before anything is written.
    this.addSql(`
      create or replace function "ip_allocations_usage_upd"() returns trigger language plpgsql security definer as $$
      begin
        insert into "ip_pool_usage" as u ("pool_id", "used", "allocated", "reserved", "blocked")
        select s."pool_id", sum(s.n),
               coalesce(sum(s.n) filter (where s."status" = 'allocated'), 0),
               coalesce(sum(s.n) filter (where s."status" = 'reserved'), 0),
               coalesce(sum(s.n) filter (where s."status" = 'blocked'), 0)
          from (
            select x."pool_id", x."status", sum(x.d) as n from (
              select n."pool_id", n."status", 1 as d from "new_rows" n where ${COUNTED('n')}
              union all
              select o."pool_id", o."status", -1 from "old_rows" o where ${COUNTED('o')}
            ) x group by x."pool_id", x."status" having sum(x.d) <> 0
          ) s group by s."pool_id"
        ${UPSERT};
        return null;
      end $$;`)
    this.addSql(`
      create or replace function "ip_pools_usage_del"() returns trigger language plpgsql security definer as $$
      begin
        delete from "ip_pool_usage" u using "old_rows" o where u."pool_id" = o."id";
        return null;
      end $$;`)
    // Only the triggers (as the owner) write the counters now; every role may read them.
    this.addSql(`revoke insert, update, delete on "ip_pool_usage" from netkeeper_operator;`)
    this.pinFunctions()
    // The daily snapshot (Migration20261227100000) from the counters too: no login can set them, so the row
    // is still what the allocations say, without counting them (it runs with the app's upkeep at start).
    this.addSql(snapshotFunction(`
          cross join lateral (
            select coalesce(k."allocated", 0)::int as allocated,
                   (coalesce(k."reserved", 0) - (select count(*) from "ip_allocations" a
                                                  where a."pool_id" = p."id" and a."status" = 'reserved'
                                                    and a."reserved_until" is not null and a."reserved_until" <= now()))::int as reserved,
                   coalesce(k."blocked", 0)::int as blocked
              from (select 1) one left join "ip_pool_usage" k on k."pool_id" = p."id"
          ) c`))
    this.addSql(PIN_SNAPSHOT)
  }

  /** Owner, pinned search_path and execute grants of the four functions (CREATE OR REPLACE resets the search_path). */
  private pinFunctions(): void {
    this.addSql(`
      do $$
      declare f text; s text := current_schema();
      begin
        foreach f in array array[${FNS.map((f) => `'${f}'`).join(', ')}] loop
          execute format('alter function %s owner to netkeeper_owner', f);
          execute format('alter function %s set search_path = %I, pg_catalog, pg_temp', f, s);
          execute format('revoke all on function %s from public', f);
          execute format('grant execute on function %s to netkeeper_viewer', f);
        end loop;
      end $$;`)
  }

  override async down(): Promise<void> {
    const USED = (t: string): string => `${t}."status" in ('allocated', 'blocked', 'reserved')`
    this.addSql(`
      create or replace function "ip_allocations_usage_ins"() returns trigger language plpgsql security invoker as $$
      begin
        insert into "ip_pool_usage" as u ("pool_id", "used")
        select n."pool_id", count(*) from "new_rows" n where ${USED('n')} group by n."pool_id"
        on conflict ("pool_id") do update set "used" = u."used" + excluded."used";
        return null;
      end $$;`)
    this.addSql(`
      create or replace function "ip_allocations_usage_del"() returns trigger language plpgsql security invoker as $$
      begin
        update "ip_pool_usage" u set "used" = u."used" - d.n
          from (select o."pool_id", count(*) as n from "old_rows" o where ${USED('o')} group by o."pool_id") d
         where u."pool_id" = d."pool_id";
        return null;
      end $$;`)
    this.addSql(`
      create or replace function "ip_allocations_usage_upd"() returns trigger language plpgsql security invoker as $$
      begin
        insert into "ip_pool_usage" as u ("pool_id", "used")
        select x."pool_id", sum(x.d) from (
          select n."pool_id", 1 as d from "new_rows" n where ${USED('n')}
          union all
          select o."pool_id", -1 from "old_rows" o where ${USED('o')}
        ) x group by x."pool_id" having sum(x.d) <> 0
        on conflict ("pool_id") do update set "used" = u."used" + excluded."used";
        return null;
      end $$;`)
    this.addSql(`alter function "ip_pools_usage_del"() security invoker;`)
    this.addSql(`alter table "ip_pool_usage" drop column "allocated", drop column "reserved", drop column "blocked";`)
    this.addSql(`grant insert, update, delete on "ip_pool_usage" to netkeeper_operator;`)
    this.pinFunctions()
    this.addSql(snapshotFunction(`
          cross join lateral (
            select count(*) filter (where a."status" = 'allocated')::int as allocated,
                   count(*) filter (where a."status" = 'reserved' and (a."reserved_until" is null or a."reserved_until" > now()))::int as reserved,
                   count(*) filter (where a."status" = 'blocked')::int as blocked
              from "ip_allocations" a where a."pool_id" = p."id"
          ) c`))
    this.addSql(PIN_SNAPSHOT)
  }
}

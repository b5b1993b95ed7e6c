import { Migration } from '@mikro-orm/migrations'

/**
 * Utilization over time (issue 20, item 3).
 *
 * - `ip_pool_usage_daily`: one row per pool and day (the server's date), what the pool held that day: usable
 *   addresses, allocated, reserved (unexpired), blocked, and the share in use. Written only through
 *   `ipam_snapshot_usage()`, a SECURITY DEFINER function of the owner that any Netkeeper role may run (the
 *   app's daily maintenance and `netkeeper ipam usage snapshot`): it derives every number from the pools and
 *   allocations themselves, so running it cannot put anything but the truth in the table; a second run on
 *   the same day brings that day's row up to date. Rows go with their pool.
 * - `ip_pool_thresholds`: a pool's warning and critical levels in percent (80 and 95 when it has no row),
 *   set by an admin (the grants below), audited by the core in the same transaction.
 */
export class Migration20261227100000_pool_usage extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "ip_pool_usage_daily" (
        "pool_id" int not null references "ip_pools" ("id") on delete cascade,
        "day" date not null,
        "usable" numeric(40, 0) not null,
        "allocated" int not null,
        "reserved" int not null,
        "blocked" int not null,
        "percent" numeric(5, 2) not null,
        "taken_at" timestamptz not null default now(),
        primary key ("pool_id", "day")
      );`)
    this.addSql(`create index "ip_pool_usage_daily_day_idx" on "ip_pool_usage_daily" ("day");`)

    this.addSql(`
      create table "ip_pool_thresholds" (
        "pool_id" int primary key references "ip_pools" ("id") on delete cascade,
        "warn_percent" numeric(5, 2) not null check ("warn_percent" > 0 and "warn_percent" <= 100),
        "critical_percent" numeric(5, 2) not null check ("critical_percent" > 0 and "critical_percent" <= 100),
        "updated_at" timestamptz not null default now(),
        check ("warn_percent" <= "critical_percent")
      );`)

    // Usable: the pool's size less network and broadcast (IPv4 wider than /31) or the subnet-router anycast
    // address (IPv6 wider than /127), less the gateway when it is one of the usable addresses: the rule of
    // core/ipam/utilization.ts (an integration test holds the two to the same numbers). One statement for every pool.
    this.addSql(`
      create function "ipam_snapshot_usage"() returns int language plpgsql security definer as $$
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
          cross join lateral (
            select count(*) filter (where a."status" = 'allocated')::int as allocated,
                   count(*) filter (where a."status" = 'reserved' and (a."reserved_until" is null or a."reserved_until" > now()))::int as reserved,
                   count(*) filter (where a."status" = 'blocked')::int as blocked
              from "ip_allocations" a where a."pool_id" = p."id"
          ) c
        on conflict ("pool_id", "day") do update
           set "usable" = excluded."usable", "allocated" = excluded."allocated", "reserved" = excluded."reserved",
               "blocked" = excluded."blocked", "percent" = excluded."percent", "taken_at" = excluded."taken_at";
        get diagnostics n = row_count;
        return n;
      end $$;`)

    this.addSql(`
      do $$
      declare s text := current_schema();
      begin
        execute 'alter table "ip_pool_usage_daily" owner to netkeeper_owner';
        execute 'alter table "ip_pool_thresholds" owner to netkeeper_owner';
        execute 'revoke all on "ip_pool_usage_daily", "ip_pool_thresholds" from public';
        execute 'alter function "ipam_snapshot_usage"() owner to netkeeper_owner';
        execute format('alter function "ipam_snapshot_usage"() set search_path = %I, pg_catalog, pg_temp', s);
        execute 'revoke all on function "ipam_snapshot_usage"() from public';
        execute 'grant execute on function "ipam_snapshot_usage"() to netkeeper_viewer';
        execute 'grant select on "ip_pool_usage_daily", "ip_pool_thresholds" to netkeeper_viewer';
        execute 'grant insert, update, delete on "ip_pool_thresholds" to netkeeper_admin';
      end $$;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "ipam_snapshot_usage"();`)
    this.addSql(`drop table if exists "ip_pool_thresholds";`)
    this.addSql(`drop table if exists "ip_pool_usage_daily";`)
  }
}

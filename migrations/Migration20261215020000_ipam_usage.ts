import { Migration } from '@mikro-orm/migrations'

/**
 * Roll-up utilization without counting a container's addresses one by one (issue 16's goal: a /8 with 10,000
 * children and 1,000,000 allocations in 50 ms; counting a million index entries takes longer than that).
 *
 * ip_pool_usage keeps, per pool, how many of its rows are allocated, blocked or reserved (a reservation whose
 * hold lapsed included: that depends on the clock, so the roll-up subtracts the lapsed holds of the subtree,
 * which the partial index ip_allocations_expired_holds_idx finds). Statement-level triggers with transition
 * tables keep it in step, one grouped upsert per statement whatever its size, so a bulk import pays once per
 * pool and a single allocation one index update. The pool's row lock that every allocation path takes already
 * serialises writers of one pool, so the counter row adds no new waiting. No foreign key: a pool's delete
 * cascades to its allocations, and their counter updates would otherwise trip over the pool already gone; the
 * pool's own delete removes its row.
 */
const FNS = ['ip_allocations_usage_ins()', 'ip_allocations_usage_del()', 'ip_allocations_usage_upd()', 'ip_pools_usage_del()']

const USED = (t: string): string => `${t}."status" in ('allocated', 'blocked', 'reserved')`

export class Migration20261215020000_ipam_usage extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "ip_pool_usage" (
        "pool_id" int primary key,
        "used" bigint not null default 0
      );`)
    this.addSql(`
      insert into "ip_pool_usage" ("pool_id", "used")
      select "pool_id", count(*) from "ip_allocations" a where ${USED('a')} group by "pool_id";`)
    this.addSql(`
      create function "ip_allocations_usage_ins"() returns trigger language plpgsql as $$
      begin
        insert into "ip_pool_usage" as u ("pool_id", "used")
        select n."pool_id", count(*) from "new_rows" n where ${USED('n')} group by n."pool_id"
        on conflict ("pool_id") do update set "used" = u."used" + excluded."used";
        return null;
      end $$;`)
    this.addSql(`
      create function "ip_allocations_usage_del"() returns trigger language plpgsql as $$
      begin
        update "ip_pool_usage" u set "used" = u."used" - d.n
          from (select o."pool_id", count(*) as n from "old_rows" o where ${USED('o')} group by o."pool_id") d
         where u."pool_id" = d."pool_id";
        return null;
      end $$;`)
    this.addSql(`
      create function "ip_allocations_usage_upd"() returns trigger language plpgsql as $$
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
    this.addSql(`
      create function "ip_pools_usage_del"() returns trigger language plpgsql as $$
      begin
        delete from "ip_pool_usage" u using "old_rows" o where u."pool_id" = o."id";
        return null;
      end $$;`)
    this.addSql(`create trigger "ip_allocations_usage_ins" after insert on "ip_allocations" referencing new table as "new_rows" for each statement execute function "ip_allocations_usage_ins"();`)
    this.addSql(`create trigger "ip_allocations_usage_del" after delete on "ip_allocations" referencing old table as "old_rows" for each statement execute function "ip_allocations_usage_del"();`)
    this.addSql(`
      create trigger "ip_allocations_usage_upd" after update on "ip_allocations" referencing old table as "old_rows" new table as "new_rows"
      for each statement execute function "ip_allocations_usage_upd"();`)
    this.addSql(`create trigger "ip_pools_usage_del" after delete on "ip_pools" referencing old table as "old_rows" for each statement execute function "ip_pools_usage_del"();`)
    this.addSql(`alter table "ip_pool_usage" owner to netkeeper_owner;`)
    this.addSql(`revoke all on "ip_pool_usage" from public;`)
    this.addSql(`grant select on "ip_pool_usage" to netkeeper_viewer;`)
    // Written by whoever writes allocations (operators) and deletes pools (admins, who are operators too).
    this.addSql(`grant insert, update, delete on "ip_pool_usage" to netkeeper_operator;`)
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
    this.addSql(`drop trigger if exists "ip_pools_usage_del" on "ip_pools";`)
    this.addSql(`drop trigger if exists "ip_allocations_usage_upd" on "ip_allocations";`)
    this.addSql(`drop trigger if exists "ip_allocations_usage_del" on "ip_allocations";`)
    this.addSql(`drop trigger if exists "ip_allocations_usage_ins" on "ip_allocations";`)
    for (const f of FNS) this.addSql(`drop function if exists ${f};`)
    this.addSql(`drop table if exists "ip_pool_usage";`)
  }
}

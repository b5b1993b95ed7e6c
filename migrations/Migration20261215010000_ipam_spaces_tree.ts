import { Migration } from '@mikro-orm/migrations'

/**
 * IPAM as teams model it (issue 16), part 1: address spaces, nested prefixes and ranges inside a pool, with the
 * tree's rules enforced by the database (docs/ipam.md#spaces-and-the-pool-tree).
 *
 * 1. ip_spaces (VRFs). Every pool belongs to one; a default space holds every pool that existed before (the
 *    column default, ipam_default_space(), also puts pools written by older code paths there).
 * 2. The pool tree: ip_pools.parent_id, with the rules
 *    - a child lies strictly inside its parent and in the same space: the composite foreign key
 *      (parent_id, space_id) -> (id, space_id) and the trigger ip_pools_tree (SQLSTATE 23514, constraint
 *      ip_pools_inside_parent), which also refuses to shrink a container past one of its children;
 *    - siblings never overlap, and neither do the roots of one space: ip_pools_no_overlap, the GiST exclusion
 *      that used to cover every pool, now keyed by (space, parent). It is deferrable (initially immediate) so a
 *      merge can widen one sibling over the other inside one transaction;
 *    - the same network may exist once per space (strict containment and sibling exclusion imply it, so the
 *      global unique key on network goes);
 *    - a pool with children cannot be deleted (the foreign key restricts).
 * 3. Where allocations live: in the innermost pool that holds their address. A container may hold addresses
 *    no child covers (a gateway, a loopback or an anycast address of an aggregate, as in NetBox), but never
 *    one a child covers. So within a space the pools holding an address form one chain and exactly one of
 *    them may hold it. Enforced both ways: ip_allocations_in_pool_rows refuses an allocation a child covers
 *    (constraint ip_allocations_in_leaf), and the deferred constraint trigger ip_pools_parent_allocations
 *    refuses, at commit, a child that covers an address its parent still holds (the service moves those
 *    addresses into the new child first, in the same transaction).
 * 4. Unique addresses per space: ip_allocations.space_id (filled from the pool by a BEFORE trigger only when a
 *    writer leaves it out, kept right by the composite foreign key (pool_id, space_id) -> ip_pools), and
 *    ip_allocations_ip_address_key becomes unique (ip_address, space_id): the same address may be held in
 *    two spaces, never twice in one. The index still leads with the address, so look-ups by address and by
 *    containment keep using it.
 * 5. ip_ranges: a start-end range inside a pool with a purpose (dhcp, reserved, infrastructure, other) and a
 *    mark-used flag; ranges of one pool never overlap (GiST exclusion over a range type of inet), lie inside
 *    their pool and outside its children.
 * 6. The free-space cache (ip_free_ranges) of a pool now leaves out its children and its dhcp and reserved
 *    ranges besides its allocations and gateway, so next-free and next-block skip them with the same single
 *    index probe. Triggers keep it in step: a new child takes its block out of the parent's free ranges
 *    (a few index operations, however many siblings exist); moving, resizing or deleting a child, and any
 *    change to ranges, rebuilds the affected pool's ranges.
 */

const NEW_FUNCTIONS = [
  'ipam_default_space()',
  'ip_allocations_space()',
  'ip_pools_tree()',
  'ip_pools_parent_allocations()',
  'ip_pools_free_space()',
  'ipam_free_take(integer, inet, inet)',
  'ip_ranges_check()',
  'ip_ranges_free_space()'
]

/** Hands functions to netkeeper_owner with a pinned search_path, executable by every Netkeeper role (as Migration20261203100000 does). */
const own = (fns: string[]): string => `
      do $$
      declare f text; s text := current_schema();
      begin
        foreach f in array array[${fns.map((f) => `'${f}'`).join(', ')}] loop
          execute format('alter function %s owner to netkeeper_owner', f);
          execute format('alter function %s set search_path = %I, pg_catalog, pg_temp', f, s);
          execute format('revoke all on function %s from public', f);
          execute format('grant execute on function %s to netkeeper_viewer', f);
        end loop;
      end $$;`

/** The free-space rebuild, now leaving out children and dhcp/reserved ranges (merged intervals, in address order). */
const REBUILD = `
      create or replace function "ipam_rebuild_free_ranges"(p_pool int) returns void language plpgsql as $$
      declare
        net cidr; gw inet; lo inet; hi inet; cur inet; r record;
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
        for r in
          select a."ip_address" as s, a."ip_address" as e from "ip_allocations" a
           where a."pool_id" = p_pool and a."status" <> 'available' and a."ip_address" between lo and hi
          union all
          select gw, gw where gw is not null and gw between lo and hi
          union all
          select host(c."network")::inet, host(broadcast(c."network"))::inet from "ip_pools" c where c."parent_id" = p_pool
          union all
          select g."first_ip", g."last_ip" from "ip_ranges" g where g."pool_id" = p_pool and g."purpose" in ('dhcp', 'reserved')
          order by 1, 2
        loop
          exit when r.s > hi;
          continue when r.e < cur;
          if r.s > cur then
            insert into "ip_free_ranges" values (p_pool, cur, r.s - 1);
          end if;
          if r.e >= hi then cur := null; exit; end if;
          cur := r.e + 1;
        end loop;
        if cur is not null and cur <= hi then
          insert into "ip_free_ranges" values (p_pool, cur, hi);
        end if;
      end $$;`

/** The rebuild as Migration20261127130000 wrote it (for down()). */
const OLD_REBUILD = `
      create or replace function "ipam_rebuild_free_ranges"(p_pool int) returns void language plpgsql as $$
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
      end $$;`

const IN_POOL = (leaf: boolean): string => `
      create or replace function "ip_allocations_in_pool_rows"() returns trigger language plpgsql as $$
      declare bad record;
      begin
        select n."ip_address", p."network" into bad
          from "new_rows" n join "ip_pools" p on p."id" = n."pool_id"
         where not (n."ip_address" <<= p."network")
         limit 1;
        if found then
          raise exception 'ip_address % is outside pool network %', host(bad."ip_address"), bad."network"
            using errcode = '23514', constraint = 'ip_allocations_in_pool';
        end if;${
          leaf
            ? `
        -- The innermost pool holds an address: siblings never overlap, so the only child that can cover it is the
        -- one with the greatest network not above it (one index probe per row).
        select host(n."ip_address") as ip, c."name" as child, c."network", p."name" as pool into bad
          from "new_rows" n
          join "ip_pools" p on p."id" = n."pool_id"
          cross join lateral (select c."name", c."network" from "ip_pools" c
                               where c."parent_id" = n."pool_id" and c."network" <= n."ip_address"
                               order by c."network" desc limit 1) c
         where c."network" >>= n."ip_address"
         limit 1;
        if found then
          raise exception 'ip_address % lies in child pool "%" (%) of pool "%": an address lives in the innermost pool that holds it',
            bad.ip, bad.child, bad."network", bad.pool using errcode = '23514', constraint = 'ip_allocations_in_leaf';
        end if;`
            : ''
        }
        return null;
      end $$;`

export class Migration20261215010000_ipam_spaces_tree extends Migration {
  override async up(): Promise<void> {
    // 1. Spaces.
    this.addSql(`
      create table "ip_spaces" (
        "id" serial primary key,
        "name" varchar(100) not null,
        "description" text null,
        "is_default" boolean not null default false,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "ip_spaces_name_key" unique ("name"),
        constraint "ip_spaces_name_not_blank" check (length(btrim("name")) > 0)
      );`)
    this.addSql(`create unique index "ip_spaces_one_default" on "ip_spaces" ("is_default") where "is_default";`)
    this.addSql(`insert into "ip_spaces" ("name", "description", "is_default") values ('default', 'The address space every pool was in before spaces existed', true);`)
    this.addSql(`create function "ipam_default_space"() returns int language sql stable as $$ select "id" from "ip_spaces" where "is_default" $$;`)

    // 2. The tree.
    this.addSql(`alter table "ip_pools" add column "space_id" int null, add column "parent_id" int null;`)
    this.addSql(`update "ip_pools" set "space_id" = "ipam_default_space"();`)
    this.addSql(`alter table "ip_pools" alter column "space_id" set not null, alter column "space_id" set default "ipam_default_space"();`)
    this.addSql(`alter table "ip_pools" add constraint "ip_pools_space_id_foreign" foreign key ("space_id") references "ip_spaces" ("id") on delete restrict;`)
    this.addSql(`alter table "ip_pools" add constraint "ip_pools_id_space_key" unique ("id", "space_id");`)
    this.addSql(`alter table "ip_pools" add constraint "ip_pools_parent_foreign" foreign key ("parent_id", "space_id") references "ip_pools" ("id", "space_id") on delete restrict;`)
    this.addSql(`alter table "ip_pools" drop constraint "ip_pools_network_key";`)
    this.addSql(`alter table "ip_pools" drop constraint "ip_pools_no_overlap";`)
    this.addSql(`
      alter table "ip_pools" add constraint "ip_pools_no_overlap" exclude using gist (
        (int4range("space_id", "space_id", '[]')) with &&,
        (int4range(coalesce("parent_id", 0), coalesce("parent_id", 0), '[]')) with &&,
        "network" inet_ops with &&
      ) deferrable initially immediate;`)
    this.addSql(`create index "ip_pools_parent_network_idx" on "ip_pools" ("parent_id", "network");`)
    this.addSql(`create index "ip_pools_space_network_idx" on "ip_pools" ("space_id", "network");`)
    this.addSql(`
      create function "ip_pools_tree"() returns trigger language plpgsql as $$
      declare par record; bad record;
      begin
        if new."parent_id" is not null then
          select p."name", p."network" into par from "ip_pools" p where p."id" = new."parent_id";
          if found and not (new."network" << par."network") then
            raise exception 'network % is not inside parent pool "%" (%)', new."network", par."name", par."network"
              using errcode = '23514', constraint = 'ip_pools_inside_parent';
          end if;
        end if;
        if tg_op = 'UPDATE' and new."network" is distinct from old."network" then
          select c."name", c."network" into bad from "ip_pools" c where c."parent_id" = new."id" and not (c."network" << new."network") limit 1;
          if found then
            raise exception 'network % would leave out child pool "%" (%)', new."network", bad."name", bad."network"
              using errcode = '23514', constraint = 'ip_pools_inside_parent';
          end if;
        end if;
        return new;
      end $$;`)
    this.addSql(`create trigger "ip_pools_tree" before insert or update of "network", "parent_id", "space_id" on "ip_pools" for each row execute function "ip_pools_tree"();`)
    this.addSql(`
      create function "ip_pools_parent_allocations"() returns trigger language plpgsql as $$
      declare bad record;
      begin
        if new."parent_id" is null then return null; end if;
        select host(a."ip_address") as ip, p."name" as parent into bad
          from "ip_allocations" a join "ip_pools" p on p."id" = a."pool_id"
         where a."ip_address" between host(new."network")::inet and host(broadcast(new."network"))::inet
           and a."space_id" = new."space_id" and a."pool_id" = new."parent_id"
         limit 1;
        if found then
          raise exception 'pool "%" (%) covers %, which its parent pool "%" still holds: an address lives in the innermost pool that holds it',
            new."name", new."network", bad.ip, bad.parent using errcode = '23514', constraint = 'ip_allocations_in_leaf';
        end if;
        return null;
      end $$;`)
    this.addSql(`
      create constraint trigger "ip_pools_parent_allocations" after insert or update of "network", "parent_id" on "ip_pools"
      deferrable initially deferred for each row execute function "ip_pools_parent_allocations"();`)

    // 4. Allocations per space.
    this.addSql(`alter table "ip_allocations" add column "space_id" int null;`)
    this.addSql(`update "ip_allocations" a set "space_id" = p."space_id" from "ip_pools" p where p."id" = a."pool_id";`)
    this.addSql(`alter table "ip_allocations" alter column "space_id" set not null;`)
    this.addSql(`alter table "ip_allocations" drop constraint "ip_allocations_pool_id_foreign";`)
    this.addSql(`
      alter table "ip_allocations" add constraint "ip_allocations_pool_space_foreign" foreign key ("pool_id", "space_id")
        references "ip_pools" ("id", "space_id") on update cascade on delete cascade;`)
    this.addSql(`alter table "ip_allocations" drop constraint "ip_allocations_ip_address_key";`)
    this.addSql(`alter table "ip_allocations" add constraint "ip_allocations_ip_address_key" unique ("ip_address", "space_id");`)
    this.addSql(`
      create function "ip_allocations_space"() returns trigger language plpgsql as $$
      begin
        select p."space_id" into new."space_id" from "ip_pools" p where p."id" = new."pool_id";
        return new;
      end $$;`)
    // Only rows written without a space pay for the look-up (the WHEN is evaluated without calling the function).
    this.addSql(`create trigger "ip_allocations_space" before insert on "ip_allocations" for each row when (new."space_id" is null) execute function "ip_allocations_space"();`)
    this.addSql(IN_POOL(true))

    // 5. Ranges.
    this.addSql(`create type "ip_range" as range (subtype = inet);`)
    this.addSql(`
      create table "ip_ranges" (
        "id" serial primary key,
        "pool_id" int not null references "ip_pools" ("id") on delete cascade,
        "first_ip" inet not null,
        "last_ip" inet not null,
        "purpose" varchar(16) not null,
        "description" text null,
        "mark_used" boolean not null default false,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "ip_ranges_purpose_check" check ("purpose" in ('dhcp', 'reserved', 'infrastructure', 'other')),
        constraint "ip_ranges_order" check (family("first_ip") = family("last_ip") and "first_ip" <= "last_ip"),
        constraint "ip_ranges_host_address" check (masklen("first_ip") = case family("first_ip") when 4 then 32 else 128 end
                                                   and masklen("last_ip") = case family("last_ip") when 4 then 32 else 128 end),
        constraint "ip_ranges_no_overlap" exclude using gist (
          (int4range("pool_id", "pool_id", '[]')) with &&,
          ("ip_range"("first_ip", "last_ip", '[]')) with &&
        )
      );`)
    this.addSql(`
      create function "ip_ranges_check"() returns trigger language plpgsql as $$
      declare p record; c record;
      begin
        select "name", "network" into p from "ip_pools" where "id" = new."pool_id";
        if not found then return new; end if;
        if not (new."first_ip" <<= p."network" and new."last_ip" <<= p."network") then
          raise exception 'range %-% is not inside pool "%" (%)', host(new."first_ip"), host(new."last_ip"), p."name", p."network"
            using errcode = '23514', constraint = 'ip_ranges_in_pool';
        end if;
        select x."name", x."network" into c from "ip_pools" x
         where x."parent_id" = new."pool_id"
           and host(x."network")::inet <= new."last_ip" and host(broadcast(x."network"))::inet >= new."first_ip"
         limit 1;
        if found then
          raise exception 'range %-% overlaps child pool "%" (%): a range belongs to the innermost pool', host(new."first_ip"), host(new."last_ip"), c."name", c."network"
            using errcode = '23514', constraint = 'ip_ranges_in_pool';
        end if;
        return new;
      end $$;`)
    this.addSql(`create trigger "ip_ranges_check" before insert or update on "ip_ranges" for each row execute function "ip_ranges_check"();`)
    this.addSql(`create index "ip_ranges_pool_idx" on "ip_ranges" ("pool_id", "first_ip");`)

    // 6. The free-space cache follows children and ranges.
    this.addSql(REBUILD)
    this.addSql(`
      create function "ipam_free_take"(p_pool int, p_lo inet, p_hi inet) returns void language plpgsql as $$
      declare r record;
      begin
        for r in
          (select f."first_ip", f."last_ip" from "ip_free_ranges" f where f."pool_id" = p_pool and f."first_ip" < p_lo order by f."first_ip" desc limit 1)
          union all
          (select f."first_ip", f."last_ip" from "ip_free_ranges" f where f."pool_id" = p_pool and f."first_ip" between p_lo and p_hi)
        loop
          continue when r."last_ip" < p_lo;
          delete from "ip_free_ranges" f where f."pool_id" = p_pool and f."first_ip" = r."first_ip";
          if r."first_ip" < p_lo then insert into "ip_free_ranges" values (p_pool, r."first_ip", p_lo - 1); end if;
          if r."last_ip" > p_hi then insert into "ip_free_ranges" values (p_pool, p_hi + 1, r."last_ip"); end if;
        end loop;
      end $$;`)
    this.addSql(`
      create function "ip_pools_free_space"() returns trigger language plpgsql as $$
      begin
        if tg_op = 'INSERT' then
          if new."parent_id" is not null then
            perform "ipam_free_take"(new."parent_id", host(new."network")::inet, host(broadcast(new."network"))::inet);
          end if;
          return null;
        end if;
        if tg_op = 'DELETE' then
          if old."parent_id" is not null then perform "ipam_rebuild_free_ranges"(old."parent_id"); end if;
          return null;
        end if;
        if old."parent_id" is not null then perform "ipam_rebuild_free_ranges"(old."parent_id"); end if;
        if new."parent_id" is not null and new."parent_id" is distinct from old."parent_id" then
          perform "ipam_rebuild_free_ranges"(new."parent_id");
        end if;
        return null;
      end $$;`)
    this.addSql(`create trigger "ip_pools_free_space_insert" after insert on "ip_pools" for each row when (new."parent_id" is not null) execute function "ip_pools_free_space"();`)
    this.addSql(`create trigger "ip_pools_free_space_delete" after delete on "ip_pools" for each row when (old."parent_id" is not null) execute function "ip_pools_free_space"();`)
    this.addSql(`
      create trigger "ip_pools_free_space_update" after update of "network", "parent_id" on "ip_pools" for each row
      when (old."network" is distinct from new."network" or old."parent_id" is distinct from new."parent_id") execute function "ip_pools_free_space"();`)
    this.addSql(`
      create function "ip_ranges_free_space"() returns trigger language plpgsql as $$
      begin
        if tg_op in ('UPDATE', 'DELETE') then perform "ipam_rebuild_free_ranges"(old."pool_id"); end if;
        if tg_op in ('UPDATE', 'INSERT') and (tg_op = 'INSERT' or new."pool_id" <> old."pool_id") then perform "ipam_rebuild_free_ranges"(new."pool_id"); end if;
        return null;
      end $$;`)
    this.addSql(`create trigger "ip_ranges_free_space" after insert or update or delete on "ip_ranges" for each row execute function "ip_ranges_free_space"();`)

    // Ownership and grants (as Migration20261203100000): viewers read, admins change spaces and ranges (pool settings).
    this.addSql(`alter table "ip_spaces" owner to netkeeper_owner;`)
    this.addSql(`alter table "ip_ranges" owner to netkeeper_owner;`)
    this.addSql(`alter type "ip_range" owner to netkeeper_owner;`)
    this.addSql(`revoke all on "ip_spaces", "ip_ranges" from public;`)
    this.addSql(`grant select on "ip_spaces", "ip_ranges" to netkeeper_viewer;`)
    this.addSql(`grant insert, update, delete on "ip_spaces", "ip_ranges" to netkeeper_admin;`)
    this.addSql(`grant usage, select on sequence "ip_spaces_id_seq", "ip_ranges_id_seq" to netkeeper_admin;`)
    this.addSql(own([...NEW_FUNCTIONS, 'ip_allocations_in_pool_rows()', 'ipam_rebuild_free_ranges(integer)']))
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "ip_ranges_free_space" on "ip_ranges";`)
    this.addSql(`drop function if exists "ip_ranges_free_space"();`)
    this.addSql(`drop trigger if exists "ip_pools_free_space_update" on "ip_pools";`)
    this.addSql(`drop trigger if exists "ip_pools_free_space_delete" on "ip_pools";`)
    this.addSql(`drop trigger if exists "ip_pools_free_space_insert" on "ip_pools";`)
    this.addSql(`drop function if exists "ip_pools_free_space"();`)
    this.addSql(`drop function if exists "ipam_free_take"(int, inet, inet);`)
    this.addSql(`drop table if exists "ip_ranges";`)
    this.addSql(`drop function if exists "ip_ranges_check"();`)
    this.addSql(`drop type if exists "ip_range";`)
    this.addSql(OLD_REBUILD)
    this.addSql(IN_POOL(false))
    this.addSql(own(['ip_allocations_in_pool_rows()', 'ipam_rebuild_free_ranges(integer)']))
    this.addSql(`drop trigger if exists "ip_allocations_space" on "ip_allocations";`)
    this.addSql(`drop function if exists "ip_allocations_space"();`)
    this.addSql(`alter table "ip_allocations" drop constraint "ip_allocations_ip_address_key";`)
    this.addSql(`alter table "ip_allocations" add constraint "ip_allocations_ip_address_key" unique ("ip_address");`)
    this.addSql(`alter table "ip_allocations" drop constraint "ip_allocations_pool_space_foreign";`)
    this.addSql(`
      alter table "ip_allocations" add constraint "ip_allocations_pool_id_foreign" foreign key ("pool_id")
        references "ip_pools" ("id") on update cascade on delete cascade;`)
    this.addSql(`alter table "ip_allocations" drop column "space_id";`)
    this.addSql(`drop trigger if exists "ip_pools_parent_allocations" on "ip_pools";`)
    this.addSql(`drop function if exists "ip_pools_parent_allocations"();`)
    this.addSql(`drop trigger if exists "ip_pools_tree" on "ip_pools";`)
    this.addSql(`drop function if exists "ip_pools_tree"();`)
    this.addSql(`drop index if exists "ip_pools_space_network_idx";`)
    this.addSql(`drop index if exists "ip_pools_parent_network_idx";`)
    this.addSql(`alter table "ip_pools" drop constraint "ip_pools_no_overlap";`)
    this.addSql(`alter table "ip_pools" drop constraint "ip_pools_parent_foreign";`)
    this.addSql(`alter table "ip_pools" drop constraint "ip_pools_id_space_key";`)
    this.addSql(`alter table "ip_pools" drop constraint "ip_pools_space_id_foreign";`)
    this.addSql(`alter table "ip_pools" drop column "parent_id", drop column "space_id";`)
    this.addSql(`alter table "ip_pools" add constraint "ip_pools_no_overlap" exclude using gist ("network" inet_ops with &&);`)
    this.addSql(`alter table "ip_pools" add constraint "ip_pools_network_key" unique ("network");`)
    this.addSql(`drop function if exists "ipam_default_space"();`)
    this.addSql(`drop table if exists "ip_spaces";`)
  }
}

import { Migration } from '@mikro-orm/migrations'

/**
 * DNS follows the addresses (docs/dns-dhcp.md).
 *
 * - dns_servers: primary name servers Netkeeper updates (address, port, TSIG key name and algorithm; the
 *   secret is in the OS keychain, never here). dns_zones: the zones Netkeeper manages on them: forward, IPv4
 *   reverse (octet aligned, or classless per RFC 2317 with `classless`), IPv6 reverse (nibble aligned);
 *   reverse zones carry the network whose PTRs they hold.
 * - ip_pools.dns_zone_id / dns_ptr: the forward zone of a pool's names, and whether its addresses get PTRs
 *   (in the longest reverse zone that covers each address).
 * - dns_records: what Netkeeper last wrote (zone, name, type, data). An update's prerequisites say "the
 *   RRset is exactly what Netkeeper wrote" (or "absent"), so a record someone else wrote is never replaced.
 * - dns_drift_ignored: drift lines a person chose to ignore.
 * - A deferred trigger on ip_allocations queues one outbox row (kind `dns`) per allocation change that
 *   touches a published name or address, when the transaction commits: by then the change's audit row is
 *   written, and the outbox row takes its request id and actor from it (the same id in the log for the
 *   allocation and the update it caused). It runs as the owner: clients cannot queue DNS changes themselves.
 */
export class Migration20261220020000_dns extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "dns_servers" (
        "id" serial primary key,
        "name" varchar(100) not null,
        "address" inet not null,
        "port" int not null default 53,
        "key_name" text not null,
        "algorithm" text not null default 'hmac-sha256',
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "dns_servers_name_key" unique ("name"),
        constraint "dns_servers_port_check" check ("port" between 1 and 65535),
        constraint "dns_servers_algorithm_check" check ("algorithm" in ('hmac-sha256', 'hmac-sha384', 'hmac-sha512'))
      );`)
    this.addSql(`
      create table "dns_zones" (
        "id" serial primary key,
        "server_id" int not null references "dns_servers" ("id") on delete restrict,
        "name" text not null,
        "kind" text not null,
        "network" cidr null,
        "classless" boolean not null default false,
        "ttl" int not null default 3600,
        "created_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "dns_zones_name_key" unique ("name"),
        constraint "dns_zones_kind_check" check ("kind" in ('forward', 'reverse4', 'reverse6')),
        constraint "dns_zones_network_check" check (("kind" = 'forward') = ("network" is null))
      );`)
    this.addSql(`create index "dns_zones_network_idx" on "dns_zones" using gist ("network" inet_ops) where "network" is not null;`)
    this.addSql(`alter table "ip_pools" add column "dns_zone_id" int null references "dns_zones" ("id") on delete set null,
                 add column "dns_ptr" boolean not null default false;`)
    this.addSql(`
      create table "dns_records" (
        "zone_id" int not null references "dns_zones" ("id") on delete cascade,
        "name" text not null,
        "type" text not null,
        "data" text not null,
        "written_at" timestamptz not null default now(),
        primary key ("zone_id", "name", "type", "data")
      );`)
    this.addSql(`
      create table "dns_drift_ignored" (
        "id" text primary key,
        "zone_id" int not null references "dns_zones" ("id") on delete cascade,
        "ignored_by" text null,
        "ignored_at" timestamptz not null default now()
      );`)

    // The fully qualified name of a host name in a zone (src/shared/dns.ts fqdnIn, the same rule).
    this.addSql(`
      create function "dns_fqdn"(p_host text, p_zone text) returns text language sql immutable as $$
        select case when h = p_zone or right(h, length(p_zone) + 1) = '.' || p_zone then h else h || '.' || p_zone end
          from (select rtrim(lower(p_host), '.') as h) x
      $$;`)

    this.addSql(`
      create function "ip_allocations_dns_outbox"() returns trigger language plpgsql security definer as $$
      declare
        names jsonb := '[]'::jsonb; ips jsonb := '[]'::jsonb; tgt text; a record; r record; who record; alloc_id int;
      begin
        if tg_op = 'UPDATE' and old."hostname" is not distinct from new."hostname" and old."ip_address" = new."ip_address"
           and old."dns_managed" = new."dns_managed" and old."status" = new."status" and old."pool_id" = new."pool_id" then
          return null;
        end if;
        for a in
          select o."pool_id", o."ip_address", o."hostname" from (select 1) one, lateral (
            select old."pool_id", old."ip_address", old."hostname", old."dns_managed", old."status" where tg_op <> 'INSERT'
            union all
            select new."pool_id", new."ip_address", new."hostname", new."dns_managed", new."status" where tg_op <> 'DELETE'
          ) o where o."dns_managed"
        loop
          select p."dns_ptr", z."id" as zone_id, z."name" as zone, z."server_id" into r
            from "ip_pools" p left join "dns_zones" z on z."id" = p."dns_zone_id" where p."id" = a."pool_id";
          if not found then continue; end if;
          if r.zone_id is not null and a."hostname" is not null then
            names := names || jsonb_build_object('zoneId', r.zone_id, 'name', "dns_fqdn"(a."hostname", r.zone));
            tgt := coalesce(tgt, 'dns:' || r.server_id);
          end if;
          if r."dns_ptr" then ips := ips || to_jsonb(host(a."ip_address")); end if;
        end loop;
        if names = '[]'::jsonb and ips = '[]'::jsonb then return null; end if;
        if tgt is null then
          select 'dns:' || z."server_id" into tgt from "dns_zones" z
           where z."network" >>= (select coalesce(new_ip, old_ip) from (select case when tg_op <> 'DELETE' then new."ip_address" end as new_ip,
                                                                               case when tg_op <> 'INSERT' then old."ip_address" end as old_ip) x)
           order by masklen(z."network") desc limit 1;
        end if;
        alloc_id := case when tg_op = 'DELETE' then old."id" else new."id" end;
        -- The change's audit row is written by now (this trigger is deferred to commit).
        select l."request_id", l."user_id", l."source" into who from "audit_logs" l
         where l."resource_type" = 'ip_allocation' and l."resource_id" = alloc_id::text and l."status" = 'success'
           and l.xmin::text = (pg_current_xact_id()::text::bigint % 4294967296)::text
         order by l."seq" desc limit 1;
        insert into "outbox" ("kind", "target", "subject", "payload", "request_id", "actor", "source")
        values ('dns', coalesce(tgt, 'dns'), 'ip_allocation:' || alloc_id,
                jsonb_build_object('allocationId', alloc_id, 'names', names, 'ips', ips, 'op', lower(tg_op)),
                who."request_id", who."user_id", who."source");
        perform pg_notify('netkeeper_outbox', 'dns');
        return null;
      end $$;`)
    this.addSql(`
      create constraint trigger "ip_allocations_dns_outbox" after insert or update or delete on "ip_allocations"
        deferrable initially deferred for each row execute function "ip_allocations_dns_outbox"();`)

    this.addSql(`
      do $$
      declare s text := current_schema(); t text; f text;
      begin
        foreach t in array array['dns_servers', 'dns_zones', 'dns_records', 'dns_drift_ignored'] loop
          execute format('alter table %I owner to netkeeper_owner', t);
          execute format('grant select on %I to netkeeper_viewer', t);
        end loop;
        alter sequence "dns_servers_id_seq" owner to netkeeper_owner;
        alter sequence "dns_zones_id_seq" owner to netkeeper_owner;
        grant usage, select on "dns_servers_id_seq", "dns_zones_id_seq" to netkeeper_admin;
        foreach f in array array['dns_fqdn(text, text)', 'ip_allocations_dns_outbox()'] loop
          execute format('alter function %s owner to netkeeper_owner', f);
          execute format('alter function %s set search_path = %I, pg_catalog, pg_temp', f, s);
          execute format('revoke all on function %s from public', f);
          execute format('grant execute on function %s to netkeeper_viewer', f);
        end loop;
      end $$;`)
    // The worker (an operator's app) records what it wrote; people who may change addresses may ignore drift.
    this.addSql(`grant insert, update, delete on "dns_records", "dns_drift_ignored" to netkeeper_operator;`)
    // Admins configure servers, zones and which zone a pool publishes in.
    this.addSql(`grant insert, update, delete on "dns_servers", "dns_zones" to netkeeper_admin;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "ip_allocations_dns_outbox" on "ip_allocations";`)
    this.addSql(`drop function if exists "ip_allocations_dns_outbox"();`)
    this.addSql(`drop function if exists "dns_fqdn"(text, text);`)
    this.addSql(`alter table "ip_pools" drop column if exists "dns_zone_id", drop column if exists "dns_ptr";`)
    this.addSql(`drop table if exists "dns_drift_ignored";`)
    this.addSql(`drop table if exists "dns_records";`)
    this.addSql(`drop table if exists "dns_zones";`)
    this.addSql(`drop table if exists "dns_servers";`)
  }
}

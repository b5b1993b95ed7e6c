import { Migration } from '@mikro-orm/migrations'

/**
 * DHCP follows the addresses through Kea (docs/dns-dhcp.md#dhcp).
 *
 * - dhcp_servers: Kea host and lease databases (PostgreSQL, the schema `kea-admin db-init pgsql` creates),
 *   by host, port, database and user; the password, if any, is in the OS keychain.
 * - ip_pools.dhcp_server_id / kea_subnet_id: the Kea server and subnet id a pool maps to.
 * - A deferred trigger on ip_allocations queues one outbox row (kind `dhcp`) per allocation change that
 *   touches a reservation (address, MAC, host name, status, DHCP on/off, pool), with the change's request id
 *   and actor from its audit row, as the DNS trigger does.
 */
export class Migration20261220030000_kea extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "dhcp_servers" (
        "id" serial primary key,
        "name" varchar(100) not null,
        "kind" text not null default 'kea',
        "db_host" text not null,
        "db_port" int not null default 5432,
        "db_name" text not null,
        "db_user" text not null,
        "created_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "dhcp_servers_name_key" unique ("name"),
        constraint "dhcp_servers_kind_check" check ("kind" = 'kea'),
        constraint "dhcp_servers_port_check" check ("db_port" between 1 and 65535)
      );`)
    this.addSql(`alter table "ip_pools" add column "dhcp_server_id" int null references "dhcp_servers" ("id") on delete set null,
                 add column "kea_subnet_id" bigint null,
                 add constraint "ip_pools_kea_subnet_id_check" check ("kea_subnet_id" between 1 and 4294967294);`)
    this.addSql(`create unique index "ip_pools_kea_subnet_idx" on "ip_pools" ("dhcp_server_id", "kea_subnet_id") where "kea_subnet_id" is not null;`)
    this.addSql(`
      create table "dhcp_drift_ignored" (
        "id" text primary key,
        "pool_id" int not null references "ip_pools" ("id") on delete cascade,
        "ignored_by" text null,
        "ignored_at" timestamptz not null default now()
      );`)

    this.addSql(`
      create function "ip_allocations_dhcp_outbox"() returns trigger language plpgsql security definer as $$
      declare
        ips jsonb := '[]'::jsonb; macs jsonb := '[]'::jsonb; tgt text; a record; r record; who record; alloc_id int; subnets jsonb := '[]'::jsonb;
      begin
        if tg_op = 'UPDATE' and old."mac_address" is not distinct from new."mac_address" and old."hostname" is not distinct from new."hostname"
           and old."ip_address" = new."ip_address" and old."dhcp_managed" = new."dhcp_managed" and old."status" = new."status" and old."pool_id" = new."pool_id" then
          return null;
        end if;
        for a in
          select o."pool_id", o."ip_address", o."mac_address" from (select 1) one, lateral (
            select old."pool_id", old."ip_address", old."mac_address", old."dhcp_managed" where tg_op <> 'INSERT'
            union all
            select new."pool_id", new."ip_address", new."mac_address", new."dhcp_managed" where tg_op <> 'DELETE'
          ) o where o."dhcp_managed"
        loop
          select p."dhcp_server_id", p."kea_subnet_id" into r from "ip_pools" p where p."id" = a."pool_id";
          if not found or r."dhcp_server_id" is null or r."kea_subnet_id" is null then continue; end if;
          tgt := coalesce(tgt, 'dhcp:' || r."dhcp_server_id");
          ips := ips || jsonb_build_object('ip', host(a."ip_address"), 'serverId', r."dhcp_server_id", 'subnetId', r."kea_subnet_id");
          if a."mac_address" is not null then
            macs := macs || jsonb_build_object('mac', a."mac_address"::text, 'serverId', r."dhcp_server_id", 'subnetId', r."kea_subnet_id");
          end if;
        end loop;
        if tgt is null then return null; end if;
        alloc_id := case when tg_op = 'DELETE' then old."id" else new."id" end;
        select l."request_id", l."user_id", l."source" into who from "audit_logs" l
         where l."resource_type" = 'ip_allocation' and l."resource_id" = alloc_id::text and l."status" = 'success'
           and l.xmin::text = (pg_current_xact_id()::text::bigint % 4294967296)::text
         order by l."seq" desc limit 1;
        insert into "outbox" ("kind", "target", "subject", "payload", "request_id", "actor", "source")
        values ('dhcp', tgt, 'ip_allocation:' || alloc_id, jsonb_build_object('allocationId', alloc_id, 'ips', ips, 'macs', macs, 'op', lower(tg_op)),
                who."request_id", who."user_id", who."source");
        perform pg_notify('netkeeper_outbox', 'dhcp');
        return null;
      end $$;`)
    this.addSql(`
      create constraint trigger "ip_allocations_dhcp_outbox" after insert or update or delete on "ip_allocations"
        deferrable initially deferred for each row execute function "ip_allocations_dhcp_outbox"();`)

    this.addSql(`
      do $$
      declare s text := current_schema(); t text;
      begin
        foreach t in array array['dhcp_servers', 'dhcp_drift_ignored'] loop
          execute format('alter table %I owner to netkeeper_owner', t);
          execute format('grant select on %I to netkeeper_viewer', t);
        end loop;
        alter sequence "dhcp_servers_id_seq" owner to netkeeper_owner;
        grant usage, select on "dhcp_servers_id_seq" to netkeeper_admin;
        alter function "ip_allocations_dhcp_outbox"() owner to netkeeper_owner;
        execute format('alter function "ip_allocations_dhcp_outbox"() set search_path = %I, pg_catalog, pg_temp', s);
        revoke all on function "ip_allocations_dhcp_outbox"() from public;
      end $$;`)
    this.addSql(`grant insert, update, delete on "dhcp_drift_ignored" to netkeeper_operator;`)
    this.addSql(`grant insert, update, delete on "dhcp_servers" to netkeeper_admin;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "ip_allocations_dhcp_outbox" on "ip_allocations";`)
    this.addSql(`drop function if exists "ip_allocations_dhcp_outbox"();`)
    this.addSql(`drop table if exists "dhcp_drift_ignored";`)
    this.addSql(`drop index if exists "ip_pools_kea_subnet_idx";`)
    this.addSql(`alter table "ip_pools" drop constraint if exists "ip_pools_kea_subnet_id_check", drop column if exists "dhcp_server_id", drop column if exists "kea_subnet_id";`)
    this.addSql(`drop table if exists "dhcp_servers";`)
  }
}

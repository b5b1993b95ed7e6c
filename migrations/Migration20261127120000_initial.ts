import { Migration } from '@mikro-orm/migrations'

/**
 * The initial data model: pools, allocations, the audit log with its hash-chain columns and the
 * retention policies. Native types throughout; the database itself refuses overlapping pools (GiST
 * exclusion on cidr), duplicate addresses (unique inet), malformed values (the types) and addresses
 * outside their pool (trigger), so no code path can get around those rules.
 */
export class Migration20261127120000_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "ip_pools" (
        "id" serial primary key,
        "name" varchar(100) not null,
        "description" text null,
        "network" cidr not null,
        "gateway" inet null,
        "vlan_id" int null,
        "site" varchar(100) null,
        "environment" varchar(50) null,
        "is_active" boolean not null default true,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "created_by" varchar(255) null,
        constraint "ip_pools_name_key" unique ("name"),
        constraint "ip_pools_network_key" unique ("network"),
        constraint "ip_pools_name_not_blank" check (length(btrim("name")) > 0),
        constraint "ip_pools_vlan_id_check" check ("vlan_id" between 1 and 4094),
        constraint "ip_pools_gateway_in_network" check ("gateway" is null or "gateway" << "network"),
        constraint "ip_pools_no_overlap" exclude using gist ("network" inet_ops with &&)
      );`)

    this.addSql(`
      create table "ip_allocations" (
        "id" serial primary key,
        "pool_id" int not null,
        "ip_address" inet not null,
        "mac_address" macaddr null,
        "hostname" varchar(253) null,
        "owner" varchar(255) null,
        "purpose" varchar(255) null,
        "description" text null,
        "status" varchar(16) not null default 'allocated',
        "dns_managed" boolean not null default false,
        "dhcp_managed" boolean not null default false,
        "reserved_until" timestamptz null,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        "allocated_by" varchar(255) null,
        "version" int not null default 1,
        constraint "ip_allocations_ip_address_key" unique ("ip_address"),
        constraint "ip_allocations_pool_id_foreign" foreign key ("pool_id")
          references "ip_pools" ("id") on update cascade on delete cascade,
        constraint "ip_allocations_status_check"
          check ("status" in ('available', 'allocated', 'reserved', 'blocked')),
        constraint "ip_allocations_host_address"
          check (masklen("ip_address") = case family("ip_address") when 4 then 32 else 128 end)
      );`)
    this.addSql(`create index "ip_allocations_pool_id_idx" on "ip_allocations" ("pool_id");`)
    this.addSql(`create index "ip_allocations_pool_id_status_idx" on "ip_allocations" ("pool_id", "status");`)
    this.addSql(`create index "ip_allocations_mac_address_idx" on "ip_allocations" ("mac_address");`)
    this.addSql(`create index "ip_allocations_hostname_idx" on "ip_allocations" ("hostname");`)

    // An allocation must lie inside the pool it belongs to. A CHECK cannot look at another table, so a
    // trigger does it: one primary-key lookup per written row.
    this.addSql(`
      create function "ip_allocations_in_pool"() returns trigger language plpgsql as $$
      declare pool_network cidr;
      begin
        select "network" into pool_network from "ip_pools" where "id" = new."pool_id";
        if pool_network is null then
          return new; -- the foreign key reports the missing pool
        end if;
        if not (new."ip_address" <<= pool_network) then
          raise exception 'ip_address % is outside pool network %', host(new."ip_address"), pool_network
            using errcode = '23514', constraint = 'ip_allocations_in_pool';
        end if;
        return new;
      end $$;`)
    this.addSql(`
      create trigger "ip_allocations_in_pool" before insert or update of "ip_address", "pool_id"
      on "ip_allocations" for each row execute function "ip_allocations_in_pool"();`)

    this.addSql(`
      create table "audit_logs" (
        "id" uuid not null default gen_random_uuid() primary key,
        "seq" bigint not null,
        "created_at" timestamptz not null default now(),
        "action" varchar(32) not null,
        "resource_type" varchar(64) not null,
        "resource_id" varchar(255) null,
        "resource_name" varchar(255) null,
        "user_id" varchar(255) null,
        "user_ip" inet null,
        "user_agent" varchar(512) null,
        "status" varchar(16) not null,
        "details" jsonb not null default '{}'::jsonb,
        "request_id" varchar(64) null,
        "source" varchar(16) not null,
        "prev_hash" varchar(64) not null,
        "row_hash" varchar(64) not null,
        constraint "audit_logs_seq_key" unique ("seq"),
        constraint "audit_logs_status_check" check ("status" in ('success', 'failure', 'warning')),
        constraint "audit_logs_source_check" check ("source" in ('ui', 'cli', 'import', 'replay')),
        constraint "audit_logs_action_check" check ("action" in
          ('create', 'read', 'update', 'delete', 'login', 'logout', 'authenticate', 'authorize', 'error'))
      );`)
    this.addSql(`create index "audit_logs_created_at_idx" on "audit_logs" ("created_at");`)
    this.addSql(`create index "audit_logs_action_idx" on "audit_logs" ("action");`)
    this.addSql(`create index "audit_logs_resource_type_idx" on "audit_logs" ("resource_type");`)
    this.addSql(`create index "audit_logs_user_id_idx" on "audit_logs" ("user_id");`)
    this.addSql(`create index "audit_logs_user_ip_idx" on "audit_logs" ("user_ip");`)

    this.addSql(`
      create table "audit_log_retention_policies" (
        "id" serial primary key,
        "resource_type" varchar(64) not null,
        "retention_days" int null,
        "is_active" boolean not null default true,
        "created_at" timestamptz not null default now(),
        "updated_at" timestamptz not null default now(),
        constraint "audit_log_retention_policies_resource_type_key" unique ("resource_type"),
        constraint "audit_log_retention_policies_days_check" check ("retention_days" is null or "retention_days" > 0)
      );`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "audit_log_retention_policies";`)
    this.addSql(`drop table if exists "audit_logs";`)
    this.addSql(`drop table if exists "ip_allocations";`)
    this.addSql(`drop function if exists "ip_allocations_in_pool"();`)
    this.addSql(`drop table if exists "ip_pools";`)
  }
}

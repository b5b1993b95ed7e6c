import { Migration } from '@mikro-orm/migrations'

/**
 * The legacy SQLite import (src/main/core/importer, docs/import.md):
 * - ip_pools.dns_servers: the DNS servers a v2.0 pool listed (a JSON text column there), kept with the
 *   pool as native inet[] so they stay validated and searchable;
 * - legacy_import_map: which legacy row became which object, so running the same file again imports
 *   nothing twice. There is deliberately no foreign key to the objects: an object an admin deletes after
 *   the import stays deleted when the file is imported again (its legacy id is still known).
 */
export class Migration20261127140000_legacy_import extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "ip_pools" add column "dns_servers" inet[] null;`)
    this.addSql(`
      create table "legacy_import_map" (
        "source_table" varchar(32) not null,
        "legacy_id" text not null,
        "target_id" int not null,
        -- created: a new object; renamed: a new pool under another name; merged: the legacy pool's
        -- allocations joined an existing pool (target_id is that pool).
        "action" varchar(16) not null,
        -- One import run: the audit row of the run carries the same id (resource_type 'import').
        "import_id" uuid not null,
        "imported_at" timestamptz not null default now(),
        primary key ("source_table", "legacy_id"),
        constraint "legacy_import_map_source_table_check" check ("source_table" in ('ip_pools', 'ip_allocations')),
        constraint "legacy_import_map_action_check" check ("action" in ('created', 'renamed', 'merged'))
      );`)
    // Only the primary key: the import writes one row here per object, and every index costs on each.
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "legacy_import_map";`)
    this.addSql(`alter table "ip_pools" drop column if exists "dns_servers";`)
  }
}

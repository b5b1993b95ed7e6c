import { Migration } from '@mikro-orm/migrations'

/**
 * DNS follows the allocation's address space (issue 17, item 5).
 *
 * The same address may be allocated in two spaces (VRFs), but the DNS has one reverse tree: 5.0.0.10.in-addr.arpa
 * can name one host. So a zone belongs to one space (`dns_zones.space_id`, the default space for every zone
 * that existed before and unless said otherwise): a reverse zone holds PTRs only for the allocations of its
 * space, and an allocation of another space at the same address gets none there (its A record, in its pool's
 * forward zone, is written as before). Forward zones take their names from the pools that use them, whatever
 * their space; their space is kept for the record and for listing.
 *
 * The column is plain data that admins set through the core (which audits it), under the grants dns_zones
 * already has; no function changes.
 */
export class Migration20261230100000_dns_zone_space extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "dns_zones" add column "space_id" int;`)
    this.addSql(`update "dns_zones" set "space_id" = "ipam_default_space"();`)
    this.addSql(`alter table "dns_zones" alter column "space_id" set not null, alter column "space_id" set default "ipam_default_space"();`)
    this.addSql(`alter table "dns_zones" add constraint "dns_zones_space_id_foreign" foreign key ("space_id") references "ip_spaces" ("id") on delete restrict;`)
    this.addSql(`create index "dns_zones_space_id_idx" on "dns_zones" ("space_id");`)
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "dns_zones" drop column if exists "space_id";`)
  }
}

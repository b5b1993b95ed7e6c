import { Migration } from '@mikro-orm/migrations'

/**
 * An allocation's owner can be a directory person (docs/ipam.md, "Owners from the directory"): `owner_dn`
 * holds the person's DN beside `owner`, which keeps the display name (or, as before, any free text). The
 * directory side keeps it true: a renamed person's DN is rewritten here, and deleting or locking a person
 * releases or hands over their addresses in the same audited request.
 *
 * The column inherits the table's grants (viewers read it, operators write it through the allocation
 * functions of the client, as they write `owner`); the table stays owned by netkeeper_owner. The index
 * serves a person's page (their addresses) and the rename, both by the DN compared without case.
 */
export class Migration20261225000000_allocation_owner_dn extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "ip_allocations" add column if not exists "owner_dn" varchar(1024) null;`)
    this.addSql(`create index if not exists "ip_allocations_owner_dn_lower_idx" on "ip_allocations" (lower("owner_dn")) where "owner_dn" is not null;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "ip_allocations_owner_dn_lower_idx";`)
    this.addSql(`alter table "ip_allocations" drop column if exists "owner_dn";`)
  }
}

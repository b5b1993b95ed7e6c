import { Migration } from '@mikro-orm/migrations'

/**
 * Pins the search_path of every Netkeeper function and trigger function to the schema they were created
 * in, so they keep working when called with another search_path (pg_restore --data-only runs triggers
 * with an empty one) and cannot be redirected to look-alike tables in another schema.
 */
const FUNCTIONS = [
  'ip_allocations_in_pool()',
  'ipam_rebuild_free_ranges(int)',
  'ipam_next(int, text, int)',
  'ipam_allocate_next(int, text, int, text, macaddr, text, text, text, text, boolean, boolean, timestamptz, text, timestamptz, text, inet, text, text, text, text, text, text, text, text, text)',
  'audit_append(timestamptz[], text[], text[], text[], text[], text[], inet[], text[], text[], jsonb[], text[], text[], text[])',
  'audit_logs_guard()'
]

export class Migration20261127170000_function_search_path extends Migration {
  override async up(): Promise<void> {
    for (const f of FUNCTIONS) this.addSql(`alter function ${f} set search_path from current;`)
  }

  override async down(): Promise<void> {
    for (const f of FUNCTIONS) this.addSql(`alter function ${f} reset search_path;`)
  }
}

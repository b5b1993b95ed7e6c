import { Migration } from '@mikro-orm/migrations'

/**
 * Two indexes on audit_logs that duplicate others: every append paid for them and no query needs them.
 * - "audit_logs_created_at_idx" (created_at): "audit_logs_created_at_seq_idx" (created_at desc, seq desc)
 *   serves every time range, in either direction.
 * - "audit_logs_resource_type_idx" (resource_type): "audit_logs_resource_id_idx" (resource_type,
 *   resource_id) serves a type on its own as its leading column.
 * audit_logs carries nine indexes after this (docs/audit.md#indexes).
 */
export class Migration20261127190000_audit_perf extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop index if exists "audit_logs_created_at_idx";`)
    this.addSql(`drop index if exists "audit_logs_resource_type_idx";`)
  }

  override async down(): Promise<void> {
    this.addSql(`create index if not exists "audit_logs_created_at_idx" on "audit_logs" ("created_at");`)
    this.addSql(`create index if not exists "audit_logs_resource_type_idx" on "audit_logs" ("resource_type");`)
  }
}

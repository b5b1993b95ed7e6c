import { Migration } from '@mikro-orm/migrations'

/**
 * Offline-queued edits (docs/offline.md): the idempotency key of every queued edit that has been replayed,
 * written in the same transaction as the change it stands for. A replayer that crashes after the commit and
 * before it marks the entry done in its local queue finds the key here on restart and does not apply the
 * edit a second time.
 */
export class Migration20261127180000_offline extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "offline_applied" (
        "idempotency_key" uuid primary key,
        "operation" varchar(64) not null,
        "actor" varchar(255) null,
        "queued_at" timestamptz not null,
        "applied_at" timestamptz not null default now(),
        "result" jsonb null
      );`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "offline_applied";`)
  }
}

import { Migration } from '@mikro-orm/migrations'

/**
 * The directory's sign-in throttle: failed sign-ins per LDAP profile and login name, and the earliest time
 * the next attempt is allowed (src/main/core/auth/throttle.ts). Shared by the app and every CLI process,
 * so a script cannot get around the slowdown by starting a new process per guess.
 */
export class Migration20261127150000_directory extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table "directory_auth_throttle" (
        "profile" varchar(64) not null,
        "login" varchar(1024) not null,
        "failures" int not null default 0,
        "not_before" timestamptz null,
        "last_failure_at" timestamptz null,
        primary key ("profile", "login"),
        constraint "directory_auth_throttle_failures_check" check ("failures" >= 0)
      );`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "directory_auth_throttle";`)
  }
}

import { Migration } from '@mikro-orm/migrations'

/**
 * Bulk writes (the legacy import above all) without the per-row costs that did not need to be per row.
 *
 * 1. Audit text search for import rows is indexed after the import commits, not inside it. The trigram
 *    index on details::text costs about 45 to 85 µs per row (one GIN entry per distinct trigram, some 150 per
 *    row), 9 to 17 s for an import of 200,000 addresses: more than everything else the import does. Now:
 *    - audit_logs_details_trgm_idx covers the rows whose source is not 'import' (a partial index);
 *    - rows with source 'import' get their details text copied into audit_import_search, which has the same
 *      trigram index, by a background indexer (src/main/core/audit/search-index.ts) after the import commits;
 *    - the indexer works in sequence order and keeps how far it got in audit_import_search_state; the import
 *      rows above that point are found through audit_logs_import_seq_idx (a partial index that only import
 *      rows enter, so other appends pay nothing for it). A search tests those rows directly, so it finds the
 *      same rows whether the indexer has caught up or not (docs/audit.md#text-search).
 *    Import rows already in the log start above the point (0) and are indexed in the background.
 * 2. The in-pool check on ip_allocations runs once per statement over the rows it wrote (a transition table
 *    joined to ip_pools) instead of once per row in PL/pgSQL. Same rule, same SQLSTATE 23514 and constraint
 *    name, for every path that writes the table.
 * 3. Two indexes nothing reads are dropped: ip_allocations_pool_id_idx (ip_allocations_pool_id_status_idx
 *    leads with pool_id) and ip_allocations_hostname_idx (the hostname search goes through
 *    ip_allocations_hostname_lower_idx; no query compares hostname as it is).
 * 4. audit_logs_user_ip_idx leaves out rows without an address (the CLI's, an import's): every query on
 *    user_ip compares it with a strict operator (= or <<=), which implies it is not null, so the planner
 *    still uses the index for all of them.
 */
export class Migration20261127210000_import_perf extends Migration {
  override async up(): Promise<void> {
    // 1. Deferred text search for import rows.
    this.addSql(`
      create table "audit_import_search" (
        -- No foreign key: checking one would lock each audit row (a write to the log's pages). The purge
        -- deletes the copies of the rows it removes, under a lock the indexer shares.
        "seq" bigint primary key,
        "doc" text not null
      );`)
    this.addSql(`
      create table "audit_import_search_state" (
        "id" smallint primary key default 1 check ("id" = 1),
        -- Every import row up to this sequence number has its copy (or was purged).
        "last_seq" bigint not null
      );`)
    this.addSql(`insert into "audit_import_search_state" ("id", "last_seq") values (1, 0);`)
    this.addSql(`create index "audit_logs_import_seq_idx" on "audit_logs" ("seq") where "source" = 'import';`)
    this.addSql(`
      do $$ begin
        if exists (select 1 from pg_extension where extname = 'pg_trgm') then
          execute 'drop index if exists "audit_logs_details_trgm_idx"';
          execute 'create index "audit_logs_details_trgm_idx" on "audit_logs" using gin ((details::text) gin_trgm_ops) where "source" <> ''import''';
          execute 'create index "audit_import_search_doc_trgm_idx" on "audit_import_search" using gin ("doc" gin_trgm_ops)';
        end if;
        -- The planner takes no statistics from a partial index, and without them it guesses how many rows a
        -- text matches (a few hundred), and would go through the index for a text half the log holds. The
        -- same statistics as an object of their own (PostgreSQL 14 and later; 13 plans with the guess).
        if current_setting('server_version_num')::int >= 140000 then
          execute 'create statistics "audit_logs_details_text_stats" on ((details::text)) from "audit_logs"';
        end if;
      end $$;`)

    // 2. The in-pool check, once per statement.
    this.addSql(`
      create function "ip_allocations_in_pool_rows"() returns trigger language plpgsql as $$
      declare bad record;
      begin
        select n."ip_address", p."network" into bad
          from "new_rows" n join "ip_pools" p on p."id" = n."pool_id"
         where not (n."ip_address" <<= p."network")
         limit 1;
        if found then
          raise exception 'ip_address % is outside pool network %', host(bad."ip_address"), bad."network"
            using errcode = '23514', constraint = 'ip_allocations_in_pool';
        end if;
        return null;
      end $$;`)
    this.addSql(`alter function "ip_allocations_in_pool_rows"() set search_path from current;`)
    this.addSql(`drop trigger "ip_allocations_in_pool" on "ip_allocations";`)
    this.addSql(`
      create trigger "ip_allocations_in_pool_insert" after insert on "ip_allocations" referencing new table as "new_rows"
      for each statement execute function "ip_allocations_in_pool_rows"();`)
    // A trigger with a transition table cannot name columns (UPDATE OF ...): this one sees every update,
    // and checks the rows it changed.
    this.addSql(`
      create trigger "ip_allocations_in_pool_update" after update on "ip_allocations" referencing new table as "new_rows"
      for each statement execute function "ip_allocations_in_pool_rows"();`)

    // 3. Indexes nothing reads.
    this.addSql(`drop index if exists "ip_allocations_pool_id_idx";`)
    this.addSql(`drop index if exists "ip_allocations_hostname_idx";`)

    // 4. No index entries for rows without an address.
    this.addSql(`drop index if exists "audit_logs_user_ip_idx";`)
    this.addSql(`create index "audit_logs_user_ip_idx" on "audit_logs" ("user_ip") where "user_ip" is not null;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "audit_logs_user_ip_idx";`)
    this.addSql(`create index "audit_logs_user_ip_idx" on "audit_logs" ("user_ip");`)
    this.addSql(`create index if not exists "ip_allocations_hostname_idx" on "ip_allocations" ("hostname");`)
    this.addSql(`create index if not exists "ip_allocations_pool_id_idx" on "ip_allocations" ("pool_id");`)

    this.addSql(`drop trigger if exists "ip_allocations_in_pool_update" on "ip_allocations";`)
    this.addSql(`drop trigger if exists "ip_allocations_in_pool_insert" on "ip_allocations";`)
    this.addSql(`drop function if exists "ip_allocations_in_pool_rows"();`)
    this.addSql(`
      create trigger "ip_allocations_in_pool" before insert or update of "ip_address", "pool_id"
      on "ip_allocations" for each row execute function "ip_allocations_in_pool"();`)

    this.addSql(`drop statistics if exists "audit_logs_details_text_stats";`)
    this.addSql(`drop index if exists "audit_logs_import_seq_idx";`)
    this.addSql(`
      do $$ begin
        if exists (select 1 from pg_extension where extname = 'pg_trgm') then
          execute 'drop index if exists "audit_logs_details_trgm_idx"';
          execute 'create index "audit_logs_details_trgm_idx" on "audit_logs" using gin ((details::text) gin_trgm_ops)';
        end if;
      end $$;`)
    this.addSql(`drop table if exists "audit_import_search_state";`)
    this.addSql(`drop table if exists "audit_import_search";`)
  }
}

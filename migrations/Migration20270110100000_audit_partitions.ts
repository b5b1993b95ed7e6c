import { Migration } from '@mikro-orm/migrations'

/**
 * audit_logs partitioned by month (docs/audit.md#partitions).
 *
 * 1. audit_logs becomes a table partitioned by range on created_at, one partition per calendar month in UTC
 *    (audit_logs_YYYY_MM) and a default partition (audit_logs_default) that takes any row whose month has no
 *    partition yet, so an insert never fails at a month change. Every row moves over as it was (same id,
 *    seq, time, hashes): the chain and the checkpoints are untouched, verify passes before and after.
 *    A unique index on a partitioned table must hold the partition key, so the key and the seq constraint
 *    become (id, created_at) and (seq, created_at); a seq stays unique because only the chain's owner-defined
 *    writers assign it, under the chain head's row lock, and verify checks the chain is gapless.
 * 2. `audit_partitions_ensure(p_from, p_ahead)` (owner-defined, any role may call it): creates the partitions
 *    of every month from p_from's (or this month) to p_ahead months ahead, and of any month with rows in the
 *    default partition, moving those rows into their month. The app calls it at start and each purge does.
 * 3. `audit_purge_delete()` removes a whole partition at once (detach, then drop) when every row in it is due;
 *    rows of partly due months are deleted one by one as before. It still runs after audit_purge_plan and the
 *    client's archive, in the same transaction, so nothing is removed before it is archived.
 */

/** Hands functions to netkeeper_owner with a pinned search_path, executable by every Netkeeper role. */
const own = (fns: string[]): string => `
      do $$
      declare f text; s text := current_schema();
      begin
        foreach f in array array[${fns.map((f) => `'${f}'`).join(', ')}] loop
          execute format('alter function %s owner to netkeeper_owner', f);
          execute format('alter function %s set search_path = %I, pg_catalog, pg_temp', f, s);
          execute format('revoke all on function %s from public', f);
          execute format('grant execute on function %s to netkeeper_viewer', f);
        end loop;
      end $$;`

const requireAdmin = (what: string): string => `
        if not (pg_has_role(session_user, 'netkeeper_admin', 'USAGE') or pg_has_role(session_user, 'netkeeper_owner', 'USAGE')) then
          raise exception 'permission denied: % needs the netkeeper_admin role', '${what}' using errcode = '42501',
            hint = 'an owner runs: netkeeper db grant --login ' || session_user || ' --role admin';
        end if;`

/** The indexes of audit_logs (as Migration20261127210000 left them), created on the parent so every partition gets them. */
function indexes(): string[] {
  return [
    `create index "audit_logs_action_idx" on "audit_logs" ("action");`,
    `create index "audit_logs_user_id_idx" on "audit_logs" ("user_id");`,
    `create index "audit_logs_created_at_seq_idx" on "audit_logs" ("created_at" desc, "seq" desc);`,
    `create index "audit_logs_request_id_idx" on "audit_logs" ("request_id");`,
    `create index "audit_logs_resource_id_idx" on "audit_logs" ("resource_type", "resource_id");`,
    `create index "audit_logs_import_seq_idx" on "audit_logs" ("seq") where "source" = 'import';`,
    `create index "audit_logs_user_ip_idx" on "audit_logs" ("user_ip") where "user_ip" is not null;`,
    `do $$ begin
       if exists (select 1 from pg_extension where extname = 'pg_trgm') then
         execute 'create index "audit_logs_details_trgm_idx" on "audit_logs" using gin ((details::text) gin_trgm_ops) where "source" <> ''import''';
         execute 'create statistics if not exists "audit_logs_details_text_stats" on ((details::text)) from "audit_logs"';
       end if;
     end $$;`
  ]
}

/** Renames the old table's indexes (and so its unique constraints) out of the way, and drops its statistics. */
const MOVE_ASIDE = `
      do $$
      declare r record;
      begin
        alter table "audit_logs" rename to "audit_logs_old";
        for r in select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid where i.indrelid = '"audit_logs_old"'::regclass loop
          execute format('alter index %I rename to %I', r.relname, r.relname || '_old');
        end loop;
        drop statistics if exists "audit_logs_details_text_stats";
      end $$;`

const COLUMNS = `
        "id" uuid not null default gen_random_uuid(),
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
        "db_user" text null,
        constraint "audit_logs_status_check" check ("status" in ('success', 'failure', 'warning')),
        constraint "audit_logs_source_check" check ("source" in ('ui', 'cli', 'import', 'replay')),
        constraint "audit_logs_action_check" check ("action" in
          ('create', 'read', 'update', 'delete', 'login', 'logout', 'authenticate', 'authorize', 'error'))`

const TRIGGERS = [
  `create trigger "audit_logs_no_update" before update or delete on "audit_logs" for each row execute function "audit_logs_guard"();`,
  `create trigger "audit_logs_no_truncate" before truncate on "audit_logs" for each statement execute function "audit_logs_guard"();`
]

/** Owner, grants (viewers read; nobody else writes: the owner-defined functions do) as Migration20261203100000 set them. */
const GRANTS = `
      alter table "audit_logs" owner to netkeeper_owner;
      revoke all on "audit_logs" from public;
      grant select on "audit_logs" to netkeeper_viewer;`

export class Migration20270110100000_audit_partitions extends Migration {
  override async up(): Promise<void> {
    this.addSql(MOVE_ASIDE)
    this.addSql(`create table "audit_logs" (${COLUMNS},
        constraint "audit_logs_pkey" primary key ("id", "created_at"),
        constraint "audit_logs_seq_key" unique ("seq", "created_at")
      ) partition by range ("created_at");`)
    this.addSql(GRANTS)
    // The owner creates the partitions at run time (audit_partitions_ensure runs as netkeeper_owner).
    this.addSql(`
      do $$ begin
        execute format('grant create on schema %I to netkeeper_owner', current_schema());
      exception when insufficient_privilege then
        raise warning 'netkeeper_owner may not create tables in schema %: new months go to audit_logs_default until a schema owner runs: grant create on schema % to netkeeper_owner', current_schema(), current_schema();
      end $$;`)
    this.addSql(`create table "audit_logs_default" partition of "audit_logs" default;`)
    this.addSql(`alter table "audit_logs_default" owner to netkeeper_owner;`)
    for (const i of indexes()) this.addSql(i)
    for (const t of TRIGGERS) this.addSql(t)

    this.addSql(`
      create function "audit_partitions_ensure"(p_from timestamptz default null, p_ahead int default 2) returns int
      language plpgsql security definer as $$
      declare m timestamp; name text; made int := 0; moved bigint;
      begin
        -- Nothing to do (the common case at every start): no advisory lock, no DDL.
        if not exists (select 1 from "audit_logs_default")
           and not exists (
             select 1 from generate_series(date_trunc('month', coalesce(least(p_from, now()), now()) at time zone 'UTC'),
                                           date_trunc('month', now() at time zone 'UTC') + make_interval(months => least(greatest(coalesce(p_ahead, 2), 0), 24)),
                                           interval '1 month') g
              where to_regclass(format('%I', 'audit_logs_' || to_char(g, 'YYYY_MM'))) is null) then
          return 0;
        end if;
        -- One at a time (two apps starting together).
        perform pg_advisory_xact_lock(hashtext('netkeeper:audit-partitions'));
        for m in
          select g from generate_series(date_trunc('month', coalesce(least(p_from, now()), now()) at time zone 'UTC'),
                                        date_trunc('month', now() at time zone 'UTC') + make_interval(months => least(greatest(coalesce(p_ahead, 2), 0), 24)),
                                        interval '1 month') g
          union
          select distinct date_trunc('month', d."created_at" at time zone 'UTC') from "audit_logs_default" d
          order by 1
        loop
          name := 'audit_logs_' || to_char(m, 'YYYY_MM');
          continue when to_regclass(format('%I', name)) is not null;
          execute format('create table %I (like "audit_logs" including defaults including constraints)', name);
          -- Rows that went to the default partition while their month had none move to it (the guard lets the
          -- purge's setting through; the rows stay exactly as they were).
          perform set_config('netkeeper.audit_purge', 'on', true);
          execute format('with moved as (delete from "audit_logs_default" d where d."created_at" >= %L and d."created_at" < %L returning d.*)
                          insert into %I select * from moved', m at time zone 'UTC', (m + interval '1 month') at time zone 'UTC', name);
          get diagnostics moved = row_count;
          perform set_config('netkeeper.audit_purge', 'off', true);
          execute format('alter table "audit_logs" attach partition %I for values from (%L) to (%L)', name, m at time zone 'UTC', (m + interval '1 month') at time zone 'UTC');
          made := made + 1;
        end loop;
        return made;
      end $$;`)
    this.addSql(own(['audit_partitions_ensure(timestamptz, int)']))
    // Its month arithmetic and partition bounds in UTC, whatever the caller's time zone.
    this.addSql(`alter function "audit_partitions_ensure"(timestamptz, int) set timezone = 'UTC';`)

    // Every month of the existing rows, and two ahead, then the rows, in chain order.
    this.addSql(`select "audit_partitions_ensure"((select min("created_at") from "audit_logs_old"), 2);`)
    this.addSql(`insert into "audit_logs" select * from "audit_logs_old" order by "seq";`)
    this.addSql(`drop table "audit_logs_old";`)
    this.addSql(`analyze "audit_logs";`)

    this.addSql(`
      create or replace function "audit_purge_delete"() returns bigint language plpgsql security definer as $$
      declare n bigint := 0; part record; total bigint; due bigint; k bigint;
      begin
        ${requireAdmin('purging the audit log')}
        -- Only what this transaction's plan chose: the table is dropped at commit, so a plan is never reused.
        if to_regclass('pg_temp.netkeeper_doomed') is null then
          raise exception 'audit_purge_delete needs audit_purge_plan in the same transaction' using errcode = '55000';
        end if;
        perform pg_advisory_xact_lock(hashtext('netkeeper:audit-import-search'));
        perform set_config('netkeeper.audit_purge', 'on', true);
        delete from "audit_import_search" s using "pg_temp"."netkeeper_doomed" d where s."seq" = d."seq";
        -- The plan's rows counted, so the joins below hash them instead of looping over them.
        analyze "pg_temp"."netkeeper_doomed";
        -- A month whose every row is due goes whole: detached, then dropped (no row-by-row delete, no dead rows).
        for part in
          select c.oid::regclass as rel from pg_inherits i join pg_class c on c.oid = i.inhrelid
           where i.inhparent = '"audit_logs"'::regclass and c.relname <> 'audit_logs_default'
             and exists (select 1 from "pg_temp"."netkeeper_doomed")
        loop
          execute format('select count(*), count(d."seq") from %s x left join "pg_temp"."netkeeper_doomed" d on d."seq" = x."seq"', part.rel) into total, due;
          if total > 0 and total = due then
            execute format('alter table "audit_logs" detach partition %s', part.rel);
            execute format('drop table %s', part.rel);
            n := n + total;
          end if;
        end loop;
        -- The rest (months partly due, the default partition): row by row.
        delete from "audit_logs" a using "pg_temp"."netkeeper_doomed" d where a."seq" = d."seq";
        get diagnostics k = row_count;
        n := n + k;
        perform set_config('netkeeper.audit_purge', 'off', true);
        truncate "pg_temp"."netkeeper_doomed";
        -- The purge is the other moment the app looks ahead: months to come have their partitions.
        perform "audit_partitions_ensure"(null, 2);
        return n;
      end $$;`)
    this.addSql(own(['audit_purge_delete()']))
  }

  override async down(): Promise<void> {
    // Back to one table: the rows as they are, the constraints and indexes of before.
    this.addSql(`drop function if exists "audit_partitions_ensure"(timestamptz, int);`)
    this.addSql(`alter table "audit_logs" rename to "audit_logs_old";`)
    this.addSql(`
      do $$
      declare r record;
      begin
        for r in select c.relname from pg_class c where c.relkind in ('i', 'I') and c.relname like 'audit\\_logs\\_%' and c.oid in (
                   select i.indexrelid from pg_index i where i.indrelid = '"audit_logs_old"'::regclass) loop
          execute format('alter index %I rename to %I', r.relname, r.relname || '_old');
        end loop;
        drop statistics if exists "audit_logs_details_text_stats";
      end $$;`)
    this.addSql(`create table "audit_logs" (${COLUMNS},
        constraint "audit_logs_pkey" primary key ("id"),
        constraint "audit_logs_seq_key" unique ("seq")
      );`)
    this.addSql(GRANTS)
    this.addSql(`insert into "audit_logs" select * from "audit_logs_old" order by "seq";`)
    this.addSql(`drop table "audit_logs_old" cascade;`)
    for (const i of indexes()) this.addSql(i)
    for (const t of TRIGGERS) this.addSql(t)
    this.addSql(`
      create or replace function "audit_purge_delete"() returns bigint language plpgsql security definer as $$
      declare n bigint;
      begin
        ${requireAdmin('purging the audit log')}
        if to_regclass('pg_temp.netkeeper_doomed') is null then
          raise exception 'audit_purge_delete needs audit_purge_plan in the same transaction' using errcode = '55000';
        end if;
        perform pg_advisory_xact_lock(hashtext('netkeeper:audit-import-search'));
        perform set_config('netkeeper.audit_purge', 'on', true);
        delete from "audit_logs" a using "pg_temp"."netkeeper_doomed" d where a."seq" = d."seq";
        get diagnostics n = row_count;
        delete from "audit_import_search" s using "pg_temp"."netkeeper_doomed" d where s."seq" = d."seq";
        perform set_config('netkeeper.audit_purge', 'off', true);
        truncate "pg_temp"."netkeeper_doomed";
        return n;
      end $$;`)
    this.addSql(own(['audit_purge_delete()']))
  }
}

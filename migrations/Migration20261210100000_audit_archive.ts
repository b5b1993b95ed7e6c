import { Migration } from '@mikro-orm/migrations'

/**
 * Nothing deleted unasked, and nothing deleted before it is archived (docs/audit.md#retention).
 *
 * 1. The purge no longer has a default: a row is due only when an active policy with a number of days covers
 *    its resource type. `audit_purge_runs(p_now, p_default_days, p_dry)`, which purged every type without a
 *    policy after p_default_days, is dropped, so no client (nor an admin in psql) can purge by a default.
 * 2. The purge is split in two owner-defined steps inside one transaction, so the client can write the rows
 *    to an archive between them and roll back when it cannot:
 *    - `audit_purge_plan(p_now)` locks the chain head, chooses the due rows by the server's clock (a later
 *      time only for the owner, the tests' hook) and returns their runs, the count per type and the time;
 *    - `audit_purge_delete()` deletes exactly the rows the plan of this transaction chose.
 *    The checkpoints still go through `audit_purge_checkpoints` (unchanged), which accepts only the purge
 *    record of the same transaction.
 * 3. `audit_purge_due(p_at)`: which rows a purge at p_at would take. An invoker's function (a viewer may read
 *    the log anyway): the plan uses it, and so does the preview in Settings, so both choose the same rows.
 *
 * 4. `audit_chain_head.chain_id`: a random id of this chain, which anchors of its head carry (owner-only, as
 *    the head is).
 *
 * The server cannot see the archive folder: that the archive was written is the client's word, recorded in
 * the purge record (file, SHA-256), which the chain then holds; `audit verify --archives` checks the files.
 */

/** plpgsql: raise 42501 unless the session's login holds the given Netkeeper role (superusers and the owner do). */
const requireAdmin = (what: string): string => `
        if not (pg_has_role(session_user, 'netkeeper_admin', 'USAGE') or pg_has_role(session_user, 'netkeeper_owner', 'USAGE')) then
          raise exception 'permission denied: % needs the netkeeper_admin role', '${what}' using errcode = '42501',
            hint = 'an owner runs: netkeeper db grant --login ' || session_user || ' --role admin';
        end if;`

const NEW_FUNCTIONS = ['audit_purge_due(timestamptz)', 'audit_purge_plan(timestamptz)', 'audit_purge_delete()']

/** Hands functions to netkeeper_owner with a pinned search_path, executable by every Netkeeper role (as Migration20261203100000 does). */
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

export class Migration20261210100000_audit_archive extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop function "audit_purge_runs"(timestamptz, int, boolean);`)

    this.addSql(`
      create function "audit_purge_due"(p_at timestamptz)
      returns table ("seq" bigint, "row_hash" text, "resource_type" text)
      language sql stable as $$
        select a."seq", a."row_hash"::text, a."resource_type"::text
          from "audit_logs" a
          join "audit_log_retention_policies" p on p."resource_type" = a."resource_type" and p."is_active" and p."retention_days" is not null
         where a."resource_type" <> 'audit_log'
           and a."created_at" < p_at - make_interval(days => p."retention_days")
      $$;`)

    this.addSql(`
      create function "audit_purge_plan"(p_now timestamptz)
      returns table ("first_seq" bigint, "last_seq" bigint, "last_hash" text, "n" bigint, "by_type" jsonb, "cutoff" timestamptz)
      language plpgsql security definer as $$
      declare at timestamptz := now(); r record;
      begin
        ${requireAdmin('purging the audit log')}
        if p_now is not null and p_now > now() + interval '1 minute' then
          if not pg_has_role(session_user, 'netkeeper_owner', 'USAGE') then
            raise exception 'permission denied: only the owner may purge as of a later time than the server''s' using errcode = '42501';
          end if;
          at := p_now;
        end if;
        perform 1 from "audit_chain_head" where "id" = 1 for update;
        create temporary table if not exists "pg_temp"."netkeeper_doomed" ("seq" bigint, "row_hash" text, "resource_type" text) on commit drop;
        truncate "pg_temp"."netkeeper_doomed";
        insert into "pg_temp"."netkeeper_doomed" select d."seq", d."row_hash", d."resource_type" from "audit_purge_due"(at) d;
        -- Runs of consecutive rows; the last row's hash looked up by seq (not aggregated: a run may be millions long).
        for r in
          select x.f, x.l, x.c, d."row_hash" as h
            from (select min(y."seq") as f, max(y."seq") as l, count(*) as c
                    from (select d."seq", d."seq" - row_number() over (order by d."seq") as g from "pg_temp"."netkeeper_doomed" d) y
                   group by y.g) x
            join "pg_temp"."netkeeper_doomed" d on d."seq" = x.l
           order by x.f
        loop
          first_seq := r.f; last_seq := r.l; last_hash := r.h; n := r.c; by_type := null; cutoff := at;
          return next;
        end loop;
        -- One more row, without a run: the count per resource type.
        first_seq := null; last_seq := null; last_hash := null; n := null; cutoff := at;
        select coalesce(jsonb_object_agg(t.resource_type, t.c), '{}'::jsonb) into by_type
          from (select d."resource_type", count(*) as c from "pg_temp"."netkeeper_doomed" d group by 1) t;
        return next;
      end $$;`)

    this.addSql(`
      create function "audit_purge_delete"() returns bigint language plpgsql security definer as $$
      declare n bigint;
      begin
        ${requireAdmin('purging the audit log')}
        -- Only what this transaction's plan chose: the table is dropped at commit, so a plan is never reused.
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

    this.addSql(own(NEW_FUNCTIONS))

    // This chain's identity, so records kept outside the database (anchors) can tell its heads from another's.
    // On the head's row, which only the owner may change.
    this.addSql(`alter table "audit_chain_head" add column "chain_id" uuid not null default gen_random_uuid();`)
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "audit_chain_head" drop column if exists "chain_id";`)
    this.addSql(`drop function if exists "audit_purge_delete"();`)
    this.addSql(`drop function if exists "audit_purge_plan"(timestamptz);`)
    this.addSql(`drop function if exists "audit_purge_due"(timestamptz);`)
    // The purge of Migration20261203100000_server_roles, as it was (its down() drops it).
    this.addSql(`
      create function "audit_purge_runs"(p_now timestamptz, p_default_days int, p_dry boolean)
      returns table ("first_seq" bigint, "last_seq" bigint, "last_hash" text, "n" bigint, "by_type" jsonb, "cutoff" timestamptz)
      language plpgsql security definer as $$
      declare at timestamptz := now(); r record;
      begin
        ${requireAdmin('purging the audit log')}
        if p_now is not null and p_now > now() + interval '1 minute' then
          if not pg_has_role(session_user, 'netkeeper_owner', 'USAGE') then
            raise exception 'permission denied: only the owner may purge as of a later time than the server''s' using errcode = '42501';
          end if;
          at := p_now;
        end if;
        perform 1 from "audit_chain_head" where "id" = 1 for update;
        create temporary table if not exists "pg_temp"."netkeeper_doomed" ("seq" bigint, "row_hash" text, "resource_type" text) on commit drop;
        truncate "pg_temp"."netkeeper_doomed";
        insert into "pg_temp"."netkeeper_doomed"
        select a."seq", a."row_hash", a."resource_type" from "audit_logs" a
          left join "audit_log_retention_policies" p on p."resource_type" = a."resource_type" and p."is_active"
         where a."resource_type" <> 'audit_log'
           and case when p."resource_type" is null then a."created_at" < at - make_interval(days => p_default_days)
                    when p."retention_days" is null then false
                    else a."created_at" < at - make_interval(days => p."retention_days") end;
        for r in
          select min(x."seq") as f, max(x."seq") as l, (array_agg(x."row_hash" order by x."seq" desc))[1] as h, count(*) as c
            from (select d."seq", d."row_hash", d."seq" - row_number() over (order by d."seq") as g from "pg_temp"."netkeeper_doomed" d) x
           group by x.g order by min(x."seq")
        loop
          first_seq := r.f; last_seq := r.l; last_hash := r.h; n := r.c; by_type := null; cutoff := at;
          return next;
        end loop;
        first_seq := null; last_seq := null; last_hash := null; n := null; cutoff := at;
        select coalesce(jsonb_object_agg(t.resource_type, t.c), '{}'::jsonb) into by_type
          from (select d."resource_type", count(*) as c from "pg_temp"."netkeeper_doomed" d group by 1) t;
        return next;
        if not p_dry then
          perform pg_advisory_xact_lock(hashtext('netkeeper:audit-import-search'));
          perform set_config('netkeeper.audit_purge', 'on', true);
          delete from "audit_logs" a using "pg_temp"."netkeeper_doomed" d where a."seq" = d."seq";
          delete from "audit_import_search" s using "pg_temp"."netkeeper_doomed" d where s."seq" = d."seq";
          perform set_config('netkeeper.audit_purge', 'off', true);
        end if;
      end $$;`)
    this.addSql(own(['audit_purge_runs(timestamptz, int, boolean)']))
  }
}

import { Migration } from '@mikro-orm/migrations'

/**
 * The server is the trust boundary (docs/postgresql-setup.md#roles).
 *
 * 1. Group roles, created once per cluster (roles are cluster-wide; another Netkeeper database on the same
 *    cluster shares them): netkeeper_viewer < netkeeper_operator < netkeeper_admin, each a member of the one
 *    below, and netkeeper_owner, which owns every Netkeeper table, sequence and function. None can log in.
 *    The login that runs this migration becomes a member of netkeeper_owner (it needs that to hand the
 *    objects over, and later migrations run as a member of it).
 * 2. Grants instead of trust: viewer reads; operator also writes addresses (ip_allocations and the free-range
 *    cache they maintain) and records replayed offline edits; admin also writes pools, retention policies and
 *    the import map. Nobody but the owner has INSERT, UPDATE, DELETE or TRUNCATE on the audit tables.
 * 3. Every write to the audit chain goes through SECURITY DEFINER functions owned by netkeeper_owner with a
 *    pinned search_path. They take the row's time from the server's clock (the transaction's start, to the
 *    millisecond) and its database login from session_user, both inside the hashed body: the client sends the
 *    body with placeholders (TIME_PH, USER_PH below, control characters no serialised value contains), and
 *    the server puts its own values in before hashing. The directory identity the app sends (user_id) stays
 *    beside it as a claim.
 * 4. The purge and the search indexer run as owner-defined functions too; the purge is for admins only and
 *    decides its cutoffs by the server's clock.
 *
 * On the embedded store the one local user is a superuser: every check passes, nothing changes for it.
 */

const OLD_APPEND = 'audit_append(timestamptz[], text[], text[], text[], text[], text[], inet[], text[], text[], jsonb[], text[], text[], text[])'
const APPEND = 'audit_append(text[], text[], text[], text[], text[], inet[], text[], text[], jsonb[], text[], text[], text[])'
const KEYED = `ipam_allocate_next_keyed(int, text, int, text, macaddr, text, text, text, text, boolean, boolean, timestamptz, text, timestamptz, text, inet, text, text, text,
  text, text, text, text, text, text, text, uuid, text, text, timestamptz, boolean)`

/** The placeholders the client writes where the server's values go (see src/main/core/audit/writer.ts). */
const TIME_PH = `chr(1) || 'netkeeper:time' || chr(1)`
const USER_PH = `chr(1) || 'netkeeper:user' || chr(1)`

/** plpgsql: the body with the server's time and login in place of the placeholders' first occurrences. */
const STAMP_BODY = `
      create function "audit_stamp_body"(p_body text, p_time text, p_user text) returns text language plpgsql immutable as $$
      declare
        t text := '"createdAt":' || to_json(${TIME_PH})::text;
        u text := '"dbUser":' || to_json(${USER_PH})::text;
        i int;
      begin
        -- Top-level keys come first in their sorted order (action, createdAt, dbUser, details, ...), and action's
        -- value is a plain word, so the first occurrence of each is the top-level one.
        i := position(t in p_body);
        if i = 0 then raise exception 'audit body without the server-time placeholder' using errcode = '22023'; end if;
        p_body := overlay(p_body placing '"createdAt":' || to_json(p_time)::text from i for length(t));
        i := position(u in p_body);
        if i = 0 then raise exception 'audit body without the login placeholder' using errcode = '22023'; end if;
        return overlay(p_body placing '"dbUser":' || to_json(p_user)::text from i for length(u));
      end $$;`

/** The server's time as stored (milliseconds) and as written in bodies. */
const NOW_MS = `date_trunc('milliseconds', now())`
const NOW_TEXT = `to_char(date_trunc('milliseconds', now()) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/** plpgsql: raise 42501 unless the session's login holds the given Netkeeper role (superusers and the owner do). */
const requireRole = (role: 'operator' | 'admin', what: string): string => `
        if not (pg_has_role(session_user, 'netkeeper_${role}', 'USAGE') or pg_has_role(session_user, 'netkeeper_owner', 'USAGE')) then
          raise exception 'permission denied: % needs the netkeeper_${role} role', '${what}' using errcode = '42501',
            hint = 'an owner runs: netkeeper db grant --login ' || session_user || ' --role ${role}';
        end if;`

export class Migration20261203100000_server_roles extends Migration {
  override async up(): Promise<void> {
    // 1. Roles (cluster-wide, so created only where missing; two databases migrating at once may race).
    this.addSql(`
      do $$
      declare r text;
      begin
        foreach r in array array['netkeeper_owner', 'netkeeper_viewer', 'netkeeper_operator', 'netkeeper_admin'] loop
          if not exists (select 1 from pg_roles where rolname = r) then
            begin
              execute format('create role %I nologin', r);
            exception when duplicate_object or unique_violation then null;
            end;
          end if;
        end loop;
        if not exists (select 1 from pg_auth_members m join pg_roles a on a.oid = m.roleid join pg_roles b on b.oid = m.member
                        where a.rolname = 'netkeeper_viewer' and b.rolname = 'netkeeper_operator') then
          grant netkeeper_viewer to netkeeper_operator;
        end if;
        if not exists (select 1 from pg_auth_members m join pg_roles a on a.oid = m.roleid join pg_roles b on b.oid = m.member
                        where a.rolname = 'netkeeper_operator' and b.rolname = 'netkeeper_admin') then
          grant netkeeper_operator to netkeeper_admin;
        end if;
        if not pg_has_role(current_user, 'netkeeper_owner', 'MEMBER') then
          execute format('grant netkeeper_owner to %I', current_user);
        end if;
      end $$;`)

    // 2. The audit chain records who (the login) beside the claim the app makes (user_id).
    this.addSql(`alter table "audit_logs" add column "db_user" text null;`)

    // 3. The audit writers, server-stamped.
    this.addSql(STAMP_BODY)
    this.addSql(`drop function ${OLD_APPEND};`)
    this.addSql(`
      create function "audit_append"(
        p_action text[], p_resource_type text[], p_resource_id text[], p_resource_name text[],
        p_user_id text[], p_user_ip inet[], p_user_agent text[], p_status text[], p_details jsonb[], p_request_id text[],
        p_source text[], p_body text[])
      returns table ("id" uuid, "seq" bigint, "row_hash" text) language plpgsql security definer as $$
      declare
        h record; s bigint; prev text; hash text; i int; ts timestamptz := ${NOW_MS}; ts_text text := ${NOW_TEXT};
        who text := session_user;
      begin
        select "last_seq", "last_hash" into h from "audit_chain_head" where "audit_chain_head"."id" = 1 for update;
        s := h."last_seq"; prev := h."last_hash";
        for i in 1 .. coalesce(array_length(p_body, 1), 0) loop
          s := s + 1;
          hash := encode(sha256(convert_to(prev || chr(10) || s::text || chr(10) || "audit_stamp_body"(p_body[i], ts_text, who), 'UTF8')), 'hex');
          insert into "audit_logs" ("seq", "created_at", "action", "resource_type", "resource_id", "resource_name", "user_id",
                                    "user_ip", "user_agent", "status", "details", "request_id", "source", "prev_hash", "row_hash", "db_user")
          values (s, ts, p_action[i], p_resource_type[i], p_resource_id[i], p_resource_name[i], p_user_id[i],
                  p_user_ip[i], p_user_agent[i], p_status[i], p_details[i], p_request_id[i], p_source[i], prev, hash, who)
          returning "audit_logs"."id" into id;
          seq := s; row_hash := hash; return next;
          prev := hash;
        end loop;
        update "audit_chain_head" set "last_seq" = s, "last_hash" = prev where "audit_chain_head"."id" = 1;
      end $$;`)

    // Bulk appends (imports): open locks the head and hands out the server's stamp; the client hashes with it;
    // insert checks that the batch carries exactly that stamp and continues the chain; close moves the head.
    this.addSql(`
      create function "audit_bulk_open"()
      returns table ("last_seq" bigint, "last_hash" text, "created_at" text, "db_user" text) language plpgsql security definer as $$
      begin
        ${requireRole('admin', 'a bulk audit append (an import)')}
        select h."last_seq", h."last_hash" into last_seq, last_hash from "audit_chain_head" h where h."id" = 1 for update;
        created_at := ${NOW_TEXT}; db_user := session_user;
        return next;
      end $$;`)
    this.addSql(`
      create function "audit_bulk_insert"(p_first bigint, p_created_at text, p_user_id text, p_user_ip inet, p_user_agent text,
                                          p_request_id text, p_source text, p_prev text, p_payload jsonb, p_db_user text)
      returns bigint language plpgsql security definer as $$
      declare
        h record; top bigint; top_hash text; n bigint;
      begin
        ${requireRole('admin', 'a bulk audit append (an import)')}
        if p_created_at is distinct from ${NOW_TEXT} or p_db_user is distinct from session_user then
          raise exception 'a bulk audit batch must carry the server''s time and login (audit_bulk_open)' using errcode = '42501';
        end if;
        -- The head is locked by audit_bulk_open in this transaction; rows written since sit above it.
        select "last_seq", "last_hash" into h from "audit_chain_head" where "id" = 1 for update;
        select a."seq", a."row_hash" into top, top_hash from "audit_logs" a where a."seq" >= h."last_seq" order by a."seq" desc limit 1;
        if top is null or top < h."last_seq" then top := h."last_seq"; top_hash := h."last_hash"; end if;
        if p_first <> top + 1 or p_prev <> top_hash then
          raise exception 'a bulk audit batch must continue the chain at % (got %)', top + 1, p_first using errcode = '23514';
        end if;
        insert into "audit_logs" ("seq", "created_at", "action", "resource_type", "resource_id", "resource_name", "user_id", "user_ip",
                                  "user_agent", "status", "details", "request_id", "source", "prev_hash", "row_hash", "db_user")
        select p_first + r.o - 1, ${NOW_MS}, r.a, r.t, r.i, r.n, p_user_id, p_user_ip, p_user_agent, r.s, r.d, p_request_id, p_source,
               coalesce(lag(r.h) over (order by r.o), p_prev), r.h, session_user
          from rows from (jsonb_to_recordset(p_payload) as (a text, t text, i text, n text, s text, d jsonb, h text)) with ordinality
                 as r(a, t, i, n, s, d, h, o);
        get diagnostics n = row_count;
        return n;
      end $$;`)
    this.addSql(`
      create function "audit_bulk_close"() returns void language plpgsql security definer as $$
      declare h record; top bigint; top_hash text;
      begin
        ${requireRole('admin', 'a bulk audit append (an import)')}
        select "last_seq" into h from "audit_chain_head" where "id" = 1 for update;
        select a."seq", a."row_hash" into top, top_hash from "audit_logs" a where a."seq" > h."last_seq" order by a."seq" desc limit 1;
        if top is not null then
          update "audit_chain_head" set "last_seq" = top, "last_hash" = top_hash where "id" = 1;
        end if;
      end $$;`)

    // The fast next-free path appends its audit rows itself: the same function, stamped by the server, run as
    // the owner, with the operator check it no longer gets from table grants.
    this.addSql(`alter function ${KEYED} security definer;`)
    this.addSql(`
      do $$
      declare src text;
      begin
        select pg_get_functiondef('ipam_allocate_next_keyed(int, text, int, text, macaddr, text, text, text, text, boolean, boolean, timestamptz, text, timestamptz, text, inet, text, text, text, text, text, text, text, text, text, text, uuid, text, text, timestamptz, boolean)'::regprocedure) into src;
        src := replace(src, 'body_tpl := replace(p_body_tpl, p_pool_ph, to_json(pool."name"::text)::text);',
                       'body_tpl := "audit_stamp_body"(replace(p_body_tpl, p_pool_ph, to_json(pool."name"::text)::text), ${NOW_TEXT.replace(/'/g, "''")}, session_user);');
        src := replace(src, '"request_id", "source", "prev_hash", "row_hash")', '"request_id", "source", "prev_hash", "row_hash", "db_user")');
        src := replace(src, 'p_request_id, p_source, prev, hash);', 'p_request_id, p_source, prev, hash, session_user);');
        src := replace(src, 'values (s, p_created_at, p_action,', 'values (s, ${NOW_MS.replace(/'/g, "''")}, p_action,');
        src := replace(src, 'begin
        if p_pool_id is not null then', 'begin
        ${requireRole('operator', 'allocating addresses').replace(/'/g, "''")}
        if p_pool_id is not null then');
        if position('audit_stamp_body' in src) = 0 or position('netkeeper_operator' in src) = 0 or position('session_user);' in src) = 0 then
          raise exception 'ipam_allocate_next_keyed is not the definition this migration expects';
        end if;
        execute src;
      end $$;`)
    // ipam_allocate_next (unused since the keyed variant) stays for Migration20261127170000's down(); it runs as
    // its caller, who has no INSERT on audit_logs, so only the owner could still append unstamped rows with it.

    // The search indexer's step, run by every role's app in the background.
    this.addSql(`
      create function "audit_import_search_step"(p_rows int) returns table ("n" int, "last" bigint) language plpgsql security definer as $$
      declare from_seq bigint;
      begin
        perform pg_advisory_xact_lock_shared(hashtext('netkeeper:audit-import-search'));
        -- Another indexer's step holds this row until it commits; this one then goes on from where that one got.
        select s."last_seq" into from_seq from "audit_import_search_state" s where s."id" = 1 for update;
        with picked as (
          select a."seq", a."details"::text as doc from "audit_logs" a where a."source" = 'import' and a."seq" > from_seq order by a."seq" limit p_rows
        ), ins as (
          insert into "audit_import_search" ("seq", "doc") select p."seq", p."doc" from picked p on conflict ("seq") do nothing
        )
        select count(*)::int, max(p."seq") into n, last from picked p;
        if n > 0 then update "audit_import_search_state" set "last_seq" = last where "id" = 1; end if;
        return next;
      end $$;`)

    // The purge: admins only; rows chosen by the server's clock (a later time only for the owner: a test hook).
    this.addSql(`
      create function "audit_purge_runs"(p_now timestamptz, p_default_days int, p_dry boolean)
      returns table ("first_seq" bigint, "last_seq" bigint, "last_hash" text, "n" bigint, "by_type" jsonb, "cutoff" timestamptz)
      language plpgsql security definer as $$
      declare at timestamptz := now(); r record;
      begin
        ${requireRole('admin', 'purging the audit log')}
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
        -- One more row, without a run: the count per resource type.
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
    this.addSql(`
      create function "audit_purge_checkpoints"(p_first bigint[], p_last bigint[], p_hash text[], p_rows bigint[], p_purge_seq bigint)
      returns void language plpgsql security definer as $$
      begin
        ${requireRole('admin', 'purging the audit log')}
        -- The purge record must be this transaction's own, and each run must be gone.
        if not exists (select 1 from "audit_logs" a where a."seq" = p_purge_seq and a."resource_type" = 'audit_log' and a.xmin::text = txid_current()::text) then
          raise exception 'checkpoints need the purge''s own audit row' using errcode = '42501';
        end if;
        if exists (select 1 from unnest(p_first, p_last) u(f, l) join "audit_logs" a on a."seq" between u.f and u.l) then
          raise exception 'a checkpoint may only cover removed rows' using errcode = '42501';
        end if;
        insert into "audit_checkpoints" ("first_seq", "last_seq", "last_hash", "rows", "purge_seq")
        select u.f, u.l, u.h, u.n, p_purge_seq from unnest(p_first, p_last, p_hash, p_rows) u(f, l, h, n);
      end $$;`)

    // Settings every desktop on this database shares, decided by an admin (the first: whether a directory
    // sign-in is required before the app shows anything).
    this.addSql(`
      create table "app_settings" (
        "key" text primary key check ("key" ~ '^[a-z][a-z0-9_.]{0,62}$'),
        "value" jsonb not null,
        "updated_at" timestamptz not null default now(),
        "updated_by" text not null default session_user
      );`)

    // 4. Ownership and grants. Every Netkeeper function gets a pinned search_path (the definers above most of all).
    this.addSql(`
      do $$
      declare r record; s text := current_schema();
      begin
        execute format('revoke create on schema %I from public', s);
        for r in select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
                  where n.nspname = s and c.relkind in ('r', 'S', 'v', 'm', 'p')
                    -- A serial's or identity's sequence follows its table.
                    and not exists (select 1 from pg_depend d where d.objid = c.oid and d.classid = 'pg_class'::regclass and d.deptype in ('a', 'i')) loop
          execute format('alter %s %I.%I owner to netkeeper_owner', case r.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view' else 'table' end, s, r.relname);
          execute format('revoke all on %I.%I from public', s, r.relname);
        end loop;
        for r in select p.oid::regprocedure as f, p.prokind from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                  left join pg_depend d on d.objid = p.oid and d.deptype = 'e'
                  where n.nspname = s and d.objid is null loop
          execute format('alter function %s owner to netkeeper_owner', r.f);
          execute format('alter function %s set search_path = %I, pg_catalog, pg_temp', r.f, s);
          execute format('revoke all on function %s from public', r.f);
          execute format('grant execute on function %s to netkeeper_viewer', r.f);
        end loop;
        -- What other roles were granted by hand before (an application role with DELETE on audit_logs and
        -- UPDATE on the chain head, say) goes: from now on a login's rights come from one of the three groups.
        for r in select distinct c.relname, a.grantee::regrole::text as grantee
                   from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) a
                  where n.nspname = s and a.grantee <> 0
                    and a.grantee::regrole::text not in ('netkeeper_owner', 'netkeeper_viewer', 'netkeeper_operator', 'netkeeper_admin') loop
          execute format('revoke all on %I.%I from %s', s, r.relname, r.grantee);
        end loop;
        execute format('grant usage on schema %I to netkeeper_viewer', s);
        execute format('grant select on all tables in schema %I to netkeeper_viewer', s);
        execute format('grant usage, select on all sequences in schema %I to netkeeper_operator', s);
      end $$;`)
    // Sign-in throttling is written by whoever signs in.
    this.addSql(`grant insert, update, delete on "directory_auth_throttle" to netkeeper_viewer;`)
    // Operators write addresses. The row lock on the pool (SELECT ... FOR UPDATE) needs UPDATE on some column
    // of it: updated_at, the one column an operator may touch.
    this.addSql(`grant insert, update, delete on "ip_allocations", "ip_free_ranges" to netkeeper_operator;`)
    this.addSql(`grant update ("updated_at") on "ip_pools" to netkeeper_operator;`)
    this.addSql(`grant insert on "offline_applied" to netkeeper_operator;`)
    // Admins change pools, retention and the import map.
    this.addSql(`grant insert, update, delete on "ip_pools", "audit_log_retention_policies", "legacy_import_map", "app_settings" to netkeeper_admin;`)
    this.addSql(`grant delete on "offline_applied" to netkeeper_admin;`)
  }

  override async down(): Promise<void> {
    // Ownership stays with netkeeper_owner (its members keep full rights); the functions go back to the old shapes.
    this.addSql(`drop table if exists "app_settings";`)
    this.addSql(`drop function if exists "audit_purge_checkpoints"(bigint[], bigint[], text[], bigint[], bigint);`)
    this.addSql(`drop function if exists "audit_purge_runs"(timestamptz, int, boolean);`)
    this.addSql(`drop function if exists "audit_import_search_step"(int);`)
    this.addSql(`drop function if exists "audit_bulk_close"();`)
    this.addSql(`drop function if exists "audit_bulk_insert"(bigint, text, text, inet, text, text, text, text, jsonb, text);`)
    this.addSql(`drop function if exists "audit_bulk_open"();`)
    this.addSql(`drop function if exists ${APPEND};`)
    this.addSql(`
      create function "audit_append"(
        p_created_at timestamptz[], p_action text[], p_resource_type text[], p_resource_id text[], p_resource_name text[],
        p_user_id text[], p_user_ip inet[], p_user_agent text[], p_status text[], p_details jsonb[], p_request_id text[],
        p_source text[], p_body text[])
      returns table ("id" uuid, "seq" bigint, "row_hash" text) language plpgsql as $$
      declare
        h record; s bigint; prev text; hash text; i int;
      begin
        select "last_seq", "last_hash" into h from "audit_chain_head" where "audit_chain_head"."id" = 1 for update;
        s := h."last_seq"; prev := h."last_hash";
        for i in 1 .. coalesce(array_length(p_body, 1), 0) loop
          s := s + 1;
          hash := encode(sha256(convert_to(prev || chr(10) || s::text || chr(10) || p_body[i], 'UTF8')), 'hex');
          insert into "audit_logs" ("seq", "created_at", "action", "resource_type", "resource_id", "resource_name", "user_id",
                                    "user_ip", "user_agent", "status", "details", "request_id", "source", "prev_hash", "row_hash")
          values (s, p_created_at[i], p_action[i], p_resource_type[i], p_resource_id[i], p_resource_name[i], p_user_id[i],
                  p_user_ip[i], p_user_agent[i], p_status[i], p_details[i], p_request_id[i], p_source[i], prev, hash)
          returning "audit_logs"."id" into id;
          seq := s; row_hash := hash; return next;
          prev := hash;
        end loop;
        update "audit_chain_head" set "last_seq" = s, "last_hash" = prev where "audit_chain_head"."id" = 1;
      end $$;`)
    this.addSql(`alter function ${OLD_APPEND} set search_path from current;`)
    // The fast path back to the client's time and no login (the reverse of the rewrite in up()).
    this.addSql(`
      do $$
      declare src text;
      begin
        select pg_get_functiondef('ipam_allocate_next_keyed(int, text, int, text, macaddr, text, text, text, text, boolean, boolean, timestamptz, text, timestamptz, text, inet, text, text, text, text, text, text, text, text, text, text, uuid, text, text, timestamptz, boolean)'::regprocedure) into src;
        src := replace(src, 'body_tpl := "audit_stamp_body"(replace(p_body_tpl, p_pool_ph, to_json(pool."name"::text)::text), ${NOW_TEXT.replace(/'/g, "''")}, session_user);',
                       'body_tpl := replace(p_body_tpl, p_pool_ph, to_json(pool."name"::text)::text);');
        src := replace(src, '"request_id", "source", "prev_hash", "row_hash", "db_user")', '"request_id", "source", "prev_hash", "row_hash")');
        src := replace(src, 'p_request_id, p_source, prev, hash, session_user);', 'p_request_id, p_source, prev, hash);');
        src := replace(src, 'values (s, ${NOW_MS.replace(/'/g, "''")}, p_action,', 'values (s, p_created_at, p_action,');
        src := replace(src, '${requireRole('operator', 'allocating addresses').replace(/'/g, "''")}
', '');
        execute src;
      end $$;`)
    this.addSql(`alter function ${KEYED} security invoker;`)
    this.addSql(`drop function if exists "audit_stamp_body"(text, text, text);`)
    this.addSql(`alter table "audit_logs" drop column if exists "db_user";`)
  }
}

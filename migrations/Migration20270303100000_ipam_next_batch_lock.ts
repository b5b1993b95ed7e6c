import { Migration } from '@mikro-orm/migrations'
import { Migration20270205100000_ipam_next_batch } from './Migration20270205100000_ipam_next_batch'

const SIGNATURE = `int, text, int[], text[], macaddr[], text[], text[], text[], text[], boolean[], boolean[], timestamptz[], text[],
  text[], inet[], text[], text[], text[], text[], text[], text, text, text, text, text`

/** The server's time as stored (milliseconds) and as written in bodies (as Migration20261203100000). */
const NOW_MS = `date_trunc('milliseconds', now())`
const NOW_TEXT = `to_char(date_trunc('milliseconds', now()) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/**
 * A shorter hold of the pool's lock in ipam_allocate_next_batch (issue 19, item 4). Every allocation from a
 * pool waits for the group before it to commit, so what the function does between taking the pool's row lock
 * and its commit bounds the allocations per second. Two things move out of that window, with the same result:
 *
 * - each caller's audit body is stamped with the server's time and the login (audit_stamp_body, a function
 *   call per caller) before the lock is taken; only the pool's name, which is read under the lock, is filled
 *   in afterwards, as before;
 * - the pool's space is read with the pool's row and written with each allocation, so the BEFORE INSERT row
 *   trigger ip_allocations_space (a PL/pgSQL call and a look-up of the pool per row, run only when a writer
 *   leaves space_id out) does not fire; the composite foreign key (pool_id, space_id) checks it as before.
 *
 * The audit rows, their order, hashes and every other effect are exactly those of Migration20270205100000.
 */
export class Migration20270303100000_ipam_next_batch_lock extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create or replace function "ipam_allocate_next_batch"(
        p_pool_id int, p_pool_name text,
        p_count int[], p_hostname text[], p_mac macaddr[], p_owner text[], p_purpose text[], p_description text[], p_status text[],
        p_dns boolean[], p_dhcp boolean[], p_until timestamptz[], p_by text[],
        p_user_id text[], p_user_ip inet[], p_user_agent text[], p_request_id text[], p_source text[],
        p_body_tpl text[], p_details_tpl text[],
        p_action text, p_resource_type text, p_id_ph text, p_ip_ph text, p_pool_ph text)
      returns table ("caller" int, "outcome" text, "free" int, "pool_id" int, "pool_name" text, "id" int, "ip" text,
                     "created_at" timestamptz, "updated_at" timestamptz, "version" int)
      language plpgsql security definer as $$
      declare
        pool record; have_pool boolean := false; n int := coalesce(array_length(p_count, 1), 0); want int := 0;
        avail inet[] := '{}'; n_avail int; r record; x inet; taken int := 0; rem bigint; size bigint; i int; k int;
        ips inet[] := '{}'; who int[] := '{}'; short int[] := '{}'; short_free int[] := '{}';
        h record; s bigint; prev text; hash text; body text; a record; name_json text;
        bodies text[]; details text[];
        l_seq bigint[] := '{}'; l_rid text[] := '{}'; l_rname text[] := '{}'; l_caller int[] := '{}'; l_details jsonb[] := '{}';
        l_prev text[] := '{}'; l_hash text[] := '{}';
        ts timestamptz := ${NOW_MS}; ts_text text := ${NOW_TEXT}; login text := session_user;
      begin
        if not (pg_has_role(session_user, 'netkeeper_operator', 'USAGE') or pg_has_role(session_user, 'netkeeper_owner', 'USAGE')) then
          raise exception 'permission denied: % needs the netkeeper_operator role', 'allocating addresses' using errcode = '42501',
            hint = 'an owner runs: netkeeper db grant --login ' || session_user || ' --role operator';
        end if;
        if n = 0 then return; end if;
        -- Each caller's body stamped with the server's time and the login before the pool's lock is taken: that
        -- work does not depend on the pool, so it need not hold up the next group.
        bodies := array_fill(null::text, array[n]);
        for i in 1 .. n loop
          bodies[i] := "audit_stamp_body"(p_body_tpl[i], ts_text, login);
        end loop;
        if p_pool_id is not null then
          select p."id", p."name", p."is_active", p."space_id" into pool from "ip_pools" p where p."id" = p_pool_id for update;
          have_pool := found;
        end if;
        if not have_pool then
          -- A pool may be named with digits only.
          select p."id", p."name", p."is_active", p."space_id" into pool from "ip_pools" p where p."name" = p_pool_name for update;
          have_pool := found;
        end if;
        if not have_pool then
          raise exception 'next-free allocation needs the caller: not_found' using errcode = 'NK003', detail = 'not_found';
        end if;
        if not pool."is_active" then
          raise exception 'next-free allocation needs the caller: inactive' using errcode = 'NK003', detail = 'inactive';
        end if;
        perform 1 from "ip_allocations" l
          where l."pool_id" = pool."id" and l."status" = 'reserved' and l."reserved_until" is not null and l."reserved_until" <= now()
          limit 1;
        if found then
          raise exception 'next-free allocation needs the caller: slow' using errcode = 'NK003', detail = 'slow';
        end if;

        for i in 1 .. n loop
          if p_count[i] is null or p_count[i] < 1 then
            raise exception 'count: caller % asks for % addresses', i, p_count[i] using errcode = '22023';
          end if;
          want := want + p_count[i];
        end loop;
        -- The lowest free addresses, as many as all callers together ask for.
        for r in select f."first_ip", f."last_ip" from "ip_free_ranges" f where f."pool_id" = pool."id" order by f."first_ip" limit want loop
          x := r."first_ip";
          loop
            exit when taken >= want;
            avail := avail || x; taken := taken + 1;
            exit when x = r."last_ip";
            x := x + 1;
          end loop;
          exit when taken >= want;
        end loop;
        n_avail := taken;
        -- Callers in arrival order, each served from where the previous one stopped, as if it came alone; one
        -- the rest cannot serve is left out (its turn's free count reported), the next may still fit.
        taken := 0;
        for i in 1 .. n loop
          if taken + p_count[i] <= n_avail then
            for k in 1 .. p_count[i] loop
              ips := ips || avail[taken + k]; who := who || i;
            end loop;
            taken := taken + p_count[i];
          else
            short := short || i; short_free := short_free || (n_avail - taken);
          end if;
        end loop;
        -- What was taken is a prefix of the free space: drop the ranges it covers, trim the last one.
        rem := taken;
        if rem > 0 then
          for r in select f."first_ip", f."last_ip" from "ip_free_ranges" f where f."pool_id" = pool."id" order by f."first_ip" limit rem loop
            exit when rem = 0;
            size := (r."last_ip" - r."first_ip") + 1;
            if size <= rem then
              delete from "ip_free_ranges" f where f."pool_id" = pool."id" and f."first_ip" = r."first_ip";
              rem := rem - size;
            else
              update "ip_free_ranges" f set "first_ip" = r."first_ip" + rem where f."pool_id" = pool."id" and f."first_ip" = r."first_ip";
              rem := 0;
            end if;
          end loop;
        end if;

        if taken > 0 then
          -- Each served caller's body and details with the locked pool's name, the server's time and the login.
          name_json := to_json(pool."name"::text)::text;
          details := array_fill(null::text, array[n]);
          for i in select distinct u.c from unnest(who) as u(c) loop
            bodies[i] := replace(bodies[i], p_pool_ph, name_json);
            details[i] := replace(p_details_tpl[i], p_pool_ph, name_json);
          end loop;
          select "last_seq", "last_hash" into h from "audit_chain_head" where "audit_chain_head"."id" = 1 for update;
          s := h."last_seq"; prev := h."last_hash";
          for a in
            with ins as (
              insert into "ip_allocations" as t ("pool_id", "space_id", "ip_address", "hostname", "mac_address", "owner", "purpose", "description",
                                                 "status", "dns_managed", "dhcp_managed", "reserved_until", "allocated_by")
              select pool."id", pool."space_id", u.x, p_hostname[u.c], p_mac[u.c], p_owner[u.c], p_purpose[u.c], p_description[u.c], p_status[u.c],
                     p_dns[u.c], p_dhcp[u.c], p_until[u.c], p_by[u.c]
                from unnest(ips, who) with ordinality as u(x, c, o) order by u.o
              returning t."id", t."ip_address", t."created_at", t."updated_at", t."version")
            select ins.*, u.c from ins join unnest(ips, who) with ordinality as u(x, c, o) on u.x = ins."ip_address" order by u.o
          loop
            s := s + 1;
            body := replace(replace(bodies[a.c], p_id_ph, to_json(a."id"::text)::text), p_ip_ph, to_json(host(a."ip_address"))::text);
            hash := encode(sha256(convert_to(prev || chr(10) || s::text || chr(10) || body, 'UTF8')), 'hex');
            l_seq := l_seq || s; l_rid := l_rid || a."id"::text; l_rname := l_rname || host(a."ip_address"); l_caller := l_caller || a.c;
            l_details := l_details || replace(replace(details[a.c], p_id_ph, to_json(a."id"::text)::text), p_ip_ph, to_json(host(a."ip_address"))::text)::jsonb;
            l_prev := l_prev || prev; l_hash := l_hash || hash;
            prev := hash;
            caller := a.c; outcome := 'ok'; free := null; pool_id := pool."id"; pool_name := pool."name"; id := a."id";
            ip := host(a."ip_address"); created_at := a."created_at"; updated_at := a."updated_at"; version := a."version";
            return next;
          end loop;
          insert into "audit_logs" ("seq", "created_at", "action", "resource_type", "resource_id", "resource_name", "user_id",
                                    "user_ip", "user_agent", "status", "details", "request_id", "source", "prev_hash", "row_hash", "db_user")
          select u.s, ts, p_action, p_resource_type, u.rid, u.rname, p_user_id[u.c], p_user_ip[u.c], p_user_agent[u.c], 'success', u.d,
                 p_request_id[u.c], p_source[u.c], u.p, u.h, login
            from unnest(l_seq, l_rid, l_rname, l_caller, l_details, l_prev, l_hash) as u(s, rid, rname, c, d, p, h)
           order by u.s;
          update "audit_chain_head" set "last_seq" = s, "last_hash" = prev where "audit_chain_head"."id" = 1;
        end if;

        for k in 1 .. coalesce(array_length(short, 1), 0) loop
          caller := short[k]; outcome := 'short'; free := short_free[k]; pool_id := pool."id"; pool_name := pool."name";
          id := null; ip := null; created_at := null; updated_at := null; version := null;
          return next;
        end loop;
      end $$;`)
    // CREATE OR REPLACE keeps the owner and grants but resets the function's settings: pin search_path again.
    // Owned by netkeeper_owner with a pinned search_path, like every Netkeeper function; it checks the
    // operator role itself (it runs as the owner), so any Netkeeper role may call it.
    this.addSql(`
      do $$
      declare f text := 'ipam_allocate_next_batch(${SIGNATURE.replace(/\s+/g, ' ')})'; s text := current_schema();
      begin
        execute format('alter function %s owner to netkeeper_owner', f);
        execute format('alter function %s set search_path = %I, pg_catalog, pg_temp', f, s);
        execute format('revoke all on function %s from public', f);
        execute format('grant execute on function %s to netkeeper_viewer', f);
      end $$;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "ipam_allocate_next_batch"(${SIGNATURE});`)
    const before = new Migration20270205100000_ipam_next_batch(this.driver, this.config)
    await before.up()
    for (const q of before.getQueries()) this.addSql(q)
  }
}

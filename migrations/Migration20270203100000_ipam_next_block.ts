import { Migration } from '@mikro-orm/migrations'

/**
 * Next free block in one statement (issue 16: "next free /26 in a /8 with 100,000 children: p50 <= 5 ms").
 *
 * Measured before (bench/ipam-tree.ts, EXPLAIN ANALYZE of each step): nothing grew with the children (lock
 * 0.1 ms, search under 1 ms, insert with its triggers about 1 ms, deferred checks 0.2 ms); the time went on
 * round trips: begin, find-and-lock, search, insert, audit append, commit, each a client-server exchange with
 * the container's row lock and then the audit chain's head held across them.
 *
 * `ipam_next_block(...)` does the whole change inside the server, as ipam_allocate_next_keyed does for
 * addresses: it resolves and locks the container (an id first, then a name, refusing a name two spaces hold),
 * checks the block size against it, finds the lowest `count` aligned free /N (the index probes of
 * Migration20270106100000, then the blocks taken in address order, the container's own first and last address
 * usable by a child unless a child covers them), inserts the children (so every tree rule is checked by the
 * triggers and constraints as for any insert), writes their free space, and appends one audit row per child to
 * the chain, stamped with the server's time and login, from a body the client serialised with placeholders
 * for what only the server knows (the ids, names, networks, space and container). A refusal returns an outcome
 * row and changes nothing; the caller turns it into the typed error.
 *
 * SECURITY DEFINER (it writes the audit chain, which no role may write directly) with a pinned search_path,
 * owned by netkeeper_owner, executable by every Netkeeper role, and refusing a login without netkeeper_admin
 * (pools are the admins' to change) before it reads anything.
 */

const SIGNATURE = `int, text, int, int, text, text, text, text, int, text, text, inet, text, text, text, text, text, text[]`

/** The server's time as stored (milliseconds) and as written in bodies (as Migration20261203100000). */
const NOW_MS = `date_trunc('milliseconds', now())`
const NOW_TEXT = `to_char(date_trunc('milliseconds', now()) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

export class Migration20270203100000_ipam_next_block extends Migration {
  override async up(): Promise<void> {
    // A network as the client writes it (shared/net.ts: RFC 5952 for IPv6). PostgreSQL writes an IPv6 address
    // with an IPv4-mapped or -compatible tail in dotted form (::ffff:1.2.3.4); the client in hex (::ffff:102:304).
    this.addSql(`
      create function "ipam_cidr_text"(p cidr) returns text language plpgsql immutable strict parallel safe as $$
      declare h text := host(p); d text[];
      begin
        if family(p) = 6 and position('.' in h) > 0 then
          d := regexp_match(h, '^(.*:)(\\d+)\\.(\\d+)\\.(\\d+)\\.(\\d+)$');
          h := d[1] || to_hex(d[2]::int * 256 + d[3]::int) || ':' || to_hex(d[4]::int * 256 + d[5]::int);
        end if;
        return h || '/' || masklen(p);
      end $$;`)
    this.addSql(`
      create function "ipam_next_block"(
        p_pool_id int, p_pool_name text, p_prefix int, p_count int, p_name text,
        p_description text, p_site text, p_environment text, p_vlan_id int, p_by text,
        p_user_id text, p_user_ip inet, p_user_agent text, p_request_id text, p_source text,
        p_body_tpl text, p_details_tpl text, p_ph text[])
      returns table ("outcome" text, "detail" text, "id" int, "name" text, "network" text, "space_id" int, "space_name" text,
                     "parent_id" int, "parent_name" text, "description" text, "site" text, "site_ref_id" int, "vlan_id" int,
                     "vlan_ref_id" int, "environment" text, "created_at" timestamptz, "updated_at" timestamptz, "created_by" text,
                     "custom_fields" jsonb)
      language plpgsql security definer as $$
      declare
        pool record; r record; n int := 0; maxl int; fam int; lo_net inet; top inet; ufirst inet; ulast inet;
        lo inet; hi inet; a inet; e inet; low_taken boolean; high_taken boolean; lens int[]; blocks cidr[] := '{}';
        names text[]; base text; sname text; h record; s bigint; prev text; hash text; body_tpl text; details_tpl text;
        body text; details text; txt text; ts timestamptz := ${NOW_MS};
      begin
        if not (pg_has_role(session_user, 'netkeeper_admin', 'USAGE') or pg_has_role(session_user, 'netkeeper_owner', 'USAGE')) then
          raise exception 'permission denied: % needs the netkeeper_admin role', 'carving pools out of a container' using errcode = '42501',
            hint = 'an owner runs: netkeeper db grant --login ' || session_user || ' --role admin';
        end if;

        -- The container, found and locked: by id first, then by name (a pool may be named with digits only).
        if p_pool_id is not null then
          select p."id", p."name", p."network", p."space_id" into pool from "ip_pools" p where p."id" = p_pool_id for update;
          n := case when found then 1 else 0 end;
        end if;
        if n = 0 then
          for r in select p."id", p."name", p."network", p."space_id" from "ip_pools" p where p."name" = p_pool_name
                    order by p."space_id" limit 2 for update loop
            n := n + 1;
            if n = 1 then pool := r; end if;
          end loop;
          if n > 1 then
            -- Both rows stay locked until this statement's transaction ends, as the service's look-up does.
            outcome := 'ambiguous';
            select jsonb_agg(jsonb_build_object('id', x."id", 'space', x."space") order by x."space")::text into detail
              from (select p."id", sp."name" as "space" from "ip_pools" p join "ip_spaces" sp on sp."id" = p."space_id" where p."name" = p_pool_name) x;
            return next; return;
          end if;
        end if;
        if n = 0 then outcome := 'not_found'; return next; return; end if;

        fam := family(pool."network"); maxl := case fam when 4 then 32 else 128 end;
        name := pool."name"; network := "ipam_cidr_text"(pool."network");
        if p_prefix > maxl then outcome := 'too_long'; detail := maxl::text; return next; return; end if;
        if p_prefix <= masklen(pool."network") then outcome := 'not_smaller'; return next; return; end if;

        -- The search (tree.ts describes it): the ranges that may hold a /p_prefix, the lowest first.
        lo_net := set_masklen(host(pool."network")::inet, maxl);
        top := set_masklen(host(broadcast(pool."network"))::inet, maxl);
        ufirst := case when (fam = 4 and masklen(pool."network") < 31) or (fam = 6 and masklen(pool."network") < 127) then lo_net + 1 else lo_net end;
        ulast := case when fam = 4 and masklen(pool."network") < 31 then top - 1 else top end;
        lens := array(select generate_series(masklen(pool."network"), p_prefix));
        <<ranges>>
        for r in
          select c."first_ip", c."last_ip" from (
            select f."first_ip", f."last_ip" from unnest(lens) as b(len)
              cross join lateral (select x."first_ip", x."last_ip" from "ip_free_ranges" x
                                   where x."pool_id" = pool."id" and x."block_len" = b.len order by x."first_ip" limit p_count + 2) f
            union
            (select x."first_ip", x."last_ip" from "ip_free_ranges" x where x."pool_id" = pool."id" order by x."first_ip" limit 1)
            union
            (select x."first_ip", x."last_ip" from "ip_free_ranges" x where x."pool_id" = pool."id" order by x."first_ip" desc limit 1)
          ) c order by c."first_ip" limit p_count + 4
        loop
          lo := set_masklen(r."first_ip", maxl); hi := set_masklen(r."last_ip", maxl);
          -- The container's own network and broadcast addresses are not in its free space, but a child may hold them.
          if lo = ufirst and ufirst > lo_net then lo := lo_net; end if;
          if hi = ulast and ulast < top then hi := top; end if;
          a := set_masklen(network(set_masklen(lo, p_prefix))::inet, maxl);
          if a < lo then
            e := set_masklen(broadcast(set_masklen(lo, p_prefix)), maxl);
            continue when e >= hi;
            a := e + 1;
          end if;
          loop
            e := set_masklen(broadcast(set_masklen(a, p_prefix)), maxl);
            exit when e > hi;
            -- A child (down to a single address) may sit on the container's first or last address: one probe each.
            if a = lo_net and low_taken is null then
              low_taken := exists (select 1 from (select c."network" from "ip_pools" c where c."parent_id" = pool."id" and c."network" <= lo_net
                                                   order by c."network" desc limit 1) x where x."network" >>= lo_net);
            end if;
            if e = top and high_taken is null then
              high_taken := exists (select 1 from (select c."network" from "ip_pools" c where c."parent_id" = pool."id" and c."network" <= top
                                                    order by c."network" desc limit 1) x where x."network" >>= top);
            end if;
            if not ((a = lo_net and low_taken) or (e = top and high_taken)) then
              blocks := blocks || set_masklen(a, p_prefix)::cidr;
              exit ranges when cardinality(blocks) >= p_count;
            end if;
            exit when e >= hi;
            a := e + 1;
          end loop;
        end loop;
        if cardinality(blocks) < p_count then outcome := 'short'; detail := cardinality(blocks)::text; return next; return; end if;

        -- Names: the caller's (numbered when several), else "<container> <network>" ("campus 10.20.1.0/26" gives
        -- "campus 10.20.1.0/27", not "campus 10.20.1.0/26 10.20.1.0/27").
        if p_name is not null then
          names := case when p_count = 1 then array[p_name] else array(select p_name || '-' || i from generate_series(1, p_count) i) end;
        else
          base := pool."name";
          if right(base, length(network) + 1) = ' ' || network then base := left(base, length(base) - length(network) - 1); end if;
          names := array(select left(base, 99 - length("ipam_cidr_text"(b))) || ' ' || "ipam_cidr_text"(b) from unnest(blocks) as b);
        end if;

        select sp."name" into sname from "ip_spaces" sp where sp."id" = pool."space_id";
        -- The body with the server's time and login (audit_stamp_body), the space and container filled in.
        body_tpl := replace(replace("audit_stamp_body"(p_body_tpl, ${NOW_TEXT}, session_user), p_ph[4], to_json(sname)::text), p_ph[5], to_json(pool."name"::text)::text);
        details_tpl := replace(replace(p_details_tpl, p_ph[4], to_json(sname)::text), p_ph[5], to_json(pool."name"::text)::text);
        select c."last_seq", c."last_hash" into h from "audit_chain_head" c where c."id" = 1 for update;
        s := h."last_seq"; prev := h."last_hash";

        -- The children: every tree rule is checked by ip_pools' triggers and constraints as for any other insert.
        for r in
          insert into "ip_pools" as p ("name", "network", "description", "site", "environment", "vlan_id", "created_by", "space_id", "parent_id")
          select u.n, u.c, p_description, p_site, p_environment, p_vlan_id, p_by, pool."space_id", pool."id"
            from unnest(names, blocks) with ordinality as u(n, c, o) order by u.o
          returning p."id", p."name", p."network", p."description", p."site", p."site_ref_id", p."vlan_id", p."vlan_ref_id",
                    p."environment", p."created_at", p."updated_at", p."created_by", p."custom_fields"
        loop
          -- A fresh block holds nothing: its free space is its usable range (as ipam_rebuild_free_ranges gives it).
          insert into "ip_free_ranges" ("pool_id", "first_ip", "last_ip")
          values (r."id",
                  case when (fam = 4 and masklen(r."network") < 31) or (fam = 6 and masklen(r."network") < 127)
                       then set_masklen(host(r."network")::inet, maxl) + 1 else set_masklen(host(r."network")::inet, maxl) end,
                  case when fam = 4 and masklen(r."network") < 31
                       then set_masklen(host(broadcast(r."network"))::inet, maxl) - 1 else set_masklen(host(broadcast(r."network"))::inet, maxl) end);
          txt := "ipam_cidr_text"(r."network");
          s := s + 1;
          body := replace(replace(replace(body_tpl, p_ph[1], to_json(r."id"::text)::text), p_ph[3], to_json(txt)::text), p_ph[2], to_json(r."name"::text)::text);
          details := replace(replace(replace(details_tpl, p_ph[1], to_json(r."id"::text)::text), p_ph[3], to_json(txt)::text), p_ph[2], to_json(r."name"::text)::text);
          hash := encode(sha256(convert_to(prev || chr(10) || s::text || chr(10) || body, 'UTF8')), 'hex');
          insert into "audit_logs" ("seq", "created_at", "action", "resource_type", "resource_id", "resource_name", "user_id",
                                    "user_ip", "user_agent", "status", "details", "request_id", "source", "prev_hash", "row_hash", "db_user")
          values (s, ts, 'create', 'ip_pool', r."id"::text, r."name", p_user_id, p_user_ip, p_user_agent, 'success', details::jsonb,
                  p_request_id, p_source, prev, hash, session_user);
          prev := hash;
          outcome := 'ok'; detail := null; id := r."id"; name := r."name"; network := txt; space_id := pool."space_id";
          space_name := sname; parent_id := pool."id"; parent_name := pool."name"; description := r."description"; site := r."site";
          site_ref_id := r."site_ref_id"; vlan_id := r."vlan_id"; vlan_ref_id := r."vlan_ref_id"; environment := r."environment";
          created_at := r."created_at"; updated_at := r."updated_at"; created_by := r."created_by"; custom_fields := r."custom_fields";
          return next;
        end loop;
        update "audit_chain_head" set "last_seq" = s, "last_hash" = prev where "audit_chain_head"."id" = 1;
      end $$;`)
    this.addSql(`
      do $$
      declare f text; s text := current_schema();
      begin
        foreach f in array array['ipam_cidr_text(cidr)', 'ipam_next_block(${SIGNATURE.replace(/\s+/g, ' ')})'] loop
          execute format('alter function %s owner to netkeeper_owner', f);
          execute format('alter function %s set search_path = %I, pg_catalog, pg_temp', f, s);
          execute format('revoke all on function %s from public', f);
          execute format('grant execute on function %s to netkeeper_viewer', f);
        end loop;
      end $$;`)
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "ipam_next_block"(${SIGNATURE});`)
    this.addSql(`drop function if exists "ipam_cidr_text"(cidr);`)
  }
}

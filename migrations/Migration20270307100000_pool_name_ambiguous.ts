import { Migration } from '@mikro-orm/migrations'

const KEYED = `ipam_allocate_next_keyed(int, text, int, text, macaddr, text, text, text, text, boolean, boolean, timestamptz, text, timestamptz, text, inet, text, text, text, text, text, text, text, text, text, text, uuid, text, text, timestamptz, boolean)`
const BATCH = `ipam_allocate_next_batch(int, text, int[], text[], macaddr[], text[], text[], text[], text[], boolean[], boolean[], timestamptz[], text[], text[], inet[], text[], text[], text[], text[], text[], text, text, text, text, text)`

/** The name look-up each next-free function makes when it is given a name and no id. */
const LOOKUP = `select p."id", p."name", p."is_active" into pool from "ip_pools" p where p."name" = p_pool_name for update;`
/** The batch function's, since Migration20270303100000 (it reads the pool's space too). */
const LOOKUP_BATCH = `select p."id", p."name", p."is_active", p."space_id" into pool from "ip_pools" p where p."name" = p_pool_name for update;`

/**
 * Pool names are unique per address space (Migration20270106110000), so a name may stand for pools in two
 * spaces. ipam_allocate_at and ipam_next_block refuse such a name as ambiguous, naming the spaces; the two
 * next-free functions, written before spaces, took whichever pool the name look-up met first and allocated
 * from it. Now they refuse it too, before locking anything: SQLSTATE NK004, the detail the pools holding the
 * name as JSON ([{"id", "space"}], by space name), which the client words as it words ipam_allocate_at's
 * 'ambiguous' outcome (src/main/core/ipam/rows.ts ambiguousPool). An id, or a name one space holds, is
 * resolved as before. Each function's own text is patched (pg_get_functiondef), so nothing else changes.
 */
const GUARD = `if (select count(*) from (select 1 from "ip_pools" p where p."name" = p_pool_name limit 2) x) > 1 then
            raise exception 'pool "%" names a pool in more than one address space', p_pool_name using errcode = 'NK004',
              detail = (select jsonb_agg(jsonb_build_object('id', p."id", 'space', sp."name") order by sp."name", p."id")::text
                          from "ip_pools" p join "ip_spaces" sp on sp."id" = p."space_id" where p."name" = p_pool_name);
          end if;
          `

const patch = (fn: string, from: string, to: string): string => `
      do $$
      declare src text;
      begin
        select pg_get_functiondef('${fn}'::regprocedure) into src;
        if position('${from.replace(/'/g, "''")}' in src) = 0 then
          raise exception '${fn.slice(0, fn.indexOf('('))} is not the definition this migration expects';
        end if;
        execute replace(src, '${from.replace(/'/g, "''")}', '${to.replace(/'/g, "''")}');
      end $$;`

export class Migration20270307100000_pool_name_ambiguous extends Migration {
  override async up(): Promise<void> {
    for (const [fn, lookup] of [[KEYED, LOOKUP], [BATCH, LOOKUP_BATCH]] as const) this.addSql(patch(fn, lookup, GUARD + lookup))
  }

  override async down(): Promise<void> {
    for (const [fn, lookup] of [[KEYED, LOOKUP], [BATCH, LOOKUP_BATCH]] as const) this.addSql(patch(fn, GUARD + lookup, lookup))
  }
}

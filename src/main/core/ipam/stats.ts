/** IPAM statistics for the dashboard: totals, utilization by site and environment, the fullest pools. */
import type { Knex } from '@mikro-orm/postgresql'
import type { IpamStats, PoolFacets } from '../../../shared/ipam'
import { parseCidr } from '../../../shared/net'
import type { Rows } from './rows'
import { utilization } from './utilization'

/**
 * Per pool: its allocated, reserved (hold not lapsed) and blocked addresses, from the counters the triggers
 * keep in ip_pool_usage (Migration20270204100000) less the pool's lapsed holds, which the partial index
 * ip_allocations_expired_holds_idx finds: one small row per pool, where counting the allocations themselves
 * took seconds with 500,000 of them. `p` is the alias of ip_pools in the query this joins into.
 */
export const POOL_COUNTS_JOIN = (p: string): string => `
  left join ip_pool_usage u on u.pool_id = ${p}.id
  left join (select a.pool_id, count(*) as n from ip_allocations a
              where a.status = 'reserved' and a.reserved_until is not null and a.reserved_until <= now()
              group by a.pool_id) lapsed on lapsed.pool_id = ${p}.id`

/** The columns POOL_COUNTS_JOIN gives (ints: one pool holds at most a few million addresses in practice). */
export const POOL_COUNTS_COLUMNS = `coalesce(u.allocated, 0)::int as allocated,
            (coalesce(u.reserved, 0) - coalesce(lapsed.n, 0))::int as reserved,
            coalesce(u.blocked, 0)::int as blocked`

/** What POOL_COUNTS_JOIN says is in use (allocated, blocked, or reserved and not lapsed), as a bigint expression. */
export const POOL_COUNTS_USED = `coalesce(u.used, 0) - coalesce(lapsed.n, 0)`

export async function stats(knex: Knex): Promise<IpamStats> {
  const pools = await knex.raw<
    Rows<{ id: number; name: string; network: string; gateway: string | null; site: string | null; environment: string | null; is_active: boolean; allocated: number; reserved: number; blocked: number }>
  >(
    `select p.id, p.name, p.network::text as network, host(p.gateway) as gateway, p.site, p.environment, p.is_active,
            ${POOL_COUNTS_COLUMNS}
       from ip_pools p ${POOL_COUNTS_JOIN('p')}`
  )
  const per = pools.rows.map((p) => ({ p, u: utilization(p.network, p.gateway, { allocated: p.allocated, reserved: p.reserved, blocked: p.blocked }) }))
  const group = <K extends 'site' | 'environment'>(key: K) => {
    const m = new Map<string | null, { pools: number; allocated: number; used: bigint; usable: bigint }>()
    for (const { p, u } of per) {
      const g = m.get(p[key]) ?? { pools: 0, allocated: 0, used: 0n, usable: 0n }
      g.pools++
      g.allocated += u.allocated
      g.used += BigInt(u.allocated + u.reserved + u.blocked)
      g.usable += BigInt(u.usable)
      m.set(p[key], g)
    }
    return [...m.entries()]
      .map(([k, g]) => ({ [key]: k, pools: g.pools, allocated: g.allocated, usable: g.usable.toString(), percent: g.usable ? Number((g.used * 10000n) / g.usable) / 100 : 0 }))
      .sort((a, b) => String(a[key] ?? '').localeCompare(String(b[key] ?? '')))
  }
  const totals = per.reduce((t, { u }) => ({ allocated: t.allocated + u.allocated, reserved: t.reserved + u.reserved, blocked: t.blocked + u.blocked }), {
    allocated: 0,
    reserved: 0,
    blocked: 0
  })
  return {
    pools: pools.rows.length,
    activePools: pools.rows.filter((p) => p.is_active).length,
    allocations: totals,
    bySite: group('site') as IpamStats['bySite'],
    byEnvironment: group('environment') as IpamStats['byEnvironment'],
    mostUtilized: per
      .sort((a, b) => b.u.percent - a.u.percent || a.p.name.localeCompare(b.p.name))
      .slice(0, 10)
      .map(({ p, u }) => ({ id: p.id, name: p.name, network: parseCidr(p.network).text, percent: u.percent, used: u.allocated + u.reserved + u.blocked, usable: u.usable }))
  }
}

/**
 * Every site and environment some pool names, sorted: what the Pools screen's filter menus offer. The
 * screen used to take them from stats(), which counts every allocation of every pool (seconds with 5,000
 * pools and 500,000 allocations, on the same connections as the screen's first page).
 */
export async function poolFacets(knex: Knex): Promise<PoolFacets> {
  const [sites, envs] = await Promise.all([
    knex.raw<Rows<{ v: string }>>(`select distinct site as v from ip_pools where site is not null and site <> '' order by 1`),
    knex.raw<Rows<{ v: string }>>(`select distinct environment as v from ip_pools where environment is not null and environment <> '' order by 1`)
  ])
  return { sites: sites.rows.map((r) => r.v), environments: envs.rows.map((r) => r.v) }
}

/** IPAM statistics for the dashboard: totals, utilization by site and environment, the fullest pools. */
import type { Knex } from '@mikro-orm/postgresql'
import type { IpamStats, PoolFacets } from '../../../shared/ipam'
import { parseCidr } from '../../../shared/net'
import type { Rows } from './rows'
import { utilization } from './utilization'

export async function stats(knex: Knex): Promise<IpamStats> {
  const pools = await knex.raw<Rows<{ id: number; name: string; network: string; gateway: string | null; site: string | null; environment: string | null; is_active: boolean }>>(
    `select id, name, network::text as network, host(gateway) as gateway, site, environment, is_active from ip_pools`
  )
  const counts = await knex.raw<Rows<{ pool_id: number; allocated: number; reserved: number; blocked: number }>>(
    `select pool_id,
            count(*) filter (where status = 'allocated')::int as allocated,
            count(*) filter (where status = 'reserved' and (reserved_until is null or reserved_until > now()))::int as reserved,
            count(*) filter (where status = 'blocked')::int as blocked
       from ip_allocations group by pool_id`
  )
  const byPool = new Map(counts.rows.map((r) => [r.pool_id, r]))
  const per = pools.rows.map((p) => {
    const c = byPool.get(p.id) ?? { allocated: 0, reserved: 0, blocked: 0 }
    return { p, u: utilization(p.network, p.gateway, { allocated: c.allocated, reserved: c.reserved, blocked: c.blocked }) }
  })
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

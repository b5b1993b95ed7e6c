/**
 * The per-status counters of ip_pool_usage (Migration20270204100000) behind the dashboard's totals
 * (ipam.stats) and the pools' threshold levels (ipam.usageLevels): after every kind of write (next-free and
 * explicit allocations, a bulk hold, a multi-pool bulk insert, holds that lapse, status changes one by one
 * and many at once, releases, a split that moves allocations, pool deletes) they give exactly what the old
 * queries, which counted every allocation, gave; so does the daily usage snapshot that reads them. Only the triggers write the counters (an operator may not),
 * and the migration rebuilds them from the allocations. Real PostgreSQL.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Knex } from '@mikro-orm/postgresql'
import { Core } from '../../src/main/core'
import { Database } from '../../src/main/core/db/database'
import { grantRole } from '../../src/main/core/db/roles'
import { resolveConnection } from '../../src/main/core/db/target'
import { utilization } from '../../src/main/core/ipam/utilization'
import { parseCidr } from '../../src/shared/net'
import type { IpamStats } from '../../src/shared/ipam'
import { migrationNames } from '../../migrations/names'
import { ctxAs, openCore } from '../support/core'
import { freshDatabase, withClient } from '../support/db'

let core: Core
let url: string
const admin = ctxAs('admin', 'alice')
const login = `nk_counters_op_${randomBytes(3).toString('hex')}`

beforeAll(async () => {
  ;({ core, url } = await openCore('counters'))
  await core.ipam.createPool(admin, { name: 'a', network: '10.60.0.0/24', site: 'ams', environment: 'prod' })
  await core.ipam.createPool(admin, { name: 'b', network: '10.60.1.0/28', gateway: '10.60.1.1', site: 'ams', environment: 'dev' })
  await core.ipam.createPool(admin, { name: 'c', network: '10.60.2.0/24', site: 'lon' })
  await core.ipam.createPool(admin, { name: 'v6', network: '2001:db8:60::/120' })
  await core.ipam.createPool(admin, { name: 'empty', network: '10.60.3.0/24', environment: 'prod' })
})

afterAll(async () => {
  await core?.close()
  await withClient(inject('pgUrl'), (c) => c.query(`drop owned by "${login}" cascade`).then(() => c.query(`drop role if exists "${login}"`))).catch(() => undefined)
})

/** What stats() computed before the counters: every allocation counted (the old query, kept here as the reference). */
async function recountedStats(knex: Knex): Promise<IpamStats> {
  const pools = await knex.raw<{ rows: { id: number; name: string; network: string; gateway: string | null; site: string | null; environment: string | null; is_active: boolean }[] }>(
    `select id, name, network::text as network, host(gateway) as gateway, site, environment, is_active from ip_pools`
  )
  const counts = await knex.raw<{ rows: { pool_id: number; allocated: number; reserved: number; blocked: number }[] }>(
    `select pool_id,
            count(*) filter (where status = 'allocated')::int as allocated,
            count(*) filter (where status = 'reserved' and (reserved_until is null or reserved_until > now()))::int as reserved,
            count(*) filter (where status = 'blocked')::int as blocked
       from ip_allocations group by pool_id`
  )
  const byPool = new Map(counts.rows.map((r) => [r.pool_id, r]))
  const per = pools.rows.map((p) => ({ p, u: utilization(p.network, p.gateway, byPool.get(p.id) ?? { allocated: 0, reserved: 0, blocked: 0 }) }))
  const group = <K extends 'site' | 'environment'>(key: K): unknown[] => {
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
  return {
    pools: pools.rows.length,
    activePools: pools.rows.filter((p) => p.is_active).length,
    allocations: per.reduce((t, { u }) => ({ allocated: t.allocated + u.allocated, reserved: t.reserved + u.reserved, blocked: t.blocked + u.blocked }), { allocated: 0, reserved: 0, blocked: 0 }),
    bySite: group('site') as IpamStats['bySite'],
    byEnvironment: group('environment') as IpamStats['byEnvironment'],
    mostUtilized: per
      .sort((a, b) => b.u.percent - a.u.percent || a.p.name.localeCompare(b.p.name))
      .slice(0, 10)
      .map(({ p, u }) => ({ id: p.id, name: p.name, network: parseCidr(p.network).text, percent: u.percent, used: u.allocated + u.reserved + u.blocked, usable: u.usable }))
  }
}

/** The old levels query's counts: every allocation of each active pool counted. */
async function recountedLevels(knex: Knex): Promise<Record<string, number>> {
  const r = await knex.raw<{ rows: { name: string; used: number }[] }>(
    `select p.name, (select count(*)::int from ip_allocations a
                      where a.pool_id = p.id and (a.status in ('allocated', 'blocked') or (a.status = 'reserved' and (a.reserved_until is null or a.reserved_until > now()))))
                     as used
       from ip_pools p where p.is_active`
  )
  return Object.fromEntries(r.rows.map((x) => [x.name, x.used]))
}

/** Rows of ip_pool_usage that differ from a recount of the allocations (or belong to no pool). */
async function drift(knex: Knex): Promise<unknown[]> {
  const r = await knex.raw<{ rows: unknown[] }>(
    `select coalesce(u.pool_id, a.pool_id) as pool, u.used, u.allocated, u.reserved, u.blocked, a.used as want_used, a.allocated as want_allocated,
            a.reserved as want_reserved, a.blocked as want_blocked
       from ip_pool_usage u
       full join (select pool_id, count(*) as used, count(*) filter (where status = 'allocated') as allocated,
                         count(*) filter (where status = 'reserved') as reserved, count(*) filter (where status = 'blocked') as blocked
                    from ip_allocations where status in ('allocated', 'reserved', 'blocked') group by pool_id) a on a.pool_id = u.pool_id
      where coalesce(u.used, 0) <> coalesce(a.used, 0) or coalesce(u.allocated, 0) <> coalesce(a.allocated, 0)
         or coalesce(u.reserved, 0) <> coalesce(a.reserved, 0) or coalesce(u.blocked, 0) <> coalesce(a.blocked, 0)
         or (u.pool_id is not null and not exists (select 1 from ip_pools p where p.id = u.pool_id))`
  )
  return r.rows
}

/** stats() and the levels equal the recounts, and the counters equal the allocations. */
async function expectSame(what: string): Promise<IpamStats> {
  const knex = core.db.knex
  expect(await drift(knex), what).toEqual([])
  const s = await core.ipam.stats(admin)
  expect(s, what).toEqual(await recountedStats(knex))
  const levels = await core.ipam.poolLevels(admin)
  const want = await recountedLevels(knex)
  expect(levels.length, what).toBe(Object.keys(want).length)
  for (const l of levels) {
    const pool = await core.ipam.getPool(admin, l.pool)
    const usable = BigInt(pool.utilization.usable)
    expect(l.percent, `${what}: ${l.pool}`).toBe(usable === 0n ? 0 : Number((BigInt(want[l.pool]!) * 10000n) / usable) / 100)
  }
  // The daily snapshot (the server function, from the counters) writes the same numbers.
  await core.ipam.snapshotUsage(admin)
  const snap = await knex.raw<{ rows: { pool_id: number; allocated: number; reserved: number; blocked: number }[] }>(
    `select pool_id, allocated, reserved, blocked from ip_pool_usage_daily where day = current_date order by pool_id`
  )
  const want2 = await knex.raw<{ rows: { pool_id: number; allocated: number; reserved: number; blocked: number }[] }>(
    `select p.id as pool_id,
            count(a.id) filter (where a.status = 'allocated')::int as allocated,
            count(a.id) filter (where a.status = 'reserved' and (a.reserved_until is null or a.reserved_until > now()))::int as reserved,
            count(a.id) filter (where a.status = 'blocked')::int as blocked
       from ip_pools p left join ip_allocations a on a.pool_id = p.id group by p.id order by p.id`
  )
  expect(snap.rows, `${what}: daily snapshot`).toEqual(want2.rows)
  return s
}

describe('the dashboard totals and the levels from the counters', () => {
  it('equal the recount after single, explicit and next-free allocations', async () => {
    expect((await expectSame('empty')).allocations).toEqual({ allocated: 0, reserved: 0, blocked: 0 })
    await core.ipam.allocate(admin, { pool: 'a', next: true, count: 5 })
    await core.ipam.allocate(admin, { pool: 'a', ip: '10.60.0.50', status: 'reserved', until: new Date(Date.now() + 3600_000).toISOString() })
    await core.ipam.allocate(admin, { pool: 'b', ip: '10.60.1.5', status: 'blocked' })
    await core.ipam.allocate(admin, { pool: 'b', ip: '10.60.1.6', status: 'reserved' })
    await core.ipam.allocate(admin, { pool: 'v6', ip: '2001:db8:60::10' })
    const s = await expectSame('single allocations')
    expect(s.allocations).toEqual({ allocated: 6, reserved: 2, blocked: 1 })
  })

  it('equal the recount after a bulk hold and one insert statement across pools (a bulk import)', async () => {
    await core.ipam.holdRange(admin, { pool: 'a', first: '10.60.0.100', last: '10.60.0.149', status: 'reserved', until: new Date(Date.now() + 3600_000).toISOString() })
    await core.db.knex.raw(
      `insert into ip_allocations (pool_id, ip_address, hostname, status, allocated_by)
       select p.id, host(p.network)::inet + g, 'bulk-' || g, case when g % 3 = 0 then 'blocked' when g % 3 = 1 then 'reserved' else 'allocated' end, 'test'
         from ip_pools p, generate_series(10, 40) g where p.name in ('c', 'a') and not exists (
           select 1 from ip_allocations x where x.pool_id = p.id and x.ip_address = host(p.network)::inet + g)`
    )
    const s = await expectSame('bulk')
    expect(s.allocations.reserved).toBeGreaterThan(50)
  })

  it('count a hold that lapsed as free, as the old query did, with no write', async () => {
    const before = (await core.ipam.stats(admin)).allocations.reserved
    // The clock ends a hold: move the hold's end into the past (the counters see an update with the same status).
    await core.db.knex.raw(`update ip_allocations set reserved_until = now() - interval '1 minute' where ip_address between '10.60.0.100' and '10.60.0.119'`)
    const s = await expectSame('lapsed')
    expect(s.allocations.reserved).toBe(before - 20)
  })

  it('equal the recount after status changes, one by one and many in one statement', async () => {
    await core.ipam.updateAllocation(admin, { ip: '10.60.1.6', status: 'allocated' })
    await core.ipam.updateAllocation(admin, { ip: '10.60.1.5', status: 'reserved' })
    // 'available' is written by data from elsewhere (the app releases instead): it counts as free.
    await core.db.knex.raw(`update ip_allocations set status = 'available' where ip_address = '10.60.0.50'`)
    await core.ipam.updateAllocation(admin, { ip: '10.60.0.1', hostname: 'renamed' })
    await expectSame('status changes')
    // One statement, several pools, every direction (and a lapsed hold made allocated).
    await core.db.knex.raw(
      `update ip_allocations set status = case status when 'allocated' then 'reserved' when 'reserved' then 'blocked' when 'blocked' then 'allocated' else status end
        where hostname like 'bulk-%' and (ip_address << '10.60.2.0/24' or ip_address between '10.60.0.10' and '10.60.0.20')`
    )
    await core.db.knex.raw(`update ip_allocations set status = 'allocated' where ip_address between '10.60.0.100' and '10.60.0.104'`)
    await expectSame('bulk status changes')
  })

  it('equal the recount after releases, a split that moves allocations, and pool deletes', async () => {
    await core.ipam.release(admin, '10.60.0.1')
    // The /25 children's broadcast and network addresses must be free for the split.
    await core.ipam.releaseMany(admin, { pool: 'a', ips: ['10.60.0.127', '10.60.0.128'] })
    await core.ipam.releaseMany(admin, { pool: 'c', first: '10.60.2.0', last: '10.60.2.255', status: 'blocked' })
    await expectSame('releases')
    const split = await core.ipam.splitPool(admin, { pool: 'a', prefixLength: 25 })
    expect(split.moved).toBeGreaterThan(0)
    await expectSame('split')
    await core.ipam.deletePool(admin, 'c', { force: true })
    await core.ipam.deletePool(admin, 'b', { force: true })
    const s = await expectSame('deletes')
    expect(s.pools).toBe(5) // the split container, its two children, v6, empty
  })
})

describe('who writes the counters', () => {
  it('the triggers, for an operator who may not write the table itself', async () => {
    await withClient(url, (c) => c.query(`create role "${login}" login`))
    await grantRole(core.db, ctxAs('admin', 'dba'), login, 'operator')
    const u = new URL(url)
    u.username = login
    const op = await Core.open({ databaseUrl: u.toString(), dataDir: '/nonexistent-netkeeper-test' })
    try {
      expect(op.serverRole).toBe('operator')
      await op.ipam.allocate(ctxAs('operator'), { pool: 'v6', next: true, count: 3 })
      await op.ipam.allocate(ctxAs('operator'), { pool: 'v6', ip: '2001:db8:60::80', status: 'blocked' })
      await op.ipam.release(ctxAs('operator'), '2001:db8:60::10')
      await expectSame('operator')
      await expect(op.db.knex.raw(`update ip_pool_usage set allocated = allocated + 100`)).rejects.toMatchObject({ code: '42501' })
      await expect(op.db.knex.raw(`insert into ip_pool_usage (pool_id, used) values (999999, 5)`)).rejects.toMatchObject({ code: '42501' })
      expect((await op.ipam.stats(ctxAs('viewer'))).allocations).toEqual((await recountedStats(core.db.knex)).allocations)
    } finally {
      await op.close()
    }
  })
})

describe('the upgrade', () => {
  it('rebuilds the counters from the allocations, whatever the old `used` said', async () => {
    const u = await freshDatabase('counters_upg')
    const db = await Database.open(await resolveConnection({ databaseUrl: u, dataDir: '/nonexistent' }))
    try {
      await db.migrate()
      const previous = migrationNames[migrationNames.indexOf('Migration20270204100000_pool_usage_counters') - 1]!
      await db.rollback(previous)
      await withClient(u, async (c) => {
        await c.query(`insert into ip_pools (id, name, network) values (1, 'x', '10.1.0.0/24'), (2, 'y', '10.2.0.0/24')`)
        await c.query(
          `insert into ip_allocations (pool_id, ip_address, status, reserved_until)
           values (1, '10.1.0.5', 'allocated', null), (1, '10.1.0.6', 'reserved', null), (1, '10.1.0.7', 'reserved', now() - interval '1 day'),
                  (1, '10.1.0.8', 'blocked', null), (2, '10.2.0.5', 'allocated', null), (2, '10.2.0.6', 'available', null)`
        )
        // A counter that drifted (and one of a pool that is gone) before the upgrade.
        await c.query(`update ip_pool_usage set used = 42 where pool_id = 1`)
        await c.query(`insert into ip_pool_usage (pool_id, used) values (77, 3)`)
      })
      const ran = await db.migrate()
      expect(ran[0]).toBe('Migration20270204100000_pool_usage_counters')
      expect(ran).toEqual(migrationNames.slice(migrationNames.indexOf('Migration20270204100000_pool_usage_counters')))
      const rows = await withClient(u, async (c) => (await c.query(`select pool_id, used::int, allocated::int, reserved::int, blocked::int from ip_pool_usage order by pool_id`)).rows)
      expect(rows).toEqual([
        { pool_id: 1, used: 4, allocated: 1, reserved: 2, blocked: 1 },
        { pool_id: 2, used: 1, allocated: 1, reserved: 0, blocked: 0 }
      ])
      // And the way back keeps `used` in step.
      await db.rollback(previous)
      await withClient(u, (c) => c.query(`insert into ip_allocations (pool_id, ip_address) values (2, '10.2.0.9')`))
      const back = await withClient(u, async (c) => (await c.query(`select pool_id, used::int from ip_pool_usage order by pool_id`)).rows)
      expect(back).toEqual([
        { pool_id: 1, used: 4 },
        { pool_id: 2, used: 2 }
      ])
      await db.migrate()
    } finally {
      await db.close()
    }
  })
})

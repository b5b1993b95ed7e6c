/**
 * Utilization over time (issue 20, item 3): the daily snapshot written by the server function agrees with
 * the pools' own utilization (IPv4 with and without a gateway, a /31, IPv6), a second run the same day
 * updates the row instead of adding one, rows go with their pool; history per pool and for every pool;
 * thresholds are an admin's, validated and audited; the levels and the once-per-crossing alert memory; the
 * CLI commands. Real PostgreSQL.
 */
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { UsageAlertState } from '../../src/main/core/ipam/usage-alerts'
import { cli } from '../support/cli'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'

let core: Core
let url: string
let dataDir: string
const admin = ctxAs('admin', 'alice')

beforeAll(async () => {
  ;({ core, url, dataDir } = await openCore('usage'))
  await core.ipam.createPool(admin, { name: 'lan', network: '10.50.0.0/28', gateway: '10.50.0.1' })
  await core.ipam.createPool(admin, { name: 'p2p', network: '10.50.1.0/31' })
  await core.ipam.createPool(admin, { name: 'v6', network: '2001:db8:50::/120' })
  await core.ipam.createPool(admin, { name: 'empty', network: '10.50.2.0/24' })
  await core.ipam.allocate(admin, { pool: 'lan', count: 10, next: true })
  await core.ipam.allocate(admin, { pool: 'lan', ip: '10.50.0.14', status: 'blocked' })
  await core.ipam.allocate(admin, { pool: 'p2p', ip: '10.50.1.0' })
  await core.ipam.allocate(admin, { pool: 'v6', ip: '2001:db8:50::10' })
})
afterAll(async () => {
  await core?.close()
})

async function snapshotRows(): Promise<Record<string, { usable: string; allocated: number; reserved: number; blocked: number; percent: string }>> {
  const r = await core.db.knex.raw<{ rows: { name: string; usable: string; allocated: number; reserved: number; blocked: number; percent: string }[] }>(
    `select p.name, d.usable::text, d.allocated, d.reserved, d.blocked, d.percent::text from ip_pool_usage_daily d join ip_pools p on p.id = d.pool_id where d.day = current_date`
  )
  return Object.fromEntries(r.rows.map(({ name, ...rest }) => [name, rest]))
}

describe('the daily snapshot', () => {
  it('writes one row per pool with the same numbers as the pools report', async () => {
    expect(await core.ipam.snapshotUsage(admin)).toBe(4)
    const rows = await snapshotRows()
    for (const name of ['lan', 'p2p', 'v6', 'empty']) {
      const p = await core.ipam.getPool(admin, name)
      expect(rows[name], name).toMatchObject({ usable: p.utilization.usable, allocated: p.utilization.allocated, reserved: p.utilization.reserved, blocked: p.utilization.blocked })
      expect(Number(rows[name]!.percent), name).toBeCloseTo(p.utilization.percent, 2)
    }
    expect(rows.lan).toMatchObject({ usable: '13', allocated: 10, blocked: 1 })
    expect(rows.p2p!.usable).toBe('2')
  })

  it('a second run the same day updates the row instead of adding one; rows go with their pool', async () => {
    await core.ipam.allocate(admin, { pool: 'empty', count: 3, next: true })
    expect(await core.ipam.snapshotUsage(admin)).toBe(4)
    const n = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ip_pool_usage_daily`)
    expect(n.rows[0]!.n).toBe(4)
    expect((await snapshotRows()).empty).toMatchObject({ allocated: 3 })
    const gone = await core.ipam.createPool(admin, { name: 'gone', network: '10.50.9.0/24' })
    await core.ipam.snapshotUsage(admin)
    await core.ipam.deletePool(admin, gone.id, { force: true })
    expect(await snapshotRows()).not.toHaveProperty('gone')
  })

  it('a viewer may take it (the server function derives every number), but may not write the table itself', async () => {
    expect(await core.ipam.snapshotUsage(ctxAs('viewer'))).toBe(4)
  })
})

describe('history', () => {
  it('per pool, with its thresholds, and for every pool together', async () => {
    // Yesterday's row, as the app would have written it then.
    await core.db.knex.raw(
      `insert into ip_pool_usage_daily (pool_id, day, usable, allocated, reserved, blocked, percent)
       select id, current_date - 1, 13, 2, 0, 0, 15.38 from ip_pools where name = 'lan'`
    )
    const h = await core.ipam.usageHistory(admin, { pool: 'lan', days: 7 })
    expect(h.pool?.name).toBe('lan')
    expect(h.thresholds).toEqual({ warnPercent: 80, criticalPercent: 95, custom: false })
    expect(h.points.map((p) => p.percent)).toEqual([15.38, 84.61]) // truncated to two decimals, as the pools report it
    expect(h.points[1]).toMatchObject({ used: 11, usable: '13' })
    const all = await core.ipam.usageHistory(admin, { days: 7 })
    expect(all.pool).toBeNull()
    expect(all.points).toHaveLength(2)
    expect(all.points[1]!.used).toBe(11 + 1 + 1 + 3)
    await expect(core.ipam.usageHistory(admin, { pool: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(core.ipam.usageHistory(admin, { days: 1000 })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'days' } })
  })
})

describe('thresholds and levels', () => {
  it('are set by an admin, checked, and audited with before and after', async () => {
    await expect(core.ipam.setThresholds(ctxAs('operator'), { pool: 'lan', warnPercent: 50, criticalPercent: 90 })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(core.ipam.setThresholds(admin, { pool: 'lan', warnPercent: 95, criticalPercent: 90 })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'warnPercent' } })
    await expect(core.ipam.setThresholds(admin, { pool: 'lan', warnPercent: 0, criticalPercent: 90 })).rejects.toMatchObject({ code: 'VALIDATION' })
    const seq = await lastSeq(core)
    expect(await core.ipam.setThresholds(admin, { pool: 'lan', warnPercent: 50, criticalPercent: 90 })).toEqual({ warnPercent: 50, criticalPercent: 90, custom: true })
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'update', resource_type: 'ip_pool', resource_name: 'lan', status: 'success' })
    expect(rows[0]!.details).toMatchObject({ before: { thresholds: { warnPercent: 80, criticalPercent: 95 } }, after: { thresholds: { warnPercent: 50, criticalPercent: 90 } } })
    expect((await core.ipam.usageHistory(admin, { pool: 'lan' })).thresholds.custom).toBe(true)
  })

  it('levels: the pools over their thresholds; the alert memory reports each crossing once', async () => {
    const levels = await core.ipam.poolLevels(admin)
    const lan = levels.find((l) => l.pool === 'lan')!
    expect(lan).toMatchObject({ percent: 84.61, level: 'warn' })
    expect(levels.find((l) => l.pool === 'p2p')).toMatchObject({ percent: 50, level: 'ok' })
    const state = UsageAlertState.inDataDir(dataDir)
    expect(state.update(levels).crossed.map((l) => l.pool)).toEqual(['lan'])
    expect(state.update(await core.ipam.poolLevels(admin)).crossed).toEqual([])
    expect((fs.statSync(`${dataDir}/usage-alerts.json`).mode & 0o777).toString(8)).toBe('600')
    // Up a level: once more.
    await core.ipam.allocate(admin, { pool: 'lan', ip: '10.50.0.13' })
    const up = state.update(await core.ipam.poolLevels(admin))
    expect(up.crossed).toEqual([expect.objectContaining({ pool: 'lan', level: 'critical' })])
    expect(up.over.map((l) => l.pool)).toContain('lan')
    // Down below the warning and back up: notified again.
    // 12 of 13 in use: down to 6 (46 %, under the pool's 50 % warning).
    for (const ip of ['10.50.0.13', '10.50.0.11', '10.50.0.10', '10.50.0.9', '10.50.0.8', '10.50.0.7']) await core.ipam.release(admin, ip)
    expect(state.update(await core.ipam.poolLevels(admin)).over.map((l) => l.pool)).not.toContain('lan')
    await core.ipam.allocate(admin, { pool: 'lan', count: 2, next: true })
    expect(state.update(await core.ipam.poolLevels(admin)).crossed.map((l) => [l.pool, l.level])).toEqual([['lan', 'warn']])
  })
})

describe('the CLI', () => {
  const env = (): NodeJS.ProcessEnv => ({ NETKEEPER_DATABASE_URL: url, NETKEEPER_DATA_DIR: dataDir })

  it('snapshot, show, thresholds and over', async () => {
    const snap = await cli(['--json', 'ipam', 'usage', 'snapshot'], env())
    expect(snap.code, snap.stderr).toBe(0)
    expect(JSON.parse(snap.stdout)).toEqual({ pools: 4 })
    const show = await cli(['ipam', 'usage', 'show', 'lan', '--days', '7'], env())
    expect(show.code, show.stderr).toBe(0)
    expect(show.stdout).toMatch(/pool lan: warn at 50%, critical at 90%/)
    expect(show.stdout).toMatch(/\d{4}-\d{2}-\d{2}\s+\d+\s+13\s+\d+\.\d{2}%/)
    const set = await cli(['ipam', 'usage', 'thresholds', 'p2p', '--warn', '40', '--critical', '60'], env())
    expect(set.code, set.stderr).toBe(0)
    expect(set.stdout).toContain('pool p2p: warn at 40%, critical at 60%')
    const over = await cli(['--json', 'ipam', 'usage', 'over'], env())
    expect(over.code, over.stderr).toBe(0)
    expect((JSON.parse(over.stdout) as { pool: string; level: string }[]).map((l) => [l.pool, l.level])).toEqual(expect.arrayContaining([['p2p', 'warn']]))
    const bad = await cli(['ipam', 'usage', 'thresholds', 'p2p', '--warn', 'lots', '--critical', '60'], env())
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--warn must be a number')
  })
})

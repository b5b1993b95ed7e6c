/**
 * Past one database server (docs/postgresql-setup.md#failover): a primary and a streaming standby on
 * loopback (tests/support/standby.ts, pg_basebackup -R). A connection listing both hosts is on the primary
 * and reads the audit log from the standby; a connection to the standby alone refuses an edit clearly.
 * Then allocations run through the app's handler table while the primary is stopped and the standby
 * promoted: afterwards every allocation exists exactly once, the audit chain verifies, and the app (the same
 * Core, not restarted) and a CLI run are on the new primary.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { createHandlers, dispatch, offlineRuntime, type HandlerTable } from '../../src/main/ipc/handlers'
import type { ArgsOf, Channel, ResultOf } from '../../src/shared/contract'
import { isQueued } from '../../src/shared/offline'
import { startReplicatedPair, type ReplicatedPair } from '../support/standby'
import { until } from '../support/until'
import { cli } from '../support/cli'

let pair: ReplicatedPair
let core: Core
const dataDirs: string[] = []
const ui = makeContext({ actor: 'olga', roles: ['admin'], source: 'ui' })
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-failover-'))
  dataDirs.push(d)
  return d
}
let both: string
const env = (dataDir: string): NodeJS.ProcessEnv => ({ NETKEEPER_DATA_DIR: dataDir, NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS: '3000' })

async function call<C extends Channel>(table: HandlerTable, channel: C, args: ArgsOf<C>): Promise<ResultOf<C>> {
  const r = await dispatch(table, channel, args, makeContext({ actor: 'olga', roles: ['admin'], source: 'ui' }))
  if (!r.ok) throw Object.assign(new Error(`${r.error.code}: ${r.error.message}`), { payload: r.error })
  return r.value
}

beforeAll(async () => {
  // Edits wait at most 3 s for a primary before they are queued (the desktop default is 10 s).
  process.env.NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS = '3000'
  pair = await startReplicatedPair(['failover'])
  both = pair.bothUrl('failover', `sslmode=disable&standby=127.0.0.1:${pair.standbyPort}`)
  core = await Core.open({ databaseUrl: both, dataDir: tmp(), migrate: true })
}, 120_000)

afterAll(async () => {
  delete process.env.NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS
  await core?.close()
  await pair?.stop()
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true })
})

describe('a connection with a primary and a standby', () => {
  it('is on the primary, reads the audit log from the standby once replayed, and a standby alone refuses edits', async () => {
    const primary = `127.0.0.1:${pair.primary.port}`
    const standby = `127.0.0.1:${pair.standbyPort}`
    const h = await core.db.health()
    expect(h).toMatchObject({ reachable: true, host: primary, failover: { host: primary, reconnecting: false, hosts: [primary, standby] } })
    // The primary is first in the list: like libpq, the hosts after it are not asked.
    expect(h.hostsSkipped).toBeUndefined()
    // Every pooled connection is on the primary; the heavy reads' pool is on the standby.
    expect((await core.db.knex.raw<{ rows: { r: boolean }[] }>('select pg_is_in_recovery() as r')).rows[0]!.r).toBe(false)
    expect((await core.db.reads().raw<{ rows: { r: boolean }[] }>('select pg_is_in_recovery() as r')).rows[0]!.r).toBe(true)

    await core.ipam.createPool(ui, { name: 'fo-lan', network: '10.77.0.0/22', gateway: '10.77.0.1' })
    const [a] = await core.ipam.allocate(ui, { pool: 'fo-lan', next: true, hostname: 'before-failover' })
    await pair.caughtUp()
    const page = await core.audit.list(ui, { limit: 5 })
    expect(page.items.map((r) => r.resourceName)).toContain(a!.ip)
    const replica = (await core.db.health()).replica
    expect(replica).toMatchObject({ host: standby, reachable: true, inUse: true })
    expect(typeof replica!.bytesBehind).toBe('number')
    expect(replica!.lagSeconds === null || typeof replica!.lagSeconds === 'number').toBe(true)

    // The standby alone: reads work, an edit is refused by the server and said so.
    const ro = await Core.open({ databaseUrl: `${pair.standbyUrl('failover')}?sslmode=disable`, dataDir: tmp(), migrate: true })
    try {
      expect((await ro.ipam.listPools(ui, {})).items.map((p) => p.name)).toContain('fo-lan')
      const refused = await ro.ipam.allocate(ui, { pool: 'fo-lan', next: true, hostname: 'on-the-standby' }).catch((e) => e)
      expect(refused).toMatchObject({ code: 'UNAVAILABLE', details: { reason: 'read-only', sqlstate: '25006' } })
      expect(refused.message).toMatch(/^the database server is read-only( \(.*\))?: it is a standby \(in recovery\), so edits are refused there/)
    } finally {
      await ro.close()
    }
    const viaCli = await cli(['--database-url', `${pair.standbyUrl('failover')}?sslmode=disable`, '--no-queue', 'ip', 'allocate', '--pool', 'fo-lan', '--next', '--hostname', 'cli-on-standby'], env(tmp()))
    expect(viaCli.code).not.toBe(0)
    expect(viaCli.stderr).toContain('the database server is read-only')
  }, 60_000)

  it('follows a promotion with allocations in flight: each exactly once, the chain intact, app and CLI on the new primary', async () => {
    const standby = `127.0.0.1:${pair.standbyPort}`
    const rt = offlineRuntime(core, { monitor: { minDelayMs: 200, maxDelayMs: 500, onlineIntervalMs: 0 }, snapshotEveryMs: 0 })
    const table = createHandlers(core)
    rt.start()
    const outcomes = { done: 0, queued: 0, alreadyApplied: 0, failed: [] as string[] }
    const workers = 4
    const each = 10
    let started = 0
    const worker = async (w: number): Promise<void> => {
      for (let j = 0; j < each; j++) {
        started++
        try {
          const r = await call(table, 'ipam:allocate', { pool: 'fo-lan', next: true, hostname: `w${w}-${j}` })
          if (isQueued(r)) outcomes.queued++
          else outcomes.done++
        } catch (e) {
          const p = (e as { payload?: { details?: { reason?: string } } }).payload
          if (p?.details?.reason === 'already-applied') outcomes.alreadyApplied++
          else outcomes.failed.push((e as Error).message)
        }
        await new Promise((r) => setTimeout(r, 40))
      }
    }
    try {
      const running = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)))
      await until('a few allocations in flight', async () => (started >= 8 ? true : undefined))
      pair.stopPrimary()
      // No host accepts writes now: the CLI says so, naming both.
      const none = await cli(['--database-url', both, '--no-queue', 'pool', 'list'], env(tmp()))
      expect(none.code).not.toBe(0)
      expect(none.stderr).toMatch(/no host accepts writes \(127\.0\.0\.1:\d+: .*ECONNREFUSED.*; 127\.0\.0\.1:\d+: read-only standby \(in recovery\)\)/)
      const promotedAt = Date.now()
      pair.promote()
      await running
      // The queued ones replay on their own once the new primary answers.
      await until(
        'the queue replayed',
        async () => {
          const s = await call(table, 'offline:state', {})
          return s.queue.queued === 0 && !s.replaying && s.database.online ? s : undefined
        },
        30_000
      )
      expect(outcomes.failed).toEqual([])
      expect(outcomes.done + outcomes.queued + outcomes.alreadyApplied).toBe(workers * each)
      const rows = (
        await core.db.knex.raw<{ rows: { hostname: string; n: number }[] }>(
          `select hostname, count(*)::int as n from ip_allocations where hostname ~ '^w[0-9]+-[0-9]+$' group by hostname order by hostname`
        )
      ).rows
      expect(rows).toHaveLength(workers * each)
      expect(rows.filter((r) => r.n !== 1)).toEqual([])
      expect((await core.audit.verify(ui)).ok).toBe(true)

      // The same Core, not restarted, is on the new primary; so is a CLI run.
      const h = await core.db.health()
      expect(h).toMatchObject({ reachable: true, host: standby, failover: { host: standby, reconnecting: false } })
      expect(h.failover!.switches).toBeGreaterThanOrEqual(1)
      const [after] = await core.ipam.allocate(ui, { pool: 'fo-lan', next: true, hostname: 'after-failover' })
      expect(after!.hostname).toBe('after-failover')
      const out = await cli(['--database-url', both, '--json', 'ip', 'allocate', '--pool', 'fo-lan', '--next', '--hostname', 'cli-after'], env(tmp()))
      expect(out.code, out.stderr).toBe(0)
      const health = await cli(['--database-url', both, '--json', 'db', 'health'], env(tmp()))
      expect(health.json()).toMatchObject({ reachable: true, host: standby })
      console.info(`[failover] ${outcomes.done} done, ${outcomes.queued} queued and replayed, ${outcomes.alreadyApplied} found applied; back ${((Date.now() - promotedAt) / 1000).toFixed(1)} s after the promotion`)
    } finally {
      await rt.close()
    }
  }, 120_000)
})

/**
 * The app's side of offline work (docs/offline.md): through the same handler table and dispatch the
 * Electron IPC and the browser harness serve, against a PostgreSQL server of this file's own that the test
 * stops and starts (pg_ctl). Edits queue instead of failing, reads fall back on the last-known snapshot
 * marked stale, the health monitor notices the server's return and replays by itself; an app that starts
 * while the server is down (degraded) queues too and replays once it opens.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { createHandlers, dispatch, offlineRuntime, type HandlerTable } from '../../src/main/ipc/handlers'
import { CoreHost } from '../../src/main/ipc/degraded'
import type { Channel, ArgsOf, ResultOf } from '../../src/shared/contract'
import { isQueued, type QueuedEdit } from '../../src/shared/offline'
import type { AllocationDto, PoolDto } from '../../src/shared/ipam'
import { startPostgres, type PgServer } from '../support/postgres'
import { auditRows, lastSeq } from '../support/core'
import { until } from '../support/until'
import { cli } from '../support/cli'

let srv: PgServer
let url: string
let dataDir: string
const ui = makeContext({ actor: 'olga', roles: ['admin'], source: 'ui' })

async function call<C extends Channel>(table: HandlerTable, channel: C, args: ArgsOf<C>): Promise<ResultOf<C>> {
  const r = await dispatch(table, channel, args, ui)
  if (!r.ok) throw Object.assign(new Error(`${r.error.code}: ${r.error.message}`), { payload: r.error })
  return r.value
}

/**
 * Stops the server. pg_ctl runs synchronously, so the pool's idle connections only hear of it once the event
 * loop turns: let it, as it would in the app between a server going away and the next click.
 */
async function stopServer(): Promise<void> {
  srv.pause!()
  await new Promise((r) => setTimeout(r, 250))
}

beforeAll(async () => {
  // Fail fast on a stopped server instead of waiting out the desktop default of 10 s per edit.
  process.env.NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS = '1500'
  srv = await startPostgres()
  url = await srv.createDatabase('offline_app')
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-offline-app-'))
})

afterAll(async () => {
  delete process.env.NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS
  await srv?.stop()
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
})

describe('the app while the database is unreachable', () => {
  it('queues IPAM edits, shows stale reads, and replays by itself when the server is back', async () => {
    const core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
    const rt = offlineRuntime(core, { monitor: { minDelayMs: 200, maxDelayMs: 500, onlineIntervalMs: 0 }, snapshotEveryMs: 0 })
    const table = createHandlers(core)
    // As the app's host does: probe, replay at start (nothing queued yet), keep the snapshot.
    rt.start()
    try {
      const pool = (await call(table, 'ipam:pool:create', { name: 'app-lan', network: '10.8.0.0/24', gateway: '10.8.0.1' })) as PoolDto
      const [printer] = (await call(table, 'ipam:allocate', { pool: 'app-lan', ip: '10.8.0.10', hostname: 'printer' })) as AllocationDto[]
      expect(printer!.version).toBe(1)
      await rt.refresh()
      const seq = await lastSeq(core)

      await stopServer()
      // The next-free edit and an update of a known address: both queued, not done, and they say so.
      const next = await call(table, 'ipam:allocate', { pool: 'app-lan', next: true, hostname: 'laptop-7' })
      expect(isQueued(next)).toBe(true)
      const q1 = next as QueuedEdit
      expect(q1.message).toMatch(/^Queued as #\d+, not done yet: allocate the next free address in pool app-lan; it will take whatever address is free at replay\. The database is unreachable \(.+\); the edit is applied when it is back\.$/)
      expect(q1.entry.note).toContain('whatever address is free at replay')
      expect(rt.monitor.online).toBe(false)

      const upd = await call(table, 'ipam:allocation:update', { ip: '10.8.0.10', version: printer!.version, hostname: 'printer-2f' })
      expect(isQueued(upd) && upd.entry.basedOn).toEqual({ version: 1, from: 'caller' })
      const state = await call(table, 'offline:state', {})
      expect(state.database.online).toBe(false)
      expect(state.queue.queued).toBe(2)

      // Reads: the last-known data, marked stale, with the same shapes the screens draw.
      const list = await call(table, 'ipam:pool:list', { search: 'app' })
      expect(list.stale?.reason).toContain('unreachable')
      expect(list.items.map((p) => p.name)).toEqual(['app-lan'])
      const map = await call(table, 'ipam:pool:map', { pool: pool.id })
      expect(map.stale?.asOf).toBe(state.snapshotAt)
      expect(map.kind === 'cells' && map.counts).toMatchObject({ allocated: 1, gateway: 1, network: 2 })
      const got = await call(table, 'ipam:allocation:get', { ip: '10.8.0.10' })
      expect(got).toMatchObject({ hostname: 'printer', stale: { asOf: state.snapshotAt } })
      await expect(call(table, 'ipam:pool:get', { pool: 'no-such-pool' })).rejects.toThrow(/NOT_FOUND: pool: no pool "no-such-pool" in the last-known data/)
      // The CLI reads the same snapshot: marked stale in JSON, and said first in text.
      const env = { NETKEEPER_DATA_DIR: dataDir, NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS: '1500' }
      const listed = await cli(['--database-url', url, '--json', 'pool', 'list', '--search', 'app'], env)
      expect(listed.code, listed.stderr).toBe(0)
      expect(listed.json()).toMatchObject({ items: [{ name: 'app-lan' }], stale: { asOf: state.snapshotAt } })
      const shown = await cli(['--database-url', url, 'pool', 'show', 'app-lan'], env)
      expect(shown.code, shown.stderr).toBe(0)
      expect(shown.stderr).toContain(`Last-known data from ${state.snapshotAt}`)
      expect(shown.stdout).toContain('printer')
      // A read with no snapshot behind it keeps the unreachable error.
      await expect(call(table, 'audit:list', { limit: 5 })).rejects.toThrow(/UNAVAILABLE/)

      // The server comes back: the running monitor notices and the queue replays on its own.
      srv.resume!()
      const after = await until('the automatic replay', async () => {
        const s = await call(table, 'offline:state', {})
        return s.lastReplay && s.queue.queued === 0 ? s : undefined
      })
      expect(after.database.online).toBe(true)
      expect(after.lastReplay).toMatchObject({ applied: 2, conflicts: 0, trigger: 'reconnect' })
      const printerNow = await core.ipam.getAllocation(ui, '10.8.0.10')
      expect(printerNow).toMatchObject({ hostname: 'printer-2f', version: 2 })
      const laptop = await core.ipam.search(ui, { query: 'laptop-7' })
      expect(laptop.items.map((a) => a.ip)).toEqual(['10.8.0.2'])
      const rows = (await auditRows(core, seq)).filter((r) => r.resource_type === 'ip_allocation')
      expect(rows.map((r) => [r.action, r.source, r.user_id, r.status])).toEqual([
        ['create', 'replay', 'olga', 'success'],
        ['update', 'replay', 'olga', 'success']
      ])
      expect(rows[0]!.details.context).toMatchObject({ queuedAt: q1.entry.createdAt, idempotencyKey: q1.entry.idempotencyKey })
      // Fresh reads are not stale again.
      expect((await call(table, 'ipam:pool:list', { search: 'app' })).stale).toBeUndefined()
    } finally {
      await rt.close()
      await core.close()
    }
  })

  it('does not queue an edit whose connection dropped mid-command: it may have landed', async () => {
    const core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
    const table = createHandlers(core)
    try {
      const before = await call(table, 'offline:state', {})
      core.ipam.allocate = async () => {
        throw Object.assign(new Error('Connection terminated unexpectedly'), {})
      }
      const r = await dispatch(table, 'ipam:allocate', { pool: 'app-lan', next: true }, ui)
      expect(r.ok).toBe(false)
      expect(!r.ok && r.error).toMatchObject({ code: 'UNAVAILABLE' })
      expect(!r.ok && r.error.message).toContain('may or may not have been applied')
      expect((await call(table, 'offline:state', {})).queue).toEqual(before.queue)
    } finally {
      await offlineRuntime(core).close()
      await core.close()
    }
  })

  it('an app started while the server is down queues edits, shows stale data, and replays once it opens', async () => {
    await stopServer()
    const host = CoreHost.start({ databaseUrl: url, dataDir, migrate: true })
    try {
      const degraded = await host.handlers()
      expect(host.failure?.message).toMatch(/unreachable/)
      const rel = await call(degraded, 'ipam:release', { ip: '10.8.0.10', version: 2 })
      expect(isQueued(rel)).toBe(true)
      const list = await call(degraded, 'ipam:pool:list', {})
      expect(list.stale).toBeDefined()
      expect(list.items.some((p) => p.name === 'app-lan')).toBe(true)
      expect((await call(degraded, 'offline:state', {})).queue.queued).toBe(1)

      srv.resume!()
      // "Check connection" (the health poll) reopens the core; its runtime replays what was queued.
      const report = await until('the core to open', async () => {
        const h = await call(await host.handlers(), 'db:health', {})
        return h.reachable ? h : undefined
      })
      expect(report.reachable).toBe(true)
      const live = await host.handlers()
      const s = await until('the start-up replay', async () => {
        const x = await call(live, 'offline:state', {})
        return x.lastReplay ? x : undefined
      })
      expect(s.lastReplay).toMatchObject({ applied: 1, trigger: 'startup' })
      await expect(call(live, 'ipam:allocation:get', { ip: '10.8.0.10' })).rejects.toThrow(/NOT_FOUND/)
    } finally {
      await host.close()
    }
  })
})

/**
 * Offline-queued edits (docs/offline.md) against a PostgreSQL server of this file's own, which the test
 * stops and starts (pg_ctl stop/start): the shared server of the run is never stopped, other files use it.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import type { AllocateInput } from '../../src/shared/ipam'
import { OfflineQueue } from '../../src/main/core/offline/queue'
import { refreshSnapshot, replayQueue } from '../../src/main/core/offline/replay'
import { HealthMonitor } from '../../src/main/core/offline/health'
import { describeTarget, resolveConnection } from '../../src/main/core/db/target'
import { createHandlers, dispatch, offlineHandlers, type HandlerTable } from '../../src/main/ipc/handlers'
import { startPostgres, type PgServer } from '../support/postgres'
import { cli } from '../support/cli'
import { auditRows, ctxAs, lastSeq } from '../support/core'

const root = path.resolve(import.meta.dirname, '..', '..')
let srv: PgServer
let url: string
let dataDir: string
let target: string
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')

const open = (): Promise<Core> => Core.open({ databaseUrl: url, dataDir, migrate: true })
async function withCore<T>(fn: (core: Core) => Promise<T>): Promise<T> {
  const core = await open()
  try {
    return await fn(core)
  } finally {
    await core.close()
  }
}
async function withQueue<T>(fn: (q: OfflineQueue) => Promise<T> | T): Promise<T> {
  const q = OfflineQueue.open(dataDir)
  try {
    return await fn(q)
  } finally {
    q.close()
  }
}
const env = (): NodeJS.ProcessEnv => ({ NETKEEPER_DATA_DIR: dataDir, NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS: '1500' })

beforeAll(async () => {
  srv = await startPostgres()
  url = await srv.createDatabase('offline')
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-offline-'))
  target = describeTarget(await resolveConnection({ databaseUrl: url, dataDir })).label
  await withCore(async (core) => {
    await core.ipam.createPool(admin, { name: 'lan', network: '10.9.0.0/24', gateway: '10.9.0.1' })
    await core.ipam.allocate(op, { pool: 'lan', ip: '10.9.0.10', hostname: 'printer' })
    await withQueue((q) => refreshSnapshot(core, q))
  })
})

afterAll(async () => {
  await srv?.stop()
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
})

describe('offline queue', () => {
  it('queues CLI and core edits while the server is stopped, replays each once with its audit row', async () => {
    const monitor = new HealthMonitor({ probe: async () => void (await withCore(async (c) => c.db.knex.raw('select 1'))), minDelayMs: 100, maxDelayMs: 400, onlineIntervalMs: 0 })
    expect(await monitor.check()).toBe(true)
    const seq = await withCore((c) => lastSeq(c))

    srv.pause!()
    expect(await monitor.check()).toBe(false)
    expect(monitor.state()).toMatchObject({ online: false, failures: 1 })

    const queued = await cli(['--database-url', url, '--json', 'ip', 'allocate', '--pool', 'lan', '--next', '--hostname', 'laptop-1'], env())
    expect(queued.code, queued.stderr).toBe(0)
    expect(queued.json()).toMatchObject({ status: 'queued', operation: 'ipam.allocate', target })
    expect(queued.json().note).toContain('whatever address is free at replay')

    const text = await cli(['--database-url', url, 'ip', 'reserve', '--pool', 'lan', '--ip', '10.9.0.20', '--hostname', 'spare'], env())
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain('queued, not done')

    const refused = await cli(['--database-url', url, '--json', '--no-queue', 'ip', 'allocate', '--pool', 'lan', '--next'], env())
    expect(refused.code).toBe(1)
    expect(refused.json().error.code).toBe('UNAVAILABLE')

    // Made through the core while offline: the version comes from the last-known snapshot.
    const upd = await withQueue((q) => q.enqueue(op, { operation: 'ipam.update', args: { ip: '10.9.0.10', owner: 'ops' } }, target))
    expect(upd.basedOn).toMatchObject({ version: 1, from: 'snapshot' })
    // ...and a second edit of the same address, made knowing the first: rebased, not a conflict.
    await withQueue((q) => q.enqueue(op, { operation: 'ipam.update', args: { ip: '10.9.0.10', purpose: 'printing' } }, target))

    const list = await cli(['--json', 'queue', 'list', '--state', 'queued'], env())
    expect(list.code, list.stderr).toBe(0)
    expect(list.json().items).toHaveLength(4)
    // Reads while offline come from the snapshot, marked stale.
    expect(await withQueue((q) => q.snapshot(target).pools())).toMatchObject({ stale: true, data: [{ name: 'lan' }] })

    srv.resume!()
    expect(await monitor.check()).toBe(true)

    const replay = await cli(['--database-url', url, '--json', 'queue', 'replay'], env())
    expect(replay.code, replay.stderr).toBe(0)
    expect(replay.json()).toMatchObject({ applied: 4, conflicts: 0, alreadyApplied: 0, stopped: null, remaining: 0 })

    await withCore(async (core) => {
      const lan = await core.ipam.listAllocations(admin, 'lan')
      expect(lan.items.map((a) => [a.ip, a.status, a.hostname])).toEqual([
        ['10.9.0.2', 'allocated', 'laptop-1'],
        ['10.9.0.10', 'allocated', 'printer'],
        ['10.9.0.20', 'reserved', 'spare']
      ])
      expect(await core.ipam.getAllocation(admin, '10.9.0.10')).toMatchObject({ owner: 'ops', purpose: 'printing', version: 3 })
      const rows = await auditRows(core, seq)
      expect(rows.map((r) => [r.action, r.resource_name, r.source, r.status])).toEqual([
        ['create', '10.9.0.2', 'replay', 'success'],
        ['create', '10.9.0.20', 'replay', 'success'],
        ['update', '10.9.0.10', 'replay', 'success'],
        ['update', '10.9.0.10', 'replay', 'success']
      ])
      const entries = await withQueue((q) => q.list())
      const applied = entries.filter((e) => e.state === 'applied')
      expect(applied).toHaveLength(4)
      for (const [i, r] of rows.entries()) {
        const e = applied[i]!
        expect(r.request_id).toBe(e.idempotencyKey)
        expect(r.details.context).toMatchObject({ idempotencyKey: e.idempotencyKey, queuedAt: e.createdAt })
        expect(Date.parse(String(r.details.context!.replayedAt))).toBeGreaterThan(Date.parse(e.createdAt))
      }
      const keys = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from offline_applied`)
      expect(keys.rows[0]!.n).toBe(4)
    })
    // A second replay has nothing to do.
    const again = await cli(['--database-url', url, '--json', 'queue', 'replay'], env())
    expect(again.json()).toMatchObject({ applied: 0, alreadyApplied: 0 })
  })

  it('surfaces conflicts with both sides and never overwrites; retry, re-target and discard', async () => {
    await withCore(async (core) => {
      await core.ipam.allocate(op, { pool: 'lan', ip: '10.9.0.30', owner: 'web' })
    })
    srv.pause!()
    const stale = await withQueue((q) => q.enqueue(op, { operation: 'ipam.update', args: { ip: '10.9.0.30', owner: 'offline-edit', version: 1 } }, target))
    const taken = await withQueue((q) => q.enqueue(op, { operation: 'ipam.allocate', args: { pool: 'lan', ip: '10.9.0.40', hostname: 'mine' } }, target))
    const released = await withQueue((q) => q.enqueue(op, { operation: 'ipam.release', args: { ip: '10.9.0.30', version: 1 } }, target))
    srv.resume!()

    await withCore(async (core) => {
      // Meanwhile, someone else changes .30 and takes .40.
      await core.ipam.updateAllocation(admin, { ip: '10.9.0.30', owner: 'someone-else' })
      await core.ipam.allocate(admin, { pool: 'lan', ip: '10.9.0.40', hostname: 'theirs' })
      const r = await withQueue((q) => replayQueue(core, q))
      expect(r).toMatchObject({ applied: 0, conflicts: 3 })
      // Nothing overwritten.
      expect(await core.ipam.getAllocation(admin, '10.9.0.30')).toMatchObject({ owner: 'someone-else', version: 2 })
      expect(await core.ipam.getAllocation(admin, '10.9.0.40')).toMatchObject({ hostname: 'theirs' })
    })

    const conflicts = await cli(['--json', 'queue', 'conflicts'], env())
    expect(conflicts.code, conflicts.stderr).toBe(0)
    const items = conflicts.json().items as { id: number; conflict: { code: string; field: string; queued: Record<string, unknown>; server: Record<string, unknown> } }[]
    expect(items.map((i) => i.id)).toEqual([stale.id, taken.id, released.id])
    expect(items[0]!.conflict).toMatchObject({ code: 'CONFLICT', field: 'version', queued: { owner: 'offline-edit', version: 1 }, server: { owner: 'someone-else', version: 2 } })
    expect(items[1]!.conflict).toMatchObject({ code: 'CONFLICT', field: 'ip', queued: { ip: '10.9.0.40' }, server: { hostname: 'theirs' } })
    const text = await cli(['queue', 'conflicts'], env())
    expect(text.stdout).toContain('someone-else')

    // Re-target the update onto the server's version, move the allocation to another address, discard the release.
    expect((await cli(['queue', 'retry', String(stale.id), '--if-version', '2'], env())).code).toBe(0)
    expect((await cli(['queue', 'retry', String(taken.id), '--ip', '10.9.0.41'], env())).code).toBe(0)
    const cancel = await cli(['--json', 'queue', 'cancel', String(released.id), '--yes'], env())
    expect(cancel.json()).toMatchObject({ state: 'cancelled' })

    await withCore(async (core) => {
      const r = await withQueue((q) => replayQueue(core, q))
      expect(r).toMatchObject({ applied: 2, conflicts: 0 })
      expect(await core.ipam.getAllocation(admin, '10.9.0.30')).toMatchObject({ owner: 'offline-edit', version: 3 })
      expect(await core.ipam.getAllocation(admin, '10.9.0.41')).toMatchObject({ hostname: 'mine' })
      const audit = await core.audit.list(admin, { resource: '10.9.0.30', limit: 50 })
      // The refused replay attempt is on record as a failure; the release was never applied.
      expect(audit.items.some((a) => a.source === 'replay' && a.status === 'failure')).toBe(true)
      expect(audit.items.some((a) => a.action === 'delete' && a.status === 'success')).toBe(false)
    })
  })

  it('replays queued next-free allocations in runs, in queue order; a run stops at an entry that needs the general path or is refused', async () => {
    await withCore(async (core) => {
      await core.ipam.createPool(admin, { name: 'run-a', network: '10.6.0.0/24' })
      await core.ipam.createPool(admin, { name: 'run-b', network: '10.6.1.0/29' })
      await core.ipam.createPool(admin, { name: 'run-off', network: '10.6.2.0/29', isActive: false })
      // A lapsed hold in run-b: next-free there takes the general path (it reuses the hold).
      await core.ipam.allocate(op, { pool: 'run-b', ip: '10.6.1.1', status: 'reserved', until: new Date(Date.now() + 3600_000).toISOString(), owner: 'bob' })
      await core.db.knex.raw(`update ip_allocations set reserved_until = now() - interval '1 minute' where ip_address = '10.6.1.1'`)
    })
    // Text that a run carries as SQL literals (a run is one multi-statement query without bind parameters).
    const odd = `it's a \\path? "quoted" ?? $1 \\'; select 1; --`
    const args: AllocateInput[] = [
      { pool: 'run-a', next: true, hostname: 'a-1' },
      { pool: 'run-a', next: true, hostname: 'a-2', description: odd },
      { pool: 'run-b', next: true, hostname: 'b-1' },
      { pool: 'run-a', next: true, hostname: 'a-3' },
      { pool: 'run-off', next: true, hostname: 'off-1' },
      { pool: 'run-a', next: true, hostname: 'a-4', owner: odd },
      { pool: 'run-a', next: true, count: 2, hostname: 'a-5' }
    ]
    const entries = await withQueue((q) => args.map((a) => q.enqueue(op, { operation: 'ipam.allocate', args: a }, target)))
    await withCore(async (core) => {
      const seq = await lastSeq(core)
      const r = await withQueue((q) => replayQueue(core, q, { refreshSnapshot: false }))
      expect(r).toMatchObject({ applied: 6, conflicts: 1, alreadyApplied: 0, stopped: null, remaining: 0 })
      const a = await core.ipam.listAllocations(admin, 'run-a')
      expect(a.items.map((x) => [x.ip, x.hostname])).toEqual([
        ['10.6.0.1', 'a-1'],
        ['10.6.0.2', 'a-2'],
        ['10.6.0.3', 'a-3'],
        ['10.6.0.4', 'a-4'],
        ['10.6.0.5', 'a-5'],
        ['10.6.0.6', 'a-5']
      ])
      expect(await core.ipam.getAllocation(admin, '10.6.0.2')).toMatchObject({ description: odd })
      expect(await core.ipam.getAllocation(admin, '10.6.0.4')).toMatchObject({ owner: odd })
      expect(await core.ipam.getAllocation(admin, '10.6.1.1')).toMatchObject({ hostname: 'b-1', owner: null, version: 2 })
      // Audit rows in queue order, each carrying its edit's key; the refusal is on record as a failure.
      const rows = await auditRows(core, seq)
      const k = entries.map((e) => e.idempotencyKey)
      expect(rows.map((x) => [x.request_id, x.status, x.resource_name, x.source])).toEqual([
        [k[0], 'success', '10.6.0.1', 'replay'],
        [k[1], 'success', '10.6.0.2', 'replay'],
        [k[2], 'success', '10.6.1.1', 'replay'],
        [k[3], 'success', '10.6.0.3', 'replay'],
        [k[4], 'failure', null, 'replay'],
        [k[5], 'success', '10.6.0.4', 'replay'],
        [k[6], 'success', '10.6.0.5', 'replay'],
        [k[6], 'success', '10.6.0.6', 'replay']
      ])
      expect(rows[1]!.details.after).toMatchObject({ pool: 'run-a', description: odd })
      expect(rows[1]!.details.context).toMatchObject({ pool: 'run-a', mode: 'next', idempotencyKey: k[1], queuedAt: entries[1]!.createdAt })
      expect((await core.audit.verify(admin)).ok).toBe(true)
      // The result kept in PostgreSQL (written by the SQL function for runs) is the one kept locally.
      const local = await withQueue((q) => q.list({ limit: 10000 }))
      for (const e of entries) {
        const l = local.find((x) => x.id === e.id)!
        if (e === entries[4]) {
          expect(l.state).toBe('conflict')
          continue
        }
        const stored = await core.db.knex.raw<{ rows: { result: unknown }[] }>(`select result from offline_applied where idempotency_key = ?::uuid`, [e.idempotencyKey])
        expect(l.state).toBe('applied')
        expect(stored.rows[0]!.result).toEqual(l.result)
      }
      expect(local.find((x) => x.id === entries[6]!.id)!.result).toMatchObject({
        allocations: [
          { ip: '10.6.0.5', pool: 'run-a', version: 1 },
          { ip: '10.6.0.6', pool: 'run-a', version: 1 }
        ]
      })
    })
  })

  it('replays a queued next-block once, its pools and audit rows committed with the edit\'s key', async () => {
    await withCore(async (core) => {
      await core.ipam.createPool(admin, { name: 'plan-off', network: '10.3.0.0/24' })
      await withQueue((q) => refreshSnapshot(core, q))
    })
    const queued = await withQueue((q) => q.enqueue(admin, { operation: 'ipam.pool.nextBlock', args: { in: 'plan-off', prefixLength: 26, count: 2 } }, target))
    await withCore(async (core) => {
      const seq = await lastSeq(core)
      expect(await withQueue((q) => replayQueue(core, q))).toMatchObject({ applied: 1, conflicts: 0 })
      expect((await core.ipam.listPools(admin, { parent: 'plan-off' })).items.map((p) => p.network)).toEqual(['10.3.0.0/26', '10.3.0.64/26'])
      const rows = await auditRows(core, seq)
      expect(rows.map((x) => [x.action, x.resource_type, x.resource_name, x.status, x.source, x.request_id])).toEqual([
        ['create', 'ip_pool', 'plan-off 10.3.0.0/26', 'success', 'replay', queued.idempotencyKey],
        ['create', 'ip_pool', 'plan-off 10.3.0.64/26', 'success', 'replay', queued.idempotencyKey]
      ])
      expect(rows[0]!.details.context).toMatchObject({ operation: 'next-block', parent: 'plan-off', idempotencyKey: queued.idempotencyKey, queuedAt: queued.createdAt })
      // Replayed once: a second pass finds nothing to do.
      expect(await withQueue((q) => replayQueue(core, q))).toMatchObject({ applied: 0 })
      expect((await core.ipam.listPools(admin, { parent: 'plan-off' })).items).toHaveLength(2)
      expect((await core.audit.verify(admin)).ok).toBe(true)
    })
    expect((await withQueue((q) => q.get(queued.id))).state).toBe('applied')
  })

  it('checks a queued pool edit against the pool as locked in the change transaction: refused if it changed since', async () => {
    await withCore(async (core) => {
      await core.ipam.createPool(admin, { name: 'basis', network: '10.5.0.0/24', site: 'old' })
      await withQueue((q) => refreshSnapshot(core, q))
    })
    const stale = await withQueue((q) => q.enqueue(admin, { operation: 'ipam.pool.update', args: { pool: 'basis', changes: { site: 'mine' } } }, target))
    expect(stale.basedOn.poolUpdatedAt).toBeTruthy()
    await withCore(async (core) => {
      await core.ipam.updatePool(admin, 'basis', { site: 'theirs' })
      const seq = await lastSeq(core)
      const r = await withQueue((q) => replayQueue(core, q))
      expect(r).toMatchObject({ applied: 0, conflicts: 1 })
      expect(await core.ipam.getPool(admin, 'basis')).toMatchObject({ site: 'theirs' })
      // Refused inside the change's transaction, so audited as a refused change of the replay.
      const rows = await auditRows(core, seq)
      expect(rows.map((x) => [x.action, x.resource_type, x.resource_name, x.status, x.source, x.request_id])).toEqual([
        ['update', 'ip_pool', 'basis', 'failure', 'replay', stale.idempotencyKey]
      ])
    })
    expect((await withQueue((q) => q.get(stale.id))).conflict).toMatchObject({ code: 'CONFLICT', field: 'pool', server: { name: 'basis', site: 'theirs' } })
    // Made against the current state (the replay refreshed the snapshot): applied.
    const fresh = await withQueue((q) => q.enqueue(admin, { operation: 'ipam.pool.update', args: { pool: 'basis', changes: { site: 'mine' } } }, target))
    await withCore(async (core) => {
      expect(await withQueue((q) => replayQueue(core, q))).toMatchObject({ applied: 1, conflicts: 0 })
      expect(await core.ipam.getPool(admin, 'basis')).toMatchObject({ site: 'mine' })
    })
    expect((await withQueue((q) => q.get(fresh.id))).state).toBe('applied')
  })

  it('re-stamps a retried or re-targeted edit with the person doing it, and never replays with more than the replaying person\'s role', async () => {
    const ada = ctxAs('admin', 'ada')
    const oscar = ctxAs('operator', 'oscar')
    await withCore(async (core) => {
      await core.ipam.createPool(admin, { name: 'keep-me', network: '10.4.0.0/24' })
      await core.ipam.createPool(admin, { name: 'drop-me', network: '10.4.1.0/24' })
    })
    // Ada (admin) queued the delete of a pool that is not there: a conflict at replay.
    const del = await withQueue((q) => q.enqueue(ada, { operation: 'ipam.pool.delete', args: { pool: 'no-such-pool' } }, target))
    await withCore(async (core) => {
      expect(await withQueue((q) => replayQueue(core, q, { replayer: ada }))).toMatchObject({ conflicts: 1 })
    })
    // Oscar (operator) re-targets Ada's delete at a real pool, through the handler table the app serves.
    const offline = offlineHandlers(dataDir) as HandlerTable
    const retried = await dispatch(offline, 'offline:queue:retry', { id: del.id, args: { pool: 'keep-me' } }, oscar)
    expect(retried).toMatchObject({ ok: true, value: { state: 'queued', actor: 'oscar', roles: ['operator'], args: { pool: 'keep-me' } } })
    // Replayed even by Ada, it is Oscar's edit now and runs with his rights: refused, keep-me stays.
    await withCore(async (core) => {
      const seq = await lastSeq(core)
      expect(await withQueue((q) => replayQueue(core, q, { replayer: ada }))).toMatchObject({ applied: 0, conflicts: 1 })
      expect(await core.ipam.getPool(admin, 'keep-me')).toMatchObject({ name: 'keep-me' })
      const rows = await auditRows(core, seq)
      expect(rows.map((x) => [x.action, x.resource_type, x.status, x.source, x.user_id, x.request_id])).toEqual([['authorize', 'ip_pool', 'failure', 'replay', 'oscar', del.idempotencyKey]])
    })
    expect((await withQueue((q) => q.get(del.id))).conflict).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('deleting a pool needs the admin role; oscar has operator') })

    // Ada re-targets it at drop-me: hers again.
    expect(await dispatch(offline, 'offline:queue:retry', { id: del.id, args: { pool: 'drop-me' } }, ada)).toMatchObject({ ok: true, value: { actor: 'ada', roles: ['admin'] } })
    await withCore(async (core) => {
      const table = createHandlers(core)
      const seq = await lastSeq(core)
      // A replay Oscar asks for does not lend him Ada's rights: her delete waits, untried and unaudited.
      const byOscar = await dispatch(table, 'offline:queue:replay', {}, oscar)
      expect(byOscar).toMatchObject({ ok: true, value: { applied: 0, conflicts: 0, heldForRole: 1, remaining: 1 } })
      expect(await auditRows(core, seq)).toEqual([])
      expect((await withQueue((q) => q.get(del.id))).state).toBe('queued')
      // Ada's replay applies it, under her name.
      expect(await dispatch(table, 'offline:queue:replay', {}, ada)).toMatchObject({ ok: true, value: { applied: 1, heldForRole: 0, remaining: 0 } })
      const rows = await auditRows(core, seq)
      expect(rows.map((x) => [x.action, x.resource_type, x.resource_name, x.status, x.source, x.user_id])).toEqual([['delete', 'ip_pool', 'drop-me', 'success', 'replay', 'ada']])
      await expect(core.ipam.getPool(admin, 'drop-me')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    })
  })

  it('applies every queued edit exactly once although the replayer is killed with SIGKILL 20 times', async () => {
    // Enough entries that 20 short runs never drain the queue, whatever the machine's speed, so every kill
    // lands mid-replay (each run gets at most 40 ms after it starts replaying). 20 child processes take
    // 100-120 s at a load average of 8 on 2 cores and over 150 s at 19: a generous budget, no timing claim.
    const N = 300
    await withCore(async (core) => {
      await core.ipam.createPool(admin, { name: 'crash', network: '10.8.0.0/22' })
    })
    await withQueue((q) => {
      for (let i = 0; i < N; i++) {
        const args = i % 5 === 0 ? { pool: 'crash', ip: `10.8.2.${i / 5 + 1}`, hostname: `explicit-${i}` } : { pool: 'crash', next: true, hostname: `next-${i}` }
        q.enqueue(op, { operation: 'ipam.allocate', args }, target)
      }
    })
    // The replayer is the spawned process itself (node with tsx's loader), not a child of the tsx command, which
    // starts node as a child of its own: SIGKILL cannot be relayed, so the kill would end only the wrapper
    // while the replayer went on, held the replay lock and drained the queue behind the test's back.
    const child = path.join(root, 'tests', 'support', 'offline-replay-child.ts')
    let kills = 0
    for (let round = 0; round < 20; round++) {
      const out = await new Promise<{ killed: boolean; stdout: string }>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', child], { cwd: root, env: { ...process.env, OFFLINE_TEST_URL: url, OFFLINE_TEST_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] })
        let stdout = ''
        let killed = false
        p.stdout.on('data', (d: Buffer) => {
          stdout += d.toString()
          if (stdout.includes('ready') && !killed) {
            killed = true
            // A random point of the replay: before the first entry, between commits, mid-transaction.
            setTimeout(() => p.kill('SIGKILL'), Math.random() * 40)
          }
        })
        p.on('exit', () => resolve({ killed: p.signalCode === 'SIGKILL', stdout }))
      })
      if (out.killed) kills++
    }
    expect(kills).toBeGreaterThanOrEqual(15)
    // Finish the run in this process.
    await withCore(async (core) => {
      const r = await withQueue((q) => replayQueue(core, q, { refreshSnapshot: false }))
      expect(r).toMatchObject({ conflicts: 0, stopped: null, remaining: 0 })
      const n = await core.db.knex.raw<{ rows: { n: number; hosts: number }[] }>(
        `select count(*)::int as n, count(distinct hostname)::int as hosts from ip_allocations a join ip_pools p on p.id = a.pool_id where p.name = 'crash'`
      )
      expect(n.rows[0]).toEqual({ n: N, hosts: N })
      const entries = await withQueue((q) => q.list({ limit: 10000 }))
      const crash = entries.filter((e) => (e.args as { pool?: string }).pool === 'crash')
      expect(crash.every((e) => e.state === 'applied')).toBe(true)
      const keys = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from offline_applied where idempotency_key = any(?::uuid[])`, [crash.map((e) => e.idempotencyKey)])
      expect(keys.rows[0]!.n).toBe(N)
      const audits = await core.db.knex.raw<{ rows: { n: number; keys: number }[] }>(
        `select count(*)::int as n, count(distinct request_id)::int as keys from audit_logs
          where source = 'replay' and status = 'success' and resource_type = 'ip_allocation' and details->'context'->>'pool' = 'crash'`
      )
      expect(audits.rows[0]).toEqual({ n: N, keys: N })
      const verify = await core.audit.verify(admin)
      expect(verify.ok).toBe(true)
    })
  }, 300_000)
})

/**
 * Allocations near the server's limit (ipam/next-free.ts, db/durable.ts): 2 OS processes x 8 workers take
 * next-free addresses from one pool. Callers queued behind an allocation in flight share a transaction; every
 * commit skips its own WAL flush and each caller is answered only after a shared flush covers it. So: no
 * address twice, every answered address there, one audit row each and the chain intact; and after a crash of
 * the server (immediate stop, the WAL writer slowed to 10 s so nothing reaches the disk by luck) every
 * address a caller was told about is still there.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { startPostgres, type PgServer } from '../support/postgres'
import { ctxAs } from '../support/core'

const root = path.resolve(import.meta.dirname, '..', '..')
let srv: PgServer
let url: string
const admin = ctxAs('admin')

const open = (): Promise<Core> => Core.open({ databaseUrl: url, dataDir: '/nonexistent-netkeeper-group-commit', migrate: false })

beforeAll(async () => {
  srv = await startPostgres()
  url = await srv.createDatabase('group_commit')
  const core = await Core.open({ databaseUrl: url, dataDir: '/nonexistent-netkeeper-group-commit', migrate: true })
  try {
    await core.ipam.createPool(admin, { name: 'gc', network: '10.80.0.0/20' })
    await core.ipam.createPool(admin, { name: 'gc-crash', network: '10.81.0.0/20' })
    // The test cluster runs with synchronous_commit off; here sessions commit as a production server's do, so
    // the flush each caller waits for is a real one.
    await core.db.knex.raw(`alter database group_commit set synchronous_commit = on`)
    if (srv.crash) {
      // Commits made without their own flush stay in the WAL buffers until something flushes them.
      await core.db.knex.raw(`alter system set wal_writer_delay = '10s'`)
      await core.db.knex.raw(`select pg_reload_conf()`)
    }
  } finally {
    await core.close()
  }
}, 120_000)
afterAll(async () => {
  await srv?.stop()
})

interface ChildRun {
  ips: string[]
  failures: string[]
  done: Promise<void>
}

/** Starts one allocating process (tests/support/alloc-child.ts). */
function child(name: string, pool: string, perWorker: number): ChildRun {
  const run: ChildRun = { ips: [], failures: [], done: Promise.resolve() }
  const p = spawn(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'tests', 'support', 'alloc-child.ts')], {
    cwd: root,
    env: { ...process.env, ALLOC_URL: url, ALLOC_POOL: pool, ALLOC_WORKERS: '8', ALLOC_PER_WORKER: String(perWorker), ALLOC_NAME: name },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let buf = ''
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString()
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line.startsWith('ip ')) run.ips.push(line.slice(3))
      else if (line.startsWith('fail ')) run.failures.push(line.slice(5))
    }
  })
  run.done = new Promise((resolve) => p.on('exit', () => resolve()))
  return run
}

async function poolRows(core: Core, pool: string): Promise<{ allocations: string[]; auditIps: string[]; transactions: number }> {
  const a = await core.db.knex.raw<{ rows: { ip: string }[] }>(
    `select host(a.ip_address) as ip from ip_allocations a join ip_pools p on p.id = a.pool_id where p.name = ?`,
    [pool]
  )
  const l = await core.db.knex.raw<{ rows: { ip: string; x: string }[] }>(
    `select resource_name as ip, xmin::text as x from audit_logs
      where resource_type = 'ip_allocation' and status = 'success' and details->'context'->>'pool' = ?`,
    [pool]
  )
  return { allocations: a.rows.map((r) => r.ip), auditIps: l.rows.map((r) => r.ip), transactions: new Set(l.rows.map((r) => r.x)).size }
}

describe('2 processes x 8 workers into one pool', () => {
  it('gives every caller its own address, each there with its audit row once answered, the chain intact', async () => {
    const runs = [child('a', 'gc', 40), child('b', 'gc', 40)]
    await Promise.all(runs.map((r) => r.done))
    expect(runs.flatMap((r) => r.failures)).toEqual([])
    const ips = runs.flatMap((r) => r.ips)
    expect(ips).toHaveLength(640)
    expect(new Set(ips).size).toBe(640)
    const core = await open()
    try {
      const { allocations, auditIps, transactions } = await poolRows(core, 'gc')
      expect(allocations.sort()).toEqual([...ips].sort())
      expect(auditIps.sort()).toEqual([...ips].sort())
      // Callers shared transactions (group commit): fewer transactions than allocations.
      expect(transactions).toBeLessThan(640)
      expect(await core.audit.verify(admin)).toMatchObject({ ok: true, problem: null })
    } finally {
      await core.close()
    }
  }, 180_000)

  it('keeps every answered address through a server crash mid-run', async (t) => {
    if (!srv.crash || !srv.resume) {
      t.skip('NETKEEPER_TEST_DATABASE_URL points at an external server, which this test cannot crash')
      return
    }
    const runs = [child('c', 'gc-crash', 200), child('d', 'gc-crash', 200)]
    // Crash once a few hundred callers have been answered, with the rest in flight.
    const deadline = Date.now() + 120_000
    while (runs.reduce((n, r) => n + r.ips.length, 0) < 300 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    srv.crash()
    const answered = runs.flatMap((r) => r.ips)
    await Promise.all(runs.map((r) => r.done))
    srv.resume()
    expect(answered.length).toBeGreaterThanOrEqual(300)
    const core = await open()
    try {
      const { allocations, auditIps } = await poolRows(core, 'gc-crash')
      const present = new Set(allocations)
      expect(answered.filter((ip) => !present.has(ip))).toEqual([])
      expect(new Set(allocations).size).toBe(allocations.length)
      // Whatever survived has its audit row, and nothing else does.
      expect(auditIps.sort()).toEqual([...allocations].sort())
      expect(await core.audit.verify(admin)).toMatchObject({ ok: true, problem: null })
    } finally {
      await core.close()
    }
  }, 240_000)
})

/**
 * `npm run bench -- offline`: replay of 10,000 queued allocations (next-free, each in its own transaction
 * with its audit row and idempotency key, made durable before it is marked applied), goal <= 30 s.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Core } from '../src/main/core'
import { OfflineQueue } from '../src/main/core/offline/queue'
import { replayQueue } from '../src/main/core/offline/replay'
import { benchCtx, log, round, type BenchServer } from './util'

export async function benchOffline(srv: BenchServer): Promise<Record<string, unknown>> {
  const N = Number(process.env.NETKEEPER_BENCH_OFFLINE_N ?? 10_000)
  const url = await srv.url('bench_offline')
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-bench-offline-'))
  process.env.NETKEEPER_POOL_MAX = '4'
  const core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
  const queue = OfflineQueue.open(dataDir)
  try {
    const ctx = benchCtx()
    await core.ipam.createPool(ctx, { name: 'offline', network: '10.60.0.0/16' })
    const target = core.db.target.label
    const t0 = performance.now()
    for (let i = 0; i < N; i++) queue.enqueue(ctx, { operation: 'ipam.allocate', args: { pool: 'offline', next: true, hostname: `q-${i}` } }, target)
    const enqueueMs = performance.now() - t0
    log(`offline: ${N} edits queued in ${Math.round(enqueueMs)} ms; replaying`)
    const r = await replayQueue(core, queue, { refreshSnapshot: false })
    const rows = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from offline_applied`)
    return {
      queued: N,
      enqueueMs: round(enqueueMs, 1),
      enqueuePerEditMs: round(enqueueMs / N),
      replayMs: r.ms,
      replayPerEditMs: round(r.ms / N),
      applied: r.applied,
      conflicts: r.conflicts,
      idempotencyKeys: rows.rows[0]!.n,
      goal: 'replay of 10,000 queued allocations <= 30000 ms',
      met: r.ms <= 30_000 && r.applied === N
    }
  } finally {
    queue.close()
    await core.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

/**
 * `npm run bench -- failover`: a primary and a streaming standby on loopback (tests/support/standby.ts), a
 * Core on a connection listing both, allocations running one after another; the primary is stopped and the
 * standby promoted. Reported: seconds from the promotion to the first allocation that succeeds on the new
 * primary (goal <= 10 s), and to the moment the Core knew the new primary. The Core is not restarted.
 * Rounds (NETKEEPER_BENCH_FAILOVER_ROUNDS, default 1) each start a fresh pair; the median is reported.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Core } from '../src/main/core'
import { startReplicatedPair } from '../tests/support/standby'
import { benchCtx, log, percentile, round } from './util'

async function oneRound(): Promise<{ toFirstAllocationS: number; toPrimaryKnownS: number; allocationsBefore: number; failedDuring: number }> {
  log('failover: starting a primary and a standby')
  const pair = await startReplicatedPair(['bench_failover'])
  log('failover: opening the core')
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-bench-failover-'))
  const core = await Core.open({ databaseUrl: pair.bothUrl('bench_failover', 'sslmode=disable'), dataDir, migrate: true })
  const ctx = benchCtx()
  let stop = false
  let promotedAt = 0
  let firstAfter = 0
  let before = 0
  let failed = 0
  try {
    await core.ipam.createPool(ctx, { name: 'failover', network: '10.61.0.0/16' })
    const known = new Promise<number>((resolve) => {
      core.db.tracker!.onChange((s) => {
        if (s.host && promotedAt) resolve(performance.now())
      })
    })
    const worker = (async () => {
      for (let i = 0; !stop; i++) {
        // Only an allocation begun after the promotion counts (one in flight at the stop may still finish).
        const begunAfter = promotedAt > 0
        try {
          await core.ipam.allocate(ctx, { pool: 'failover', next: true, hostname: `f-${i}` })
          if (begunAfter && !firstAfter) firstAfter = performance.now()
          else if (!begunAfter) before++
        } catch {
          failed++
          await new Promise((r) => setTimeout(r, 50))
        }
        if (firstAfter) break
      }
    })()
    await new Promise((r) => setTimeout(r, 1000))
    log(`failover: ${before} allocations on the primary; stopping it and promoting the standby`)
    pair.stopPrimary()
    promotedAt = performance.now()
    pair.promote()
    await worker
    // Resolved by then (the allocation ran on the new primary); the timer keeps a wrong run from hanging.
    const primaryKnown = await Promise.race([known, new Promise<number>((r) => setTimeout(() => r(Number.NaN), 30_000))])
    return {
      toFirstAllocationS: round((firstAfter - promotedAt) / 1000),
      toPrimaryKnownS: round((primaryKnown - promotedAt) / 1000),
      allocationsBefore: before,
      failedDuring: failed
    }
  } finally {
    stop = true
    await core.close()
    await pair.stop()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

export async function benchFailover(): Promise<Record<string, unknown>> {
  const rounds = Number(process.env.NETKEEPER_BENCH_FAILOVER_ROUNDS ?? 1)
  process.env.NETKEEPER_POOL_MAX = '4'
  const results = []
  for (let i = 0; i < rounds; i++) {
    const r = await oneRound()
    log(`failover round ${i + 1}: first allocation ${r.toFirstAllocationS} s after the promotion (new primary known after ${r.toPrimaryKnownS} s)`)
    results.push(r)
  }
  const p50 = percentile(
    results.map((r) => r.toFirstAllocationS),
    50
  )
  return {
    rounds: results,
    promotionToFirstAllocationS: p50,
    promotionToPrimaryKnownS: percentile(
      results.map((r) => r.toPrimaryKnownS),
      50
    ),
    goal: 'seconds from the promotion to the first successful allocation <= 10',
    met: p50 <= 10
  }
}

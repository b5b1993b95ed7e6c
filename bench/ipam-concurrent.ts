/**
 * The concurrent part of `npm run bench -- ipam` on its own (`npm run bench -- ipam-concurrent`): 2 OS
 * processes x 8 workers allocating next-free from one pool, durable, with where the time goes: commits and
 * WAL flushes per allocation (pg_stat_wal, pg_stat_database) and what the server's backends waited on,
 * sampled from pg_stat_activity every few milliseconds during the run, and how many allocations shared each
 * transaction (allocationsPerTransaction, from the audit rows' xmin). NETKEEPER_BENCH_CONC_PER_WORKER sets
 * the allocations per worker (250 by default).
 */
import { fork } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import type { Knex } from '@mikro-orm/postgresql'
import type { Core } from '../src/main/core'
import { log, round } from './util'

export interface ConcurrentRun {
  seconds: number
  results: { ips: string[]; failures: number; cpuMs: number }[]
  profile: Record<string, unknown>
}

/**
 * CPU milliseconds the server's processes have used so far: the postmaster's own and its reaped children's
 * (a backend's CPU joins cutime/cstime when it exits), from /proc; null where that cannot be read (an
 * external server, another OS). CPU time is what a busy machine inflates least: with the figure per
 * allocation, 2 cores / (server + clients) bounds what a quiet machine can do.
 */
export function serverCpuMs(dataDir: string | undefined): number | null {
  try {
    if (!dataDir) return null
    const pid = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim()
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14-17 of stat (utime, stime, cutime, cstime), here 11-14 after the state field; clock ticks of 10 ms.
    return [11, 12, 13, 14].reduce((n, i) => n + Number(f[i]), 0) * 10
  } catch {
    return null
  }
}

/** WAL and commit counters of the server (pg_stat_wal is PostgreSQL 14+). */
async function counters(knex: Knex): Promise<{ walSync: number; walWrite: number; walRecords: number; walBytes: number; commits: number }> {
  const r = await knex.raw<{ rows: { wal_sync: string; wal_write: string; wal_records: string; wal_bytes: string; commits: string }[] }>(
    `select w.wal_sync::text, w.wal_write::text, w.wal_records::text, w.wal_bytes::text,
            (select sum(xact_commit)::text from pg_stat_database) as commits
       from pg_stat_wal w`
  )
  const x = r.rows[0]!
  return { walSync: Number(x.wal_sync), walWrite: Number(x.wal_write), walRecords: Number(x.wal_records), walBytes: Number(x.wal_bytes), commits: Number(x.commits) }
}

/** Runs 2 processes x `workers` workers x `perWorker` next-free allocations into `pool` as `url`'s login. */
export async function concurrentRun(core: Core, url: string, pool: string, workers = 8, perWorker = 250, serverDataDir?: string): Promise<ConcurrentRun> {
  const worker = path.join(import.meta.dirname, 'ipam-worker.ts')
  const knex = core.db.knex
  const before = await counters(knex)
  const serverCpu0 = serverCpuMs(serverDataDir)
  // What the other backends wait on, sampled while the run lasts.
  const waits = new Map<string, number>()
  let samples = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      const r = await knex.raw<{ rows: { w: string; n: number }[] }>(
        `select coalesce(wait_event_type || ':' || wait_event, state) as w, count(*)::int as n from pg_stat_activity
          where backend_type = 'client backend' and pid <> pg_backend_pid() and datname = current_database() and state <> 'idle'
          group by 1`
      )
      samples++
      for (const x of r.rows) waits.set(x.w, (waits.get(x.w) ?? 0) + x.n)
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  const started = performance.now()
  const results = await Promise.all(
    [0, 1].map(
      (i) =>
        new Promise<{ ips: string[]; failures: number; cpuMs: number }>((resolve, reject) => {
          const child = fork(worker, [url, pool, String(workers), String(perWorker), `proc${i}`], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
          child.on('message', (m) => resolve(m as { ips: string[]; failures: number; cpuMs: number }))
          child.on('error', reject)
          child.on('exit', (code) => code !== 0 && reject(new Error(`worker exited ${code}`)))
        })
    )
  )
  const seconds = (performance.now() - started) / 1000
  sampling = false
  await sampler
  const after = await counters(knex)
  // The workers' backends have exited (their cores closed); give the postmaster a moment to reap them.
  await new Promise((r) => setTimeout(r, 300))
  const serverCpu1 = serverCpuMs(serverDataDir)
  const n = results.reduce((s, r) => s + r.ips.length, 0) || 1
  const per = (k: keyof typeof before) => round((after[k] - before[k]) / n, 2)
  const busy = [...waits.values()].reduce((a, b) => a + b, 0) || 1
  // Callers per transaction (group commit): the audit rows of the run's allocations, by the transaction
  // that wrote them.
  const tx = await knex.raw<{ rows: { n: number; t: number }[] }>(
    `select count(*)::int as n, count(distinct xmin::text)::int as t from audit_logs
      where resource_type = 'ip_allocation' and status = 'success' and details->'context'->>'pool' = ?`,
    [pool]
  )
  const profile = {
    allocationsPerTransaction: round(tx.rows[0]!.n / Math.max(1, tx.rows[0]!.t), 2),
    // CPU per allocation: the two client processes' (allocation loop only) and the server's (every backend,
    // the sampler's included); null where the server's cannot be read.
    cpuMsPerAllocation: {
      clients: round(results.reduce((s, r) => s + r.cpuMs, 0) / n, 3),
      server: serverCpu0 !== null && serverCpu1 !== null ? round((serverCpu1 - serverCpu0) / n, 3) : null
    },
    perAllocation: { commits: per('commits'), walFlushes: per('walSync'), walWrites: per('walWrite'), walRecords: per('walRecords'), walBytes: per('walBytes') },
    // Share of the sampled non-idle backends in each wait (Lock:transactionid / Lock:tuple = a row lock held by
    // another transaction, e.g. the pool row or the chain head; IO:WALSync = a commit's flush; null = on CPU).
    backendWaits: Object.fromEntries([...waits.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v / busy, 3)])),
    activeBackendsMean: round(busy / Math.max(1, samples), 2),
    samples
  }
  log(`concurrent ${pool}: ${n} in ${round(seconds, 2)} s, ${JSON.stringify(profile)}`)
  return { seconds, results, profile }
}

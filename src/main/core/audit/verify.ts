/**
 * Verification of the hash chain: every row's hash recomputed from its contents, runs removed by a purge
 * bridged by their checkpoints, and each checkpoint checked against the purge record that lists it.
 *
 * The rows are read in sequence order through a server-side cursor, each as one JSON text (verify-batch.ts),
 * and hashed in worker threads while the next batch is read: decoding, canonical JSON and SHA-256 run on
 * the other cores, and this thread only walks the batch summaries in order and makes every decision about
 * the chain, exactly as it did row by row (docs/audit.md#verification). Where no worker can be started
 * (the source run by a test runner, say) the same batches are hashed here.
 */
import os from 'node:os'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Knex } from '@mikro-orm/postgresql'
import type { VerifyProblem, VerifyReport } from '../../../shared/audit'
import { GENESIS_HASH } from './canonical'
import type { Rows } from './rows'
import { hashBatch, ROW_JSON, type BatchSummary, type RowFacts } from './verify-batch'

/** Rows per cursor fetch and per batch handed to a worker. */
const BATCH = 10_000

/** Hashes batches: in worker threads, or in this thread. */
interface Hasher {
  threads: number
  hash(rows: string[]): Promise<BatchSummary>
  close(): Promise<void>
}

const inThread: Hasher = {
  threads: 0,
  hash: async (rows) => hashBatch(rows),
  close: async () => undefined
}

/** The worker's file: the built verify-worker.js beside this chunk, or the TypeScript source beside this file. */
function workerFile(): URL | null {
  for (const name of ['./verify-worker.js', './verify-worker.ts']) {
    const url = new URL(name, import.meta.url)
    if (url.protocol === 'file:' && fs.existsSync(fileURLToPath(url))) return url
  }
  return null
}

function startWorker(file: URL): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const w = new Worker(file)
    const fail = (e: unknown): void => {
      void w.terminate()
      reject(e instanceof Error ? e : new Error(String(e)))
    }
    const timer = setTimeout(() => fail(new Error('the verify worker did not start within 10 s')), 10_000)
    const exited = (code: number): void => fail(new Error(`the verify worker exited with ${code}`))
    // Only these listeners come off again: the worker's own (on its message port) must stay.
    w.once('error', fail)
    w.once('exit', exited)
    w.once('message', () => {
      clearTimeout(timer)
      w.off('error', fail)
      w.off('exit', exited)
      resolve(w)
    })
  })
}

/**
 * One worker per core but one (the main thread reads and walks, and the database server needs a core
 * too), at least one, at most four. NETKEEPER_VERIFY_THREADS sets the number; 0 hashes in this thread.
 * A worker that cannot be started (a runtime that cannot load the worker's file) means this thread hashes.
 */
async function startHashers(): Promise<Hasher> {
  const fromEnv = process.env.NETKEEPER_VERIFY_THREADS
  const n = fromEnv !== undefined && fromEnv !== '' ? Math.max(0, Math.min(16, Math.trunc(Number(fromEnv)) || 0)) : Math.max(1, Math.min(4, os.availableParallelism() - 1))
  const file = n ? workerFile() : null
  if (!file) return inThread
  const started = await Promise.allSettled(Array.from({ length: n }, () => startWorker(file)))
  const workers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  if (workers.length < n) {
    await Promise.all(workers.map((w) => w.terminate()))
    return inThread
  }
  let closing = false
  const waiting = new Map<number, { resolve: (s: BatchSummary) => void; reject: (e: Error) => void }>()
  const failAll = (e: Error): void => {
    for (const p of waiting.values()) p.reject(e)
    waiting.clear()
  }
  for (const w of workers) {
    w.on('message', (m: { id: number; summary?: BatchSummary; error?: string }) => {
      const p = waiting.get(m.id)
      waiting.delete(m.id)
      if (m.error !== undefined) p?.reject(new Error(`verify worker: ${m.error}`))
      else p?.resolve(m.summary!)
    })
    w.on('error', failAll)
    w.on('exit', (code) => !closing && failAll(new Error(`a verify worker exited with ${code}`)))
  }
  let next = 0
  return {
    threads: workers.length,
    hash: (rows) =>
      new Promise((resolve, reject) => {
        const id = next++
        waiting.set(id, { resolve, reject })
        workers[id % workers.length]!.postMessage({ id, rows })
      }),
    close: async () => {
      closing = true
      await Promise.all(workers.map((w) => w.terminate()))
    }
  }
}

/**
 * Walks the chain in sequence order and reports the first row that was altered, is missing or is out of
 * order. Runs of rows removed by a purge are bridged by their checkpoints.
 */
export async function verify(knex: Knex, onProgress?: (checked: number) => void): Promise<VerifyReport> {
  const started = performance.now()
  const head = (await knex.raw<Rows<{ last_seq: string; last_hash: string }>>(`select last_seq::text, last_hash from audit_chain_head where id = 1`)).rows[0]!
  const cps = (
    await knex.raw<Rows<{ first_seq: string; last_seq: string; last_hash: string; purge_seq: string | null }>>(
      `select first_seq::text, last_seq::text, last_hash, purge_seq::text from audit_checkpoints order by first_seq`
    )
  ).rows
  const byFirst = new Map(cps.map((c) => [BigInt(c.first_seq), c]))
  const purgeRuns = new Map<string, Set<string>>()
  let problem: VerifyProblem | null = null
  let checked = 0
  let firstSeq: string | null = null
  let lastSeq: string | null = null
  let expectedSeq = 1n
  let expectedPrev = GENESIS_HASH

  /** Bridges a gap [expectedSeq, upTo] with checkpoints; returns false when some part is not covered. */
  const bridge = (upTo: bigint): boolean => {
    while (expectedSeq <= upTo) {
      const cp = byFirst.get(expectedSeq)
      if (!cp || BigInt(cp.last_seq) > upTo) return false
      expectedPrev = cp.last_hash
      expectedSeq = BigInt(cp.last_seq) + 1n
    }
    return true
  }

  /** The checks of one row, in this order: its place in the sequence, its link to the row before, its hash. */
  const check = (r: RowFacts): boolean => {
    const seq = BigInt(r.seq)
    if (firstSeq === null) firstSeq = r.seq
    if (seq !== expectedSeq) {
      const gapStart = expectedSeq
      if (seq < expectedSeq || !bridge(seq - 1n)) {
        problem = {
          seq: gapStart.toString(),
          kind: 'missing',
          message: seq - 1n === gapStart ? `row ${gapStart} is missing` : `rows ${gapStart} to ${seq - 1n} are missing`
        }
        return false
      }
    }
    if (r.prev !== expectedPrev) {
      problem = {
        seq: r.seq,
        kind: 'reordered',
        message: `row ${r.seq} does not follow row ${seq - 1n}: its previous-row hash does not match (rows reordered, or one replaced)`
      }
      return false
    }
    if (!r.ok) {
      problem = { seq: r.seq, kind: 'altered', message: `row ${r.seq} was altered: its contents no longer match its hash` }
      return false
    }
    expectedPrev = r.hash
    expectedSeq = seq + 1n
    lastSeq = r.seq
    checked++
    return true
  }

  /**
   * One batch: its first row and every row that breaks the simple continuation are checked as above; the
   * rows between them continue the row before them, so they pass the same checks and only move the state on.
   */
  const walk = (s: BatchSummary): boolean => {
    if (!check(s.first)) return false
    let at = 0
    for (const b of s.breaks) {
      if (b.index - at > 1) {
        checked += b.index - at - 1
        expectedSeq = BigInt(b.before.seq) + 1n
        expectedPrev = b.before.hash
        lastSeq = b.before.seq
      }
      if (!check(b.row)) return false
      at = b.index
    }
    if (s.count - at > 1) {
      checked += s.count - at - 1
      expectedSeq = BigInt(s.last.seq) + 1n
      expectedPrev = s.last.hash
      lastSeq = s.last.seq
    }
    // Purge records list the runs they removed; collected to cross-check the checkpoints.
    for (const [seq, runs] of s.purgeRuns) purgeRuns.set(seq, new Set(runs))
    return true
  }

  const hasher = await startHashers()
  try {
    await knex.transaction(async (trx) => {
      await trx.raw(`declare audit_verify no scroll cursor for select ${ROW_JSON} as r from audit_logs order by audit_logs.seq`)
      const fetchNext = () => trx.raw<Rows<{ r: string }>>(`fetch ${BATCH} from audit_verify`).then((res) => res.rows.map((x) => x.r))
      // Ask for the next batch before hashing this one, so the server reads while the workers hash; keep
      // one batch per worker (and one more) in flight, and walk them in order.
      const depth = hasher.threads + 1
      const queue: Promise<BatchSummary>[] = []
      let pending: Promise<string[]> | null = fetchNext()
      for (;;) {
        while (pending && queue.length < depth) {
          const rows: string[] = await pending
          if (!rows.length) {
            pending = null
            break
          }
          pending = fetchNext()
          const summary = hasher.hash(rows)
          // Rejections are awaited below; this keeps an abandoned batch (after a problem) from going unhandled.
          summary.catch(() => undefined)
          queue.push(summary)
        }
        const next = queue.shift()
        if (!next) break
        if (!walk(await next)) break
        onProgress?.(checked)
      }
      // Let a fetch still in flight finish before the cursor closes.
      if (pending) await pending.catch(() => undefined)
      await trx.raw(`close audit_verify`)
    })
  } finally {
    await hasher.close()
  }

  if (!problem && expectedSeq <= BigInt(head.last_seq)) {
    const gapStart = expectedSeq
    if (!bridge(BigInt(head.last_seq)) || expectedPrev !== head.last_hash) {
      problem = { seq: gapStart.toString(), kind: 'missing', message: `rows ${gapStart} to ${head.last_seq} (the newest) are missing` }
    }
  } else if (!problem && lastSeq !== null && expectedPrev !== head.last_hash) {
    problem = { seq: lastSeq, kind: 'altered', message: `the newest row ${lastSeq} does not match the chain head` }
  }
  if (!problem) {
    // Every checkpoint must be listed by the purge record that made it, so none can be forged afterwards.
    for (const cp of cps) {
      const runs = cp.purge_seq ? purgeRuns.get(cp.purge_seq) : undefined
      if (!runs || !runs.has(`${cp.first_seq}:${cp.last_seq}:${cp.last_hash}`)) {
        problem = { seq: cp.first_seq, kind: 'checkpoint', message: `checkpoint for rows ${cp.first_seq} to ${cp.last_seq} is not backed by a purge record` }
        break
      }
    }
  }
  return {
    ok: problem === null,
    checked,
    firstSeq,
    lastSeq,
    headSeq: head.last_seq,
    checkpoints: cps.length,
    problem,
    seconds: Math.round((performance.now() - started) / 10) / 100
  }
}

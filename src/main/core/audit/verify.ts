/**
 * Verification of the hash chain: every row's hash recomputed from its contents, runs removed by a purge
 * bridged by their checkpoints, and each checkpoint checked against the purge record that lists it. With a
 * folder of archives (`verify --archives`), each removed run must also be in exactly one archive that meets
 * the chain on both sides, named with its SHA-256 by the purge record: the whole history is then proved
 * from the first row. (Anchors, `verify --anchors`, are checked after the walk: anchors.ts.)
 *
 * The rows are read in sequence order and hashed in worker threads while the next ones are read: decoding,
 * canonical JSON and SHA-256 run on the other cores, and this thread only walks the batch summaries in order
 * and makes every decision about the chain and the archives, exactly as it did row by row
 * (docs/audit.md#how-verify-reads-the-chain). On a server the rows come as binary COPY, whose tuples go to
 * the workers as raw bytes (verify-copy.ts); on the embedded store, whose driver has no COPY, through a
 * server-side cursor, each row as one JSON text (verify-batch.ts). Where no worker can be started, the same
 * batches are hashed here.
 *
 * One file past 500 lines: the walk's decisions, the two readings that feed it and the archive fit share
 * the walk's state, and the order of their checks is the report's definition.
 */
import os from 'node:os'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Knex } from '@mikro-orm/postgresql'
import type { VerifyProblem, VerifyReport } from '../../../shared/audit'
import type { ArchiveFolder, ArchiveRun, CheckedArchive } from './archive'
import { GENESIS_HASH } from './canonical'
import type { Rows } from './rows'
import { hashBatch, ROW_JSON, type BatchSummary, type RowFacts } from './verify-batch'
import { copyStatement, CopySplitter, hashCopyBatch } from './verify-copy'
import { CopyOut } from './verify-copy-out'

/** Rows per cursor fetch and per batch handed to a worker (NETKEEPER_VERIFY_BATCH sets it). */
const BATCH = 10_000
/** Rows per COPY on a server: where verify may stop reading once it found a problem. */
const COPY_ROWS = 200_000
/** Below this many rows the main thread hashes (unless threads are set): a worker's start costs more. */
const SMALL_CHAIN = 20_000n

/**
 * How verify reads: `batchRows` per fetch and per batch, `threads` hashing workers (0: this thread),
 * `copyRows` per COPY on a server, `via` the binary COPY (on a server; the default there) or the cursor.
 */
export interface VerifyReading {
  batchRows?: number
  threads?: number
  copyRows?: number
  via?: 'copy' | 'cursor'
}

/** A whole number from the environment within [min, max], or undefined when unset or not a number. */
function envCount(name: string, min: number, max: number): number | undefined {
  const v = process.env[name]
  if (v === undefined || v.trim() === '' || !Number.isFinite(Number(v))) return undefined
  return Math.max(min, Math.min(max, Math.trunc(Number(v))))
}

/**
 * Hashes batches: in worker threads, or in this thread. A batch is cursor rows (ROW_JSON texts) or whole
 * binary COPY tuples (moved to the worker). `want`: seqs to list in the summary's marks.
 */
interface Hasher {
  threads: number
  hash(rows: string[], want: string[] | undefined): Promise<BatchSummary>
  hashBytes(bytes: Uint8Array, want: string[] | undefined): Promise<BatchSummary>
  close(): Promise<void>
}

const inThread: Hasher = {
  threads: 0,
  hash: async (rows, want) => hashBatch(rows, want ? new Set(want) : undefined),
  // A batch CopySplitter made and let go of: the room after its tuples may be written.
  hashBytes: async (bytes, want) => hashCopyBatch(bytes, want ? new Set(want) : undefined, true),
  close: async () => undefined
}

/**
 * The worker's file: the built verify-worker.js beside this chunk, or the TypeScript source beside this
 * file when this process runs the source through tsx (`npm run cli`, `npm run bench`), whose loader the
 * worker then registers for itself. Elsewhere (the test runner's own transform) there is none.
 */
function workerFile(): URL | null {
  const built = new URL('./verify-worker.js', import.meta.url)
  if (built.protocol === 'file:' && fs.existsSync(fileURLToPath(built))) return built
  const source = new URL('./verify-worker.ts', import.meta.url)
  if (source.protocol === 'file:' && fs.existsSync(fileURLToPath(source)) && tsxApi()) return source
  return null
}

/** The URL of tsx's module API when this process runs under tsx (its loader in the Node options). */
function tsxApi(): string | null {
  if (!process.execArgv.some((a) => /[\\/]tsx[\\/]/.test(a))) return null
  try {
    return import.meta.resolve('tsx/esm/api')
  } catch {
    return null
  }
}

function startWorker(file: URL): Promise<Worker> {
  return new Promise((resolve, reject) => {
    // The TypeScript source: a worker's entry does not go through the loader the process was started
    // with, so the worker registers tsx before it imports the source.
    const api = file.pathname.endsWith('.ts') ? tsxApi() : null
    const w = api
      ? new Worker(`import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(file.href)}) })`, { eval: true })
      : new Worker(file)
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
 * too), at least one, at most four. `threads` (or NETKEEPER_VERIFY_THREADS) sets the number; 0 hashes in
 * this thread. Unless set so, a chain of fewer than SMALL_CHAIN rows (`rows`: the head's seq) is hashed
 * here: starting a worker would take longer than hashing it. A worker that cannot be started (a runtime
 * that cannot load the worker's file) means this thread hashes.
 */
async function startHashers(threads: number | undefined, rows: bigint): Promise<Hasher> {
  const n = threads ?? envCount('NETKEEPER_VERIFY_THREADS', 0, 16) ?? (rows < SMALL_CHAIN ? 0 : Math.max(1, Math.min(4, os.availableParallelism() - 1)))
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
    hash: (rows, want) =>
      new Promise((resolve, reject) => {
        const id = next++
        waiting.set(id, { resolve, reject })
        workers[id % workers.length]!.postMessage({ id, rows, ...(want ? { want } : {}) })
      }),
    hashBytes: (bytes, want) =>
      new Promise((resolve, reject) => {
        const id = next++
        waiting.set(id, { resolve, reject })
        // The batch owns its buffer (CopySplitter): moved, not copied.
        workers[id % workers.length]!.postMessage({ id, bytes, ...(want ? { want } : {}) }, [bytes.buffer as ArrayBuffer])
      }),
    close: async () => {
      closing = true
      await Promise.all(workers.map((w) => w.terminate()))
    }
  }
}

/**
 * Walks the chain in sequence order and reports the first row that was altered, is missing or is out of
 * order. Runs of rows removed by a purge are bridged by their checkpoints; with `archives`, each is also
 * fitted to its archive (ArchiveFit).
 */
export async function verify(knex: Knex, onProgress?: (checked: number) => void, archives?: ArchiveFolder, reading: VerifyReading = {}): Promise<VerifyReport> {
  const started = performance.now()
  const batchRows = reading.batchRows ?? envCount('NETKEEPER_VERIFY_BATCH', 1, 1_000_000) ?? BATCH
  const fit = archives ? new ArchiveFit(archives) : null
  type Checkpoint = { first_seq: string; last_seq: string; last_hash: string; purge_seq: string | null }
  // Read in the walk's transaction (one snapshot): rows appended meanwhile are neither walked nor expected.
  let head: { last_seq: string; last_hash: string } = { last_seq: '0', last_hash: GENESIS_HASH }
  let cps: Checkpoint[] = []
  let byFirst = new Map<bigint, Checkpoint>()
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
      fit?.removed(cp, expectedPrev)
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
      // A run the gap bridged that no archive holds as it should stops the walk here.
      if (fit?.problem) {
        problem = fit.problem
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
   * rows between them continue the row before them, so they pass the same checks and only move the state
   * on. The archive fit meets the rows it asked for (marks) in their place among those checks.
   */
  const walk = (s: BatchSummary): boolean => {
    let m = 0
    /** The marked rows up to `index`, met as live rows of the chain. */
    const liveTo = (index: number): void => {
      for (; m < s.marks.length && s.marks[m]![0] <= index; m++) {
        const [, seq, prev, hash] = s.marks[m]!
        fit?.live(seq, prev, hash)
      }
    }
    if (!check(s.first)) return false
    liveTo(0)
    let at = 0
    for (const b of s.breaks) {
      if (b.index - at > 1) {
        checked += b.index - at - 1
        expectedSeq = BigInt(b.before.seq) + 1n
        expectedPrev = b.before.hash
        lastSeq = b.before.seq
        liveTo(b.index - 1)
      }
      if (!check(b.row)) return false
      liveTo(b.index)
      at = b.index
    }
    if (s.count - at > 1) {
      checked += s.count - at - 1
      expectedSeq = BigInt(s.last.seq) + 1n
      expectedPrev = s.last.hash
      lastSeq = s.last.seq
      liveTo(s.count - 1)
    }
    // Purge records list the runs they removed (collected to cross-check the checkpoints) and the archive
    // they wrote.
    const named = new Map(s.purgeArchives)
    for (const [seq, runs] of s.purgeRuns) {
      purgeRuns.set(seq, new Set(runs))
      fit?.purgeRecord(seq, named.get(seq) as { file?: unknown; sha256?: unknown } | undefined)
    }
    return true
  }

  // An archive folder that is unusable as a whole (readArchiveFolder's verdict) is the answer: no walk.
  if (fit?.problem) problem = fit.problem
  let hashers: Promise<Hasher> = Promise.resolve(inThread)
  const want = fit?.watched()
  try {
    // Repeatable read: the head, the checkpoints and every COPY (or the cursor) see one snapshot.
    await knex.transaction(
      async (trx) => {
        head = (await trx.raw<Rows<{ last_seq: string; last_hash: string }>>(`select last_seq::text, last_hash from audit_chain_head where id = 1`)).rows[0]!
        if (!problem) {
          // The workers start while the checkpoints are read.
          hashers = startHashers(reading.threads, BigInt(head.last_seq))
          hashers.catch(() => undefined)
        }
        cps = (await trx.raw<Rows<Checkpoint>>(`select first_seq::text, last_seq::text, last_hash, purge_seq::text from audit_checkpoints order by first_seq`)).rows
        byFirst = new Map(cps.map((c) => [BigInt(c.first_seq), c]))
        if (problem) return
        const hasher = await hashers
        // One batch per worker and two more in flight: the reading goes on while the workers hash.
        const pipe = new Pipeline(hasher.threads + 2, walk, () => onProgress?.(checked))
        const copy = reading.via !== 'cursor' ? await copyOut(trx) : null
        if (copy) await readByCopy(copy, pipe, hasher, want, batchRows, reading.copyRows ?? COPY_ROWS)
        else await readByCursor(trx, pipe, hasher, want, batchRows)
        if (pipe.error) throw pipe.error
      },
      { isolationLevel: 'repeatable read', readOnly: true }
    )
  } finally {
    await (await hashers.catch(() => inThread)).close()
  }

  if (!problem && expectedSeq <= BigInt(head.last_seq)) {
    const gapStart = expectedSeq
    if (!bridge(BigInt(head.last_seq)) || expectedPrev !== head.last_hash) {
      problem = { seq: gapStart.toString(), kind: 'missing', message: `rows ${gapStart} to ${head.last_seq} (the newest) are missing` }
    }
  } else if (!problem && lastSeq !== null && expectedPrev !== head.last_hash) {
    problem = { seq: lastSeq, kind: 'altered', message: `the newest row ${lastSeq} does not match the chain head` }
  }
  if (!problem && fit?.problem) problem = fit.problem
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
  if (!problem && fit) problem = fit.finish(head.last_seq)
  return {
    ...(archives ? { archives: { dir: archives.dir, files: archives.archives.length, rows: archives.rows } } : {}),
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

/**
 * Batches handed to the hasher in order, their summaries walked in order: at most `depth` in flight. Once
 * the walk stops (a problem) or a batch fails (`error`), `stopped` is set and the rest is not walked.
 */
class Pipeline {
  private readonly queue: Promise<BatchSummary>[] = []
  stopped = false
  error: Error | null = null

  constructor(
    private readonly depth: number,
    private readonly walk: (s: BatchSummary) => boolean,
    private readonly walked: () => void
  ) {}

  async add(summary: Promise<BatchSummary>): Promise<void> {
    // Rejections are awaited in next(); this keeps an abandoned batch (after a problem) from going unhandled.
    summary.catch(() => undefined)
    this.queue.push(summary)
    while (this.queue.length > this.depth && !this.stopped) await this.next()
  }

  async finish(): Promise<void> {
    while (this.queue.length && !this.stopped) await this.next()
  }

  private async next(): Promise<void> {
    try {
      if (!this.walk(await this.queue.shift()!)) this.stopped = true
      else this.walked()
    } catch (e) {
      this.error = e instanceof Error ? e : new Error(String(e))
      this.stopped = true
    }
  }
}

/** The rows through a server-side cursor, each as one JSON text (the embedded store, or `via: 'cursor'`). */
async function readByCursor(trx: Knex.Transaction, pipe: Pipeline, hasher: Hasher, want: string[] | undefined, batchRows: number): Promise<void> {
  await trx.raw(`declare audit_verify no scroll cursor for select ${ROW_JSON} as r from audit_logs order by audit_logs.seq, audit_logs.created_at`)
  const fetchNext = () => trx.raw<Rows<{ r: string }>>(`fetch ${batchRows} from audit_verify`).then((res) => res.rows.map((x) => x.r))
  // Ask for the next batch before hashing this one, so the server reads while the workers hash.
  let pending = fetchNext()
  let more = true
  while (more && !pipe.stopped) {
    const rows: string[] = await pending
    more = rows.length > 0
    if (!more) break
    pending = fetchNext()
    await pipe.add(hasher.hash(rows, want))
  }
  await pipe.finish()
  // Let a fetch still in flight finish before the cursor closes.
  if (more) await pending.catch(() => undefined)
  await trx.raw(`close audit_verify`)
}

type CopyConnection = { query(q: unknown): unknown }

/** The transaction's own pg connection, for COPY; null on the embedded store (its driver has no COPY out). */
async function copyOut(trx: Knex.Transaction): Promise<CopyConnection | null> {
  const client = trx.client as { driverName?: string; acquireConnection(): Promise<CopyConnection> }
  if (client.driverName !== 'pg') return null
  // Within a transaction, knex hands back the transaction's own connection.
  return client.acquireConnection()
}

/**
 * The rows as binary COPY, `copyRows` per COPY (copyStatement), cut into batches of whole tuples that go to
 * the workers as bytes. After a problem the COPY under way is read to its end unhashed (a COPY cannot be
 * left half read on a connection the transaction goes on with), and no other is started.
 */
async function readByCopy(conn: CopyConnection, pipe: Pipeline, hasher: Hasher, want: string[] | undefined, batchRows: number, copyRows: number): Promise<void> {
  let from: bigint | null = null
  let skip = 0
  for (;;) {
    const limit = copyRows + skip
    const splitter = new CopySplitter(batchRows, skip)
    const copy = new CopyOut(copyStatement(from, limit), splitter)
    conn.query(copy)
    for await (const batch of copy.batches()) {
      if (pipe.stopped) continue
      await pipe.add(hasher.hashBytes(batch, want))
    }
    if (pipe.stopped) return
    const rest = splitter.finish()
    if (rest) await pipe.add(hasher.hashBytes(rest, want))
    if (splitter.tuples < limit) break
    from = splitter.last
    skip = splitter.ties
  }
  await pipe.finish()
}

/**
 * Fits a folder of archives to the chain as verify walks it (docs/audit.md#archives). Each run a purge
 * removed (a checkpoint) must be a run of exactly one purge archive: the same first and last row, the hash
 * before it equal to the chain's at that point, its last hash the checkpoint's, and the archive's purge
 * record the checkpoint's; that record must name the archive's SHA-256. No purge archive may hold rows no
 * purge removed, and none may overlap another. A copy (`audit archive`) must agree with the chain wherever
 * the walk knows the hash at its edges. Each file was checked on its own already (readArchiveFolder).
 */
class ArchiveFit {
  problem: VerifyProblem | null
  private readonly byFirst = new Map<string, { run: ArchiveRun; archive: CheckedArchive; used: boolean }>()
  /** Archive names and SHA-256 stated by purge records, by the record's seq. */
  private readonly stated = new Map<string, { file?: unknown; sha256?: unknown } | undefined>()
  /** Hashes at the edges of copies' runs, as the walk meets them: seq -> hash. */
  private readonly wanted = new Map<string, string | null>()

  constructor(private readonly folder: ArchiveFolder) {
    this.problem = folder.problem
    const runs = folder.archives
      .filter((a) => a.manifest.purpose === 'purge')
      .flatMap((archive) => archive.manifest.runs.map((run) => ({ run, archive, used: false })))
      .sort((a, b) => (BigInt(a.run.firstSeq) < BigInt(b.run.firstSeq) ? -1 : 1))
    for (let i = 0; i < runs.length && !this.problem; i++) {
      const a = runs[i]!
      const b = runs[i - 1]
      if (b && BigInt(a.run.firstSeq) <= BigInt(b.run.lastSeq)) {
        const seq = a.run.firstSeq
        this.fail(seq, a.archive, `archives ${b.archive.manifest.file} and ${a.archive.manifest.file} both hold row ${seq} (they overlap)`)
      }
      this.byFirst.set(a.run.firstSeq, a)
    }
    this.wanted.set('0', GENESIS_HASH)
    for (const a of folder.archives.filter((x) => x.manifest.purpose === 'copy')) {
      for (const r of a.manifest.runs) {
        const before = (BigInt(r.firstSeq) - 1n).toString()
        if (!this.wanted.has(before)) this.wanted.set(before, null)
        if (!this.wanted.has(r.lastSeq)) this.wanted.set(r.lastSeq, null)
      }
    }
  }

  private fail(seq: string, a: CheckedArchive | null, message: string): void {
    this.problem ??= { seq, kind: 'archive', message, ...(a ? { file: a.manifest.file } : {}) }
  }

  private know(seq: string, hash: string): void {
    if (this.wanted.has(seq) && this.wanted.get(seq) === null) this.wanted.set(seq, hash)
  }

  /**
   * The seqs of the live rows live() must meet (the rows at the edges of copies' runs, and the rows just
   * after them, whose previous-row hash is the edge's), or undefined when there are none: every other
   * row's live() changes nothing.
   */
  watched(): string[] | undefined {
    if (this.wanted.size <= 1) return undefined
    const seqs = new Set<string>()
    for (const seq of this.wanted.keys()) {
      seqs.add(seq)
      seqs.add((BigInt(seq) + 1n).toString())
    }
    return [...seqs]
  }

  /** A live row met by the walk. */
  live(seq: string, prevHash: string, hash: string): void {
    if (this.wanted.size > 1) {
      this.know((BigInt(seq) - 1n).toString(), prevHash)
      this.know(seq, hash)
    }
  }

  /** A purge record met by the walk, with the archive its details name (absent before archives existed). */
  purgeRecord(seq: string, archive: { file?: unknown; sha256?: unknown } | undefined): void {
    this.stated.set(seq, archive)
  }

  /** A run removed by a purge (a checkpoint), bridged by the walk with the chain's hash before it. */
  removed(cp: { first_seq: string; last_seq: string; last_hash: string; purge_seq: string | null }, hashBefore: string): void {
    if (this.problem) return
    const a = this.byFirst.get(cp.first_seq)
    const by = cp.purge_seq ? `the purge recorded at seq ${cp.purge_seq}` : 'a purge'
    if (!a) return this.fail(cp.first_seq, null, `rows ${cp.first_seq} to ${cp.last_seq}, removed by ${by}, are in no archive in ${this.folder.dir}`)
    const file = a.archive.manifest.file
    if (a.run.lastSeq !== cp.last_seq) {
      return this.fail(cp.first_seq, a.archive, `archive ${file} holds rows ${a.run.firstSeq} to ${a.run.lastSeq}, but ${by} removed rows ${cp.first_seq} to ${cp.last_seq}`)
    }
    if (a.run.hashBefore !== hashBefore || a.run.lastHash !== cp.last_hash) {
      return this.fail(cp.first_seq, a.archive, `archive ${file} does not meet the chain at rows ${cp.first_seq} to ${cp.last_seq}: its hashes are not the chain's (an archive of another database, or rewritten)`)
    }
    if (a.archive.manifest.purgeSeq !== cp.purge_seq) {
      return this.fail(cp.first_seq, a.archive, `archive ${file} names the purge at seq ${a.archive.manifest.purgeSeq}, but ${by} removed rows ${cp.first_seq} to ${cp.last_seq}`)
    }
    a.used = true
    this.know((BigInt(cp.first_seq) - 1n).toString(), hashBefore)
    this.know(cp.last_seq, cp.last_hash)
  }

  /** After the walk: every purge archive used and named by its purge record, every copy in agreement. */
  finish(headSeq: string): VerifyProblem | null {
    if (this.problem) return this.problem
    for (const a of this.byFirst.values()) {
      const m = a.archive.manifest
      if (!a.used) {
        this.fail(a.run.firstSeq, a.archive, `archive ${m.file} holds rows ${a.run.firstSeq} to ${a.run.lastSeq}, which no purge of this database removed (they are still in the log, or the archive is another database's)`)
        continue
      }
      const stated = this.stated.get(m.purgeSeq!)
      if (!stated || stated.sha256 !== m.sha256 || stated.file !== m.file) {
        this.fail(
          a.run.firstSeq,
          a.archive,
          stated
            ? `archive ${m.file} is not the one the purge recorded at seq ${m.purgeSeq} wrote (it names ${String(stated.file)}, SHA-256 ${String(stated.sha256)})`
            : `the purge recorded at seq ${m.purgeSeq} names no archive (it ran before archives, or without one), so ${m.file} cannot be its`
        )
      }
    }
    for (const a of this.folder.archives.filter((x) => x.manifest.purpose === 'copy')) {
      const m = a.manifest
      if (BigInt(m.lastSeq) > BigInt(headSeq)) {
        this.fail(m.lastSeq, a, `archive ${m.file} holds rows up to ${m.lastSeq}, beyond the chain head ${headSeq}: newer rows are gone from the log, or the archive is another database's`)
        continue
      }
      for (const r of m.runs) {
        const before = this.wanted.get((BigInt(r.firstSeq) - 1n).toString())
        const last = this.wanted.get(r.lastSeq)
        if ((before && before !== r.hashBefore) || (last && last !== r.lastHash)) {
          this.fail(r.firstSeq, a, `archive ${m.file} does not agree with the chain at rows ${r.firstSeq} to ${r.lastSeq} (an archive of another database, or rewritten)`)
        }
      }
    }
    return this.problem
  }
}

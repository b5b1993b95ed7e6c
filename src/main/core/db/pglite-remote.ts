/**
 * The embedded store opened in a worker thread, started as early as a CLI command can know it will use it
 * (docs/cli.md#start-up, round six). A command on the embedded store spent about 60 % of its time before
 * its first statement, in two parts that do not depend on each other: loading the command's JavaScript
 * (the command tree, the core, knex) on the main thread, and taking the store's lock and starting PGlite
 * (PostgreSQL compiled to WebAssembly, its start about 230 ms of CPU). On one thread they run one after the
 * other; here PGlite starts on a worker thread, on the second core, while the main thread loads the
 * command, and the command then talks to it as it would to PGlite itself: `RemotePGlite` has the part of
 * PGlite's interface that knex's PGlite dialect (and MikroORM's, for migrations) calls: `query`, `exec`,
 * `waitReady` and `close`. Results and errors cross as structured clones (pglite-thread.ts).
 *
 * Only the CLI does this (the app keeps PGlite in its main process), and only when it is known early:
 * cli/run.ts (`earlyEmbeddedStore`) starts it; Database.open takes it over when the command resolves to the
 * same store, and a command that ends without opening it closes it (`endEarlyEmbedded`).
 */
import { Worker } from 'node:worker_threads'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { AppError } from '../../../shared/errors'
import { acquireEmbeddedLock, holdPrivateUmask } from './embedded-lock'
import { threadError, type FromWorker, type ToWorker } from './pglite-thread'

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void }
/** `ToWorker` without the id the proxy gives each message. */
type Request = ToWorker extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never

/** The part of PGlite's interface the knex dialect and MikroORM's PGlite driver use, across threads. */
export class RemotePGlite {
  /** Resolves once PGlite has started in the worker (rejects with why it could not). */
  readonly waitReady: Promise<void>
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private stopped: Error | null = null
  private closing: Promise<void> | null = null
  /** Gives up before PGlite was asked to start (the lock could not be taken): waitReady rejects with `e`. */
  readonly fail: (e: Error) => void
  /** Resolves once the thread runs its first statement (or has failed): see startEarlyEmbedded. */
  readonly booted: Promise<void>

  constructor(private readonly worker: Worker) {
    let booted!: () => void
    this.booted = new Promise<void>((res) => (booted = res))
    let ready!: () => void
    let failed!: (e: Error) => void
    this.waitReady = new Promise<void>((res, rej) => {
      ready = res
      failed = rej
    })
    // Not left unhandled when nobody waits (a command that never opens the store).
    this.waitReady.catch(() => undefined)
    worker.on('message', (m: FromWorker) => {
      if ('type' in m) {
        if (m.type === 'booted') booted()
        else if (m.type === 'ready') ready()
        else failed(threadError(m.error))
        return
      }
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      if ('error' in m) p.reject(threadError(m.error))
      else p.resolve(m.result)
    })
    const stop = (e: Error): void => {
      booted()
      this.stopped ??= e
      failed(e)
      for (const p of this.pending.values()) p.reject(e)
      this.pending.clear()
    }
    this.fail = (e: Error): void => {
      stop(e)
      void worker.terminate()
    }
    worker.on('error', (e) => stop(new AppError('UNAVAILABLE', `the embedded database's thread failed: ${e.message}`, { reason: 'thread' })))
    worker.on('exit', (code) => stop(new AppError('UNAVAILABLE', `the embedded database's thread ended (exit code ${code})`, { reason: 'thread' })))
  }

  /** Tells the thread to start PGlite: the caller holds the store's lock. */
  open(): void {
    this.worker.postMessage({ op: 'open' })
  }

  private call<T>(message: Request): Promise<T> {
    if (this.stopped) return Promise.reject(this.stopped)
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      try {
        this.worker.postMessage({ ...message, id })
      } catch (e) {
        // A parameter that cannot be cloned (a function): refused here, before it reaches PostgreSQL.
        this.pending.delete(id)
        reject(e instanceof Error ? e : new Error(String(e)))
      }
    })
  }

  query<T = Record<string, unknown>>(sql: string, params?: unknown[], options?: Record<string, unknown>): Promise<{ rows: T[]; fields: { name: string; dataTypeID: number }[]; affectedRows?: number }> {
    return this.call({ op: 'query', sql, params, options })
  }

  exec(sql: string, options?: Record<string, unknown>): Promise<{ rows: Record<string, unknown>[]; fields: { name: string; dataTypeID: number }[]; affectedRows?: number }[]> {
    return this.call({ op: 'exec', sql, options })
  }

  /** Shuts PGlite down in the worker (after the statements sent before), releases the lock, ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (!this.stopped) {
          await this.waitReady.catch(() => undefined)
          if (!this.stopped) await this.call({ op: 'close' })
        }
      } finally {
        // Not waited for: PGlite has shut down and the lock is released; the thread's own end is the OS's.
        void this.worker.terminate()
      }
    })()
    return this.closing
  }
}

/** The built pglite-worker.js beside this chunk; null when this process runs the TypeScript source. */
function workerFile(): URL | null {
  const built = new URL('./pglite-worker.js', import.meta.url)
  return built.protocol === 'file:' && fs.existsSync(fileURLToPath(built)) ? built : null
}

interface Early {
  pgDataDir: string
  pglite: RemotePGlite
  /** The store's lock's release, once this thread holds it for the process (the worker opens the store then). */
  unlock: (() => void) | null
  /** Gives the process its umask back (held private while the store may be written). */
  widen: () => void
  taken: boolean
}

let early: Early | null = null

/**
 * Starts opening the store in `pgDataDir` on a worker thread, which sets V8's `flags` for the process, and
 * takes the store's lock in this thread meanwhile. Resolves once the thread runs (or could not be made: the
 * command then opens the store itself, as before).
 *
 * The order matters: a worker's V8 isolate starts from Node's start-up snapshot only while the process's
 * V8 flags are those the snapshot was made with. Changed before the thread has started (as the CLI changes
 * them, run.ts), the worker bootstraps Node without it: 55-70 ms instead of 29 here, which was most of
 * what starting PGlite beside the command could gain. So the caller changes no flag until this resolves.
 * The lock is taken here, not there: it is an OS lock held by the process, this thread is waiting for the
 * worker anyway, and the worker loads PGlite and compiles its module while the lock is taken.
 */
export function startEarlyEmbedded(pgDataDir: string, flags: readonly string[]): Promise<void> {
  if (early) return Promise.resolve()
  const file = workerFile()
  if (!file) return Promise.resolve()
  // PGlite creates the store's files as it runs: the umask is process-wide (a worker cannot set it).
  const widen = holdPrivateUmask()
  let worker: Worker
  try {
    worker = new Worker(file, { workerData: { pgDataDir, flags } })
  } catch {
    widen()
    return Promise.resolve()
  }
  const pglite = new RemotePGlite(worker)
  const e: Early = { pgDataDir, pglite, unlock: null, widen, taken: false }
  early = e
  acquireEmbeddedLock(pgDataDir).then(
    (unlock) => {
      e.unlock = unlock
      pglite.open()
    },
    (err: unknown) => pglite.fail(err instanceof Error ? err : new Error(String(err)))
  )
  return pglite.booted
}

/**
 * The store started early, for Database.open, when it is the one the command resolved to: started (or
 * failed to start, with the reason the in-process open would give: the lock held by another process, a
 * damaged store). Null otherwise; then Database.open opens the store itself.
 */
export function takeEarlyEmbedded(pgDataDir: string): { pglite: RemotePGlite; release: () => void } | null {
  const e = early
  if (!e || e.taken || e.pgDataDir !== pgDataDir) return null
  e.taken = true
  return { pglite: e.pglite, release: () => releaseEarly(e) }
}

function releaseEarly(e: Early): void {
  e.widen()
  e.unlock?.()
  e.unlock = null
}

/**
 * At the end of a command: a store started early but never used is shut down cleanly; one still waiting
 * for the lock (another process holds it) is left, and the process's end gives the lock up.
 */
export async function endEarlyEmbedded(): Promise<void> {
  const e = early
  if (!e || e.taken) return
  e.taken = true
  try {
    if (e.unlock) await e.pglite.close()
    else e.pglite.fail(new Error('not needed'))
  } finally {
    releaseEarly(e)
  }
}

/**
 * PGlite keeps its data folder open in one process only, so the embedded store is locked: a second process
 * (the CLI while the app runs, say) waits a moment and then fails with a clear message instead of
 * corrupting the store.
 *
 * The lock is an operating-system lock held on an open file descriptor, so the system itself drops it when
 * the holder ends, however it ends (SIGKILL, a crash, a power cut): nothing is ever left to clean up, and
 * no process id is ever checked (a stale pid may belong to another process by now; two processes reading
 * "no owner" at once would both go ahead). Node has no flock() or fcntl() of its own. The choices were:
 * - proper-lockfile and lockfile: a directory or file whose age decides staleness. Not an OS lock: a
 *   holder that is merely slow loses it, and a dead one holds it until the timeout.
 * - fs-ext (flock/fcntl bindings): a native addon of its own, one more module to build for Node and for
 *   Electron, maintained only now and then.
 * - SQLite's own locking, through better-sqlite3, which Netkeeper already ships (the importer and the
 *   offline queue use it) and builds for both runtimes. On Unix SQLite locks with fcntl(F_SETLK) byte-range
 *   locks on the open database file, on Windows with LockFileEx: both are held by the open descriptor
 *   (handle) and released by the system when the process dies. An open `BEGIN EXCLUSIVE` holds the
 *   strongest of them, which no other connection, in this process or another, can share.
 * So the lock is a small SQLite file beside the store, `<store>.lock.sqlite`, held by a connection with an
 * exclusive transaction that is never committed; releasing is closing that connection. The file itself
 * stays (deleting a lock file races with the next holder) and holds no data.
 *
 * Two rules follow from fcntl's semantics: nothing else in this process may open and close the lock file
 * (closing any descriptor of a file drops the process's fcntl locks on it; SQLite guards its own
 * connections against that), and the lock is only as good as the file system's locking (a local disk;
 * not every network file system honours fcntl).
 *
 * Beside it, `<store>.lock.owner` records who took the lock last (pid, command, time), for the message a
 * second process shows. It is information only, never consulted to decide anything.
 *
 * Files are created 0600 and folders 0700 (the process umask is narrowed while SQLite creates the file).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { isMainThread } from 'node:worker_threads'
import type BetterSqlite3 from 'better-sqlite3'
import { AppError } from '../../../shared/errors'

/** How long a second process waits for the store by default; NETKEEPER_LOCK_WAIT_MS overrides it. */
export const DEFAULT_LOCK_WAIT_MS = 5_000

/** Sets the umask and returns the previous one; a worker thread may not (Node throws): there it does nothing. */
function setUmask(mask: number): number | null {
  return isMainThread ? process.umask(mask) : null
}

function sqlite(): typeof BetterSqlite3 {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3
  } catch (e) {
    throw new AppError('UNAVAILABLE', `the embedded database's lock needs better-sqlite3, which could not be loaded: ${(e as Error).message}`)
  }
}

/**
 * One attempt at the OS lock on `file` (created 0600 when missing). Returns the function that releases
 * it, or null when another connection, in this process or another, holds it.
 */
export function tryLockFile(file: string): (() => void) | null {
  const Sqlite = sqlite()
  const before = setUmask(0o077)
  let conn: BetterSqlite3.Database
  try {
    conn = new Sqlite(file, { timeout: 0 })
  } finally {
    if (before !== null) setUmask(before)
  }
  try {
    conn.exec('BEGIN EXCLUSIVE')
  } catch (e) {
    conn.close()
    if ((e as { code?: string }).code === 'SQLITE_BUSY' || (e as { code?: string }).code === 'SQLITE_LOCKED') return null
    throw new AppError('UNAVAILABLE', `could not lock ${file}: ${(e as Error).message}`)
  }
  let held = true
  return () => {
    if (!held) return
    held = false
    try {
      conn.close()
    } catch {
      /* the lock goes with the process anyway */
    }
  }
}

let privateHolds = 0
let umaskBefore: number | null = null

/**
 * Narrows the process umask to 077 while an embedded store is open: PGlite creates the store's files as
 * PostgreSQL asks (0640, folders 0750) and new ones keep appearing (relations, WAL segments) for as long
 * as it runs, so the umask is the one place that makes every one of them 0600 / 0700. Returns the function
 * that gives the previous umask back once the last store closes.
 */
export function holdPrivateUmask(): () => void {
  if (privateHolds++ === 0) umaskBefore = setUmask(0o077)
  let held = true
  return () => {
    if (!held) return
    held = false
    if (--privateHolds === 0 && umaskBefore !== null) setUmask(umaskBefore)
  }
}

interface OwnerNote {
  pid: number
  command: string
  host: string
  since: string
}

function readOwner(file: string): OwnerNote | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as OwnerNote
  } catch {
    return null
  }
}

function waitFromEnv(): number {
  const v = Number(process.env.NETKEEPER_LOCK_WAIT_MS)
  return Number.isFinite(v) && v >= 0 ? v : DEFAULT_LOCK_WAIT_MS
}

/** Tightens a store made by an older Netkeeper (files 0640 or 0644, folders 0750): 0600 and 0700. */
function tighten(dir: string): void {
  let entries: fs.Dirent[]
  try {
    fs.chmodSync(dir, 0o700)
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return
  }
  for (const e of entries) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) tighten(p)
    else if (e.isFile()) {
      try {
        fs.chmodSync(p, 0o600)
      } catch {
        /* not ours to change: leave it */
      }
    }
  }
}

/**
 * Takes the embedded store's lock, waiting up to `waitMs` for another process to let go. Returns the
 * release function (also run when the process exits normally; any other end releases it too).
 */
export async function acquireEmbeddedLock(pgDataDir: string, waitMs = waitFromEnv()): Promise<() => void> {
  fs.mkdirSync(path.dirname(pgDataDir), { recursive: true, mode: 0o700 })
  const lockFile = `${pgDataDir}.lock.sqlite`
  const ownerFile = `${pgDataDir}.lock.owner`
  const deadline = Date.now() + waitMs
  for (;;) {
    const release = tryLockFile(lockFile)
    if (release) {
      fs.chmodSync(lockFile, 0o600)
      fs.writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, command: process.argv.slice(1).map((a) => path.basename(a)).join(' ').slice(0, 200), host: os.hostname(), since: new Date().toISOString() } satisfies OwnerNote), { mode: 0o600 })
      // The pid file of Netkeeper before the OS lock: meaningless now, and misleading to a person.
      const legacy = `${pgDataDir}.lock`
      if (fs.existsSync(legacy) && /^\s*\d+\s*$/.test(fs.readFileSync(legacy, 'utf8'))) fs.rmSync(legacy, { force: true })
      tighten(pgDataDir)
      process.once('exit', release)
      return () => {
        process.off('exit', release)
        release()
      }
    }
    if (Date.now() >= deadline) {
      const o = readOwner(ownerFile)
      throw new AppError(
        'UNAVAILABLE',
        `the embedded database in ${pgDataDir} is in use by another Netkeeper process` +
          `${o ? ` (most likely pid ${o.pid} on ${o.host}, "${o.command}", since ${o.since})` : ''}. ` +
          'Close it, or point both at a shared PostgreSQL server (NETKEEPER_DATABASE_URL or a saved profile).',
        { reason: 'locked' }
      )
    }
    // Jittered, so processes that started together do not keep colliding in step.
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100))
  }
}

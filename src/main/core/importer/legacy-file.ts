/**
 * Reads a LDAP Web Manager v2.0 IPAM file: recognises it, then loads its rows as text, exactly as found.
 * The file is opened read-only and never changed. Nothing is judged here (plan/ does that), except
 * whether the file is a legacy IPAM database at all, which is refused with a reason naming the file.
 *
 * The file may be hostile, so before any row is read: ip_pools and ip_allocations must be real tables
 * (a view, recursive or not, or a virtual table could run any query for as long as it likes, and every
 * read here is synchronous); the schema is not trusted (trusted_schema off: no function with side
 * effects runs from it); and the file must stay within the caps below (rows per table, bytes per value and
 * per row, measured by octet_length, which reads a value's size without loading it), each refusal naming
 * its cap. Those caps are what bound every later read: a page of rows is at most PAGE rows of at most
 * rowBytes each. Measuring them reads the whole file, so it runs in a worker thread (caps-worker below)
 * under a deadline: past it the worker is abandoned and the file refused, and the main process, which
 * answers the window, is never held by it. A cancel (the signal) is honoured between every step and every
 * page of rows, and stops the measuring at once.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import type Database from 'better-sqlite3'
import { AppError, validationError } from '../../../shared/errors'
import type { LegacyFileInfo } from '../../../shared/importer'

export interface LegacyPool {
  /** SQLite rowid: the row's place in the file. */
  row: number
  id: string | null
  name: string | null
  network: string | null
  description: string | null
  vlanId: string | null
  gateway: string | null
  dnsServers: string | null
  createdAt: string | null
  modifiedAt: string | null
}

export interface LegacyAllocation {
  row: number
  id: string | null
  poolId: string | null
  ip: string | null
  hostname: string | null
  mac: string | null
  type: string | null
  description: string | null
  allocatedBy: string | null
  createdAt: string | null
  modifiedAt: string | null
}

/**
 * An open legacy file: its pools in memory, its allocations streamed in file order (each call to
 * allocations() is a new pass). Everything is read inside one SQLite read transaction, so every pass sees
 * the same rows even if another program writes to the file meanwhile. close() when done.
 */
export interface LegacySource {
  file: LegacyFileInfo
  pools: LegacyPool[]
  allocationCount: number
  /** Optional columns the file lacks (read as empty), as `table.column`. */
  missingColumns: string[]
  allocations(): IterableIterator<LegacyAllocation>
  close(): void
}

/** Columns per table: the required ones refuse the file when missing; the others read as NULL. */
const SCHEMA = {
  ip_pools: {
    required: ['id', 'name', 'network'],
    optional: ['description', 'vlan_id', 'gateway', 'dns_servers', 'created_at', 'modified_at']
  },
  ip_allocations: {
    required: ['id', 'pool_id', 'ip_address', 'allocation_type'],
    optional: ['hostname', 'mac_address', 'description', 'allocated_by', 'created_at', 'modified_at']
  }
} as const

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1')

/** What a legacy file may hold at most (v2.0 installations hold far less; docs/import.md#limits). */
export const LEGACY_CAPS = {
  pools: 100_000,
  allocations: 5_000_000,
  /** Bytes in any one value the importer reads. */
  valueBytes: 64 * 1024,
  /** Bytes in any one row (its values together), so a page of 1,000 rows stays within 64 MiB. */
  rowBytes: 64 * 1024,
  /** How long measuring the file against the caps may take (NETKEEPER_IMPORT_CHECK_DEADLINE_MS overrides). */
  checkSeconds: 60
} as const

const checkDeadlineMs = (): number => {
  const v = Number(process.env.NETKEEPER_IMPORT_CHECK_DEADLINE_MS)
  return Number.isFinite(v) && v > 0 ? v : LEGACY_CAPS.checkSeconds * 1000
}

const fmtBytes = (n: number): string => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1).replace(/\.0$/, '')} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1).replace(/\.0$/, '')} KiB` : `${n} bytes`)

/** SQLite values as text: numbers keep their decimal form, blobs are shown as hex so they fail validation visibly. */
function text(v: unknown): string | null {
  if (v === null || v === undefined) return null
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'bigint') return String(v)
  if (Buffer.isBuffer(v)) return `x'${v.toString('hex')}'`
  return String(v)
}

/**
 * better-sqlite3 is a native module, loaded on first use: a build whose copy does not match the running
 * Node or Electron then fails this one feature with a clear error instead of failing the app's start.
 */
async function loadSqlite(): Promise<typeof Database> {
  try {
    return (await import('better-sqlite3')).default
  } catch (e) {
    throw new AppError('UNAVAILABLE', `file: the SQLite reader (better-sqlite3) could not be loaded: ${(e as Error).message}; reinstall or rebuild native modules for this build`, {
      field: 'file'
    })
  }
}

const quote = (ident: string): string => `"${ident.replace(/"/g, '""')}"`

/** SHA-256 of the file, read through one buffer (a read stream's fresh chunk per read left tens of MB behind). */
async function fingerprint(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256')
  const fh = await fs.promises.open(file, 'r')
  try {
    const buf = Buffer.allocUnsafe(FINGERPRINT_CHUNK)
    for (;;) {
      signal?.throwIfAborted()
      const { bytesRead } = await fh.read(buf, 0, buf.length, null)
      if (!bytesRead) break
      hash.update(buf.subarray(0, bytesRead))
    }
  } finally {
    await fh.close()
  }
  return hash.digest('hex')
}

const FINGERPRINT_CHUNK = 1 << 20

function sqliteError(file: string, e: unknown): AppError {
  const err = e as { code?: string; message?: string }
  const name = path.basename(file)
  switch (err?.code) {
    case 'SQLITE_NOTADB':
      return validationError('file', `"${name}" is not a SQLite database`, { path: file })
    case 'SQLITE_CORRUPT':
      return validationError('file', `"${name}" is damaged and cannot be read (${err.message}); try a backup copy, or repair it with sqlite3's .recover`, { path: file })
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return new AppError('UNAVAILABLE', `file: "${name}" is locked by another program (is the old web application still running?); stop it or copy the file first`, { field: 'file', path: file })
    case 'SQLITE_CANTOPEN':
    case 'SQLITE_PERM':
    case 'SQLITE_READONLY':
      return validationError('file', `"${name}" cannot be opened read-only (${err.message}); check its permissions`, { path: file })
  }
  return validationError('file', `"${name}" cannot be read as a legacy IPAM file: ${err?.message ?? String(e)}`, { path: file })
}

/**
 * Checks that `input` names a readable SQLite file with the legacy tables and columns. Returns the open
 * database (read-only), the columns each table has, and the file's fingerprint.
 */
export async function openLegacyFile(input: string, signal?: AbortSignal): Promise<{ db: Database.Database; info: LegacyFileInfo; columns: Record<keyof typeof SCHEMA, Set<string>> }> {
  const file = path.resolve(input)
  const name = path.basename(file)
  let stat: fs.Stats
  try {
    stat = fs.statSync(file)
  } catch (e) {
    const code = (e as { code?: string }).code
    throw validationError('file', code === 'ENOENT' ? `no such file: ${file}` : `${file} cannot be read (${(e as Error).message})`, { path: file })
  }
  if (stat.isDirectory()) throw validationError('file', `${file} is a folder; choose the legacy .db file inside it`, { path: file })
  // Checked before opening: SQLite happily "opens" an empty or foreign file and only fails on the first query.
  const head = Buffer.alloc(SQLITE_HEADER.length)
  let fd: number | undefined
  try {
    fd = fs.openSync(file, 'r')
    fs.readSync(fd, head, 0, head.length, 0)
  } catch (e) {
    throw validationError('file', `${file} cannot be read (${(e as Error).message})`, { path: file })
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
  if (stat.size === 0) throw validationError('file', `"${name}" is empty, not a legacy IPAM database`, { path: file })
  if (!head.equals(SQLITE_HEADER)) {
    throw validationError('file', `"${name}" is not a SQLite database, so not a legacy IPAM file (LDAP Web Manager v2.0 keeps IPAM in a SQLite .db file)`, {
      path: file
    })
  }
  const Sqlite = await loadSqlite()
  let db: Database.Database
  try {
    db = new Sqlite(file, { readonly: true, fileMustExist: true })
  } catch (e) {
    throw sqliteError(file, e)
  }
  try {
    // Nothing the file's schema defines (a view's or a generated column's functions) may have side effects.
    db.pragma('trusted_schema = off')
    const objects = db.prepare(`select name, type, sql from sqlite_master where type in ('table', 'view')`).all() as { name: string; type: string; sql: string | null }[]
    const tables = new Set(objects.map((r) => r.name))
    const missingTables = (Object.keys(SCHEMA) as (keyof typeof SCHEMA)[]).filter((t) => !tables.has(t))
    if (missingTables.length) {
      const found = [...tables].filter((t) => !t.startsWith('sqlite_')).sort()
      throw validationError(
        'file',
        `"${name}" is a SQLite database but not a legacy IPAM file: it has no ${missingTables.join(' or ')} table ` +
          `(tables found: ${found.length ? found.join(', ') : 'none'}; expected ip_pools and ip_allocations of LDAP Web Manager v2.0)`,
        { path: file, missingTables }
      )
    }
    // Only real tables: a view (a recursive one never ends) or a virtual table runs code of the file's choosing.
    const fake = (Object.keys(SCHEMA) as (keyof typeof SCHEMA)[])
      .map((t) => objects.find((o) => o.name === t)!)
      .filter((o) => o.type !== 'table' || /^\s*create\s+virtual\s+table/i.test(o.sql ?? ''))
    if (fake.length) {
      const what = fake.map((o) => `${o.name} is a ${o.type === 'view' ? 'view' : 'virtual table'}`).join(' and ')
      throw validationError('file', `"${name}" is not a legacy IPAM file: ${what}, not a table (Netkeeper reads only real tables)`, { path: file, notTables: fake.map((o) => o.name) })
    }
    const columns = {} as Record<keyof typeof SCHEMA, Set<string>>
    const missingRequired: string[] = []
    for (const t of Object.keys(SCHEMA) as (keyof typeof SCHEMA)[]) {
      const cols = new Set((db.prepare(`pragma table_info(${quote(t)})`).all() as { name: string }[]).map((c) => c.name.toLowerCase()))
      columns[t] = cols
      for (const c of SCHEMA[t].required) if (!cols.has(c)) missingRequired.push(`${t}.${c}`)
    }
    if (missingRequired.length) {
      throw validationError('file', `"${name}" is not a legacy IPAM file: it lacks the column(s) ${missingRequired.join(', ')}`, { path: file, missingColumns: missingRequired })
    }
    await checkCaps(file, name, columns, signal)
    const info: LegacyFileInfo = { path: file, name, size: stat.size, sha256: await fingerprint(file, signal), modifiedAt: stat.mtime.toISOString() }
    return { db, info, columns }
  } catch (e) {
    db.close()
    throw e instanceof AppError || (e as Error)?.name === 'AbortError' ? e : sqliteError(file, e)
  }
}

/**
 * The worker that measures a file against the caps: it opens the file read-only (schema not trusted) and
 * answers each { sql, params } with its rows. Plain CommonJS run from this string (eval), so the same code
 * works from the TypeScript source, the bundle and the packaged app; better-sqlite3 is required by the
 * path this module resolves it to.
 */
const CAPS_WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const Sqlite = require(workerData.sqlite)
const db = new Sqlite(workerData.file, { readonly: true, fileMustExist: true })
db.pragma('trusted_schema = off')
parentPort.on('message', (m) => {
  try {
    parentPort.postMessage({ id: m.id, rows: db.prepare(m.sql).all(...m.params) })
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: { message: String(e && e.message), code: e && e.code } })
  }
})
`

/** Runs read-only queries on `file` in a worker, all of them within `deadlineMs`; stops at once on `signal`. */
class CapsWorker {
  private readonly worker: Worker
  private readonly pending = new Map<number, { resolve: (rows: unknown[]) => void; reject: (e: unknown) => void }>()
  private next = 0
  private failure: unknown
  private readonly timer: NodeJS.Timeout
  private readonly onAbort: () => void

  constructor(file: string, private readonly name: string, deadlineMs: number, private readonly signal?: AbortSignal) {
    this.worker = new Worker(CAPS_WORKER, { eval: true, workerData: { file, sqlite: createRequire(import.meta.url).resolve('better-sqlite3') } })
    this.worker.unref()
    this.worker.on('message', (m: { id: number; rows?: unknown[]; error?: { message: string; code?: string } }) => {
      const p = this.pending.get(m.id)
      this.pending.delete(m.id)
      if (m.error) p?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }))
      else p?.resolve(m.rows ?? [])
    })
    this.worker.on('error', (e) => this.fail(e))
    this.timer = setTimeout(() => {
      const took = deadlineMs >= 1000 ? `${Math.round(deadlineMs / 100) / 10} s` : `${deadlineMs} ms`
      this.fail(
        validationError('file', `"${name}" took longer than ${took} to measure against the import's caps (cap: seconds to check a file); it was not read`, {
          cap: 'checkSeconds',
          limit: deadlineMs / 1000
        })
      )
    }, deadlineMs)
    this.onAbort = () => this.fail(signal!.reason ?? Object.assign(new Error('cancelled'), { name: 'AbortError' }))
    signal?.addEventListener('abort', this.onAbort, { once: true })
  }

  query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (this.failure) return Promise.reject(this.failure)
    const id = this.next++
    return new Promise<T[]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (rows: unknown[]) => void, reject })
      this.worker.postMessage({ id, sql, params })
    })
  }

  /** Ends the worker. A statement still running finishes in its thread and is thrown away. */
  private fail(e: unknown): void {
    if (this.failure) return
    this.failure = e
    for (const p of this.pending.values()) p.reject(e)
    this.pending.clear()
    this.close()
  }

  close(): void {
    clearTimeout(this.timer)
    this.signal?.removeEventListener('abort', this.onAbort)
    void this.worker.terminate()
  }
}

/** Refuses a file past LEGACY_CAPS, naming the cap, the table and (for a value or a row) the column and row. */
async function checkCaps(file: string, name: string, columns: Record<keyof typeof SCHEMA, Set<string>>, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  const w = new CapsWorker(file, name, checkDeadlineMs(), signal)
  try {
    const limits = { ip_pools: LEGACY_CAPS.pools, ip_allocations: LEGACY_CAPS.allocations }
    for (const t of Object.keys(SCHEMA) as (keyof typeof SCHEMA)[]) {
      // Counting stops one past the cap: a file of a billion rows costs no more than one at the cap.
      const [{ n }] = (await w.query<{ n: number }>(`select count(*) as n from (select 1 from ${quote(t)} limit ?)`, [limits[t] + 1])) as [{ n: number }]
      if (n > limits[t]) {
        const cap = t === 'ip_pools' ? 'pools' : 'allocations'
        throw validationError('file', `"${name}" holds more than ${limits[t].toLocaleString('en-US')} rows in ${t}, the most Netkeeper imports (cap: ${cap} per file)`, {
          path: file,
          cap,
          limit: limits[t]
        })
      }
    }
    for (const t of Object.keys(SCHEMA) as (keyof typeof SCHEMA)[]) {
      const cols = [...SCHEMA[t].required, ...SCHEMA[t].optional].filter((c) => columns[t].has(c))
      const size = (c: string): string => `coalesce(octet_length(${quote(c)}), 0)`
      const rowSize = cols.map(size).join(' + ')
      const [big] = await w.query<Record<string, number>>(
        `select rowid as "__row", ${rowSize} as "__bytes", ${cols.map((c) => `${size(c)} as ${quote(c)}`).join(', ')} from ${quote(t)}
          where ${cols.map((c) => `${size(c)} > ?`).join(' or ')} or ${rowSize} > ? limit 1`,
        [...cols.map(() => LEGACY_CAPS.valueBytes), LEGACY_CAPS.rowBytes]
      )
      if (!big) continue
      const col = cols.find((c) => (big[c] ?? 0) > LEGACY_CAPS.valueBytes)
      if (col) {
        throw validationError(
          'file',
          `"${name}" has a value larger than ${fmtBytes(LEGACY_CAPS.valueBytes)}, the most Netkeeper reads (cap: bytes per value): ${t}.${col} of row ${big.__row} holds ${fmtBytes(big[col]!)}`,
          { path: file, cap: 'valueBytes', limit: LEGACY_CAPS.valueBytes, table: t, column: col, row: big.__row }
        )
      }
      throw validationError(
        'file',
        `"${name}" has a row larger than ${fmtBytes(LEGACY_CAPS.rowBytes)}, the most Netkeeper reads (cap: bytes per row): row ${big.__row} of ${t} holds ${fmtBytes(big.__bytes!)}`,
        { path: file, cap: 'rowBytes', limit: LEGACY_CAPS.rowBytes, table: t, row: big.__row }
      )
    }
  } catch (e) {
    throw e instanceof AppError || (e as Error)?.name === 'AbortError' ? e : sqliteError(file, e)
  } finally {
    w.close()
  }
}

/** Allocations read per query. */
const PAGE = 1_000

/** SQLite's page cache for a legacy file, in KiB. */
const CACHE_KIB = 2048

export interface ReadOptions {
  signal?: AbortSignal
}

/** Opens a legacy file for reading: recognises it, reads its pools and counts its allocations. */
export async function openLegacySource(input: string, opts: ReadOptions = {}): Promise<LegacySource> {
  const { db, info, columns } = await openLegacyFile(input, opts.signal)
  try {
    opts.signal?.throwIfAborted()
    // Every pass reads the tables from start to end, so a page cache (better-sqlite3 makes it 16 MB) only
    // holds pages the next pass meets again after reading the rest: a small one does as well, in less memory.
    db.pragma(`cache_size = -${CACHE_KIB}`)
    // A read transaction: one consistent snapshot for every pass.
    db.exec('begin')
    const missingColumns: string[] = []
    // The select of a table's columns (a missing optional one reads as NULL and is listed once in missingColumns).
    const select = (t: keyof typeof SCHEMA): ((tail: string) => string) => {
      const wanted = [...SCHEMA[t].required, ...SCHEMA[t].optional]
      const list = wanted.map((c) => {
        if (columns[t].has(c)) return quote(c)
        missingColumns.push(`${t}.${c}`)
        return `null as ${quote(c)}`
      })
      return (tail) => `select rowid as "__row", ${list.join(', ')} from ${quote(t)}${tail}`
    }
    const pools: LegacyPool[] = []
    for (const r of db.prepare(select('ip_pools')(' order by rowid')).raw(true).iterate() as IterableIterator<unknown[]>) {
      pools.push({
        row: Number(r[0]),
        id: text(r[1]),
        name: text(r[2]),
        network: text(r[3]),
        description: text(r[4]),
        vlanId: text(r[5]),
        gateway: text(r[6]),
        dnsServers: text(r[7]),
        createdAt: text(r[8]),
        modifiedAt: text(r[9])
      })
    }
    const allocationCount = (db.prepare(`select count(*) as n from "ip_allocations"`).get() as { n: number }).n
    // Allocations are read a page at a time (all() costs less per row than iterate()), the next page after
    // the last rowid read. A rowid beyond 2^53 cannot be passed back exactly: the pass then goes on with
    // one statement over all rows, skipping those already read.
    const allocSql = select('ip_allocations')
    const firstPage = db.prepare(allocSql(` order by rowid limit ${PAGE}`)).raw(true)
    const nextPage = db.prepare(allocSql(` where rowid > ? order by rowid limit ${PAGE}`)).raw(true)
    const allocSelect = db.prepare(allocSql(' order by rowid')).raw(true)
    const allocation = (r: unknown[]): LegacyAllocation => ({
      row: Number(r[0]),
      id: text(r[1]),
      poolId: text(r[2]),
      ip: text(r[3]),
      type: text(r[4]),
      hostname: text(r[5]),
      mac: text(r[6]),
      description: text(r[7]),
      allocatedBy: text(r[8]),
      createdAt: text(r[9]),
      modifiedAt: text(r[10])
    })
    let closed = false
    return {
      file: info,
      pools,
      allocationCount,
      missingColumns,
      *allocations() {
        try {
          let read = 0
          let page = firstPage.all() as unknown[][]
          for (;;) {
            for (let i = 0; i < page.length; i++) yield allocation(page[i]!)
            read += page.length
            if (page.length < PAGE) return
            opts.signal?.throwIfAborted()
            const last = page[page.length - 1]![0]
            if (typeof last !== 'number' || !Number.isSafeInteger(last)) break
            page = nextPage.all(last) as unknown[][]
          }
          let skip = read
          for (const r of allocSelect.iterate() as IterableIterator<unknown[]>) {
            if (skip > 0) skip--
            else yield allocation(r)
          }
        } catch (e) {
          throw e instanceof AppError || (e as Error)?.name === 'AbortError' ? e : sqliteError(info.path, e)
        }
      },
      close() {
        if (closed) return
        closed = true
        try {
          db.exec('rollback')
        } catch {
          // not in a transaction any more: nothing to end
        }
        db.close()
      }
    }
  } catch (e) {
    db.close()
    throw e instanceof AppError || (e as Error)?.name === 'AbortError' ? e : sqliteError(info.path, e)
  }
}

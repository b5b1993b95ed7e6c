/**
 * Archives of audit rows (docs/audit.md#archives): gzipped JSON Lines, oldest first, one row per line in the
 * JSON export's form, with a manifest beside each file (`<file>.manifest.json`). A purge writes one before
 * it deletes anything (retention.ts); `audit archive` copies the rows still in the log (before a rollback,
 * say). This module writes them, synced to disk, and reads a folder of them back, checking each file
 * against its manifest and each row against its hash; verify.ts then fits them to the chain.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import zlib from 'node:zlib'
import type { Knex } from '@mikro-orm/postgresql'
import { z } from 'zod'
import { AppError } from '../../../shared/errors'
import type { ArchiveSummary, VerifyProblem } from '../../../shared/audit'
import { GENESIS_HASH, hashOfExportedRow, type ExportedRow } from './canonical'
import { exportLineSql } from './export'
import type { Rows } from './rows'

/** The default folder's name inside the data folder. */
export const ARCHIVE_DIR_NAME = 'audit-archive'
export const MANIFEST_SUFFIX = '.manifest.json'
const DATA_SUFFIX = '.jsonl.gz'

/** A run of consecutive rows in an archive: the hash before its first row and of its last. */
export interface ArchiveRun {
  firstSeq: string
  lastSeq: string
  rows: number
  hashBefore: string
  lastHash: string
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters')
const seqText = z.string().regex(/^\d+$/, 'must be a sequence number')

export const archiveManifestSchema = z
  .object({
    kind: z.literal('netkeeper-audit-archive'),
    version: z.literal(1),
    /** purge: the rows a purge removed; copy: rows copied while they stay in the log (`audit archive`). */
    purpose: z.enum(['purge', 'copy']),
    file: z.string().min(1).refine((f) => path.basename(f) === f, 'must be a file name in the same folder'),
    firstSeq: seqText,
    lastSeq: seqText,
    rows: z.number().int().positive(),
    hashBeforeFirst: hex64,
    lastHash: hex64,
    runs: z.array(z.object({ firstSeq: seqText, lastSeq: seqText, rows: z.number().int().positive(), hashBefore: hex64, lastHash: hex64 }).strict()).min(1),
    sha256: hex64,
    bytes: z.number().int().nonnegative(),
    /** The purge's own audit row (its details name this file and its SHA-256); null for a copy. */
    purgeSeq: seqText.nullable(),
    purgeRowHash: hex64.nullable(),
    createdAt: z.string(),
    database: z.string()
  })
  .strict()
export type ArchiveManifest = z.infer<typeof archiveManifestSchema>

const pad = (seq: string): string => seq.padStart(12, '0')

/** An error naming the archive folder; nothing was purged or copied. */
function folderError(dir: string, e: unknown, what: string): AppError {
  const code = (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e)
  return new AppError('UNAVAILABLE', `archiveDir: the archive folder ${dir} cannot be written (${code}); ${what}`, { field: 'archiveDir', dir })
}

/**
 * Makes sure the archive folder is there: the default one (inside the data folder) is created; a configured
 * one must exist already, so an archive never lands on the local disk because a share was not mounted.
 */
export function prepareArchiveDir(dir: string, isDefault: boolean): void {
  try {
    if (isDefault) fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    const st = fs.statSync(dir)
    if (!st.isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new AppError(
      'VALIDATION',
      code === 'ENOENT' ? `archiveDir: the archive folder ${dir} does not exist; create it or choose another` : `archiveDir: the archive folder ${dir} cannot be used (${code ?? (e as Error).message})`,
      { field: 'archiveDir', dir }
    )
  }
}

/** Syncs a folder, so a rename into it is on disk (a no-op where folders cannot be opened, as on Windows). */
async function syncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined
  try {
    fh = await fs.promises.open(dir, 'r')
    await fh.sync()
  } catch (e) {
    if (process.platform !== 'win32') throw e
  } finally {
    await fh?.close()
  }
}

/** An archive's data file, written and synced, whose manifest is not yet written. */
export interface PendingArchive {
  dir: string
  /** The data file's name (in dir). */
  name: string
  sha256: string
  bytes: number
  rows: number
  runs: ArchiveRun[]
}

/**
 * The runs of consecutive rows `where` selects (in `trx`'s snapshot), with the hash before each and of its
 * last row: computed by the server, so the archive's cursor only moves each row's text.
 */
export async function runsWhere(trx: Knex.Transaction, where: string, bindings: Knex.RawBinding[]): Promise<ArchiveRun[]> {
  const r = await trx.raw<Rows<{ f: string; l: string; n: string; before: string; last: string }>>(
    `with g as (select min(seq) as f, max(seq) as l, count(*) as n
                  from (select seq, seq - row_number() over (order by seq) as g from audit_logs where ${where}) x group by x.g)
     select g.f::text as f, g.l::text as l, g.n::text as n, a.prev_hash as before, b.row_hash as last
       from g join audit_logs a on a.seq = g.f join audit_logs b on b.seq = g.l order by g.f`,
    bindings
  )
  return r.rows.map((x) => ({ firstSeq: x.f, lastSeq: x.l, rows: Number(x.n), hashBefore: x.before, lastHash: x.last }))
}

/**
 * Streams the rows of `runs`, oldest first, through a server-side cursor of `trx` into a gzipped JSON Lines
 * file in `dir` (each line formatted by PostgreSQL, as the JSON Lines export), then syncs it to disk. The
 * runs come from the caller (the purge's plan, or runsWhere) in the same snapshot; the rows streamed must
 * be as many as they hold. Returns null (and leaves nothing) when there are none. Any failure leaves no
 * file behind and throws, naming the folder.
 */
export async function writeArchiveData(trx: Knex.Transaction, dir: string, runs: ArchiveRun[]): Promise<PendingArchive | null> {
  if (!runs.length) return null
  const partial = path.join(dir, `.audit-archive-${process.pid}-${crypto.randomBytes(4).toString('hex')}.partial`)
  let fh: fs.promises.FileHandle
  try {
    fh = await fs.promises.open(partial, 'wx', 0o600)
  } catch (e) {
    throw folderError(dir, e, 'nothing was archived or removed')
  }
  let rows = 0
  const hash = crypto.createHash('sha256')
  let bytes = 0
  // One index range scan per run, in the runs' order: rows come out in sequence order without a sort (a join
  // of the runs with the log would sort every row's text first, spilling hundreds of MB to disk).
  const select = (cols: string): string =>
    `select ${cols} from unnest(?::bigint[], ?::bigint[]) as r(f, l)
       cross join lateral (select audit_logs.seq, ${exportLineSql('jsonl')} as line from audit_logs
                            where audit_logs.seq between r.f and r.l order by audit_logs.seq) as x`
  const bounds = [runs.map((r) => r.firstSeq), runs.map((r) => r.lastSeq)] as unknown as Knex.RawBinding[]
  async function* lines(): AsyncGenerator<string> {
    // The order is checked as the rows arrive.
    await trx.raw(`declare audit_archive no scroll cursor for ${select('x.seq::text as seq, x.line')}`, bounds)
    const fetchNext = () => trx.raw<Rows<{ seq: string; line: string }>>(`fetch 2000 from audit_archive`).then((r) => r.rows)
    let last = 0n
    // Ask for the next batch before compressing this one, so the server reads while this process writes.
    let pending = fetchNext()
    for (;;) {
      const batch = await pending
      if (!batch.length) break
      pending = fetchNext()
      // Pieces of about 64 kB: strings that size are reclaimed young; one string per batch (megabytes) would
      // sit in the large-object space until a full collection and make the process grow (as in export.ts).
      let text = ''
      for (const r of batch) {
        const seq = BigInt(r.seq)
        if (seq <= last) throw new AppError('INTERNAL', `the archive got row ${r.seq} after row ${last}; nothing was removed`)
        last = seq
        rows++
        text += r.line + '\n'
        if (text.length >= 65536) {
          yield text
          text = ''
        }
      }
      if (text) yield text
    }
    await trx.raw(`close audit_archive`)
  }
  const copy = await copyOut(trx, select('x.line'), bounds as unknown as string[][])
  let source: Readable
  let copyDone: Promise<void> = Promise.resolve()
  if (copy) {
    // COPY hands over the lines as bytes, as the server wrote them: no row objects, no strings (about twice
    // as fast as the cursor for a large archive). Each line ends in a newline, which counts the rows.
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        if (chunk.includes(COPY_QUOTE)) return done(new AppError('INTERNAL', 'the archive got a line the server quoted; nothing was removed'))
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++
        done(null, chunk)
      }
    })
    copyDone = new Promise<void>((resolve, reject) => copy.on('end', resolve).on('error', reject))
    copy.on('error', (e) => counter.destroy(e))
    copy.pipe(counter)
    source = counter
  } else source = Readable.from(lines())
  let failedOnDisk = false
  try {
    await pipeline(source, zlib.createGzip({ level: 1 }), async function (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk)
        bytes += chunk.length
        try {
          await fh.write(chunk)
        } catch (e) {
          failedOnDisk = true
          throw e
        }
      }
    })
    try {
      await fh.sync()
    } catch (e) {
      failedOnDisk = true
      throw e
    }
    await copyDone
    await fh.close()
  } catch (e) {
    await fh.close().catch(() => undefined)
    await fs.promises.rm(partial, { force: true })
    if (copy) {
      // The connection stays in COPY until the server has sent every line: read the rest and drop it, so the
      // caller's rollback can run on it.
      copy.unpipe()
      copy.resume()
      await copyDone.catch(() => undefined)
    }
    // A cursor left open by a failed write goes with the transaction, which the caller rolls back.
    throw failedOnDisk ? folderError(dir, e, 'nothing was removed') : e
  }
  const expected = runs.reduce((n, r) => n + r.rows, 0)
  if (rows !== expected) {
    await fs.promises.rm(partial, { force: true })
    throw new AppError('INTERNAL', `the archive got ${rows} rows where its runs hold ${expected}; nothing was removed`)
  }
  const name = `audit-${pad(runs[0]!.firstSeq)}-${pad(runs[runs.length - 1]!.lastSeq)}-${crypto.randomBytes(4).toString('hex')}${DATA_SUFFIX}`
  try {
    await fs.promises.rename(partial, path.join(dir, name))
    await syncDir(dir)
  } catch (e) {
    await fs.promises.rm(partial, { force: true })
    await fs.promises.rm(path.join(dir, name), { force: true })
    throw folderError(dir, e, 'nothing was removed')
  }
  return { dir, name, sha256: hash.digest('hex'), bytes, rows, runs }
}

/** The quote character of copyOut's CSV: a byte no JSON text holds raw (JSON escapes it as \u0001). */
const COPY_QUOTE = 1

/**
 * `COPY (sql) TO STDOUT` on the connection of `trx`, as a stream of bytes, when it is a pg connection to a
 * server (null on the embedded store, whose driver has no COPY out). Each row's single text column comes
 * out verbatim and ends in a newline: CSV with a quote and a delimiter that JSON never holds raw, so nothing
 * is quoted or escaped. `arrays` replace the `?` in `sql` in order as bigint[] literals (COPY takes no
 * parameters); only digits reach the text.
 */
async function copyOut(trx: Knex.Transaction, sql: string, arrays: string[][]): Promise<Readable | null> {
  const client = trx.client as { driverName?: string; acquireConnection(): Promise<{ query(q: unknown): Readable }> }
  if (client.driverName !== 'pg') return null
  let i = 0
  const text = sql.replace(/\?/g, () => {
    const values = arrays[i++]!
    if (!values.every((v) => /^\d+$/.test(v))) throw new AppError('INTERNAL', 'an archive run bound is not a sequence number')
    return `'{${values.join(',')}}'`
  })
  const { to } = await import('pg-copy-streams')
  // Within a transaction, knex hands back the transaction's own connection.
  const conn = await client.acquireConnection()
  return conn.query(to(`copy (${text}) to stdout with (format csv, delimiter e'\\x02', quote e'\\x01')`))
}

/** Writes the manifest of a data file written by writeArchiveData, synced. */
export async function writeArchiveManifest(
  p: PendingArchive,
  extra: { purpose: ArchiveManifest['purpose']; purgeSeq: string | null; purgeRowHash: string | null; database: string }
): Promise<ArchiveSummary> {
  const manifest: ArchiveManifest = {
    kind: 'netkeeper-audit-archive',
    version: 1,
    purpose: extra.purpose,
    file: p.name,
    firstSeq: p.runs[0]!.firstSeq,
    lastSeq: p.runs[p.runs.length - 1]!.lastSeq,
    rows: p.rows,
    hashBeforeFirst: p.runs[0]!.hashBefore,
    lastHash: p.runs[p.runs.length - 1]!.lastHash,
    runs: p.runs,
    sha256: p.sha256,
    bytes: p.bytes,
    purgeSeq: extra.purgeSeq,
    purgeRowHash: extra.purgeRowHash,
    createdAt: new Date().toISOString(),
    database: extra.database
  }
  const target = path.join(p.dir, p.name + MANIFEST_SUFFIX)
  const partial = `${target}.${process.pid}.partial`
  try {
    const fh = await fs.promises.open(partial, 'wx', 0o600)
    try {
      await fh.writeFile(JSON.stringify(manifest, null, 2) + '\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await fs.promises.rename(partial, target)
    await syncDir(p.dir)
  } catch (e) {
    await fs.promises.rm(partial, { force: true })
    throw folderError(p.dir, e, 'nothing was removed')
  }
  return { dir: p.dir, file: path.join(p.dir, p.name), manifest: target, sha256: p.sha256, bytes: p.bytes, rows: p.rows, firstSeq: manifest.firstSeq, lastSeq: manifest.lastSeq }
}

/**
 * Copies the rows still in the log that the archives in `dir` do not hold yet (every row above the point to
 * which they reach from the first row) into a new archive, as one snapshot. With the purges' archives it then
 * holds the whole history: what `db rollback` asks for before it drops a non-empty audit log. A read: any
 * role may, and nothing is recorded.
 */
export async function copyLiveRows(knex: Knex, target: { dir: string; isDefault: boolean; database: string }): Promise<ArchiveSummary | null> {
  prepareArchiveDir(target.dir, target.isDefault)
  const folder = await readArchiveFolder(target.dir)
  if (folder.problem) throw new AppError('CONFLICT', `archives: ${folder.problem.message}; put that right before adding to the folder`, { field: 'archives' })
  const from = archiveFrontier(folder)
  const written: { p?: PendingArchive } = {}
  try {
    const p = await knex.transaction(async (trx) => {
      await trx.raw(`set transaction isolation level repeatable read`)
      return writeArchiveData(trx, target.dir, await runsWhere(trx, 'seq > ?::bigint', [from]))
    })
    if (!p) return null
    written.p = p
    return await writeArchiveManifest(p, { purpose: 'copy', purgeSeq: null, purgeRowHash: null, database: target.database })
  } catch (e) {
    if (written.p) await removeArchive(written.p)
    throw e
  }
}

/** Removes an archive whose purge did not commit (best effort: verify names one left behind). */
export async function removeArchive(p: PendingArchive): Promise<void> {
  await fs.promises.rm(path.join(p.dir, p.name + MANIFEST_SUFFIX), { force: true }).catch(() => undefined)
  await fs.promises.rm(path.join(p.dir, p.name), { force: true }).catch(() => undefined)
}

// ------------------------------------------------------------------------------------------- reading

export interface CheckedArchive {
  manifestFile: string
  manifest: ArchiveManifest
}

/** A folder of archives, each checked on its own; `problem` is the first found (files in sequence order). */
export interface ArchiveFolder {
  dir: string
  archives: CheckedArchive[]
  rows: number
  problem: VerifyProblem | null
}

const problemAt = (seq: string, file: string, message: string): VerifyProblem => ({ seq, kind: 'archive', file, message })

/** Reads every manifest in `dir` and checks each data file against it, row by row (see checkArchive). */
export async function readArchiveFolder(dir: string): Promise<ArchiveFolder> {
  let names: string[]
  try {
    names = (await fs.promises.readdir(dir)).sort()
  } catch (e) {
    throw new AppError('VALIDATION', `archives: cannot read the folder ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { field: 'archives' })
  }
  const archives: CheckedArchive[] = []
  const problems: VerifyProblem[] = []
  for (const n of names.filter((x) => x.endsWith(MANIFEST_SUFFIX))) {
    let manifest: ArchiveManifest
    try {
      const parsed = archiveManifestSchema.safeParse(JSON.parse(await fs.promises.readFile(path.join(dir, n), 'utf8')))
      if (!parsed.success) throw new Error(`${parsed.error.issues[0]!.path.join('.') || 'manifest'}: ${parsed.error.issues[0]!.message}`)
      manifest = parsed.data
    } catch (e) {
      problems.push(problemAt('0', n, `archive manifest ${n} cannot be read: ${(e as Error).message}`))
      continue
    }
    if (manifest.file + MANIFEST_SUFFIX !== n) {
      problems.push(problemAt(manifest.firstSeq, n, `archive manifest ${n} names another file (${manifest.file})`))
      continue
    }
    archives.push({ manifestFile: n, manifest })
    const p = await checkArchive(dir, manifest)
    if (p) problems.push(p)
  }
  for (const n of names.filter((x) => x.endsWith(DATA_SUFFIX) && !names.includes(x + MANIFEST_SUFFIX))) {
    problems.push(problemAt('0', n, `archive ${n} has no manifest (${n}${MANIFEST_SUFFIX})`))
  }
  archives.sort((a, b) => cmpSeq(a.manifest.firstSeq, b.manifest.firstSeq))
  problems.sort((a, b) => cmpSeq(a.seq, b.seq))
  return { dir, archives, rows: archives.reduce((n, a) => n + a.manifest.rows, 0), problem: problems[0] ?? null }
}

const cmpSeq = (a: string, b: string): number => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0)

/**
 * Checks one archive file against its manifest: every row's hash recomputed, rows in order and linked within
 * each run, the runs, the count and the file's SHA-256 as the manifest states them. Returns the first
 * problem, naming the row where one row is at fault.
 */
export async function checkArchive(dir: string, m: ArchiveManifest): Promise<VerifyProblem | null> {
  const file = path.join(dir, m.file)
  const at = (seq: string, message: string): VerifyProblem => problemAt(seq, m.file, `archive ${m.file}: ${message}`)
  if (!fs.existsSync(file)) return problemAt(m.firstSeq, m.file, `archive ${m.file} is missing (rows ${m.firstSeq} to ${m.lastSeq}; its manifest is there)`)
  const hash = crypto.createHash('sha256')
  let bytes = 0
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk)
      bytes += chunk.length
      cb(null, chunk)
    }
  })
  const source = fs.createReadStream(file).pipe(tap).pipe(zlib.createGunzip())
  const runs: ArchiveRun[] = []
  let prev: { seq: bigint; hash: string } | null = null
  let rows = 0
  let problem: VerifyProblem | null = null
  try {
    const rl = readline.createInterface({ input: source, crlfDelay: Infinity })
    for await (const text of rl) {
      if (!text) continue
      let r: ExportedRow
      try {
        r = JSON.parse(text) as ExportedRow
        if (typeof r.seq !== 'string' || !/^\d+$/.test(r.seq)) throw new Error('no sequence number')
      } catch (e) {
        problem = at(prev ? (prev.seq + 1n).toString() : m.firstSeq, `line ${rows + 1} is not an audit row (${(e as Error).message})`)
        break
      }
      const seq = BigInt(r.seq)
      if (prev && seq <= prev.seq) {
        problem = at(r.seq, `row ${r.seq} is out of order (it comes after row ${prev.seq})`)
        break
      }
      if (prev && seq === prev.seq + 1n) {
        if (r.prevHash !== prev.hash) {
          problem = at(r.seq, `row ${r.seq} does not follow row ${prev.seq}: its previous-row hash does not match (rows reordered, or one replaced)`)
          break
        }
        const run = runs[runs.length - 1]!
        run.lastSeq = r.seq
        run.rows++
        run.lastHash = r.rowHash
      } else {
        runs.push({ firstSeq: r.seq, lastSeq: r.seq, rows: 1, hashBefore: r.prevHash, lastHash: r.rowHash })
      }
      if (hashOfExportedRow(r) !== r.rowHash) {
        problem = at(r.seq, `row ${r.seq} was altered: its contents no longer match its hash`)
        break
      }
      prev = { seq, hash: r.rowHash }
      rows++
    }
    rl.close()
  } catch (e) {
    return at(m.firstSeq, `cannot be read (${(e as Error).message})`)
  } finally {
    source.destroy()
  }
  if (problem) return problem
  // The runs the manifest names must be the runs the file holds: a run split in two lost a row inside.
  for (let i = 0; i < Math.max(runs.length, m.runs.length); i++) {
    const got = runs[i]
    const want = m.runs[i]
    if (!got || !want) {
      const seq = (got ?? want)!.firstSeq
      return at(seq, got ? `rows ${got.firstSeq} to ${got.lastSeq} are not in its manifest` : `rows ${want!.firstSeq} to ${want!.lastSeq} are missing`)
    }
    if (got.firstSeq !== want.firstSeq || got.hashBefore !== want.hashBefore) {
      const first = cmpSeq(got.firstSeq, want.firstSeq) > 0 ? want.firstSeq : got.firstSeq
      return at(first, cmpSeq(got.firstSeq, want.firstSeq) > 0 ? `row ${want.firstSeq} is missing` : `row ${got.firstSeq} does not start the run its manifest names`)
    }
    if (got.lastSeq !== want.lastSeq || got.lastHash !== want.lastHash) {
      if (cmpSeq(got.lastSeq, want.lastSeq) >= 0) return at(want.firstSeq, `run ${want.firstSeq} to ${want.lastSeq} does not end as its manifest says`)
      // The file's run stops short: the rows up to where it goes on (or the manifest's run ends) are gone.
      const gap = BigInt(got.lastSeq) + 1n
      const next = runs[i + 1]
      const end = next && BigInt(next.firstSeq) <= BigInt(want.lastSeq) ? BigInt(next.firstSeq) - 1n : BigInt(want.lastSeq)
      return at(gap.toString(), end === gap ? `row ${gap} is missing` : `rows ${gap} to ${end} are missing`)
    }
  }
  if (rows !== m.rows) return at(m.firstSeq, `holds ${rows} rows; its manifest says ${m.rows}`)
  const sha = hash.digest('hex')
  if (sha !== m.sha256 || bytes !== m.bytes) return at(m.firstSeq, `does not match its manifest (SHA-256 ${sha}, ${bytes} bytes; the manifest says ${m.sha256}, ${m.bytes} bytes)`)
  return null
}

/** Every (seq, hash) the archives reach by an unbroken path of runs from the first row (runs may overlap). */
function reachable(folder: ArchiveFolder): Map<string, Set<string>> {
  const reach = new Map<string, Set<string>>([['0', new Set([GENESIS_HASH])]])
  for (const r of folder.archives.flatMap((a) => a.manifest.runs).sort((a, b) => cmpSeq(a.firstSeq, b.firstSeq))) {
    // A run ending before this one starts was seen already: runs are taken in order of their first row.
    if (!reach.get((BigInt(r.firstSeq) - 1n).toString())?.has(r.hashBefore)) continue
    reach.set(r.lastSeq, (reach.get(r.lastSeq) ?? new Set<string>()).add(r.lastHash))
  }
  return reach
}

/**
 * How far the archives reach from the first row: the highest sequence number up to which they hold an
 * unbroken chain from seq 1 (a copy and a purge of some of the same rows may overlap; any linking path counts).
 */
export function archiveFrontier(folder: ArchiveFolder): string {
  let best = 0n
  for (const seq of reachable(folder).keys()) if (BigInt(seq) > best) best = BigInt(seq)
  return best.toString()
}

/** Whether the archives hold every row up to the chain head, each file intact, linked from the first row. */
export function coversHistory(folder: ArchiveFolder, head: { seq: string; hash: string }): { ok: true } | { ok: false; reason: string } {
  if (folder.problem) return { ok: false, reason: folder.problem.message }
  if (head.seq === '0' || reachable(folder).get(head.seq)?.has(head.hash)) return { ok: true }
  const f = archiveFrontier(folder)
  return {
    ok: false,
    reason:
      f === '0'
        ? `no archive in ${folder.dir} starts the chain at row 1`
        : `the archives in ${folder.dir} hold the history from row 1 only up to row ${f}; rows ${BigInt(f) + 1n} to ${head.seq} are in no archive`
  }
}

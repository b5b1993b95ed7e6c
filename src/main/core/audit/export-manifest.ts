/**
 * Signed exports (docs/audit.md#signed-exports): every export file gets `FILE.manifest.json` beside it,
 * stating the filters, the sequence range, the row count, the chain head when the rows were read and the
 * file's SHA-256, signed with this installation's Ed25519 key (signing.ts). `verifyExport` checks a file
 * against its manifest and the signature with no database, recomputes each row's hash, and with a database
 * compares every row with the live chain.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import type { Knex } from '@mikro-orm/postgresql'
import { z } from 'zod'
import { AppError } from '../../../shared/errors'
import { AUDIT_CSV_COLUMNS, EXPORT_FORMATS, type AuditFilter, type ExportManifest, type ExportReport, type ExportVerifyProblem, type ExportVerifyReport } from '../../../shared/audit'
import type { RequestContext } from '../context'
import { canonicalJson, hashOfExportedRow, type ExportedRow } from './canonical'
import type { Rows } from './rows'
import { ed25519PublicKey, fingerprintOf, SIGNING_KEY_RESOURCE, type AuditSigningKeys } from './signing'

export const EXPORT_MANIFEST_SUFFIX = '.manifest.json'

const hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const seqText = z.string().regex(/^\d+$/)
const manifestSchema = z
  .object({
    kind: z.literal('netkeeper-audit-export'),
    version: z.literal(1),
    file: z.string(),
    format: z.enum(EXPORT_FORMATS),
    filters: z.record(z.string(), z.unknown()),
    rows: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    sha256: hex64,
    firstSeq: seqText.nullable(),
    lastSeq: seqText.nullable(),
    chainHead: z.object({ seq: seqText, hash: z.string() }).strict(),
    createdAt: z.string(),
    createdBy: z.string(),
    database: z.string(),
    key: z.object({ algorithm: z.literal('Ed25519'), fingerprint: hex64, publicKey: z.string() }).strict().nullable(),
    signature: z.string().nullable(),
    unsigned: z.string().optional()
  })
  .strict()

/** The text the signature covers: the manifest's canonical JSON (audit.md#the-hash-chain) without `signature`. */
export function signedText(m: ExportManifest): string {
  const { signature: _signature, ...rest } = m
  return canonicalJson(rest)
}

/**
 * Writes `FILE.manifest.json` (or `manifestFile`) for an export just written, synced, signed with the
 * installation's key. When no key can be had (no OS keychain) the manifest is written unsigned, saying why,
 * and the report says so: the export itself stands.
 */
export async function writeExportManifest(
  knex: Knex,
  keys: AuditSigningKeys,
  ctx: RequestContext,
  opts: { file: string; manifestFile?: string; report: ExportReport; filters: AuditFilter; database: string }
): Promise<{ manifest: string; unsigned?: string }> {
  const r = opts.report
  const base: ExportManifest = {
    kind: 'netkeeper-audit-export',
    version: 1,
    file: path.basename(opts.file),
    format: r.format,
    filters: JSON.parse(JSON.stringify(opts.filters ?? {})) as Record<string, unknown>,
    rows: r.rows,
    bytes: r.bytes,
    sha256: r.sha256!,
    firstSeq: r.firstSeq ?? null,
    lastSeq: r.lastSeq ?? null,
    chainHead: r.head ?? { seq: '0', hash: '' },
    createdAt: new Date().toISOString(),
    createdBy: ctx.actor,
    database: opts.database,
    key: null,
    signature: null
  }
  let manifest: ExportManifest
  let unsigned: string | undefined
  try {
    const k = await keys.current(knex, ctx)
    manifest = { ...base, key: { algorithm: 'Ed25519', fingerprint: k.dto.fingerprint, publicKey: k.dto.publicKey } }
    manifest.signature = crypto.sign(null, Buffer.from(signedText(manifest), 'utf8'), k.privateKey).toString('base64')
  } catch (e) {
    unsigned = `no signing key: ${(e as Error).message}`
    manifest = { ...base, unsigned }
  }
  const target = opts.manifestFile ?? opts.file + EXPORT_MANIFEST_SUFFIX
  const partial = `${target}.${process.pid}.partial`
  try {
    const fh = await fs.promises.open(partial, 'w', 0o600)
    try {
      await fh.writeFile(JSON.stringify(manifest, null, 2) + '\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await fs.promises.rename(partial, target)
  } catch (e) {
    await fs.promises.rm(partial, { force: true })
    throw new AppError('UNAVAILABLE', `manifest: cannot write ${target}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { field: 'manifest' })
  }
  return { manifest: target, ...(unsigned ? { unsigned } : {}) }
}

// ------------------------------------------------------------------------------------------ verifying

/** A CSV cell as exported: the formula guard undone, an empty cell as null where the column may be null. */
const NULLABLE = new Set(['resourceId', 'resourceName', 'dbUser', 'userId', 'userIp', 'userAgent', 'requestId'])
function csvRow(cells: string[]): ExportedRow {
  const o: Record<string, unknown> = {}
  AUDIT_CSV_COLUMNS.forEach((c, i) => {
    let v: string | null = cells[i] ?? ''
    if (/^'[=+\-@\t\r]/.test(v)) v = v.slice(1)
    if (v === '' && NULLABLE.has(c)) v = null
    o[c] = c === 'details' ? JSON.parse(v ?? 'null') : v
  })
  return o as unknown as ExportedRow
}

/** The records of an RFC 4180 file as our export writes it (quoted cells may hold CR, LF and doubled quotes). */
async function* csvRecords(file: string): AsyncGenerator<string[]> {
  let cells: string[] = []
  let cell = ''
  let quoted = false
  let afterQuote = false
  for await (const chunk of fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const text = chunk as string
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!
      if (quoted) {
        if (ch === '"') {
          quoted = false
          afterQuote = true
        } else cell += ch
      } else if (ch === '"') {
        // A doubled quote inside a quoted cell, or the opening quote.
        if (afterQuote) cell += '"'
        quoted = true
        afterQuote = false
      } else if (ch === ',') {
        cells.push(cell)
        cell = ''
        afterQuote = false
      } else if (ch === '\n') {
        cells.push(cell.endsWith('\r') ? cell.slice(0, -1) : cell)
        yield cells
        cells = []
        cell = ''
        afterQuote = false
      } else {
        cell += ch
        afterQuote = false
      }
    }
  }
  if (cell || cells.length) yield [...cells, cell]
}

/** The rows of an export, oldest or newest first as written (exports are newest first). */
async function* exportedRows(file: string, format: ExportManifest['format']): AsyncGenerator<ExportedRow> {
  if (format === 'csv') {
    let n = 0
    for await (const cells of csvRecords(file)) {
      n++
      if (n === 1) {
        if (cells.join(',') !== AUDIT_CSV_COLUMNS.join(',')) throw new Error('the first line is not the export header')
        continue
      }
      if (cells.length !== AUDIT_CSV_COLUMNS.length) throw new Error(`record ${n} has ${cells.length} cell(s), not ${AUDIT_CSV_COLUMNS.length}`)
      yield csvRow(cells)
    }
    return
  }
  const rl = readline.createInterface({ input: fs.createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity })
  for await (let line of rl) {
    if (format === 'json') {
      // One object per line between "[" and "]", separated by ",".
      line = line.trim()
      if (line === '[' || line === ']' || line === '[]' || !line) continue
      if (line.startsWith('[')) line = line.slice(1)
      if (line.endsWith(',')) line = line.slice(0, -1)
    }
    if (!line) continue
    yield JSON.parse(line) as ExportedRow
  }
}

/**
 * Checks an export: its manifest (FILE.manifest.json unless given), the file's SHA-256 and size against it,
 * the Ed25519 signature (with `publicKey` when given, else the key the manifest names, whose fingerprint
 * must then be recorded in the database's log when there is one), every row's hash and, between
 * neighbouring rows, their links; with `knex`, every row against the live chain. A CSV's rows are recomputed
 * only when the file does not match its manifest (to name the rows): an empty cell cannot be told from null.
 */
export async function verifyExport(file: string, opts: { manifest?: string; publicKey?: string; knex?: Knex } = {}): Promise<ExportVerifyReport> {
  const started = performance.now()
  const manifestFile = opts.manifest ?? file + EXPORT_MANIFEST_SUFFIX
  const problems: ExportVerifyProblem[] = []
  const report = (m: ExportManifest | null, rows: number, extra: Partial<ExportVerifyReport> = {}): ExportVerifyReport => ({
    ok: problems.length === 0,
    file,
    manifest: manifestFile,
    format: m?.format ?? null,
    rows,
    keySource: null,
    fingerprint: m?.key?.fingerprint ?? null,
    ...extra,
    problems,
    seconds: Math.round((performance.now() - started) / 10) / 100
  })
  if (!fs.existsSync(file)) throw new AppError('NOT_FOUND', `file: ${file} does not exist`, { field: 'file' })
  let m: ExportManifest
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(await fs.promises.readFile(manifestFile, 'utf8')))
    if (!parsed.success) throw new Error(`${parsed.error.issues[0]!.path.join('.') || 'manifest'}: ${parsed.error.issues[0]!.message}`)
    m = parsed.data as ExportManifest
  } catch (e) {
    problems.push({ kind: 'manifest', message: `the manifest ${manifestFile} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` })
    return report(null, 0)
  }

  // The file against the manifest.
  const sha = crypto.createHash('sha256')
  let bytes = 0
  for await (const chunk of fs.createReadStream(file)) {
    sha.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  const digest = sha.digest('hex')
  const fileMatches = digest === m.sha256 && bytes === m.bytes
  if (!fileMatches) {
    problems.push({
      kind: 'file',
      message: `${path.basename(file)} does not match its manifest: SHA-256 ${digest}, ${bytes} bytes; the manifest says ${m.sha256}, ${m.bytes} bytes (the file was changed, or the manifest is another file's)`
    })
  }

  // The signature.
  let keySource: ExportVerifyReport['keySource'] = null
  let fingerprint = m.key?.fingerprint ?? null
  if (!m.signature || !m.key) {
    problems.push({ kind: 'signature', message: `the manifest is not signed${m.unsigned ? ` (${m.unsigned})` : ''}` })
  } else {
    let key: crypto.KeyObject | null = null
    if (opts.publicKey !== undefined) {
      keySource = 'given'
      key = ed25519PublicKey(opts.publicKey, 'publicKey')
      fingerprint = fingerprintOf(key)
      if (fingerprint !== m.key.fingerprint) {
        problems.push({ kind: 'key', message: `wrong public key: the manifest was signed with key ${m.key.fingerprint}; the key given is ${fingerprint}` })
        key = null
      }
    } else {
      keySource = 'manifest'
      try {
        key = ed25519PublicKey(m.key.publicKey, 'key.publicKey')
      } catch (e) {
        problems.push({ kind: 'key', message: `the manifest's key: ${(e as Error).message}` })
      }
      if (key && fingerprintOf(key) !== m.key.fingerprint) {
        problems.push({ kind: 'key', message: `the manifest's public key does not have the fingerprint it states (${m.key.fingerprint})` })
        key = null
      }
    }
    if (key && !crypto.verify(null, Buffer.from(signedText(m), 'utf8'), key, Buffer.from(m.signature, 'base64'))) {
      problems.push({ kind: 'signature', message: 'the signature does not match the manifest (the manifest was changed after signing, or signed with another key)' })
    }
  }

  // The rows: each hash recomputed, neighbours linked, the count and range as stated; against the live chain.
  const live = opts.knex ? new LiveCheck(opts.knex, problems) : null
  const rowProblems: ExportVerifyProblem[] = []
  let rows = 0
  let high: string | null = null
  let low: string | null = null
  const recompute = m.format !== 'csv' || !fileMatches
  // Without a filter an export holds every row in its range, but those a purge removed; the purge records
  // (newer than the runs they list, so met first) bridge those gaps, and any other gap is rows removed.
  const whole = Object.keys(m.filters).length === 0
  const purgedRuns = new Map<string, [string, string, string]>()
  const bridged = (from: bigint, to: bigint, hash: string): boolean => {
    let at = from
    let last: string | null = null
    while (at <= to) {
      const run = purgedRuns.get(at.toString())
      if (!run) return false
      last = run[2]
      at = BigInt(run[1]) + 1n
    }
    return at === to + 1n && last === hash
  }
  if (recompute || live) {
    let newer: ExportedRow | null = null
    try {
      for await (const r of exportedRows(file, m.format)) {
        rows++
        high ??= r.seq
        low = r.seq
        if (recompute && hashOfExportedRow(r) !== r.rowHash) rowProblems.push({ kind: 'row', seq: r.seq, message: `row ${r.seq} was altered: its contents no longer match its hash` })
        if (recompute && newer && BigInt(newer.seq) === BigInt(r.seq) + 1n && newer.prevHash !== r.rowHash) {
          rowProblems.push({ kind: 'row', seq: newer.seq, message: `row ${newer.seq} does not follow row ${r.seq}: its previous-row hash does not match` })
        }
        if (recompute && whole && newer && BigInt(newer.seq) > BigInt(r.seq) + 1n && !bridged(BigInt(r.seq) + 1n, BigInt(newer.seq) - 1n, newer.prevHash)) {
          const a = BigInt(r.seq) + 1n
          const b = BigInt(newer.seq) - 1n
          rowProblems.push({ kind: 'row', seq: a.toString(), message: a === b ? `row ${a} is missing` : `rows ${a} to ${b} are missing` })
        }
        const runs = r.resourceType === 'audit_log' ? (r.details as { context?: { runs?: unknown } } | null)?.context?.runs : undefined
        if (Array.isArray(runs)) for (const run of runs as [string, string, string][]) purgedRuns.set(String(run[0]), run)
        if (newer && BigInt(newer.seq) <= BigInt(r.seq)) rowProblems.push({ kind: 'row', seq: r.seq, message: `row ${r.seq} is out of order (exports are newest first)` })
        await live?.add(r)
        newer = r
        if (rowProblems.length > 20) break
      }
    } catch (e) {
      rowProblems.push({ kind: 'file', message: `${path.basename(file)} cannot be read as ${m.format}: ${(e as Error).message}` })
    }
    await live?.flush()
    if (m.format !== 'csv' || !fileMatches) problems.push(...rowProblems.slice(0, 20))
    if (rows !== m.rows) problems.push({ kind: 'file', message: `the file holds ${rows} rows; its manifest says ${m.rows} (a row was removed or added)` })
    else if ((high ?? null) !== m.lastSeq || (low ?? null) !== m.firstSeq) {
      problems.push({ kind: 'file', message: `the file holds rows ${low ?? '-'} to ${high ?? '-'}; its manifest says ${m.firstSeq ?? '-'} to ${m.lastSeq ?? '-'}` })
    }
  } else {
    rows = m.rows
  }
  let liveReport: ExportVerifyReport['live']
  if (live) {
    const keyRecorded = m.key ? await live.keyRecorded(m.key.fingerprint) : false
    if (m.key && !keyRecorded && keySource === 'manifest') {
      problems.push({ kind: 'key', message: `key ${m.key.fingerprint} is not recorded in this database's audit log: the manifest vouches only for itself (pass --public-key)` })
    }
    await live.head(m.chainHead)
    liveReport = { compared: live.compared, purged: live.purged, keyRecorded }
  }
  return report(m, rows, { keySource, fingerprint, ...(liveReport ? { live: liveReport } : {}) })
}

/** Compares exported rows with the live chain, in batches; rows a purge removed are counted, not compared. */
class LiveCheck {
  compared = 0
  purged = 0
  private batch: ExportedRow[] = []
  private checkpoints: { first: bigint; last: bigint; hash: string }[] | null = null

  constructor(
    private readonly knex: Knex,
    private readonly problems: ExportVerifyProblem[]
  ) {}

  async add(r: ExportedRow): Promise<void> {
    this.batch.push(r)
    if (this.batch.length >= 5000) await this.flush()
  }

  private async purgedBy(seq: bigint): Promise<{ first: bigint; last: bigint; hash: string } | undefined> {
    this.checkpoints ??= (
      await this.knex.raw<Rows<{ first_seq: string; last_seq: string; last_hash: string }>>(`select first_seq::text, last_seq::text, last_hash from audit_checkpoints`)
    ).rows.map((c) => ({ first: BigInt(c.first_seq), last: BigInt(c.last_seq), hash: c.last_hash }))
    return this.checkpoints.find((c) => c.first <= seq && seq <= c.last)
  }

  async flush(): Promise<void> {
    if (!this.batch.length) return
    const rows = this.batch
    this.batch = []
    const found = new Map(
      (await this.knex.raw<Rows<{ seq: string; row_hash: string }>>(`select seq::text as seq, row_hash from audit_logs where seq = any(?::bigint[])`, [rows.map((r) => r.seq)] as unknown as Knex.RawBinding[])).rows.map(
        (x) => [x.seq, x.row_hash]
      )
    )
    for (const r of rows) {
      const h = found.get(r.seq)
      if (h === undefined) {
        if (await this.purgedBy(BigInt(r.seq))) this.purged++
        else if (this.problems.length < 40) this.problems.push({ kind: 'live', seq: r.seq, message: `row ${r.seq} is not in the live log, and no purge removed it` })
      } else {
        this.compared++
        if (h !== r.rowHash && this.problems.length < 40) this.problems.push({ kind: 'live', seq: r.seq, message: `row ${r.seq} differs from the live chain (its hash there is ${h})` })
      }
    }
  }

  async keyRecorded(fingerprint: string): Promise<boolean> {
    const r = await this.knex.raw<Rows<{ ok: boolean }>>(`select exists (select 1 from audit_logs where resource_type = ? and resource_id = ?) as ok`, [SIGNING_KEY_RESOURCE, fingerprint])
    return r.rows[0]!.ok
  }

  /** The head the export saw must still be the chain's row at that seq (or the end of a purged run). */
  async head(h: { seq: string; hash: string }): Promise<void> {
    if (h.seq === '0') return
    const row = (await this.knex.raw<Rows<{ row_hash: string }>>(`select row_hash from audit_logs where seq = ?::bigint`, [h.seq])).rows[0]
    const cp = row ? undefined : await this.purgedBy(BigInt(h.seq))
    const ok = row ? row.row_hash === h.hash : cp ? cp.last === BigInt(h.seq) && cp.hash === h.hash : false
    if (!ok) this.problems.push({ kind: 'live', seq: h.seq, message: `the chain head when the file was exported (seq ${h.seq}) is not the live chain's row ${h.seq}: rows were removed or rewritten since` })
  }
}

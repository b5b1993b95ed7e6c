/**
 * IPAM CSV import (docs/ipam.md#csv-in-and-out): pools or allocations from Netkeeper's own export or
 * phpIPAM's and NetBox's CSV exports, through a column mapping (presets plus overrides).
 *
 * Every row is analysed and a skipped row carries its reason (shared/ipam-csv.ts CSV_PROBLEMS). The checks
 * against the database are set-based: one query per slice of rows finds, per row, the innermost pool holding
 * the address, the allocation already there and a dhcp range around it. Allocations are streamed: the file
 * is parsed, checked and looked up a slice at a time (PostgreSQL works on slice n while Node parses slice
 * n+1), a run keeps the rows to write in a temporary table and reads them back a batch at a time for the
 * write, so memory does not grow with the rows' contents. The pool locks are still taken, in id order, after
 * the whole file is analysed and before the audit chain's head, as every other writer takes them. A dry run
 * analyses inside a transaction that writes nothing; a run is ONE transaction {rows, one audit row per
 * created or changed object, the import's own audit row}, written in multi-row statements, with progress
 * and cancel (a cancel rolls everything back). Idempotent on the key (space + network, space + address):
 * an existing key is skipped or, with onExisting 'update', updated when a mapped value differs.
 *
 * One file: the pool and allocation plans share the reading, the mapping, the report and the transaction.
 */
import crypto, { randomUUID } from 'node:crypto'
import { isUtf8 } from 'node:buffer'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Knex } from '@mikro-orm/postgresql'
import { parse as parseStream } from 'csv-parse'
import { Readable } from 'node:stream'
import { AppError, validationError } from '../../../shared/errors'
import {
  CSV_FIELDS,
  CSV_KINDS,
  CSV_ON_EXISTING,
  CSV_PRESET_MAPS,
  CSV_PRESETS,
  CSV_PROBLEMS,
  isCustomFieldColumn,
  normaliseHeader,
  type CsvColumnMap,
  type CsvCounts,
  type CsvImportOptions,
  type CsvImportReport,
  type CsvKind,
  type CsvOnExisting,
  type CsvPhase,
  type CsvPreset,
  type CsvProblem,
  type CsvProblemKind,
  type CsvProgress
} from '../../../shared/ipam-csv'
import { cidrContains, parseCidr, parseIp, unusableReason, type ParsedCidr } from '../../../shared/net'
import { appendAuditsBulk, openBulkAudit, recordFailure, type AuditEntry } from '../audit/writer'
import { makeContext, requireRole, type RequestContext } from '../context'
import { toAppError } from '../db/errors'
import { pgArray } from '../importer/write'
import type { FieldValue } from '../../../shared/ipam-objects'
import { parseField } from './csv-fields'
import {
  checkRowExtras,
  createMissingTags,
  customObject,
  customValues,
  extraFields,
  extraSnapshot,
  loadExtras,
  requiredOnCreate,
  requiredOnUpdate,
  writeTags,
  type Extras
} from './csv-extras'
import { exportCsv } from './csv-export'
import type { Writable } from 'node:stream'
import type { CsvExportOptions, CsvExportReport } from '../../../shared/ipam-csv'

type Rows<T> = { rows: T[] }
type Values = Record<string, string | null>

export interface CsvRunOptions {
  onProgress?: (p: CsvProgress) => void
  signal?: AbortSignal
  runId?: string
}

const PHASE_SPAN: Record<CsvPhase, [number, number]> = { reading: [0, 5], checking: [5, 30], writing: [30, 97], committing: [97, 100], done: [100, 100] }
const MAX_REPORTS = 10
const LOAD_CHUNK = 10_000
/**
 * Rows read, analysed and stored per step of a streamed allocations import (two slices are in memory at most),
 * and rows per write batch (and per batch audit row). Small on purpose: a slice's or a batch's objects then die
 * young (V8 collects them in the young generation) and its one-statement texts (the slice's JSON, the batch's
 * audit payload) stay small, instead of being promoted or put in the large-object space and left for a full
 * collection. At 10,000 the resident set grew by the file's size; 2,000 to 500 took the bench's peak (200,000
 * allocations) from 313-324 MB to 284-299 MB, at the same time and CPU.
 */
const SLICE = 500
const WRITE_CHUNK = 500
const PREVIEW = 200
const INTERN_MAX = 4096

/** The fields compared and written on an existing key, per kind (the key fields are not among them). */
const POOL_FIELDS = ['name', 'gateway', 'vlan', 'site', 'environment', 'description', 'dns_servers', 'active'] as const
const ALLOC_FIELDS = ['status', 'hostname', 'mac', 'owner', 'owner_dn', 'purpose', 'description', 'reserved_until', 'dns_managed', 'dhcp_managed'] as const

class Cancelled extends Error {
  constructor() {
    super('cancelled')
    this.name = 'AbortError'
  }
}
const isAbort = (e: unknown): boolean => e instanceof Cancelled || (e as Error)?.name === 'AbortError'

/** A parsed data row: its first physical line, its values by field, and the reason it is skipped (first one wins). */
interface Row {
  line: number
  values: Values
  problem: CsvProblem | null
}

interface Parsed {
  file: CsvImportReport['file']
  columns: CsvColumnMap[]
  headerProblems: CsvProblem[]
  refusal: CsvImportReport['refusal']
  /** Pools: every row. Allocations: none (see slices). */
  rows: Row[]
  /** How many rows the file had, once `rows` is let go (before the write). */
  rowCount?: number
  /** Allocations: the rows in slices of SLICE, parsed as the plan asks for them (each slice is let go once analysed). */
  slices?: AsyncGenerator<Row[]>
  /** Allocations: how far the reading got (rows, and bytes of `total`), for the progress reports. */
  progress?: { rows: number; bytes: number; total: number }
}

interface Plan {
  counts: CsvCounts
  /** What the run writes. */
  create: { line: number; values: Values; spaceId: number; poolId?: number; poolName?: string; net?: ParsedCidr }[]
  update: { line: number; id: number; before: Values; after: Values; poolId?: number; poolName?: string }[]
  unchanged: number
  preview: CsvImportReport['preview']
  /** The line after which rows no longer enter the preview (it holds the PREVIEW first lines). */
  previewMax?: number
  /** The skipped rows' problems, in line order. */
  problems: CsvProblem[]
  /** Allocations: the rows to create, by their number in the temporary table, and the pool each goes to. */
  creates?: { k: number[]; pool: number[] }
  /** Allocations: the names of the pools written to, and their ids (locked before the write). */
  poolNames?: Map<number, string>
  touched?: Set<number>
}




const skip = (line: number, kind: CsvProblemKind, column: string | null, value: string | null, reason: string): CsvProblem => ({
  line,
  kind,
  column,
  value,
  reason,
  outcome: 'skipped'
})

function readOptions(o: CsvImportOptions): Required<Pick<CsvImportOptions, 'file' | 'kind' | 'preset' | 'onExisting'>> & CsvImportOptions {
  if (!o || typeof o.file !== 'string' || !o.file.trim()) throw validationError('file', 'is required')
  if (!(CSV_KINDS as readonly string[]).includes(o.kind)) throw validationError('kind', `must be ${CSV_KINDS.join(' or ')}`)
  const preset = o.preset ?? 'netkeeper'
  if (!(CSV_PRESETS as readonly string[]).includes(preset)) throw validationError('preset', `must be one of ${CSV_PRESETS.join(', ')}`)
  const onExisting = o.onExisting ?? 'skip'
  if (!(CSV_ON_EXISTING as readonly string[]).includes(onExisting)) throw validationError('onExisting', `must be ${CSV_ON_EXISTING.join(' or ')}`)
  for (const [col, field] of Object.entries(o.map ?? {})) {
    const f = CSV_FIELDS.find((x) => x.name === field)
    if ((!f || !f.kinds.includes(o.kind)) && !isCustomFieldColumn(field)) {
      const names = CSV_FIELDS.filter((x) => x.kinds.includes(o.kind)).map((x) => x.name)
      throw validationError('map', `column "${col}": "${field}" is not a field of ${o.kind} (one of ${names.join(', ')}, or cf_<name> for a custom field)`)
    }
  }
  return { ...o, preset, onExisting }
}

/** The 1-based numbers of the lines that are not valid UTF-8 (none for a valid file: one check). */
function badUtf8Lines(buf: Buffer): Set<number> {
  const bad = new Set<number>()
  if (isUtf8(buf)) return bad
  let start = 0
  let line = 1
  for (let i = 0; i <= buf.length; i++) {
    if (i === buf.length || buf[i] === 10) {
      if (!isUtf8(buf.subarray(start, i))) bad.add(line)
      start = i + 1
      line++
    }
  }
  return bad
}

/** The text of the file: UTF-8, with each invalid line read as Latin-1 so the rest can still be analysed. */
function decode(buf: Buffer, bad: Set<number>): string {
  if (!bad.size) return buf.toString('utf8')
  const parts: string[] = []
  let start = 0
  let line = 1
  for (let i = 0; i <= buf.length; i++) {
    if (i === buf.length || buf[i] === 10) {
      const piece = buf.subarray(start, Math.min(i + 1, buf.length))
      parts.push(bad.has(line) ? piece.toString('latin1') : piece.toString('utf8'))
      start = i + 1
      line++
    }
  }
  return parts.join('')
}

const FORMULA = /^[=+\-@]/
const GUARDED = /^'[=+\-@\t\r]/

export async function readCsv(o: ReturnType<typeof readOptions>, signal?: AbortSignal): Promise<Parsed> {
  const resolved = path.resolve(o.file)
  let buf: Buffer
  try {
    buf = await fs.readFile(resolved)
  } catch (e) {
    throw new AppError('NOT_FOUND', `file: cannot read ${resolved}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { field: 'file' })
  }
  signal?.throwIfAborted()
  const file = { path: resolved, name: path.basename(resolved), size: buf.length, sha256: crypto.createHash('sha256').update(buf).digest('hex') }
  const bad = badUtf8Lines(buf)
  // Records are parsed as they are read (a stream fed 64 kB at a time), so a large file is never held as
  // records and rows at once: each record becomes its row and is dropped.
  const bytes = bad.size ? Buffer.from(decode(buf, bad), 'utf8') : buf
  const parser = parseStream({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true })
  Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536)
    })()
  ).pipe(parser)
  const records = parser[Symbol.asyncIterator]() as AsyncIterator<{ record: string[]; info: { lines: number } }>
  const next = async (): Promise<[number, string[]] | null> => {
    try {
      const r = await records.next()
      return r.done ? null : [r.value.info.lines, r.value.record]
    } catch (e) {
      const err = e as Error & { lines?: number }
      throw validationError('file', `line ${err.lines ?? '?'}: not a CSV file this importer can read (${err.message.replace(/^Invalid Record Length: /, '')})`)
    }
  }
  const first = await next()
  if (!first) throw validationError('file', 'is empty (no header row)')
  const header = first[1].map((h) => h.replace(/^\uFEFF/, '').trim())
  const preset = CSV_PRESET_MAPS[o.preset][o.kind]
  const overrides = new Map<string, string>()
  for (const [col, field] of Object.entries(o.map ?? {})) {
    overrides.set(col.trim(), field)
    overrides.set(normaliseHeader(col), field)
  }
  const columns: CsvColumnMap[] = header.map((column) => {
    const n = normaliseHeader(column)
    const byOption = overrides.get(column) ?? overrides.get(n)
    if (byOption) return { column, field: byOption, from: 'option' }
    if (preset[n]) return { column, field: preset[n]!, from: 'preset' }
    // Custom fields: cf_<name> in every preset (Netkeeper's export and NetBox's CSV both write them so).
    if (isCustomFieldColumn(n)) return { column, field: n, from: 'preset' }
    return { column, field: '', from: 'unmapped' }
  })
  const headerProblems: CsvProblem[] = []
  const refuse = (kind: CsvProblemKind, column: string | null, reason: string): void => {
    headerProblems.push({ line: 1, kind, column, value: column, reason, outcome: 'refused' })
  }
  for (const c of columns) {
    if (c.from === 'unmapped') refuse('unknown_column', c.column, `column "${c.column}" maps to no field of ${o.kind}: map it (--map "${c.column}=FIELD") or leave it out (--map "${c.column}=ignore")`)
  }
  const seen = new Map<string, string>()
  for (const c of columns) {
    if (!c.field || c.field === 'ignore') continue
    const first = seen.get(c.field)
    if (first !== undefined) refuse('duplicate_column', c.column, `columns "${first}" and "${c.column}" both map to ${c.field}`)
    else seen.set(c.field, c.column)
  }
  for (const f of CSV_FIELDS) {
    if (f.required && f.kinds.includes(o.kind) && !seen.has(f.name)) refuse('missing_column', null, `no column maps to ${f.name} (the key of ${o.kind}); map one with --map COLUMN=${f.name}`)
  }
  const refusal = headerProblems.length ? { code: 'VALIDATION' as const, message: headerProblems.map((p) => p.reason).join('; ') } : null
  if (o.columnsOnly) return { file, columns, headerProblems, refusal, rows: [] }

  // A value that repeats down a column (the space, the pool, the status, an owner) is kept once, not once per
  // row, while rows are held (a pools file is held whole; allocations a slice at a time). A column stops being
  // interned once it has shown INTERN_MAX different values (host names and addresses never repeat).
  const seenValues = columns.map(() => new Map<string, string>() as Map<string, string> | null)
  const intern = (c: number, v: string): string => {
    const m = seenValues[c]
    if (!m) return v
    const had = m.get(v)
    if (had !== undefined) return had
    if (m.size >= INTERN_MAX) seenValues[c] = null
    else m.set(v, v)
    return v
  }
  let prevEnd = first[0]
  const progress = { rows: 0, bytes: 0, total: bytes.length }
  // The rows in slices of SLICE, parsed as they are asked for: the allocations' plan analyses each slice and
  // lets it go (streamed), the pools' plan collects them all (a pools file is small and its plan needs all).
  async function* slices(): AsyncGenerator<Row[]> {
    let rows: Row[] = []
    for (;;) {
      const rec = await next()
      if (!rec) break
      rows.push(toRow(rec))
      progress.rows++
      if (rows.length >= SLICE) {
        signal?.throwIfAborted()
        progress.bytes = parser.info.bytes
        yield rows
        rows = []
      }
    }
    progress.bytes = progress.total
    if (rows.length) yield rows
  }
  function toRow([lastLine, record]: [number, string[]]): Row {
    const line = prevEnd + 1
    prevEnd = lastLine
    const values: Values = {}
    let problem: CsvProblem | null = null
    for (let l = line; l <= lastLine && !problem; l++) {
      if (bad.has(l)) problem = skip(l, 'encoding', null, null, `line ${l} is not valid UTF-8 (it reads as Latin-1 "${record.join(',').slice(0, 60)}"): save the file as UTF-8`)
    }
    if (!problem && record.length !== header.length) {
      problem = skip(line, 'field_count', null, null, `the row has ${record.length} fields, the header ${header.length}`)
    }
    if (!problem) {
      for (let c = 0; c < columns.length; c++) {
        const field = columns[c]!.field
        if (!field || field === 'ignore') continue
        let cell = record[c] ?? ''
        if (GUARDED.test(cell)) cell = cell.slice(1)
        else if (FORMULA.test(cell.trim()) && !(field === 'ip' || field === 'network')) {
          problem = skip(line, 'formula', columns[c]!.column, cell, `${columns[c]!.column}: "${cell.slice(0, 60)}" starts with ${cell.trim()[0]} (a spreadsheet formula); put an apostrophe before it to keep it as text`)
          break
        }
        const v = parseField(field, cell)
        if (v !== null && typeof v === 'object') {
          problem = skip(line, 'bad_value', columns[c]!.column, cell, `${columns[c]!.column} (${field}): ${v.error}`)
          break
        }
        // Empty cells are left out (read back as null): most rows of an export have more empty cells than full ones.
        if (v !== null) values[field] = intern(c, v)
      }
    }
    if (!problem && o.kind === 'pools') problem = poolNetwork(line, values, columns)
    if (!problem && o.kind === 'allocations' && !values.ip) problem = skip(line, 'bad_value', columnOf(columns, 'ip'), null, 'ip: is required')
    if (!problem && o.kind === 'allocations' && values.status === 'dhcp') {
      // NetBox's and phpIPAM's "dhcp": an address handed out by a DHCP server. With a MAC it becomes a
      // DHCP-managed allocation (a host reservation); without one, an allocation whose purpose says dhcp.
      values.status = 'allocated'
      if (values.mac && (values.dhcp_managed === undefined || values.dhcp_managed === null)) values.dhcp_managed = 'true'
      else if (!values.purpose) values.purpose = 'dhcp'
    }
    if (!problem && o.kind === 'allocations' && values.dhcp_managed === 'true' && !values.mac) {
      problem = skip(line, 'bad_value', columnOf(columns, 'dhcp_managed'), 'true', 'dhcp_managed: needs a MAC (the host reservation is keyed by the hardware address)')
    }
    if (!problem && o.kind === 'allocations' && values.reserved_until && values.status !== 'reserved') {
      problem = skip(line, 'bad_value', columnOf(columns, 'reserved_until'), values.reserved_until, 'reserved_until: only reservations can expire')
    }
    return { line, values, problem }
  }
  if (o.kind === 'allocations') return { file, columns, headerProblems, refusal, rows: [], slices: slices(), progress }
  const rows: Row[] = []
  for await (const slice of slices()) for (const r of slice) rows.push(r)
  return { file, columns, headerProblems, refusal, rows }
}

const columnOf = (columns: CsvColumnMap[], field: string): string | null => columns.find((c) => c.field === field)?.column ?? null

/** network (+ prefix_length) -> the canonical network in values.network, or the reason. */
function poolNetwork(line: number, values: Values, columns: CsvColumnMap[]): CsvProblem | null {
  const col = columnOf(columns, 'network')
  const raw = values.network
  if (!raw) return skip(line, 'bad_value', col, null, 'network: is required')
  let text = raw
  if (values.prefix_length !== undefined && values.prefix_length !== null && !raw.includes('/')) text = `${raw}/${values.prefix_length}`
  let c: ParsedCidr
  try {
    c = parseCidr(text)
  } catch (e) {
    return skip(line, 'bad_value', col, raw, `network: "${text}" is not a valid CIDR (${(e as Error).message.replace(/^network: /, '')})`)
  }
  const bare = text.split('/')[0]!
  try {
    if (parseIp(bare).value !== c.network) return skip(line, 'bad_value', col, raw, `network: ${text} has host bits set (the network is ${c.text})`)
  } catch {
    /* parseCidr accepted it */
  }
  values.network = c.text
  delete values.prefix_length
  if (values.gateway) {
    const g = parseIp(values.gateway)
    const reason = g.family !== c.family ? `${g.text} is not an IPv${c.family} address` : unusableReason(c, g)
    if (reason) return skip(line, 'bad_value', columnOf(columns, 'gateway'), values.gateway, `gateway: ${reason}`)
  }
  return null
}

const sameValue = (a: string | null | undefined, b: string | null | undefined): boolean => (a ?? null) === (b ?? null)

function poolSnapshot(v: Values, network: string, x: Extras): Record<string, unknown> {
  return {
    ...extraSnapshot(x, v),
    name: v.name ?? null,
    network,
    gateway: v.gateway ?? null,
    dnsServers: v.dns_servers ? v.dns_servers.split(' ') : [],
    vlanId: v.vlan ? Number(v.vlan) : null,
    site: v.site ?? null,
    environment: v.environment ?? null,
    description: v.description ?? null,
    isActive: v.active !== 'false'
  }
}

function allocSnapshot(v: Values, ip: string, pool: string, x: Extras): Record<string, unknown> {
  const out: Record<string, unknown> = { pool, ip, status: v.status ?? 'allocated' }
  if (v.hostname) out.hostname = v.hostname
  if (v.mac) out.mac = v.mac
  if (v.owner) out.owner = v.owner
  if (v.owner_dn) out.ownerDn = v.owner_dn
  if (v.purpose) out.purpose = v.purpose
  if (v.description) out.description = v.description
  if (v.reserved_until) out.reservedUntil = v.reserved_until
  if (v.dns_managed === 'true') out.dnsManaged = true
  if (v.dhcp_managed === 'true') out.dhcpManaged = true
  return { ...out, ...extraSnapshot(x, v) }
}

/** The spaces by name (and the default one), for the rows' space column and the picked space. */
async function spaces(q: Knex.Transaction, picked: string | undefined): Promise<Spaces> {
  const r = await q.raw<Rows<{ id: number; name: string; is_default: boolean }>>(`select id, name, is_default from ip_spaces order by name`)
  const byName = new Map<string, number>()
  const names = new Map<number, string>()
  let fallback = 0
  for (const s of r.rows) {
    byName.set(s.name, s.id)
    names.set(s.id, s.name)
    if (s.is_default) fallback = s.id
  }
  let pickedId: number | null = null
  if (picked !== undefined && picked.trim() !== '') {
    const name = picked.trim()
    const id = byName.get(name) ?? (/^\d+$/.test(name) && names.has(Number(name)) ? Number(name) : undefined)
    if (id === undefined) throw validationError('space', `no address space is named "${name}" (there are: ${[...byName.keys()].join(', ')})`)
    pickedId = id
  }
  return { byName, names, fallback, picked: pickedId, poolSpaces: new Map(), asked: new Set() }
}

interface Spaces {
  byName: Map<string, number>
  names: Map<number, string>
  /** The default space. */
  fallback: number
  /** The space picked for the import (the wizard's picker, --space): rows that name none go there. */
  picked: number | null
  /** Allocations: pool name or network -> the spaces holding a pool so named (for rows that name no space). */
  poolSpaces: Map<string, number[]>
  /** The pool names and networks poolSpaces has been filled for (a streamed import asks slice by slice). */
  asked: Set<string>
}

/**
 * A row's space: its own space cell wins; else the picked space; else, for an allocation row naming its
 * pool, the one space holding a pool of that name or network (several: the row is skipped, naming them);
 * else the default space.
 */
function spaceOf(row: Row, sp: Spaces, columns: CsvColumnMap[]): number | CsvProblem {
  const name = row.values.space ?? null
  if (name !== null && name !== '') {
    const id = sp.byName.get(name)
    if (id !== undefined) return id
    if (/^(default|global)$/i.test(name)) return sp.fallback
    return skip(row.line, 'unknown_space', columnOf(columns, 'space'), name, `space: no address space is named "${name}"`)
  }
  if (sp.picked !== null) return sp.picked
  const pool = row.values.pool
  if (pool) {
    const holders = sp.poolSpaces.get(pool)
    if (holders?.length === 1) return holders[0]!
    if (holders && holders.length > 1) {
      const list = holders.map((id) => `"${sp.names.get(id)}"`).join(', ')
      return skip(row.line, 'ambiguous_pool', columnOf(columns, 'pool'), pool, `pool: "${pool}" exists in spaces ${list}; say which (a space column, or pick the space for the import)`)
    }
  }
  return sp.fallback
}

/** Fills sp.poolSpaces for the pool names and networks of rows that name no space (when nothing else decides it), once per name. */
async function loadPoolSpaces(q: Knex.Transaction, sp: Spaces, rows: Iterable<Row>): Promise<void> {
  if (sp.picked !== null) return
  const wanted = new Set<string>()
  for (const r of rows) if (!r.problem && !r.values.space && r.values.pool && !sp.asked.has(r.values.pool)) wanted.add(r.values.pool)
  if (!wanted.size) return
  for (const n of wanted) sp.asked.add(n)
  const names = [...wanted]
  const nets: string[] = []
  for (const n of names) {
    try {
      if (n.includes('/')) nets.push(parseCidr(n).text)
    } catch {
      /* a name */
    }
  }
  const r = await q.raw<Rows<{ name: string; network: string; space_id: number }>>(
    `select p.name, p.network::text as network, p.space_id from ip_pools p where p.name = any(?::text[]) or p.network = any(?::cidr[]) order by p.space_id`,
    [names, nets] as unknown as Knex.RawBinding[]
  )
  const add = (key: string, id: number): void => {
    const l = sp.poolSpaces.get(key) ?? []
    if (!l.includes(id)) l.push(id)
    sp.poolSpaces.set(key, l)
  }
  for (const p of r.rows) {
    if (wanted.has(p.name)) add(p.name, p.space_id)
    if (wanted.has(p.network)) add(p.network, p.space_id)
  }
  // A network written otherwise (10.1.0.0/24 vs its canonical text) finds the same pools.
  for (const n of names) {
    if (sp.poolSpaces.has(n) || !n.includes('/')) continue
    try {
      const c = parseCidr(n).text
      for (const p of r.rows) if (p.network === c) add(n, p.space_id)
    } catch {
      /* a name */
    }
  }
}

export class IpamCsvService {
  private readonly jobs = new Map<string, { controller: AbortController; progress: CsvProgress; actor: string }>()
  private readonly reports = new Map<string, CsvImportReport>()

  constructor(
    private readonly knex: Knex,
    private readonly committed: () => void = () => undefined
  ) {}

  /** Streams pools or allocations matching the lists' filters to `out` as CSV (csv-export.ts); reading needs no role beyond viewer. */
  export(_ctx: RequestContext, input: CsvExportOptions, out: Writable, onProgress?: (rows: number) => void): Promise<CsvExportReport> {
    return exportCsv(this.knex, input, out, onProgress)
  }

  /** The analysis of every row and what a run would do; writes nothing. A cancel resolves with outcome 'cancelled'. */
  dryRun(ctx: RequestContext, input: CsvImportOptions, opts: CsvRunOptions = {}): Promise<CsvImportReport> {
    return this.work(ctx, input, opts, false)
  }

  /** Imports in one transaction; resolves with the report ('cancelled' and nothing written on a cancel). */
  async run(ctx: RequestContext, input: CsvImportOptions, opts: CsvRunOptions = {}): Promise<CsvImportReport> {
    const failure: AuditEntry = { action: 'create', resourceType: 'import', resourceName: String(input?.file ?? '') || null, details: { context: { format: 'csv', kind: input?.kind } } }
    try {
      requireRole(ctx, 'operator', 'importing a CSV file')
    } catch (e) {
      await recordFailure(this.knex, ctx, { ...failure, action: 'authorize' }, e as AppError)
      throw e
    }
    try {
      return await this.work(ctx, input, opts, true)
    } catch (e) {
      const err = toAppError(e)
      if (err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE') await recordFailure(this.knex, ctx, failure, err).catch(() => undefined)
      throw err
    }
  }

  runTracked(ctx: RequestContext, input: CsvImportOptions): Promise<CsvImportReport> {
    return this.tracked(ctx, input, (opts) => this.run(ctx, input, opts))
  }

  dryRunTracked(ctx: RequestContext, input: CsvImportOptions): Promise<CsvImportReport> {
    return this.tracked(ctx, input, (opts) => this.dryRun(ctx, input, opts))
  }

  progress(_ctx: RequestContext, runId: string): CsvProgress | null {
    return this.jobs.get(runId)?.progress ?? null
  }

  /** Stops a running import or dry run (it rolls back); false when none runs or it is committing. */
  cancel(ctx: RequestContext, runId: string): { cancelled: boolean } {
    const job = this.jobs.get(runId)
    if (job && job.actor !== ctx.actor) requireRole(ctx, 'admin', "cancelling another person's import")
    if (!job || !job.progress.cancellable) return { cancelled: false }
    job.controller.abort()
    return { cancelled: true }
  }

  report(_ctx: RequestContext, reportId: string): CsvImportReport {
    const r = this.reports.get(reportId)
    if (!r) throw new AppError('NOT_FOUND', `reportId: no report ${reportId} in this session`, { field: 'reportId' })
    return r
  }

  private async tracked(ctx: RequestContext, input: CsvImportOptions, work: (opts: CsvRunOptions) => Promise<CsvImportReport>): Promise<CsvImportReport> {
    const runId = input?.runId ?? randomUUID()
    if (this.jobs.has(runId)) throw new AppError('CONFLICT', `runId: an import with id ${runId} is already running`, { field: 'runId' })
    const controller = new AbortController()
    const job = { controller, actor: ctx.actor, progress: { runId, phase: 'reading' as CsvPhase, done: 0, total: 0, percent: 0, cancellable: true } }
    this.jobs.set(runId, job)
    try {
      return await work({ runId, signal: controller.signal, onProgress: (p) => (job.progress = p) })
    } finally {
      this.jobs.delete(runId)
    }
  }

  private emit(opts: CsvRunOptions, phase: CsvPhase, done: number, total: number, cancellable = true): void {
    if (!opts.onProgress) return
    const [from, to] = PHASE_SPAN[phase]
    const share = total > 0 ? Math.min(1, done / total) : 0
    opts.onProgress({ runId: opts.runId ?? '', phase, done, total, percent: Math.round((from + (to - from) * share) * 10) / 10, cancellable })
  }

  private async work(ctx: RequestContext, input: CsvImportOptions, opts: CsvRunOptions, write: boolean): Promise<CsvImportReport> {
    const o = readOptions(input)
    const started = new Date()
    const ictx = makeContext({ ...ctx, source: 'import' })
    const importId = randomUUID()
    let parsed: Parsed | null = null
    let newTags: string[] = []
    const finish = (outcome: CsvImportReport['outcome'], plan: Plan | null, problems: CsvProblem[]): CsvImportReport => {
      const finished = new Date()
      const r: CsvImportReport = {
        reportId: randomUUID(),
        importId: outcome === 'imported' ? importId : null,
        outcome,
        kind: o.kind,
        preset: o.preset,
        onExisting: o.onExisting,
        file: parsed?.file ?? { path: path.resolve(o.file), name: path.basename(o.file), size: 0, sha256: '' },
        columns: parsed?.columns ?? [],
        actor: ctx.actor,
        startedAt: started.toISOString(),
        finishedAt: finished.toISOString(),
        durationMs: finished.getTime() - started.getTime(),
        counts: plan?.counts ?? { rows: parsed?.rowCount ?? parsed?.rows.length ?? 0, created: 0, updated: 0, unchanged: 0, skipped: 0 },
        problems,
        refusal: parsed?.refusal ?? null,
        newTags: outcome === 'cancelled' ? [] : newTags,
        preview: plan?.preview ?? []
      }
      this.reports.set(r.reportId, r)
      while (this.reports.size > MAX_REPORTS) this.reports.delete(this.reports.keys().next().value!)
      this.emit(opts, 'done', 1, 1, false)
      return r
    }
    try {
      this.emit(opts, 'reading', 0, 1)
      parsed = await readCsv(o, opts.signal)
      const p = parsed
      this.emit(opts, 'reading', 1, 1)
      if (write && p.refusal) throw new AppError('VALIDATION', `file: ${p.refusal.message}`, { field: 'file' })
      if (write && o.columnsOnly) throw validationError('columnsOnly', 'applies to a dry run only')
      const outcome = await this.knex.transaction(async (trx) => {
        // Tags and custom field columns: checked against the definitions and tags of this transaction.
        const x = await loadExtras(trx, o.kind, p.columns, p.headerProblems, o.createTags === true)
        if (p.headerProblems.length && !p.refusal) p.refusal = { code: 'VALIDATION', message: p.headerProblems.map((h) => h.reason).join('; ') }
        if (write && p.refusal) throw new AppError('VALIDATION', `file: ${p.refusal.message}`, { field: 'file' })
        for (const row of p.rows) if (!row.problem) row.problem = checkRowExtras(x, row.line, row.values, p.columns)
        // The allocations' plan reads the file as it goes (p.slices) and sets x.newTags itself.
        const plan = o.kind === 'pools' ? await this.planPools(trx, p, o, opts, x) : await this.planAllocations(trx, p, o, opts, x, write)
        // The tags a run creates: those named by the rows it writes (not by skipped ones).
        if (o.kind === 'pools') x.newTags = new Set([...plan.create, ...plan.update].flatMap((c) => ((c as { values?: Values }).values ?? (c as { after?: Values }).after)?.tags?.split(',') ?? []).filter((t) => !x.tagIds.has(t)))
        newTags = [...x.newTags].sort()
        const problems = [...p.headerProblems, ...plan.problems]
        if (!write) return { plan, problems, imported: false }
        // The rows are in the plan and the problems now: let them go before the write, which makes garbage
        // of its own (the batches' literals, the audit rows' text), so the heap reuses their room.
        p.rowCount = plan.counts.rows
        p.rows = []
        opts.signal?.throwIfAborted()
        if (o.kind === 'pools') await this.writePools(trx, ictx, plan, importId, opts, x)
        else await this.writeAllocations(trx, ictx, plan, importId, opts, x)
        await appendAuditsBulk(trx, ictx, [
          {
            action: 'create',
            resourceType: 'import',
            resourceId: importId,
            resourceName: p.file.name,
            details: {
              context: {
                operation: 'csv-import',
                kind: o.kind,
                preset: o.preset,
                onExisting: o.onExisting,
                createTags: o.createTags === true,
                newTags,
                file: p.file,
                via: ctx.source,
                columns: p.columns.map((c) => `${c.column}=${c.field}`),
                counts: plan.counts,
                skippedByKind: countBy(problems, (x) => x.kind)
              }
            }
          }
        ])
        opts.signal?.throwIfAborted()
        this.emit(opts, 'committing', 0, 1, false)
        return { plan, problems, imported: true }
      })
      if (outcome.imported) this.committed()
      return finish(outcome.imported ? 'imported' : 'dry-run', outcome.plan, outcome.problems)
    } catch (e) {
      if (isAbort(e)) return finish('cancelled', null, [])
      throw e
    }
  }

  // ------------------------------------------------------------------ pools

  private async planPools(trx: Knex.Transaction, p: Parsed, o: ReturnType<typeof readOptions>, opts: CsvRunOptions, x: Extras): Promise<Plan> {
    this.emit(opts, 'checking', 0, p.rows.length)
    const sp = await spaces(trx, o.space)
    const existing = await trx.raw<
      Rows<{ id: number; space_id: number; network: string; name: string; parent_id: number | null; gateway: string | null; vlan: string | null; site: string | null; environment: string | null; description: string | null; dns_servers: string; active: string; tags?: string | null; cf?: Record<string, FieldValue> | null }>
    >(
      `select p.id, p.space_id, p.network::text as network, p.name, p.parent_id, host(p.gateway) as gateway, p.vlan_id::text as vlan, p.site, p.environment,
              p.description, array_to_string(array(select host(d.ip) from unnest(p.dns_servers) with ordinality as d(ip, n) order by d.n), ' ') as dns_servers,
              (case when p.is_active then 'true' else 'false' end) as active
              ${x.tagsMapped ? `, (select string_agg(t.name, ',' order by t.name) from ip_pool_tags xt join ip_tags t on t.id = xt.tag_id where xt.pool_id = p.id) as tags` : ''}
              ${x.cfFields.length ? ', p.custom_fields as cf' : ''}
         from ip_pools p`
    )
    const byKey = new Map<string, (typeof existing.rows)[number]>()
    // Pool names are unique per space (space_id, name): a name held in another space is no clash.
    const nameOwner = new Map<string, string>()
    for (const e of existing.rows) {
      byKey.set(`${e.space_id}|${e.network}`, e)
      nameOwner.set(`${e.space_id}|${e.name}`, `${e.space_id}|${e.network}`)
    }
    const plan: Plan = { counts: { rows: p.rows.length, created: 0, updated: 0, unchanged: 0, skipped: 0 }, create: [], update: [], unchanged: 0, preview: [], problems: [] }
    const seen = new Map<string, number>()
    const mapped = new Set(p.columns.map((c) => c.field))
    type New = { row: Row; key: string; spaceId: number; net: ParsedCidr }
    const fresh: New[] = []
    for (const row of p.rows) {
      if (row.problem) continue
      const s = spaceOf(row, sp, p.columns)
      if (typeof s !== 'number') {
        row.problem = s
        continue
      }
      const network = row.values.network!
      const key = `${s}|${network}`
      const first = seen.get(key)
      if (first !== undefined) {
        row.problem = skip(row.line, 'duplicate_key', columnOf(p.columns, 'network'), network, `line ${first} of the file has ${network} in space "${sp.names.get(s)}" already`)
        continue
      }
      seen.set(key, row.line)
      const e = byKey.get(key)
      if (e) {
        const before: Values = {
          name: e.name,
          gateway: e.gateway,
          vlan: e.vlan,
          site: e.site,
          environment: e.environment,
          description: e.description,
          dns_servers: e.dns_servers || null,
          active: e.active,
          ...(x.tagsMapped ? { tags: e.tags ?? null } : {}),
          ...customValues(e.cf)
        }
        const after: Values = { ...before }
        for (const f of POOL_FIELDS) if (mapped.has(f) && !(f === 'name' && !row.values.name)) after[f] = row.values[f] ?? null
        for (const f of extraFields(x)) after[f] = row.values[f] ?? null
        const differs = [...POOL_FIELDS, ...extraFields(x)].some((f) => !sameValue(before[f], after[f]))
        if (!differs) {
          plan.counts.unchanged++
          this.previewRow(plan, row.line, 'unchanged', { network, ...after })
        } else if (o.onExisting === 'skip') {
          row.problem = skip(row.line, 'exists', columnOf(p.columns, 'network'), network, `pool ${e.name} (${network}) exists in space "${sp.names.get(s)}" with other values; --on-existing update changes it`)
        } else if ((row.problem = requiredOnUpdate(x, row.line, after, p.columns))) {
          continue
        } else {
          if (after.name !== before.name) {
            const owner = nameOwner.get(`${s}|${after.name}`)
            if (owner && owner !== key) {
              row.problem = skip(row.line, 'name_taken', columnOf(p.columns, 'name'), after.name, `name: another pool of space "${sp.names.get(s)}" is named "${after.name}"`)
              continue
            }
            nameOwner.set(`${s}|${after.name}`, key)
          }
          plan.update.push({ line: row.line, id: e.id, before: { network, ...before }, after: { network, ...after } })
          this.previewRow(plan, row.line, 'update', { network, ...after })
        }
        continue
      }
      if ((row.problem = requiredOnCreate(x, row.line, row.values, p.columns))) continue
      fresh.push({ row, key, spaceId: s, net: parseCidr(network) })
    }
    // New pools, largest first, so a pool's parent (the smallest pool around it, new or old) is decided before it.
    fresh.sort((a, b) => a.net.prefix - b.net.prefix || a.row.line - b.row.line)
    const newByKey = new Map<string, New>()
    for (const n of fresh) newByKey.set(n.key, n)
    const supernetKey = (spaceId: number, net: ParsedCidr, len: number): string => {
      const mask = ((1n << BigInt(net.bits)) - 1n) ^ ((1n << BigInt(net.bits - len)) - 1n)
      return `${spaceId}|${parseCidr(`${ipText(net.network & mask, net)}/${len}`).text}`
    }
    // An existing pool whose nearest new supernet comes before its own parent would be swallowed.
    for (const e of existing.rows) {
      const net = parseCidr(e.network)
      for (let len = net.prefix - 1; len >= 0; len--) {
        const k = supernetKey(e.space_id, net, len)
        const hit = newByKey.get(k)
        if (hit && !hit.row.problem) {
          hit.row.problem = skip(hit.row.line, 'contains_existing', columnOf(p.columns, 'network'), hit.net.text, `network: ${hit.net.text} would hold pool ${e.name} (${e.network}), which exists already`)
          break
        }
        if (byKey.has(k)) break
      }
    }
    const taken = new Set(nameOwner.keys())
    for (const n of fresh) {
      if (n.row.problem) continue
      let parentKey: string | null = null
      for (let len = n.net.prefix - 1; len >= 0; len--) {
        const k = supernetKey(n.spaceId, n.net, len)
        if (byKey.has(k) || newByKey.has(k)) {
          parentKey = k
          break
        }
      }
      const parentNew = parentKey ? newByKey.get(parentKey) : undefined
      if (parentNew?.row.problem) {
        n.row.problem = skip(n.row.line, 'parent_skipped', columnOf(p.columns, 'network'), n.net.text, `the pool around it, ${parentNew.net.text} (line ${parentNew.row.line}), is skipped`)
        continue
      }
      let name = n.row.values.name ?? n.net.text
      if (!n.row.values.name && taken.has(`${n.spaceId}|${name}`)) name = `${n.net.text} (${sp.names.get(n.spaceId)})`
      if (taken.has(`${n.spaceId}|${name}`)) {
        n.row.problem = skip(n.row.line, 'name_taken', columnOf(p.columns, 'name'), name, `name: another pool of space "${sp.names.get(n.spaceId)}" is named "${name}"`)
        continue
      }
      taken.add(`${n.spaceId}|${name}`)
      n.row.values.name = name
      ;(n as New & { parentKey: string | null }).parentKey = parentKey
    }
    // Addresses held by the pool around a new one, inside the new network: the new pool would take them.
    const candidates = fresh.filter((n) => !n.row.problem)
    for (let i = 0; i < candidates.length; i += LOAD_CHUNK) {
      const chunk = candidates.slice(i, i + LOAD_CHUNK)
      const r = await trx.raw<Rows<{ k: number; ip: string }>>(
        `select u.k, (select host(a.ip_address) from ip_allocations a where a.space_id = u.s and a.ip_address <<= u.net order by a.ip_address limit 1) as ip
           from unnest(?::int[], ?::int[], ?::cidr[]) as u(k, s, net)`,
        [chunk.map((_, j) => j), chunk.map((n) => n.spaceId), chunk.map((n) => n.net.text)] as unknown as Knex.RawBinding[]
      )
      for (const x of r.rows) {
        if (!x.ip) continue
        const n = chunk[x.k]!
        n.row.problem = skip(n.row.line, 'addresses_in_parent', columnOf(p.columns, 'network'), n.net.text, `network: ${x.ip} is held by the pool around ${n.net.text}; a new pool cannot take addresses over`)
      }
    }
    // A pool whose parent turned out skipped above is skipped too (largest first, so one pass settles it).
    for (const n of fresh) {
      if (n.row.problem) continue
      const pk = (n as New & { parentKey?: string | null }).parentKey
      const parentNew = pk ? newByKey.get(pk) : undefined
      if (parentNew?.row.problem) {
        n.row.problem = skip(n.row.line, 'parent_skipped', columnOf(p.columns, 'network'), n.net.text, `the pool around it, ${parentNew.net.text} (line ${parentNew.row.line}), is skipped`)
        continue
      }
      plan.create.push({ line: n.row.line, values: { ...n.row.values, parent: pk ?? null }, spaceId: n.spaceId, net: n.net })
      this.previewRow(plan, n.row.line, 'create', n.row.values)
    }
    plan.counts.created = plan.create.length
    plan.counts.updated = plan.update.length
    plan.problems = p.rows.filter((r) => r.problem).map((r) => r.problem!)
    plan.counts.skipped = plan.problems.length
    for (const r of p.rows) if (r.problem) this.previewRow(plan, r.line, 'skip', r.values)
    plan.preview.sort((a, b) => a.line - b.line)
    plan.preview.length = Math.min(plan.preview.length, PREVIEW)
    this.emit(opts, 'checking', p.rows.length, p.rows.length)
    return plan
  }

  /** Keeps the PREVIEW first lines (rows are decided about out of line order: collected, sorted, trimmed). */
  private previewRow(plan: Plan, line: number, action: CsvImportReport['preview'][number]['action'], values: Values): void {
    if (line > (plan.previewMax ?? Infinity)) return
    plan.preview.push({ line, action, values: { ...values } })
    if (plan.preview.length >= 2 * PREVIEW) {
      plan.preview.sort((a, b) => a.line - b.line)
      plan.preview.length = PREVIEW
      plan.previewMax = plan.preview[PREVIEW - 1]!.line
    }
  }

  private async writePools(trx: Knex.Transaction, ctx: RequestContext, plan: Plan, importId: string, opts: CsvRunOptions, x: Extras): Promise<void> {
    const total = plan.create.length + plan.update.length
    let done = 0
    const audit = await openBulkAudit(trx, ctx)
    await createMissingTags(trx, ctx, audit, x, importId)
    const idOf = new Map<string, number>()
    const existing = await trx.raw<Rows<{ id: number; k: string }>>(`select id, space_id || '|' || network::text as k from ip_pools`)
    for (const e of existing.rows) idOf.set(e.k, e.id)
    // Level by level (largest networks first): a pool's parent is in place before the pool goes in.
    const levels = new Map<number, Plan['create']>()
    for (const c of plan.create) {
      const l = levels.get(c.net!.prefix) ?? []
      l.push(c)
      levels.set(c.net!.prefix, l)
    }
    for (const len of [...levels.keys()].sort((a, b) => a - b)) {
      const level = levels.get(len)!
      for (let i = 0; i < level.length; i += WRITE_CHUNK) {
        opts.signal?.throwIfAborted()
        const chunk = level.slice(i, i + WRITE_CHUNK)
        const r = await trx.raw<Rows<{ k: number; id: number }>>(
          `with src as (select * from unnest(?::int[], ?::int[], ?::int[], ?::text[], ?::cidr[], ?::inet[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bool[], ?::jsonb[])
                          as u(k, space_id, parent_id, name, network, gateway, vlan_id, site, environment, description, dns, active, cf)),
                ins as (insert into ip_pools (space_id, parent_id, name, network, gateway, vlan_id, site, environment, description, dns_servers, is_active, custom_fields, created_by)
                        select space_id, parent_id, name, network, gateway, vlan_id, site, environment, description,
                               case when dns is null then null else string_to_array(dns, ' ')::inet[] end, active, cf, ? from src order by k
                        returning id, space_id, network)
           select s.k, i.id from ins i join src s on s.space_id = i.space_id and s.network = i.network`,
          [
            chunk.map((_, j) => j),
            chunk.map((c) => c.spaceId),
            chunk.map((c) => (c.values.parent ? idOf.get(c.values.parent)! : null)),
            chunk.map((c) => c.values.name),
            chunk.map((c) => c.net!.text),
            chunk.map((c) => c.values.gateway ?? null),
            chunk.map((c) => (c.values.vlan ? Number(c.values.vlan) : null)),
            chunk.map((c) => c.values.site ?? null),
            chunk.map((c) => c.values.environment ?? null),
            chunk.map((c) => c.values.description ?? null),
            chunk.map((c) => c.values.dns_servers ?? null),
            chunk.map((c) => c.values.active !== 'false'),
            chunk.map((c) => JSON.stringify(customObject(x, c.values))),
            ctx.actor
          ] as unknown as Knex.RawBinding[]
        )
        if (x.tagsMapped) await writeTags(trx, 'pools', r.rows.map((y) => y.id), r.rows.map((y) => chunk[y.k]!.values.tags ?? null), false)
        const entries: AuditEntry[] = []
        for (const y of r.rows) {
          const c = chunk[y.k]!
          idOf.set(`${c.spaceId}|${c.net!.text}`, y.id)
          entries.push({
            action: 'create',
            resourceType: 'ip_pool',
            resourceId: y.id,
            resourceName: c.values.name,
            details: { after: poolSnapshot(c.values, c.net!.text, x), context: { operation: 'csv-import', importId, line: c.line } }
          })
        }
        await audit.write(audit.prepare(entries))
        done += chunk.length
        this.emit(opts, 'writing', done, total)
      }
    }
    for (let i = 0; i < plan.update.length; i += WRITE_CHUNK) {
      opts.signal?.throwIfAborted()
      const chunk = plan.update.slice(i, i + WRITE_CHUNK)
      await trx.raw(
        `update ip_pools p set name = u.name, gateway = u.gateway, vlan_id = u.vlan_id, site = u.site, environment = u.environment, description = u.description,
                dns_servers = case when u.dns is null then null else string_to_array(u.dns, ' ')::inet[] end, is_active = u.active,
                custom_fields = coalesce(u.cf, p.custom_fields), updated_at = now()
           from unnest(?::int[], ?::text[], ?::inet[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bool[], ?::jsonb[])
                as u(id, name, gateway, vlan_id, site, environment, description, dns, active, cf)
          where p.id = u.id`,
        [
          chunk.map((c) => c.id),
          chunk.map((c) => c.after.name),
          chunk.map((c) => c.after.gateway ?? null),
          chunk.map((c) => (c.after.vlan ? Number(c.after.vlan) : null)),
          chunk.map((c) => c.after.site ?? null),
          chunk.map((c) => c.after.environment ?? null),
          chunk.map((c) => c.after.description ?? null),
          chunk.map((c) => c.after.dns_servers ?? null),
          chunk.map((c) => c.after.active !== 'false'),
          chunk.map((c) => (x.cfFields.length ? JSON.stringify(customObject(x, c.after)) : null))
        ] as unknown as Knex.RawBinding[]
      )
      if (x.tagsMapped) await writeTags(trx, 'pools', chunk.map((c) => c.id), chunk.map((c) => c.after.tags ?? null), true)
      await audit.write(
        audit.prepare(
          chunk.map((c) => ({
            action: 'update' as const,
            resourceType: 'ip_pool',
            resourceId: c.id,
            resourceName: c.after.name,
            details: { before: poolSnapshot(c.before, c.before.network!, x), after: poolSnapshot(c.after, c.after.network!, x), context: { operation: 'csv-import', importId, line: c.line } }
          }))
        )
      )
      done += chunk.length
      this.emit(opts, 'writing', done, total)
    }
    await audit.finish()
  }

  // ------------------------------------------------------------------ allocations

  private async planAllocations(trx: Knex.Transaction, p: Parsed, o: ReturnType<typeof readOptions>, opts: CsvRunOptions, x: Extras, write: boolean): Promise<Plan> {
    const sp = await spaces(trx, o.space)
    const plan: Plan = {
      counts: { rows: 0, created: 0, updated: 0, unchanged: 0, skipped: 0 },
      create: [],
      update: [],
      unchanged: 0,
      preview: [],
      problems: [],
      creates: { k: [], pool: [] },
      poolNames: new Map(),
      touched: new Set()
    }
    // Per space, address -> first line (the address text is the row's own string: no key built per row).
    const seen = new Map<number, Map<string, number>>()
    const fields = [...ALLOC_FIELDS, ...extraFields(x)]
    // The pools' networks parsed once each, not once per row.
    const nets = new Map<string, ParsedCidr>()
    const mapped = new Set(p.columns.map((c) => c.field))
    const ipCol = columnOf(p.columns, 'ip')
    const newTags = new Set<string>()
    const noteTags = (v: Values): void => {
      if (v.tags) for (const t of v.tags.split(',')) if (!x.tagIds.has(t)) newTags.add(t)
    }
    const skipped = (problem: CsvProblem, values: Values): void => {
      plan.problems.push(problem)
      this.previewRow(plan, problem.line, 'skip', values)
    }
    // A run keeps each row that may be written in a temporary table (its number k, line, space and values as
    // JSON), so the write reads them back a batch at a time instead of holding the file's rows in memory.
    if (write) await trx.raw(`create temp table csv_import_rows (k int primary key, line int not null, space_id int not null, v text not null) on commit drop`)
    type Live = { row: Row; spaceId: number; k: number }
    type Hit = {
      k: number
      pool_id: number | null
      pool_name: string | null
      network: string | null
      gateway: string | null
      dhcp: string | null
      id: number | null
      status: string | null
      hostname: string | null
      mac: string | null
      owner: string | null
      owner_dn: string | null
      purpose: string | null
      description: string | null
      reserved_until: string | null
      dns_managed: string | null
      dhcp_managed: string | null
      tags?: string | null
      cf?: Record<string, FieldValue> | null
    }
    // One statement per slice: (a run) the slice's rows go into the temporary table, and for each row the
    // innermost pool holding its address, the allocation already there and a dhcp range around it.
    // The slice goes as one JSON document (one native stringify here, no per-value quoting; PostgreSQL, idle
    // while this side reads, takes it apart).
    const lookUp = (live: Live[]): Promise<Rows<Hit>> => {
      const doc = JSON.stringify(live.map((l) => [l.k, l.row.line, l.spaceId, l.row.values.ip, write ? l.row.values : 0]))
      return Promise.resolve(
        trx.raw<Rows<Hit>>(
          `with r as materialized (select (e->>0)::int as k, (e->>1)::int as line, (e->>2)::int as space_id, (e->>3)::inet as ip, e->4 as v from json_array_elements(?::json) e)
           ${write ? `, stored as (insert into csv_import_rows select k, line, space_id, v::text from r)` : ''}
           select r.k, p.id as pool_id, p.name as pool_name, p.network::text as network, host(p.gateway) as gateway,
                (select host(g.first_ip) || '-' || host(g.last_ip) from ip_ranges g where g.pool_id = p.id and g.purpose = 'dhcp' and r.ip between g.first_ip and g.last_ip limit 1) as dhcp,
                a.id, a.status, a.hostname, a.mac_address::text as mac, a.owner, a.owner_dn, a.purpose, a.description,
                to_char(a.reserved_until at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as reserved_until,
                (case when a.id is null then null when a.dns_managed then 'true' else 'false' end) as dns_managed,
                (case when a.id is null then null when a.dhcp_managed then 'true' else 'false' end) as dhcp_managed
                ${x.tagsMapped ? `, (select string_agg(t.name, ',' order by t.name) from ip_allocation_tags xt join ip_tags t on t.id = xt.tag_id where xt.allocation_id = a.id) as tags` : ''}
                ${x.cfFields.length ? ', a.custom_fields as cf' : ''}
           from r
           left join lateral (select p.id, p.name, p.network, p.gateway from ip_pools p
                               where p.space_id = r.space_id and p.network >>= r.ip order by masklen(p.network) desc limit 1) p on true
           left join ip_allocations a on a.ip_address = r.ip and a.space_id = r.space_id
          order by r.k`,
          [doc]
        )
      )
    }
    // What the looked-up rows of a slice become: created, updated, unchanged or skipped with the reason.
    const decide = (live: Live[], hits: Hit[]): void => {
      let i = 0
      for (const h of hits) {
        while (live[i]!.k !== h.k) i++
        const { row, spaceId } = live[i]!
        const v = row.values
        const ip = v.ip!
        const space = sp.names.get(spaceId)
        if (!h.pool_id) {
          skipped(skip(row.line, 'outside_pools', ipCol, ip, `ip: ${ip} lies in no pool of space "${space}"`), v)
          continue
        }
        if (v.pool && v.pool !== h.pool_name && v.pool !== h.network) {
          let inside = false
          try {
            inside = cidrContains(parseCidr(v.pool), parseIp(ip)) && parseCidr(v.pool).text === h.network
          } catch {
            /* a name, not a network */
          }
          if (!inside) {
            skipped(skip(row.line, 'outside_named_pool', columnOf(p.columns, 'pool'), v.pool, `pool: ${ip} lies in pool ${h.pool_name} (${h.network}), not in "${v.pool}"`), v)
            continue
          }
        }
        if (h.id) {
          const before: Values = {
            status: h.status,
            hostname: h.hostname,
            mac: h.mac,
            owner: h.owner,
            owner_dn: h.owner_dn,
            purpose: h.purpose,
            description: h.description,
            reserved_until: h.reserved_until,
            dns_managed: h.dns_managed,
            dhcp_managed: h.dhcp_managed,
            ...(x.tagsMapped ? { tags: h.tags ?? null } : {}),
            ...customValues(h.cf)
          }
          const after: Values = { ...before }
          for (const f of ALLOC_FIELDS) if (mapped.has(f) || (f === 'dhcp_managed' && v.dhcp_managed !== undefined)) after[f] = v[f] ?? (f === 'dns_managed' || f === 'dhcp_managed' ? 'false' : f === 'status' ? 'allocated' : null)
          for (const f of extraFields(x)) after[f] = v[f] ?? null
          if (after.status !== 'reserved') after.reserved_until = null
          let problem: CsvProblem | null = null
          if (!fields.some((f) => !sameValue(before[f], after[f]))) {
            plan.counts.unchanged++
            this.previewRow(plan, row.line, 'unchanged', { ip, pool: h.pool_name, ...after })
          } else if (o.onExisting === 'skip') {
            skipped(skip(row.line, 'exists', ipCol, ip, `ip: ${ip} is held already in space "${space}" with other values; --on-existing update changes it`), v)
          } else if ((problem = requiredOnUpdate(x, row.line, after, p.columns))) {
            skipped(problem, v)
          } else {
            plan.update.push({ line: row.line, id: h.id, before: { ip, ...before }, after: { ip, ...after }, poolId: h.pool_id, poolName: h.pool_name! })
            plan.touched!.add(h.pool_id)
            noteTags(after)
            this.previewRow(plan, row.line, 'update', { ip, pool: h.pool_name, ...after })
          }
          continue
        }
        let net = nets.get(h.network!)
        if (!net) nets.set(h.network!, (net = parseCidr(h.network!)))
        const unusable = unusableReason(net, parseIp(ip)) ?? (h.gateway === ip ? `${ip} is the gateway of ${h.network}` : null)
        if (unusable) {
          skipped(skip(row.line, 'unusable_address', ipCol, ip, `ip: ${unusable}`), v)
          continue
        }
        if (h.dhcp) {
          skipped(skip(row.line, 'in_dhcp_range', ipCol, ip, `ip: ${ip} lies in dhcp range ${h.dhcp} of pool ${h.pool_name}`), v)
          continue
        }
        const problem = requiredOnCreate(x, row.line, v, p.columns)
        if (problem) {
          skipped(problem, v)
          continue
        }
        plan.creates!.k.push(live[i]!.k)
        plan.creates!.pool.push(h.pool_id)
        plan.poolNames!.set(h.pool_id, h.pool_name!)
        plan.touched!.add(h.pool_id)
        noteTags(v)
        this.previewRow(plan, row.line, 'create', { ...v, status: v.status ?? 'allocated', ...(v.status === 'reserved' ? {} : { reserved_until: null }), pool: h.pool_name })
      }
    }
    // Streamed: while PostgreSQL stores and looks up slice n, this reads and checks slice n+1; the answer for
    // slice n is gone through after that. Two slices are in memory at most, whatever the file's size; what
    // grows with the file is one entry per row to create (its number and pool) and the addresses seen (for
    // duplicates), a few tens of bytes a row.
    let k = 0
    let pending: { live: Live[]; hits: Promise<Rows<Hit>> } | null = null
    try {
      for await (const slice of p.slices ?? []) {
        opts.signal?.throwIfAborted()
        plan.counts.rows += slice.length
        for (const row of slice) if (!row.problem) row.problem = checkRowExtras(x, row.line, row.values, p.columns)
        await loadPoolSpaces(trx, sp, slice)
        const live: Live[] = []
        for (const row of slice) {
          if (!row.problem) {
            const s = spaceOf(row, sp, p.columns)
            if (typeof s !== 'number') row.problem = s
            else {
              let inSpace = seen.get(s)
              if (!inSpace) seen.set(s, (inSpace = new Map()))
              const first = inSpace.get(row.values.ip!)
              if (first !== undefined) {
                row.problem = skip(row.line, 'duplicate_key', ipCol, row.values.ip!, `line ${first} of the file has ${row.values.ip} in space "${sp.names.get(s)}" already`)
              } else {
                inSpace.set(row.values.ip!, row.line)
                live.push({ row, spaceId: s, k: k++ })
              }
            }
          }
          if (row.problem) skipped(row.problem, row.values)
        }
        const next = live.length ? { live, hits: lookUp(live) } : null
        next?.hits.catch(() => undefined)
        if (pending) decide(pending.live, (await pending.hits).rows)
        pending = next
        const pr = p.progress!
        this.emit(opts, 'checking', plan.counts.rows, Math.max(plan.counts.rows, Math.round((plan.counts.rows * pr.total) / Math.max(1, pr.bytes))))
      }
      if (pending) decide(pending.live, (await pending.hits).rows)
      pending = null
    } finally {
      await pending?.hits.catch(() => undefined)
    }
    plan.problems.sort((a, b) => a.line - b.line)
    plan.counts.created = plan.creates!.k.length
    plan.counts.updated = plan.update.length
    plan.counts.skipped = plan.problems.length
    plan.preview.sort((a, b) => a.line - b.line)
    plan.preview.length = Math.min(plan.preview.length, PREVIEW)
    x.newTags = newTags
    this.emit(opts, 'checking', plan.counts.rows, plan.counts.rows)
    return plan
  }

  private async writeAllocations(trx: Knex.Transaction, ctx: RequestContext, plan: Plan, importId: string, opts: CsvRunOptions, x: Extras): Promise<void> {
    const creates = plan.creates!
    const total = creates.k.length + plan.update.length
    // The pools written to are locked in id order, as every writer takes them, before the audit chain's head.
    const ids = [...plan.touched!].sort((a, b) => a - b)
    for (let i = 0; i < ids.length; i += LOAD_CHUNK) await trx.raw(`select id from ip_pools where id = any(?::int[]) order by id for update`, [ids.slice(i, i + LOAD_CHUNK)])
    const audit = await openBulkAudit(trx, ctx)
    await createMissingTags(trx, ctx, audit, x, importId)
    const withCustom = x.cfFields.length > 0 || [...x.defs.values()].some((d) => d.required)
    let done = 0
    // The new rows' ids are drawn from the sequence up front, so each batch's audit rows can be hashed
    // (their resource id is part of the hashed body) before its INSERT has run.
    const newIds: number[] = creates.k.length
      ? (
          await trx.raw<Rows<{ ids: number[] }>>(`select array(select nextval(pg_get_serial_sequence('ip_allocations', 'id'))::int from generate_series(1, ?::int)) as ids`, [
            creates.k.length
          ])
        ).rows[0]!.ids
      : []
    // A batch's rows are read back from the temporary table. The statements are pipelined on the transaction's
    // one connection, in this order: the read of batch k+1 goes before the writes of batch k, so while
    // PostgreSQL stores batch k (its rows, then its audit rows) Node already has batch k+1 to build and hash.
    // At most one batch is being written; the audit batches go in chain order.
    const read = (from: number): Promise<Rows<{ line: number; space_id: number; v: string }>> | null =>
      from < creates.k.length
        ? Promise.resolve(
            trx.raw<Rows<{ line: number; space_id: number; v: string }>>(`select line, space_id, v from csv_import_rows where k = any(?::int[]) order by k`, [
              pgArray(creates.k.slice(from, from + WRITE_CHUNK), (k) => k)
            ])
          )
        : null
    let reading = read(0)
    let inflight: Promise<unknown> | null = null
    try {
      for (let i = 0; i < creates.k.length; i += WRITE_CHUNK) {
        opts.signal?.throwIfAborted()
        const got = (await reading!).rows
        reading = read(i + WRITE_CHUNK)
        reading?.catch(() => undefined)
        const chunk = got.map((r, j) => {
          const values = JSON.parse(r.v) as Values
          values.status ??= 'allocated'
          if (values.status !== 'reserved') values.reserved_until = null
          const poolId = creates.pool[i + j]!
          return { line: r.line, spaceId: r.space_id, values, poolId, poolName: plan.poolNames!.get(poolId)! }
        })
        const batchIds = newIds.slice(i, i + WRITE_CHUNK)
        const bindings = [
          pgArray(batchIds, (id) => id),
          pgArray(chunk, (c) => c.poolId),
          pgArray(chunk, (c) => c.spaceId),
          pgArray(chunk, (c) => c.values.ip!),
          pgArray(chunk, (c) => c.values.status ?? 'allocated'),
          pgArray(chunk, (c) => c.values.hostname ?? null),
          pgArray(chunk, (c) => c.values.mac ?? null),
          pgArray(chunk, (c) => c.values.owner ?? null),
          pgArray(chunk, (c) => c.values.owner_dn ?? null),
          pgArray(chunk, (c) => c.values.purpose ?? null),
          pgArray(chunk, (c) => c.values.description ?? null),
          pgArray(chunk, (c) => c.values.reserved_until ?? null),
          pgArray(chunk, (c) => c.values.dns_managed === 'true'),
          pgArray(chunk, (c) => c.values.dhcp_managed === 'true'),
          pgArray(chunk, () => ctx.actor),
          pgArray(chunk, (c) => (withCustom ? JSON.stringify(customObject(x, c.values)) : '{}'))
        ]
        const prepared = audit.prepare([
          batchAudit(
            'create',
            importId,
            i / WRITE_CHUNK,
            chunk.map((c, j) => ({ id: batchIds[j]!, line: c.line, ip: c.values.ip!, after: allocSnapshot(c.values, c.values.ip!, c.poolName, x) }))
          )
        ])
        const rowTags = x.tagsMapped ? chunk.map((c) => c.values.tags ?? null) : null
        if (inflight) await inflight
        // The batch's statements in order (rows, tags, audit rows), while the loop goes on to the next batch.
        inflight = (async () => {
          await trx.raw(
            `insert into ip_allocations (id, pool_id, space_id, ip_address, status, hostname, mac_address, owner, owner_dn, purpose, description, reserved_until,
                                         dns_managed, dhcp_managed, allocated_by, custom_fields)
             select * from unnest(?::int[], ?::int[], ?::int[], ?::inet[], ?::text[], ?::text[], ?::macaddr[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[],
                                  ?::bool[], ?::bool[], ?::text[], ?::jsonb[])`,
            bindings
          )
          if (rowTags) await writeTags(trx, 'allocations', batchIds, rowTags, false)
          await audit.write(prepared)
        })()
        inflight.catch(() => undefined)
        done += chunk.length
        this.emit(opts, 'writing', done, total)
      }
      if (inflight) await inflight
      inflight = null
    } finally {
      if (inflight) await inflight.catch(() => undefined)
      await reading?.catch(() => undefined)
    }
    for (let i = 0; i < plan.update.length; i += WRITE_CHUNK) {
      opts.signal?.throwIfAborted()
      const chunk = plan.update.slice(i, i + WRITE_CHUNK)
      await trx.raw(
        `update ip_allocations a set status = u.status, hostname = u.hostname, mac_address = u.mac, owner = u.owner, owner_dn = u.owner_dn, purpose = u.purpose,
                description = u.description, reserved_until = u.reserved_until, dns_managed = u.dns, dhcp_managed = u.dhcp,
                custom_fields = coalesce(u.cf, a.custom_fields), version = a.version + 1, updated_at = now()
           from unnest(?::int[], ?::text[], ?::text[], ?::macaddr[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::bool[], ?::bool[], ?::jsonb[])
                as u(id, status, hostname, mac, owner, owner_dn, purpose, description, reserved_until, dns, dhcp, cf)
          where a.id = u.id`,
        [
          pgArray(chunk, (c) => c.id),
          pgArray(chunk, (c) => c.after.status ?? 'allocated'),
          pgArray(chunk, (c) => c.after.hostname ?? null),
          pgArray(chunk, (c) => c.after.mac ?? null),
          pgArray(chunk, (c) => c.after.owner ?? null),
          pgArray(chunk, (c) => c.after.owner_dn ?? null),
          pgArray(chunk, (c) => c.after.purpose ?? null),
          pgArray(chunk, (c) => c.after.description ?? null),
          pgArray(chunk, (c) => c.after.reserved_until ?? null),
          pgArray(chunk, (c) => c.after.dns_managed === 'true'),
          pgArray(chunk, (c) => c.after.dhcp_managed === 'true'),
          pgArray(chunk, (c) => (x.cfFields.length ? JSON.stringify(customObject(x, c.after)) : null))
        ]
      )
      if (x.tagsMapped) await writeTags(trx, 'allocations', chunk.map((c) => c.id), chunk.map((c) => c.after.tags ?? null), true)
      await audit.write(
        audit.prepare([
          batchAudit(
            'update',
            importId,
            i / WRITE_CHUNK,
            chunk.map((c) => ({
              id: c.id,
              line: c.line,
              ip: c.after.ip!,
              before: allocSnapshot(c.before, c.before.ip!, c.poolName!, x),
              after: allocSnapshot(c.after, c.after.ip!, c.poolName!, x)
            }))
          )
        ])
      )
      done += chunk.length
      this.emit(opts, 'writing', done, total)
    }
    await audit.finish()
    for (let i = 0; i < ids.length; i += 50) {
      opts.signal?.throwIfAborted()
      await trx.raw(`select ipam_rebuild_free_ranges(x) from unnest(?::int[]) as x`, [ids.slice(i, i + 50)])
    }
  }
}

/** One written allocation inside a batch audit row: its id, the file's line, its address and exact before/after. */
interface BatchEntry {
  id: number
  line: number
  ip: string
  before?: Record<string, unknown>
  after: Record<string, unknown>
}

/**
 * The audit row of one write batch of allocations (up to WRITE_CHUNK): `details.rows` holds every row's id,
 * line and exact before/after, in file order. One row per batch instead of one per allocation: the audit
 * write was the largest share of an import (each row ~650 bytes of heap and eight index entries, ~1.5 kB of
 * WAL; 200,000 rows wrote 303 MB of WAL and took 4.2 s of backend CPU, a batch row set 3.8 MB and 0.07 s,
 * its details compressed out of line). The text search finds an address in its batch row (docs/audit.md),
 * the resource filter finds it through `rows` (filters.ts), verify and export treat it as any other row.
 */
function batchAudit(action: 'create' | 'update', importId: string, batch: number, rows: BatchEntry[]): AuditEntry {
  const first = rows[0]!
  const last = rows[rows.length - 1]!
  return {
    action,
    resourceType: 'ip_allocation',
    resourceId: null,
    resourceName: rows.length === 1 ? first.ip : `${first.ip} … ${last.ip} (${rows.length} allocations)`,
    details: {
      context: { operation: 'csv-import', importId, batch, count: rows.length, lines: [first.line, last.line] },
      rows: rows.map((r) => ({ id: r.id, line: r.line, ...(r.before ? { before: r.before } : {}), after: r.after }))
    }
  }
}

function ipText(value: bigint, like: ParsedCidr): string {
  if (like.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.')
  const parts: string[] = []
  for (let s = 112n; s >= 0n; s -= 16n) parts.push(((value >> s) & 0xffffn).toString(16))
  return parts.join(':')
}

function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1
  return out
}

export { CSV_PROBLEMS }
export type { CsvOnExisting, CsvPreset, CsvKind }

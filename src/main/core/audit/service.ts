/**
 * The audit trail: the viewer's queries (filters, keyset pagination, counts for the chart), verification
 * of the hash chain, retention policies with the purge, and streaming export as CSV, JSON or JSON Lines.
 * Appending lives in writer.ts, which every service uses.
 */
import type { Writable } from 'node:stream'
import type { Knex } from '@mikro-orm/postgresql'
import type { z } from 'zod'
import { AppError, validationError } from '../../../shared/errors'
import {
  AUDIT_CSV_COLUMNS,
  auditFilterSchema,
  auditListSchema,
  DEFAULT_RETENTION_DAYS,
  policySetSchema,
  type AuditCounts,
  type AuditEntryDto,
  type AuditFilter,
  type AuditListInput,
  type AuditPage,
  type ExportFormat,
  type ExportReport,
  type PolicySetInput,
  type PurgeReport,
  type RetentionPolicyDto,
  type VerifyProblem,
  type VerifyReport
} from '../../../shared/audit'
import { parseIp } from '../../../shared/net'
import { describeIssue } from '../../../shared/schemas'
import { requireRole, type RequestContext } from '../context'
import { canonicalBody, GENESIS_HASH, rowHash } from './canonical'
import { appendAudit, recordFailure } from './writer'
import { indexedUpTo } from './search-index'

type Rows<T> = { rows: T[] }

interface AuditRow {
  id: string
  seq: string
  created_at: Date
  action: string
  resource_type: string
  resource_id: string | null
  resource_name: string | null
  db_user: string | null
  user_id: string | null
  user_ip: string | null
  user_agent: string | null
  status: string
  details: AuditEntryDto['details']
  request_id: string | null
  source: string
  prev_hash: string
  row_hash: string
}

const COLUMNS = `id, seq::text as seq, created_at, action, resource_type, resource_id, resource_name, db_user, user_id, host(user_ip) as user_ip,
  user_agent, status, details, request_id, source, prev_hash, row_hash`

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {})
  if (!r.success) {
    const { field, reason } = describeIssue(r.error)
    throw validationError(field, reason)
  }
  return r.data
}

export function toEntryDto(r: AuditRow): AuditEntryDto {
  return {
    id: r.id,
    seq: r.seq,
    createdAt: new Date(r.created_at).toISOString(),
    action: r.action,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    resourceName: r.resource_name,
    dbUser: r.db_user,
    userId: r.user_id,
    userIp: r.user_ip,
    userAgent: r.user_agent,
    status: r.status,
    source: r.source,
    requestId: r.request_id,
    details: r.details ?? {},
    prevHash: r.prev_hash,
    rowHash: r.row_hash
  }
}

/**
 * What verify reads: the hashed fields, with the time already in the writer's ISO form (parsing a million
 * timestamps into Dates and back costs more than hashing them).
 */
const VERIFY_COLUMNS = `seq::text as seq, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at, action,
  resource_type, resource_id, resource_name, db_user, user_id, host(user_ip) as user_ip, user_agent, status, details, request_id, source,
  prev_hash, row_hash`

/** A row as verify reads it (VERIFY_COLUMNS): the time already in ISO form. */
type VerifyRow = Omit<AuditRow, 'created_at'> & { created_at: string }

/** The canonical body of a stored row, exactly as the writer serialised it. */
function bodyOf(r: VerifyRow): string {
  return canonicalBody({
    createdAt: r.created_at,
    // Rows written before the server stamped the login have no dbUser key in their body.
    dbUser: r.db_user ?? undefined,
    action: r.action,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    resourceName: r.resource_name,
    userId: r.user_id,
    userIp: r.user_ip,
    userAgent: r.user_agent,
    status: r.status,
    details: r.details,
    requestId: r.request_id,
    source: r.source
  })
}

const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`)

/**
 * Text search inside details uses the trigram index on details::text. GIN answers a pattern by reading the
 * posting list of each of its trigrams, and a trigram found in most rows (the "web" of "web-4242" when every
 * row names a web host) costs a read of nearly every row id in the table, however rare the whole text is. So
 * when the planner's statistics show that some words of the search text occur in many rows, only the other
 * words go to the index, and the whole text is then tested on each candidate row through an expression the
 * index does not cover. Every row holding the whole text holds each of its words, so the rows found are the
 * same; only the way to them changes.
 */
interface TextSample {
  at: number
  /** Lower-cased details texts from pg_stats with the share of rows each stands for. */
  texts: { text: string; weight: number }[]
}

/** The statistics are re-read at most this often. */
const TEXT_SAMPLE_TTL_MS = 5 * 60_000
/** A word found in more than this share of rows is left to the recheck. */
const COMMON_WORD_SHARE = 0.05
/** Fewer sampled texts than this (a small or never analysed table): the index gets the whole text. */
const MIN_SAMPLE = 50

/** The ASCII letter-and-digit runs of at least 3 characters in a search text: what pg_trgm indexes as words. */
export function searchWords(text: string): string[] {
  return [...new Set(text.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length >= 3))]
}

/** The words of `text` worth handing to the index, or null to hand it the whole text. */
export function rareWords(text: string, sample: TextSample['texts']): string[] | null {
  if (sample.length < MIN_SAMPLE) return null
  const words = searchWords(text)
  const rare = words.filter((w) => sample.reduce((share, s) => (s.text.includes(w) ? share + s.weight : share), 0) <= COMMON_WORD_SHARE)
  return rare.length && rare.length < words.length ? rare : null
}

/**
 * The rows a text search looks at (docs/audit.md#text-search), in three parts; the list pages each apart,
 * the counts and the export read their union as a derived table named audit_logs:
 * - rows not written by an import, tested on details::text (the partial trigram index covers them);
 * - import rows up to `upTo`, which the background indexer has copied, tested on their copy in
 *   audit_import_search (which has its own trigram index);
 * - import rows above `upTo` (read just before), tested on details::text (audit_logs_import_seq_idx finds them).
 * The three are disjoint, and each tests the whole text, so the rows are those whose details hold it. Each
 * part is planned on its own with the other filters pushed into it, so PostgreSQL can walk the newest rows
 * when the text is common and go through an index when it is rare, as it did with one index. With `words`
 * (see rareWords) each index gets the rare words and the whole text is tested through an expression no
 * index covers.
 */
function textSource(text: string, words: string[] | null, upTo: string): Array<{ sql: string; bindings: Knex.Value[] }> {
  const whole = `%${escapeLike(text)}%`
  const match = (expr: string): { sql: string; bindings: Knex.Value[] } =>
    words
      ? { sql: [...words.map(() => `${expr} ilike ?`), `(${expr} || '') ilike ? escape '\\'`].join(' and '), bindings: [...words.map((x) => `%${x}%`), whole] }
      : { sql: `${expr} ilike ? escape '\\'`, bindings: [whole] }
  const logged = match('t.details::text')
  const copied = match('s.doc')
  return [
    { sql: `select t.* from audit_logs t where t.source <> 'import' and ${logged.sql}`, bindings: logged.bindings },
    {
      sql: `select t.* from audit_logs t where t.source = 'import' and t.seq <= ?::bigint
              and exists (select 1 from audit_import_search s where s.seq = t.seq and ${copied.sql})`,
      bindings: [upTo, ...copied.bindings]
    },
    {
      sql: `select t.* from audit_logs t where t.source = 'import' and t.seq > ?::bigint and t.details::text ilike ? escape '\\'`,
      bindings: [upTo, whole]
    }
  ]
}

interface Where {
  /** What to select from: audit_logs, or the derived table of a text search (also named audit_logs). */
  from: string
  /** The other filters, over `from`. */
  sql: string
  /** from's bindings, then sql's. */
  bindings: Knex.Value[]
  /** A text search's parts (textSource), for queries that run them one by one. */
  parts?: Array<{ sql: string; bindings: Knex.Value[] }>
  filter?: { sql: string; bindings: Knex.Value[] }
}

/** The WHERE clause of every filter but the text (see textSource), shared by the list, the counts and the export. */
function whereClause(f: z.output<typeof auditFilterSchema>): { sql: string; bindings: Knex.Value[] } {
  const w: string[] = []
  const b: Knex.Value[] = []
  if (f.from) {
    w.push('created_at >= ?::timestamptz')
    b.push(new Date(f.from).toISOString())
  }
  if (f.to) {
    w.push('created_at < ?::timestamptz')
    b.push(new Date(f.to).toISOString())
  }
  if (f.from && f.to && new Date(f.from) > new Date(f.to)) throw validationError('to', 'is before from')
  if (f.action) {
    const actions = Array.isArray(f.action) ? f.action : [f.action]
    w.push('action = any(?::text[])')
    b.push(actions as unknown as Knex.Value)
  }
  if (f.resourceType) {
    w.push('resource_type = ?')
    b.push(f.resourceType)
  }
  if (f.resource) {
    w.push(`(resource_id = ? or lower(resource_name) like ? escape '\\')`)
    b.push(f.resource, `${escapeLike(f.resource.toLowerCase())}%`)
  }
  if (f.actor) {
    w.push('user_id = ?')
    b.push(f.actor)
  }
  if (f.ip) {
    if (f.ip.includes('/')) {
      const [addr, prefix] = f.ip.split('/')
      const ip = parseIp(addr ?? '', 'ip')
      if (!/^\d{1,3}$/.test(prefix ?? '') || Number(prefix) > (ip.family === 4 ? 32 : 128)) throw validationError('ip', `"${f.ip}": bad prefix length`)
      w.push('user_ip <<= network(?::inet)')
      b.push(`${ip.text}/${prefix}`)
    } else {
      w.push('user_ip = ?::inet')
      b.push(parseIp(f.ip, 'ip').text)
    }
  }
  if (f.status) {
    w.push('status = ?')
    b.push(f.status)
  }
  if (f.source) {
    w.push('source = ?')
    b.push(f.source)
  }
  if (f.requestId) {
    w.push('request_id = ?')
    b.push(f.requestId)
  }
  return { sql: w.length ? w.join(' and ') : 'true', bindings: b }
}


/** The time part of the filter alone (see export). */
function timeClause(f: z.output<typeof auditFilterSchema>): { sql: string; bindings: Knex.Value[] } | null {
  if (!f.from) return null
  const w = ['created_at >= ?::timestamptz']
  const b: Knex.Value[] = [new Date(f.from).toISOString()]
  if (f.to) {
    w.push('created_at < ?::timestamptz')
    b.push(new Date(f.to).toISOString())
  }
  return { sql: w.join(' and '), bindings: b }
}

export const CSV_COLUMNS = AUDIT_CSV_COLUMNS


export class AuditService {
  private textSample: TextSample | null = null

  constructor(private readonly knex: Knex) {}

  /** whereClause, with the words of a text search chosen from the statistics (rareWords). */
  private async where(f: z.output<typeof auditFilterSchema>): Promise<Where> {
    const w = whereClause(f)
    if (!f.text) return { from: 'audit_logs', ...w }
    // How far the indexer got is read just before the query; the indexer only ever moves it up, over rows it
    // has copied, so the parts stay disjoint and together hold every row, whatever it does meanwhile.
    const [sample, upTo] = await Promise.all([this.detailsSample(), indexedUpTo(this.knex)])
    const parts = textSource(f.text, rareWords(f.text, sample), upTo)
    return {
      from: `(${parts.map((p) => p.sql).join(' union all ')}) as audit_logs`,
      sql: w.sql,
      bindings: [...parts.flatMap((p) => p.bindings), ...w.bindings],
      parts,
      filter: w
    }
  }



  /**
   * Sampled details texts, as ANALYZE keeps them for the trigram index's expression (pg_stats: the most
   * common values with their frequencies, and the histogram, whose entries share the rest evenly). Empty where
   * the index or its statistics are missing; the search then works as without this.
   */
  private async detailsSample(): Promise<TextSample['texts']> {
    if (this.textSample && Date.now() - this.textSample.at < TEXT_SAMPLE_TTL_MS) return this.textSample.texts
    let texts: TextSample['texts'] = []
    try {
      const r = await this.knex.raw<Rows<{ mcv: string[] | null; freqs: number[] | null; hist: string[] | null }>>(
        `select most_common_vals::text::text[] as mcv, most_common_freqs as freqs, histogram_bounds::text::text[] as hist
           from pg_stats where schemaname = current_schema() and tablename = 'audit_logs_details_trgm_idx'`
      )
      const row = r.rows[0]
      if (row) {
        const mcv = row.mcv ?? []
        const freqs = row.freqs ?? []
        const hist = row.hist ?? []
        const rest = Math.max(0, 1 - freqs.reduce((a, x) => a + x, 0))
        texts = [
          ...mcv.map((t, i) => ({ text: t.toLowerCase(), weight: freqs[i] ?? 0 })),
          ...hist.map((t) => ({ text: t.toLowerCase(), weight: rest / hist.length }))
        ]
      }
    } catch {
      texts = []
    }
    this.textSample = { at: Date.now(), texts }
    return texts
  }

  async list(_ctx: RequestContext, input: AuditListInput = {}): Promise<AuditPage> {
    const v = parse(auditListSchema, input)
    const { before, limit, ...filters } = v
    const w = await this.where(filters)
    const page = (from: string, bindings: Knex.Value[]) =>
      this.knex
        .raw<Rows<AuditRow>>(`select ${COLUMNS} from ${from} where ${w.sql} ${before ? 'and seq < ?::bigint' : ''} order by audit_logs.seq desc limit ?`, [
          ...bindings,
          ...(before ? [before] : []),
          limit + 1
        ])
        .then((r) => r.rows)
    // A text search pages each part on its own and merges them: planned apart, each part can walk the newest
    // rows when the text is common and use its index when it is rare (one query over their union cannot).
    const rows = w.parts
      ? (await Promise.all(w.parts.map((p) => page(`(${p.sql}) as audit_logs`, [...p.bindings, ...w.filter!.bindings]))))
          .flat()
          .sort((a, b) => (BigInt(b.seq) > BigInt(a.seq) ? 1 : BigInt(b.seq) < BigInt(a.seq) ? -1 : 0))
          .slice(0, limit + 1)
      : await page(w.from, w.bindings)
    const r = { rows }
    const items = r.rows.slice(0, limit).map(toEntryDto)
    return { items, nextCursor: r.rows.length > limit ? items[items.length - 1]!.seq : null }
  }

  async get(_ctx: RequestContext, seq: string): Promise<AuditEntryDto> {
    if (!/^\d+$/.test(seq)) throw validationError('seq', 'must be a sequence number')
    const r = await this.knex.raw<Rows<AuditRow>>(`select ${COLUMNS} from audit_logs where seq = ?::bigint`, [seq])
    if (!r.rows[0]) throw new AppError('NOT_FOUND', `seq: no audit entry ${seq}`, { field: 'seq' })
    return toEntryDto(r.rows[0])
  }

  /** Rows per day and action, for the viewer's chart (UTC days). */
  async counts(_ctx: RequestContext, input: AuditFilter = {}): Promise<AuditCounts> {
    const f = parse(auditFilterSchema, input)
    const w = await this.where(f)
    const r = await this.knex.raw<Rows<{ day: string; action: string; count: number }>>(
      `select to_char(date_trunc('day', created_at at time zone 'UTC'), 'YYYY-MM-DD') as day, action, count(*)::int as count
         from ${w.from} where ${w.sql} group by 1, 2 order by 1, 2`,
      w.bindings
    )
    return { days: r.rows, total: r.rows.reduce((n, x) => n + x.count, 0) }
  }

  // ---------------------------------------------------------------- verification

  /**
   * Walks the chain in sequence order through a server-side cursor and reports the first row that was
   * altered, is missing or is out of order. Runs of rows removed by a purge are bridged by their checkpoints.
   */
  async verify(_ctx: RequestContext, onProgress?: (checked: number) => void): Promise<VerifyReport> {
    const started = performance.now()
    const head = (await this.knex.raw<Rows<{ last_seq: string; last_hash: string }>>(`select last_seq::text, last_hash from audit_chain_head where id = 1`)).rows[0]!
    const cps = (
      await this.knex.raw<Rows<{ first_seq: string; last_seq: string; last_hash: string; purge_seq: string | null }>>(
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

    await this.knex.transaction(async (trx) => {
      await trx.raw(`declare audit_verify no scroll cursor for select ${VERIFY_COLUMNS} from audit_logs order by audit_logs.seq`)
      const fetchNext = () => trx.raw<Rows<VerifyRow>>(`fetch 10000 from audit_verify`).then((r) => r.rows)
      // Ask for the next batch before hashing this one, so the server reads while this process hashes.
      let pending = fetchNext()
      scan: for (;;) {
        const batch = await pending
        if (!batch.length) break
        pending = fetchNext()
        for (const r of batch) {
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
              break scan
            }
          }
          if (r.prev_hash !== expectedPrev) {
            problem = {
              seq: r.seq,
              kind: 'reordered',
              message: `row ${r.seq} does not follow row ${seq - 1n}: its previous-row hash does not match (rows reordered, or one replaced)`
            }
            break scan
          }
          const computed = rowHash(r.prev_hash, r.seq, bodyOf(r))
          if (computed !== r.row_hash) {
            problem = { seq: r.seq, kind: 'altered', message: `row ${r.seq} was altered: its contents no longer match its hash` }
            break scan
          }
          // Purge records list the runs they removed; collected to cross-check the checkpoints.
          if (r.resource_type === 'audit_log' && r.details?.context && Array.isArray((r.details.context as { runs?: unknown }).runs)) {
            const runs = (r.details.context as { runs: [string, string, string][] }).runs
            purgeRuns.set(r.seq, new Set(runs.map((x) => x.join(':'))))
          }
          expectedPrev = r.row_hash
          expectedSeq = seq + 1n
          lastSeq = r.seq
          checked++
        }
        onProgress?.(checked)
      }
      // Let a fetch still in flight finish before the cursor closes.
      await pending.catch(() => undefined)
      await trx.raw(`close audit_verify`)
    })

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

  // ---------------------------------------------------------------- retention

  async listPolicies(_ctx: RequestContext): Promise<RetentionPolicyDto[]> {
    const r = await this.knex.raw<Rows<{ resource_type: string; retention_days: number | null; is_active: boolean; created_at: Date; updated_at: Date }>>(
      `select resource_type, retention_days, is_active, created_at, updated_at from audit_log_retention_policies order by resource_type`
    )
    return r.rows.map((p) => ({
      resourceType: p.resource_type,
      retentionDays: p.retention_days,
      isActive: p.is_active,
      createdAt: new Date(p.created_at).toISOString(),
      updatedAt: new Date(p.updated_at).toISOString()
    }))
  }

  async setPolicy(ctx: RequestContext, input: PolicySetInput): Promise<RetentionPolicyDto> {
    const entry = { action: 'update' as const, resourceType: 'audit_retention_policy', resourceName: (input as { resourceType?: string })?.resourceType ?? null, details: { after: input } }
    try {
      requireRole(ctx, 'admin', 'changing a retention policy')
      const v = parse(policySetSchema, input)
      if (v.resourceType === 'audit_log') throw validationError('resourceType', 'purge records (audit_log) are kept forever so verification can always prove what was removed')
      return await this.knex.transaction(async (trx) => {
        const before = (await trx.raw<Rows<{ retention_days: number | null; is_active: boolean }>>(`select retention_days, is_active from audit_log_retention_policies where resource_type = ? for update`, [v.resourceType])).rows[0]
        if (before && before.retention_days === v.retentionDays && before.is_active === v.isActive) {
          return (await this.listPolicies(ctx)).find((p) => p.resourceType === v.resourceType)!
        }
        await trx.raw(
          `insert into audit_log_retention_policies (resource_type, retention_days, is_active) values (?, ?, ?)
           on conflict (resource_type) do update set retention_days = excluded.retention_days, is_active = excluded.is_active, updated_at = now()`,
          [v.resourceType, v.retentionDays, v.isActive]
        )
        await appendAudit(trx, ctx, {
          action: before ? 'update' : 'create',
          resourceType: 'audit_retention_policy',
          resourceName: v.resourceType,
          details: { ...(before ? { before: { retentionDays: before.retention_days, isActive: before.is_active } } : {}), after: { retentionDays: v.retentionDays, isActive: v.isActive } }
        })
        const r = await trx.raw<Rows<{ created_at: Date; updated_at: Date }>>(`select created_at, updated_at from audit_log_retention_policies where resource_type = ?`, [v.resourceType])
        return { resourceType: v.resourceType, retentionDays: v.retentionDays, isActive: v.isActive, createdAt: new Date(r.rows[0]!.created_at).toISOString(), updatedAt: new Date(r.rows[0]!.updated_at).toISOString() }
      })
    } catch (e) {
      const err = e instanceof AppError ? e : new AppError('INTERNAL', (e as Error).message)
      await recordFailure(this.knex, ctx, entry, err)
      throw err
    }
  }

  /** A refused role check is recorded like any other refusal. */
  private async authorize(ctx: RequestContext, what: string, resourceType: string, resourceName: string | null): Promise<void> {
    try {
      requireRole(ctx, 'admin', what)
    } catch (e) {
      await recordFailure(this.knex, ctx, { action: 'authorize', resourceType, resourceName }, e as AppError)
      throw e
    }
  }

  async removePolicy(ctx: RequestContext, resourceType: string): Promise<{ removed: boolean }> {
    await this.authorize(ctx, 'removing a retention policy', 'audit_retention_policy', resourceType)
    return this.knex.transaction(async (trx) => {
      const r = await trx.raw<Rows<{ retention_days: number | null; is_active: boolean }>>(
        `delete from audit_log_retention_policies where resource_type = ? returning retention_days, is_active`,
        [resourceType]
      )
      const before = r.rows[0]
      if (!before) return { removed: false }
      await appendAudit(trx, ctx, {
        action: 'delete',
        resourceType: 'audit_retention_policy',
        resourceName: resourceType,
        details: { before: { retentionDays: before.retention_days, isActive: before.is_active }, context: { nowUses: `${DEFAULT_RETENTION_DAYS} days (the default)` } }
      })
      return { removed: true }
    })
  }

  /**
   * Removes rows older than their resource type's retention (365 days where no policy is set; purge records
   * are kept forever). Each run of consecutive removed rows leaves a checkpoint, and the purge itself is
   * audited with the list of runs, so `verify` still holds and can prove what was removed.
   */
  async purge(ctx: RequestContext, opts: { dryRun?: boolean; now?: Date } = {}): Promise<PurgeReport> {
    await this.authorize(ctx, 'purging the audit log', 'audit_log', 'retention purge')
    return this.knex.transaction(async (trx) => {
      // The server chooses the rows by its own clock (a later `now` is the owner's test hook), holds the chain
      // head so nothing is appended between choosing the runs and recording them, and removes them unless this
      // is a dry run (audit_purge_runs, owned by netkeeper_owner: no other role may delete audit rows).
      const out = (
        await trx.raw<Rows<{ first_seq: string | null; last_seq: string | null; last_hash: string | null; n: string | null; by_type: Record<string, number> | null; cutoff: Date }>>(
          `select first_seq::text as first_seq, last_seq::text as last_seq, last_hash, n::text as n, by_type, cutoff from audit_purge_runs(?::timestamptz, ?::int, ?::boolean)`,
          [opts.now ? opts.now.toISOString() : null, DEFAULT_RETENTION_DAYS, !!opts.dryRun]
        )
      ).rows
      const runs = out.filter((r) => r.first_seq !== null) as Array<{ first_seq: string; last_seq: string; last_hash: string; n: string }>
      const byType = Object.fromEntries(Object.entries(out.find((r) => r.first_seq === null)?.by_type ?? {}).map(([k, v]) => [k, Number(v)]))
      const rows = Object.values(byType).reduce((n, v) => n + v, 0)
      const at = Date.parse(new Date(out[0]!.cutoff).toISOString())
      const policies = (await trx.raw<Rows<{ resource_type: string; retention_days: number | null }>>(`select resource_type, retention_days from audit_log_retention_policies where is_active order by resource_type`)).rows
      const cutoffs: Record<string, string | null> = { '*': new Date(at - DEFAULT_RETENTION_DAYS * 86400_000).toISOString() }
      for (const p of policies) cutoffs[p.resource_type] = p.retention_days === null ? null : new Date(at - p.retention_days * 86400_000).toISOString()
      if (opts.dryRun || rows === 0) {
        return { dryRun: !!opts.dryRun, byType, rows, ranges: runs.length, cutoffs, purgeSeq: null }
      }
      const appended = await appendAudit(trx, ctx, {
        action: 'delete',
        resourceType: 'audit_log',
        resourceName: 'retention purge',
        details: { context: { rows, byType, cutoffs, runs: runs.map((r) => [r.first_seq, r.last_seq, r.last_hash]) } }
      })
      // A run may continue one left by an earlier purge: checkpoints are kept per run, verify chains them.
      await trx.raw(`select audit_purge_checkpoints(?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint)`, [
        runs.map((r) => r.first_seq),
        runs.map((r) => r.last_seq),
        runs.map((r) => r.last_hash),
        runs.map((r) => r.n),
        appended.seq
      ] as unknown as Knex.RawBinding[])
      return { dryRun: false, byType, rows, ranges: runs.length, cutoffs, purgeSeq: appended.seq }
    })
  }

  // ---------------------------------------------------------------- export

  /**
   * Streams the rows matching the filters (newest first) to `out` through a server-side cursor, in
   * constant memory: CSV (RFC 4180, header row, formulas neutralised), one JSON array, or JSON Lines.
   * PostgreSQL formats each row (exportLineSql), so the client only moves text, and while one batch is
   * written the server already formats the next.
   */
  async export(
    _ctx: RequestContext,
    out: Writable,
    format: ExportFormat,
    input: AuditFilter = {},
    onProgress?: (done: number, total: number) => void
  ): Promise<ExportReport> {
    const f = parse(auditFilterSchema, input)
    const w = await this.where(f)
    let bytes = 0
    let rows = 0
    const write = (chunk: string): Promise<void> | void => {
      bytes += Buffer.byteLength(chunk)
      if (!out.write(chunk)) return new Promise((resolve) => out.once('drain', resolve))
    }
    /**
     * Writes a batch's lines in pieces of about 64 kB and waits for the stream once per batch. Strings that
     * large stay in V8's young generation, which is reclaimed at once; one string per batch (megabytes) would
     * sit in the large-object space until a full collection and make the process grow by a hundred MB.
     */
    const writeLines = (lines: string[], sep: string, lead: string, tail: string): Promise<void> | void => {
      let piece = lead
      let wait = false
      for (let i = 0; i < lines.length; i++) {
        piece += i === 0 ? lines[i] : sep + lines[i]
        if (piece.length >= 65536) {
          bytes += Buffer.byteLength(piece)
          wait = !out.write(piece) || wait
          piece = ''
        }
      }
      piece += tail
      bytes += Buffer.byteLength(piece)
      wait = !out.write(piece) || wait
      if (wait && out.writableNeedDrain) return new Promise((resolve) => out.once('drain', resolve))
    }
    const total = onProgress ? (await this.knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from ${w.from} where ${w.sql}`, w.bindings)).rows[0]!.n : 0
    // The cursor walks the rows newest first by seq. With a time filter it would go on past the oldest match
    // to the first row, testing each one; the lowest matching seq (found through the time index) ends it there.
    // The bound only restates the filter, so the rows are the same.
    const time = timeClause(f)
    const bound = time ? { sql: ` and audit_logs.seq >= (select min(seq + 0) from audit_logs where ${time.sql})`, bindings: time.bindings } : { sql: '', bindings: [] }
    await this.knex.transaction(async (trx) => {
      await trx.raw(`declare audit_export no scroll cursor for select ${exportLineSql(format)} as line from ${w.from} where ${w.sql}${bound.sql} order by audit_logs.seq desc`, [
        ...w.bindings,
        ...bound.bindings
      ])
      const fetchNext = () => trx.raw<Rows<{ line: string }>>(`fetch ${EXPORT_BATCH} from audit_export`).then((r) => r.rows)
      if (format === 'csv') await write(CSV_COLUMNS.join(',') + '\r\n')
      if (format === 'json') await write('[')
      let pending = fetchNext()
      try {
        for (;;) {
          const batch = await pending
          if (!batch.length) break
          pending = fetchNext()
          const lines = batch.map((r) => r.line)
          if (format === 'csv') await writeLines(lines, '\r\n', '', '\r\n')
          else if (format === 'jsonl') await writeLines(lines, '\n', '', '\n')
          else await writeLines(lines, ',\n', rows === 0 ? '\n' : ',\n', '')
          rows += batch.length
          onProgress?.(rows, total)
        }
      } finally {
        // A fetch still in flight (after a failed write) must finish before the transaction ends.
        await pending.catch(() => undefined)
      }
      await trx.raw(`close audit_export`)
    })
    if (format === 'json') await write(rows ? '\n]\n' : ']\n')
    return { format, rows, bytes }
  }
}

/** Rows per fetch of the export cursor: about 1 MB of CSV; two batches are in memory at most. */
const EXPORT_BATCH = 2000

/** The SQL expression, per column, giving the value exported for it (as text; null for SQL NULL). */
const EXPORT_VALUE: Record<(typeof CSV_COLUMNS)[number], string> = {
  seq: `seq::text`,
  createdAt: `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  action: `action`,
  resourceType: `resource_type`,
  resourceId: `resource_id`,
  resourceName: `resource_name`,
  dbUser: `db_user`,
  userId: `user_id`,
  userIp: `host(user_ip)`,
  userAgent: `user_agent`,
  status: `status`,
  source: `source`,
  requestId: `request_id`,
  details: `details::text`,
  prevHash: `prev_hash`,
  rowHash: `row_hash`,
  id: `id::text`
}

/** Columns whose stored values can never need quoting or a formula guard (CHECK constraints, types). */
const CSV_PLAIN = new Set<(typeof CSV_COLUMNS)[number]>(['seq', 'createdAt', 'action', 'status', 'source', 'userIp', 'id'])

/**
 * One exported row as text, built by PostgreSQL. CSV: a cell that starts with = + - @ tab or CR gets a
 * leading apostrophe so a spreadsheet does not run it as a formula, then a cell holding a comma, quote or
 * line break is quoted with doubled quotes (RFC 4180); `details` is always quoted (JSON text is full of
 * quotes). Each value is tested once on the common path (one regular expression); only a value that needs
 * a guard or quotes takes the longer one. JSON and JSON Lines: the same object the viewer gets.
 */
function exportLineSql(format: ExportFormat): string {
  if (format === 'csv') {
    const full = (e: string): string => {
      const v = `coalesce(${e}, '')`
      const neutral = `(case when ${v} ~ E'^[=+\\\\-@\\t\\r]' then '''' || ${v} else ${v} end)`
      return `(case when ${neutral} ~ E'[",\\r\\n]' then '"' || replace(${neutral}, '"', '""') || '"' else ${neutral} end)`
    }
    return CSV_COLUMNS.map((c) => {
      const e = EXPORT_VALUE[c]
      if (CSV_PLAIN.has(c)) return `coalesce(${e}, '')`
      // A jsonb number may start with '-'; any other jsonb text starts with { [ " t f or n.
      if (c === 'details') return `(case when jsonb_typeof(details) = 'number' then ${full(e)} else '"' || replace(${e}, '"', '""') || '"' end)`
      return `(case when ${e} !~ E'^[=+\\\\-@\\t\\r]|[",\\r\\n]' then ${e} else ${full(e)} end)`
    }).join(` || ',' || `)
  }
  const pairs = CSV_COLUMNS.map((c) => `'${c}', ${c === 'details' ? 'details' : EXPORT_VALUE[c]}`)
  return `json_build_object(${pairs.join(', ')})::text`
}

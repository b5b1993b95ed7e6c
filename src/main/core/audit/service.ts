/**
 * The audit trail: the viewer's queries (filters, keyset pagination, counts for the chart), verification
 * of the hash chain, retention policies with the purge and its archives, and streaming export as CSV, JSON
 * or JSON Lines. Appending lives in writer.ts, which every service uses.
 *
 * This class is the face (`core.audit.x(...)`): it runs the viewer's queries itself, with the filters of
 * filters.ts, and hands the rest to the modules beside it: verify.ts (the chain), retention.ts (policies
 * and purge), archive.ts (archive files) and export.ts (streaming export). rows.ts holds the row and its DTO.
 */
import path from 'node:path'
import type { Writable } from 'node:stream'
import type { Knex } from '@mikro-orm/postgresql'
import type { z } from 'zod'
import { AppError, validationError } from '../../../shared/errors'
import {
  auditFilterSchema,
  auditListSchema,
  type AuditCounts,
  type AuditEntryDto,
  type AuditFilter,
  type AuditListInput,
  type AuditPage,
  type ArchiveSummary,
  type ExportFormat,
  type ExportReport,
  type ExportVerifyReport,
  type SigningKeyDto,
  type PolicySetInput,
  type PurgeReport,
  type RetentionPolicyDto,
  type VerifyReport
} from '../../../shared/audit'
import type { RequestContext } from '../context'
import { exportRows } from './export'
import { rareWords, TEXT_SAMPLE_TTL_MS, textSource, whereClause, type TextSample, type Where } from './filters'
import { checkAnchors, headAnchor, readAnchors, writeAnchor, type Anchor } from './anchors'
import { copyLiveRows, readArchiveFolder } from './archive'
import { verifyExport, writeExportManifest } from './export-manifest'
import type { AuditSigningKeys } from './signing'
import { listPolicies, preview, purge, removePolicy, setPolicy, type ArchiveTarget } from './retention'
import { COLUMNS, parse, toEntryDto, type AuditRow, type Rows } from './rows'
import { indexedUpTo } from './search-index'
import { verify } from './verify'

export { CSV_COLUMNS } from './export'
export { rareWords, searchWords } from './filters'
export { toEntryDto } from './rows'

export class AuditService {
  private textSample: TextSample | null = null

  constructor(
    private readonly knex: Knex,
    /** Where purges archive what they remove (the configured folder, or `<data folder>/audit-archive`). */
    private readonly archiveTarget: () => ArchiveTarget,
    /** This installation's export signing key (in the OS keychain). */
    readonly keys: AuditSigningKeys,
    /** Where the chain head is anchored (settings.json `audit.anchorFile`, `audit.anchorSink`): a file, a syslog sink, both or neither. */
    private readonly anchorTargets: () => { file: string | null; sink: string | null } = () => ({ file: null, sink: null }),
    /** Sends an anchor to a syslog sink by name (forward/anchor-sink.ts). */
    private readonly sendAnchor: (sink: string, anchor: Anchor) => Promise<void> = async () => {
      throw new AppError('UNAVAILABLE', 'anchorSink: anchoring to syslog is not available here', { field: 'anchorSink' })
    },
    /**
     * Where the heavy reads go (the viewer, counts, export, verify): a connection's read-only standby when
     * it names one (Database.reads), else the primary. Every write (purge, anchor, keys) stays on `knex`.
     */
    private readonly readsFrom?: () => Knex
  ) {}

  /** The knex of the heavy reads (see readsFrom). */
  private get reader(): Knex {
    return this.readsFrom?.() ?? this.knex
  }

  /** The archive folder purges and `archive` use: `dir` when given (it must exist), else the configured one. */
  archiveFolder(dir?: string): ArchiveTarget {
    const t = this.archiveTarget()
    return dir ? { ...t, dir: path.resolve(dir), isDefault: false } : t
  }

  /** whereClause, with the words of a text search chosen from the statistics (rareWords). */
  private async where(f: z.output<typeof auditFilterSchema>): Promise<Where> {
    const w = whereClause(f)
    if (!f.text) return { from: 'audit_logs', ...w }
    // How far the indexer got is read just before the query; the indexer only ever moves it up, over rows it
    // has copied, so the parts stay disjoint and together hold every row, whatever it does meanwhile.
    const [sample, upTo] = await Promise.all([this.detailsSample(), indexedUpTo(this.reader)])
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
      // audit_logs is partitioned by month (Migration20270110100000): ANALYZE keeps the expression's
      // statistics per partition's index (autovacuum analyzes partitions, never the parent). Each partition's
      // sample counts by its share of the rows; an unpartitioned log has one entry, its own index.
      const r = await this.reader.raw<Rows<{ mcv: string[] | null; freqs: number[] | null; hist: string[] | null; n: number }>>(
        `with idx as (
           select i.inhrelid as oid from pg_inherits i where i.inhparent = to_regclass('audit_logs_details_trgm_idx')
           union all
           select to_regclass('audit_logs_details_trgm_idx') where not exists (select 1 from pg_inherits i where i.inhparent = to_regclass('audit_logs_details_trgm_idx')))
         select s.most_common_vals::text::text[] as mcv, s.most_common_freqs as freqs, s.histogram_bounds::text::text[] as hist,
                greatest(t.reltuples, 0)::float8 as n
           from idx join pg_class ic on ic.oid = idx.oid join pg_index x on x.indexrelid = ic.oid join pg_class t on t.oid = x.indrelid
           join pg_stats s on s.schemaname = current_schema() and s.tablename = ic.relname`
      )
      const total = r.rows.reduce((a, row) => a + (r.rows.length === 1 ? 1 : row.n), 0)
      for (const row of r.rows) {
        const share = total > 0 ? (r.rows.length === 1 ? 1 : row.n) / total : 1 / r.rows.length
        const mcv = row.mcv ?? []
        const freqs = row.freqs ?? []
        const hist = row.hist ?? []
        const rest = Math.max(0, 1 - freqs.reduce((a, x) => a + x, 0))
        texts.push(
          ...mcv.map((t, i) => ({ text: t.toLowerCase(), weight: (freqs[i] ?? 0) * share })),
          ...hist.map((t) => ({ text: t.toLowerCase(), weight: (rest / hist.length) * share }))
        )
      }
    } catch {
      texts = []
    }
    this.textSample = { at: Date.now(), texts }
    return texts
  }

  async list(_ctx: RequestContext, input: AuditListInput = {}): Promise<AuditPage> {
    const v = parse(auditListSchema, input)
    const { before, after, limit, ...filters } = v
    const w = await this.where(filters)
    // Older than `before`, newest first; or newer than `after`, nearest first (turned round below).
    const cursor = before ? { sql: 'and seq < ?::bigint', value: before } : after ? { sql: 'and seq > ?::bigint', value: after } : null
    const dir = after ? 'asc' : 'desc'
    const reader = this.reader
    const page = (from: string, bindings: Knex.Value[]) =>
      reader
        .raw<Rows<AuditRow>>(`select ${COLUMNS} from ${from} where ${w.sql} ${cursor?.sql ?? ''} order by audit_logs.seq ${dir} limit ?`, [
          ...bindings,
          ...(cursor ? [cursor.value] : []),
          limit + 1
        ])
        .then((r) => r.rows)
    const order = (a: AuditRow, b: AuditRow): number => {
      const c = BigInt(b.seq) > BigInt(a.seq) ? 1 : BigInt(b.seq) < BigInt(a.seq) ? -1 : 0
      return after ? -c : c
    }
    // A text search pages each part on its own and merges them: planned apart, each part can walk the newest
    // rows when the text is common and use its index when it is rare (one query over their union cannot).
    const rows = w.parts
      ? (await Promise.all(w.parts.map((p) => page(`(${p.sql}) as audit_logs`, [...p.bindings, ...w.filter!.bindings]))))
          .flat()
          .sort(order)
          .slice(0, limit + 1)
      : await page(w.from, w.bindings)
    const more = rows.length > limit
    const items = rows.slice(0, limit).map(toEntryDto)
    if (after) {
      items.reverse()
      return { items, nextCursor: items.length ? items[items.length - 1]!.seq : null, newerCursor: more ? items[0]!.seq : null }
    }
    return { items, nextCursor: more ? items[items.length - 1]!.seq : null }
  }

  async get(_ctx: RequestContext, seq: string): Promise<AuditEntryDto> {
    if (!/^\d+$/.test(seq)) throw validationError('seq', 'must be a sequence number')
    const r = await this.reader.raw<Rows<AuditRow>>(`select ${COLUMNS} from audit_logs where seq = ?::bigint`, [seq])
    if (!r.rows[0]) throw new AppError('NOT_FOUND', `seq: no audit entry ${seq}`, { field: 'seq' })
    return toEntryDto(r.rows[0])
  }

  /** Rows per day and action, for the viewer's chart (UTC days). */
  async counts(_ctx: RequestContext, input: AuditFilter = {}): Promise<AuditCounts> {
    const f = parse(auditFilterSchema, input)
    const w = await this.where(f)
    const r = await this.reader.raw<Rows<{ day: string; action: string; count: number }>>(
      `select to_char(date_trunc('day', created_at at time zone 'UTC'), 'YYYY-MM-DD') as day, action, count(*)::int as count
         from ${w.from} where ${w.sql} group by 1, 2 order by 1, 2`,
      w.bindings
    )
    return { days: r.rows, total: r.rows.reduce((n, x) => n + x.count, 0) }
  }

  // ---------------------------------------------------------------- verification

  /**
   * Walks the chain and reports the first row altered, missing or out of order (see verify.ts). With
   * `archives` (a folder), also proves the rows purges removed from the archives there.
   */
  async verify(_ctx: RequestContext, onProgress?: (checked: number) => void, opts: { archives?: string; anchors?: string } = {}): Promise<VerifyReport> {
    const anchors = opts.anchors ? readAnchors(path.resolve(opts.anchors)) : undefined
    const reader = this.reader
    const r = await verify(reader, onProgress, opts.archives ? await readArchiveFolder(path.resolve(opts.archives)) : undefined)
    if (!anchors) return r
    // After the walk: the stored hashes are then the chain's, and the anchors say whether its end is.
    const a = await checkAnchors(reader, anchors, r.headSeq)
    const anchorsReport = { file: path.resolve(opts.anchors!), checked: a.checked, purged: a.purged, otherDatabase: a.otherDatabase }
    return { ...r, ok: r.ok && !a.problem, problem: r.problem ?? a.problem, anchors: anchorsReport }
  }

  /**
   * Anchors the chain head: appends it to `file` when given, else to the configured file and sends it to the
   * configured syslog sink (each that is set). The same anchor goes to both; a failure of either is thrown
   * after the other was tried.
   */
  async anchor(_ctx: RequestContext, file?: string): Promise<Anchor & { sink?: string }> {
    const t = file ? { file: path.resolve(file), sink: null } : this.anchorTargets()
    if (!t.file && !t.sink) {
      throw new AppError('VALIDATION', 'anchorFile: no anchor file or syslog sink is set: give one (`netkeeper audit anchors --file FILE` or `--sink NAME`)', { field: 'anchorFile' })
    }
    const a = await headAnchor(this.knex, this.archiveTarget().database)
    const errors: Error[] = []
    if (t.file) await writeAnchor(this.knex, t.file, a.database, a).catch((e: Error) => errors.push(e))
    if (t.sink) await this.sendAnchor(t.sink, a).catch((e: Error) => errors.push(e))
    if (errors.length) throw errors.length === 1 ? errors[0]! : new AppError('UNAVAILABLE', errors.map((e) => e.message).join('; '), { field: 'anchorFile' })
    return t.sink ? { ...a, sink: t.sink } : a
  }

  // ---------------------------------------------------------------- retention

  listPolicies(_ctx: RequestContext): Promise<RetentionPolicyDto[]> {
    return listPolicies(this.knex)
  }

  setPolicy(ctx: RequestContext, input: PolicySetInput): Promise<RetentionPolicyDto> {
    return setPolicy(this.knex, ctx, input)
  }

  removePolicy(ctx: RequestContext, resourceType: string): Promise<{ removed: boolean }> {
    return removePolicy(this.knex, ctx, resourceType)
  }

  /**
   * Creates the monthly partitions of audit_logs from this month to `ahead` months ahead, and of any month
   * whose rows went to the default partition (moving them in); returns how many it created. Any role may:
   * the server function runs as the owner. The app calls it at start and daily, each purge does too.
   */
  async ensurePartitions(ahead = 2): Promise<number> {
    const r = await this.knex.raw<Rows<{ n: number }>>(`select audit_partitions_ensure(null, ?)::int as n`, [ahead])
    return r.rows[0]!.n
  }

  /**
   * Removes rows older than their resource type's active policy (nothing of a type without one), archiving
   * them first and leaving checkpoints (see retention.ts). `archiveDir` overrides the configured folder.
   */
  async purge(ctx: RequestContext, opts: { dryRun?: boolean; now?: Date; archiveDir?: string } = {}): Promise<PurgeReport> {
    const r = await purge(this.knex, ctx, this.archiveFolder(opts.archiveDir), opts)
    // After every purge that removed rows, the head goes to the anchor file and sink, when set.
    const t = this.anchorTargets()
    if (r.purgeSeq && (t.file || t.sink)) {
      try {
        r.anchor = await this.anchor(ctx)
      } catch (e) {
        r.anchorError = (e as Error).message
      }
    }
    return r
  }

  /** What a purge would remove `inMs` milliseconds from now by the server's clock (now when absent); a read. */
  previewPurge(_ctx: RequestContext, inMs?: number): Promise<PurgeReport> {
    return preview(this.knex, inMs)
  }

  /** Copies the rows still in the log that the archive folder does not hold yet into a new archive there. */
  archiveLiveRows(_ctx: RequestContext, opts: { archiveDir?: string } = {}): Promise<ArchiveSummary | null> {
    return copyLiveRows(this.knex, this.archiveFolder(opts.archiveDir))
  }

  // ---------------------------------------------------------------- export

  /**
   * Writes the signed manifest of an export just written to `file` (FILE.manifest.json, or `manifestFile`):
   * see export-manifest.ts. Unsigned, saying why, where no signing key can be had.
   */
  signExport(ctx: RequestContext, file: string, report: ExportReport, filters: AuditFilter, manifestFile?: string): Promise<{ manifest: string; unsigned?: string }> {
    return writeExportManifest(this.knex, this.keys, ctx, { file, manifestFile, report, filters, database: this.archiveTarget().database })
  }

  /** Checks an export against its manifest and signature; with `live`, every row against this database's chain. */
  verifyExport(_ctx: RequestContext, file: string, opts: { manifest?: string; publicKey?: string; live?: boolean } = {}): Promise<ExportVerifyReport> {
    return verifyExport(path.resolve(file), { manifest: opts.manifest, publicKey: opts.publicKey, knex: opts.live ? this.knex : undefined })
  }

  /** This installation's signing key (null before the first export made one). */
  async signingKey(_ctx: RequestContext): Promise<SigningKeyDto | null> {
    return this.keys.show(this.knex)
  }

  /** Makes the key when there is none yet (recording it), and returns it. */
  async ensureSigningKey(ctx: RequestContext): Promise<SigningKeyDto> {
    return (await this.keys.current(this.knex, ctx)).dto
  }

  /** Replaces the signing key; the new public key is recorded in the audit log (admin). */
  rotateSigningKey(ctx: RequestContext): Promise<{ before: SigningKeyDto | null; after: SigningKeyDto }> {
    return this.keys.rotate(this.knex, ctx)
  }

  /** Streams the rows matching the filters, newest first, as CSV, JSON or JSON Lines (see export.ts). */
  export(_ctx: RequestContext, out: Writable, format: ExportFormat, input: AuditFilter = {}, onProgress?: (done: number, total: number) => void): Promise<ExportReport> {
    return exportRows(this.reader, (f) => this.where(f), out, format, input, onProgress)
  }
}

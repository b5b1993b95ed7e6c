/**
 * The legacy SQLite import (LDAP Web Manager v2.0 IPAM files), for the app's wizard, the CLI and tests.
 *
 * analyse -> (choices) -> dryRun -> run. Each step reads the file again (read-only) and plans against the
 * target as it is at that moment; the run plans once more inside its transaction, so what it writes
 * matches the target it commits to. The run is one transaction {pools, allocations, legacy id map, free
 * space, one audit row per created object, one audit row for the import}: a failure or a cancel leaves
 * nothing behind. docs/import.md describes the choices, the problem kinds and the report.
 */
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import {
  importChoicesSchema,
  type ImportAnalysis,
  type ImportChoices,
  type ImportChoicesInput,
  type ImportPhase,
  type ImportProgress,
  type ImportReport,
  type ReportFile,
  type ReportFormat
} from '../../../shared/importer'
import { describeIssue } from '../../../shared/schemas'
import { appendAuditsBulk, recordFailure, type AuditEntry } from '../audit/writer'
import { makeContext, requireRole, type RequestContext } from '../context'
import { toAppError } from '../db/errors'
import { openLegacySource, type LegacySource } from './legacy-file'
import { makePlan, type Plan } from './plan'
import { formatReport, poolOutcomes, skippedRows, withValues } from './report'
import { addressHolders, loadTarget, lockPools } from './target'
import { writePlan } from './write'
import { findSpaceId } from '../ipam/rows'

export interface ImportInput {
  file: string
  choices?: ImportChoicesInput
}

export interface RunOptions {
  onProgress?: (p: ImportProgress) => void
  signal?: AbortSignal
  /** Names the run for progress and cancel (the wizard picks it); a fresh UUID otherwise. */
  runId?: string
}

/** Where each phase sits on the overall progress bar (start, end) in percent. */
const PHASE_SPAN: Record<ImportPhase, [number, number]> = {
  reading: [0, 3],
  checking: [3, 15],
  pools: [15, 17],
  // Allocations with their audit rows: the bulk of the work.
  allocations: [17, 92],
  'free-space': [92, 96],
  // The import's own audit row.
  audit: [96, 97],
  committing: [97, 100],
  done: [100, 100]
}

const MAX_REPORTS = 10

class Cancelled extends Error {
  constructor() {
    super('cancelled')
    this.name = 'AbortError'
  }
}

const isAbort = (e: unknown): boolean => e instanceof Cancelled || (e as Error)?.name === 'AbortError'

function parseChoices(input: ImportChoicesInput | undefined): ImportChoices {
  const r = importChoicesSchema.safeParse(input ?? {})
  if (!r.success) {
    const { field, reason } = describeIssue(r.error)
    throw validationError(`choices.${field}`, reason)
  }
  return r.data
}

/** What the import audit row keeps of the choices: per-row decisions are counted, not listed. */
function choicesForAudit(c: ImportChoices): Record<string, unknown> {
  const rows = { skip: 0, fix: 0 }
  for (const r of c.rows) rows[r.action]++
  return { onConflict: c.onConflict, fix: c.fix, typeMap: c.typeMap, rowChoices: rows }
}

function countBy<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1
  return out
}

export class ImporterService {
  private readonly jobs = new Map<string, { controller: AbortController; progress: ImportProgress; actor: string }>()
  private readonly reports = new Map<string, ImportReport>()

  /** `committed` runs after each import commits (the Core starts the audit search indexer with it). */
  constructor(
    private readonly knex: Knex,
    private readonly committed: () => void = () => undefined
  ) {}

  // ---------------------------------------------------------------- the steps

  /** Recognises the file and lists every problem row with its reason, with what a run under `choices` would do. */
  async analyse(_ctx: RequestContext, input: ImportInput, opts: RunOptions = {}): Promise<ImportAnalysis> {
    const choices = parseChoices(input?.choices)
    const data = await this.read(input?.file, opts)
    try {
      const plan = await this.plan(this.knex, data, choices, opts)
      return {
        file: data.file,
        source: { pools: data.pools.length, allocations: data.allocationCount, missingColumns: data.missingColumns, types: plan.types },
        choices,
        problems: plan.problems,
        counts: plan.counts,
        refusal: plan.refusal
      }
    } finally {
      data.close()
    }
  }

  /** What a run would do, as a report; writes nothing. A cancel (opts.signal) resolves with outcome 'cancelled'. */
  async dryRun(ctx: RequestContext, input: ImportInput, opts: RunOptions = {}): Promise<ImportReport> {
    const started = new Date()
    const choices = parseChoices(input?.choices)
    let data: LegacySource | undefined
    try {
      data = await this.read(input?.file, opts)
      const plan = await this.plan(this.knex, data, choices, opts)
      opts.signal?.throwIfAborted()
      this.emit(opts, 'done', 1, 1, false)
      return this.keep(this.report('dry-run', null, ctx, started, data, choices, plan))
    } catch (e) {
      if (!isAbort(e)) throw e
      this.emit(opts, 'done', 1, 1, false)
      return this.keep(this.report('cancelled', null, ctx, started, data ?? this.unread(String(input?.file ?? '')), choices, null))
    } finally {
      data?.close()
    }
  }

  /**
   * Imports in one transaction. Resolves with the report; a cancel (opts.signal) resolves with outcome
   * 'cancelled' and nothing written. Refuses (CONFLICT) with onConflict 'fail' when anything clashes.
   */
  async run(ctx: RequestContext, input: ImportInput, opts: RunOptions = {}): Promise<ImportReport> {
    const file = typeof input?.file === 'string' ? input.file : ''
    const failure: AuditEntry = { action: 'create', resourceType: 'import', resourceName: file || null, details: { context: { file } } }
    try {
      requireRole(ctx, 'admin', 'importing a legacy IPAM file')
    } catch (e) {
      await recordFailure(this.knex, ctx, { ...failure, action: 'authorize' }, e as AppError)
      throw e
    }
    const started = new Date()
    const importId = randomUUID()
    const ictx = makeContext({ ...ctx, source: 'import' })
    let data: LegacySource | undefined
    let choices: ImportChoices | undefined
    try {
      choices = parseChoices(input?.choices)
      failure.details = { context: { file, choices: choicesForAudit(choices) } }
      data = await this.read(file, opts)
      const d = data
      const c = choices
      failure.resourceName = d.file.name
      failure.details = { context: { file: d.file, choices: choicesForAudit(c) } }
      const report = await this.knex.transaction(async (trx) => {
        // One import at a time (two runs of the same file would race for the same legacy ids); other
        // work is not held up: pools are locked one by one, only those the import adds to.
        await trx.raw(`select pg_advisory_xact_lock(hashtext('netkeeper:legacy-import'))`)
        const plan = await this.plan(trx, d, c, opts, trx)
        if (plan.refusal) throw new AppError('CONFLICT', plan.refusal.message, { field: 'onConflict', clashes: plan.problems.filter((p) => p.outcome === 'refused').slice(0, 20) })
        const phase = this.phaseReporter(opts)
        const written = await writePlan(trx, d, plan, ictx, importId, { progress: phase, signal: opts.signal }, await this.targetSpace(trx, c))
        phase('audit', 0, 1)
        opts.signal?.throwIfAborted()
        const r = this.report('imported', importId, ctx, started, d, c, plan, written.poolIds)
        await appendAuditsBulk(trx, ictx, [
          {
            action: 'create',
            resourceType: 'import',
            resourceId: importId,
            resourceName: d.file.name,
            details: {
              context: {
                operation: 'import',
                file: d.file,
                via: ctx.source,
                choices: choicesForAudit(c),
                created: r.created,
                counts: r.counts,
                skippedByKind: countBy(r.skipped, (s) => s.kind),
                fixesByKind: countBy(r.fixes, (f) => f.kind),
                warnings: r.warnings.length
              }
            }
          }
        ])
        opts.signal?.throwIfAborted()
        // From here the commit runs: a cancel can no longer stop it (progress says so).
        phase('committing', 0, 1)
        return r
      })
      d.close()
      this.committed()
      this.emit(opts, 'done', 1, 1, false)
      report.finishedAt = new Date().toISOString()
      report.durationMs = Date.now() - started.getTime()
      return this.keep(report)
    } catch (e) {
      data?.close()
      if (isAbort(e) && choices) {
        // Cancelled while reading, checking or writing: the transaction (if any) was rolled back.
        const d = data ?? this.unread(file)
        this.emit(opts, 'done', 1, 1, false)
        return this.keep(this.report('cancelled', null, ctx, started, d, choices, null))
      }
      const err = toAppError(e)
      if (err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE') await recordFailure(this.knex, ictx, failure, err)
      throw err
    }
  }

  // ---------------------------------------------------------------- the wizard's handles

  /** run() registered under a run id, so progress() and cancel() can reach it while it works. */
  runTracked(ctx: RequestContext, input: ImportInput & { runId?: string }): Promise<ImportReport> {
    return this.tracked(ctx, input, (opts) => this.run(ctx, input, opts))
  }

  /** dryRun() registered under a run id (when one is given), so import:cancel stops it too. */
  dryRunTracked(ctx: RequestContext, input: ImportInput & { runId?: string }): Promise<ImportReport> {
    return this.tracked(ctx, input, (opts) => this.dryRun(ctx, input, opts))
  }

  private async tracked(ctx: RequestContext, input: { runId?: string }, work: (opts: RunOptions) => Promise<ImportReport>): Promise<ImportReport> {
    const runId = input.runId ?? randomUUID()
    if (this.jobs.has(runId)) throw new AppError('CONFLICT', `runId: an import with id ${runId} is already running`, { field: 'runId' })
    const controller = new AbortController()
    const job = { controller, actor: ctx.actor, progress: { runId, phase: 'reading' as ImportPhase, done: 0, total: 0, percent: 0, cancellable: true } }
    this.jobs.set(runId, job)
    try {
      return await work({
        runId,
        signal: controller.signal,
        onProgress: (p) => {
          job.progress = p
        }
      })
    } finally {
      this.jobs.delete(runId)
    }
  }

  progress(_ctx: RequestContext, runId: string): ImportProgress | null {
    return this.jobs.get(runId)?.progress ?? null
  }

  /**
   * Asks a running import or dry run to stop; it rolls back and reports 'cancelled'. False when it is not
   * running or already committing. Whoever started it may stop it; anyone else needs the admin role.
   */
  cancel(ctx: RequestContext, runId: string): { cancelled: boolean } {
    const job = this.jobs.get(runId)
    if (job?.actor !== ctx.actor) requireRole(ctx, 'admin', 'cancelling an import')
    if (!job || !job.progress.cancellable) return { cancelled: false }
    job.controller.abort()
    return { cancelled: true }
  }

  /** A kept report (the last few of this session) as a downloadable file. */
  reportFile(_ctx: RequestContext, reportId: string, format: ReportFormat): ReportFile {
    const r = this.reports.get(reportId)
    if (!r) throw new AppError('NOT_FOUND', `reportId: no report ${reportId} in this session (reports are kept for the last ${MAX_REPORTS} runs)`, { field: 'reportId' })
    return formatReport(r, format)
  }

  // ---------------------------------------------------------------- internals

  /** What a report says of a file it never finished opening (a cancel while reading). */
  private unread(file: string): Pick<LegacySource, 'file' | 'pools' | 'allocationCount' | 'missingColumns'> {
    const resolved = path.resolve(file)
    return { file: { path: resolved, name: path.basename(resolved), size: 0, sha256: '', modifiedAt: '' }, pools: [], allocationCount: 0, missingColumns: [] }
  }

  private async read(file: unknown, opts: RunOptions): Promise<LegacySource> {
    if (typeof file !== 'string' || !file.trim()) throw validationError('file', 'is required')
    this.emit(opts, 'reading', 0, 1)
    try {
      const source = await openLegacySource(file, { signal: opts.signal })
      this.emit(opts, 'reading', 1, 1)
      return source
    } catch (e) {
      if (isAbort(e)) throw new Cancelled()
      throw e
    }
  }

  private async plan(q: Knex | Knex.Transaction, data: LegacySource, choices: ImportChoices, opts: RunOptions, trx?: Knex.Transaction): Promise<Plan> {
    this.emit(opts, 'checking', 0, data.allocationCount)
    const spaceId = await this.targetSpace(q, choices)
    const target = await loadTarget(q, data, spaceId)
    return makePlan(data, target, choices, {
      holders: (ips) => addressHolders(q, ips, spaceId),
      lockPools: trx ? (poolIds) => lockPools(trx, poolIds) : undefined,
      signal: opts.signal,
      onProgress: (done, total) => this.emit(opts, 'checking', done, total)
    })
  }

  /** The space the pools go into: choices.space by name or id, the default space without one. */
  private async targetSpace(q: Knex | Knex.Transaction, choices: ImportChoices): Promise<number> {
    try {
      return await findSpaceId(q, choices.space ?? null)
    } catch (e) {
      if (e instanceof AppError && e.code === 'NOT_FOUND') throw validationError('choices.space', `no address space "${choices.space}"`)
      throw e
    }
  }

  private phaseReporter(opts: RunOptions): (phase: ImportPhase, done: number, total: number) => void {
    return (phase, done, total) => this.emit(opts, phase, done, total, phase !== 'committing')
  }

  private emit(opts: RunOptions, phase: ImportPhase, done: number, total: number, cancellable = true): void {
    if (!opts.onProgress) return
    const [from, to] = PHASE_SPAN[phase]
    const share = total > 0 ? Math.min(1, done / total) : 0
    const percent = Math.round((from + (to - from) * share) * 10) / 10
    opts.onProgress({ runId: opts.runId ?? '', phase, done, total, percent, cancellable })
  }

  private report(
    outcome: ImportReport['outcome'],
    importId: string | null,
    ctx: RequestContext,
    started: Date,
    data: Pick<LegacySource, 'file' | 'pools' | 'allocationCount' | 'missingColumns'>,
    choices: ImportChoices,
    plan: Plan | null,
    poolIds?: Map<Plan['pools'][number], number>
  ): ImportReport {
    const finished = new Date()
    let skipped = plan ? skippedRows(plan.problems) : []
    if (plan) skipped = withValues(skipped, plan, (row) => plan.skippedValues.get(row) ?? null)
    const zero = {
      pools: { inFile: data.pools.length, created: 0, renamed: 0, merged: 0, alreadyImported: 0, skipped: 0, fixed: 0 },
      allocations: { inFile: data.allocationCount, created: 0, alreadyImported: 0, skipped: 0, fixed: 0 }
    }
    const counts = plan && outcome !== 'cancelled' ? plan.counts : zero
    return {
      reportId: randomUUID(),
      importId,
      outcome,
      file: data.file,
      choices,
      actor: ctx.actor,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      created: { pools: counts.pools.created + counts.pools.renamed, allocations: counts.allocations.created },
      counts,
      pools: plan ? poolOutcomes(plan, poolIds) : [],
      skipped: outcome === 'cancelled' ? [] : skipped,
      fixes: plan && outcome !== 'cancelled' ? plan.fixes : [],
      warnings: plan && outcome !== 'cancelled' ? plan.problems.filter((p) => p.severity === 'warning' && p.outcome === 'imported') : [],
      missingColumns: data.missingColumns,
      refusal: plan?.refusal ?? null
    }
  }

  private keep(r: ImportReport): ImportReport {
    this.reports.set(r.reportId, r)
    while (this.reports.size > MAX_REPORTS) this.reports.delete(this.reports.keys().next().value!)
    return r
  }
}

/**
 * A directory change can not share a transaction with the audit log (one is LDAP, the other PostgreSQL),
 * so it is written around it, in this order:
 *
 * 1. the intent row (status `warning`, phase `intent`) with the change as it will be sent;
 *    if the audit store cannot be written, the change is refused and nothing is sent to the directory;
 * 2. the LDAP write;
 * 3. the outcome row (`success` or `failure`, phase `outcome`, pointing at the intent's sequence number).
 *
 * An intent without an outcome therefore means "sent, result not recorded" (the audit store went away in
 * between): the log never misses a change that happened. Refusals before the intent (validation, role)
 * are recorded as failures, like every other service does.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import { appendAudit, appendAuditsBulk, recordFailure, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { toDirectoryError } from './errors'

/**
 * Errors already written to the audit log (by DirectoryAudit.change), so the guard (scope.ts) does not record
 * them twice.
 */
const recorded = new WeakSet<object>()
const markRecorded = (e: unknown): unknown => {
  if (e && typeof e === 'object') recorded.add(e)
  return e
}
export const wasRecorded = (e: unknown): boolean => !!e && typeof e === 'object' && recorded.has(e)

export class DirectoryAudit {
  constructor(private readonly knex: Knex) {}

  /**
   * Runs `fn` (the LDAP write) between the intent and the outcome rows. `outcome` may add details known
   * only afterwards (the allocated number, the groups touched).
   */
  async change<T>(ctx: RequestContext, entry: AuditEntry, fn: () => Promise<T>, outcome?: (r: T) => AuditEntry['details']): Promise<T> {
    let intentSeq: string
    try {
      const row = await appendAudit(this.knex, ctx, {
        ...entry,
        status: 'warning',
        details: { ...entry.details, context: { ...entry.details?.context, phase: 'intent' } }
      })
      intentSeq = row.seq
    } catch (e) {
      throw new AppError(
        'UNAVAILABLE',
        `the audit log could not be written (${(e as Error).message}); the directory change was refused so that nothing happens unaudited. Check the database connection and try again.`,
        { kind: 'audit-unavailable' }
      )
    }
    let result: T
    try {
      result = await fn()
    } catch (e) {
      const err = e instanceof AppError ? e : toDirectoryError(e, `${entry.resourceType} ${entry.action}`)
      await recordFailure(this.knex, ctx, { ...entry, details: { ...entry.details, context: { ...entry.details?.context, phase: 'outcome', intentSeq } } }, err)
      throw markRecorded(err)
    }
    try {
      const extra = outcome?.(result)
      await appendAudit(this.knex, ctx, {
        ...entry,
        status: 'success',
        details: { ...entry.details, ...extra, context: { ...entry.details?.context, ...extra?.context, phase: 'outcome', intentSeq } }
      })
    } catch (e) {
      // The change happened and its intent is on record; losing the outcome row must not report failure.
      console.error(`[audit] outcome of ${entry.action} ${entry.resourceType} ${entry.resourceName ?? ''} (intent #${intentSeq}) not recorded:`, (e as Error).message)
    }
    return result
  }

  /**
   * The same order for many changes sent together (a bulk import's batch): every change's intent row in one
   * bulk append (one transaction, one commit; audit/writer.ts appendAuditsBulk), then `fn`, which does the writes and returns, per change in order, null for done or
   * the error that refused it; then every change's outcome row (success, or failure with its error) in one
   * bulk append. Each change keeps its own intent and outcome rows, as change() writes them, so an auditor reads
   * them per entry. If `fn` throws, every change of the batch is recorded as failed with that error.
   */
  async changeMany(ctx: RequestContext, entries: AuditEntry[], fn: () => Promise<(AppError | null)[]>): Promise<(AppError | null)[]> {
    if (!entries.length) return []
    let intents: string[]
    try {
      const intentRows = entries.map((entry) => ({ ...entry, status: 'warning' as const, details: { ...entry.details, context: { ...entry.details?.context, phase: 'intent' } } }))
      intents = await this.knex.transaction((trx) => appendAuditsBulk(trx, ctx, intentRows))
    } catch (e) {
      throw new AppError(
        'UNAVAILABLE',
        `the audit log could not be written (${(e as Error).message}); the directory changes were refused so that nothing happens unaudited. Check the database connection and try again.`,
        { kind: 'audit-unavailable' }
      )
    }
    let results: (AppError | null)[]
    try {
      results = await fn()
    } catch (e) {
      const err = e instanceof AppError ? e : toDirectoryError(e, `${entries[0]!.resourceType} ${entries[0]!.action}`)
      results = entries.map(() => err)
    }
    try {
      const outcomeRows = entries.map((entry, i): AuditEntry => {
          const err = results[i]
          const context = { ...entry.details?.context, phase: 'outcome', intentSeq: intents[i] }
          return err
            ? { ...entry, status: 'failure' as const, details: { ...entry.details, context, error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } } }
            : { ...entry, status: 'success' as const, details: { ...entry.details, context } }
      })
      await this.knex.transaction((trx) => appendAuditsBulk(trx, ctx, outcomeRows))
    } catch (e) {
      // As in change(): the intents are on record; a lost outcome must not turn done changes into failures.
      console.error(`[audit] outcomes of ${entries.length} ${entries[0]!.resourceType} changes (intents #${intents[0]}..#${intents[intents.length - 1]}) not recorded:`, (e as Error).message)
    }
    for (const err of results) if (err) markRecorded(err)
    return results
  }

  /** Records a refusal that happened before any write (validation, role, not found, conflict). */
  async refused(ctx: RequestContext, entry: AuditEntry, err: AppError): Promise<void> {
    await recordFailure(this.knex, ctx, entry, err)
  }

  /** Records a non-change event (sign-in, sign-out, authentication) in one row. */
  async event(ctx: RequestContext, entry: AuditEntry): Promise<void> {
    await appendAudit(this.knex, ctx, entry)
  }
}

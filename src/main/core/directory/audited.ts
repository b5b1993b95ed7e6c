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
import { appendAudit, recordFailure, type AuditEntry } from '../audit/writer'
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

  /** Records a refusal that happened before any write (validation, role, not found, conflict). */
  async refused(ctx: RequestContext, entry: AuditEntry, err: AppError): Promise<void> {
    await recordFailure(this.knex, ctx, entry, err)
  }

  /** Records a non-change event (sign-in, sign-out, authentication) in one row. */
  async event(ctx: RequestContext, entry: AuditEntry): Promise<void> {
    await appendAudit(this.knex, ctx, entry)
  }
}

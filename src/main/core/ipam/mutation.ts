/**
 * The path every IPAM change takes, and the options a caller may give it. A change is authorized first (a
 * refused role is audited), then runs in one transaction {lock the pool row, change, audit row}; a refusal
 * inside it is audited as a failure in a statement of its own and rethrown as an AppError.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { AppError } from '../../../shared/errors'
import { recordFailure, type AuditEntry } from '../audit/writer'
import { requireRole, type RequestContext } from '../context'
import { toAppError } from '../db/errors'

/**
 * Extra work a caller needs in the change's own transaction (the offline replay records the edit's
 * idempotency key there, so the key and the change commit together or not at all). Called after the change
 * and its audit row, before commit, with the method's result; throwing rolls the whole change back.
 */
export type TransactionHook = (trx: Knex.Transaction, result: unknown) => Promise<void>

/** The offline replay's record of an edit (offline/replay.ts), for the one-statement next-free path. */
export interface ReplayRecord {
  /** The idempotency key; the statement raises NK002 (AppError CONFLICT, reason 'already-applied') if it is taken. */
  key: string
  operation: string
  actor: string
  queuedAt: string
}

/** The locked pool row, as a before-change check sees it (updatedAt in ISO-8601, as in PoolDto). */
export interface LockedPool {
  id: number
  name: string
  updatedAt: string
}

export interface MutationOptions {
  inTransaction?: TransactionHook
  /**
   * With inTransaction, lets next-free and explicit-address allocation keep their one-statement fast paths:
   * the statement records the key itself (ipam_allocate_next_keyed, ipam_allocate_at) and the hook is not
   * called; when the general path has to run instead, the hook is. Like every replayed change it commits without waiting for the WAL flush
   * (synchronous_commit off): the replayer confirms durability before it relies on the change.
   */
  replay?: ReplayRecord
  /**
   * Pool update and delete: called in the change's transaction with the pool row locked (FOR UPDATE),
   * before anything changes; throwing refuses the change (the offline replay's staleness check).
   */
  beforeChange?: (trx: Knex.Transaction, pool: LockedPool) => Promise<void>
}

/** Runs a change in one transaction; a refusal is audited as a failure and rethrown as an AppError. */
export async function mutate<T>(knex: Knex, ctx: RequestContext, failure: AuditEntry, fn: (trx: Knex.Transaction) => Promise<T>, hook?: TransactionHook): Promise<T> {
  try {
    return await knex.transaction(
      hook
        ? async (trx) => {
            const result = await fn(trx)
            await hook(trx, result)
            return result
          }
        : fn
    )
  } catch (e) {
    const err = toAppError(e)
    if (err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE') {
      await recordFailure(knex, ctx, failure, err)
    }
    throw err
  }
}

export async function authorize(knex: Knex, ctx: RequestContext, role: 'operator' | 'admin', what: string, entry: AuditEntry): Promise<void> {
  try {
    requireRole(ctx, role, what)
  } catch (e) {
    await recordFailure(knex, ctx, { ...entry, action: 'authorize' }, e as AppError)
    throw e
  }
}

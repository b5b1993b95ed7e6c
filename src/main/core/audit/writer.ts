/**
 * The one audit writer. Every service appends through it, inside the same transaction as the change it
 * records, so a change and its audit row commit together or not at all.
 *
 * The chain: each row carries a gapless sequence number, the previous row's hash and its own SHA-256 over
 * the canonical serialisation (canonical.ts). The head row (audit_chain_head) is locked for the append, so
 * appends are totally ordered; services append last in their transaction to keep that lock short.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { RequestContext } from '../context'
import { redact, rowHash, type ChainedFields } from './canonical'

export const AUDIT_ACTIONS = ['create', 'read', 'update', 'delete', 'login', 'logout', 'authenticate', 'authorize', 'error'] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

export interface AuditEntry {
  action: AuditAction
  resourceType: string
  resourceId?: string | number | null
  resourceName?: string | null
  status?: 'success' | 'failure' | 'warning'
  details?: {
    before?: unknown
    after?: unknown
    error?: unknown
    context?: Record<string, unknown>
  }
}

export interface AppendedAudit {
  id: string
  seq: string
  rowHash: string
}

const clip = (s: string | null | undefined, n: number): string | null => (s === null || s === undefined ? null : s.length > n ? s.slice(0, n) : s)

export async function appendAudit(trx: Knex.Transaction | Knex, ctx: RequestContext, entry: AuditEntry): Promise<AppendedAudit> {
  const head = await trx.raw<{ rows: { last_seq: string; last_hash: string }[] }>(
    `update audit_chain_head set last_seq = last_seq where id = 1 returning last_seq::text, last_hash`
  )
  const prev = head.rows[0]
  if (!prev) throw new Error('audit_chain_head is missing: the audit migration has not run')
  const seq = (BigInt(prev.last_seq) + 1n).toString()
  const details = redact({ ...(entry.details ?? {}) }) as Record<string, unknown>
  const fields: ChainedFields = {
    seq,
    createdAt: new Date().toISOString(),
    action: entry.action,
    resourceType: entry.resourceType,
    resourceId: entry.resourceId === undefined || entry.resourceId === null ? null : clip(String(entry.resourceId), 255),
    resourceName: clip(entry.resourceName ?? null, 255),
    userId: clip(ctx.actor, 255),
    userIp: ctx.ip ?? null,
    userAgent: clip(ctx.userAgent ?? null, 512),
    status: entry.status ?? 'success',
    details,
    requestId: clip(ctx.requestId, 64),
    source: ctx.source,
    prevHash: prev.last_hash
  }
  const hash = rowHash(fields)
  const res = await trx.raw<{ rows: { id: string }[] }>(
    `with ins as (
       insert into audit_logs (seq, created_at, action, resource_type, resource_id, resource_name, user_id, user_ip,
                               user_agent, status, details, request_id, source, prev_hash, row_hash)
       values (?::bigint, ?::timestamptz, ?, ?, ?, ?, ?, ?::inet, ?, ?, ?::jsonb, ?, ?, ?, ?)
       returning id
     ), head as (
       update audit_chain_head set last_seq = ?::bigint, last_hash = ? where id = 1
     )
     select id from ins`,
    [
      seq,
      fields.createdAt,
      fields.action,
      fields.resourceType,
      fields.resourceId,
      fields.resourceName,
      fields.userId,
      fields.userIp,
      fields.userAgent,
      fields.status,
      JSON.stringify(details),
      fields.requestId,
      fields.source,
      fields.prevHash,
      hash,
      seq,
      hash
    ]
  )
  return { id: res.rows[0]!.id, seq, rowHash: hash }
}

/**
 * Records a refused or failed change in its own transaction (the change's transaction was rolled back).
 * Never throws: losing the failure record must not hide the original error from the caller.
 */
export async function recordFailure(knex: Knex, ctx: RequestContext, entry: AuditEntry, error: { code?: string; message: string; details?: unknown }): Promise<void> {
  try {
    await knex.transaction(async (trx) => {
      await appendAudit(trx, ctx, {
        ...entry,
        status: 'failure',
        details: { ...entry.details, error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } }
      })
    })
  } catch (e) {
    console.error('[audit] could not record a failure:', (e as Error).message)
  }
}

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
  return (await appendAudits(trx, ctx, [entry]))[0]!
}

/**
 * Appends several rows in two round trips: lock the head, then insert every row and move the head in one
 * statement. The chain is computed here, row after row, from the head's hash.
 */
export async function appendAudits(trx: Knex.Transaction | Knex, ctx: RequestContext, entries: AuditEntry[]): Promise<AppendedAudit[]> {
  if (!entries.length) return []
  const head = await trx.raw<{ rows: { last_seq: string; last_hash: string }[] }>(
    `update audit_chain_head set last_seq = last_seq where id = 1 returning last_seq::text, last_hash`
  )
  const prev = head.rows[0]
  if (!prev) throw new Error('audit_chain_head is missing: the audit migration has not run')
  let seq = BigInt(prev.last_seq)
  let prevHash = prev.last_hash
  const createdAt = new Date().toISOString()
  const rows: (ChainedFields & { rowHash: string })[] = entries.map((entry) => {
    seq += 1n
    const fields: ChainedFields = {
      seq: seq.toString(),
      createdAt,
      action: entry.action,
      resourceType: entry.resourceType,
      resourceId: entry.resourceId === undefined || entry.resourceId === null ? null : clip(String(entry.resourceId), 255),
      resourceName: clip(entry.resourceName ?? null, 255),
      userId: clip(ctx.actor, 255),
      userIp: ctx.ip ?? null,
      userAgent: clip(ctx.userAgent ?? null, 512),
      status: entry.status ?? 'success',
      details: redact({ ...(entry.details ?? {}) }),
      requestId: clip(ctx.requestId, 64),
      source: ctx.source,
      prevHash
    }
    prevHash = rowHash(fields)
    return { ...fields, rowHash: prevHash }
  })
  const col = <K extends keyof (typeof rows)[number]>(k: K) => rows.map((r) => r[k])
  const res = await trx.raw<{ rows: { id: string; seq: string }[] }>(
    `with ins as (
       insert into audit_logs (seq, created_at, action, resource_type, resource_id, resource_name, user_id, user_ip,
                               user_agent, status, details, request_id, source, prev_hash, row_hash)
       select * from unnest(?::bigint[], ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::inet[],
                            ?::text[], ?::text[], ?::jsonb[], ?::text[], ?::text[], ?::text[], ?::text[])
       returning id, seq
     ), head as (
       update audit_chain_head set last_seq = ?::bigint, last_hash = ? where id = 1
     )
     select id, seq::text from ins order by seq`,
    [
      col('seq'),
      col('createdAt'),
      col('action'),
      col('resourceType'),
      col('resourceId'),
      col('resourceName'),
      col('userId'),
      col('userIp'),
      col('userAgent'),
      col('status'),
      rows.map((r) => JSON.stringify(r.details)),
      col('requestId'),
      col('source'),
      col('prevHash'),
      col('rowHash'),
      seq.toString(),
      prevHash
    ] as unknown as Knex.RawBinding[]
  )
  return res.rows.map((r, i) => ({ id: r.id, seq: r.seq, rowHash: rows[i]!.rowHash }))
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

/** The audit_logs row as the viewer reads it, its columns, and the DTO built from it. */
import type { z } from 'zod'
import { validationError } from '../../../shared/errors'
import type { AuditEntryDto } from '../../../shared/audit'
import { describeIssue } from '../../../shared/schemas'

export type Rows<T> = { rows: T[] }

export interface AuditRow {
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

export const COLUMNS = `id, seq::text as seq, created_at, action, resource_type, resource_id, resource_name, db_user, user_id, host(user_ip) as user_ip,
  user_agent, status, details, request_id, source, prev_hash, row_hash`

export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
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

/**
 * What every directory operation runs in: a bound connection (the signed-in person's own bind, or the
 * CLI's profile bind), the request context carrying that person's role, and the listings they have open.
 * The guard gives every operation the same shape: authorize -> validate -> (audited change) -> reply, with
 * refusals recorded in the audit log.
 */
import type { z } from 'zod'
import { AppError, validationError } from '../../../shared/errors'
import { controlChar } from '../../../shared/directory'
import { describeIssue } from '../../../shared/schemas'
import type { AuditEntry } from '../audit/writer'
import { requireRole, type RequestContext, type Role } from '../context'
import { wasRecorded, type DirectoryAudit } from './audited'
import type { LdapConnection } from './connection'
import type { CursorRegistry } from './cursors'
import { toDirectoryError } from './errors'

export interface DirectoryScope {
  conn: LdapConnection
  ctx: RequestContext
  cursors: CursorRegistry
}

export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {})
  if (!r.success) {
    const { field, reason } = describeIssue(r.error)
    throw validationError(field, reason)
  }
  return r.data
}

/** A name fit for the audit row's resource_name column: no control characters, clipped. */
export function auditName(v: unknown): string | null {
  if (typeof v !== 'string' || !v) return null
  let out = ''
  for (const ch of v) out += controlChar(ch) ? '\uFFFD' : ch
  return out.slice(0, 255)
}

export class Guard {
  constructor(private readonly audit: DirectoryAudit) {}

  async run<T>(scope: DirectoryScope, entry: AuditEntry, role: Role, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      requireRole(scope.ctx, role, what)
    } catch (e) {
      await this.audit.refused(scope.ctx, { ...entry, action: 'authorize', details: { ...entry.details, context: { ...entry.details?.context, attempted: entry.action } } }, e as AppError)
      throw e
    }
    try {
      return await fn()
    } catch (e) {
      const err = e instanceof AppError ? e : toDirectoryError(e, what)
      if (!wasRecorded(e) && !wasRecorded(err) && err.details?.kind !== 'audit-unavailable') await this.audit.refused(scope.ctx, entry, err)
      throw err
    }
  }
}

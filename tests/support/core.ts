/** Opens a migrated Core on a fresh database of the shared test server. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Core } from '../../src/main/core'
import { makeContext, type RequestContext, type Role } from '../../src/main/core/context'
import { freshDatabase } from './db'

/** Data folders made here, removed when the test process ends. */
const dataDirs: string[] = []
process.once('exit', () => {
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true })
})

/**
 * A data folder of its own for each core: what it writes there (the installation id its export signing key
 * is filed under, the default audit archive folder) stays out of the way.
 */
export async function openCore(prefix = 'core'): Promise<{ core: Core; url: string; dataDir: string }> {
  const url = await freshDatabase(prefix)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `netkeeper-${prefix}-`))
  dataDirs.push(dataDir)
  const core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
  return { core, url, dataDir }
}

export function ctxAs(role: Role, actor = `${role}-user`): RequestContext {
  return makeContext({ actor, roles: [role], source: 'ui' })
}

export interface AuditRow {
  seq: string
  action: string
  resource_type: string
  resource_id: string | null
  resource_name: string | null
  user_id: string | null
  status: string
  source: string
  request_id: string | null
  details: { before?: Record<string, unknown>; after?: Record<string, unknown>; error?: { code: string; message: string }; context?: Record<string, unknown> }
}

/** Audit rows after `afterSeq`, in chain order (by the bigint column, not the text alias: 10 after 9). */
export async function auditRows(core: Core, afterSeq = '0'): Promise<AuditRow[]> {
  const r = await core.db.knex.raw<{ rows: AuditRow[] }>(
    `select seq::text, action, resource_type, resource_id, resource_name, user_id, status, source, request_id, details
       from audit_logs where seq > ?::bigint order by audit_logs.seq`,
    [afterSeq]
  )
  return r.rows
}

/**
 * A CSV import writes one audit row per batch of allocations, each allocation in details.rows (its id, line
 * and before/after): this spreads such rows into one row per allocation, shaped as a per-object audit row
 * (resource id and name, details.before/after, context with the line), and leaves every other row as it is.
 */
export function perObject(rows: AuditRow[]): AuditRow[] {
  return rows.flatMap((r) => {
    const batch = (r.details as { rows?: { id: number; line: number; before?: Record<string, unknown>; after: Record<string, unknown> }[] }).rows
    if (!batch) return [r]
    return batch.map((x) => ({
      ...r,
      resource_id: String(x.id),
      resource_name: String(x.after.ip),
      details: { ...(x.before ? { before: x.before } : {}), after: x.after, context: { ...r.details.context, line: x.line } }
    }))
  })
}

export async function lastSeq(core: Core): Promise<string> {
  const r = await core.db.knex.raw<{ rows: { s: string }[] }>(`select coalesce(max(seq), 0)::text as s from audit_logs`)
  return r.rows[0]!.s
}

/**
 * Next-free allocation in one statement: ipam_allocate_next_keyed resolves and locks the pool, takes the
 * addresses, inserts and audits them (and records a replayed edit's key) inside the server, so the pool's
 * lock is held for no client round trip. allocations.ts tries this path first and falls back on the general
 * one when the pool has lapsed holds to reuse; the offline replay sends runs of such requests at once.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import type { AllocateInput, AllocationDto } from '../../../shared/ipam'
import { auditBody, recordFailure, type AuditEntry } from '../audit/writer'
import { canonicalBody } from '../audit/canonical'
import { hasRole, type RequestContext } from '../context'
import { toAppError } from '../db/errors'
import { prepareAllocation, type PreparedAllocation } from './allocation-input'
import type { ReplayRecord } from './mutation'
import { toAllocationDto, type Rows } from './rows'

/**
 * Placeholders for the row id and address in the audit body and details serialised before the rows exist
 * (see ipam_allocate_next). They hold a control character, which validated input can never contain.
 */
const ID_PLACEHOLDER = '\u0001netkeeper:id\u0001'
const IP_PLACEHOLDER = '\u0001netkeeper:ip\u0001'
const POOL_PLACEHOLDER = '\u0001netkeeper:pool\u0001'

type NextOut = { outcome: string; pool_id: number | null; pool_name: string | null; space_name?: string | null; id: number | null; ip: string | null; created_at: Date | null; updated_at: Date | null; version: number | null }

/** The casts of ipam_allocate_next_keyed's arguments, in order (shared by the bound and the literal form). */
const NEXT_CASTS = [
  '', '', '', '', '::macaddr', '', '', '', '', '', '', '::timestamptz', '',
  '::timestamptz', '', '::inet', '', '', '',
  '', '', '', '', '', '', '',
  '::uuid', '', '', '::timestamptz', ''
]

/** What a pg connection from knex's pool offers here (a multi-statement query resolves to one result per statement). */
interface PgConnection {
  query(text: string): Promise<{ rows: unknown[] } | { rows: unknown[] }[]>
}

/** A SQL literal for a run's multi-statement query (no bind parameters there): PostgreSQL's own escaping rules. */
function sqlLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`not an integer: ${v}`)
    return String(v)
  }
  const text = String(v)
  // As libpq's PQescapeLiteral: quotes doubled; with a backslash, the E'' form and backslashes doubled, so
  // the text reads the same whatever standard_conforming_strings says.
  const quoted = `'${text.replace(/'/g, "''").replace(/\\/g, '\\\\')}'`
  return text.includes('\\') ? `E${quoted}` : quoted
}

/**
 * One call of ipam_allocate_next_keyed: the audit body and details serialised once, with placeholders for the
 * row id, the address and the pool's name (the server fills in the name of the pool it locked, so nothing
 * reads the pool beforehand). A replayed edit commits without waiting for the WAL flush: set_config(..., true)
 * lasts until the end of the call's own transaction; the replayer confirms durability before relying on it.
 */
function nextCall(ctx: RequestContext, { v, until, fields }: PreparedAllocation, operation: string, replay: ReplayRecord | undefined, strict: boolean) {
  const ref = String(v.pool).trim()
  const byId = typeof v.pool === 'number' || /^\d+$/.test(ref)
  const want = v.count ?? 1
  const createdAt = new Date().toISOString()
  const snapshot = {
    pool: POOL_PLACEHOLDER,
    ip: IP_PLACEHOLDER,
    status: v.status,
    hostname: fields.hostname,
    mac: fields.mac,
    owner: fields.owner,
    purpose: fields.purpose,
    description: fields.description,
    dnsManaged: fields.dnsManaged,
    dhcpManaged: fields.dhcpManaged,
    reservedUntil: until ? until.toISOString() : null,
    allocatedBy: ctx.actor
  }
  const details = { after: snapshot, context: { operation, pool: POOL_PLACEHOLDER, mode: 'next' } }
  const body = auditBody(ctx, { action: 'create', resourceType: 'ip_allocation', resourceId: ID_PLACEHOLDER, resourceName: IP_PLACEHOLDER, details })
  const params = [
    byId ? Number(ref) : null,
    ref,
    want,
    fields.hostname,
    fields.mac,
    fields.owner,
    fields.purpose,
    fields.description,
    v.status,
    fields.dnsManaged,
    fields.dhcpManaged,
    until ? until.toISOString() : null,
    ctx.actor,
    createdAt,
    body.userId,
    body.userIp,
    body.userAgent,
    body.requestId,
    body.source,
    'create',
    'ip_allocation',
    canonicalBody(body),
    JSON.stringify(body.details),
    JSON.stringify(ID_PLACEHOLDER),
    JSON.stringify(IP_PLACEHOLDER),
    JSON.stringify(POOL_PLACEHOLDER),
    replay?.key ?? null,
    replay?.operation ?? null,
    replay?.actor ?? null,
    replay?.queuedAt ?? null,
    strict
  ]
  const asyncCommit = replay ? `set_config('synchronous_commit', 'off', true) as async_commit, ` : ''
  return { ref, want, params, sql: (args: string) =>
      `select ${asyncCommit}f.*, (select s.name from ip_pools p join ip_spaces s on s.id = p.space_id where p.id = f.pool_id) as space_name from ipam_allocate_next_keyed(${args}) f` }
}

function nextDtos(rows: NextOut[], ctx: RequestContext, { v, until, fields }: PreparedAllocation): AllocationDto[] {
  return rows.map((r) =>
    toAllocationDto({
      id: r.id!,
      pool_id: r.pool_id!,
      pool_name: r.pool_name!,
      space_name: r.space_name ?? '',
      ip: r.ip!,
      mac: fields.mac,
      hostname: fields.hostname,
      owner: fields.owner,
      purpose: fields.purpose,
      description: fields.description,
      status: v.status,
      dns_managed: fields.dnsManaged,
      dhcp_managed: fields.dhcpManaged,
      reserved_until: until,
      expired: false,
      created_at: r.created_at!,
      updated_at: r.updated_at!,
      allocated_by: ctx.actor,
      version: r.version!
    })
  )
}

/**
 * Next-free in one autocommit statement (ipam_allocate_next_keyed): the pool is resolved and locked, the
 * addresses taken, inserted and audited, and a replayed edit's key recorded, all inside the server, so the
 * pool's lock is held for no client round trip at all. Returns null when the general path must run
 * instead (lapsed holds to reuse).
 */
export async function allocateNextFast(
  knex: Knex,
  ctx: RequestContext,
  prepared: PreparedAllocation,
  operation: string,
  entry: AuditEntry,
  replay?: ReplayRecord
): Promise<AllocationDto[] | null> {
  const call = nextCall(ctx, prepared, operation, replay, false)
  try {
    const r = await knex.raw<Rows<NextOut>>(call.sql(NEXT_CASTS.map((c) => `?${c}`).join(', ')), call.params)
    const head = r.rows[0]
    if (!head || head.outcome === 'not_found') throw new AppError('NOT_FOUND', `pool: no pool named "${call.ref}"`, { field: 'pool' })
    if (head.outcome === 'inactive') throw new AppError('CONFLICT', `pool: "${head.pool_name}" is inactive; activate it before allocating from it`, { field: 'pool' })
    if (head.outcome === 'slow') return null
    return nextDtos(r.rows, ctx, prepared)
  } catch (e) {
    const pgErr = e as { code?: string; detail?: string }
    // Not a refusal: the edit is in already (another replayer), so nothing to audit.
    if (pgErr?.code === 'NK002') throw new AppError('CONFLICT', `offline edit ${replay?.key} was already applied`, { reason: 'already-applied' })
    let err: AppError
    if (pgErr?.code === 'NK001') {
      const free = Number(pgErr.detail ?? 0)
      err = new AppError(
        'CONFLICT',
        free === 0 ? `pool: "${call.ref}" has no free address` : `count: pool "${call.ref}" has only ${free} free address(es), ${call.want} asked`,
        { field: free === 0 ? 'pool' : 'count', free }
      )
    } else {
      err = toAppError(e)
    }
    if (err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE') await recordFailure(knex, ctx, entry, err)
    throw err
  }
}

/**
 * The offline replay's runs of queued next-free allocations: several in one round trip, in order, each in
 * its own transaction with its audit row and key (ipam_allocate_next_keyed, strict), committed without
 * waiting for the WAL flush like every replayed change. The run stops at the first item that cannot be
 * applied this way: an item that fails authorization or validation is not sent, nor any after it; in the
 * server, any outcome but success raises, which skips the rest of the run. Returns the results of the
 * items applied, in order: fewer than given when it stopped early. A server error is thrown as it came
 * (after rolling the failed item back): the items before the failing one are committed, and the caller
 * finds which by their keys. Items that stopped a run go through allocate() alone, which refuses, audits
 * or applies them as usual.
 */
export async function allocateNextRun(knex: Knex, items: { ctx: RequestContext; input: AllocateInput; replay: ReplayRecord }[]): Promise<AllocationDto[][]> {
  const calls: { prepared: PreparedAllocation; ctx: RequestContext; text: string }[] = []
  for (const it of items) {
    if (!hasRole(it.ctx, 'operator')) break
    let prepared: PreparedAllocation
    try {
      prepared = prepareAllocation(it.input)
    } catch {
      break
    }
    // An explicit address, or an owner from the directory (written by the general path), ends the run.
    if (prepared.v.ip || prepared.fields.ownerDn) break
    const raw = it.input as Partial<AllocateInput>
    const operation = raw.status === 'reserved' ? 'reserve' : raw.status === 'blocked' ? 'block' : 'allocate'
    const call = nextCall(it.ctx, prepared, operation, it.replay, true)
    // A run is one simple-protocol query (several statements, so no bind parameters): the values go in as
    // literals, each escaped by sqlLiteral.
    const args = call.params.map((v, i) => `${sqlLiteral(v)}${NEXT_CASTS[i]}`).join(', ')
    calls.push({ prepared, ctx: it.ctx, text: `begin; ${call.sql(args)}; commit;` })
  }
  if (!calls.length) return []
  // Our own connection: after an error inside one of the run's transactions the session is left in that
  // failed transaction, and only a rollback on this same connection ends it.
  const client = knex.client as { acquireConnection(): Promise<PgConnection>; releaseConnection(c: PgConnection): Promise<void> }
  const conn = await client.acquireConnection()
  try {
    const res = await conn.query(calls.map((c) => c.text).join('\n'))
    const all = Array.isArray(res) ? res : [res]
    // begin, select, commit per item.
    return calls.map((c, i) => nextDtos(all[3 * i + 1]!.rows as NextOut[], c.ctx, c.prepared))
  } catch (e) {
    await conn.query('rollback').catch(() => undefined)
    throw e
  } finally {
    await client.releaseConnection(conn)
  }
}

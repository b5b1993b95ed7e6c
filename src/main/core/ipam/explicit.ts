/**
 * An explicit address in one statement (ipam_allocate_at, Migration20270201100000_ipam_allocate_at): the pool
 * resolved and locked, the address checked against it, its dhcp range and its holder, taken from the free
 * space, inserted and audited (and a replayed edit's key recorded) inside the server, committed without
 * waiting for its own WAL flush and answered once a shared flush covers it (db/durable.ts), as next-free is.
 * allocations.ts tries this path first for `--ip`, and takes its general path when this one declines (an
 * address held by a lapsed reservation, which the general path reuses with the former holder as `before`).
 *
 * The server returns a refusal as an outcome with nothing changed; the wording of each refusal lives here and
 * the general path uses the same functions, so a person reads the same sentence whichever path ran.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import type { AllocationDto } from '../../../shared/ipam'
import { parseCidr, parseIp, unusableReason, type ParsedCidr, type ParsedIp } from '../../../shared/net'
import { auditBody, recordFailure, type AuditEntry } from '../audit/writer'
import { canonicalBody } from '../audit/canonical'
import type { RequestContext } from '../context'
import { awaitDurable } from '../db/durable'
import { lostFlushOutcome } from './next-free'
import { toAppError } from '../db/errors'
import type { PreparedAllocation } from './allocation-input'
import type { ReplayRecord } from './mutation'
import { ambiguousPool, toAllocationDto, type Rows } from './rows'

// ---------------------------------------------------------------- the refusals, worded once

export const inactivePool = (name: string): AppError =>
  new AppError('CONFLICT', `pool: "${name}" is inactive; activate it before allocating from it`, { field: 'pool' })

/** The address against its pool's network and gateway: the refusal, or null when it may be allocated. */
export function addressRefusal(pool: { name: string; gateway: string | null }, net: ParsedCidr, ip: ParsedIp): AppError | null {
  if (ip.family !== net.family) return validationError('ip', `${ip.text} is IPv${ip.family}; pool "${pool.name}" is ${net.text}`)
  const why = unusableReason(net, ip)
  if (why) return validationError('ip', why.includes('outside') ? `${why} (pool "${pool.name}")` : why)
  if (pool.gateway && parseIp(pool.gateway).value === ip.value) return validationError('ip', `${ip.text} is the gateway of pool "${pool.name}"`)
  return null
}

export interface SkipRange {
  first: string
  last: string
  purpose: string
  description: string | null
}

export const insideDhcpRange = (ip: ParsedIp, pool: string, skip: SkipRange): AppError =>
  new AppError(
    'CONFLICT',
    `ip: ${ip.text} is inside the dhcp range ${skip.first}-${skip.last}${skip.description ? ` (${skip.description})` : ''} of pool "${pool}"; force it (--force) to allocate there anyway`,
    { field: 'ip', range: skip }
  )

export interface Holder {
  hostname: string | null
  owner: string | null
  allocatedBy: string | null
  status: string
  pool: string
}

export function heldBy(ip: ParsedIp, h: Holder): AppError {
  const who = h.hostname ?? h.owner ?? h.allocatedBy ?? 'someone'
  return new AppError('CONFLICT', `ip: ${ip.text} is already ${h.status} to ${who} (pool "${h.pool}")`, {
    field: 'ip',
    holder: { hostname: h.hostname, owner: h.owner, allocatedBy: h.allocatedBy, status: h.status }
  })
}

export const inChildPool = (ip: ParsedIp, child: { name: string; network: string }): AppError =>
  new AppError('CONFLICT', `ip: ${ip.text} lies in child pool "${child.name}" (${child.network}); allocate it there`, { field: 'ip', pool: child.name })

export const notFree = (ip: ParsedIp, pool: string): AppError => new AppError('CONFLICT', `ip: ${ip.text} is not free in pool "${pool}"`, { field: 'ip' })

// ---------------------------------------------------------------- the one statement

/**
 * Placeholders for the row id, the address and the pool's name in the audit body and details serialised
 * before the row exists; control characters, which validated input never holds (as in next-free.ts).
 */
const ID_PLACEHOLDER = '\u0001netkeeper:id\u0001'
const IP_PLACEHOLDER = '\u0001netkeeper:ip\u0001'
const POOL_PLACEHOLDER = '\u0001netkeeper:pool\u0001'

/** The casts of ipam_allocate_at's arguments, in order. */
const CASTS = [
  '::int', '::text', '::inet', '::boolean',
  '::text', '::macaddr', '::text', '::text', '::text', '::text', '::text', '::boolean', '::boolean', '::timestamptz', '::text',
  '::text', '::inet', '::text', '::text', '::text',
  '::text', '::text', '::text', '::text', '::text',
  '::uuid', '::text', '::text', '::timestamptz'
]

const SQL = `select set_config('synchronous_commit', 'off', true) as async_commit, f.* from ipam_allocate_at(${CASTS.map((c) => `?${c}`).join(', ')}) f`

type AtOut = {
  outcome: string
  pool_id: number | null
  pool_name: string | null
  space_name: string | null
  network: string | null
  gateway: string | null
  detail: unknown
  id: number | null
  ip: string | null
  created_at: Date | null
  updated_at: Date | null
  version: number | null
}

/**
 * Allocates, reserves or blocks one explicit address in one autocommit statement. Returns null when the
 * general path must run instead: an address text this path does not send (the general path words that
 * refusal after the pool's), or an address held by a lapsed reservation.
 */
export async function allocateAtFast(
  knex: Knex,
  ctx: RequestContext,
  { v, until, fields }: PreparedAllocation,
  operation: string,
  entry: AuditEntry,
  replay?: ReplayRecord
): Promise<AllocationDto[] | null> {
  let ip: ParsedIp
  try {
    ip = parseIp(v.ip!, 'ip')
  } catch {
    return null
  }
  const ref = String(v.pool).trim()
  const byId = typeof v.pool === 'number' || /^\d+$/.test(ref)
  // The audit row as the general path writes it for a new row (allocations.ts allocSnapshot: no tags, no
  // custom field values on a row just inserted).
  const after = {
    pool: POOL_PLACEHOLDER,
    ip: IP_PLACEHOLDER,
    status: v.status,
    hostname: fields.hostname,
    mac: fields.mac,
    owner: fields.owner,
    ...(fields.ownerDn ? { ownerDn: fields.ownerDn } : {}),
    purpose: fields.purpose,
    description: fields.description,
    dnsManaged: fields.dnsManaged,
    dhcpManaged: fields.dhcpManaged,
    reservedUntil: until ? until.toISOString() : null,
    allocatedBy: ctx.actor
  }
  const body = auditBody(ctx, {
    action: 'create',
    resourceType: 'ip_allocation',
    resourceId: ID_PLACEHOLDER,
    resourceName: IP_PLACEHOLDER,
    details: { after, context: { operation, pool: POOL_PLACEHOLDER, mode: 'explicit' } }
  })
  const params = [
    byId ? Number(ref) : null,
    ref,
    ip.text,
    v.force ?? false,
    fields.hostname,
    fields.mac,
    fields.owner,
    fields.ownerDn,
    fields.purpose,
    fields.description,
    v.status,
    fields.dnsManaged,
    fields.dhcpManaged,
    until ? until.toISOString() : null,
    ctx.actor,
    body.userId,
    body.userIp,
    body.userAgent,
    body.requestId,
    body.source,
    canonicalBody(body),
    JSON.stringify(body.details),
    JSON.stringify(ID_PLACEHOLDER),
    JSON.stringify(IP_PLACEHOLDER),
    JSON.stringify(POOL_PLACEHOLDER),
    replay?.key ?? null,
    replay?.operation ?? null,
    replay?.actor ?? null,
    replay?.queuedAt ?? null
  ]
  let row: AtOut
  try {
    const r = await knex.raw<Rows<AtOut>>(SQL, params)
    row = r.rows[0]!
  } catch (e) {
    const pgErr = e as { code?: string }
    // Not a refusal: the edit is in already (another replayer), so nothing to audit.
    if (pgErr?.code === 'NK002') throw new AppError('CONFLICT', `offline edit ${replay?.key} was already applied`, { reason: 'already-applied' })
    const err = toAppError(e)
    if (err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE') await recordFailure(knex, ctx, entry, err)
    throw err
  }
  if (row.outcome === 'slow') return null
  if (row.outcome !== 'ok') {
    const err = refusal(row, ref, ip)
    if (err.code !== 'INTERNAL') await recordFailure(knex, ctx, entry, err)
    throw err
  }
  // Answered only once the commit is durable (db/durable.ts); a replayed edit is confirmed by its replayer.
  if (!replay) {
    try {
      await awaitDurable(knex)
    } catch (e) {
      // Seen again after a flush on the server now answering: made; gone: lost (thrown); no answer: unknown.
      if (!(await lostFlushOutcome(knex, [row.id!], row.ip!))) {
        throw new AppError(
          'UNAVAILABLE',
          `database: ${row.ip} in pool "${row.pool_name}" committed, but the server did not confirm it on disk (${toAppError(e).message}); look it up once the server answers (a server crash before the flush may have lost it)`,
          { ips: [row.ip] }
        )
      }
    }
  }
  return [
    toAllocationDto({
      id: row.id!,
      pool_id: row.pool_id!,
      pool_name: row.pool_name!,
      space_name: row.space_name ?? '',
      ip: row.ip!,
      mac: fields.mac,
      hostname: fields.hostname,
      owner: fields.owner,
      owner_dn: fields.ownerDn,
      purpose: fields.purpose,
      description: fields.description,
      status: v.status,
      dns_managed: fields.dnsManaged,
      dhcp_managed: fields.dhcpManaged,
      reserved_until: until,
      expired: false,
      created_at: row.created_at!,
      updated_at: row.updated_at!,
      allocated_by: ctx.actor,
      version: row.version!,
      tags: [],
      custom_fields: {}
    })
  ]
}

/** The server's outcome as the general path words it. */
function refusal(row: AtOut, ref: string, ip: ParsedIp): AppError {
  const pool = row.pool_name ?? ref
  switch (row.outcome) {
    case 'not_found':
      return new AppError('NOT_FOUND', `pool: no pool named "${ref}"`, { field: 'pool' })
    case 'ambiguous':
      return ambiguousPool(ref, row.detail as { id: number; space: string }[])
    case 'inactive':
      return inactivePool(pool)
    case 'family':
    case 'unusable':
    case 'gateway':
      return addressRefusal({ name: pool, gateway: row.gateway }, parseCidr(row.network!), ip) ?? notFree(ip, pool)
    case 'dhcp_range':
      return insideDhcpRange(ip, pool, row.detail as SkipRange)
    case 'held':
      return heldBy(ip, row.detail as Holder)
    case 'child':
      return inChildPool(ip, row.detail as { name: string; network: string })
    case 'not_free':
      return notFree(ip, pool)
    default:
      return new AppError('INTERNAL', `ipam_allocate_at answered "${row.outcome}"`)
  }
}

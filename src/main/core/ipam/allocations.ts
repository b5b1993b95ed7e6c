/**
 * IPAM allocations: allocate, reserve or block an explicit address, the next free one or the next N; change
 * one; release one; list a pool's. A next-free request goes to its one-statement path (next-free.ts) first, an
 * explicit address to its own (explicit.ts); the general path here, which they fall back on (a lapsed hold to
 * reuse, a caller's transaction hook), runs one transaction that holds the pool's row lock, keeps its free
 * ranges in step (free-ranges.ts) and appends the audit rows last.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import { allocationUpdateSchema, type SpaceRef, type AllocateInput, type AllocationDto, type AllocationUpdateInput, type Page, type PoolRef } from '../../../shared/ipam'
import { bigIntToIp, normalizeHostname, normalizeMac, parseCidr, parseIp, usableRange, type ParsedCidr } from '../../../shared/net'
import { appendAudit, appendAudits, recordFailure, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { toAppError } from '../db/errors'
import { parseUntil, prepareAllocation, type PreparedAllocation } from './allocation-input'
import { giveAddress, rangeHolding, takeAddress } from './free-ranges'
import { authorize, mutate, type MutationOptions } from './mutation'
import { addressRefusal, allocateAtFast, heldBy, inChildPool, inactivePool, insideDhcpRange, notFree } from './explicit'
import { allocateNextFast } from './next-free'
import { applyAllocationTags, fieldFilter, fieldSortKey, mergeFieldValues, tagIds } from './tags'
import { ALLOC_COLUMNS, ALLOC_FIELDS, allocationByIp, changedKeys, findPoolRow, findSpaceId, iso, parse, toAllocationDto, type AllocRow, type Rows } from './rows'

/** The dhcp or reserved range of a pool holding `ip` (those next-free skips), if any. */
export async function skipRangeAt(
  trx: Knex | Knex.Transaction,
  poolId: number,
  ip: string
): Promise<{ first: string; last: string; purpose: string; description: string | null } | undefined> {
  const r = await trx.raw<Rows<{ first: string; last: string; purpose: string; description: string | null }>>(
    `select host(first_ip) as first, host(last_ip) as last, purpose, description from ip_ranges
      where pool_id = ? and first_ip <= ?::inet and last_ip >= ?::inet and purpose in ('dhcp', 'reserved') limit 1`,
    [poolId, ip, ip]
  )
  return r.rows[0]
}

/** The child pool of `poolId` that covers `ip`, if any. */
export async function childCovering(trx: Knex | Knex.Transaction, poolId: number, ip: string): Promise<{ name: string; network: string } | undefined> {
  const r = await trx.raw<Rows<{ name: string; network: string }>>(
    `select name, network::text as network from ip_pools where parent_id = ? and network >>= ?::inet limit 1`,
    [poolId, ip]
  )
  return r.rows[0]
}

/** The audit snapshot of an allocation: the fields a person cares about, no bookkeeping. */
export function allocSnapshot(a: AllocationDto, full = false): Record<string, unknown> {
  // Tags and custom fields: always when comparing (full), else only when the allocation has some.
  const extra: Record<string, unknown> = {}
  if (full || a.tags?.length) extra.tags = a.tags ?? []
  if (full || Object.keys(a.customFields ?? {}).length) extra.customFields = a.customFields ?? {}
  return {
    pool: a.poolName,
    ip: a.ip,
    status: a.status,
    hostname: a.hostname,
    mac: a.mac,
    owner: a.owner,
    ...(a.ownerDn ? { ownerDn: a.ownerDn } : {}),
    purpose: a.purpose,
    description: a.description,
    dnsManaged: a.dnsManaged,
    dhcpManaged: a.dhcpManaged,
    reservedUntil: a.reservedUntil,
    allocatedBy: a.allocatedBy,
    ...extra
  }
}

/**
 * Allocates, reserves or blocks an explicit address, the next free one, or the next N. Returns the
 * rows written, lowest address first.
 */
export async function allocate(knex: Knex, ctx: RequestContext, input: AllocateInput, opts: MutationOptions = {}): Promise<AllocationDto[]> {
  const raw = (input ?? {}) as Partial<AllocateInput>
  const operation = raw.status === 'reserved' ? 'reserve' : raw.status === 'blocked' ? 'block' : 'allocate'
  const entry: AuditEntry = {
    action: 'create',
    resourceType: 'ip_allocation',
    resourceName: raw.ip ?? null,
    details: { after: { ...raw }, context: { operation, pool: raw.pool } }
  }
  await authorize(knex, ctx, 'operator', `${operation === 'allocate' ? 'allocating' : operation === 'reserve' ? 'reserving' : 'blocking'} an address`, entry)
  let prepared: PreparedAllocation
  try {
    prepared = prepareAllocation(input)
  } catch (e) {
    const err = toAppError(e)
    await recordFailure(knex, ctx, entry, err)
    throw err
  }
  // The fast path is one autocommit statement: a caller's transaction hook needs the general path, unless
  // the hook's work is the replay's key record, which the statement does itself.
  // An owner from the directory (ownerDn) is written by the general path, which sets it with the row.
  if (!prepared.v.ip && !prepared.fields.ownerDn && (!opts.inTransaction || opts.replay)) {
    const fast = await allocateNextFast(knex, ctx, prepared, operation, entry, opts.replay)
    if (fast) return fast
  }
  // An explicit address likewise (its statement writes the owner's DN too).
  if (prepared.v.ip && (!opts.inTransaction || opts.replay)) {
    const fast = await allocateAtFast(knex, ctx, prepared, operation, entry, opts.replay)
    if (fast) return fast
  }
  return mutate(knex, ctx, entry, async (trx) => {
    const { v, until, fields } = prepared
    type Pick = { ip: bigint; reuse: boolean; id?: number }
    const picks: Pick[] = []
    let pool: { id: number; name: string; network: string; gateway: string | null; space_id?: number }
    let net: ParsedCidr
    const inactive = inactivePool
    if (v.ip) {
      // The same rules, in the same order, as ipam_allocate_at (explicit.ts words the refusals for both).
      const row = await findPoolRow(trx, v.pool, true)
      if (!row.is_active) throw inactive(row.name)
      pool = row
      net = parseCidr(row.network)
      const ip = parseIp(v.ip, 'ip')
      const bad = addressRefusal(pool, net, ip)
      if (bad) throw bad
      const spaceId = row.space_id
      // A dhcp range belongs to the DHCP server: an address in it only when forced, naming the range.
      const skip = await skipRangeAt(trx, pool.id, ip.text)
      if (skip && skip.purpose === 'dhcp' && !v.force) throw insideDhcpRange(ip, pool.name, skip)
      const range = await rangeHolding(trx, pool.id, ip.text)
      if (range) {
        await takeAddress(trx, pool.id, net.family, range, ip.value)
        const existing = await allocationByIp(trx, ip.text, true, spaceId)
        picks.push({ ip: ip.value, reuse: !!existing })
      } else {
        const holder = await allocationByIp(trx, ip.text, true, spaceId)
        if (holder && holder.expired) {
          picks.push({ ip: ip.value, reuse: true })
        } else if (holder) {
          throw heldBy(ip, { hostname: holder.hostname, owner: holder.owner, allocatedBy: holder.allocated_by, status: holder.status, pool: holder.pool_name })
        } else if (skip) {
          // Inside a range next-free skips (dhcp when forced, reserved): free, only not in the free-space cache.
          picks.push({ ip: ip.value, reuse: false })
        } else {
          const child = await childCovering(trx, pool.id, ip.text)
          if (child) throw inChildPool(ip, child)
          throw notFree(ip, pool.name)
        }
      }
    } else {
      // The hot path: lock, find and take in one call (see the ipam_next function).
      const want = v.count ?? 1
      const byId = typeof v.pool === 'number' || /^\d+$/.test(String(v.pool))
      type NextRow = { pool_id: number; pool_name: string; network: string; gateway: string | null; is_active: boolean; ip: string | null; reuse: boolean | null; new_id: number | null }
      const next = (id: number | null, name: string) =>
        trx.raw<Rows<NextRow>>(`select pool_id, pool_name, network, gateway, is_active, host(ip) as ip, reuse, new_id from ipam_next(?, ?, ?)`, [id, name, want])
      const ref = String(v.pool).trim()
      let taken = await next(byId ? Number(ref) : null, ref)
      // A pool may be named with digits only.
      if (!taken.rows[0] && byId) taken = await next(null, ref)
      const first = taken.rows[0]
      if (!first) throw new AppError('NOT_FOUND', `pool: no pool named "${ref}"`, { field: 'pool' })
      if (!first.is_active) throw inactive(first.pool_name)
      pool = { id: first.pool_id, name: first.pool_name, network: first.network, gateway: first.gateway }
      net = parseCidr(pool.network)
      picks.push(...taken.rows.filter((r) => r.ip !== null).map((r) => ({ ip: parseIp(r.ip!).value, reuse: !!r.reuse, id: r.new_id ?? undefined })))
      if (picks.length < want) {
        throw new AppError(
          'CONFLICT',
          picks.length === 0 ? `pool: "${pool.name}" (${net.text}) has no free address` : `count: pool "${pool.name}" has only ${picks.length} free address(es), ${want} asked`,
          { field: picks.length === 0 ? 'pool' : 'count', free: picks.length }
        )
      }
    }

    const fresh = picks.filter((p) => !p.reuse).map((p) => bigIntToIp(p.ip, net.family))
    const reused = picks.filter((p) => p.reuse).map((p) => bigIntToIp(p.ip, net.family))
    const params = [fields.hostname, fields.mac, fields.owner, fields.purpose, fields.description, v.status, fields.dnsManaged, fields.dhcpManaged, until, ctx.actor]
    const before = new Map<string, AllocationDto>()
    const written: AllocRow[] = []
    if (reused.length) {
      const prev = await trx.raw<Rows<AllocRow>>(
        `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where a.ip_address = any(?::inet[]) and a.pool_id = ?`,
        [reused, pool.id]
      )
      for (const r of prev.rows) before.set(r.ip, toAllocationDto(r))
      const upd = await trx.raw<Rows<AllocRow>>(
        `update ip_allocations as a set hostname = ?, mac_address = ?::macaddr, owner = ?, purpose = ?, description = ?, status = ?,
                dns_managed = ?, dhcp_managed = ?, reserved_until = ?, allocated_by = ?, version = version + 1, updated_at = now(),
                pool_id = ?
          where ip_address = any(?::inet[]) and space_id = (select space_id from ip_pools where id = ?) returning ${ALLOC_FIELDS}`,
        [...params, pool.id, reused, pool.id]
      )
      written.push(...upd.rows)
    }
    if (fresh.length) {
      // ipam_next drew ids for next-free rows; explicit rows take the sequence's next value.
      const freshPicks = picks.filter((p) => !p.reuse)
      const ins = await trx.raw<Rows<AllocRow>>(
        `insert into ip_allocations as a (id, pool_id, ip_address, hostname, mac_address, owner, purpose, description, status, dns_managed, dhcp_managed, reserved_until, allocated_by)
         select coalesce(u.i, nextval('ip_allocations_id_seq')), ?, u.x, ?, ?::macaddr, ?, ?, ?, ?, ?, ?, ?::timestamptz, ?
           from unnest(?::int[], ?::inet[]) as u(i, x) returning ${ALLOC_FIELDS}`,
        [pool.id, ...params, freshPicks.map((p) => p.id ?? null), fresh] as unknown as Knex.RawBinding[]
      )
      written.push(...ins.rows)
    }
    // The owner's DN (or none: a reused lapsed hold must not keep its former owner's).
    if (written.length && (fields.ownerDn || written.some((r) => r.owner_dn))) {
      await trx.raw(`update ip_allocations set owner_dn = ? where id = any(?::int[])`, [fields.ownerDn, written.map((r) => r.id)] as unknown as Knex.RawBinding[])
      for (const r of written) r.owner_dn = fields.ownerDn
    }
    const results = written
      .map((r) => toAllocationDto({ ...r, pool_name: pool.name }))
      .sort((x, y) => {
        const a1 = parseIp(x.ip).value
        const b1 = parseIp(y.ip).value
        return a1 < b1 ? -1 : a1 > b1 ? 1 : 0
      })
    await appendAudits(
      trx,
      ctx,
      results.map((dto) => {
        const prev = before.get(dto.ip)
        return {
          action: 'create',
          resourceType: 'ip_allocation',
          resourceId: dto.id,
          resourceName: dto.ip,
          details: {
            ...(prev ? { before: allocSnapshot(prev) } : {}),
            after: allocSnapshot(dto),
            context: { operation, pool: pool.name, mode: v.ip ? 'explicit' : 'next', ...(prev ? { reusedLapsedHold: prev.expired } : {}) }
          }
        }
      })
    )
    return results
  }, opts.inTransaction)
}

export async function getAllocation(knex: Knex, ip: string, space?: SpaceRef): Promise<AllocationDto> {
  const p = parseIp(ip, 'ip')
  const row = await allocationByIp(knex, p.text, false, space !== undefined ? await findSpaceId(knex, space) : null)
  if (!row) throw new AppError('NOT_FOUND', `ip: ${p.text} is not allocated`, { field: 'ip' })
  return toAllocationDto(row)
}

export async function updateAllocation(knex: Knex, ctx: RequestContext, input: AllocationUpdateInput, opts: MutationOptions = {}): Promise<AllocationDto> {
  const raw = (input ?? {}) as Partial<AllocationUpdateInput>
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_allocation', resourceName: raw.ip ?? null, details: { after: { ...raw } } }
  await authorize(knex, ctx, 'operator', 'changing an allocation', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(allocationUpdateSchema, input)
    const ip = parseIp(v.ip, 'ip')
    const spaceId = v.space !== undefined ? await findSpaceId(trx, v.space) : null
    const current = await allocationByIp(trx, ip.text, false, spaceId)
    if (!current) throw new AppError('NOT_FOUND', `ip: ${ip.text} is not allocated`, { field: 'ip' })
    const locked = await findPoolRow(trx, current.pool_id, true)
    const row = (await allocationByIp(trx, ip.text, true, locked.space_id))!
    entry.resourceId = row.id
    if (v.version !== undefined && v.version !== row.version) {
      throw new AppError('CONFLICT', `version: ${ip.text} was changed by someone else (you have version ${v.version}, it is now ${row.version}); reload and try again`, {
        field: 'version',
        current: toAllocationDto(row)
      })
    }
    if (v.status === 'available') throw validationError('status', 'use release to free an address')
    const status = v.status ?? row.status
    let until = v.until !== undefined ? parseUntil(v.until) : row.reserved_until
    if (status !== 'reserved') {
      if (v.until) throw validationError('until', 'only reservations can expire')
      until = null
    }
    const before = toAllocationDto(row)
    const next = {
      hostname: v.hostname !== undefined ? (v.hostname ? normalizeHostname(v.hostname) : null) : row.hostname,
      mac: v.mac !== undefined ? (v.mac ? normalizeMac(v.mac) : null) : row.mac,
      owner: v.owner !== undefined ? v.owner || null : row.owner,
      ownerDn: v.ownerDn !== undefined ? v.ownerDn || null : (row.owner_dn ?? null),
      purpose: v.purpose !== undefined ? v.purpose || null : row.purpose,
      description: v.description !== undefined ? v.description || null : row.description,
      dnsManaged: v.dnsManaged ?? row.dns_managed,
      dhcpManaged: v.dhcpManaged ?? row.dhcp_managed
    }
    if (next.dhcpManaged && !next.mac) throw validationError('mac', 'is required when DHCP is on (the host reservation is keyed by the hardware address)')
    const fields = v.customFields !== undefined ? await mergeFieldValues(trx, 'allocation', before.customFields ?? {}, v.customFields) : (before.customFields ?? {})
    const tagMap = v.tags !== undefined ? await tagIds(trx, v.tags) : null
    const probe = { ...allocSnapshot(before, true), ...next, status, reservedUntil: iso(until), tags: tagMap ? [...tagMap.keys()].sort() : before.tags, customFields: fields }
    const changed = changedKeys(allocSnapshot(before, true), probe)
    if (!changed.length) return before
    const upd = await trx.raw<Rows<{ id: number }>>(
      `update ip_allocations set hostname = ?, mac_address = ?::macaddr, owner = ?, owner_dn = ?, purpose = ?, description = ?, status = ?,
              dns_managed = ?, dhcp_managed = ?, reserved_until = ?, custom_fields = ?::jsonb, version = version + 1, updated_at = now()
        where id = ? and version = ? returning id`,
      [next.hostname, next.mac, next.owner, next.ownerDn, next.purpose, next.description, status, next.dnsManaged, next.dhcpManaged, until, JSON.stringify(fields), row.id, row.version]
    )
    if (!upd.rows[0]) throw new AppError('CONFLICT', `version: ${ip.text} changed while being updated; reload and try again`, { field: 'version' })
    if (tagMap) await applyAllocationTags(trx, row.id, { set: [...tagMap.values()] })
    const after = toAllocationDto((await allocationByIp(trx, ip.text, false, locked.space_id))!)
    const pick = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(changed.map((k) => [k, o[k] ?? null]))
    await appendAudit(trx, ctx, {
      action: 'update',
      resourceType: 'ip_allocation',
      resourceId: row.id,
      resourceName: ip.text,
      details: { before: pick(allocSnapshot(before, true)), after: pick(allocSnapshot(after, true)), context: { changed, pool: row.pool_name, version: after.version } }
    })
    return after
  }, opts.inTransaction)
}

/** Frees an address. The audit row keeps who held it. */
export async function release(knex: Knex, ctx: RequestContext, ipText: string, opts: { version?: number; space?: SpaceRef } & MutationOptions = {}): Promise<AllocationDto> {
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_allocation', resourceName: String(ipText ?? ''), details: { context: { operation: 'release' } } }
  await authorize(knex, ctx, 'operator', 'releasing an address', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const ip = parseIp(ipText, 'ip')
    const current = await allocationByIp(trx, ip.text, false, opts.space !== undefined ? await findSpaceId(trx, opts.space) : null)
    if (!current) throw new AppError('NOT_FOUND', `ip: ${ip.text} is not allocated`, { field: 'ip' })
    const pool = await findPoolRow(trx, current.pool_id, true)
    const row = (await allocationByIp(trx, ip.text, true, pool.space_id))!
    entry.resourceId = row.id
    if (opts.version !== undefined && opts.version !== row.version) {
      throw new AppError('CONFLICT', `version: ${ip.text} was changed by someone else (you have version ${opts.version}, it is now ${row.version})`, { field: 'version' })
    }
    await trx.raw(`delete from ip_allocations where id = ?`, [row.id])
    const net = parseCidr(pool.network)
    // An address of a dhcp or reserved range goes back to the range, not to next-free's free space.
    if (!(await skipRangeAt(trx, pool.id, ip.text))) await giveAddress(trx, pool.id, net.family, ip.value, usableRange(net))
    const before = toAllocationDto(row)
    await appendAudit(trx, ctx, {
      action: 'delete',
      resourceType: 'ip_allocation',
      resourceId: row.id,
      resourceName: ip.text,
      details: { before: allocSnapshot(before), context: { operation: 'release', pool: pool.name } }
    })
    return before
  }, opts.inTransaction)
}

export const ALLOCATION_SORTS = ['ip', 'hostname', 'owner', 'status', 'updated'] as const

export interface AllocationListOptions {
  page?: number
  pageSize?: number
  /** Column to sort by (address by default); ties and the rest go by address. */
  sort?: (typeof ALLOCATION_SORTS)[number]
  order?: 'asc' | 'desc'
  /** Only this status; 'lapsed' is a reservation whose hold has run out. */
  status?: 'allocated' | 'reserved' | 'blocked' | 'lapsed'
  /** Case-insensitive text in host name, owner, purpose, description or MAC, or an address prefix. */
  search?: string
  /** Only allocations whose custom fields hold these values (name -> value as text, converted to the field's type). */
  fields?: Record<string, string>
  /** Order by this custom field's value instead of `sort` (rows without a value last; ties by address). */
  sortField?: string
}

/** A pool's allocations, a page at a time: lowest address first unless sorted otherwise, optionally filtered. */
export async function listAllocations(knex: Knex, ref: PoolRef, opts: AllocationListOptions = {}): Promise<Page<AllocationDto>> {
  const pool = await findPoolRow(knex, ref, false, false)
  const page = Math.max(1, opts.page ?? 1)
  const pageSize = Math.min(65536, Math.max(1, opts.pageSize ?? 1000))
  const where = ['a.pool_id = ?']
  const b: Knex.RawBinding[] = [pool.id]
  if (opts.status === 'lapsed') where.push(`a.status = 'reserved' and a.reserved_until is not null and a.reserved_until <= now()`)
  else if (opts.status === 'reserved') where.push(`a.status = 'reserved' and (a.reserved_until is null or a.reserved_until > now())`)
  else if (opts.status) {
    where.push('a.status = ?')
    b.push(opts.status)
  }
  const q = opts.search?.trim()
  if (q) {
    const like = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
    where.push(`(lower(coalesce(a.hostname, '')) like ? or lower(coalesce(a.owner, '')) like ? or lower(coalesce(a.purpose, '')) like ?
                 or lower(coalesce(a.description, '')) like ? or coalesce(a.mac_address::text, '') like ? or host(a.ip_address) like ?)`)
    b.push(like, like, like, like, like, `${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
  }
  if (opts.fields && Object.keys(opts.fields).length) {
    // Checked inside the pool's rows (the pool_id index), as a jsonb containment of the typed values.
    where.push('a.custom_fields @> ?::jsonb')
    b.push(JSON.stringify(await fieldFilter(knex, 'allocation', opts.fields)))
  }
  const dir = opts.order === 'desc' ? 'desc' : 'asc'
  const byField = opts.sortField ? await fieldSortKey(knex, 'allocation', opts.sortField) : null
  const order = {
    ip: `a.ip_address ${dir}`,
    hostname: `a.hostname ${dir} nulls last, a.ip_address`,
    owner: `a.owner ${dir} nulls last, a.ip_address`,
    status: `a.status ${dir}, a.ip_address`,
    updated: `a.updated_at ${dir}, a.ip_address`
  }[opts.sort ?? 'ip']
  const w = where.join(' and ')
  const total = await knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_allocations a where ${w}`, b)
  const r = await knex.raw<Rows<AllocRow>>(
    `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where ${w}
      order by ${byField ? `a.custom_fields -> ? ${dir} nulls last, a.ip_address` : order} limit ? offset ?`,
    [...b, ...(byField ? [byField] : []), pageSize, (page - 1) * pageSize]
  )
  return { items: r.rows.map(toAllocationDto), page, pageSize, total: total.rows[0]!.n }
}

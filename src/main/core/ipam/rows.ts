/**
 * The rows IPAM reads from ip_pools and ip_allocations, the columns it selects for them, the DTOs built from
 * them, and the look-ups every part of IPAM shares (a pool by id or name, an allocation by address).
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { z } from 'zod'
import { AppError, validationError } from '../../../shared/errors'
import type { AllocationDto, PoolRef } from '../../../shared/ipam'
import type { FieldValue } from '../../../shared/ipam-objects'
import { describeIssue } from '../../../shared/schemas'
import { parseIp } from '../../../shared/net'

export type Rows<T> = { rows: T[] }

export interface PoolRow {
  id: number
  name: string
  description: string | null
  network: string
  gateway: string | null
  dns_servers: string[] | null
  vlan_id: number | null
  site: string | null
  environment: string | null
  is_active: boolean
  created_at: Date
  updated_at: Date
  created_by: string | null
  space_id: number
  space_name: string
  parent_id: number | null
  parent_name: string | null
  /**
   * 1 when the pool has children, else 0 (one index probe, whatever their number); the DTO carries the
   * number, counted with the roll-up (toPoolDtos), which reads the children anyway.
   */
  children: number
  site_ref_id: number | null
  vlan_ref_id: number | null
  custom_fields: Record<string, FieldValue> | null
}

export interface AllocRow {
  id: number
  pool_id: number
  pool_name: string
  space_name: string
  ip: string
  mac: string | null
  hostname: string | null
  owner: string | null
  owner_dn?: string | null
  purpose: string | null
  description: string | null
  status: AllocationDto['status']
  dns_managed: boolean
  dhcp_managed: boolean
  reserved_until: Date | null
  expired: boolean
  created_at: Date
  updated_at: Date
  allocated_by: string | null
  version: number
  tags?: string[] | null
  custom_fields?: Record<string, FieldValue> | null
}

export const POOL_COLUMNS = `p.id, p.name, p.description, p.network::text as network, host(p.gateway) as gateway, p.vlan_id, p.site,
  p.environment, p.is_active, p.created_at, p.updated_at, p.created_by,
  array(select host(d.ip) from unnest(p.dns_servers) with ordinality as d(ip, n) order by d.n) as dns_servers,
  p.space_id, (select s.name from ip_spaces s where s.id = p.space_id) as space_name, p.parent_id,
  (select pp.name from ip_pools pp where pp.id = p.parent_id) as parent_name,
  exists(select 1 from ip_pools c where c.parent_id = p.id)::int as children,
  p.site_ref_id, p.vlan_ref_id, p.custom_fields`

const CHILD_COUNT = 'exists(select 1 from ip_pools c where c.parent_id = p.id)::int as children'

/**
 * POOL_COLUMNS for a row just inserted, which has no children yet: not even the one index probe of `children`.
 */
export const NEW_POOL_COLUMNS = POOL_COLUMNS.replace(CHILD_COUNT, '0 as children')

export const ALLOC_FIELDS = `a.id, a.pool_id, host(a.ip_address) as ip, a.mac_address::text as mac, a.hostname, a.owner, a.owner_dn,
  a.purpose, a.description, a.status, a.dns_managed, a.dhcp_managed, a.reserved_until,
  (a.status = 'reserved' and a.reserved_until is not null and a.reserved_until <= now()) as expired,
  a.created_at, a.updated_at, a.allocated_by, a.version, (select s.name from ip_spaces s where s.id = a.space_id) as space_name,
  a.custom_fields, array(select t.name from ip_allocation_tags x join ip_tags t on t.id = x.tag_id where x.allocation_id = a.id order by t.name) as tags`
export const ALLOC_COLUMNS = `${ALLOC_FIELDS}, p.name as pool_name`

export const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString())

export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {})
  if (!r.success) {
    const { field, reason } = describeIssue(r.error)
    throw validationError(field, reason)
  }
  return r.data
}

/** Custom field values with their keys in name order (jsonb orders keys by length first). */
export const sortedFields = (o: Record<string, FieldValue> | null | undefined): Record<string, FieldValue> =>
  Object.fromEntries(Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

export function toAllocationDto(r: AllocRow): AllocationDto {
  return {
    id: r.id,
    poolId: r.pool_id,
    poolName: r.pool_name,
    spaceName: r.space_name,
    ip: r.ip,
    mac: r.mac,
    hostname: r.hostname,
    owner: r.owner,
    ownerDn: r.owner_dn ?? null,
    purpose: r.purpose,
    description: r.description,
    status: r.status,
    dnsManaged: r.dns_managed,
    dhcpManaged: r.dhcp_managed,
    reservedUntil: iso(r.reserved_until),
    expired: r.expired,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    allocatedBy: r.allocated_by,
    version: r.version,
    tags: r.tags ?? [],
    customFields: sortedFields(r.custom_fields)
  }
}

/** Fields of `after` that differ from `before`; empty when nothing changed. */
export function changedKeys(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  return Object.keys(after).filter((k) => JSON.stringify(before[k] ?? null) !== JSON.stringify(after[k] ?? null))
}

/** A pool name that more than one address space holds, given without an id (ipam_allocate_at says so too). */
export const ambiguousPool = (name: string, pools: { id: number; space: string }[]): AppError =>
  new AppError('CONFLICT', `pool: "${name}" names a pool in more than one address space (${pools.map((x) => `"${x.space}": id ${x.id}`).join(', ')}); give its id`, {
    field: 'pool',
    pools
  })

/**
 * A pool by id or name, optionally locked. `countChildren` false skips even the probe for children (`children`
 * is then 0).
 */
export async function findPoolRow(q: Knex | Knex.Transaction, ref: PoolRef, lock: boolean, countChildren = true): Promise<PoolRow> {
  const byId = typeof ref === 'number' || /^\d+$/.test(String(ref))
  const cols = countChildren ? POOL_COLUMNS : NEW_POOL_COLUMNS
  // Names are unique per address space: a name two spaces hold is ambiguous (the id says which).
  const byName = async (name: string): Promise<PoolRow | undefined> => {
    // Found and locked in one statement (a round trip less on every locked change by name); when the name is
    // ambiguous both rows are locked until the refusal below rolls the transaction back.
    const n = await q.raw<Rows<PoolRow>>(`select ${cols} from ip_pools p where p.name = ? order by p.space_id limit 2 ${lock ? 'for update' : ''}`, [name])
    if (n.rows.length > 1) {
      const all = await q.raw<Rows<{ id: number; space: string }>>(
        `select p.id, s.name as space from ip_pools p join ip_spaces s on s.id = p.space_id where p.name = ? order by s.name`,
        [name]
      )
      throw ambiguousPool(name, all.rows)
    }
    return n.rows[0]
  }
  let row: PoolRow | undefined
  if (byId) {
    const r = await q.raw<Rows<PoolRow>>(`select ${cols} from ip_pools p where p.id = ? ${lock ? 'for update' : ''}`, [Number(ref)])
    // A pool may also be named with digits only: fall back to the name.
    row = r.rows[0] ?? (await byName(String(ref)))
  } else row = await byName(String(ref).trim())
  if (!row) throw new AppError('NOT_FOUND', `pool: no pool named "${ref}"`, { field: 'pool' })
  return row
}

/**
 * The allocation at an address. Within a space an address is held at most once; across spaces it may be held
 * once per space: without a space, an address held in two spaces is refused as ambiguous (naming them), so
 * no change ever lands in the wrong space by accident.
 */
export async function allocationByIp(q: Knex | Knex.Transaction, ip: string, lock = false, space?: number | null): Promise<AllocRow | undefined> {
  const r = await q.raw<Rows<AllocRow>>(
    `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id
      where a.ip_address = ?::inet ${space != null ? 'and a.space_id = ?' : ''} order by a.space_id limit 2 ${lock ? 'for update of a' : ''}`,
    space != null ? [ip, space] : [ip]
  )
  if (r.rows.length > 1) {
    throw new AppError('CONFLICT', `ip: ${ip} is held in more than one address space (${r.rows.map((x) => `"${x.space_name}"`).join(', ')}); say which with space`, {
      field: 'space',
      spaces: r.rows.map((x) => x.space_name)
    })
  }
  return r.rows[0]
}

/**
 * An allocation's id from its id or its address (and space): side-effect reads (DNS, DHCP) key by id, so the
 * same address in two spaces never answers for the other one.
 */
export async function allocationIdOf(q: Knex | Knex.Transaction, ref: number | string, space?: string | number | null): Promise<number> {
  if (typeof ref === 'number') return ref
  const ip = parseIp(ref, 'ip').text
  const row = await allocationByIp(q, ip, false, space === undefined || space === null || space === '' ? undefined : await findSpaceId(q, space))
  if (!row) throw new AppError('NOT_FOUND', `ip: ${ip} is not allocated${space ? ` in space "${space}"` : ''}`, { field: 'ip' })
  return row.id
}

/** A space by name or id; null gives the default space. */
export async function findSpaceId(q: Knex | Knex.Transaction, ref: string | number | null | undefined): Promise<number> {
  if (ref === undefined || ref === null || ref === '') {
    const d = await q.raw<Rows<{ id: number }>>(`select id from ip_spaces where is_default`)
    return d.rows[0]!.id
  }
  const byId = typeof ref === 'number' || /^\d+$/.test(String(ref))
  const r = await q.raw<Rows<{ id: number }>>(`select id from ip_spaces where ${byId ? 'id = ? or name = ?' : 'name = ?'} order by (name = ?) desc limit 1`, [
    ...(byId ? [Number(ref), String(ref)] : [String(ref).trim()]),
    String(ref).trim()
  ])
  if (!r.rows[0]) throw new AppError('NOT_FOUND', `space: no address space named "${ref}"`, { field: 'space' })
  return r.rows[0].id
}

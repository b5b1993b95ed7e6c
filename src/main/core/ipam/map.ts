/**
 * The subnet map's data (PoolMap). poolMap reads a pool's rows from PostgreSQL; the builders below it are
 * pure: poolMap feeds cellsMap the database's rows, the offline reads feed mapFromAllocations the last-known
 * snapshot, and both draw the same map.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { MAP_STATES, type AllocationDto, type MapLease, type MapState, type PoolMap, type PoolRef } from '../../../shared/ipam'
import { bigIntToIp, cidrLast, compareValues, parseCidr, parseIp, usableRange, type ParsedCidr } from '../../../shared/net'
import { ALLOC_COLUMNS, findPoolRow, toAllocationDto, type AllocRow, type Rows } from './rows'

/**
 * The leases of a pool, from whatever serves them (Kea's lease database, core/dhcp; the core wires it in so
 * this room needs no DHCP code): null when the pool is not mapped to a DHCP server, `error` when its
 * database could not be read (the map is drawn without leases and says so).
 */
export type PoolLeases = (poolId: number) => Promise<{ leases: MapLease[] } | { error: string } | null>

/** The data the subnet map draws, compact enough for a /16 in one reply (see PoolMap). */
export async function poolMap(knex: Knex, ref: PoolRef, leasesOf?: PoolLeases): Promise<PoolMap> {
  const pool = await findPoolRow(knex, ref, false)
  const net = parseCidr(pool.network)
  if (net.family === 6) {
    const total = await knex.raw<Rows<{ n: number; used64: number }>>(
      `select count(*)::int as n, count(distinct set_masklen(ip_address, 64)::cidr)::int as used64 from ip_allocations where pool_id = ?`,
      [pool.id]
    )
    const rows = await knex.raw<Rows<AllocRow>>(
      `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where a.pool_id = ? order by a.ip_address limit 1000`,
      [pool.id]
    )
    const subnets64 = net.prefix <= 64 ? 1n << BigInt(64 - net.prefix) : 1n
    const used64 = total.rows[0]!.used64
    return {
      kind: 'v6',
      pool: pool.name,
      network: net.text,
      allocations: rows.rows.map(toAllocationDto),
      total: total.rows[0]!.n,
      subnets64: subnets64.toString(),
      used64,
      free64: (subnets64 - BigInt(used64)).toString()
    }
  }
  if (net.prefix < 16) {
    const tiles = await knex.raw<Rows<{ network: string; used: number; reserved: number; blocked: number }>>(
      `select t.tile::text as network, used, reserved, blocked from (
       select network(set_masklen(ip_address, 24)) as tile,
              count(*) filter (where status = 'allocated')::int as used,
              count(*) filter (where status = 'reserved' and (reserved_until is null or reserved_until > now()))::int as reserved,
              count(*) filter (where status = 'blocked')::int as blocked
         from ip_allocations where pool_id = ? group by 1) t order by t.tile`,
      [pool.id]
    )
    return { kind: 'tiles', pool: pool.name, network: net.text, tileCount: 2 ** (24 - net.prefix), tiles: tiles.rows }
  }
  const rows = await knex.raw<Rows<MapRow>>(
    `select (ip_address - ?::inet)::int as off, status,
            (status = 'reserved' and reserved_until is not null and reserved_until <= now()) as expired
       from ip_allocations where pool_id = ?`,
    [bigIntToIp(net.network, 4), pool.id]
  )
  // Child pools and dhcp/reserved ranges, drawn under the allocations (a forced address in a range shows as held).
  const spans = await knex.raw<Rows<{ lo: number; hi: number; state: 'range' | 'child' }>>(
    `select (host(network)::inet - ?::inet)::int as lo, (host(broadcast(network))::inet - ?::inet)::int as hi, 'child' as state from ip_pools where parent_id = ?
     union all
     select (first_ip - ?::inet)::int, (last_ip - ?::inet)::int, 'range' from ip_ranges where pool_id = ? and purpose in ('dhcp', 'reserved')`,
    [bigIntToIp(net.network, 4), bigIntToIp(net.network, 4), pool.id, bigIntToIp(net.network, 4), bigIntToIp(net.network, 4), pool.id]
  )
  const leased = leasesOf ? await leasesOf(pool.id).catch((e: unknown) => ({ error: (e as Error).message })) : null
  const map = cellsMap(pool, net, rows.rows, spans.rows, leased && 'leases' in leased ? leased.leases : [])
  if (leased && 'leases' in leased) map.leases = leased.leases
  if (leased && 'error' in leased) map.leaseError = leased.error
  return map
}

/** One allocation as the map needs it: its offset from the network address, its status, a lapsed hold. */
export interface MapRow {
  off: number
  status: string
  expired: boolean
}

/** IPv4 pools up to a /16: one byte per address (a MAP_STATES index), base64, with the count per state. */
export function cellsMap(
  pool: { name: string; gateway: string | null },
  net: ParsedCidr,
  rows: Iterable<MapRow>,
  spans: { lo: number; hi: number; state: 'range' | 'child' }[] = [],
  leases: MapLease[] = []
): Extract<PoolMap, { kind: 'cells' }> {
  const size = 2 ** (32 - net.prefix)
  const states = new Uint8Array(size)
  const code = (s: MapState): number => MAP_STATES.indexOf(s)
  for (const sp of spans) states.fill(code(sp.state), Math.max(0, sp.lo), Math.min(size, sp.hi + 1))
  const u = usableRange(net)
  if (u.first > net.network) states[0] = code('network')
  if (u.last < cidrLast(net)) states[size - 1] = code('network')
  if (pool.gateway) states[Number(parseIp(pool.gateway).value - net.network)] = code('gateway')
  const counts = Object.fromEntries(MAP_STATES.map((s) => [s, 0])) as Record<MapState, number>
  for (const r of rows) {
    if (r.off < 0 || r.off >= size) continue
    const st: MapState = r.expired ? 'lapsed' : r.status === 'available' ? 'free' : (r.status as MapState)
    states[r.off] = code(st)
  }
  // A lease marks an allocated address, or one of a dhcp range, as leased (what Kea says is in use now);
  // on a free address it is drift, shown as such. Reserved, blocked, gateway and the rest keep their state
  // (the tooltip still names the lease).
  const free = code('free')
  const allocated = code('allocated')
  const range = code('range')
  for (const l of leases) {
    let off: number
    try {
      off = Number(parseIp(l.ip).value - net.network)
    } catch {
      continue
    }
    if (off < 0 || off >= size) continue
    if (states[off] === free) states[off] = code('leased-free')
    else if (states[off] === allocated) states[off] = code('leased')
    else if (states[off] === range) states[off] = code('leased-range')
  }
  for (const v of states) counts[MAP_STATES[v]!]++
  return { kind: 'cells', pool: pool.name, network: net.text, first: bigIntToIp(net.network, 4), size, states: Buffer.from(states).toString('base64'), counts }
}

/**
 * The same map from a list of allocations (the offline snapshot): cells up to a /16, /24 tiles for larger
 * IPv4 pools, and for IPv6 the allocations with the free space counted in /64s.
 */
export function mapFromAllocations(pool: { name: string; network: string; gateway: string | null }, allocations: AllocationDto[], now = Date.now()): PoolMap {
  const net = parseCidr(pool.network)
  // Each address parsed once; only the IPv6 list and the tiles need an order (cells are placed by offset).
  const items = allocations.map((a) => ({ a, v: parseIp(a.ip).value }))
  const lapsed = (a: AllocationDto): boolean => a.status === 'reserved' && a.reservedUntil !== null && Date.parse(a.reservedUntil) <= now
  if (net.family === 6) {
    const subnets64 = net.prefix <= 64 ? 1n << BigInt(64 - net.prefix) : 1n
    const used = new Set(items.map((x) => x.v >> 64n))
    const sorted = items.sort((x, y) => compareValues(x.v, y.v))
    return {
      kind: 'v6',
      pool: pool.name,
      network: net.text,
      allocations: sorted.slice(0, 1000).map((x) => x.a),
      total: sorted.length,
      subnets64: subnets64.toString(),
      used64: used.size,
      free64: (subnets64 - BigInt(used.size)).toString()
    }
  }
  if (net.prefix < 16) {
    const tiles = new Map<bigint, { network: string; used: number; reserved: number; blocked: number }>()
    for (const { a, v } of items) {
      const key = (v >> 8n) << 8n
      let t = tiles.get(key)
      if (!t) tiles.set(key, (t = { network: `${bigIntToIp(key, 4)}/24`, used: 0, reserved: 0, blocked: 0 }))
      if (a.status === 'allocated') t.used++
      else if (a.status === 'reserved' && !lapsed(a)) t.reserved++
      else if (a.status === 'blocked') t.blocked++
    }
    const ordered = [...tiles.entries()].sort(([x], [y]) => compareValues(x, y)).map(([, t]) => t)
    return { kind: 'tiles', pool: pool.name, network: net.text, tileCount: 2 ** (24 - net.prefix), tiles: ordered }
  }
  return cellsMap(
    pool,
    net,
    items.map(({ a, v }) => ({ off: Number(v - net.network), status: a.status, expired: lapsed(a) }))
  )
}

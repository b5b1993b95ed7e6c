/**
 * Builds the subnet map's data (PoolMap) from a pool and its allocations. Pure: the IPAM service feeds it
 * rows from PostgreSQL, the offline reads feed it the last-known snapshot, and both draw the same map.
 */
import { MAP_STATES, type AllocationDto, type MapState, type PoolMap } from '../../../shared/ipam'
import { bigIntToIp, cidrLast, compareValues, parseCidr, parseIp, usableRange, type ParsedCidr } from '../../../shared/net'

/** One allocation as the map needs it: its offset from the network address, its status, a lapsed hold. */
export interface MapRow {
  off: number
  status: string
  expired: boolean
}

/** IPv4 pools up to a /16: one byte per address (a MAP_STATES index), base64, with the count per state. */
export function cellsMap(pool: { name: string; gateway: string | null }, net: ParsedCidr, rows: Iterable<MapRow>): Extract<PoolMap, { kind: 'cells' }> {
  const size = 2 ** (32 - net.prefix)
  const states = new Uint8Array(size)
  const code = (s: MapState): number => MAP_STATES.indexOf(s)
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

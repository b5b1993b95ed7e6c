/**
 * Reading while offline: the IPAM reads the app needs (pool list, one pool, a pool's allocations and map,
 * one address), answered from the last-known snapshot of that database (its target's, in the offline
 * queue file) when the database cannot be reached. Every answer carries `stale: { asOf, reason }` so the interface marks it as such; without a
 * snapshot the caller gets the original "unreachable" error.
 */
import { AppError } from '../../../shared/errors'
import { poolListSchema, type AllocationDto, type Page, type PoolDto, type PoolListInput, type PoolMap, type PoolRef, type StaleMark } from '../../../shared/ipam'
import { compareIp } from '../../../shared/net'
import { mapFromAllocations } from '../ipam/map'
import type { TargetSnapshot } from './queue'

function mark(asOf: string, why: string): StaleMark {
  return { asOf, reason: `the database is unreachable (${why}); showing the last-known data from ${asOf}` }
}

function noSnapshot(why: string): AppError {
  return new AppError('UNAVAILABLE', `the database is unreachable (${why}) and there is no last-known copy of this data on this computer yet`, { reason: 'unreachable' })
}

export function stalePoolList(q: TargetSnapshot, input: PoolListInput, why: string): Page<PoolDto> {
  const snap = q.pools()
  if (!snap) throw noSnapshot(why)
  const o = poolListSchema.parse(input)
  const needle = o.search?.toLowerCase()
  let items = snap.data.filter(
    (p) =>
      (o.site === undefined || p.site === o.site) &&
      (o.environment === undefined || p.environment === o.environment) &&
      (o.active === undefined || p.isActive === o.active) &&
      (o.vlanId === undefined || p.vlanId === o.vlanId) &&
      // The snapshot's pools carry their VLAN group's name, not its id: offline, a group is matched by name.
      (o.vlanGroup === undefined || (p.vlan != null && p.vlan.group === String(o.vlanGroup))) &&
      (!needle || [p.name, p.network, p.description ?? ''].some((t) => t.toLowerCase().includes(needle))) &&
      // Offline the field definitions are not at hand: a value is matched as the text it shows.
      Object.entries(o.fields ?? {}).every(([k, v]) => p.customFields?.[k] !== undefined && p.customFields[k] !== null && String(p.customFields[k]) === v)
  )
  const key = (p: PoolDto): string | number | boolean => {
    if (o.sortField) return p.customFields?.[o.sortField] ?? ''
    switch (o.sort) {
      case 'network':
        return p.network
      case 'site':
        return p.site ?? ''
      case 'environment':
        return p.environment ?? ''
      case 'vlan':
        return p.vlanId ?? 0
      case 'created':
        return p.createdAt
      case 'utilization':
        return p.utilization.percent
      default:
        return p.name.toLowerCase()
    }
  }
  items = items.sort((a, b) => {
    // A custom field column: rows without a value last, whichever the order (as the server sorts).
    if (o.sortField) {
      const va = a.customFields?.[o.sortField]
      const vb = b.customFields?.[o.sortField]
      if ((va == null) !== (vb == null)) return va == null ? 1 : -1
    }
    const c = o.sort === 'network' && !o.sortField ? compareIp(a.network.split('/')[0]!, b.network.split('/')[0]!) : key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0
    return (o.order === 'desc' ? -c : c) || a.id - b.id
  })
  const start = (o.page - 1) * o.pageSize
  return { items: items.slice(start, start + o.pageSize), page: o.page, pageSize: o.pageSize, total: items.length, stale: mark(snap.asOf, why) }
}

function pool(q: TargetSnapshot, ref: PoolRef, why: string): { data: PoolDto; asOf: string } {
  const p = q.pool(ref)
  if (p) return p
  if (!q.at()) throw noSnapshot(why)
  throw new AppError('NOT_FOUND', `pool: no pool "${String(ref)}" in the last-known data (the database is unreachable: ${why})`, { field: 'pool' })
}

export function stalePool(q: TargetSnapshot, ref: PoolRef, why: string): PoolDto & { stale: StaleMark } {
  const p = pool(q, ref, why)
  return { ...p.data, stale: mark(p.asOf, why) }
}

export function staleAllocations(q: TargetSnapshot, ref: PoolRef, opts: { page?: number; pageSize?: number }, why: string): Page<AllocationDto> {
  const p = pool(q, ref, why)
  const all = (q.allocations(p.data.name)?.data ?? []).sort((a, b) => compareIp(a.ip, b.ip))
  const page = Math.max(1, opts.page ?? 1)
  const pageSize = Math.min(65536, Math.max(1, opts.pageSize ?? 1000))
  const start = (page - 1) * pageSize
  return { items: all.slice(start, start + pageSize), page, pageSize, total: all.length, stale: mark(p.asOf, why) }
}

export function staleMap(q: TargetSnapshot, ref: PoolRef, why: string): PoolMap {
  const p = pool(q, ref, why)
  const all = q.allocations(p.data.name)?.data ?? []
  return { ...mapFromAllocations(p.data, all), stale: mark(p.asOf, why) }
}

export function staleAllocation(q: TargetSnapshot, ip: string, why: string): AllocationDto & { stale: StaleMark } {
  const a = q.allocation(ip)
  if (a) return { ...a.data, stale: mark(a.asOf, why) }
  if (!q.at()) throw noSnapshot(why)
  throw new AppError('NOT_FOUND', `ip: ${ip} is not allocated in the last-known data (the database is unreachable: ${why})`, { field: 'ip' })
}

/**
 * The records the allocations say a zone should hold, computed by the server in one statement per zone
 * (the record table's annotations and drift use them).
 */
import type { Knex } from '@mikro-orm/postgresql'
import { reverseZoneInfo, type DnsRecordDto } from '../../../shared/dns'
import { parseCidr, parseIp } from '../../../shared/net'
import type { ZoneRow } from './reconcile'

/** Allocations by the records they stand for in one zone (forward: name and address; reverse: PTR owner and name). */
export async function allocationIndex(q: Knex, zone: ZoneRow): Promise<{ lookup(name: string, type: string, data: string): DnsRecordDto['allocation']; rows: IndexRow[] }> {
  const rows = await indexRows(q, zone)
  const byKey = new Map<string, IndexRow>()
  for (const r of rows) byKey.set(`${r.name}|${r.type}|${r.data}`, r)
  return {
    rows,
    lookup: (name, type, data) => {
      const r = byKey.get(`${name}|${type}|${data}`)
      return r ? { ip: r.ip, hostname: r.hostname, pool: r.pool } : null
    }
  }
}

export interface IndexRow {
  name: string
  type: string
  data: string
  ip: string
  hostname: string | null
  pool: string
}

/** The records the allocations say a zone should hold, computed by the server in one statement. */
export async function indexRows(q: Knex, zone: ZoneRow): Promise<IndexRow[]> {
  if (zone.kind === 'forward') {
    const r = await q.raw<{ rows: IndexRow[] }>(
      `select dns_fqdn(a.hostname, ?) as name, case family(a.ip_address) when 4 then 'A' else 'AAAA' end as type, host(a.ip_address) as data,
              host(a.ip_address) as ip, a.hostname, p.name as pool
         from ip_allocations a join ip_pools p on p.id = a.pool_id
        where p.dns_zone_id = ? and a.dns_managed and a.status <> 'blocked' and a.hostname is not null`,
      [zone.name, zone.id]
    )
    return r.rows
  }
  const info = reverseZoneInfo(zone.name)!
  // Only addresses whose longest covering managed zone is this one, allocated in the zone's address space.
  const r = await q.raw<{ rows: { ip: string; hostname: string; pool: string; fqdn: string }[] }>(
    `select host(a.ip_address) as ip, a.hostname, p.name as pool, case when z.name is null then rtrim(lower(a.hostname), '.') else dns_fqdn(a.hostname, z.name) end as fqdn
       from ip_allocations a join ip_pools p on p.id = a.pool_id left join dns_zones z on z.id = p.dns_zone_id
      where a.ip_address << ?::cidr and p.space_id = ? and a.dns_managed and a.status <> 'blocked' and a.hostname is not null and p.dns_ptr
        and not exists (select 1 from dns_zones o where o.network is not null and o.id <> ? and o.network >>= a.ip_address and masklen(o.network) > ?)`,
    [zone.network, zone.space_id, zone.id, parseCidr(zone.network!).prefix]
  )
  return r.rows.map((x) => ({
    name: info.classless ? `${x.ip.split('.')[3]}.${zone.name}` : reverseNameFast(x.ip),
    type: 'PTR',
    data: x.fqdn,
    ip: x.ip,
    hostname: x.hostname,
    pool: x.pool
  }))
}

function reverseNameFast(ip: string): string {
  if (!ip.includes(':')) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`
  const hex = parseIp(ip).value.toString(16).padStart(32, '0')
  return `${[...hex].reverse().join('.')}.ip6.arpa`
}


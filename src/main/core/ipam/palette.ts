/**
 * The command palette's two IPAM sources, each one lean query answered by an index and cut at `limit`:
 *
 * - pools: name (exact, then prefix, then anywhere), site or network prefix, the pool holding an address,
 *   an exact tag; the usage of the few shown is counted afterwards for those rows only. The Pools screen's
 *   search (listPools) also looks into descriptions' custom fields and counts every column of every match,
 *   which is the screen's job, not a keystroke's.
 * - addresses: one address (unique index), a network (btree range of `<<=`), a MAC or a MAC prefix (range on
 *   the macaddr index), or a host-name / owner prefix (the lower(...) text_pattern_ops indexes, read in
 *   index order so the first rows are the best: an exact name sorts before every longer name it begins).
 *
 * Totals are counted only up to COUNT_CAP: "1,000+ more" tells a person to type more, and counting the
 * 10,000 rows of a common prefix on every keystroke is what made the palette slow.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { normalizeMac, parseIp } from '../../../shared/net'
import { LIKE_ESCAPE, likeText } from '../db/like'
import { USED_SQL } from './rollup'
import type { Rows } from './rows'
import { utilization } from './utilization'

/** Matches are counted up to this many; past it the palette says "N+ more". */
export const COUNT_CAP = 1000

export interface PalettePoolHit {
  id: number
  name: string
  network: string
  site: string | null
  percent: number
}

export interface PaletteAddressHit {
  ip: string
  hostname: string | null
  mac: string | null
  owner: string | null
  poolId: number
  poolName: string
}

export interface PaletteHits<T> {
  items: T[]
  /** Matches in all, counted up to COUNT_CAP + 1. */
  total: number
  /** The count stopped at the cap: there are at least `total`. */
  capped: boolean
  /** How the query was read (pools: 'name'; addresses: ip, cidr, mac, mac-prefix, name). */
  kind: string
}

/** `select count(*)` of the matches, stopped after COUNT_CAP + 1 rows (a scalar subquery). */
const cappedCountSql = (fromWhere: string): string => `(select count(*)::int from (select 1 ${fromWhere} limit ${COUNT_CAP + 1}) c)`

const capped = (n: number | undefined): { total: number; capped: boolean } => ({ total: Math.min(n ?? 0, COUNT_CAP), capped: (n ?? 0) > COUNT_CAP })

export async function palettePools(knex: Knex, query: string, limit: number): Promise<PaletteHits<PalettePoolHit>> {
  const q = query.toLowerCase()
  const any = `%${likeText(q)}%`
  const prefix = `${likeText(q)}%`
  let ipClause = ''
  const ipBind: Knex.Value[] = []
  try {
    ipClause = ' or p.network >>= ?::inet'
    ipBind.push(parseIp(query).text)
  } catch {
    ipClause = ''
  }
  // 5,000 pools are one short sequential read; every term is on the pool row itself except the exact tag,
  // which the tag-name index answers once for the whole query.
  const where = `from ip_pools p
    where lower(p.name) like ? ${LIKE_ESCAPE} or lower(p.site) like ? ${LIKE_ESCAPE} or p.network::text like ? ${LIKE_ESCAPE}${ipClause}
       or p.id = any(array(select x.pool_id from ip_pool_tags x join ip_tags t on t.id = x.tag_id where lower(t.name) = ?))`
  const b: Knex.Value[] = [any, prefix, prefix, ...ipBind, q]
  // One statement, one round trip: the scan visits every match anyway to rank them, so the window count is
  // free (and exact: pools are few); the usage is counted for the `limit` rows kept, not for every match.
  const rows = await knex.raw<
    Rows<{ id: number; name: string; network_text: string; gateway: string | null; site: string | null; total: number; allocated: number; reserved: number; blocked: number; ranged: string | null }>
  >(
    `select p.*, c.allocated, c.reserved, c.blocked, r.ranged
       from (select p.id, p.name, p.network, p.network::text as network_text, host(p.gateway) as gateway, p.site, (count(*) over ())::int as total,
                    case when lower(p.name) = ? then 0 when lower(p.name) like ? ${LIKE_ESCAPE} then 1 when lower(p.name) like ? ${LIKE_ESCAPE} then 2 else 3 end as rank
               ${where}
              order by rank, masklen(p.network) desc, p.name
              limit ?) p
       cross join lateral (select count(*) filter (where a.status = 'allocated')::int as allocated,
                                  count(*) filter (where a.status = 'reserved' and (a.reserved_until is null or a.reserved_until > now()))::int as reserved,
                                  count(*) filter (where a.status = 'blocked')::int as blocked
                             from ip_allocations a where a.pool_id = p.id) c
       cross join lateral (select sum((g.last_ip - g.first_ip) + 1 - (select count(*) from ip_allocations a
                                    where a.pool_id = g.pool_id and a.ip_address between g.first_ip and g.last_ip and ${USED_SQL('a')}))::text as ranged
                             from ip_ranges g where g.pool_id = p.id and g.mark_used) r
      order by p.rank, masklen(p.network) desc, p.name`,
    [q, prefix, any, ...b, limit]
  )
  return {
    kind: 'name',
    total: rows.rows[0]?.total ?? 0,
    capped: false,
    items: rows.rows.map((r) => ({
      id: r.id,
      name: r.name,
      network: r.network_text,
      site: r.site,
      percent: utilization(r.network_text, r.gateway, {
        allocated: r.allocated,
        reserved: r.reserved,
        blocked: r.blocked,
        ...(r.ranged !== null ? { ranged: Number(r.ranged) } : {})
      }).percent
    }))
  }
}

const MAC_PREFIX = /^[0-9a-f]{2}(?::[0-9a-f]{2}){1,4}:?$/i

type AddrRow = { ip: string; hostname: string | null; mac: string | null; owner: string | null; pool_id: number; pool_name: string }
const ADDR_COLUMNS = `host(a.ip_address) as ip, a.hostname, a.mac_address::text as mac, a.owner, a.pool_id, p.name as pool_name`

export async function paletteAddresses(knex: Knex, query: string, limit: number): Promise<PaletteHits<PaletteAddressHit>> {
  const q = query.trim()
  const toHit = (r: AddrRow): PaletteAddressHit => ({ ip: r.ip, hostname: r.hostname, mac: r.mac, owner: r.owner, poolId: r.pool_id, poolName: r.pool_name })
  // One statement per query, one round trip: the `limit` rows in the index's order, their pools, and the
  // capped count as a scalar subquery (no rows means a count of 0, so it can ride on the rows).
  const run = async (kind: string, where: string, b: Knex.Value[], order: string): Promise<PaletteHits<PaletteAddressHit>> => {
    const from = `from ip_allocations a where ${where}`
    const rows = await knex.raw<Rows<AddrRow & { total: number }>>(
      `select ${ADDR_COLUMNS}, ${cappedCountSql(from)} as total
         from (select * ${from} order by ${order} limit ?) a join ip_pools p on p.id = a.pool_id order by ${order}`,
      [...b, ...b, limit]
    )
    return { kind, ...capped(rows.rows[0]?.total), items: rows.rows.map(toHit) }
  }

  if (q.includes('/')) {
    const [addr, prefix] = q.split('/')
    try {
      const ip = parseIp(addr ?? '')
      if (/^\d{1,3}$/.test(prefix ?? '') && Number(prefix) <= (ip.family === 4 ? 32 : 128)) {
        return await run('cidr', 'a.ip_address <<= network(?::inet)', [`${ip.text}/${prefix}`], 'a.ip_address')
      }
    } catch {
      /* not a network: a host name with a slash finds nothing below */
    }
    return { kind: 'cidr', items: [], total: 0, capped: false }
  }
  let ip: string | undefined
  try {
    ip = parseIp(q).text
  } catch {
    ip = undefined
  }
  if (ip) return run('ip', 'a.ip_address = ?::inet', [ip], 'a.ip_address')
  let mac: string | undefined
  try {
    mac = normalizeMac(q)
  } catch {
    mac = undefined
  }
  if (mac) return run('mac', 'a.mac_address = ?::macaddr', [mac], 'a.ip_address')
  if (MAC_PREFIX.test(q)) {
    // "02:00:00:2a" is every MAC from 02:00:00:2a:00:00 to 02:00:00:2a:ff:ff: a range on the macaddr index.
    const octets = q.replace(/:$/, '').toLowerCase().split(':')
    const low = [...octets, ...Array(6 - octets.length).fill('00')].join(':')
    const high = [...octets, ...Array(6 - octets.length).fill('ff')].join(':')
    return run('mac-prefix', 'a.mac_address between ?::macaddr and ?::macaddr', [low, high], 'a.mac_address, a.ip_address')
  }
  // Host name first, then owner: each a prefix read in its index's own order (`using ~<~` is the order of
  // the text_pattern_ops indexes), so the first `limit` rows cost `limit` index entries. Both in one
  // statement; an address whose host name matched is not counted or shown again for its owner.
  const like = `${likeText(q.toLowerCase())}%`
  const hostWhere = `lower(a.hostname) like ? ${LIKE_ESCAPE}`
  const ownerWhere = `lower(a.owner) like ? ${LIKE_ESCAPE} and (a.hostname is null or lower(a.hostname) not like ? ${LIKE_ESCAPE})`
  const r = await knex.raw<Rows<AddrRow & { hosts: number; owners: number }>>(
    `select ${ADDR_COLUMNS}, ${cappedCountSql(`from ip_allocations a where ${hostWhere}`)} as hosts,
            ${cappedCountSql(`from ip_allocations a where ${ownerWhere}`)} as owners
       from ((select *, 0 as src, lower(hostname) as k from ip_allocations a where ${hostWhere} order by lower(a.hostname) using ~<~ limit ?)
             union all
             (select *, 1 as src, lower(owner) as k from ip_allocations a where ${ownerWhere} order by lower(a.owner) using ~<~ limit ?)) a
       join ip_pools p on p.id = a.pool_id
      order by a.src, a.k using ~<~
      limit ?`,
    [like, like, like, like, limit, like, like, limit, limit]
  )
  const items = r.rows.map(toHit)
  const sum = (r.rows[0]?.hosts ?? 0) + (r.rows[0]?.owners ?? 0)
  const hostsCapped = (r.rows[0]?.hosts ?? 0) > COUNT_CAP || (r.rows[0]?.owners ?? 0) > COUNT_CAP
  return { kind: 'name', items, total: Math.min(sum, COUNT_CAP), capped: hostsCapped || sum > COUNT_CAP }
}

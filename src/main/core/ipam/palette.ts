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
import { poolCounts } from './pools'
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

async function cappedCount(knex: Knex, fromWhere: string, b: Knex.Value[]): Promise<{ total: number; capped: boolean }> {
  const r = await knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from (select 1 ${fromWhere} limit ${COUNT_CAP + 1}) s`, b)
  const n = r.rows[0]!.n
  return { total: Math.min(n, COUNT_CAP), capped: n > COUNT_CAP }
}

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
  // The scan visits every match anyway to rank them, so the window count is free (and exact: pools are few).
  const rows = await knex.raw<Rows<{ id: number; name: string; network: string; gateway: string | null; site: string | null; total: number }>>(
    `select p.id, p.name, p.network::text as network, host(p.gateway) as gateway, p.site, (count(*) over ())::int as total ${where}
      order by case when lower(p.name) = ? then 0 when lower(p.name) like ? ${LIKE_ESCAPE} then 1 when lower(p.name) like ? ${LIKE_ESCAPE} then 2 else 3 end,
               masklen(p.network) desc, p.name
      limit ?`,
    [...b, q, prefix, any, limit]
  )
  const counts = await poolCounts(
    knex,
    rows.rows.map((r) => r.id)
  )
  return {
    kind: 'name',
    total: rows.rows[0]?.total ?? 0,
    capped: false,
    items: rows.rows.map((r) => ({
      id: r.id,
      name: r.name,
      network: r.network,
      site: r.site,
      percent: utilization(r.network, r.gateway, counts.get(r.id) ?? { allocated: 0, reserved: 0, blocked: 0 }).percent
    }))
  }
}

const MAC_PREFIX = /^[0-9a-f]{2}(?::[0-9a-f]{2}){1,4}:?$/i

type AddrRow = { ip: string; hostname: string | null; mac: string | null; owner: string | null; pool_id: number; pool_name: string }
const ADDR_COLUMNS = `host(a.ip_address) as ip, a.hostname, a.mac_address::text as mac, a.owner, a.pool_id, p.name as pool_name`

export async function paletteAddresses(knex: Knex, query: string, limit: number): Promise<PaletteHits<PaletteAddressHit>> {
  const q = query.trim()
  const toHit = (r: AddrRow): PaletteAddressHit => ({ ip: r.ip, hostname: r.hostname, mac: r.mac, owner: r.owner, poolId: r.pool_id, poolName: r.pool_name })
  const run = async (kind: string, where: string, b: Knex.Value[], order: string): Promise<PaletteHits<PaletteAddressHit>> => {
    const from = `from ip_allocations a where ${where}`
    const [rows, count] = await Promise.all([
      knex.raw<Rows<AddrRow>>(
        `select ${ADDR_COLUMNS} from (select * ${from} order by ${order} limit ?) a join ip_pools p on p.id = a.pool_id order by ${order}`,
        [...b, limit]
      ),
      cappedCount(knex, from, b)
    ])
    return { kind, ...count, items: rows.rows.map(toHit) }
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
  // the text_pattern_ops indexes), so the first `limit` rows cost `limit` index entries.
  const like = `${likeText(q.toLowerCase())}%`
  const [hosts, owners] = await Promise.all([
    run('name', `lower(a.hostname) like ? ${LIKE_ESCAPE}`, [like], 'lower(a.hostname) using ~<~'),
    // An address whose host name matched is not counted or shown twice.
    run('name', `lower(a.owner) like ? ${LIKE_ESCAPE} and (a.hostname is null or lower(a.hostname) not like ? ${LIKE_ESCAPE})`, [like, like], 'lower(a.owner) using ~<~')
  ])
  const items = [...hosts.items, ...owners.items].slice(0, limit)
  const sum = hosts.total + owners.total
  return { kind: 'name', items, total: Math.min(sum, COUNT_CAP), capped: hosts.capped || owners.capped || sum > COUNT_CAP }
}

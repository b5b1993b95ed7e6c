/** IPAM search: one address, a network, a MAC, an owner, or a host-name prefix, a page at a time. */
import type { Knex } from '@mikro-orm/postgresql'
import { validationError } from '../../../shared/errors'
import { searchSchema, type AllocationDto, type Page, type SearchInput } from '../../../shared/ipam'
import { normalizeMac, parseIp } from '../../../shared/net'
import { ALLOC_COLUMNS, parse, toAllocationDto, type AllocRow, type Rows } from './rows'
import { LIKE_ESCAPE, likeText } from '../db/like'

export async function search(knex: Knex, input: SearchInput): Promise<Page<AllocationDto> & { kind: string }> {
  const v = parse(searchSchema, input)
  let kind = v.kind
  const q = v.query
  if (kind === 'auto') {
    if (q.includes('/')) kind = 'cidr'
    else if (/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$|^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$|^[0-9a-f]{12}$/i.test(q)) kind = 'mac'
    else {
      try {
        parseIp(q)
        kind = 'ip'
      } catch {
        kind = 'hostname'
      }
    }
  }
  let where: string
  let b: Knex.Value[]
  switch (kind) {
    case 'ip':
      where = 'a.ip_address = ?::inet'
      b = [parseIp(q, 'query').text]
      break
    case 'cidr': {
      // Host bits are allowed here: searching 10.1.2.3/24 means "the /24 around it".
      const [addr, prefix] = q.split('/')
      const ip = parseIp(addr ?? '', 'query')
      if (!/^\d{1,3}$/.test(prefix ?? '') || Number(prefix) > (ip.family === 4 ? 32 : 128)) throw validationError('query', `"${q}": bad prefix length`)
      where = 'a.ip_address <<= network(?::inet)'
      b = [`${ip.text}/${prefix}`]
      break
    }
    case 'mac':
      where = 'a.mac_address = ?::macaddr'
      b = [normalizeMac(q, 'query')]
      break
    case 'owner':
      where = `lower(a.owner) like ? ${LIKE_ESCAPE}`
      b = [`${likeText(q.toLowerCase())}%`]
      break
    default: {
      // Hostname prefix, case-insensitive; owner prefix as well, so "alice" finds her hosts.
      const like = `${likeText(q.toLowerCase())}%`
      // Also an exact tag name, and a custom field holding exactly this value (both answered by indexes:
      // the tag links by tag, the values by the GIN index through jsonb containment). The tag's allocations
      // come as an array computed once (`= any(array(...))`), which the planner can OR with the prefix
      // indexes; `in (subquery)` would make every search a scan of all allocations (600 ms on 500,000).
      const defs = await knex.raw<Rows<{ name: string; type: string }>>(`select name, type from ip_custom_fields where kind = 'allocation'`)
      const probes = defs.rows.flatMap((f): Record<string, string | number>[] =>
        f.type === 'integer' ? (/^-?\d{1,15}$/.test(q) ? [{ [f.name]: Number(q) }] : []) : f.type === 'boolean' ? [] : [{ [f.name]: q }]
      )
      where = `(lower(a.hostname) like ? ${LIKE_ESCAPE} or lower(a.owner) like ? ${LIKE_ESCAPE}
                or a.id = any(array(select x.allocation_id from ip_allocation_tags x join ip_tags t on t.id = x.tag_id where lower(t.name) = ?))
                ${probes.map(() => 'or a.custom_fields @> ?::jsonb').join(' ')})`
      b = [like, like, q.toLowerCase(), ...probes.map((o) => JSON.stringify(o))]
    }
  }
  const total = await knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_allocations a where ${where}`, b)
  const rows = await knex.raw<Rows<AllocRow>>(
    `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where ${where} order by a.ip_address limit ? offset ?`,
    [...b, v.pageSize, (v.page - 1) * v.pageSize]
  )
  return { kind, items: rows.rows.map(toAllocationDto), page: v.page, pageSize: v.pageSize, total: total.rows[0]!.n }
}

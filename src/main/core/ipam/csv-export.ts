/**
 * CSV export of pools or allocations with the lists' filters, streamed from a server-side cursor in
 * constant memory, each line formatted by PostgreSQL (as the audit export does: RFC 4180 quoting, a cell
 * starting with = + - @ tab or CR guarded by an apostrophe). The columns are CSV_EXPORT_COLUMNS (the last
 * one `tags`: names sorted, joined by commas), then `cf_<name>` for each custom field of the kind, by name:
 * exactly what the netkeeper preset imports, so an export imported again changes nothing.
 */
import type { Writable } from 'node:stream'
import type { Knex } from '@mikro-orm/postgresql'
import { CSV_EXPORT_COLUMNS, CUSTOM_FIELD_PREFIX, customFieldKindOf, type CsvExportOptions, type CsvExportReport, type CsvKind } from '../../../shared/ipam-csv'
import { validationError } from '../../../shared/errors'
import { csvCellSql, TextOut } from '../db/text-export'
import { findPoolRow, findSpaceId } from './rows'
import { whereGroupAndTags, wherePoolSearch } from './pools'
import { fieldFilter } from './tags'

const BATCH = 2000

const bool = (e: string): string => `(case when ${e} then 'true' else 'false' end)`
const utc = (e: string): string => `to_char(${e} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`

/** The SQL text of each exported column; `plain` ones can never need quotes or a guard. */
const VALUES: Record<CsvKind, Record<string, { sql: string; plain?: boolean }>> = {
  pools: {
    space: { sql: 's.name' },
    network: { sql: 'p.network::text', plain: true },
    name: { sql: 'p.name' },
    gateway: { sql: 'host(p.gateway)', plain: true },
    vlan: { sql: 'p.vlan_id::text', plain: true },
    site: { sql: 'p.site' },
    environment: { sql: 'p.environment' },
    description: { sql: 'p.description' },
    dns_servers: { sql: `array_to_string(array(select host(d.ip) from unnest(p.dns_servers) with ordinality as d(ip, n) order by d.n), ' ')`, plain: true },
    active: { sql: bool('p.is_active'), plain: true },
    // The uncorrelated IN is one hashed lookup per row; the per-row subquery runs only for rows that have tags.
    tags: { sql: `case when p.id in (select pool_id from ip_pool_tags) then (select string_agg(t.name, ',' order by t.name) from ip_pool_tags xt join ip_tags t on t.id = xt.tag_id where xt.pool_id = p.id) end` }
  },
  allocations: {
    space: { sql: 's.name' },
    ip: { sql: 'host(a.ip_address)', plain: true },
    pool: { sql: 'p.name' },
    status: { sql: 'a.status', plain: true },
    hostname: { sql: 'a.hostname' },
    mac: { sql: 'a.mac_address::text', plain: true },
    owner: { sql: 'a.owner' },
    owner_dn: { sql: 'a.owner_dn' },
    purpose: { sql: 'a.purpose' },
    description: { sql: 'a.description' },
    reserved_until: { sql: utc('a.reserved_until'), plain: true },
    dns_managed: { sql: bool('a.dns_managed'), plain: true },
    dhcp_managed: { sql: bool('a.dhcp_managed'), plain: true },
    tags: { sql: `case when a.id in (select allocation_id from ip_allocation_tags) then (select string_agg(t.name, ',' order by t.name) from ip_allocation_tags xt join ip_tags t on t.id = xt.tag_id where xt.allocation_id = a.id) end` }
  }
}

/** The custom fields of a kind, by name (names match ^[a-z][a-z0-9_]{0,63}$, a check on ip_custom_fields: safe in SQL text). */
export async function customFieldNames(knex: Knex, kind: CsvKind): Promise<string[]> {
  const r = await knex.raw<{ rows: { name: string }[] }>(`select name from ip_custom_fields where kind = ? order by name`, [customFieldKindOf(kind)])
  return r.rows.map((x) => x.name).filter((n) => /^[a-z][a-z0-9_]{0,63}$/.test(n))
}

/** One CSV line, built by PostgreSQL: formula guard, then RFC 4180 quotes where needed; the custom fields last. */
export function csvLineSql(kind: CsvKind, customFields: string[] = []): string {
  const alias = kind === 'pools' ? 'p' : 'a'
  return [
    ...CSV_EXPORT_COLUMNS[kind].map((c) => {
      const { sql, plain } = VALUES[kind][c]!
      const v = `coalesce(${sql}, '')`
      return plain ? v : csvCellSql(v)
    }),
    // ->> gives text as is, numbers and booleans as their JSON text: what the import reads back.
    ...customFields.map((n) => csvCellSql(`coalesce(${alias}.custom_fields ->> '${n}', '')`))
  ].join(` || ',' || `)
}

/** The header line's columns: the kind's own, then cf_<name> per custom field. */
export const csvHeader = (kind: CsvKind, customFields: string[]): string[] => [...CSV_EXPORT_COLUMNS[kind], ...customFields.map((n) => CUSTOM_FIELD_PREFIX + n)]

interface Query {
  from: string
  where: string[]
  bindings: Knex.RawBinding[]
  order: string
}

async function query(knex: Knex, o: CsvExportOptions): Promise<Query> {
  const where: string[] = []
  const bindings: Knex.RawBinding[] = []
  if (o.space !== undefined && o.space !== '') {
    where.push(o.kind === 'pools' ? 'p.space_id = ?' : 'a.space_id = ?')
    bindings.push(await findSpaceId(knex, o.space))
  }
  if (o.fields && Object.keys(o.fields).length) {
    // The lists' custom field filter: the values typed as their fields' types (an unknown field is refused,
    // naming it), then a jsonb containment, as ipam:pool:list and ipam:pool:allocations apply it.
    where.push(o.kind === 'pools' ? 'p.custom_fields @> ?::jsonb' : 'a.custom_fields @> ?::jsonb')
    bindings.push(JSON.stringify(await fieldFilter(knex, o.kind === 'pools' ? 'pool' : 'allocation', o.fields)))
  }
  const q = o.search?.trim()
  if (o.kind === 'pools') {
    if (o.pool !== undefined || o.status !== undefined) throw validationError(o.pool !== undefined ? 'pool' : 'status', 'applies to allocations only')
    // The VLAN group and the tags, as the Pools list applies them.
    await whereGroupAndTags(knex, { vlanGroup: o.vlanGroup === '' ? undefined : o.vlanGroup, tags: o.tags }, where, bindings)
    for (const [k, col] of [
      ['site', 'p.site'],
      ['environment', 'p.environment'],
      ['vlanId', 'p.vlan_id'],
      ['active', 'p.is_active']
    ] as const) {
      if (o[k] === undefined || o[k] === '') continue
      where.push(`${col} = ?`)
      bindings.push(o[k]!)
    }
    // The Pools list's search: tags, custom field values and an address inside the network too.
    if (q) wherePoolSearch(q, where, bindings)
    return { from: 'ip_pools p join ip_spaces s on s.id = p.space_id', where, bindings, order: 's.name, p.network' }
  }
  if (o.vlanGroup !== undefined || o.tags !== undefined) throw validationError(o.vlanGroup !== undefined ? 'vlanGroup' : 'tags', 'applies to pools only')
  if (o.pool !== undefined && o.pool !== '') {
    where.push('a.pool_id = ?')
    bindings.push((await findPoolRow(knex, o.pool, false, false)).id)
  }
  if (o.status === 'lapsed') where.push(`a.status = 'reserved' and a.reserved_until is not null and a.reserved_until <= now()`)
  else if (o.status === 'reserved') where.push(`a.status = 'reserved' and (a.reserved_until is null or a.reserved_until > now())`)
  else if (o.status) {
    if (!['allocated', 'blocked'].includes(o.status)) throw validationError('status', 'must be allocated, reserved, blocked or lapsed')
    where.push('a.status = ?')
    bindings.push(o.status)
  }
  if (q) {
    const like = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
    where.push(`(lower(coalesce(a.hostname, '')) like ? or lower(coalesce(a.owner, '')) like ? or lower(coalesce(a.purpose, '')) like ?
                 or lower(coalesce(a.description, '')) like ? or coalesce(a.mac_address::text, '') like ? or host(a.ip_address) like ?)`)
    bindings.push(like, like, like, like, like, `${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
  }
  return {
    from: 'ip_allocations a join ip_pools p on p.id = a.pool_id join ip_spaces s on s.id = a.space_id',
    where,
    bindings,
    order: 'a.ip_address, a.space_id'
  }
}

/**
 * Streams the matching rows to `out` as CSV (header first, CRLF line ends) through a cursor: two batches
 * of ~2,000 lines are in memory at most, and the server formats the next batch while this one is written.
 */
export async function exportCsv(knex: Knex, o: CsvExportOptions, out: Writable, onProgress?: (rows: number) => void): Promise<CsvExportReport> {
  if (!o || (o.kind !== 'pools' && o.kind !== 'allocations')) throw validationError('kind', 'must be pools or allocations')
  const qy = await query(knex, o)
  const custom = await customFieldNames(knex, o.kind)
  const text = new TextOut(out)
  let rows = 0
  await knex.transaction(async (trx) => {
    await trx.raw(`set transaction isolation level repeatable read`)
    await trx.raw(
      `declare ipam_csv_export no scroll cursor for select ${csvLineSql(o.kind, custom)} as line from ${qy.from}${qy.where.length ? ` where ${qy.where.join(' and ')}` : ''} order by ${qy.order}`,
      qy.bindings
    )
    const next = () => trx.raw<{ rows: { line: string }[] }>(`fetch ${BATCH} from ipam_csv_export`).then((r) => r.rows)
    await text.write(csvHeader(o.kind, custom).join(',') + '\r\n')
    let pending = next()
    try {
      for (;;) {
        const batch = await pending
        if (!batch.length) break
        pending = next()
        await text.lines(batch.map((r) => r.line), '\r\n', '', '\r\n')
        rows += batch.length
        onProgress?.(rows)
      }
    } finally {
      await pending.catch(() => undefined)
    }
    await trx.raw(`close ipam_csv_export`)
  })
  return { kind: o.kind, rows, bytes: text.bytes, sha256: text.sha256() }
}

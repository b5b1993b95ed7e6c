/**
 * Making one name's records what the allocations say, without overwriting anyone else's: the heart of both
 * the outbox handler (kind `dns`) and the drift repair.
 *
 * For a (zone, name, type) the desired RRset is computed from the allocations now (so rows applied late or
 * twice still converge), the expected RRset is what Netkeeper last wrote (dns_records). The update says:
 * prerequisite "the RRset is exactly the expected one" (or "there is none", and for an address "no CNAME"),
 * then "delete the RRset, add the desired records". If the prerequisite fails, the name is read back: when it
 * already holds the desired records the update had been applied (a retry), otherwise someone else holds the
 * name and it is a conflict: nothing is changed.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { ptrNameIn, reverseZoneInfo } from '../../../shared/dns'
import { DnsRcodeError, PREREQ_FAILED, type DnsClient } from './client'
import { emptyRr, type Rr } from './wire'

export interface ZoneRow {
  id: number
  server_id: number
  name: string
  kind: 'forward' | 'reverse4' | 'reverse6'
  network: string | null
  classless: boolean
  ttl: number
  /** The address space whose allocations a reverse zone holds PTRs for (Migration20261230100000_dns_zone_space). */
  space_id: number
}

export const ZONE_COLS = `z.id, z.server_id, z.name, z.kind, z.network::text as network, z.classless, z.ttl, z.space_id`

export type Change = { zone: string; name: string; type: string; from: string[]; to: string[]; result: 'changed' | 'unchanged' | 'already' | 'conflict'; holds?: string[] }

const norm = (v: string): string => v.toLowerCase().replace(/\.$/, '')
const sameSet = (a: string[], b: string[]): boolean => a.length === b.length && [...a].map(norm).sort().join(',') === [...b].map(norm).sort().join(',')

/** The data of a record as Netkeeper stores and compares it (names without the trailing dot, in lower case). */
export function rrText(rr: Rr): string {
  if (typeof rr.data === 'string') return norm(rr.data)
  if (rr.type === 'SOA') {
    const d = rr.data as { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
    return `${d.mname} ${d.rname} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`
  }
  if (rr.type === 'TXT') return ([] as unknown[]).concat(rr.data).map((b) => JSON.stringify(Buffer.isBuffer(b) ? b.toString('utf8') : String(b))).join(' ')
  if (Buffer.isBuffer(rr.data)) return `\\# ${rr.data.length} ${rr.data.toString('hex')}`
  return JSON.stringify(rr.data)
}

/** What the allocations say a name's A and AAAA RRsets in a forward zone should be. */
export async function desiredAddresses(q: Knex, zone: ZoneRow, name: string): Promise<{ A: string[]; AAAA: string[] }> {
  const suffix = `.${zone.name}`
  const candidates = [name, ...(name.endsWith(suffix) ? [name.slice(0, -suffix.length)] : [])]
  const r = await q.raw<{ rows: { ip: string; family: number }[] }>(
    `select host(a.ip_address) as ip, family(a.ip_address) as family from ip_allocations a join ip_pools p on p.id = a.pool_id
      where p.dns_zone_id = ? and a.dns_managed and a.status <> 'blocked' and lower(a.hostname) = any(?::text[])
        and dns_fqdn(a.hostname, ?) = ? order by a.ip_address`,
    [zone.id, candidates, zone.name, name]
  )
  return { A: r.rows.filter((x) => x.family === 4).map((x) => x.ip), AAAA: r.rows.filter((x) => x.family === 6).map((x) => x.ip) }
}




export function ptrOwner(ip: string, zone: ZoneRow): string {
  return ptrNameIn(ip, zone.name, reverseZoneInfo(zone.name)!)
}

export async function writtenSet(q: Knex, zoneId: number, name: string, type: string): Promise<string[]> {
  const r = await q.raw<{ rows: { data: string }[] }>(`select data from dns_records where zone_id = ? and name = ? and type = ? order by data`, [zoneId, name, type])
  return r.rows.map((x) => x.data)
}

export async function recordWritten(q: Knex, zoneId: number, name: string, type: string, data: string[]): Promise<void> {
  // One statement, one round trip: the records no longer sent go, the new ones come (those kept conflict and
  // stay). A cache of what the server was sent: if a crash loses it, the next update's prerequisite fails,
  // the name is read back and found right (reconcileRrset), so it need not wait for the WAL flush
  // (synchronous_commit is set for this statement's own transaction only).
  const parts = recordWrittenCtes([{ zoneId, name, type, data }])
  await q.raw(
    `with cfg as (select set_config('synchronous_commit', 'off', true) as v), ${parts.map((x, i) => `w${i} as (${x.cte})`).join(', ')} select v from cfg`,
    parts.flatMap((x) => x.bindings)
  )
}

/** What an RRset was brought to, to be recorded in dns_records (recordWritten, or with the outbox outcome). */
export interface WrittenSet {
  zoneId: number
  name: string
  type: string
  data: string[]
}

/**
 * The data-modifying statements that record what was written for some RRsets, to run inside a statement
 * of one's own (the outbox records them with the row's outcome: one round trip fewer per RRset).
 */
export function recordWrittenCtes(sets: WrittenSet[]): { cte: string; bindings: Knex.RawBinding[] }[] {
  return sets.flatMap((w) => {
    const values = w.data.map(norm)
    return [
      { cte: `delete from dns_records where zone_id = ? and name = ? and type = ? and data <> all(?::text[])`, bindings: [w.zoneId, w.name, w.type, values] },
      { cte: `insert into dns_records (zone_id, name, type, data) select ?, ?, ?, unnest(?::text[]) on conflict do nothing`, bindings: [w.zoneId, w.name, w.type, values] }
    ]
  })
}

const rr = (name: string, type: string, data: string, ttl: number): Rr => ({ name, type, class: 'IN', ttl, data })

/**
 * Brings one RRset from `expected` (what Netkeeper wrote) to `desired`. `force` replaces whatever the name
 * holds (a person's repair "the allocations win"); without it a name held by someone else is a conflict.
 */
export async function reconcileRrset(
  q: Knex,
  client: DnsClient,
  zone: ZoneRow,
  name: string,
  type: string,
  desired: string[],
  opts: { force?: boolean; expected?: string[]; deferRecord?: (w: WrittenSet) => void } = {}
): Promise<Change> {
  // What the server now holds is recorded at once, or handed to the caller to record with its own write.
  const record = (data: string[]): Promise<void> => {
    if (opts.deferRecord) {
      opts.deferRecord({ zoneId: zone.id, name, type, data })
      return Promise.resolve()
    }
    return recordWritten(q, zone.id, name, type, data)
  }
  const expected = opts.expected ?? (await writtenSet(q, zone.id, name, type))
  const base = { zone: zone.name, name, type, from: expected, to: desired }
  if (!opts.force && sameSet(expected, desired)) return { ...base, result: 'unchanged' }
  let prereqs: Rr[]
  if (opts.force) prereqs = []
  else if (expected.length) prereqs = expected.map((d) => rr(name, type, d, 0))
  else prereqs = [emptyRr(name, type, 'NONE'), ...(type === 'A' || type === 'AAAA' ? [emptyRr(name, 'CNAME', 'NONE')] : [])]
  const updates: Rr[] = [...(expected.length || opts.force ? [emptyRr(name, type, 'ANY')] : []), ...desired.map((d) => rr(name, type, d, zone.ttl))]
  try {
    await client.update(zone.name, prereqs, updates)
  } catch (e) {
    if (!(e instanceof DnsRcodeError) || !PREREQ_FAILED.has(e.rcode)) throw e
    const actual = await client.query(name, type)
    const holds = actual.answers.map(rrText)
    if (sameSet(holds, desired)) {
      await record(desired)
      return { ...base, result: 'already' }
    }
    const cname = type === 'A' || type === 'AAAA' ? (await client.query(name, 'CNAME')).answers.map((a) => `CNAME ${rrText(a)}`) : []
    return { ...base, result: 'conflict', holds: [...holds, ...cname] }
  }
  await record(desired)
  return { ...base, result: 'changed' }
}

export function describeChange(c: Change): string {
  const show = (v: string[]): string => (v.length ? v.join(', ') : 'nothing')
  if (c.result === 'conflict') {
    return `${c.name} ${c.type}: holds ${show(c.holds ?? [])}, which Netkeeper did not write (it wrote ${show(c.from)}); left as it is`
  }
  if (c.result === 'unchanged') return `${c.name} ${c.type}: already ${show(c.to)}`
  return `${c.name} ${c.type}: ${show(c.from)} → ${show(c.to)}${c.result === 'already' ? ' (was already so on the server)' : ''}`
}

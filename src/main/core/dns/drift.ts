/**
 * DNS drift: where a zone (read by a TSIG-signed AXFR) and the allocations disagree, per zone:
 * - record-without-allocation: an A/AAAA no allocation stands for (someone added it by hand, say);
 * - allocation-without-record: an allocation with DNS on whose name is missing;
 * - record-differs: the name holds other addresses than the allocations say;
 * - ptr-without-allocation / allocation-without-ptr / ptr-mismatch: the same for PTRs in reverse zones;
 * - a-ptr-disagree: an A and the PTR of its address name different hosts (neither backed by an allocation).
 * The apex and the addresses of the zone's own name servers are left out: they are the zone's, not IPAM's.
 *
 * Each line can be repaired towards the zone (the allocations win: the RRset is replaced, whoever wrote it)
 * or towards IPAM (the zone wins: an allocation is created for a stray record, DNS is switched off for an
 * allocation whose record is gone), or ignored; every repair and ignore is audited. Comparison is done in
 * maps keyed by name and type: one pass over each side, so 50,000 records take well under a second.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import type { DnsDriftItem, DnsDriftKind, DnsDriftReport } from '../../../shared/dns'
import { appendAudit } from '../audit/writer'
import { requireRole, type RequestContext } from '../context'
import type { IpamService } from '../ipam/service'
import { indexRows, type IndexRow } from './expected'
import { bigIntToIp } from '../../../shared/net'
import { describeChange, reconcileRrset, rrText, ZONE_COLS, type ZoneRow } from './reconcile'
import type { DnsServers } from './servers'

const TYPES_FORWARD = new Set(['A', 'AAAA'])

export interface RepairResult {
  id: string
  direction: 'zone' | 'ipam'
  ok: boolean
  message: string
}

export class DnsDrift {
  constructor(
    private readonly knex: Knex,
    private readonly servers: DnsServers,
    private readonly ipam: () => IpamService
  ) {}

  private async zones(zone?: string): Promise<ZoneRow[]> {
    const r = await this.knex.raw<{ rows: ZoneRow[] }>(`select ${ZONE_COLS} from dns_zones z where (?::text is null or z.name = ?) order by z.kind, z.name`, [zone ?? null, zone ?? null])
    if (zone && !r.rows.length) throw new AppError('NOT_FOUND', `zone: Netkeeper manages no zone "${zone}"`, { field: 'zone' })
    return r.rows
  }

  /** The drift of one zone or of every zone. A zone that cannot be read is reported with its error; the others go on. */
  async report(_ctx: RequestContext, opts: { zone?: string } = {}): Promise<DnsDriftReport> {
    const t0 = performance.now()
    const zones = await this.zones(opts.zone)
    const ignored = new Set((await this.knex.raw<{ rows: { id: string }[] }>(`select id from dns_drift_ignored`)).rows.map((r) => r.id))
    const out: DnsDriftReport = { zones: [], items: [], ms: 0 }
    // For the A/PTR cross-check: forward A records by address, PTRs by address.
    const aByIp = new Map<string, string>()
    const ptrByIp = new Map<string, { zone: string; name: string; data: string }>()
    const backedPtr = new Set<string>()
    for (const zone of zones) {
      let records: { name: string; type: string; data: string }[]
      let serial: number | null = null
      try {
        const server = await this.servers.byId(zone.server_id)
        const client = await this.servers.client(server, 10_000)
        const want = zone.kind === 'forward' ? TYPES_FORWARD : new Set(['PTR'])
        // Streamed: each record becomes its compact form as its message is decoded (no copy of the zone).
        const kept: { name: string; type: string; data: string }[] = []
        const servers = new Set<string>([zone.name])
        await client.axfr(zone.name, (r) => {
          if (r.type === 'SOA') serial ??= (r.data as { serial?: number }).serial ?? null
          else if (r.type === 'NS') servers.add(rrText(r))
          else if (want.has(r.type)) kept.push({ name: r.name.toLowerCase().replace(/\.$/, ''), type: r.type, data: rrText(r) })
        })
        // The zone's own name servers' addresses (glue) and the apex are the zone's, not IPAM's business.
        records = kept.filter((r) => !servers.has(r.name))
      } catch (e) {
        out.zones.push({ zone: zone.name, records: 0, serial: null, error: (e as Error).message })
        continue
      }
      out.zones.push({ zone: zone.name, records: records.length, serial })
      const expected = await indexRows(this.knex, zone)
      const have = group(records)
      const want = group(expected)
      const allocOf = new Map<string, IndexRow>()
      for (const e of expected) allocOf.set(`${e.name}|${e.type}`, e)
      const ipByName = new Map(expected.map((e) => [e.name, e.ip]))
      const reverse = zone.kind !== 'forward'
      for (const [key, inZone] of have) {
        const [name, type] = key.split('|') as [string, string]
        const exp = want.get(key)
        if (!reverse && type === 'A') for (const ip of inZone) aByIp.set(ip, name)
        if (reverse) ptrByIp.set(ipOfPtr(name, zone, ipByName) ?? name, { zone: zone.name, name, data: inZone[0]! })
        if (!exp) {
          out.items.push(item(reverse ? 'ptr-without-allocation' : 'record-without-allocation', zone, name, type, inZone, [], null, ignored))
        } else if (!same(inZone, exp)) {
          const a = allocOf.get(key)!
          out.items.push(item(reverse ? 'ptr-mismatch' : 'record-differs', zone, name, type, inZone, exp, a, ignored))
        }
        if (reverse && exp) backedPtr.add(name)
      }
      for (const [key, exp] of want) {
        if (have.has(key)) continue
        const [name, type] = key.split('|') as [string, string]
        out.items.push(item(reverse ? 'allocation-without-ptr' : 'allocation-without-record', zone, name, type, [], exp, allocOf.get(key)!, ignored))
      }
    }
    // An A and the PTR of its address that name different hosts, where no allocation backs the PTR.
    for (const [ip, p] of ptrByIp) {
      const aName = aByIp.get(ip)
      if (!aName || backedPtr.has(p.name) || aName === p.data) continue
      const zone = zones.find((z) => z.name === p.zone)!
      out.items.push({ ...item('a-ptr-disagree', zone, p.name, 'PTR', [p.data], [aName], null, ignored), toIpam: null })
    }
    out.ms = Math.round(performance.now() - t0)
    return out
  }

  /** Repairs lines (by id, or every line not ignored) towards the zone or towards IPAM; each repair audited. */
  async repair(ctx: RequestContext, opts: { zone?: string; ids?: string[]; direction: 'zone' | 'ipam' }): Promise<RepairResult[]> {
    requireRole(ctx, 'operator', 'repairing DNS drift')
    const report = await this.report(ctx, { zone: opts.zone })
    const chosen = opts.ids?.length ? report.items.filter((i) => opts.ids!.includes(i.id)) : report.items.filter((i) => !i.ignored)
    const missing = (opts.ids ?? []).filter((id) => !report.items.some((i) => i.id === id))
    if (missing.length) throw new AppError('NOT_FOUND', `id: no drift line ${missing.join(', ')} (it may have been repaired already)`, { field: 'id' })
    const results: RepairResult[] = []
    for (const it of chosen) {
      try {
        results.push(opts.direction === 'zone' ? await this.toZone(ctx, it) : await this.toIpam(ctx, it))
      } catch (e) {
        results.push({ id: it.id, direction: opts.direction, ok: false, message: (e as Error).message })
      }
    }
    return results
  }

  private async toZone(ctx: RequestContext, it: DnsDriftItem): Promise<RepairResult> {
    const zone = (await this.zones(it.zone))[0]!
    const client = await this.servers.client(await this.servers.byId(zone.server_id))
    const desired = it.expected
    const change = await reconcileRrset(this.knex, client, zone, it.name, it.type, desired, { force: true })
    const message = describeChange(change)
    await appendAudit(this.knex, ctx, {
      action: desired.length ? 'update' : 'delete',
      resourceType: 'dns_record',
      resourceName: `${it.name} ${it.type}`,
      details: { before: { data: it.inZone }, after: { data: desired }, context: { operation: 'drift-repair', direction: 'zone', drift: it.kind, zone: it.zone } }
    })
    return { id: it.id, direction: 'zone', ok: true, message }
  }

  private async toIpam(ctx: RequestContext, it: DnsDriftItem): Promise<RepairResult> {
    const ipam = this.ipam()
    if (it.kind === 'record-without-allocation') {
      // The zone wins: an allocation for each address, named after the record, in the pool that publishes in this zone.
      const done: string[] = []
      for (const ip of it.inZone) {
        const pool = (await this.knex.raw<{ rows: { name: string }[] }>(
          `select p.name from ip_pools p join dns_zones z on z.id = p.dns_zone_id where z.name = ? and p.network >> ?::inet order by masklen(p.network) desc limit 1`,
          [it.zone, ip]
        )).rows[0]
        if (!pool) throw new AppError('CONFLICT', `${ip}: no pool publishing in ${it.zone} holds this address; create one or repair towards the zone`, { field: 'ip' })
        await ipam.allocate(ctx, { pool: pool.name, ip, hostname: it.name, dnsManaged: true, description: `adopted from DNS (${it.zone})` })
        done.push(`${ip} allocated to ${it.name} in ${pool.name}`)
      }
      return { id: it.id, direction: 'ipam', ok: true, message: done.join('; ') }
    }
    if (it.kind === 'allocation-without-record' || it.kind === 'allocation-without-ptr') {
      // The zone wins: the allocation stops claiming a record.
      // In the space of the allocation's pool: the same address may be held in another space too.
      const space = (await this.knex.raw<{ rows: { space_id: number }[] }>(`select space_id from ip_pools where name = ?`, [it.allocation!.pool])).rows[0]?.space_id
      await ipam.updateAllocation(ctx, { ip: it.allocation!.ip, space, dnsManaged: false })
      return { id: it.id, direction: 'ipam', ok: true, message: `DNS switched off for ${it.allocation!.ip}` }
    }
    throw new AppError('VALIDATION', `direction: a ${it.kind} line can only be repaired towards the zone (or ignored)`, { field: 'direction' })
  }

  /** Ignores a line (or takes it back with `undo`), audited. */
  async ignore(ctx: RequestContext, id: string, undo = false): Promise<void> {
    requireRole(ctx, 'operator', 'ignoring DNS drift')
    const zoneName = String(id).split(':')[1] ?? ''
    const zone = (await this.zones(zoneName))[0]!
    await this.knex.transaction(async (trx) => {
      if (undo) await trx.raw(`delete from dns_drift_ignored where id = ?`, [id])
      else await trx.raw(`insert into dns_drift_ignored (id, zone_id, ignored_by) values (?, ?, ?) on conflict (id) do nothing`, [id, zone.id, ctx.actor])
      await appendAudit(trx, ctx, { action: 'update', resourceType: 'dns_drift', resourceName: id, details: { after: { ignored: !undo }, context: { operation: undo ? 'unignore' : 'ignore', zone: zone.name } } })
    })
  }
}

function group(rows: { name: string; type: string; data: string }[]): Map<string, string[]> {
  const m = new Map<string, string[]>()
  for (const r of rows) {
    const k = `${r.name}|${r.type}`
    const list = m.get(k)
    if (list) list.push(r.data)
    else m.set(k, [r.data])
  }
  return m
}

const same = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',')

function item(kind: DnsDriftKind | 'a-ptr-disagree', zone: ZoneRow, name: string, type: string, inZone: string[], expected: string[], a: IndexRow | null, ignored: Set<string>): DnsDriftItem {
  const id = `${kind}:${zone.name}:${name}:${type}`
  const show = (v: string[]): string => (v.length ? v.join(', ') : 'nothing')
  const toIpam =
    kind === 'record-without-allocation'
      ? `allocate ${show(inZone)} to ${name} with DNS on`
      : kind === 'allocation-without-record' || kind === 'allocation-without-ptr'
        ? `switch DNS off for ${a?.ip}`
        : null
  return {
    id,
    kind: kind as DnsDriftKind,
    zone: zone.name,
    name,
    type,
    inZone,
    expected,
    allocation: a ? { ip: a.ip, hostname: a.hostname, pool: a.pool } : null,
    toZone: expected.length ? `set ${name} ${type} to ${show(expected)}` : `delete ${name} ${type} (${show(inZone)})`,
    toIpam,
    ignored: ignored.has(id)
  }
}

/** The address a PTR owner name stands for (from the allocations where one backs it, else from the name). */
function ipOfPtr(name: string, zone: ZoneRow, ipByName: Map<string, string>): string | null {
  const known = ipByName.get(name)
  if (known) return known
  if (zone.classless) return `${zone.network!.split('/')[0]!.split('.').slice(0, 3).join('.')}.${name.split('.')[0]}`
  if (name.endsWith('.in-addr.arpa')) {
    const parts = name.slice(0, -'.in-addr.arpa'.length).split('.')
    return parts.length === 4 ? parts.reverse().join('.') : null
  }
  const nibbles = name.slice(0, -'.ip6.arpa'.length).split('.')
  if (nibbles.length !== 32) return null
  const hex = nibbles.reverse().join('')
  return bigIntToIp(BigInt(`0x${hex}`), 6)
}

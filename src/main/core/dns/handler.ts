/**
 * The outbox handler of kind `dns`: a row names the forward names and the addresses an allocation change
 * touched (written by the ip_allocations trigger, Migration20261220020000_dns); each is reconciled with what
 * the allocations say now (reconcile.ts). A conflict on one name does not stop the others; the row's outcome
 * lists every name's result. A server that is down, or refuses the key, throws: the outbox retries.
 *
 * Latency matters here (an allocation is not done for its user until its name answers), so the row's reads
 * are few and go together: the zones, reverse zones and desired PTRs of the whole row in one statement, the
 * desired addresses of each name and everything Netkeeper wrote for them side by side; then the RRsets
 * (the A in the forward zone, the PTR in the reverse zone: separate updates by RFC 2136) are brought in line
 * at the same time, each one UDP-free TCP exchange with the server and one statement recording it.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { fqdnIn } from '../../../shared/dns'
import type { HandlerOutcome, OutboxHandler, OutboxRow } from '../outbox/outbox'
import { DnsRcodeError } from './client'
import { describeChange, desiredAddresses, ptrOwner, reconcileRrset, ZONE_COLS, type Change, type ZoneRow } from './reconcile'
import type { DnsServers } from './servers'
import { TsigError } from './wire'

interface DnsPayload {
  allocationId: number
  names: { zoneId: number; name: string }[]
  ips: string[]
}

/** Answers that no retry will change: the update is malformed or names a zone the server does not serve. */
const PERMANENT = new Set(['FORMERR', 'NOTZONE', 'NOTIMP'])

/** One RRset to bring in line: where, what the allocations want, what Netkeeper wrote. */
interface Job {
  zone: ZoneRow
  name: string
  type: string
  desired: string[]
  expected: string[]
}

type ZoneCols = Omit<ZoneRow, 'id'> & { id: number | null }

export class DnsOutboxHandler implements OutboxHandler {
  constructor(
    private readonly knex: Knex,
    private readonly servers: DnsServers
  ) {}

  async apply(row: OutboxRow): Promise<HandlerOutcome> {
    const p = row.payload as unknown as DnsPayload
    const changes: Change[] = []
    const names = [...new Map((p.names ?? []).map((n) => [`${n.zoneId}|${n.name}`, n])).values()]
    const ips = [...new Set(p.ips ?? [])]
    const noReverse: string[] = []
    try {
      const [zones, reverse] = await Promise.all([this.zonesById(names.map((n) => n.zoneId)), this.reverseOf(ips)])
      // The forward names (A and AAAA) and the PTR owners, each with its zone.
      const targets: { zone: ZoneRow; name: string; types: string[]; ptrOf?: string }[] = []
      for (const n of names) {
        const zone = zones.get(n.zoneId)
        if (zone) targets.push({ zone, name: n.name, types: ['A', 'AAAA'] })
      }
      const seenPtr = new Set<string>()
      for (const ip of ips) {
        const r = reverse.get(ip)
        if (!r?.zone) {
          noReverse.push(ip)
          continue
        }
        const owner = ptrOwner(ip, r.zone)
        if (seenPtr.has(`${r.zone.id}|${owner}`)) continue
        seenPtr.add(`${r.zone.id}|${owner}`)
        targets.push({ zone: r.zone, name: owner, types: ['PTR'], ptrOf: ip })
      }
      const [written, desired] = await Promise.all([
        this.written(targets),
        Promise.all(targets.map((t) => (t.ptrOf ? Promise.resolve(null) : desiredAddresses(this.knex, t.zone, t.name))))
      ])
      const jobs: Job[] = []
      targets.forEach((t, i) => {
        for (const type of t.types) {
          const want = t.ptrOf ? reverse.get(t.ptrOf)!.ptr : (desired[i] as Record<string, string[]>)[type]!
          jobs.push({ zone: t.zone, name: t.name, type, desired: want, expected: written.get(`${t.zone.id}|${t.name}|${type}`) ?? [] })
        }
      })
      // Every RRset at once (they are independent: each computes its whole set from the allocations); the
      // first failure is thrown only after all have finished, so none is left half-recorded.
      const settled = await Promise.allSettled(jobs.map((j) => this.reconcile(j)))
      for (const s of settled) if (s.status === 'fulfilled') changes.push(s.value)
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
      if (failed) throw failed.reason
    } catch (e) {
      if (e instanceof DnsRcodeError && PERMANENT.has(e.rcode)) return { state: 'failed', message: e.message, detail: { changes } }
      throw e
    }
    for (const ip of noReverse) changes.push({ zone: '-', name: ip, type: 'PTR', from: [], to: [], result: 'unchanged' })
    const conflicts = changes.filter((c) => c.result === 'conflict')
    // Conflicts first: they are what a person has to read.
    const lines = [...conflicts, ...changes.filter((c) => c.result !== 'conflict' && c.zone !== '-' && (c.from.length || c.to.length))].map(describeChange)
    if (noReverse.length) lines.push(`no managed reverse zone holds ${noReverse.join(', ')}: no PTR written`)
    return { state: conflicts.length ? 'conflict' : 'done', message: lines.join('; ') || 'nothing to change', detail: { changes } }
  }

  private async zonesById(ids: number[]): Promise<Map<number, ZoneRow>> {
    if (!ids.length) return new Map()
    const r = await this.knex.raw<{ rows: ZoneRow[] }>(
      `select ${ZONE_COLS} from dns_zones z where z.id = any(?::int[])`,
      [[...new Set(ids)]]
    )
    return new Map(r.rows.map((z) => [z.id, z]))
  }

  /**
   * For each address, in one statement: the longest managed reverse zone that covers it, and the PTR the
   * allocations want there: the name of the allocation of the zone's address space (one per space and
   * address), in its pool's zone, when its pool publishes PTRs. An allocation of another space at the same
   * address never touches this PTR.
   */
  private async reverseOf(ips: string[]): Promise<Map<string, { zone: ZoneRow | null; ptr: string[] }>> {
    if (!ips.length) return new Map()
    const r = await this.knex.raw<{ rows: (ZoneCols & { ip: string; hostname: string | null; pzone: string | null })[] }>(
      `select i.ip, z.id, z.server_id, z.name, z.kind, z.network, z.classless, z.ttl, z.space_id, w.hostname, w.pzone
         from unnest(?::text[]) as i(ip)
         left join lateral (select ${ZONE_COLS} from dns_zones z
                             where z.network >>= i.ip::inet order by masklen(z.network) desc limit 1) z on true
         left join lateral (select a.hostname, pz.name as pzone from ip_allocations a join ip_pools p on p.id = a.pool_id left join dns_zones pz on pz.id = p.dns_zone_id
                             where a.ip_address = i.ip::inet and p.space_id = z.space_id and a.dns_managed and a.status <> 'blocked' and a.hostname is not null and p.dns_ptr
                             limit 1) w on true`,
      [ips]
    )
    const out = new Map<string, { zone: ZoneRow | null; ptr: string[] }>()
    for (const x of r.rows) {
      const zone = x.id === null ? null : { id: x.id, server_id: x.server_id, name: x.name, kind: x.kind, network: x.network, classless: x.classless, ttl: x.ttl, space_id: x.space_id }
      const ptr = x.hostname ? [x.pzone ? fqdnIn(x.hostname, x.pzone) : x.hostname.toLowerCase().replace(/\.$/, '')] : []
      out.set(x.ip, { zone, ptr })
    }
    return out
  }

  /** What Netkeeper last wrote for every (zone, name), keyed `zone|name|type`. */
  private async written(targets: { zone: ZoneRow; name: string }[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>()
    if (!targets.length) return out
    const r = await this.knex.raw<{ rows: { zone_id: number; name: string; type: string; data: string }[] }>(
      `select r.zone_id, r.name, r.type, r.data from dns_records r join unnest(?::int[], ?::text[]) as t(zone_id, name) on t.zone_id = r.zone_id and t.name = r.name order by r.data`,
      [targets.map((t) => t.zone.id), targets.map((t) => t.name)]
    )
    for (const x of r.rows) {
      const k = `${x.zone_id}|${x.name}|${x.type}`
      const list = out.get(k)
      if (list) list.push(x.data)
      else out.set(k, [x.data])
    }
    return out
  }

  private async reconcile(j: Job): Promise<Change> {
    // Nothing written and nothing wanted: no need to reach the server.
    if (!j.expected.length && !j.desired.length) return { zone: j.zone.name, name: j.name, type: j.type, from: [], to: [], result: 'unchanged' }
    const server = await this.servers.byId(j.zone.server_id)
    let client
    try {
      client = await this.servers.client(server)
      return await reconcileRrset(this.knex, client, j.zone, j.name, j.type, j.desired, { expected: j.expected })
    } catch (e) {
      if (e instanceof DnsRcodeError) throw e
      const hint = e instanceof TsigError ? ` (is the secret right? netkeeper dns server set-secret ${server.name})` : ''
      throw new Error(`DNS server ${server.name} (${server.address} port ${server.port}): ${(e as Error).message}${hint}`)
    }
  }
}

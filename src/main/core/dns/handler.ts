/**
 * The outbox handler of kind `dns`: a row names the forward names and the addresses an allocation change
 * touched (written by the ip_allocations trigger, Migration20261220020000_dns); each is reconciled with what
 * the allocations say now (reconcile.ts). A conflict on one name does not stop the others; the row's outcome
 * lists every name's result. A server that is down, or refuses the key, throws: the outbox retries.
 *
 * Latency matters here (an allocation is not done for its user until its name answers), so the row's reads
 * take one round trip: two statements side by side, one for the forward names (zone, the addresses the
 * allocations want, what Netkeeper wrote) and one for the addresses (reverse zone, the PTR wanted, what
 * Netkeeper wrote); then the RRsets (the A in the forward zone, the PTR in the reverse zone: one zone per
 * UPDATE by RFC 2136, so two messages) are sent to the server at the same time, one UDP exchange each;
 * what they were brought to (dns_records) is recorded in the same statement as the row's outcome and its
 * audit row (HandlerOutcome.also), or at once when the row is to be retried.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { fqdnIn, reverseName } from '../../../shared/dns'
import type { ApplyContext, HandlerOutcome, OutboxHandler, OutboxRow } from '../outbox/outbox'
import { DnsRcodeError } from './client'
import { describeChange, ptrOwner, reconcileRrset, recordWritten, recordWrittenCtes, ZONE_COLS, type Change, type WrittenSet, type ZoneRow } from './reconcile'
import type { DnsServers, ServerRow } from './servers'
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
  server: ServerRow
  name: string
  type: string
  desired: string[]
  expected: string[]
}

type ZoneCols = Omit<ZoneRow, 'id'> & { id: number | null }

/** A zone's server row read with it (one round trip fewer than reading it apart). */
const SERVER_JSON = `case when s.id is null then null else json_build_object('id', s.id, 'name', s.name, 'address', host(s.address), 'port', s.port,
  'key_name', s.key_name, 'algorithm', s.algorithm, 'created_at', s.created_at, 'zones', 0) end as server`

export class DnsOutboxHandler implements OutboxHandler {
  /** The reads below overlap the row's durability wait; nothing is sent before it (apply). */
  readonly readsFirst = true

  constructor(
    private readonly knex: Knex,
    private readonly servers: DnsServers
  ) {}

  async apply(row: OutboxRow, ctx: ApplyContext): Promise<HandlerOutcome> {
    const p = row.payload as unknown as DnsPayload
    const changes: Change[] = []
    // What the server was brought to, recorded with the row's outcome (one statement, see Outbox.applyOne).
    const written: WrittenSet[] = []
    const names = [...new Map((p.names ?? []).map((n) => [`${n.zoneId}|${n.name}`, n])).values()]
    const ips = [...new Set(p.ips ?? [])]
    const noReverse: string[] = []
    try {
      // Every read in one round trip: the forward names (zone, desired addresses, what Netkeeper wrote) and
      // the addresses (reverse zone, desired PTR, what Netkeeper wrote) side by side.
      const [forward, reverse] = await Promise.all([this.forwardOf(names), this.reverseOf(ips)])
      // The name server hears of the change only once it is durable (the reads above overlapped that wait).
      await ctx.durable()
      const jobs: Job[] = []
      for (const f of forward) {
        for (const type of ['A', 'AAAA'] as const) jobs.push({ zone: f.zone, server: f.server, name: f.name, type, desired: f.desired[type], expected: f.written[type] })
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
        jobs.push({ zone: r.zone, server: r.server!, name: owner, type: 'PTR', desired: r.ptr, expected: r.written })
      }
      // Every RRset at once (they are independent: each computes its whole set from the allocations); the
      // first failure is thrown only after all have finished, so none is left half-recorded.
      const settled = await Promise.allSettled(jobs.map((j) => this.reconcile(j, written)))
      for (const s of settled) if (s.status === 'fulfilled') changes.push(s.value)
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
      if (failed) throw failed.reason
    } catch (e) {
      if (e instanceof DnsRcodeError && PERMANENT.has(e.rcode)) return { state: 'failed', message: e.message, detail: { changes }, also: recordWrittenCtes(written) }
      // The row is retried: what did reach the server is recorded now, so the retry's prerequisites say what
      // Netkeeper wrote (a name it wrote must never look like someone else's).
      await Promise.all(written.map((w) => recordWritten(this.knex, w.zoneId, w.name, w.type, w.data))).catch(() => undefined)
      throw e
    }
    for (const ip of noReverse) changes.push({ zone: '-', name: ip, type: 'PTR', from: [], to: [], result: 'unchanged' })
    const conflicts = changes.filter((c) => c.result === 'conflict')
    // Conflicts first: they are what a person has to read.
    const lines = [...conflicts, ...changes.filter((c) => c.result !== 'conflict' && c.zone !== '-' && (c.from.length || c.to.length))].map(describeChange)
    if (noReverse.length) lines.push(`no managed reverse zone holds ${noReverse.join(', ')}: no PTR written`)
    return { state: conflicts.length ? 'conflict' : 'done', message: lines.join('; ') || 'nothing to change', detail: { changes }, also: recordWrittenCtes(written) }
  }

  /**
   * For each forward name, in one statement: its zone, the addresses the allocations want there (the
   * allocations of the zone's pools whose fully qualified name it is; as desiredAddresses, reconcile.ts) and
   * the A and AAAA records Netkeeper last wrote for it.
   */
  private async forwardOf(names: { zoneId: number; name: string }[]): Promise<{ zone: ZoneRow; server: ServerRow; name: string; desired: Record<'A' | 'AAAA', string[]>; written: Record<'A' | 'AAAA', string[]> }[]> {
    if (!names.length) return []
    const r = await this.knex.raw<{ rows: (ZoneRow & { server: ServerRow; tname: string; a: string[]; aaaa: string[]; wa: string[]; waaaa: string[] })[] }>(
      `select ${ZONE_COLS}, t.name as tname, ${SERVER_JSON},
              coalesce(d.a, '{}') as a, coalesce(d.aaaa, '{}') as aaaa, coalesce(w.a, '{}') as wa, coalesce(w.aaaa, '{}') as waaaa
         from unnest(?::int[], ?::text[]) as t(zone_id, name)
         join dns_zones z on z.id = t.zone_id
         join dns_servers s on s.id = z.server_id
         left join lateral (
           select array_agg(host(a.ip_address) order by a.ip_address) filter (where family(a.ip_address) = 4) as a,
                  array_agg(host(a.ip_address) order by a.ip_address) filter (where family(a.ip_address) = 6) as aaaa
             from ip_allocations a join ip_pools p on p.id = a.pool_id
            where p.dns_zone_id = z.id and a.dns_managed and a.status <> 'blocked'
              and lower(a.hostname) = any(array[t.name, case when right(t.name, length(z.name) + 1) = '.' || z.name then left(t.name, length(t.name) - length(z.name) - 1) end])
              and dns_fqdn(a.hostname, z.name) = t.name) d on true
         left join lateral (
           select array_agg(r.data order by r.data) filter (where r.type = 'A') as a,
                  array_agg(r.data order by r.data) filter (where r.type = 'AAAA') as aaaa
             from dns_records r where r.zone_id = z.id and r.name = t.name) w on true`,
      [names.map((n) => n.zoneId), names.map((n) => n.name)]
    )
    return r.rows.map((x) => ({
      zone: { id: x.id, server_id: x.server_id, name: x.name, kind: x.kind, network: x.network, classless: x.classless, ttl: x.ttl, space_id: x.space_id },
      server: x.server,
      name: x.tname,
      desired: { A: x.a, AAAA: x.aaaa },
      written: { A: x.wa, AAAA: x.waaaa }
    }))
  }

  /**
   * For each address, in one statement: the longest managed reverse zone that covers it, and the PTR the
   * allocations want there: the name of the allocation of the zone's address space (one per space and
   * address), in its pool's zone, when its pool publishes PTRs. An allocation of another space at the same
   * address never touches this PTR.
   */
  private async reverseOf(ips: string[]): Promise<Map<string, { zone: ZoneRow | null; server: ServerRow | null; ptr: string[]; written: string[] }>> {
    if (!ips.length) return new Map()
    const r = await this.knex.raw<{ rows: (ZoneCols & { ip: string; hostname: string | null; pzone: string | null; written: string[] | null; server: ServerRow | null })[] }>(
      `select i.ip, z.id, z.server_id, z.name, z.kind, z.network, z.classless, z.ttl, z.space_id, w.hostname, w.pzone, ${SERVER_JSON},
              (select array_agg(r.data order by r.data) from dns_records r
                where r.zone_id = z.id and r.type = 'PTR' and r.name = case when z.classless then split_part(i.ip, '.', 4) || '.' || z.name else i.rname end) as written
         from unnest(?::text[], ?::text[]) as i(ip, rname)
         left join lateral (select ${ZONE_COLS} from dns_zones z
                             where z.network >>= i.ip::inet order by masklen(z.network) desc limit 1) z on true
         left join dns_servers s on s.id = z.server_id
         left join lateral (select a.hostname, pz.name as pzone from ip_allocations a join ip_pools p on p.id = a.pool_id left join dns_zones pz on pz.id = p.dns_zone_id
                             where a.ip_address = i.ip::inet and p.space_id = z.space_id and a.dns_managed and a.status <> 'blocked' and a.hostname is not null and p.dns_ptr
                             limit 1) w on true`,
      [ips, ips.map((ip) => reverseName(ip))]
    )
    const out = new Map<string, { zone: ZoneRow | null; server: ServerRow | null; ptr: string[]; written: string[] }>()
    for (const x of r.rows) {
      const zone = x.id === null ? null : { id: x.id, server_id: x.server_id, name: x.name, kind: x.kind, network: x.network, classless: x.classless, ttl: x.ttl, space_id: x.space_id }
      const ptr = x.hostname ? [x.pzone ? fqdnIn(x.hostname, x.pzone) : x.hostname.toLowerCase().replace(/\.$/, '')] : []
      out.set(x.ip, { zone, server: x.server, ptr, written: x.written ?? [] })
    }
    return out
  }

  private async reconcile(j: Job, written: WrittenSet[]): Promise<Change> {
    // Nothing written and nothing wanted: no need to reach the server.
    if (!j.expected.length && !j.desired.length) return { zone: j.zone.name, name: j.name, type: j.type, from: [], to: [], result: 'unchanged' }
    const server = j.server
    try {
      const used = await this.servers.secretOf(server)
      try {
        return await reconcileRrset(this.knex, this.servers.clientWith(server, used), j.zone, j.name, j.type, j.desired, { expected: j.expected, deferRecord: (w) => written.push(w) })
      } catch (e) {
        // A refused key: the secret may have come from the cache and been changed by another program on this
        // desktop since. Once more if the keychain now holds another one. Each job of a row compares with the
        // secret it used itself, so the A and the PTR sent side by side both get their second try.
        if (!(e instanceof TsigError)) throw e
        const now = await this.servers.rereadSecret(server)
        if (now === used) throw e
        return await reconcileRrset(this.knex, this.servers.clientWith(server, now), j.zone, j.name, j.type, j.desired, { expected: j.expected, deferRecord: (w) => written.push(w) })
      }
    } catch (e) {
      if (e instanceof DnsRcodeError) throw e
      const hint = e instanceof TsigError ? ` (is the secret right? netkeeper dns server set-secret ${server.name})` : ''
      throw new Error(`DNS server ${server.name} (${server.address} port ${server.port}): ${(e as Error).message}${hint}`)
    }
  }
}

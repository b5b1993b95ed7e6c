/**
 * The outbox handler of kind `dns`: a row names the forward names and the addresses an allocation change
 * touched (written by the ip_allocations trigger, Migration20261220020000_dns); each is reconciled with what
 * the allocations say now (reconcile.ts). A conflict on one name does not stop the others; the row's outcome
 * lists every name's result. A server that is down, or refuses the key, throws: the outbox retries.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { HandlerOutcome, OutboxHandler, OutboxRow } from '../outbox/outbox'
import { DnsRcodeError } from './client'
import { describeChange, desiredAddresses, writtenSets, desiredPtr, ptrOwner, reconcileRrset, reverseZoneOf, ZONE_COLS, type Change, type ZoneRow } from './reconcile'
import type { DnsServers } from './servers'
import { TsigError } from './wire'

interface DnsPayload {
  allocationId: number
  names: { zoneId: number; name: string }[]
  ips: string[]
}

/** Answers that no retry will change: the update is malformed or names a zone the server does not serve. */
const PERMANENT = new Set(['FORMERR', 'NOTZONE', 'NOTIMP'])

export class DnsOutboxHandler implements OutboxHandler {
  constructor(
    private readonly knex: Knex,
    private readonly servers: DnsServers
  ) {}

  async apply(row: OutboxRow): Promise<HandlerOutcome> {
    const p = row.payload as unknown as DnsPayload
    const changes: Change[] = []
    const seen = new Set<string>()
    try {
      for (const n of p.names ?? []) {
        const zone = (await this.knex.raw<{ rows: ZoneRow[] }>(`select ${ZONE_COLS} from dns_zones z where z.id = ?`, [n.zoneId])).rows[0]
        if (!zone) continue
        if (seen.has(`${zone.id}|${n.name}`)) continue
        seen.add(`${zone.id}|${n.name}`)
        // Both families in one read each: what the allocations say, and what Netkeeper wrote.
        const [desired, written] = await Promise.all([desiredAddresses(this.knex, zone, n.name), writtenSets(this.knex, zone.id, n.name, ['A', 'AAAA'])])
        for (const type of ['A', 'AAAA'] as const) {
          changes.push(await this.reconcile(zone, n.name, type, desired[type], written[type]))
        }
      }
      for (const ip of p.ips ?? []) {
        const zone = await reverseZoneOf(this.knex, ip)
        if (!zone) {
          changes.push({ zone: '-', name: ip, type: 'PTR', from: [], to: [], result: 'unchanged' })
          continue
        }
        const owner = ptrOwner(ip, zone)
        if (seen.has(`${zone.id}|${owner}|PTR`)) continue
        seen.add(`${zone.id}|${owner}|PTR`)
        changes.push(await this.reconcile(zone, owner, 'PTR', await desiredPtr(this.knex, ip)))
      }
    } catch (e) {
      if (e instanceof DnsRcodeError && PERMANENT.has(e.rcode)) return { state: 'failed', message: e.message, detail: { changes } }
      throw e
    }
    const conflicts = changes.filter((c) => c.result === 'conflict')
    const noReverse = (p.ips ?? []).filter((ip) => changes.some((c) => c.zone === '-' && c.name === ip))
    // Conflicts first: they are what a person has to read.
    const lines = [...conflicts, ...changes.filter((c) => c.result !== 'conflict' && c.zone !== '-' && (c.from.length || c.to.length))].map(describeChange)
    if (noReverse.length) lines.push(`no managed reverse zone holds ${noReverse.join(', ')}: no PTR written`)
    return { state: conflicts.length ? 'conflict' : 'done', message: lines.join('; ') || 'nothing to change', detail: { changes } }
  }

  private async reconcile(zone: ZoneRow, name: string, type: string, desired: string[], expected?: string[]): Promise<Change> {
    // Nothing written and nothing wanted: no need to reach the server.
    if (expected && !expected.length && !desired.length) return { zone: zone.name, name, type, from: [], to: [], result: 'unchanged' }
    const server = await this.servers.byId(zone.server_id)
    let client
    try {
      client = await this.servers.client(server)
      return await reconcileRrset(this.knex, client, zone, name, type, desired, { expected })
    } catch (e) {
      if (e instanceof DnsRcodeError) throw e
      const hint = e instanceof TsigError ? ` (is the secret right? netkeeper dns server set-secret ${server.name})` : ''
      throw new Error(`DNS server ${server.name} (${server.address} port ${server.port}): ${(e as Error).message}${hint}`)
    }
  }
}

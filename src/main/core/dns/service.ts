/**
 * DNS: the name servers and zones Netkeeper manages, which zone a pool publishes in, the zone's records,
 * and the outbox handler that makes records follow allocations (handler.ts). Every configuration change is
 * validate -> authorize -> one transaction {change + audit row}; a secret goes to the keychain, never to the
 * database or the log.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import {
  dnsServerAddSchema,
  dnsZoneAddSchema,
  fqdnIn,
  normalizeDnsName,
  poolDnsSchema,
  reverseZoneFor,
  reverseZoneInfo,
  type DnsRecordDto,
  type DnsServerAddInput,
  type DnsServerDto,
  type DnsServerTest,
  type DnsZoneAddInput,
  type DnsZoneDto,
  type PoolDnsDto,
  type PoolDnsInput
} from '../../../shared/dns'
import type { Page } from '../../../shared/ipam'
import { parseIp, parseCidr } from '../../../shared/net'
import { appendAudit, type AuditEntry } from '../audit/writer'
import { requireRole, type RequestContext } from '../context'
import type { SecretStore } from '../credentials/keychain'
import { authorize, mutate } from '../ipam/mutation'
import { allocationIdOf, findPoolRow, parse } from '../ipam/rows'
import { DnsRcodeError } from './client'
import { DnsDrift } from './drift'
import type { IpamService } from '../ipam/service'
import { rrText, ZONE_COLS, type ZoneRow } from './reconcile'
import { allocationIndex } from './expected'
import { DnsServers, toServerDto, SERVER_COLS, type ServerRow } from './servers'
import type { Rr } from './wire'

interface ZoneListRow extends ZoneRow {
  server: string
  space: string
  pools: string[] | null
}

function toZoneDto(r: ZoneListRow): DnsZoneDto {
  return { id: r.id, server: r.server, name: r.name, kind: r.kind, network: r.network, classless: r.classless, ttl: r.ttl, space: r.space, pools: r.pools ?? [] }
}


/** Allocations per outbox row when a pool's existing allocations are published (one batch, one request id). */
const PUBLISH_CHUNK = 100

export class DnsService {
  readonly servers: DnsServers
  /** Where zones and allocations disagree, repaired either way or ignored (drift.ts). */
  readonly drift: DnsDrift

  constructor(
    private readonly knex: Knex,
    secrets: SecretStore,
    ipam: () => IpamService
  ) {
    this.servers = new DnsServers(knex, secrets)
    this.drift = new DnsDrift(knex, this.servers, ipam)
  }

  // ---------------------------------------------------------------- servers

  async addServer(ctx: RequestContext, input: DnsServerAddInput): Promise<DnsServerDto> {
    const raw = (input ?? {}) as Partial<DnsServerAddInput>
    const entry: AuditEntry = { action: 'create', resourceType: 'dns_server', resourceName: raw.name ?? null, details: { after: { ...raw, secret: undefined } } }
    await authorize(this.knex, ctx, 'admin', 'adding a DNS server', entry)
    const v = parse(dnsServerAddSchema, input)
    const address = parseIp(v.address, 'address').text
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(v.secret) || Buffer.from(v.secret, 'base64').length < 16) {
      throw validationError('secret', 'is not a base64 TSIG secret of at least 16 bytes (as tsig-keygen prints it)')
    }
    const row = await mutate(this.knex, ctx, entry, async (trx) => {
      const ins = await trx.raw<{ rows: { id: number }[] }>(
        `insert into dns_servers (name, address, port, key_name, algorithm, created_by) values (?, ?::inet, ?, ?, ?, ?) returning id`,
        [v.name, address, v.port, v.keyName, v.algorithm, ctx.actor]
      )
      const r = (await trx.raw<{ rows: ServerRow[] }>(`select ${SERVER_COLS} from dns_servers s where s.id = ?`, [ins.rows[0]!.id])).rows[0]!
      await appendAudit(trx, ctx, { action: 'create', resourceType: 'dns_server', resourceId: r.id, resourceName: r.name, details: { after: { address, port: v.port, keyName: v.keyName, algorithm: v.algorithm } } })
      return r
    })
    await this.servers.saveSecret(row, v.secret)
    return toServerDto(row)
  }

  /** Replaces a server's TSIG secret in the keychain (audited, without the secret). Pending updates then go out. */
  async setSecret(ctx: RequestContext, name: string, secret: string): Promise<DnsServerDto> {
    const entry: AuditEntry = { action: 'update', resourceType: 'dns_server', resourceName: name, details: { context: { operation: 'set-secret' } } }
    await authorize(this.knex, ctx, 'admin', "changing a DNS server's TSIG secret", entry)
    const s = String(secret ?? '').trim()
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s) || Buffer.from(s, 'base64').length < 16) throw validationError('secret', 'is not a base64 TSIG secret of at least 16 bytes')
    const row = await this.servers.byName(this.knex, name)
    await this.servers.saveSecret(row, s)
    await appendAudit(this.knex, ctx, { ...entry, resourceId: row.id, resourceName: row.name })
    // Rows that waited on the wrong secret are due now.
    await this.knex.raw(`update outbox set next_attempt_at = now() where state = 'pending' and kind = 'dns' and target = ?`, [`dns:${row.id}`])
    return toServerDto(row)
  }

  async listServers(): Promise<DnsServerDto[]> {
    const r = await this.knex.raw<{ rows: ServerRow[] }>(`select ${SERVER_COLS} from dns_servers s order by s.name`)
    return r.rows.map(toServerDto)
  }

  async removeServer(ctx: RequestContext, name: string): Promise<DnsServerDto> {
    const entry: AuditEntry = { action: 'delete', resourceType: 'dns_server', resourceName: name }
    await authorize(this.knex, ctx, 'admin', 'removing a DNS server', entry)
    const row = await mutate(this.knex, ctx, entry, async (trx) => {
      const r = await this.servers.byName(trx, name, 'name')
      if (r.zones) throw new AppError('CONFLICT', `name: DNS server "${r.name}" still has ${r.zones} zone(s); remove them first`, { field: 'name' })
      await trx.raw(`delete from dns_servers where id = ?`, [r.id])
      await appendAudit(trx, ctx, { ...entry, resourceId: r.id, details: { before: { address: r.address, port: r.port, keyName: r.key_name } } })
      return r
    })
    await this.servers.secrets.delete(`dns:${row.name}`).catch(() => false)
    return toServerDto(row)
  }

  /** Reaches the server with its key: each zone's SOA (signed) and whether the key may update it. */
  async testServer(ctx: RequestContext, name: string): Promise<DnsServerTest> {
    // It signs with the server's secret: set-up work, an admin's.
    requireRole(ctx, 'admin', 'testing a DNS server')
    const t0 = performance.now()
    const row = await this.servers.byName(this.knex, name)
    const zones = (await this.knex.raw<{ rows: { name: string }[] }>(`select name from dns_zones where server_id = ? order by name`, [row.id])).rows
    const out: DnsServerTest = { server: row.name, ok: true, zones: [], ms: 0 }
    try {
      const client = await this.servers.client(row)
      for (const z of zones) {
        try {
          const serial = await client.soa(z.name)
          const updates = await client.canUpdate(z.name)
          out.zones.push({ zone: z.name, ok: updates, serial, updates, ...(updates ? {} : { error: 'the key may not update this zone (REFUSED)' }) })
        } catch (e) {
          out.zones.push({ zone: z.name, ok: false, error: (e as Error).message })
        }
      }
      if (!zones.length) await client.soa('.').catch((e: unknown) => {
        // No zone yet: any signed answer proves the key; a refused root is fine, a refused key is not.
        if (!(e instanceof DnsRcodeError)) throw e
      })
    } catch (e) {
      out.error = (e as Error).message
    }
    out.ok = !out.error && out.zones.every((z) => z.ok)
    out.ms = Math.round(performance.now() - t0)
    return out
  }

  // ---------------------------------------------------------------- zones

  async addZone(ctx: RequestContext, input: DnsZoneAddInput): Promise<DnsZoneDto> {
    const raw = (input ?? {}) as Partial<DnsZoneAddInput>
    const entry: AuditEntry = { action: 'create', resourceType: 'dns_zone', resourceName: raw.name ?? null, details: { after: { ...raw } } }
    await authorize(this.knex, ctx, 'admin', 'adding a DNS zone', entry)
    const v = parse(dnsZoneAddSchema, input)
    const info = reverseZoneInfo(v.name, 'name')
    const server = await this.servers.byName(this.knex, v.server)
    // The address space whose allocations a reverse zone holds PTRs for: the default space unless named.
    const space = (await this.knex.raw<{ rows: { id: number; name: string }[] }>(
      `select id, name from ip_spaces where ${typeof v.space === 'number' ? 'id = ?' : v.space === undefined ? 'is_default and ?::text is null' : 'name = ?'}`,
      [v.space ?? null]
    )).rows[0]
    if (!space) throw new AppError('NOT_FOUND', `space: no address space "${v.space}" (netkeeper space list)`, { field: 'space' })
    if (!v.noCheck) {
      // A zone the server does not serve, or will not let the key update, is refused now, not at the first allocation.
      let client
      try {
        client = await this.servers.client(server)
        await client.soa(v.name)
      } catch (e) {
        throw new AppError('VALIDATION', `name: ${server.name} (${server.address} port ${server.port}) refuses zone ${v.name}: ${(e as Error).message.replace(`${v.name}: `, '')}`, { field: 'name' })
      }
      if (!(await client.canUpdate(v.name))) throw new AppError('VALIDATION', `name: ${server.name} does not let key "${server.key_name}" update zone ${v.name} (REFUSED)`, { field: 'name' })
    }
    return mutate(this.knex, ctx, entry, async (trx) => {
      const ins = await trx.raw<{ rows: { id: number }[] }>(
        `insert into dns_zones (server_id, name, kind, network, classless, ttl, space_id, created_by) values (?, ?, ?, ?::cidr, ?, ?, ?, ?) returning id`,
        [server.id, v.name, info ? info.kind : 'forward', info?.network ?? null, info?.classless ?? false, v.ttl, space.id, ctx.actor]
      )
      const id = ins.rows[0]!.id
      await appendAudit(trx, ctx, {
        action: 'create',
        resourceType: 'dns_zone',
        resourceId: id,
        resourceName: v.name,
        details: { after: { server: server.name, kind: info ? info.kind : 'forward', network: info?.network ?? null, classless: info?.classless ?? false, ttl: v.ttl, space: space.name } }
      })
      return (await this.zonesWhere(trx, 'z.id = ?', [id]))[0]!
    })
  }

  private async zonesWhere(q: Knex | Knex.Transaction, where: string, params: unknown[]): Promise<DnsZoneDto[]> {
    const r = await q.raw<{ rows: ZoneListRow[] }>(
      `select ${ZONE_COLS}, s.name as server, sp.name as space,
              array(select p.name from ip_pools p where p.dns_zone_id = z.id or (p.dns_ptr and z.network is not null and z.network && p.network and p.space_id = z.space_id) order by p.name) as pools
         from dns_zones z join dns_servers s on s.id = z.server_id join ip_spaces sp on sp.id = z.space_id where ${where} order by z.kind, z.name`,
      params as Knex.RawBinding[]
    )
    return r.rows.map(toZoneDto)
  }

  listZones(opts: { server?: string } = {}): Promise<DnsZoneDto[]> {
    return opts.server ? this.zonesWhere(this.knex, 's.name = ?', [opts.server]) : this.zonesWhere(this.knex, 'true', [])
  }

  async zoneRow(q: Knex | Knex.Transaction, name: string, field = 'zone'): Promise<ZoneRow> {
    const n = normalizeDnsName(name, field)
    const r = await q.raw<{ rows: ZoneRow[] }>(`select ${ZONE_COLS} from dns_zones z where z.name = ?`, [n])
    if (!r.rows[0]) throw new AppError('NOT_FOUND', `${field}: Netkeeper manages no zone "${n}" (netkeeper dns zone list)`, { field })
    return r.rows[0]
  }

  async removeZone(ctx: RequestContext, name: string): Promise<DnsZoneDto> {
    const entry: AuditEntry = { action: 'delete', resourceType: 'dns_zone', resourceName: name }
    await authorize(this.knex, ctx, 'admin', 'removing a DNS zone', entry)
    return mutate(this.knex, ctx, entry, async (trx) => {
      const z = await this.zoneRow(trx, name, 'name')
      const dto = (await this.zonesWhere(trx, 'z.id = ?', [z.id]))[0]!
      // Pools stop publishing in it (their zone is cleared); the records on the server stay as they are.
      await trx.raw(`delete from dns_zones where id = ?`, [z.id])
      await appendAudit(trx, ctx, { ...entry, resourceId: z.id, details: { before: { server: dto.server, kind: dto.kind, network: dto.network, pools: dto.pools } } })
      return dto
    })
  }

  // ---------------------------------------------------------------- pools

  /**
   * Which forward zone a pool's names go in, and whether its addresses get PTRs (admin, audited). With
   * `publish`, the pool's existing allocations (DNS on, with a host name) follow in the same transaction: one
   * outbox batch under this change's request id (rows of PUBLISH_CHUNK allocations, applied in order on the
   * server's target) names them in the old zone and the new, and their addresses for the PTRs, so the
   * handler writes the new records and removes what Netkeeper wrote in the old zone.
   */
  async setPoolDns(ctx: RequestContext, input: PoolDnsInput): Promise<PoolDnsDto> {
    const raw = (input ?? {}) as Partial<PoolDnsInput>
    const entry: AuditEntry = { action: 'update', resourceType: 'ip_pool', resourceName: raw.pool === undefined ? null : String(raw.pool), details: { after: { ...raw }, context: { operation: 'dns' } } }
    await authorize(this.knex, ctx, 'admin', "changing a pool's DNS settings", entry)
    const v = parse(poolDnsSchema, input)
    const published = await mutate(this.knex, ctx, entry, async (trx) => {
      const pool = await findPoolRow(trx, v.pool, true)
      const cur = (await trx.raw<{ rows: { dns_zone_id: number | null; dns_ptr: boolean; zone: string | null; server_id: number | null }[] }>(
        `select p.dns_zone_id, p.dns_ptr, z.name as zone, z.server_id from ip_pools p left join dns_zones z on z.id = p.dns_zone_id where p.id = ?`,
        [pool.id]
      )).rows[0]!
      let zoneId = cur.dns_zone_id
      let zoneName = cur.zone
      let serverId = cur.server_id
      if (v.zone !== undefined) {
        if (v.zone === null || v.zone === '') {
          zoneId = null
          zoneName = null
          serverId = null
        } else {
          const z = await this.zoneRow(trx, v.zone)
          if (z.kind !== 'forward') throw validationError('zone', `${z.name} is a reverse zone; a pool's names go in a forward zone (PTRs find their reverse zone by address)`)
          zoneId = z.id
          zoneName = z.name
          serverId = z.server_id
        }
      }
      const ptr = v.ptr ?? cur.dns_ptr
      if (zoneId === cur.dns_zone_id && ptr === cur.dns_ptr) return undefined
      await trx.raw(`update ip_pools set dns_zone_id = ?, dns_ptr = ?, updated_at = now() where id = ?`, [zoneId, ptr, pool.id])
      let queued: { allocations: number; rows: number } | undefined
      if (v.publish) {
        queued = await this.queuePoolPublish(trx, ctx, pool.id, {
          zones: [cur.dns_zone_id, zoneId].filter((x): x is number => x !== null),
          ptr: ptr || cur.dns_ptr,
          serverId: serverId ?? cur.server_id
        })
      }
      await appendAudit(trx, ctx, {
        action: 'update',
        resourceType: 'ip_pool',
        resourceId: pool.id,
        resourceName: pool.name,
        details: {
          before: { dnsZone: cur.zone, dnsPtr: cur.dns_ptr },
          after: { dnsZone: zoneName, dnsPtr: ptr },
          context: { operation: 'dns', ...(queued ? { published: queued.allocations, outboxRows: queued.rows } : {}) }
        }
      })
      return queued
    })
    const dto = await this.poolDns(v.pool)
    return published ? { ...dto, published } : dto
  }

  /**
   * Queues the DNS side of a pool's existing allocations after its settings changed: their names in each of
   * `zones` (the old and the new: the handler computes each RRset from the allocations now, so the old zone's
   * records go and the new zone's come), and their addresses when PTRs were or are on.
   */
  private async queuePoolPublish(trx: Knex.Transaction, ctx: RequestContext, poolId: number, o: { zones: number[]; ptr: boolean; serverId: number | null }): Promise<{ allocations: number; rows: number }> {
    const allocs = (await trx.raw<{ rows: { id: number; ip: string; hostname: string }[] }>(
      `select a.id, host(a.ip_address) as ip, a.hostname from ip_allocations a
        where a.pool_id = ? and a.dns_managed and a.hostname is not null and a.status <> 'blocked' order by a.ip_address`,
      [poolId]
    )).rows
    if (!allocs.length) return { allocations: 0, rows: 0 }
    const zones = o.zones.length
      ? (await trx.raw<{ rows: { id: number; name: string; server_id: number }[] }>(`select id, name, server_id from dns_zones where id = any(?::int[])`, [o.zones])).rows
      : []
    // Reverse-only (no forward zone): the target is the server of the pool's reverse zone.
    const serverId =
      o.serverId ??
      zones[0]?.server_id ??
      (await trx.raw<{ rows: { server_id: number }[] }>(`select z.server_id from dns_zones z join ip_pools p on z.network && p.network and z.space_id = p.space_id where p.id = ? order by masklen(z.network) desc limit 1`, [poolId])).rows[0]?.server_id
    if (serverId === undefined) return { allocations: 0, rows: 0 }
    let rows = 0
    for (let i = 0; i < allocs.length; i += PUBLISH_CHUNK) {
      const chunk = allocs.slice(i, i + PUBLISH_CHUNK)
      const payload = {
        allocationId: chunk[0]!.id,
        names: chunk.flatMap((a) => zones.map((z) => ({ zoneId: z.id, name: fqdnIn(a.hostname, z.name) }))),
        ips: o.ptr ? chunk.map((a) => a.ip) : [],
        op: 'publish'
      }
      await trx.raw(`select outbox_enqueue('dns', ?, ?, ?::jsonb, ?, ?, ?)`, [`dns:${serverId}`, `ip_pool:${poolId}`, JSON.stringify(payload), ctx.requestId, ctx.actor, ctx.source])
      rows++
    }
    return { allocations: allocs.length, rows }
  }

  /** A pool's DNS settings and its reverse-zone coverage (the pool page). */
  async poolDns(ref: string | number): Promise<PoolDnsDto> {
    const pool = await findPoolRow(this.knex, ref, false)
    const r = (await this.knex.raw<{ rows: { zone: string | null; dns_ptr: boolean; n: number }[] }>(
      `select z.name as zone, p.dns_ptr,
              (select count(*)::int from ip_allocations a where a.pool_id = p.id and a.dns_managed and a.hostname is not null and a.status <> 'blocked') as n
         from ip_pools p left join dns_zones z on z.id = p.dns_zone_id where p.id = ?`,
      [pool.id]
    )).rows[0]!
    const rev = await this.knex.raw<{ rows: { zone: string; network: string }[] }>(
      `select z.name as zone, z.network::text as network from dns_zones z where z.network is not null and z.network && ?::cidr order by masklen(z.network) desc, z.name`,
      [pool.network]
    )
    // Covered when one zone holds the whole pool, or the zones inside it add up to it.
    const net = parseCidr(pool.network)
    const size = 1n << BigInt(net.bits - net.prefix)
    let covered = 0n
    let whole = false
    for (const z of rev.rows) {
      const c = parseCidr(z.network)
      if (c.prefix <= net.prefix) whole = true
      else covered += 1n << BigInt(c.bits - c.prefix)
    }
    const uncovered = !whole && covered < size
    return { pool: pool.name, network: pool.network, zone: r.zone, ptr: r.dns_ptr, reverseZones: rev.rows, suggestedReverseZone: uncovered ? reverseZoneFor(pool.network) : null, uncovered, dnsAllocations: r.n }
  }

  // ---------------------------------------------------------------- records

  /** The zone's records as the server has them now (AXFR), each with the allocation it stands for. */
  async records(_ctx: RequestContext, zoneName: string, opts: { search?: string; type?: string; page?: number; pageSize?: number } = {}): Promise<Page<DnsRecordDto> & { serial: number | null }> {
    const zone = await this.zoneRow(this.knex, zoneName)
    const server = await this.servers.byId(zone.server_id)
    const client = await this.servers.client(server, 10_000)
    let rrs: Rr[]
    try {
      rrs = await client.axfr(zone.name)
    } catch (e) {
      throw new AppError('UNAVAILABLE', `zone: ${zone.name} could not be read from ${server.name}: ${(e as Error).message}`, { field: 'zone' })
    }
    const serial = (rrs.find((r) => r.type === 'SOA')?.data as { serial?: number } | undefined)?.serial ?? null
    const index = await allocationIndex(this.knex, zone)
    const search = opts.search?.trim().toLowerCase()
    const all = rrs
      .map((rr): DnsRecordDto => {
        const data = rrText(rr)
        return { name: rr.name.toLowerCase(), type: rr.type, ttl: rr.ttl ?? 0, data, allocation: index.lookup(rr.name.toLowerCase(), rr.type, data) }
      })
      .filter((r) => (!opts.type || r.type === opts.type.toUpperCase()) && (!search || r.name.includes(search) || r.data.includes(search)))
    const page = Math.max(1, opts.page ?? 1)
    const pageSize = Math.min(1000, Math.max(1, opts.pageSize ?? 100))
    return { items: all.slice((page - 1) * pageSize, page * pageSize), page, pageSize, total: all.length, serial }
  }

  /**
   * An allocation's DNS side effects, newest first: pending, done, or refused with the server's answer.
   * `ref`: the allocation's id, or its address (with `space` when the address is held in more than one
   * space: an address alone that two spaces hold is refused as ambiguous, never answered for either).
   */
  async allocationDns(ref: number | string, space?: string | number): Promise<{ names: string[]; ptr: string | null; effects: { id: string; state: string; message: string | null; at: string }[] }> {
    const id = await allocationIdOf(this.knex, ref, space)
    const a = (await this.knex.raw<{ rows: { id: number; hostname: string | null; zone: string | null; dns_ptr: boolean; dns_managed: boolean }[] }>(
      `select a.id, a.hostname, z.name as zone, p.dns_ptr, a.dns_managed from ip_allocations a join ip_pools p on p.id = a.pool_id left join dns_zones z on z.id = p.dns_zone_id where a.id = ?`,
      [id]
    )).rows[0]
    if (!a) throw new AppError('NOT_FOUND', `ip: allocation ${String(ref)} does not exist (any more)`, { field: 'ip' })
    const rows = await this.knex.raw<{ rows: { id: string; state: string; last_error: string | null; outcome: { message?: string } | null; updated_at: Date }[] }>(
      `select id::text, state, last_error, outcome, updated_at from outbox where subject = ? and kind = 'dns' order by id desc limit 20`,
      [`ip_allocation:${a.id}`]
    )
    const names = a.dns_managed && a.hostname && a.zone ? [a.hostname.endsWith(a.zone) ? a.hostname : `${a.hostname}.${a.zone}`] : []
    return {
      names,
      ptr: a.dns_managed && a.dns_ptr && a.hostname ? (names[0] ?? a.hostname) : null,
      effects: rows.rows.map((r) => ({ id: r.id, state: r.state, message: r.state === 'done' ? (r.outcome?.message ?? null) : r.last_error, at: new Date(r.updated_at).toISOString() }))
    }
  }
}


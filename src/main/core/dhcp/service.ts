/**
 * DHCP through Kea: the Kea databases Netkeeper writes host reservations to, the Kea server and subnet id a
 * pool maps to, reservations and leases read back, the pool's `subnet4`/`subnet6` JSON for the team's Kea
 * configuration, drift, and the outbox handler (kind `dhcp`) that makes reservations follow allocations.
 *
 * Ownership: a reservation Netkeeper writes carries {"netkeeper": {...}} in Kea's user_context. One that does
 * not (written by hand, by another tool) is never changed or removed by the handler: an allocation that
 * needs its address or MAC gets a conflict instead. A person may still repair drift either way.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type pg from 'pg'
import { AppError, validationError } from '../../../shared/errors'
import { dhcpServerAddSchema, poolDhcpSchema, type DhcpDriftItem, type DhcpServerAddInput, type DhcpServerDto, type DhcpServerTest, type KeaSubnetChoices, type LeaseDto, type PoolDhcpDto, type PoolDhcpInput, type ReservationDto } from '../../../shared/dhcp'
import { fqdnIn } from '../../../shared/dns'
import type { AllocationSideEffects } from '../../../shared/ipam'
import { parseCidr, parseIp, usableRange } from '../../../shared/net'
import { appendAudit, type AuditEntry } from '../audit/writer'
import { requireRole, type RequestContext } from '../context'
import type { SecretStore } from '../credentials/keychain'
import { authorize, mutate } from '../ipam/mutation'
import { allocationIdOf, findPoolRow, parse } from '../ipam/rows'
import type { IpamService } from '../ipam/service'
import type { ApplyContext, HandlerOutcome, OutboxHandler, OutboxRow } from '../outbox/outbox'
import { bytesToMac, dhcpAccount, isOurs, KeaDatabases, keaEndpoint, macToBytes, numberToIp, ipToNumber, OUR_MARK, type DhcpServerRow } from './kea-db'

interface PoolKea {
  id: number
  name: string
  network: string
  gateway: string | null
  dns_servers: string[] | null
  server_id: number | null
  subnet_id: string | null
  zone: string | null
}

interface Desired {
  ip: string
  mac: string
  hostname: string | null
  allocationId: number
}

interface KeaHost {
  host_id: number
  mac: string | null
  ip: string | null
  hostname: string | null
  user_context: string | null
}

function toServerDto(r: DhcpServerRow): DhcpServerDto {
  return { id: r.id, name: r.name, host: r.db_host, port: r.db_port, database: r.db_name, user: r.db_user, pools: r.pools ?? [] }
}

export class DhcpService implements OutboxHandler {
  readonly kea: KeaDatabases

  constructor(
    private readonly knex: Knex,
    secrets: SecretStore,
    private readonly ipam: () => IpamService
  ) {
    this.kea = new KeaDatabases(knex, secrets)
  }

  close(): Promise<void> {
    return this.kea.close()
  }

  // ---------------------------------------------------------------- servers and pools

  async addServer(ctx: RequestContext, input: DhcpServerAddInput): Promise<DhcpServerDto> {
    const raw = (input ?? {}) as Partial<DhcpServerAddInput>
    const entry: AuditEntry = { action: 'create', resourceType: 'dhcp_server', resourceName: raw.name ?? null, details: { after: { ...raw, password: undefined } } }
    await authorize(this.knex, ctx, 'admin', 'adding a DHCP server', entry)
    const v = parse(dhcpServerAddSchema, input)
    const row = await mutate(this.knex, ctx, entry, async (trx) => {
      const ins = await trx.raw<{ rows: { id: number }[] }>(
        `insert into dhcp_servers (name, db_host, db_port, db_name, db_user, created_by) values (?, ?, ?, ?, ?, ?) returning id`,
        [v.name, v.host, v.port, v.database, v.user, ctx.actor]
      )
      await appendAudit(trx, ctx, { action: 'create', resourceType: 'dhcp_server', resourceId: ins.rows[0]!.id, resourceName: v.name, details: { after: { host: v.host, port: v.port, database: v.database, user: v.user } } })
      return this.kea.byName(trx, v.name)
    })
    if (v.password) await this.kea.secrets.save(dhcpAccount(row.name), keaEndpoint(row), v.password)
    return toServerDto(row)
  }

  async listServers(): Promise<DhcpServerDto[]> {
    const r = await this.knex.raw<{ rows: DhcpServerRow[] }>(`select s.id, s.name, s.db_host, s.db_port, s.db_name, s.db_user,
      array(select p.name from ip_pools p where p.dhcp_server_id = s.id order by p.name) as pools from dhcp_servers s order by s.name`)
    return r.rows.map(toServerDto)
  }

  /**
   * Removes a Kea server (admin, audited); refused while a pool maps to it. Its reservations stay in Kea's
   * database as they are; its password leaves the keychain.
   */
  async removeServer(ctx: RequestContext, name: string): Promise<DhcpServerDto> {
    const entry: AuditEntry = { action: 'delete', resourceType: 'dhcp_server', resourceName: name }
    await authorize(this.knex, ctx, 'admin', 'removing a DHCP server', entry)
    const row = await mutate(this.knex, ctx, entry, async (trx) => {
      const r = await this.kea.byName(trx, name, 'name')
      const pools = (await trx.raw<{ rows: { name: string }[] }>(`select name from ip_pools where dhcp_server_id = ? order by name`, [r.id])).rows.map((x) => x.name)
      if (pools.length) throw new AppError('CONFLICT', `name: DHCP server "${r.name}" still serves pool(s) ${pools.join(', ')}; map them elsewhere first`, { field: 'name', pools })
      await trx.raw(`delete from dhcp_servers where id = ?`, [r.id])
      await appendAudit(trx, ctx, { ...entry, resourceId: r.id, resourceName: r.name, details: { before: { host: r.db_host, port: r.db_port, database: r.db_name, user: r.db_user } } })
      return r
    })
    await this.kea.forget(row.id)
    await this.kea.secrets.delete(dhcpAccount(row.name)).catch(() => false)
    return toServerDto({ ...row, pools: [] })
  }

  /** A pool's Kea server and subnet id (null, null when it has none). */
  async poolDhcp(ref: string | number): Promise<PoolDhcpDto> {
    const pool = await findPoolRow(this.knex, ref, false)
    const r = (await this.knex.raw<{ rows: { server: string | null; subnet_id: string | null }[] }>(
      `select s.name as server, p.kea_subnet_id::text as subnet_id from ip_pools p left join dhcp_servers s on s.id = p.dhcp_server_id where p.id = ?`,
      [pool.id]
    )).rows[0]!
    return { pool: pool.name, server: r.server, subnetId: r.subnet_id === null ? null : Number(r.subnet_id) }
  }

  /**
   * The subnet ids to offer for a pool on a Kea server (the pool page's picker): those Kea's database holds
   * reservations or leases for, with how many of the leases fall in the pool's network (the likely match),
   * the pools already mapped to each, and the lowest unused id. A database that cannot be read still gives
   * the ids Netkeeper's pools use, with the error.
   */
  async subnetChoices(ctx: RequestContext, serverName: string, poolRef?: string | number): Promise<KeaSubnetChoices> {
    requireRole(ctx, 'admin', "listing a Kea server's subnet ids")
    const server = await this.kea.byName(this.knex, serverName)
    const pool = poolRef === undefined ? undefined : await findPoolRow(this.knex, poolRef, false)
    const ids = new Map<number, KeaSubnetChoices['ids'][number]>()
    const at = (id: number): KeaSubnetChoices['ids'][number] => {
      let x = ids.get(id)
      if (!x) ids.set(id, (x = { subnetId: id, hosts: 0, leases: 0, leasesInPool: 0, pools: [] }))
      return x
    }
    const mapped = await this.knex.raw<{ rows: { id: string; name: string }[] }>(`select kea_subnet_id::text as id, name from ip_pools where dhcp_server_id = ? and kea_subnet_id is not null order by name`, [server.id])
    for (const m of mapped.rows) at(Number(m.id)).pools.push(m.name)
    let error: string | undefined
    try {
      const db = await this.kea.pool(server)
      const net = pool ? parseCidr(pool.network) : undefined
      const range = net && net.family === 4 ? usableRange(net) : undefined
      // Kea numbers IPv4 and IPv6 subnets apart: an IPv6 pool is offered the ids of dhcp6 reservations and lease6.
      const [h, l] = await Promise.all(
        net?.family === 6
          ? [
              db.query<{ id: string; n: number }>(`select dhcp6_subnet_id::text as id, count(*)::int as n from hosts where dhcp6_subnet_id is not null group by 1`),
              db.query<{ id: string; n: number; inpool: number }>(
                `select subnet_id::text as id, count(*)::int as n, count(*) filter (where address::inet <<= $1::inet)::int as inpool from lease6 where coalesce(lease_type, 0) in (0, 1) group by 1`,
                [net.text]
              )
            ]
          : [
              db.query<{ id: string; n: number }>(`select dhcp4_subnet_id::text as id, count(*)::int as n from hosts where dhcp4_subnet_id is not null group by 1`),
              db.query<{ id: string; n: number; inpool: number }>(
                `select subnet_id::text as id, count(*)::int as n, count(*) filter (where address between $1 and $2)::int as inpool from lease4 group by 1`,
                [range ? String(range.first) : '1', range ? String(range.last) : '0']
              )
            ]
      )
      for (const x of h.rows) at(Number(x.id)).hosts = x.n
      for (const x of l.rows) Object.assign(at(Number(x.id)), { leases: x.n, leasesInPool: x.inpool })
    } catch (e) {
      error = `Kea database of ${server.name}: ${(e as Error).message}`
    }
    ids.delete(0) // Kea's "no subnet" (global reservations)
    let nextFree = 1
    while (ids.has(nextFree)) nextFree++
    const list = [...ids.values()].sort((a, b) => b.leasesInPool - a.leasesInPool || a.subnetId - b.subnetId)
    return { server: server.name, ids: list, nextFree, ...(error ? { error } : {}) }
  }

  /** Connects to the Kea database and checks it has Kea's schema (its version). */
  async testServer(ctx: RequestContext, name: string): Promise<DhcpServerTest> {
    // It logs in with the server's password: set-up work, an admin's.
    requireRole(ctx, 'admin', 'testing a DHCP server')
    const row = await this.kea.byName(this.knex, name)
    try {
      const db = await this.kea.pool(row)
      const v = await db.query<{ version: number; minor: number }>(`select version, minor from schema_version`)
      const n = await db.query<{ h: number; l: number }>(`select (select count(*)::int from hosts) as h, (select count(*)::int from lease4) + (select count(*)::int from lease6) as l`)
      return { server: row.name, ok: true, schema: `${v.rows[0]?.version}.${v.rows[0]?.minor}`, hosts: n.rows[0]!.h, leases: n.rows[0]!.l }
    } catch (e) {
      return { server: row.name, ok: false, error: (e as Error).message }
    }
  }

  /** The Kea server and subnet id a pool maps to (admin, audited). */
  async setPoolDhcp(ctx: RequestContext, input: PoolDhcpInput): Promise<{ pool: string; server: string | null; subnetId: number | null }> {
    const raw = (input ?? {}) as Partial<PoolDhcpInput>
    const entry: AuditEntry = { action: 'update', resourceType: 'ip_pool', resourceName: raw.pool === undefined ? null : String(raw.pool), details: { after: { ...raw }, context: { operation: 'dhcp' } } }
    await authorize(this.knex, ctx, 'admin', "changing a pool's DHCP settings", entry)
    const v = parse(poolDhcpSchema, input)
    return mutate(this.knex, ctx, entry, async (trx) => {
      const pool = await findPoolRow(trx, v.pool, true)
      const cur = (await trx.raw<{ rows: { server_id: number | null; subnet_id: string | null; server: string | null }[] }>(
        `select p.dhcp_server_id as server_id, p.kea_subnet_id::text as subnet_id, s.name as server from ip_pools p left join dhcp_servers s on s.id = p.dhcp_server_id where p.id = ?`,
        [pool.id]
      )).rows[0]!
      let serverId = cur.server_id
      let serverName = cur.server
      if (v.server !== undefined) {
        if (!v.server) {
          serverId = null
          serverName = null
        } else {
          const s = await this.kea.byName(trx, v.server)
          serverId = s.id
          serverName = s.name
        }
      }
      const subnetId = v.subnetId !== undefined ? v.subnetId : cur.subnet_id === null ? null : Number(cur.subnet_id)
      if (serverId !== null && subnetId === null) throw validationError('subnetId', 'a pool served by Kea needs its Kea subnet id (the "id" of its subnet4/subnet6 entry)')
      await trx.raw(`update ip_pools set dhcp_server_id = ?, kea_subnet_id = ?, updated_at = now() where id = ?`, [serverId, subnetId, pool.id])
      await appendAudit(trx, ctx, {
        action: 'update',
        resourceType: 'ip_pool',
        resourceId: pool.id,
        resourceName: pool.name,
        details: { before: { dhcpServer: cur.server, keaSubnetId: cur.subnet_id === null ? null : Number(cur.subnet_id) }, after: { dhcpServer: serverName, keaSubnetId: subnetId }, context: { operation: 'dhcp' } }
      })
      return { pool: pool.name, server: serverName, subnetId }
    })
  }

  private async poolKea(q: Knex | Knex.Transaction, ref: string | number): Promise<PoolKea & { server: DhcpServerRow }> {
    const pool = await findPoolRow(q, ref, false)
    const r = (await q.raw<{ rows: PoolKea[] }>(
      `select p.id, p.name, p.network::text as network, host(p.gateway) as gateway,
              array(select host(d.ip) from unnest(p.dns_servers) with ordinality as d(ip, n) order by d.n) as dns_servers,
              p.dhcp_server_id as server_id, p.kea_subnet_id::text as subnet_id, z.name as zone
         from ip_pools p left join dns_zones z on z.id = p.dns_zone_id where p.id = ?`,
      [pool.id]
    )).rows[0]!
    if (r.server_id === null || r.subnet_id === null) throw new AppError('VALIDATION', `pool: "${pool.name}" is not mapped to a Kea subnet (netkeeper dhcp pool ${pool.name} --server S --subnet-id N)`, { field: 'pool' })
    return { ...r, server: await this.kea.byId(r.server_id) }
  }

  // ---------------------------------------------------------------- reading Kea

  async reservations(_ctx: RequestContext, ref: string | number): Promise<ReservationDto[]> {
    const p = await this.poolKea(this.knex, ref)
    const db = await this.kea.pool(p.server)
    const hosts = await keaHosts(db, Number(p.subnet_id), parseCidr(p.network).family)
    const allocs = await this.desiredOfPool(p)
    const byIp = new Map(allocs.map((a) => [a.ip, a]))
    return hosts
      .filter((h) => h.ip !== null)
      .map((h) => {
        const a = byIp.get(h.ip!)
        return { ip: h.ip!, mac: h.mac ?? '', hostname: h.hostname, subnetId: Number(p.subnet_id), ours: isOurs(h.user_context), allocation: a ? { ip: a.ip, hostname: a.hostname } : null }
      })
  }

  /** Active leases in the pool's network, from Kea's lease database. */
  async leases(_ctx: RequestContext, ref: string | number): Promise<LeaseDto[]> {
    const p = await this.poolKea(this.knex, ref)
    return this.leasesOf(p)
  }

  private async leasesOf(p: PoolKea & { server: DhcpServerRow }): Promise<LeaseDto[]> {
    const net = parseCidr(p.network)
    const db = await this.kea.pool(p.server)
    if (net.family === 6) {
      // lease6 (the schema kea-admin creates): address is varchar(39) in older schemas and inet in newer
      // ones, hence the cast; lease_type 0 is an address (IA_NA), 1 a temporary one, 2 a delegated prefix
      // (not an address of the pool's); hwaddr is there when Kea learnt the client's MAC.
      const r = await db.query<{ address: string; hwaddr: Buffer | null; hostname: string | null; expire: Date | null; state: number | null; subnet_id: string }>(
        `select host(address::inet) as address, hwaddr, hostname, expire, coalesce(state, 0) as state, subnet_id from lease6
          where address::inet <<= $1::inet and coalesce(lease_type, 0) in (0, 1) and (expire is null or expire > now()) order by address::inet`,
        [net.text]
      )
      return r.rows.map((l) => ({ ip: l.address, mac: bytesToMac(l.hwaddr), hostname: l.hostname, expires: l.expire ? new Date(l.expire).toISOString() : null, state: Number(l.state ?? 0), subnetId: Number(l.subnet_id) }))
    }
    const { first, last } = usableRange(net)
    const r = await db.query<{ address: string; hwaddr: Buffer | null; hostname: string | null; expire: Date | null; state: number | null; subnet_id: string }>(
      `select address, hwaddr, hostname, expire, coalesce(state, 0) as state, subnet_id from lease4 where address between $1 and $2 and (expire is null or expire > now()) order by address`,
      [String(first), String(last)]
    )
    return r.rows.map((l) => ({ ip: numberToIp(l.address), mac: bytesToMac(l.hwaddr), hostname: l.hostname, expires: l.expire ? new Date(l.expire).toISOString() : null, state: Number(l.state ?? 0), subnetId: Number(l.subnet_id) }))
  }

  /**
   * An allocation's DHCP state: the last reservation outcome and Kea's lease of its address (null when its
   * pool has no Kea). `ref`: the allocation's id, or its address (and `space` where two spaces hold it).
   */
  async allocationDhcp(ref: number | string, space?: string | number): Promise<NonNullable<AllocationSideEffects['dhcp']>> {
    const id = await allocationIdOf(this.knex, ref, space)
    const a = (await this.knex.raw<{ rows: { id: number; pool_id: number; kea: boolean; ip: string }[] }>(
      `select a.id, a.pool_id, host(a.ip_address) as ip, (p.dhcp_server_id is not null and p.kea_subnet_id is not null) as kea from ip_allocations a join ip_pools p on p.id = a.pool_id where a.id = ?`,
      [id]
    )).rows[0]
    if (!a || !a.kea) return { state: null, message: null, lease: null }
    const last = (await this.knex.raw<{ rows: { state: string; last_error: string | null; outcome: { message?: string } | null }[] }>(
      `select state, last_error, outcome from outbox where subject = ? and kind = 'dhcp' order by id desc limit 1`,
      [`ip_allocation:${a.id}`]
    )).rows[0]
    let lease: { mac: string | null; expires: string | null } | null = null
    const ip = a.ip
    try {
      const p = await this.poolKea(this.knex, a.pool_id)
      const db = await this.kea.pool(p.server)
      const l = ip.includes(':')
        ? (await db.query<{ hwaddr: Buffer | null; expire: Date | null }>(
            `select hwaddr, expire from lease6 where address::inet = $1::inet and coalesce(lease_type, 0) in (0, 1) and (expire is null or expire > now())`,
            [ip]
          )).rows[0]
        : (await db.query<{ hwaddr: Buffer | null; expire: Date | null }>(`select hwaddr, expire from lease4 where address = $1 and (expire is null or expire > now())`, [String(ipToNumber(ip))])).rows[0]
      if (l) lease = { mac: bytesToMac(l.hwaddr), expires: l.expire ? new Date(l.expire).toISOString() : null }
    } catch {
      lease = null
    }
    return { state: last?.state ?? null, message: last ? (last.state === 'done' ? (last.outcome?.message ?? null) : last.last_error) : null, lease }
  }

  /**
   * The active leases of a pool for the subnet map's "leased" cells: null when the pool is not mapped to a
   * Kea subnet, the database's error (with its name) when it cannot be read, so the map says why none show.
   */
  async mapLeases(poolId: number): Promise<{ leases: { ip: string; mac: string | null; hostname: string | null; expires: string | null }[] } | { error: string } | null> {
    const mapped = (await this.knex.raw<{ rows: { ok: boolean }[] }>(`select (dhcp_server_id is not null and kea_subnet_id is not null) as ok from ip_pools where id = ?`, [poolId])).rows[0]
    if (!mapped?.ok) return null
    try {
      const p = await this.poolKea(this.knex, poolId)
      // State 0 is a lease in use (1 declined, 2 expired and reclaimed).
      return { leases: (await this.leasesOf(p)).filter((l) => Number(l.state) === 0).map((l) => ({ ip: l.ip, mac: l.mac, hostname: l.hostname, expires: l.expires })) }
    } catch (e) {
      return { error: `the leases could not be read: ${(e as Error).message}` }
    }
  }

  /**
   * The pool's Kea subnet entry, for the team's Kea configuration. `pools` (address ranges handed out
   * dynamically) are the pool's DHCP ranges; without any it is empty and every address is given by
   * reservation only.
   */
  async keaConfig(_ctx: RequestContext, ref: string | number): Promise<Record<string, unknown>> {
    const p = await this.poolKea(this.knex, ref)
    const net = parseCidr(p.network)
    const options: { name: string; data: string }[] = []
    if (net.family === 4 && p.gateway) options.push({ name: 'routers', data: p.gateway })
    if (p.dns_servers?.length) options.push({ name: net.family === 4 ? 'domain-name-servers' : 'dns-servers', data: p.dns_servers.join(', ') })
    if (p.zone) options.push({ name: net.family === 4 ? 'domain-name' : 'domain-search', data: p.zone })
    // Kea's dynamic pools are the pool's DHCP ranges (ipam ranges with purpose dhcp), in address order; a
    // pool without any hands out addresses by reservation only. Reservations stay in Kea's host database
    // (where the outbox writes them), not in this JSON: both would make Kea see each one twice.
    const ranges = await this.knex.raw<{ rows: { first: string; last: string }[] }>(
      `select host(first_ip) as first, host(last_ip) as last from ip_ranges where pool_id = ? and purpose = 'dhcp' order by first_ip`,
      [p.id]
    )
    const subnet = {
      id: Number(p.subnet_id),
      subnet: net.text,
      pools: ranges.rows.map((g) => ({ pool: `${g.first} - ${g.last}` })),
      'option-data': options,
      'user-context': { netkeeper: { pool: p.name } }
    }
    return { [net.family === 4 ? 'subnet4' : 'subnet6']: [subnet] }
  }

  private async desiredOfPool(p: PoolKea): Promise<Desired[]> {
    const r = await this.knex.raw<{ rows: { ip: string; mac: string; hostname: string | null; id: number }[] }>(
      `select host(a.ip_address) as ip, a.mac_address::text as mac, a.hostname, a.id from ip_allocations a
        where a.pool_id = ? and a.dhcp_managed and a.mac_address is not null and a.status <> 'blocked' order by a.ip_address`,
      [p.id]
    )
    return r.rows.map((x) => ({ ip: x.ip, mac: x.mac, hostname: x.hostname ? (p.zone ? fqdnIn(x.hostname, p.zone) : x.hostname) : null, allocationId: x.id }))
  }

  // ---------------------------------------------------------------- the outbox handler

  /** The outbox handler reads first and awaits the row's durability before it writes to Kea (reconcile). */
  readonly readsFirst = true

  async apply(row: OutboxRow, ctx: ApplyContext): Promise<HandlerOutcome> {
    const payload = row.payload as { ips: { ip: string; serverId: number; subnetId: number }[]; macs: { mac: string; serverId: number; subnetId: number }[] }
    const lines: string[] = []
    const conflicts: string[] = []
    const groups = new Map<string, { serverId: number; subnetId: number; ips: Set<string>; macs: Set<string> }>()
    for (const x of [...(payload.ips ?? []), ...(payload.macs ?? [])]) {
      const k = `${x.serverId}|${x.subnetId}`
      const g = groups.get(k) ?? { serverId: x.serverId, subnetId: x.subnetId, ips: new Set(), macs: new Set() }
      if ('ip' in x) g.ips.add(x.ip)
      else g.macs.add(x.mac)
      groups.set(k, g)
    }
    for (const g of groups.values()) {
      const server = await this.kea.byId(g.serverId)
      const r = await this.reconcile(server, g.subnetId, [...g.ips], [...g.macs], false, ctx.durable)
      lines.push(...r.lines)
      conflicts.push(...r.conflicts)
    }
    return { state: conflicts.length ? 'conflict' : 'done', message: [...conflicts, ...lines].join('; ') || 'nothing to change', detail: { conflicts } }
  }

  /**
   * Makes the reservations of some addresses and MACs in one Kea subnet what the allocations say, in one
   * transaction on Kea's database. Reservations without Netkeeper's mark are left alone (a conflict), unless
   * `force` (a person's drift repair).
   */
  async reconcile(server: DhcpServerRow, subnetId: number, ips: string[], macs: string[], force: boolean, durable?: () => Promise<void>): Promise<{ lines: string[]; conflicts: string[] }> {
    // The allocations' side from Netkeeper's database while a connection to Kea's is taken (side by side).
    const db = await this.kea.pool(server)
    const [wanted, connected] = await Promise.allSettled([
      this.knex.raw<{ rows: { ip: string; mac: string; hostname: string | null; zone: string | null; id: number }[] }>(
        `select host(a.ip_address) as ip, a.mac_address::text as mac, a.hostname, z.name as zone, a.id
           from ip_allocations a join ip_pools p on p.id = a.pool_id left join dns_zones z on z.id = p.dns_zone_id
          where p.dhcp_server_id = ? and p.kea_subnet_id = ? and a.dhcp_managed and a.mac_address is not null and a.status <> 'blocked'
            and (a.ip_address = any(?::inet[]) or a.mac_address = any(?::macaddr[]))`,
        [server.id, subnetId, ips, macs]
      ),
      db.connect()
    ])
    if (wanted.status === 'rejected') {
      if (connected.status === 'fulfilled') connected.value.release()
      throw wanted.reason
    }
    if (connected.status === 'rejected') throw new Error(`Kea database of ${server.name} (${server.db_host} port ${server.db_port}): ${(connected.reason as Error).message}`)
    const client = connected.value
    // An outbox row: Kea hears of the change only once it is durable (the reads above overlapped that wait).
    if (durable) {
      try {
        await durable()
      } catch (e) {
        client.release()
        throw e
      }
    }
    const desired = wanted.value.rows.map((x) => ({ ip: x.ip, mac: x.mac, hostname: x.hostname ? (x.zone ? fqdnIn(x.hostname, x.zone) : x.hostname) : null, allocationId: x.id }))
    // IPv4 reservations live in hosts.ipv4_address (dhcp4_subnet_id); IPv6 ones in ipv6_reservations (an
    // IA_NA address, prefix length 128) under a host row of dhcp6_subnet_id: the schema kea-admin creates.
    // The families touched are those of the pools mapped to this server and subnet id (Kea numbers its v4
    // and v6 subnets apart), so a MAC seen in one family never removes the other's reservation.
    const families = new Set([...ips, ...desired.map((d) => d.ip)].map((ip) => (ip.includes(':') ? 6 : 4)))
    if (!ips.length && !desired.length) {
      const f = await this.knex.raw<{ rows: { f: number }[] }>(`select distinct family(network) as f from ip_pools where dhcp_server_id = ? and kea_subnet_id = ?`, [server.id, subnetId])
      for (const r of f.rows) families.add(r.f === 6 ? 6 : 4)
    }
    const v4Ips = [...new Set([...ips, ...desired.map((d) => d.ip)])].filter((ip) => !ip.includes(':'))
    const v6Ips = [...new Set([...ips, ...desired.map((d) => d.ip)])].filter((ip) => ip.includes(':')).map((ip) => parseIp(ip, 'ip').text)
    const allMacs = [...new Set([...macs, ...desired.map((d) => d.mac)])]
    const lines: string[] = []
    const conflicts: string[] = []
    // The common case, a new IPv4 reservation where Kea holds nothing for its addresses and MACs: one
    // statement (one round trip, one commit) that inserts only if it finds nothing to take into account;
    // otherwise it changes nothing and the general path below decides.
    if (!force && desired.length && !families.has(6)) {
      try {
        const fresh = await insertIfNothingHeld(client, subnetId, v4Ips, allMacs, desired)
        if (fresh) {
          client.release()
          return { lines: desired.map((d) => `reserved ${d.ip} for ${d.mac}${d.hostname ? ` (${d.hostname})` : ''}`), conflicts }
        }
      } catch (e) {
        client.release()
        throw new Error(`Kea database of ${server.name} (${server.db_host} port ${server.db_port}): ${(e as Error).message}`)
      }
    }
    try {
      await client.query('begin')
      type Existing = { host_id: number; family: 4 | 6; mac: string | null; ip: string | null; hostname: string | null; user_context: string | null }
      const existing: Existing[] = []
      if (families.has(4)) {
        const r = await client.query<{ host_id: number; address: string | null; dhcp_identifier: Buffer; hostname: string | null; user_context: string | null }>(
          `select host_id, dhcp_identifier, ipv4_address as address, hostname, user_context from hosts
            where dhcp4_subnet_id = $1 and (ipv4_address = any($2::bigint[]) or (dhcp_identifier_type = 0 and dhcp_identifier = any($3::bytea[]))) for update`,
          [subnetId, v4Ips.map(ipToNumber), allMacs.map(macToBytes)]
        )
        for (const h of r.rows) existing.push({ host_id: h.host_id, family: 4, mac: bytesToMac(h.dhcp_identifier), ip: h.address === null ? null : numberToIp(h.address), hostname: h.hostname, user_context: h.user_context })
      }
      if (families.has(6)) {
        // host(address::inet): Kea's column is varchar(39) in older schemas and inet in newer ones.
        const r = await client.query<{ host_id: number; address: string | null; dhcp_identifier: Buffer; hostname: string | null; user_context: string | null }>(
          `select h.host_id, h.dhcp_identifier, host(r.address::inet) as address, h.hostname, h.user_context
             from hosts h left join ipv6_reservations r on r.host_id = h.host_id and r.type = 0
            where h.dhcp6_subnet_id = $1 and (host(r.address::inet) = any($2::text[]) or (h.dhcp_identifier_type = 0 and h.dhcp_identifier = any($3::bytea[]))) for update of h`,
          [subnetId, v6Ips, allMacs.map(macToBytes)]
        )
        for (const h of r.rows) existing.push({ host_id: h.host_id, family: 6, mac: bytesToMac(h.dhcp_identifier), ip: h.address, hostname: h.hostname, user_context: h.user_context })
      }
      const fam = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4)
      const norm = (ip: string): string => (ip.includes(':') ? parseIp(ip, 'ip').text : ip)
      const blocked = new Set<Desired>()
      const removed = new Set<number>()
      for (const h of existing) {
        if (removed.has(h.host_id)) continue
        const want = desired.find((d) => fam(d.ip) === h.family && norm(d.ip) === h.ip && d.mac === h.mac && (d.hostname ?? null) === (h.hostname ?? null))
        if (want && isOurs(h.user_context)) {
          blocked.add(want) // already right
          continue
        }
        if (!isOurs(h.user_context) && !force) {
          const clash = desired.filter((d) => fam(d.ip) === h.family && (norm(d.ip) === h.ip || d.mac === h.mac))
          for (const d of clash) {
            blocked.add(d)
            conflicts.push(`${d.ip} (${d.mac}): Kea subnet ${subnetId} already has a reservation of ${h.ip ?? '-'} for ${h.mac}${h.hostname ? ` (${h.hostname})` : ''} that Netkeeper did not write; left as it is`)
          }
          continue
        }
        // Deleting the host row takes its ipv6_reservations with it (ON DELETE CASCADE in Kea's schema).
        await client.query(`delete from hosts where host_id = $1`, [h.host_id])
        removed.add(h.host_id)
        lines.push(`removed reservation ${h.ip ?? '-'} for ${h.mac}`)
      }
      for (const d of desired) {
        if (blocked.has(d)) continue
        const context = JSON.stringify({ [OUR_MARK]: { allocation: d.allocationId } })
        if (fam(d.ip) === 4) {
          await client.query(
            `insert into hosts (dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id, ipv4_address, hostname, user_context) values ($1, 0, $2, $3, $4, $5)`,
            [macToBytes(d.mac), subnetId, ipToNumber(d.ip), d.hostname, context]
          )
        } else {
          const h = await client.query<{ host_id: number }>(
            `insert into hosts (dhcp_identifier, dhcp_identifier_type, dhcp6_subnet_id, hostname, user_context) values ($1, 0, $2, $3, $4) returning host_id`,
            [macToBytes(d.mac), subnetId, d.hostname, context]
          )
          await client.query(`insert into ipv6_reservations (address, prefix_len, type, host_id) values ($1, 128, 0, $2)`, [norm(d.ip), h.rows[0]!.host_id])
        }
        lines.push(`reserved ${d.ip} for ${d.mac}${d.hostname ? ` (${d.hostname})` : ''}`)
      }
      await client.query('commit')
    } catch (e) {
      await client.query('rollback').catch(() => undefined)
      throw new Error(`Kea database of ${server.name} (${server.db_host} port ${server.db_port}): ${(e as Error).message}`)
    } finally {
      client.release()
    }
    return { lines, conflicts }
  }

  // ---------------------------------------------------------------- drift

  async drift(_ctx: RequestContext, opts: { pool?: string } = {}): Promise<{ pools: { pool: string; error?: string }[]; items: DhcpDriftItem[] }> {
    const refs = opts.pool
      ? [opts.pool]
      : (await this.knex.raw<{ rows: { name: string }[] }>(`select name from ip_pools where dhcp_server_id is not null and kea_subnet_id is not null order by name`)).rows.map((r) => r.name)
    const ignored = new Set((await this.knex.raw<{ rows: { id: string }[] }>(`select id from dhcp_drift_ignored`)).rows.map((r) => r.id))
    const out: { pools: { pool: string; error?: string }[]; items: DhcpDriftItem[] } = { pools: [], items: [] }
    for (const ref of refs) {
      const p = await this.poolKea(this.knex, ref)
      try {
        const db = await this.kea.pool(p.server)
        const hosts = (await keaHosts(db, Number(p.subnet_id), parseCidr(p.network).family)).filter((h) => h.ip !== null)
        const want = await this.desiredOfPool(p)
        const hostByIp = new Map(hosts.map((h) => [h.ip!, h]))
        const wantByIp = new Map(want.map((d) => [d.ip, d]))
        const add = (kind: DhcpDriftItem['kind'], ip: string, inKea: string | null, expected: string | null, toDhcp: string | null, toIpam: string | null): void => {
          const id = `${kind}:${p.name}:${ip}`
          out.items.push({ id, kind, pool: p.name, ip, inKea, expected, toDhcp, toIpam, ignored: ignored.has(id) })
        }
        const show = (mac: string | null, host: string | null): string => `${mac ?? '-'}${host ? ` ${host}` : ''}`
        for (const h of hosts) {
          const d = wantByIp.get(h.ip!)
          if (!d) add('reservation-without-allocation', h.ip!, show(h.mac, h.hostname), null, `remove the reservation`, `allocate ${h.ip} to ${h.mac} with DHCP on`)
          else if (d.mac !== h.mac || (d.hostname ?? null) !== (h.hostname ?? null)) add('reservation-differs', h.ip!, show(h.mac, h.hostname), show(d.mac, d.hostname), `rewrite the reservation`, null)
        }
        for (const d of want) if (!hostByIp.has(d.ip)) add('allocation-without-reservation', d.ip, null, show(d.mac, d.hostname), `write the reservation`, `switch DHCP off for ${d.ip}`)
        // Addresses IPAM accounts for: its allocations, and its dhcp ranges (where Kea hands out leases by design).
        const held = new Set(
          (await this.knex.raw<{ rows: { ip: string }[] }>(`select host(ip_address) as ip from ip_allocations where pool_id = ?`, [p.id])).rows.map((r) => r.ip)
        )
        const family = parseCidr(p.network).family
        const ranges = (await this.knex.raw<{ rows: { first: string; last: string }[] }>(
          `select host(first_ip) as first, host(last_ip) as last from ip_ranges where pool_id = ? and purpose = 'dhcp' and family(first_ip) = ?`,
          [p.id, family]
        )).rows.map((g) => [parseIp(g.first).value, parseIp(g.last).value] as const)
        const inRange = (ip: string): boolean => {
          const n = parseIp(ip).value
          return ranges.some(([a, b]) => n >= a && n <= b)
        }
        for (const l of await this.leasesOf(p)) {
          if (!held.has(l.ip) && !inRange(l.ip)) add('lease-on-free-address', l.ip, show(l.mac, l.hostname), null, null, `allocate ${l.ip}${l.mac ? ` to ${l.mac}` : ''} (leased until ${l.expires ?? 'forever'})`)
        }
        out.pools.push({ pool: p.name })
      } catch (e) {
        out.pools.push({ pool: p.name, error: (e as Error).message })
      }
    }
    return out
  }

  async repair(ctx: RequestContext, opts: { pool?: string; ids?: string[]; direction: 'dhcp' | 'ipam' }): Promise<{ id: string; ok: boolean; message: string }[]> {
    requireRole(ctx, 'operator', 'repairing DHCP drift')
    const report = await this.drift(ctx, { pool: opts.pool })
    const chosen = opts.ids?.length ? report.items.filter((i) => opts.ids!.includes(i.id)) : report.items.filter((i) => !i.ignored)
    const results: { id: string; ok: boolean; message: string }[] = []
    for (const it of chosen) {
      try {
        const p = await this.poolKea(this.knex, it.pool)
        if (opts.direction === 'dhcp') {
          if (!it.toDhcp) throw new AppError('VALIDATION', `direction: a ${it.kind} line is repaired in IPAM (or ignored)`, { field: 'direction' })
          const mac = it.inKea?.split(' ')[0]
          const r = await this.reconcile(p.server, Number(p.subnet_id), [it.ip], mac && mac !== '-' ? [mac] : [], true)
          await appendAudit(this.knex, ctx, { action: 'update', resourceType: 'dhcp_reservation', resourceName: it.ip, details: { before: { kea: it.inKea }, after: { kea: it.expected }, context: { operation: 'drift-repair', direction: 'dhcp', drift: it.kind, pool: it.pool } } })
          results.push({ id: it.id, ok: true, message: r.lines.join('; ') || 'nothing to change' })
        } else {
          if (!it.toIpam) throw new AppError('VALIDATION', `direction: a ${it.kind} line is repaired in Kea (or ignored)`, { field: 'direction' })
          if (it.kind === 'allocation-without-reservation') {
            // In the pool's space: the same address may be held in another space too.
            const space = (await this.knex.raw<{ rows: { space_id: number }[] }>(`select space_id from ip_pools where id = ?`, [p.id])).rows[0]?.space_id
            await this.ipam().updateAllocation(ctx, { ip: it.ip, space, dhcpManaged: false })
            results.push({ id: it.id, ok: true, message: `DHCP switched off for ${it.ip}` })
          } else {
            const [mac, hostname] = (it.inKea ?? '').split(' ')
            await this.ipam().allocate(ctx, { pool: p.name, ip: it.ip, mac: mac && mac !== '-' ? mac : undefined, hostname: hostname || undefined, dhcpManaged: it.kind === 'reservation-without-allocation', description: `adopted from Kea (${it.kind})` })
            results.push({ id: it.id, ok: true, message: `allocated ${it.ip}` })
          }
        }
      } catch (e) {
        results.push({ id: it.id, ok: false, message: (e as Error).message })
      }
    }
    return results
  }

  async ignore(ctx: RequestContext, id: string, undo = false): Promise<void> {
    requireRole(ctx, 'operator', 'ignoring DHCP drift')
    const pool = await findPoolRow(this.knex, String(id).split(':')[1] ?? '', false)
    await this.knex.transaction(async (trx) => {
      if (undo) await trx.raw(`delete from dhcp_drift_ignored where id = ?`, [id])
      else await trx.raw(`insert into dhcp_drift_ignored (id, pool_id, ignored_by) values (?, ?, ?) on conflict (id) do nothing`, [id, pool.id, ctx.actor])
      await appendAudit(trx, ctx, { action: 'update', resourceType: 'dhcp_drift', resourceName: id, details: { after: { ignored: !undo }, context: { operation: undo ? 'unignore' : 'ignore', pool: pool.name } } })
    })
  }
}

/**
 * Inserts the IPv4 reservations `desired` in one statement if Kea's subnet holds no reservation of their
 * addresses, of `ips` or of `macs` (locked as they are read, as the general path does); returns false, having
 * changed nothing, when it does.
 */
async function insertIfNothingHeld(client: pg.PoolClient, subnetId: number, ips: string[], macs: string[], desired: Desired[]): Promise<boolean> {
  const r = await client.query<{ held: number; inserted: number }>(
    `with held as (select host_id from hosts
                    where dhcp4_subnet_id = $1 and (ipv4_address = any($2::bigint[]) or (dhcp_identifier_type = 0 and dhcp_identifier = any($3::bytea[])))
                    for update),
          ins as (insert into hosts (dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id, ipv4_address, hostname, user_context)
                  select d.mac, 0, $1, d.ip, d.hostname, d.context from unnest($4::bytea[], $5::bigint[], $6::text[], $7::text[]) as d(mac, ip, hostname, context)
                   where not exists (select 1 from held)
                  returning host_id)
     select (select count(*) from held)::int as held, (select count(*) from ins)::int as inserted`,
    [
      subnetId,
      ips.map(ipToNumber),
      macs.map(macToBytes),
      desired.map((d) => macToBytes(d.mac)),
      desired.map((d) => ipToNumber(d.ip)),
      desired.map((d) => d.hostname),
      desired.map((d) => JSON.stringify({ [OUR_MARK]: { allocation: d.allocationId } }))
    ]
  )
  return r.rows[0]!.held === 0 && r.rows[0]!.inserted === desired.length
}

async function keaHosts(db: pg.Pool, subnetId: number, family: 4 | 6 = 4): Promise<KeaHost[]> {
  if (family === 6) {
    const r = await db.query<{ host_id: number; dhcp_identifier: Buffer; address: string | null; hostname: string | null; user_context: string | null }>(
      `select h.host_id, h.dhcp_identifier, host(r.address::inet) as address, h.hostname, h.user_context
         from hosts h left join ipv6_reservations r on r.host_id = h.host_id and r.type = 0
        where h.dhcp6_subnet_id = $1 and h.dhcp_identifier_type = 0 order by r.address::inet`,
      [subnetId]
    )
    return r.rows.map((h) => ({ host_id: h.host_id, mac: bytesToMac(h.dhcp_identifier), ip: h.address, hostname: h.hostname, user_context: h.user_context }))
  }
  const r = await db.query<{ host_id: number; dhcp_identifier: Buffer; address: string | null; hostname: string | null; user_context: string | null }>(
    `select host_id, dhcp_identifier, ipv4_address as address, hostname, user_context from hosts where dhcp4_subnet_id = $1 and dhcp_identifier_type = 0 order by ipv4_address`,
    [subnetId]
  )
  return r.rows.map((h) => ({ host_id: h.host_id, mac: bytesToMac(h.dhcp_identifier), ip: h.address === null ? null : numberToIp(h.address), hostname: h.hostname, user_context: h.user_context }))
}

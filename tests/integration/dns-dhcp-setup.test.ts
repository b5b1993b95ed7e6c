/**
 * Setting up DNS and DHCP from the app (issue 17, item 6): through the same handler table and dispatch the
 * window uses, against the run's real named and a Kea database made by kea-admin. Servers added with their
 * secret (which never comes back), tested, removed; zones added (the server asked first) and removed; a
 * pool's zone changed with its existing allocations published as one outbox batch under one request id;
 * Kea servers, a pool's subnet id from the choices, DHCP drift repaired and ignored; admin only for set-up.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { makeContext, type RequestContext } from '../../src/main/core/context'
import { createHandlers, dispatch, type HandlerTable } from '../../src/main/ipc/handlers'
import type { ArgsOf, Channel, ResultOf } from '../../src/shared/contract'
import { auditRows, lastSeq, openCore } from '../support/core'
import { cli } from '../support/cli'
import { OfflineQueue } from '../../src/main/core/offline/queue'
import { replayQueue } from '../../src/main/core/offline/replay'
import { withClient } from '../support/db'
import { keaDatabase } from '../support/kea'
import { dig } from '../support/named'

const named = inject('named')
const skip = !named.available
if (skip) console.warn(`[dns-dhcp-setup.test] skipped: named is not available (${named.reason})`)
const Z = named.zones

let core: Core
let coreUrl: string
let coreDataDir: string
let table: HandlerTable
let kea: Awaited<ReturnType<typeof keaDatabase>>
const admin = makeContext({ actor: 'alice', roles: ['admin'], source: 'ui' })
const operator = makeContext({ actor: 'olga', roles: ['operator'], source: 'ui' })

async function call<C extends Channel>(channel: C, args: ArgsOf<C>, ctx: RequestContext = admin): Promise<ResultOf<C>> {
  const r = await dispatch(table, channel, args, ctx)
  if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code, details: r.error.details })
  return r.value
}
const refused = async (p: Promise<unknown>): Promise<{ code: string; message: string; details?: Record<string, unknown> }> => {
  try {
    await p
  } catch (e) {
    return e as { code: string; message: string; details?: Record<string, unknown> }
  }
  throw new Error('expected a refusal')
}

beforeAll(async () => {
  if (skip) return
  ;({ core, url: coreUrl, dataDir: coreDataDir } = await openCore('dnssetup'))
  table = createHandlers(core)
  kea = await keaDatabase()
}, 60_000)
afterAll(async () => {
  await core?.close()
})

describe.skipIf(skip)('DNS set-up from the app', () => {
  it('adds a name server: the secret goes to the keychain and never comes back', async () => {
    const s = await call('dns:server:add', { name: 'ns1', address: '127.0.0.1', port: named.port, keyName: named.keyName, algorithm: 'hmac-sha256', secret: named.secret })
    expect(s).toMatchObject({ name: 'ns1', address: '127.0.0.1', port: named.port, keyName: named.keyName, zones: 0 })
    expect(JSON.stringify(s)).not.toContain(named.secret)
    expect(JSON.stringify(await call('dns:server:list', {}))).not.toContain(named.secret)
    // It is in the keychain, bound to this server's endpoint.
    expect(await core.dns.servers.secretOf(await core.dns.servers.byName(core.db.knex, 'ns1'))).toBe(named.secret)
    const audit = (await auditRows(core)).filter((r) => r.resource_type === 'dns_server')
    expect(audit.at(-1)).toMatchObject({ action: 'create', status: 'success', resource_name: 'ns1' })
    expect(JSON.stringify(audit)).not.toContain(named.secret)
  })

  it('refuses set-up to anyone but an admin, audited, naming the reason', async () => {
    const e = await refused(call('dns:server:add', { name: 'ns9', address: '127.0.0.1', port: 53, keyName: 'k', secret: named.secret }, operator))
    expect(e.code).toBe('FORBIDDEN')
    expect((await refused(call('dns:server:test', { name: 'ns1' }, operator))).code).toBe('FORBIDDEN')
    expect((await refused(call('dns:zone:add', { server: 'ns1', name: Z.setupForward }, operator))).code).toBe('FORBIDDEN')
    expect((await refused(call('dns:pool:set', { pool: 'x', zone: null }, operator))).code).toBe('FORBIDDEN')
    expect((await refused(call('dhcp:server:add', { name: 'k', host: 'h', database: 'd', user: 'u' }, operator))).code).toBe('FORBIDDEN')
    expect((await refused(call('dhcp:server:remove', { name: 'k' }, operator))).code).toBe('FORBIDDEN')
    const rows = (await auditRows(core)).filter((r) => r.action === 'authorize' && r.resource_type === 'dns_server')
    expect(rows.at(-1)).toMatchObject({ status: 'failure', user_id: 'olga' })
  })

  it('refuses a bad secret and a bad address, naming the field', async () => {
    expect(await refused(call('dns:server:add', { name: 'ns2', address: '127.0.0.1', port: 53, keyName: 'k', secret: 'c2hvcnQ=' }))).toMatchObject({ code: 'VALIDATION', details: { field: 'secret' } })
    expect(await refused(call('dns:server:add', { name: 'ns2', address: 'not-an-ip', port: 53, keyName: 'k', secret: named.secret }))).toMatchObject({ code: 'VALIDATION', details: { field: 'address' } })
  })

  it('adds zones after asking the server, refuses one it does not serve, tests the server', async () => {
    expect(await refused(call('dns:zone:add', { server: 'ns1', name: 'not-served.test' }))).toMatchObject({ code: 'VALIDATION', details: { field: 'name' } })
    for (const name of [Z.setupForward, Z.setupOther, Z.setupReverse]) await call('dns:zone:add', { server: 'ns1', name, ttl: 60 })
    expect((await call('dns:zone:list', {})).map((z) => [z.name, z.kind])).toEqual(
      expect.arrayContaining([
        [Z.setupForward, 'forward'],
        [Z.setupReverse, 'reverse4']
      ])
    )
    const t = await call('dns:server:test', { name: 'ns1' })
    expect(t.ok).toBe(true)
    expect(t.zones.map((z) => [z.zone, z.ok, z.updates])).toEqual(expect.arrayContaining([[Z.setupForward, true, true]]))
    // A wrong secret, fixed from the app: the test says so, then passes.
    await call('dns:server:set-secret', { name: 'ns1', secret: Buffer.alloc(32, 9).toString('base64') })
    const bad = await call('dns:server:test', { name: 'ns1' })
    expect(bad.ok).toBe(false)
    expect(JSON.stringify(bad)).toMatch(/BADSIG|TSIG/)
    await call('dns:server:set-secret', { name: 'ns1', secret: named.secret })
    expect((await call('dns:server:test', { name: 'ns1' })).ok).toBe(true)
  })

  it("a pool's zone change publishes its existing allocations: one outbox batch under the change's request id", async () => {
    await core.ipam.createPool(admin, { name: 'setup-lan', network: '198.18.20.0/24' })
    for (const i of [10, 11, 12]) await core.ipam.allocate(admin, { pool: 'setup-lan', ip: `198.18.20.${i}`, hostname: `pub${i}`, dnsManaged: true })
    await core.ipam.allocate(admin, { pool: 'setup-lan', ip: '198.18.20.13', hostname: 'nodns' })
    await core.outbox.drain(5000)
    expect(dig(named, `pub10.${Z.setupForward}`)).toEqual([])
    expect((await call('dns:pool', { pool: 'setup-lan' })).dnsAllocations).toBe(3)

    const seq = await lastSeq(core)
    const ctx = makeContext({ actor: 'alice', roles: ['admin'], source: 'ui' })
    const r = await call('dns:pool:set', { pool: 'setup-lan', zone: Z.setupForward, ptr: true, publish: true }, ctx)
    expect(r).toMatchObject({ zone: Z.setupForward, ptr: true, published: { allocations: 3, rows: 1 } })
    const rows = await core.db.knex.raw<{ rows: { request_id: string; subject: string; actor: string }[] }>(`select request_id, subject, actor from outbox where subject like 'ip_pool:%'`)
    expect(rows.rows).toEqual([{ request_id: ctx.requestId, subject: expect.stringMatching(/^ip_pool:\d+$/), actor: 'alice' }])
    const audit = (await auditRows(core, seq)).filter((a) => a.resource_type === 'ip_pool')
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({ request_id: ctx.requestId, details: { before: { dnsZone: null, dnsPtr: false }, after: { dnsZone: Z.setupForward, dnsPtr: true }, context: { published: 3, outboxRows: 1 } } })
    await core.outbox.drain(10_000)
    for (const i of [10, 11, 12]) {
      expect(dig(named, `pub${i}.${Z.setupForward}`)).toEqual([`198.18.20.${i}`])
      expect(dig(named, `198.18.20.${i}`, 'PTR')).toEqual([`pub${i}.${Z.setupForward}.`])
    }
    expect(dig(named, `nodns.${Z.setupForward}`)).toEqual([])
    // The outcome of the batch is audited under the same request id.
    const outcome = (await auditRows(core, seq)).filter((a) => a.resource_type === 'outbox')
    expect(outcome.length).toBeGreaterThan(0)
    expect(outcome.every((a) => a.request_id === ctx.requestId && a.status === 'success')).toBe(true)

    // Moved to another zone: the new zone gets the names, the old loses them, the PTRs follow.
    await call('dns:pool:set', { pool: 'setup-lan', zone: Z.setupOther, publish: true })
    await core.outbox.drain(10_000)
    expect(dig(named, `pub11.${Z.setupOther}`)).toEqual(['198.18.20.11'])
    expect(dig(named, `pub11.${Z.setupForward}`)).toEqual([])
    expect(dig(named, '198.18.20.11', 'PTR')).toEqual([`pub11.${Z.setupOther}.`])

    // Without publish nothing is queued for the existing allocations (later changes follow the new settings).
    const before = (await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from outbox`)).rows[0]!.n
    const r2 = await call('dns:pool:set', { pool: 'setup-lan', ptr: false })
    expect(r2.published).toBeUndefined()
    expect((await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from outbox`)).rows[0]!.n).toBe(before)
    // Publishing "no zone, no PTR" removes what Netkeeper wrote.
    await call('dns:pool:set', { pool: 'setup-lan', zone: Z.setupOther, ptr: true })
    await call('dns:pool:set', { pool: 'setup-lan', zone: null, ptr: false, publish: true })
    await core.outbox.drain(10_000)
    expect(dig(named, `pub12.${Z.setupOther}`)).toEqual([])
    expect(dig(named, '198.18.20.12', 'PTR')).toEqual([])
  })

  it('removes zones, then the server (refused while it has zones); its secret leaves the keychain', async () => {
    expect(await refused(call('dns:server:remove', { name: 'ns1' }))).toMatchObject({ code: 'CONFLICT', details: { field: 'name' } })
    for (const name of [Z.setupForward, Z.setupOther, Z.setupReverse]) expect((await call('dns:zone:remove', { name })).name).toBe(name)
    expect((await call('dns:server:remove', { name: 'ns1' })).name).toBe('ns1')
    expect(await call('dns:server:list', {})).toEqual([])
    expect(await core.dns.servers.secrets.lookup('dns:ns1', { address: '127.0.0.1', port: named.port, keyName: named.keyName, algorithm: 'hmac-sha256' })).toBeNull()
  })
})

describe.skipIf(skip)('DHCP (Kea) set-up and drift from the app', () => {
  it('adds, tests and lists a Kea server; the password never comes back', async () => {
    const s = await call('dhcp:server:add', { name: 'kea1', host: kea.host, port: kea.port, database: kea.database, user: 'postgres', password: 'not-needed-here' })
    expect(s).toEqual({ id: expect.any(Number), name: 'kea1', host: kea.host, port: kea.port, database: kea.database, user: 'postgres', pools: [] })
    expect(JSON.stringify(await call('dhcp:server:list', {}))).not.toContain('not-needed-here')
    const t = await call('dhcp:server:test', { name: 'kea1' })
    expect(t).toMatchObject({ ok: true, hosts: 0, leases: 0 })
    expect(t.schema).toMatch(/^\d+\.\d+$/)
    expect((await refused(call('dhcp:server:test', { name: 'kea1' }, operator))).code).toBe('FORBIDDEN')
  })

  it("offers the pool's subnet ids: the one whose leases fall in the pool first, the next free one", async () => {
    await core.ipam.createPool(admin, { name: 'setup-dhcp', network: '198.18.30.0/24' })
    const lease = (ip: number, subnet: number, mac: string): Promise<unknown> =>
      withClient(kea.url, (c) =>
        c.query(
          `insert into lease4 (address, hwaddr, valid_lifetime, expire, subnet_id, fqdn_fwd, fqdn_rev, hostname, state)
           values ($1, decode($2, 'hex'), 3600, now() + interval '1 hour', $3, false, false, null, 0)`,
          [ip, mac, subnet]
        )
      )
    const n = (a: number, b: number, c: number, d: number): number => ((a * 256 + b) * 256 + c) * 256 + d
    await lease(n(198, 18, 30, 77), 42, '020000003077')
    await lease(n(10, 0, 0, 5), 1, '020000000005')
    const c = await call('dhcp:subnet-ids', { server: 'kea1', pool: 'setup-dhcp' })
    expect(c.ids[0]).toEqual({ subnetId: 42, hosts: 0, leases: 1, leasesInPool: 1, pools: [] })
    expect(c.ids.map((x) => x.subnetId)).toEqual([42, 1])
    expect(c.nextFree).toBe(2)
    const set = await call('dhcp:pool:set', { pool: 'setup-dhcp', server: 'kea1', subnetId: 42 })
    expect(set).toEqual({ pool: 'setup-dhcp', server: 'kea1', subnetId: 42 })
    expect(await call('dhcp:pool', { pool: 'setup-dhcp' })).toEqual(set)
    expect((await call('dhcp:subnet-ids', { server: 'kea1' })).ids.find((x) => x.subnetId === 42)!.pools).toEqual(['setup-dhcp'])
  })

  it('DHCP drift: a lease on a free address and an allocation without reservation; repaired both ways, ignored, audited', async () => {
    await core.ipam.allocate(admin, { pool: 'setup-dhcp', ip: '198.18.30.10', mac: '02:00:00:00:30:10', hostname: 'res10', dhcpManaged: true })
    // Its reservation is removed behind Netkeeper's back.
    await core.outbox.drain(10_000)
    await withClient(kea.url, (c) => c.query(`delete from hosts`))
    const d = await call('dhcp:drift', { pool: 'setup-dhcp' })
    expect(d.pools).toEqual([{ pool: 'setup-dhcp' }])
    const leaseLine = d.items.find((i) => i.kind === 'lease-on-free-address')!
    const missing = d.items.find((i) => i.kind === 'allocation-without-reservation')!
    expect(leaseLine).toMatchObject({ ip: '198.18.30.77', inKea: '02:00:00:00:30:77' })
    expect(missing).toMatchObject({ ip: '198.18.30.10', expected: '02:00:00:00:30:10 res10' })

    const seq = await lastSeq(core)
    const [toKea] = await call('dhcp:drift:repair', { ids: [missing.id], direction: 'dhcp' })
    expect(toKea).toMatchObject({ ok: true, message: expect.stringContaining('reserved 198.18.30.10') })
    const rows = await withClient(kea.url, async (c) => (await c.query(`select hostname from hosts`)).rows)
    expect(rows).toEqual([{ hostname: 'res10' }])
    expect((await auditRows(core, seq)).find((a) => a.resource_type === 'dhcp_reservation')).toMatchObject({ status: 'success', user_id: 'alice' })

    await call('dhcp:drift:ignore', { id: leaseLine.id })
    expect((await call('dhcp:drift', { pool: 'setup-dhcp' })).items.find((i) => i.id === leaseLine.id)!.ignored).toBe(true)
    await call('dhcp:drift:ignore', { id: leaseLine.id, undo: true })
    const [toIpam] = await call('dhcp:drift:repair', { ids: [leaseLine.id], direction: 'ipam' })
    expect(toIpam).toMatchObject({ ok: true, message: 'allocated 198.18.30.77' })
    expect((await core.ipam.getAllocation(admin, '198.18.30.77')).mac).toBe('02:00:00:00:30:77')
    expect((await call('dhcp:drift', { pool: 'setup-dhcp' })).items).toEqual([])
    const ignoredAudit = (await auditRows(core, seq)).filter((a) => a.resource_type === 'dhcp_drift')
    expect(ignoredAudit.map((a) => a.details.context?.operation)).toEqual(['ignore', 'unignore'])
  })

  it('removes a Kea server only once no pool maps to it', async () => {
    expect(await refused(call('dhcp:server:remove', { name: 'kea1' }))).toMatchObject({ code: 'CONFLICT', details: { field: 'name' } })
    await call('dhcp:pool:set', { pool: 'setup-dhcp', server: null, subnetId: null })
    expect(await call('dhcp:server:remove', { name: 'kea1' })).toMatchObject({ name: 'kea1' })
    expect(await call('dhcp:server:list', {})).toEqual([])
    expect((await auditRows(core)).filter((a) => a.resource_type === 'dhcp_server' && a.status === 'success').map((a) => a.action)).toEqual(['create', 'delete'])
  })
})

describe.skipIf(skip)('netkeeper dns pool --publish, dhcp server remove', () => {
  it('publishes a pool after its zone is set, and removes a Kea server, with --json', { timeout: 180_000 }, async () => {
    const env = { NETKEEPER_DATABASE_URL: coreUrl, NETKEEPER_DATA_DIR: coreDataDir }
    const run = async (args: string[], input?: string): Promise<ReturnType<Awaited<ReturnType<typeof cli>>['json']>> => {
      const r = await cli(['--json', ...args], env, input)
      if (r.code !== 0) throw new Error(`netkeeper ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`)
      return r.json()
    }
    await run(['dns', 'server', 'add', 'ns-cli', '--address', '127.0.0.1', '--port', String(named.port), '--key-name', named.keyName, '--secret-stdin'], named.secret)
    await run(['dns', 'zone', 'add', Z.setupForward, '--server', 'ns-cli', '--ttl', '60'])
    await core.ipam.createPool(admin, { name: 'cli-pub', network: '198.18.21.0/24' })
    await core.ipam.allocate(admin, { pool: 'cli-pub', ip: '198.18.21.5', hostname: 'clipub', dnsManaged: true })
    const r = await run(['dns', 'pool', 'cli-pub', '--zone', Z.setupForward, '--publish'])
    expect(r).toMatchObject({ zone: Z.setupForward, published: { allocations: 1, rows: 1 }, applied: { done: 1 } })
    expect(dig(named, `clipub.${Z.setupForward}`)).toEqual(['198.18.21.5'])
    // Clean up the shared named for other runs of this file: the record goes with the zone setting.
    await run(['dns', 'pool', 'cli-pub', '--no-zone', '--publish'])
    expect(dig(named, `clipub.${Z.setupForward}`)).toEqual([])

    await run(['dhcp', 'server', 'add', 'kea-cli', '--host', kea.host, '--port', String(kea.port), '--database', kea.database, '--user', 'postgres'])
    expect(await run(['dhcp', 'server', 'remove', 'kea-cli'])).toMatchObject({ name: 'kea-cli' })
    expect((await run(['dhcp', 'server', 'list'])).items).toEqual([])
  })
})

describe.skipIf(skip)('IPv6 reservations in Kea (hosts + ipv6_reservations, as kea-admin creates them)', () => {
  it('allocate, rename, release: the reservation follows and reads back', { timeout: 60_000 }, async () => {
    const v6 = async (): Promise<{ subnet: number; mac: string; hostname: string | null; address: string; prefix_len: number; type: number; ctx: string | null }[]> =>
      withClient(kea.url, async (c) =>
        (await c.query(`select h.dhcp6_subnet_id::int as subnet, encode(h.dhcp_identifier, 'hex') as mac, h.hostname, host(r.address::inet) as address, r.prefix_len::int as prefix_len, r.type::int as type, h.user_context as ctx
                          from hosts h join ipv6_reservations r on r.host_id = h.host_id where h.dhcp6_subnet_id is not null order by r.address`)).rows
      )
    await core.dhcp.addServer(admin, { name: 'kea6', host: kea.host, port: kea.port, database: kea.database, user: 'postgres' })
    await core.ipam.createPool(admin, { name: 'v6-lan', network: '2001:db8:60::/64' })
    await core.dhcp.setPoolDhcp(admin, { pool: 'v6-lan', server: 'kea6', subnetId: 6 })
    await core.ipam.allocate(admin, { pool: 'v6-lan', ip: '2001:db8:60::10', mac: '02:00:00:00:66:10', hostname: 'six10', dhcpManaged: true })
    await core.ipam.allocate(admin, { pool: 'v6-lan', ip: '2001:db8:60::11', mac: '02:00:00:00:66:11', hostname: 'six11', dhcpManaged: true })
    await core.outbox.drain(10_000)
    expect(await v6()).toEqual([
      { subnet: 6, mac: '020000006610', hostname: 'six10', address: '2001:db8:60::10', prefix_len: 128, type: 0, ctx: expect.stringContaining('netkeeper') },
      { subnet: 6, mac: '020000006611', hostname: 'six11', address: '2001:db8:60::11', prefix_len: 128, type: 0, ctx: expect.stringContaining('netkeeper') }
    ])
    expect(await core.dhcp.reservations(admin, 'v6-lan')).toEqual([
      { ip: '2001:db8:60::10', mac: '02:00:00:00:66:10', hostname: 'six10', subnetId: 6, ours: true, allocation: { ip: '2001:db8:60::10', hostname: 'six10' } },
      { ip: '2001:db8:60::11', mac: '02:00:00:00:66:11', hostname: 'six11', subnetId: 6, ours: true, allocation: { ip: '2001:db8:60::11', hostname: 'six11' } }
    ])
    expect((await core.dhcp.drift(admin, { pool: 'v6-lan' })).items).toEqual([])
    await core.ipam.updateAllocation(admin, { ip: '2001:db8:60::10', hostname: 'six10b', mac: '02:00:00:00:66:1a' })
    await core.outbox.drain(10_000)
    expect((await v6()).map((r) => [r.address, r.mac, r.hostname])).toEqual([
      ['2001:db8:60::10', '02000000661a', 'six10b'],
      ['2001:db8:60::11', '020000006611', 'six11']
    ])
    await core.ipam.release(admin, '2001:db8:60::11')
    await core.outbox.drain(10_000)
    expect((await v6()).map((r) => r.address)).toEqual(['2001:db8:60::10'])
    // The host row goes with its reservation (no orphan host left in subnet 6).
    const orphans = await withClient(kea.url, async (c) => (await c.query(`select count(*)::int as n from hosts h where dhcp6_subnet_id = 6 and not exists (select 1 from ipv6_reservations r where r.host_id = h.host_id)`)).rows[0].n)
    expect(orphans).toBe(0)
  })
})

describe.skipIf(skip)('offline replay carries the DNS side effect', () => {
  it('a queued allocation with DNS on, replayed, gets its record under the replay audit row request id', { timeout: 60_000 }, async () => {
    await core.dns.addServer(admin, { name: 'ns-replay', address: '127.0.0.1', port: named.port, keyName: named.keyName, secret: named.secret })
    await core.dns.addZone(admin, { server: 'ns-replay', name: Z.setupOther, ttl: 60 })
    await core.ipam.createPool(admin, { name: 'replay-lan', network: '198.18.22.0/24' })
    await core.dns.setPoolDns(admin, { pool: 'replay-lan', zone: Z.setupOther })
    const q = OfflineQueue.open(coreDataDir)
    try {
      q.enqueue(operator, { operation: 'ipam.allocate', args: { pool: 'replay-lan', ip: '198.18.22.9', hostname: 'queued9', dnsManaged: true } }, core.db.target.label)
      expect(dig(named, `queued9.${Z.setupOther}`)).toEqual([])
      const seq = await lastSeq(core)
      const report = await replayQueue(core, q, { refreshSnapshot: false })
      expect(report).toMatchObject({ applied: 1, conflicts: 0 })
      await core.outbox.drain(10_000)
      expect(dig(named, `queued9.${Z.setupOther}`)).toEqual(['198.18.22.9'])
      const rows = await auditRows(core, seq)
      const alloc = rows.find((r) => r.resource_type === 'ip_allocation' && r.action === 'create')!
      expect(alloc).toMatchObject({ source: 'replay', status: 'success' })
      expect(rows.find((r) => r.resource_type === 'outbox')).toMatchObject({ request_id: alloc.request_id, status: 'success' })
    } finally {
      q.close()
      await core.ipam.release(admin, '198.18.22.9')
      await core.outbox.drain(10_000)
    }
    expect(dig(named, `queued9.${Z.setupOther}`)).toEqual([])
  })
})

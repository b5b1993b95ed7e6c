/**
 * DHCP follows the addresses through Kea: host reservations in a Kea database made by kea-admin on the
 * suite's PostgreSQL; a real kea-dhcp4 in a network namespace hands the reserved address to udhcpc with the
 * reserved MAC, and stops once the allocation is released; leases read back; drift; kea-config.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { withClient } from '../support/db'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'
import { cli } from '../support/cli'
import { MAP_STATES } from '../../src/shared/ipam'
import { keaDatabase, namespaceSkipReason, startKeaLab, type KeaLab } from '../support/kea'

let core: Core
let coreUrl: string
let coreDataDir: string
let kea: Awaited<ReturnType<typeof keaDatabase>>
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')
const hosts = async (): Promise<{ ip: string; mac: string; hostname: string | null; user_context: string | null }[]> =>
  withClient(kea.url, async (c) =>
    (await c.query(`select ((ipv4_address >> 24) & 255) || '.' || ((ipv4_address >> 16) & 255) || '.' || ((ipv4_address >> 8) & 255) || '.' || (ipv4_address & 255) as ip,
                           encode(dhcp_identifier, 'hex') as mac, hostname, user_context from hosts order by ipv4_address`)).rows
  )

beforeAll(async () => {
  ;({ core, url: coreUrl, dataDir: coreDataDir } = await openCore('kea'))
  kea = await keaDatabase()
  await core.dhcp.addServer(admin, { name: 'kea1', host: kea.host, port: kea.port, database: kea.database, user: 'postgres' })
  await core.ipam.createPool(admin, { name: 'kea-lan', network: '198.18.10.0/24', gateway: '198.18.10.1', dnsServers: ['198.18.10.2'] })
  await core.dhcp.setPoolDhcp(admin, { pool: 'kea-lan', server: 'kea1', subnetId: 10 })
}, 60_000)
afterAll(async () => {
  await core?.close()
})

describe('Kea host reservations follow allocations', () => {
  it('reaches the Kea database and sees its schema', async () => {
    const t = await core.dhcp.testServer(admin, 'kea1')
    expect(t).toMatchObject({ ok: true, hosts: 0 })
    expect(t.schema).toMatch(/^\d+\.\d+$/)
  })

  it('refuses DHCP on without a MAC, naming the field', async () => {
    await expect(core.ipam.allocate(op, { pool: 'kea-lan', ip: '198.18.10.9', dhcpManaged: true })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'mac' } })
  })

  it('allocate, rename, change MAC, release: the reservation follows, audited under the request id', async () => {
    const seq = await lastSeq(core)
    await core.ipam.allocate(op, { pool: 'kea-lan', ip: '198.18.10.50', mac: '02:00:00:00:00:50', hostname: 'kea-host', dhcpManaged: true })
    await core.outbox.drain(10_000)
    expect(await hosts()).toEqual([{ ip: '198.18.10.50', mac: '020000000050', hostname: 'kea-host', user_context: expect.stringContaining('netkeeper') }])
    expect((await auditRows(core, seq)).find((r) => r.resource_type === 'outbox')).toMatchObject({ status: 'success', request_id: op.requestId })
    const res = await core.dhcp.reservations(op, 'kea-lan')
    expect(res).toEqual([{ ip: '198.18.10.50', mac: '02:00:00:00:00:50', hostname: 'kea-host', subnetId: 10, ours: true, allocation: { ip: '198.18.10.50', hostname: 'kea-host' } }])
    await core.ipam.updateAllocation(op, { ip: '198.18.10.50', hostname: 'kea-renamed', mac: '02:00:00:00:00:51' })
    await core.outbox.drain(10_000)
    expect(await hosts()).toEqual([expect.objectContaining({ ip: '198.18.10.50', mac: '020000000051', hostname: 'kea-renamed' })])
    await core.ipam.release(op, '198.18.10.50')
    await core.outbox.drain(10_000)
    expect(await hosts()).toEqual([])
  })

  it('never replaces a reservation Netkeeper did not write: the allocation shows the conflict', async () => {
    await withClient(kea.url, (c) => c.query(`insert into hosts (dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id, ipv4_address, hostname) values ('\\x020000000099', 0, 10, (198::bigint << 24) + (18 << 16) + (10 << 8) + 60, 'by-hand')`))
    await core.ipam.allocate(op, { pool: 'kea-lan', ip: '198.18.10.60', mac: '02:00:00:00:00:60', hostname: 'wants-60', dhcpManaged: true })
    await core.outbox.drain(10_000)
    const [row] = await core.outbox.list({ subject: `ip_allocation:${(await core.ipam.getAllocation(op, '198.18.10.60')).id}` })
    expect(row).toMatchObject({ kind: 'dhcp', state: 'conflict' })
    expect(row!.lastError).toContain('already has a reservation of 198.18.10.60 for 02:00:00:00:00:99 (by-hand) that Netkeeper did not write')
    expect((await hosts()).map((h) => h.hostname)).toEqual(['by-hand'])
  })

  it('drift: the hand-written reservation and the allocation without one; repaired towards Kea', async () => {
    const d = await core.dhcp.drift(op, { pool: 'kea-lan' })
    expect(d.items.find((i) => i.ip === '198.18.10.60')).toMatchObject({ kind: 'reservation-differs', inKea: '02:00:00:00:00:99 by-hand', expected: '02:00:00:00:00:60 wants-60' })
    const r = await core.dhcp.repair(op, { pool: 'kea-lan', direction: 'dhcp' })
    expect(r.every((x) => x.ok)).toBe(true)
    expect(await hosts()).toEqual([expect.objectContaining({ ip: '198.18.10.60', mac: '020000000060', hostname: 'wants-60' })])
    expect((await core.dhcp.drift(op, { pool: 'kea-lan' })).items).toEqual([])
  })

  it('prints the pool subnet4 entry for the Kea configuration: no dynamic pools while the pool has no DHCP range', async () => {
    expect(await core.dhcp.keaConfig(op, 'kea-lan')).toEqual({
      subnet4: [{ id: 10, subnet: '198.18.10.0/24', pools: [], 'option-data': [{ name: 'routers', data: '198.18.10.1' }, { name: 'domain-name-servers', data: '198.18.10.2' }], 'user-context': { netkeeper: { pool: 'kea-lan' } } }]
    })
  })

  it("kea-config: the pool's DHCP ranges become Kea pools (other purposes do not), and kea-dhcp4 -t accepts the JSON", async () => {
    await core.ipam.createPool(admin, { name: 'kea-ranges', network: '198.18.30.0/24', gateway: '198.18.30.1' })
    await core.dhcp.setPoolDhcp(admin, { pool: 'kea-ranges', server: 'kea1', subnetId: 30 })
    await core.ipam.addRange(admin, { pool: 'kea-ranges', first: '198.18.30.200', last: '198.18.30.250', purpose: 'dhcp' })
    await core.ipam.addRange(admin, { pool: 'kea-ranges', first: '198.18.30.100', last: '198.18.30.149', purpose: 'dhcp' })
    await core.ipam.addRange(admin, { pool: 'kea-ranges', first: '198.18.30.10', last: '198.18.30.19', purpose: 'reserved' })
    const cfg = (await core.dhcp.keaConfig(op, 'kea-ranges')) as { subnet4: { pools: unknown }[] }
    expect(cfg.subnet4[0]!.pools).toEqual([{ pool: '198.18.30.100 - 198.18.30.149' }, { pool: '198.18.30.200 - 198.18.30.250' }])
    // Kea's own parser in config-test mode: the printed entry is a valid subnet4 (ranges inside the subnet, options known).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-kea-config-'))
    try {
      const file = path.join(dir, 'kea-dhcp4.conf')
      const check = (subnet4: unknown): ReturnType<typeof spawnSync> => {
        fs.writeFileSync(file, JSON.stringify({ Dhcp4: { 'interfaces-config': { interfaces: [] }, 'lease-database': { type: 'memfile', persist: false }, subnet4 } }))
        return spawnSync('kea-dhcp4', ['-t', file], { encoding: 'utf8' })
      }
      const ok = check(cfg.subnet4)
      expect(ok.status, `${ok.stdout}${ok.stderr}`).toBe(0)
      // The check can fail: a pool outside its subnet is refused, so a pass above means something.
      const bad = check([{ ...cfg.subnet4[0]!, pools: [{ pool: '198.18.31.1 - 198.18.31.9' }] }])
      expect(bad.status).not.toBe(0)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the subnet map shows leases: leased (allocated), leased from a dhcp range, and leased on an address IPAM calls free; drift flags only the last', async () => {
    await core.ipam.createPool(admin, { name: 'kea-map', network: '198.18.40.0/24' })
    await core.dhcp.setPoolDhcp(admin, { pool: 'kea-map', server: 'kea1', subnetId: 40 })
    await core.ipam.addRange(admin, { pool: 'kea-map', first: '198.18.40.100', last: '198.18.40.199', purpose: 'dhcp' })
    await core.ipam.allocate(op, { pool: 'kea-map', ip: '198.18.40.10', hostname: 'has-lease' })
    await core.ipam.allocate(op, { pool: 'kea-map', ip: '198.18.40.11', hostname: 'no-lease' })
    // Leases as kea-dhcp4 writes them (address as a number, expiry in the future; one long gone).
    const lease = (last: number, mac: string, host: string | null, expire = "now() + interval '1 hour'"): Promise<unknown> =>
      withClient(kea.url, (c) =>
        c.query(
          `insert into lease4 (address, hwaddr, valid_lifetime, expire, subnet_id, fqdn_fwd, fqdn_rev, hostname, state)
           values ((198::bigint << 24) + (18 << 16) + (40 << 8) + $1, decode($2, 'hex'), 3600, ${expire}, 40, false, false, $3, 0)`,
          [last, mac, host]
        )
      )
    await lease(10, '020000004010', 'has-lease')
    await lease(150, '020000004150', 'dynamic')
    await lease(20, '020000004020', 'rogue')
    await lease(21, '020000004021', 'expired', "now() - interval '1 hour'")
    const map = await core.ipam.poolMap(op, 'kea-map')
    if (map.kind !== 'cells') throw new Error(`a /24 is drawn as cells, not ${map.kind}`)
    const states = Buffer.from(map.states, 'base64')
    const at = (last: number): string => MAP_STATES[states[last]!]!
    expect([at(10), at(11), at(150), at(151), at(20), at(21)]).toEqual(['leased', 'allocated', 'leased-range', 'range', 'leased-free', 'free'])
    expect(map.counts).toMatchObject({ leased: 1, 'leased-range': 1, 'leased-free': 1, allocated: 1 })
    expect(map.leases).toEqual([
      { ip: '198.18.40.10', mac: '02:00:00:00:40:10', hostname: 'has-lease', expires: expect.any(String) },
      { ip: '198.18.40.20', mac: '02:00:00:00:40:20', hostname: 'rogue', expires: expect.any(String) },
      { ip: '198.18.40.150', mac: '02:00:00:00:41:50', hostname: 'dynamic', expires: expect.any(String) }
    ])
    // A lease from a dhcp range is how Kea is meant to work; only the lease on a free address is drift.
    const d = await core.dhcp.drift(op, { pool: 'kea-map' })
    expect(d.items.filter((i) => i.kind === 'lease-on-free-address').map((i) => i.ip)).toEqual(['198.18.40.20'])
    // A pool not mapped to Kea draws no leases; a Kea database that cannot be read says why.
    await core.ipam.createPool(admin, { name: 'no-kea', network: '198.18.41.0/24' })
    const plain = await core.ipam.poolMap(op, 'no-kea')
    expect(plain).not.toHaveProperty('leases')
    await core.dhcp.addServer(admin, { name: 'kea-down', host: '127.0.0.1', port: 1, database: 'nowhere', user: 'postgres' })
    await core.dhcp.setPoolDhcp(admin, { pool: 'no-kea', server: 'kea-down', subnetId: 41 })
    const down = await core.ipam.poolMap(op, 'no-kea')
    expect(down).toMatchObject({ kind: 'cells', leaseError: expect.stringContaining('the leases could not be read') })
    expect(down).not.toHaveProperty('leases')
  })

  it('kea-config of an IPv6 pool is a subnet6 entry with dns-servers and its DHCP ranges', async () => {
    await core.ipam.createPool(admin, { name: 'kea-v6', network: '2001:db8:30::/64', dnsServers: ['2001:db8:30::53'] })
    await core.dhcp.setPoolDhcp(admin, { pool: 'kea-v6', server: 'kea1', subnetId: 60 })
    await core.ipam.addRange(admin, { pool: 'kea-v6', first: '2001:db8:30::1000', last: '2001:db8:30::1fff', purpose: 'dhcp' })
    expect(await core.dhcp.keaConfig(op, 'kea-v6')).toEqual({
      subnet6: [{ id: 60, subnet: '2001:db8:30::/64', pools: [{ pool: '2001:db8:30::1000 - 2001:db8:30::1fff' }], 'option-data': [{ name: 'dns-servers', data: '2001:db8:30::53' }], 'user-context': { netkeeper: { pool: 'kea-v6' } } }]
    })
  })
})

const nsSkip = namespaceSkipReason()
if (nsSkip) console.warn(`[kea.test] the DHCP client test is skipped: ${nsSkip}`)

describe.skipIf(!!nsSkip)('kea-dhcp4 hands out the reserved address (network namespaces)', () => {
  let lab: KeaLab
  beforeAll(async () => {
    lab = await startKeaLab({
      subnetId: 10,
      subnet: '198.18.10.0/24',
      serverIp: '198.18.10.1',
      db: { socketDir: path.join(path.dirname(inject('pgDataDir')), 'sock'), port: inject('pgPort'), database: kea.database }
    })
  }, 60_000)
  afterAll(() => lab?.stop())

  it('a client with the reserved MAC receives the reserved address, shown as leased; after release it no longer does', { timeout: 120_000 }, async () => {
    await core.ipam.allocate(op, { pool: 'kea-lan', ip: '198.18.10.70', mac: '02:00:00:00:00:70', hostname: 'client70', dhcpManaged: true })
    await core.outbox.drain(10_000)
    expect(lab.request('02:00:00:00:00:70')).toBe('198.18.10.70')
    const leases = await core.dhcp.leases(op, 'kea-lan')
    expect(leases).toEqual([expect.objectContaining({ ip: '198.18.10.70', mac: '02:00:00:00:00:70', subnetId: 10 })])
    expect(await core.dhcp.allocationDhcp('198.18.10.70')).toMatchObject({ state: 'done', lease: { mac: '02:00:00:00:00:70' } })
    const map = await core.ipam.poolMap(op, 'kea-lan')
    if (map.kind !== 'cells') throw new Error('a /24 is drawn as cells')
    expect(MAP_STATES[Buffer.from(map.states, 'base64')[70]!]).toBe('leased')
    await core.ipam.release(op, '198.18.10.70')
    await core.outbox.drain(10_000)
    expect(lab.request('02:00:00:00:00:70')).toBeNull()
    // The lease outlives the allocation: drift calls it a lease on a free address.
    const d = await core.dhcp.drift(op, { pool: 'kea-lan' })
    expect(d.items).toEqual([expect.objectContaining({ kind: 'lease-on-free-address', ip: '198.18.10.70' })])
  })
})

describe('netkeeper dhcp', () => {
  it('server list and test, pool mapping, reservations, leases and kea-config with --json', { timeout: 300_000 }, async () => {
    const env = { NETKEEPER_DATABASE_URL: coreUrl, NETKEEPER_DATA_DIR: coreDataDir }
    const run = async (args: string[]): Promise<ReturnType<Awaited<ReturnType<typeof cli>>['json']>> => {
      const r = await cli(['--json', ...args], env)
      if (r.code !== 0) throw new Error(`netkeeper ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`)
      return r.json()
    }
    expect((await run(['dhcp', 'server', 'list'])).items).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'kea1', database: kea.database, pools: ['kea-lan', 'kea-map', 'kea-ranges', 'kea-v6'] })])
    )
    expect(await run(['dhcp', 'server', 'test', 'kea1'])).toMatchObject({ ok: true })
    await run(['pool', 'create', '--name', 'kea-cli', '--network', '198.18.20.0/24'])
    expect(await run(['dhcp', 'pool', 'kea-cli', '--server', 'kea1', '--subnet-id', '20'])).toEqual({ pool: 'kea-cli', server: 'kea1', subnetId: 20 })
    await run(['ip', 'allocate', '--pool', 'kea-cli', '--ip', '198.18.20.5', '--mac', '02:00:00:00:20:05', '--hostname', 'cli5', '--dhcp-managed'])
    expect((await run(['dhcp', 'reservations', '--pool', 'kea-cli'])).items).toEqual([
      { ip: '198.18.20.5', mac: '02:00:00:00:20:05', hostname: 'cli5', subnetId: 20, ours: true, allocation: { ip: '198.18.20.5', hostname: 'cli5' } }
    ])
    expect((await run(['dhcp', 'leases', '--pool', 'kea-cli'])).items).toEqual([])
    expect((await run(['dhcp', 'kea-config', '--pool', 'kea-cli'])).subnet4[0]).toMatchObject({ id: 20, subnet: '198.18.20.0/24', pools: [] })
    await run(['range', 'add', '--pool', 'kea-cli', '--first', '198.18.20.100', '--last', '198.18.20.199', '--purpose', 'dhcp'])
    expect((await run(['dhcp', 'kea-config', '--pool', 'kea-cli'])).subnet4[0]).toMatchObject({ id: 20, pools: [{ pool: '198.18.20.100 - 198.18.20.199' }] })
    const missing = await cli(['ip', 'allocate', '--pool', 'kea-cli', '--ip', '198.18.20.6', '--dhcp-managed'], env)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('validation: mac: is required when DHCP is on')
  })
})

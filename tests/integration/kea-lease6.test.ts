/**
 * Kea's IPv6 leases (lease6, the schema `kea-admin db-init pgsql` creates) on the suite's PostgreSQL: an IPv6
 * pool mapped to a Kea subnet shows its active address leases (not expired ones, not delegated prefixes, not
 * another network's) as "leased" on the subnet map, in the allocation's details, and, on addresses IPAM
 * calls free outside its DHCP ranges, as DHCP drift. The rows are written as kea-dhcp6 writes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { ctxAs, openCore } from '../support/core'
import { withClient } from '../support/db'
import { keaDatabase } from '../support/kea'

let core: Core
let kea: Awaited<ReturnType<typeof keaDatabase>>
let poolId: number
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')

/** A lease6 row: type 0 an address (IA_NA), 2 a delegated prefix; expires in `minutes` (negative: expired). */
async function lease(address: string, opts: { mac: string; hostname: string; minutes?: number; type?: number; subnetId?: number }): Promise<void> {
  await withClient(kea.url, (c) =>
    c.query(
      `insert into lease6 (address, duid, valid_lifetime, expire, subnet_id, pref_lifetime, lease_type, iaid, prefix_len, fqdn_fwd, fqdn_rev, hostname, state, hwaddr, hwtype, hwaddr_source)
       values ($1, decode('000100012b3c4d5e' || $2, 'hex'), 3600, now() + make_interval(mins => $3), $4, 1800, $5, 1, $6, false, false, $7, 0, decode($2, 'hex'), 1, 1)`,
      [address, opts.mac.replace(/:/g, ''), opts.minutes ?? 60, opts.subnetId ?? 60, opts.type ?? 0, opts.type === 2 ? 64 : 128, opts.hostname]
    )
  )
}

beforeAll(async () => {
  ;({ core } = await openCore('kea6'))
  kea = await keaDatabase()
  await core.dhcp.addServer(admin, { name: 'kea6', host: kea.host, port: kea.port, database: kea.database, user: 'postgres' })
  const pool = await core.ipam.createPool(admin, { name: 'v6net', network: '2001:db8:60::/64' })
  poolId = pool.id
  await core.dhcp.setPoolDhcp(admin, { pool: 'v6net', server: 'kea6', subnetId: 60 })
  await core.ipam.allocate(admin, { pool: 'v6net', ip: '2001:db8:60::10', hostname: 'srv10' })
  await lease('2001:db8:60::10', { mac: '02:00:00:00:60:10', hostname: 'srv10.example.' })
  await lease('2001:db8:60::77', { mac: '02:00:00:00:60:77', hostname: 'laptop.example.' })
  await lease('2001:db8:60::88', { mac: '02:00:00:00:60:88', hostname: 'gone.example.', minutes: -60 })
  await lease('2001:db8:60:0:1::', { mac: '02:00:00:00:60:99', hostname: 'router.example.', type: 2 })
  await lease('2001:db8:61::5', { mac: '02:00:00:00:61:05', hostname: 'elsewhere.example.', subnetId: 61 })
}, 120_000)

afterAll(async () => {
  await core?.close()
})

describe('Kea IPv6 leases', () => {
  it("lists the pool's active address leases, with their MAC", async () => {
    const leases = await core.dhcp.leases(op, 'v6net')
    expect(leases.map((l) => [l.ip, l.mac, l.hostname, l.subnetId])).toEqual([
      ['2001:db8:60::10', '02:00:00:00:60:10', 'srv10.example.', 60],
      ['2001:db8:60::77', '02:00:00:00:60:77', 'laptop.example.', 60]
    ])
    expect(leases.every((l) => l.expires && Date.parse(l.expires) > Date.now())).toBe(true)
  })

  it('shows them as leased on the subnet map and in the allocation details', async () => {
    const map = await core.dhcp.mapLeases(poolId)
    expect(map && 'leases' in map ? map.leases.map((l) => l.ip) : map).toEqual(['2001:db8:60::10', '2001:db8:60::77'])
    const details = await core.dhcp.allocationDhcp('2001:db8:60::10')
    expect(details.lease).toMatchObject({ mac: '02:00:00:00:60:10' })
    // Written in another form of the same address, the lease is still found.
    await core.ipam.allocate(admin, { pool: 'v6net', ip: '2001:db8:60::88', hostname: 'gone' })
    expect((await core.dhcp.allocationDhcp('2001:0db8:0060:0000:0000:0000:0000:0088')).lease).toBeNull()
  })

  it('reports a lease on an address IPAM calls free as drift, unless it lies in a DHCP range', async () => {
    const drift = await core.dhcp.drift(op, { pool: 'v6net' })
    expect(drift.pools).toEqual([{ pool: 'v6net' }])
    expect(drift.items.map((i) => [i.kind, i.ip])).toEqual([['lease-on-free-address', '2001:db8:60::77']])
    expect(drift.items[0]!.toIpam).toContain('allocate 2001:db8:60::77 to 02:00:00:00:60:77')
    await core.ipam.addRange(admin, { pool: 'v6net', first: '2001:db8:60::70', last: '2001:db8:60::7f', purpose: 'dhcp' })
    expect((await core.dhcp.drift(op, { pool: 'v6net' })).items).toEqual([])
  })

  it("offers an IPv6 pool the subnet ids of Kea's lease6 (address leases, expired ones too, as for lease4), those inside the pool counted", async () => {
    const choices = await core.dhcp.subnetChoices(admin, 'kea6', 'v6net')
    expect(choices.ids.map((x) => [x.subnetId, x.leases, x.leasesInPool, x.pools])).toEqual([
      [60, 3, 3, ['v6net']],
      [61, 1, 0, []]
    ])
  })

  it('counts IPv6 leases in the server test', async () => {
    const t = await core.dhcp.testServer(admin, 'kea6')
    expect(t).toMatchObject({ ok: true, leases: 5 })
  })
})

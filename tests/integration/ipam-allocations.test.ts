import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'

let core: Core
const op = ctxAs('operator', 'olga')
const admin = ctxAs('admin', 'alice')

beforeAll(async () => {
  ;({ core } = await openCore('allocs'))
  await core.ipam.createPool(admin, { name: 'lan', network: '192.168.10.0/24', gateway: '192.168.10.1' })
  await core.ipam.createPool(admin, { name: 'tiny', network: '192.168.20.0/30' })
  await core.ipam.createPool(admin, { name: 'v6', network: '2001:db8:10::/64', gateway: '2001:db8:10::1' })
})
afterAll(async () => {
  await core?.close()
})

describe('explicit allocation', () => {
  it('allocates an address with canonical MAC and lower-case host name, and audits it', async () => {
    const seq = await lastSeq(core)
    const [a] = await core.ipam.allocate(op, { pool: 'lan', ip: '192.168.10.50', hostname: 'Web-01.Example.COM', mac: 'AA-BB-CC-00-11-22', owner: 'web team', purpose: 'frontend' })
    expect(a).toMatchObject({ ip: '192.168.10.50', hostname: 'web-01.example.com', mac: 'aa:bb:cc:00:11:22', status: 'allocated', allocatedBy: 'olga', version: 1, poolName: 'lan' })
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'create', resource_type: 'ip_allocation', resource_name: '192.168.10.50', resource_id: String(a!.id), status: 'success' })
    expect(rows[0]!.details.after).toMatchObject({ ip: '192.168.10.50', hostname: 'web-01.example.com', mac: 'aa:bb:cc:00:11:22', owner: 'web team', status: 'allocated' })
    expect(rows[0]!.details.context).toMatchObject({ operation: 'allocate', pool: 'lan', mode: 'explicit' })
  })

  it.each([
    ['192.168.10.0', 'network address'],
    ['192.168.10.255', 'broadcast address'],
    ['192.168.10.1', 'gateway'],
    ['192.168.11.5', 'outside'],
    ['192.168.10.256', 'not a valid IPv4'],
    ['2001:db8:10::5', 'IPv6'],
    ['192.168.10.7/32', 'network']
  ])('refuses %s (%s), recording the failure', async (ip, reason) => {
    const seq = await lastSeq(core)
    const err = await core.ipam.allocate(op, { pool: 'lan', ip }).catch((e) => e)
    expect(err).toMatchObject({ code: 'VALIDATION', details: { field: 'ip' } })
    expect(err.message).toContain(reason)
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ status: 'failure', resource_type: 'ip_allocation' })
    expect(rows[0]!.details.error?.message).toContain(reason)
  })

  it('finds the free range of an address whose text sorts before its neighbours (.20 after .10, .100)', async () => {
    await core.ipam.createPool(admin, { name: 'order', network: '10.55.0.0/24', gateway: '10.55.0.1' })
    for (const ip of ['10.55.0.10', '10.55.0.100', '10.55.0.20', '10.55.0.3', '10.55.0.200', '10.55.0.9']) {
      expect((await core.ipam.allocate(op, { pool: 'order', ip }))[0]!.ip).toBe(ip)
    }
  })

  it('names who holds a taken address', async () => {
    const err = await core.ipam.allocate(op, { pool: 'lan', ip: '192.168.10.50' }).catch((e) => e)
    expect(err).toMatchObject({ code: 'CONFLICT', details: { field: 'ip', holder: { hostname: 'web-01.example.com' } } })
    expect(err.message).toContain('already allocated to web-01.example.com')
  })

  it('refuses bad MACs and host names naming the field', async () => {
    await expect(core.ipam.allocate(op, { pool: 'lan', ip: '192.168.10.60', mac: 'aa:bb:cc:dd:ee' })).rejects.toMatchObject({ details: { field: 'mac' } })
    await expect(core.ipam.allocate(op, { pool: 'lan', ip: '192.168.10.60', hostname: '-bad-.example' })).rejects.toMatchObject({ details: { field: 'hostname' } })
    await expect(core.ipam.allocate(op, { pool: 'lan', ip: '192.168.10.60', owner: 'x'.repeat(300) })).rejects.toMatchObject({ details: { field: 'owner' } })
    await expect(core.ipam.allocate(op, { pool: 'nope', ip: '192.168.10.60' })).rejects.toMatchObject({ code: 'NOT_FOUND', details: { field: 'pool' } })
    // Nothing half-written.
    await expect(core.ipam.getAllocation(op, '192.168.10.60')).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})

describe('next free', () => {
  it('hands out the lowest free addresses, skipping network, gateway and taken ones', async () => {
    const [a] = await core.ipam.allocate(op, { pool: 'lan', next: true })
    expect(a!.ip).toBe('192.168.10.2')
    const many = await core.ipam.allocate(op, { pool: 'lan', next: true, count: 5 })
    expect(many.map((x) => x.ip)).toEqual(['192.168.10.3', '192.168.10.4', '192.168.10.5', '192.168.10.6', '192.168.10.7'])
  })

  it('records next-free allocations with the same audit shape as explicit ones, and the chain verifies', async () => {
    const seq = await lastSeq(core)
    const [a] = await core.ipam.allocate(op, { pool: 'lan', next: true, hostname: 'next-one', owner: 'ops' })
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'create', resource_type: 'ip_allocation', resource_id: String(a!.id), resource_name: a!.ip, user_id: 'olga', status: 'success' })
    expect(rows[0]!.details).toEqual({
      after: { pool: 'lan', ip: a!.ip, status: 'allocated', hostname: 'next-one', mac: null, owner: 'ops', purpose: null, description: null, dnsManaged: false, dhcpManaged: false, reservedUntil: null, allocatedBy: 'olga' },
      context: { operation: 'allocate', pool: 'lan', mode: 'next' }
    })
    expect((await core.audit.verify(op)).ok).toBe(true)
    await core.ipam.release(op, a!.ip)
  })

  it('refuses control characters in free text', async () => {
    await expect(core.ipam.allocate(op, { pool: 'lan', next: true, owner: 'bad\u0001owner' })).rejects.toMatchObject({ details: { field: 'owner' } })
  })

  it('fills a gap left by a release first, and says when the pool is full', async () => {
    await core.ipam.release(op, '192.168.10.4')
    expect((await core.ipam.allocate(op, { pool: 'lan', next: true }))[0]!.ip).toBe('192.168.10.4')
    const t = await core.ipam.allocate(op, { pool: 'tiny', next: true, count: 2 })
    expect(t.map((x) => x.ip)).toEqual(['192.168.20.1', '192.168.20.2'])
    await expect(core.ipam.allocate(op, { pool: 'tiny', next: true })).rejects.toMatchObject({ code: 'CONFLICT', details: { field: 'pool' }, message: expect.stringContaining('no free address') })
    await core.ipam.release(op, '192.168.20.1')
    await expect(core.ipam.allocate(op, { pool: 'tiny', next: true, count: 2 })).rejects.toMatchObject({ details: { field: 'count', free: 1 } })
  })

  it('works in an IPv6 /64, skipping the subnet-router anycast address and the gateway', async () => {
    const r = await core.ipam.allocate(op, { pool: 'v6', next: true, count: 3 })
    expect(r.map((x) => x.ip)).toEqual(['2001:db8:10::2', '2001:db8:10::3', '2001:db8:10::4'])
    const [x] = await core.ipam.allocate(op, { pool: 'v6', ip: '2001:DB8:10:0:FFFF:FFFF:FFFF:FFFF' })
    expect(x!.ip).toBe('2001:db8:10:0:ffff:ffff:ffff:ffff')
    await expect(core.ipam.allocate(op, { pool: 'v6', ip: '2001:db8:10::' })).rejects.toMatchObject({ message: expect.stringContaining('subnet-router anycast') })
    const p = await core.ipam.getPool(op, 'v6')
    expect(p.utilization.free).toBe(String(2n ** 64n - 2n - 4n))
  })
})

describe('reserve, block, update, release', () => {
  it('reserves with an expiry; a lapsed hold counts as free and is handed out again', async () => {
    await core.ipam.createPool(admin, { name: 'holds', network: '10.77.0.0/29' })
    const [r] = await core.ipam.allocate(op, { pool: 'holds', ip: '10.77.0.1', status: 'reserved', until: new Date(Date.now() + 3600_000).toISOString(), owner: 'bob' })
    expect(r).toMatchObject({ status: 'reserved', expired: false })
    await expect(core.ipam.allocate(op, { pool: 'holds', ip: '10.77.0.1' })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('reserved to bob') })
    await expect(core.ipam.allocate(op, { pool: 'holds', ip: '10.77.0.2', status: 'reserved', until: '2001-01-01T00:00:00Z' })).rejects.toMatchObject({ details: { field: 'until' } })
    await expect(core.ipam.allocate(op, { pool: 'holds', ip: '10.77.0.2', until: '2099-01-01T00:00:00Z' })).rejects.toMatchObject({ details: { field: 'until' } })
    // Let the hold lapse (the database's clock decides).
    await core.db.knex.raw(`update ip_allocations set reserved_until = now() - interval '1 minute' where ip_address = '10.77.0.1'`)
    const lapsed = await core.ipam.getAllocation(op, '10.77.0.1')
    expect(lapsed.expired).toBe(true)
    expect((await core.ipam.getPool(op, 'holds')).utilization).toMatchObject({ reserved: 0, free: '6' })
    const seq = await lastSeq(core)
    const [n] = await core.ipam.allocate(op, { pool: 'holds', next: true, hostname: 'db1' })
    expect(n).toMatchObject({ ip: '10.77.0.1', status: 'allocated', hostname: 'db1', owner: null, expired: false, version: 2 })
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.details.before).toMatchObject({ status: 'reserved', owner: 'bob' })
    expect(rows[0]!.details.context).toMatchObject({ reusedLapsedHold: true })
  })

  it('blocks an address so next free skips it', async () => {
    await core.ipam.allocate(op, { pool: 'holds', ip: '10.77.0.2', status: 'blocked', purpose: 'broken port' })
    expect((await core.ipam.allocate(op, { pool: 'holds', next: true }))[0]!.ip).toBe('10.77.0.3')
    expect((await core.ipam.getPool(op, 'holds')).utilization).toMatchObject({ allocated: 2, blocked: 1, free: '3' })
  })

  it('updates with an optimistic version check and records only what changed', async () => {
    const cur = await core.ipam.getAllocation(op, '10.77.0.3')
    const seq = await lastSeq(core)
    const upd = await core.ipam.updateAllocation(op, { ip: '10.77.0.3', version: cur.version, hostname: 'app3', mac: 'aabbccddeeff' })
    expect(upd).toMatchObject({ hostname: 'app3', mac: 'aa:bb:cc:dd:ee:ff', version: cur.version + 1 })
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.details.before).toEqual({ hostname: null, mac: null })
    expect(rows[0]!.details.after).toEqual({ hostname: 'app3', mac: 'aa:bb:cc:dd:ee:ff' })
    // The stale version is refused and nothing changes.
    const stale = await core.ipam.updateAllocation(op, { ip: '10.77.0.3', version: cur.version, hostname: 'clobber' }).catch((e) => e)
    expect(stale).toMatchObject({ code: 'CONFLICT', details: { field: 'version' } })
    expect((await core.ipam.getAllocation(op, '10.77.0.3')).hostname).toBe('app3')
    // A no-op writes nothing.
    const seq2 = await lastSeq(core)
    await core.ipam.updateAllocation(op, { ip: '10.77.0.3', hostname: 'APP3' })
    expect(await auditRows(core, seq2)).toHaveLength(0)
    await expect(core.ipam.updateAllocation(op, { ip: '10.77.0.3', status: 'available' })).rejects.toMatchObject({ details: { field: 'status' } })
    await expect(core.ipam.updateAllocation(op, { ip: '10.77.0.99' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('releases an address; the audit row keeps who held it', async () => {
    const seq = await lastSeq(core)
    const r = await core.ipam.release(op, '10.77.0.3')
    expect(r.hostname).toBe('app3')
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'delete', resource_name: '10.77.0.3' })
    expect(rows[0]!.details.before).toMatchObject({ hostname: 'app3', mac: 'aa:bb:cc:dd:ee:ff', allocatedBy: 'olga' })
    await expect(core.ipam.release(op, '10.77.0.3')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect((await core.ipam.allocate(op, { pool: 'holds', next: true }))[0]!.ip).toBe('10.77.0.3')
  })

  it('keeps the free ranges equal to a rebuild from scratch after all of that', async () => {
    const q = `select pool_id, host(first_ip) f, host(last_ip) l from ip_free_ranges order by pool_id, first_ip`
    const before = (await core.db.knex.raw<{ rows: unknown[] }>(q)).rows
    await core.db.knex.raw(`select ipam_rebuild_free_ranges(id) from ip_pools`)
    expect((await core.db.knex.raw<{ rows: unknown[] }>(q)).rows).toEqual(before)
  })
})

describe('search and stats', () => {
  beforeAll(async () => {
    await core.ipam.createPool(admin, { name: 'srch', network: '10.88.0.0/24', site: 'lon', environment: 'dev' })
    await core.ipam.allocate(op, { pool: 'srch', ip: '10.88.0.10', hostname: 'db-primary', owner: 'Carol', mac: '00:11:22:33:44:55' })
    await core.ipam.allocate(op, { pool: 'srch', ip: '10.88.0.11', hostname: 'DB-replica', owner: 'carol' })
    await core.ipam.allocate(op, { pool: 'srch', ip: '10.88.0.12', hostname: 'cache1', owner: 'dave' })
  })

  it('finds by exact address, CIDR, MAC in any form, hostname prefix and owner', async () => {
    expect((await core.ipam.search(op, { query: '10.88.0.10' })).items.map((a) => a.hostname)).toEqual(['db-primary'])
    const cidr = await core.ipam.search(op, { query: '10.88.0.8/30' })
    expect(cidr.kind).toBe('cidr')
    expect(cidr.items.map((a) => a.ip)).toEqual(['10.88.0.10', '10.88.0.11'])
    expect((await core.ipam.search(op, { query: '0011.2233.4455' })).items.map((a) => a.ip)).toEqual(['10.88.0.10'])
    expect((await core.ipam.search(op, { query: '001122334455' })).kind).toBe('mac')
    expect((await core.ipam.search(op, { query: 'DB-' })).items.map((a) => a.ip)).toEqual(['10.88.0.10', '10.88.0.11'])
    expect((await core.ipam.search(op, { query: 'CAROL', kind: 'owner' })).total).toBe(2)
    const paged = await core.ipam.search(op, { query: '10.88.0.0/24', pageSize: 1, page: 2 })
    expect(paged).toMatchObject({ total: 3, page: 2 })
    expect(paged.items.map((a) => a.ip)).toEqual(['10.88.0.11'])
    expect((await core.ipam.search(op, { query: '100%_' })).total).toBe(0)
    await expect(core.ipam.search(op, { query: '' })).rejects.toMatchObject({ details: { field: 'query' } })
  })

  it('uses the indexes for hostname prefix and CIDR search', async () => {
    await core.db.knex.raw('analyze ip_allocations')
    const plan = async (sql: string): Promise<string> =>
      core.db.knex.transaction(async (trx) => {
        await trx.raw('set local enable_seqscan = off')
        const r = await trx.raw<{ rows: Record<string, string>[] }>(`explain ${sql}`)
        return r.rows.map((row) => Object.values(row)[0]).join('\n')
      })
    expect(await plan(`select * from ip_allocations where lower(hostname) like 'db-%'`)).toContain('ip_allocations_hostname_lower_idx')
    expect(await plan(`select * from ip_allocations where ip_address <<= '10.88.0.0/24'::inet`)).toContain('ip_allocations_ip_address_key')
  })

  it('reports totals, per site and environment, and the most utilized pools', async () => {
    const s = await core.ipam.stats(op)
    expect(s.pools).toBe(6)
    expect(s.bySite.find((x) => x.site === 'lon')).toMatchObject({ pools: 1, allocated: 3, usable: '254' })
    expect(s.byEnvironment.find((x) => x.environment === 'dev')).toMatchObject({ pools: 1 })
    // holds (3 of 6) and tiny (1 of 2) tie at 50 %; ties go by name.
    expect(s.mostUtilized.slice(0, 2).map((p) => [p.name, p.percent])).toEqual([
      ['holds', 50],
      ['tiny', 50]
    ])
    expect(s.allocations.allocated).toBeGreaterThan(10)
  })
})

describe('subnet map data', () => {
  it('encodes one state per address for IPv4 up to /16', async () => {
    await core.ipam.createPool(admin, { name: 'mapme', network: '10.44.0.0/28', gateway: '10.44.0.1' })
    await core.ipam.allocate(op, { pool: 'mapme', ip: '10.44.0.2' })
    await core.ipam.allocate(op, { pool: 'mapme', ip: '10.44.0.3', status: 'reserved' })
    await core.ipam.allocate(op, { pool: 'mapme', ip: '10.44.0.4', status: 'blocked' })
    const m = await core.ipam.poolMap(op, 'mapme')
    if (m.kind !== 'cells') throw new Error(`expected cells, got ${m.kind}`)
    expect(m.size).toBe(16)
    expect([...Buffer.from(m.states, 'base64')]).toEqual([5, 4, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5])
    expect(m.counts).toMatchObject({ free: 10, allocated: 1, reserved: 1, blocked: 1, gateway: 1, network: 2 })
  })

  it('gives /24 tiles for wider IPv4 pools and /64 counts for IPv6', async () => {
    await core.ipam.createPool(admin, { name: 'wide', network: '10.128.0.0/14' })
    await core.ipam.allocate(op, { pool: 'wide', ip: '10.129.5.9' })
    await core.ipam.allocate(op, { pool: 'wide', ip: '10.129.5.10', status: 'blocked' })
    const t = await core.ipam.poolMap(op, 'wide')
    expect(t).toMatchObject({ kind: 'tiles', tileCount: 1024, tiles: [{ network: '10.129.5.0/24', used: 1, blocked: 1, reserved: 0 }] })
    const v6 = await core.ipam.poolMap(op, 'v6')
    expect(v6).toMatchObject({ kind: 'v6', subnets64: '1', used64: 1, free64: '0' })
    await core.ipam.createPool(admin, { name: 'v6-48', network: '2001:db8:4800::/48' })
    await core.ipam.allocate(op, { pool: 'v6-48', ip: '2001:db8:4800:7::1' })
    expect(await core.ipam.poolMap(op, 'v6-48')).toMatchObject({ kind: 'v6', subnets64: '65536', used64: 1, free64: '65535', total: 1 })
  })
})

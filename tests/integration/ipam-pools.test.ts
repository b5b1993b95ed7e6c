import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { cli } from '../support/cli'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'

let core: Core
let url: string
const admin = ctxAs('admin', 'alice')

beforeAll(async () => {
  ;({ core, url } = await openCore('pools'))
})
afterAll(async () => {
  await core?.close()
})

describe('pool create', () => {
  it('creates a pool with utilization and one audit row with the exact values', async () => {
    const seq = await lastSeq(core)
    const p = await core.ipam.createPool(admin, { name: 'office', network: '10.10.0.0/24', gateway: '10.10.0.1', vlanId: 100, site: 'ams', environment: 'prod', description: 'main office' })
    expect(p).toMatchObject({ name: 'office', network: '10.10.0.0/24', gateway: '10.10.0.1', vlanId: 100, family: 4, prefix: 24, createdBy: 'alice', isActive: true })
    expect(p.utilization).toEqual({ usable: '253', allocated: 0, reserved: 0, blocked: 0, free: '253', percent: 0 })
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'create', resource_type: 'ip_pool', resource_id: String(p.id), resource_name: 'office', user_id: 'alice', status: 'success', source: 'ui', request_id: admin.requestId })
    expect(rows[0]!.details.after).toEqual({ name: 'office', network: '10.10.0.0/24', gateway: '10.10.0.1', dnsServers: [], vlanId: 100, site: 'ams', environment: 'prod', description: 'main office', isActive: true })
  })

  it.each([
    [{ name: 'x1', network: '10.20.0.5/24' }, 'network', 'did you mean 10.20.0.0/24'],
    [{ name: 'x2', network: '10.20.0.0' }, 'network', 'no prefix length'],
    [{ name: 'x3', network: '10.20.0.0/33' }, 'network', 'prefix length must be'],
    [{ name: 'x4', network: 'banana/24' }, 'network', 'not a valid CIDR'],
    [{ name: 'x5', network: '10.20.0.0/24', gateway: '10.21.0.1' }, 'gateway', 'outside'],
    [{ name: 'x6', network: '10.20.0.0/24', gateway: '10.20.0.0' }, 'gateway', 'network address'],
    [{ name: 'x7', network: '10.20.0.0/24', gateway: '10.20.0.255' }, 'gateway', 'broadcast address'],
    [{ name: 'x8', network: '10.20.0.0/24', gateway: '2001:db8::1' }, 'gateway', 'IPv6'],
    [{ name: 'x9', network: '10.20.0.0/24', vlanId: 0 }, 'vlanId', '1-4094'],
    [{ name: 'x10', network: '10.20.0.0/24', vlanId: 4095 }, 'vlanId', '1-4094'],
    [{ name: '', network: '10.20.0.0/24' }, 'name', 'required'],
    [{ name: 'x'.repeat(101), network: '10.20.0.0/24' }, 'name', 'at most 100']
  ])('refuses %j naming %s', async (input, field, reason) => {
    const seq = await lastSeq(core)
    const err = await core.ipam.createPool(admin, input).catch((e) => e)
    expect(err).toMatchObject({ code: 'VALIDATION', details: { field } })
    expect(err.message).toContain(reason)
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'create', resource_type: 'ip_pool', status: 'failure' })
    expect(rows[0]!.details.error?.code).toBe('VALIDATION')
  })

  it('refuses a duplicate name and an overlap, naming the pool it overlaps', async () => {
    await expect(core.ipam.createPool(admin, { name: 'office', network: '10.30.0.0/24' })).rejects.toMatchObject({ code: 'CONFLICT', details: { field: 'name' } })
    const err = await core.ipam.createPool(admin, { name: 'big', network: '10.10.0.0/16' }).catch((e) => e)
    expect(err).toMatchObject({ code: 'CONFLICT', details: { field: 'network', pool: 'office' } })
    expect(err.message).toContain('overlaps pool "office" (10.10.0.0/24)')
  })

  it('counts usable addresses for /31, /32 and IPv6 without enumerating', async () => {
    const p31 = await core.ipam.createPool(admin, { name: 'p2p', network: '10.99.0.0/31' })
    expect(p31.utilization.usable).toBe('2')
    const p32 = await core.ipam.createPool(admin, { name: 'loop', network: '10.99.1.1/32' })
    expect(p32.utilization.usable).toBe('1')
    const v6 = await core.ipam.createPool(admin, { name: 'v6', network: '2001:DB8:0:1::/64', gateway: '2001:db8:0:1::1' })
    expect(v6.network).toBe('2001:db8:0:1::/64')
    expect(v6.utilization.usable).toBe(String(2n ** 64n - 2n))
    const v6big = await core.ipam.createPool(admin, { name: 'v6big', network: '2001:db8:1000::/36' })
    expect(v6big.utilization.usable).toBe(String(2n ** 92n - 1n))
  })
})

describe('pool list, show, update, delete', () => {
  beforeAll(async () => {
    await core.ipam.createPool(admin, { name: 'lab-a', network: '172.16.0.0/24', site: 'fra', environment: 'lab', vlanId: 200 })
    await core.ipam.createPool(admin, { name: 'lab-b', network: '172.16.1.0/24', site: 'fra', environment: 'lab', isActive: false })
    await core.ipam.allocate(admin, { pool: 'lab-a', next: true, count: 200 })
  })

  it('filters, searches, sorts and paginates', async () => {
    const fra = await core.ipam.listPools(admin, { site: 'fra' })
    expect(fra.items.map((p) => p.name)).toEqual(['lab-a', 'lab-b'])
    expect(fra.total).toBe(2)
    expect((await core.ipam.listPools(admin, { active: false })).items.map((p) => p.name)).toEqual(['lab-b'])
    expect((await core.ipam.listPools(admin, { vlanId: 200 })).items.map((p) => p.name)).toEqual(['lab-a'])
    expect((await core.ipam.listPools(admin, { search: '172.16.1.77' })).items.map((p) => p.name)).toEqual(['lab-b'])
    expect((await core.ipam.listPools(admin, { search: 'main off' })).items.map((p) => p.name)).toEqual(['office'])
    const byUtil = await core.ipam.listPools(admin, { sort: 'utilization', order: 'desc', pageSize: 1 })
    expect(byUtil.items[0]!.name).toBe('lab-a')
    expect(byUtil.items[0]!.utilization).toMatchObject({ allocated: 200, usable: '254', free: '54', percent: 78.74 })
    const page2 = await core.ipam.listPools(admin, { pageSize: 2, page: 2 })
    expect(page2.items).toHaveLength(2)
    expect(page2.total).toBeGreaterThanOrEqual(7)
    await expect(core.ipam.listPools(admin, { pageSize: 0 })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'pageSize' } })
  })

  it('refuses to allocate from an inactive pool', async () => {
    await expect(core.ipam.allocate(admin, { pool: 'lab-b', next: true })).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('inactive') })
  })

  it('records an update with exactly the changed fields, and nothing for a no-op', async () => {
    let seq = await lastSeq(core)
    const p = await core.ipam.updatePool(admin, 'lab-a', { description: 'lab gear', vlanId: 201 })
    expect(p).toMatchObject({ description: 'lab gear', vlanId: 201 })
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.details.before).toEqual({ description: null, vlanId: 200 })
    expect(rows[0]!.details.after).toEqual({ description: 'lab gear', vlanId: 201 })
    seq = await lastSeq(core)
    const same = await core.ipam.updatePool(admin, 'lab-a', { description: 'lab gear', vlanId: 201 })
    expect(same.updatedAt).toBe(p.updatedAt)
    expect(await auditRows(core, seq)).toHaveLength(0)
  })

  it('allows a network change only when every allocation still fits', async () => {
    const err = await core.ipam.updatePool(admin, 'lab-a', { network: '172.16.0.0/25' }).catch((e) => e)
    expect(err).toMatchObject({ code: 'VALIDATION', details: { field: 'network', ip: '172.16.0.128' } })
    expect(err.message).toContain('would leave out 172.16.0.128')
    // Growing into lab-b is an overlap.
    await expect(core.ipam.updatePool(admin, 'lab-a', { network: '172.16.0.0/23' })).rejects.toMatchObject({ code: 'CONFLICT', details: { pool: 'lab-b' } })
    await core.ipam.deletePool(admin, 'lab-b')
    const grown = await core.ipam.updatePool(admin, 'lab-a', { network: '172.16.0.0/23' })
    expect(grown.utilization).toMatchObject({ usable: '510', allocated: 200, free: '310' })
    // The old broadcast address 172.16.0.255 is now usable; next free is the lowest free.
    const [next] = await core.ipam.allocate(admin, { pool: 'lab-a', next: true })
    expect(next!.ip).toBe('172.16.0.201')
  })

  it('refuses to delete a pool holding allocations unless forced, and audits how many went', async () => {
    const err = await core.ipam.deletePool(admin, 'lab-a').catch((e) => e)
    expect(err).toMatchObject({ code: 'CONFLICT', details: { allocations: 201 } })
    const seq = await lastSeq(core)
    const r = await core.ipam.deletePool(admin, 'lab-a', { force: true })
    expect(r.allocationsRemoved).toBe(201)
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'delete', resource_type: 'ip_pool', resource_name: 'lab-a' })
    expect(rows[0]!.details.context).toEqual({ force: true, allocationsRemoved: 201 })
    expect(rows[0]!.details.before).toMatchObject({ name: 'lab-a', network: '172.16.0.0/23' })
    await expect(core.ipam.getPool(admin, 'lab-a')).rejects.toMatchObject({ code: 'NOT_FOUND', details: { field: 'pool' } })
  })

  it('enforces roles: viewers read, operators cannot touch pools; refusals are audited', async () => {
    const viewer = ctxAs('viewer', 'vic')
    const operator = ctxAs('operator', 'olga')
    expect((await core.ipam.listPools(viewer)).total).toBeGreaterThan(0)
    const seq = await lastSeq(core)
    await expect(core.ipam.createPool(operator, { name: 'nope', network: '10.200.0.0/24' })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(core.ipam.allocate(viewer, { pool: 'office', next: true })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const rows = await auditRows(core, seq)
    expect(rows.map((r) => [r.action, r.status, r.user_id])).toEqual([
      ['authorize', 'failure', 'olga'],
      ['authorize', 'failure', 'vic']
    ])
  })
})

describe('gateway and lapsed holds', () => {
  it('refuses to make an address with any row (even a lapsed hold) the gateway', async () => {
    await core.ipam.createPool(admin, { name: 'gwtest', network: '10.210.0.0/29' })
    await core.ipam.allocate(admin, { pool: 'gwtest', ip: '10.210.0.1', status: 'reserved', until: new Date(Date.now() + 3600_000).toISOString() })
    await core.db.knex.raw(`update ip_allocations set reserved_until = now() - interval '1 minute' where ip_address = '10.210.0.1'`)
    const err = await core.ipam.updatePool(admin, 'gwtest', { gateway: '10.210.0.1' }).catch((e) => e)
    expect(err).toMatchObject({ code: 'CONFLICT', details: { field: 'gateway' } })
    expect(err.message).toContain('lapsed reservation')
  })
})

describe('DNS servers', () => {
  it('keeps them in order and canonical, shows them on get and list, and audits a change with before and after', async () => {
    const p = await core.ipam.createPool(admin, { name: 'dns-net', network: '10.61.0.0/24', dnsServers: ['10.61.0.53', ' 2001:DB8:0:0::53 '] })
    expect(p.dnsServers).toEqual(['10.61.0.53', '2001:db8::53'])
    expect((await core.ipam.getPool(admin, 'dns-net')).dnsServers).toEqual(['10.61.0.53', '2001:db8::53'])
    const listed = await core.ipam.listPools(admin, { search: 'dns-net' })
    expect(listed.items.map((x) => x.dnsServers)).toEqual([['10.61.0.53', '2001:db8::53']])

    const seq = await lastSeq(core)
    const u = await core.ipam.updatePool(admin, 'dns-net', { dnsServers: ['9.9.9.9', '10.61.0.53'] })
    expect(u.dnsServers).toEqual(['9.9.9.9', '10.61.0.53'])
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.details).toMatchObject({
      before: { dnsServers: ['10.61.0.53', '2001:db8::53'] },
      after: { dnsServers: ['9.9.9.9', '10.61.0.53'] },
      context: { changed: ['dnsServers'] }
    })

    // The same list again is a no-op: no audit row. Leaving the field out keeps it.
    const again = await lastSeq(core)
    await core.ipam.updatePool(admin, 'dns-net', { dnsServers: ['9.9.9.9', '10.61.0.53'] })
    expect((await core.ipam.updatePool(admin, 'dns-net', { site: 'lab' })).dnsServers).toEqual(['9.9.9.9', '10.61.0.53'])
    expect((await auditRows(core, again)).map((r) => r.details.context?.changed)).toEqual([['site']])

    // An empty list clears them, and stores NULL as an imported pool without servers has.
    expect((await core.ipam.updatePool(admin, 'dns-net', { dnsServers: [] })).dnsServers).toEqual([])
    const stored = await core.db.knex.raw<{ rows: { dns_servers: unknown }[] }>(`select dns_servers from ip_pools where name = 'dns-net'`)
    expect(stored.rows[0]!.dns_servers).toBeNull()
  })

  it.each([
    [['10.0.0.300'], 'entry 1 "10.0.0.300" is not a valid IPv4 address'],
    [['10.0.0.53', ''], 'entry 2 is empty'],
    [['10.0.0.0/24'], 'entry 1 "10.0.0.0/24" is a network'],
    [['10.0.0.53', '10.0.0.53'], '10.0.0.53 is listed twice'],
    [Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`), 'at most 8 servers (got 9)']
  ])('refuses %j naming dnsServers and the reason', async (dnsServers, reason) => {
    const err = await core.ipam.createPool(admin, { name: 'dns-bad', network: '10.62.0.0/24', dnsServers }).catch((e) => e)
    expect(err).toMatchObject({ code: 'VALIDATION', details: { field: 'dnsServers' } })
    expect(err.message.startsWith(`dnsServers: ${reason}`)).toBe(true)
    await expect(core.ipam.getPool(admin, 'dns-bad')).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('refuses a bad entry on update too, leaving the pool as it was', async () => {
    await core.ipam.createPool(admin, { name: 'dns-upd', network: '10.63.0.0/24', dnsServers: ['10.63.0.53'] })
    await expect(core.ipam.updatePool(admin, 'dns-upd', { dnsServers: ['10.63.0.53', 'resolver.example'] })).rejects.toMatchObject({
      code: 'VALIDATION',
      message: 'dnsServers: entry 2 "resolver.example" is not a valid IPv4 address (four decimal numbers 0-255, no leading zeros)'
    })
    expect((await core.ipam.getPool(admin, 'dns-upd')).dnsServers).toEqual(['10.63.0.53'])
  })

  it('sets and clears them from the command line, refusing a bad entry with exit code 1', async () => {
    const created = await cli(['--database-url', url, 'pool', 'create', '--name', 'dns-cli', '--network', '10.65.0.0/24', '--dns', '10.65.0.53, 10.65.0.54', '--json'])
    expect(created.code).toBe(0)
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'dns-cli', dnsServers: ['10.65.0.53', '10.65.0.54'] })
    const bad = await cli(['--database-url', url, 'pool', 'update', 'dns-cli', '--dns', '10.65.0.53,10.65.0.999'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('dnsServers: entry 2 "10.65.0.999" is not a valid IPv4 address')
    const cleared = await cli(['--database-url', url, 'pool', 'update', 'dns-cli', '--dns', ''])
    expect(cleared.code).toBe(0)
    expect(cleared.stdout).toContain('dns:         -')
  })

  it('shows the servers an imported pool kept', async () => {
    await core.db.knex.raw(`insert into ip_pools (name, network, dns_servers, created_by) values ('dns-legacy', '10.64.0.0/24', '{10.64.0.2,10.64.0.3}', 'import')`)
    await core.db.knex.raw(`select ipam_rebuild_free_ranges(id) from ip_pools where name = 'dns-legacy'`)
    expect((await core.ipam.getPool(admin, 'dns-legacy')).dnsServers).toEqual(['10.64.0.2', '10.64.0.3'])
  })
})

/**
 * The command palette's lean sources (core/ipam/palette.ts, core/directory/quick-find.ts, one source per
 * call in core/palette/search.ts): ranking (the exact match first), capped counts, every way of reading an
 * address query, the host-name prefix answered by its index in index order, and the directory look-ups
 * with a size limit against the suite's slapd. Real PostgreSQL and slapd.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { COUNT_CAP } from '../../src/main/core/ipam/palette'
import { quickFindGroups, quickFindUsers } from '../../src/main/core/directory/quick-find'
import { paletteSearch } from '../../src/main/core/palette/search'
import { ctxAs, openCore } from '../support/core'
import { ldapadd, openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'

const admin = ctxAs('admin', 'alice')

describe('palette: IPAM sources', () => {
  let core: Core
  beforeAll(async () => {
    ;({ core } = await openCore('palette_src'))
    for (const [name, network, site] of [
      ['score', '10.60.3.0/24', 'ams'],
      ['core-a', '10.60.2.0/24', 'core-site'],
      ['core', '10.60.1.0/24', 'fra']
    ] as const) {
      await core.ipam.createPool(admin, { name, network, site })
    }
    await core.ipam.createPool(admin, { name: 'big', network: '10.61.0.0/16' })
    // 3,000 addresses: host names web-0..web-2999, owners team-0..team-9, MACs 02:00:00:00:XX:YY.
    await core.db.knex.raw(
      `insert into ip_allocations (pool_id, ip_address, hostname, mac_address, owner, status, allocated_by)
       select p.id, '10.61.0.0'::inet + 1 + g, 'web-' || g, ('02:00:00:00:' || lpad(to_hex(g >> 8), 2, '0') || ':' || lpad(to_hex(g & 255), 2, '0'))::macaddr,
              'team-' || (g % 10), 'allocated', 'seed'
         from ip_pools p, generate_series(0, 2999) g where p.name = 'big'`
    )
    // A host whose name also starts like the owners: counted and shown once.
    await core.ipam.allocate(admin, { pool: 'core', ip: '10.60.1.10', hostname: 'team-room', owner: 'team-lead' })
    await core.db.knex.raw('analyze ip_allocations')
  })
  afterAll(async () => {
    await core?.close()
  })

  it('pools: the exact name first, then names that begin with it, then the rest; the usage of each', async () => {
    const r = await core.ipam.palettePools(admin, 'core', 5)
    expect(r.items.map((p) => p.name)).toEqual(['core', 'core-a', 'score'])
    expect(r.total).toBe(3)
    expect(r.items[0]).toMatchObject({ network: '10.60.1.0/24', site: 'fra' })
    expect(r.items[0]!.percent).toBeGreaterThan(0)
    // By site prefix, and by an address inside the network.
    expect((await core.ipam.palettePools(admin, 'core-si', 5)).items.map((p) => p.name)).toEqual(['core-a'])
    expect((await core.ipam.palettePools(admin, '10.60.3.77', 5)).items.map((p) => p.name)).toEqual(['score'])
    expect((await core.ipam.palettePools(admin, 'nothing-like-it', 5)).items).toEqual([])
  })

  it('addresses by host-name prefix: the exact name first, five shown, the count capped', async () => {
    const r = await core.ipam.paletteAddresses(admin, 'WEB-1', 5)
    expect(r.kind).toBe('name')
    expect(r.items.map((a) => a.hostname)).toEqual(['web-1', 'web-10', 'web-100', 'web-1000', 'web-1001'])
    // web-1, web-10..19, web-100..199, web-1000..1999: 1,111 match, counted up to the cap.
    expect(r).toMatchObject({ total: COUNT_CAP, capped: true })
    expect(r.items[0]).toMatchObject({ ip: '10.61.0.2', mac: '02:00:00:00:00:01', owner: 'team-1', poolName: 'big' })
    const few = await core.ipam.paletteAddresses(admin, 'web-29', 5)
    // web-29, web-290..299, web-2900..2999.
    expect(few.total).toBe(111)
    expect(few.capped).toBe(false)
  })

  it('addresses by owner after host names, each address once', async () => {
    const r = await core.ipam.paletteAddresses(admin, 'team-', 5)
    expect(r.items[0]!.hostname).toBe('team-room')
    expect(r.items.filter((a) => a.ip === '10.60.1.10')).toHaveLength(1)
    expect(r.capped).toBe(true)
    // Its owner is team-lead: found by owner when the host name does not match.
    expect((await core.ipam.paletteAddresses(admin, 'team-l', 5)).items.map((a) => a.ip)).toEqual(['10.60.1.10'])
    expect((await core.ipam.paletteAddresses(admin, 'team-r', 5)).items.map((a) => a.ip)).toEqual(['10.60.1.10'])
  })

  it('addresses by address, network, MAC and MAC prefix', async () => {
    expect((await core.ipam.paletteAddresses(admin, '10.61.0.101', 5)).items.map((a) => a.hostname)).toEqual(['web-100'])
    const net = await core.ipam.paletteAddresses(admin, '10.61.1.0/28', 5)
    expect(net.kind).toBe('cidr')
    expect(net.items.map((a) => a.ip)).toEqual(['10.61.1.0', '10.61.1.1', '10.61.1.2', '10.61.1.3', '10.61.1.4'])
    expect(net.total).toBe(16)
    expect((await core.ipam.paletteAddresses(admin, '02-00-00-00-01-00', 5)).items.map((a) => a.hostname)).toEqual(['web-256'])
    const pre = await core.ipam.paletteAddresses(admin, '02:00:00:00:0b', 5)
    expect(pre.kind).toBe('mac-prefix')
    // 0x0b00..0x0bb7 = 2816..2999: 184 addresses, in MAC order.
    expect(pre.total).toBe(184)
    expect(pre.items.map((a) => a.mac)).toEqual(['02:00:00:00:0b:00', '02:00:00:00:0b:01', '02:00:00:00:0b:02', '02:00:00:00:0b:03', '02:00:00:00:0b:04'])
    expect((await core.ipam.paletteAddresses(admin, '10.61.0.0/33', 5)).items).toEqual([])
  })

  it('the host-name prefix is read from its index in index order, not sorted after a scan', async () => {
    // The same statement shape as palette.ts's host-name look-up.
    const plan = await core.db.knex.raw<{ rows: { 'QUERY PLAN': string }[] }>(
      `explain select * from ip_allocations a where lower(a.hostname) like ? escape '!' order by lower(a.hostname) using ~<~ limit 5`,
      ['web-1%']
    )
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n')
    expect(text).toContain('ip_allocations_hostname_lower_idx')
    expect(text).not.toMatch(/Seq Scan|Sort/)
  })

  it('palette:search asks only the sources named, and times each', async () => {
    const r = await paletteSearch(core, admin, admin, { query: 'core', sources: ['pool'] })
    expect(r.groups.map((g) => g.kind)).toEqual(['pool'])
    expect(r.groups[0]!.tookMs).toBeGreaterThanOrEqual(0)
    const all = await paletteSearch(core, admin, admin, { query: 'web-12' })
    expect(all.groups.map((g) => g.kind)).toEqual(['address', 'user'])
    expect(all.groups[1]!.note).toMatch(/sign in/)
    await expect(paletteSearch(core, admin, admin, { query: 'x', sources: [] })).rejects.toMatchObject({ code: 'VALIDATION' })
  })
})

describe.skipIf(Boolean(slapdMissing()))('palette: directory sources', () => {
  let fx: DirectoryFixture
  beforeAll(async () => {
    fx = await openDirectory('palette-dir')
    const users = Array.from({ length: 30 }, (_, i) =>
      [`dn: uid=pal${i},${fx.usersDn}`, 'objectClass: inetOrgPerson', 'objectClass: posixAccount', `uid: pal${i}`, `cn: Pal Person ${i}`, `sn: Person${i}`, `mail: pal${i}@example.test`, `uidNumber: ${70000 + i}`, 'gidNumber: 2000', `homeDirectory: /home/pal${i}`].join('\n')
    )
    const groups = ['pal', 'pal-admins', 'ops-pal', 'other'].map((cn, i) => [`dn: cn=${cn},${fx.groupsDn}`, 'objectClass: posixGroup', `cn: ${cn}`, `gidNumber: ${71000 + i}`].join('\n'))
    ldapadd([...users, ...groups].join('\n\n') + '\n', fx.info)
  })
  afterAll(async () => {
    await fx?.close()
  })

  it('users: the exact uid first, then uid prefixes, cut at the limit with "more"', async () => {
    const scope = await fx.admin()
    const r = await quickFindUsers(scope.conn, 'pal1', 5)
    expect(r.items[0]!.uid).toBe('pal1')
    expect(r.items).toHaveLength(5)
    expect(r.items.every((u) => u.uid.startsWith('pal1'))).toBe(true)
    expect(r.more).toBe(true)
    // By the start of the full name, by mail, by uidNumber.
    expect((await quickFindUsers(scope.conn, 'Pal Person 27', 5)).items.map((u) => u.uid)).toEqual(['pal27'])
    expect((await quickFindUsers(scope.conn, 'pal3@example.test', 5)).items.map((u) => u.uid)).toEqual(['pal3'])
    expect((await quickFindUsers(scope.conn, '70004', 5)).items.map((u) => u.uid)).toEqual(['pal4'])
    const none = await quickFindUsers(scope.conn, 'zzz-nobody', 5)
    expect(none).toEqual({ items: [], more: false })
  })

  it('groups: the exact name first, then names that begin with it, then names that contain it', async () => {
    const scope = await fx.admin()
    const r = await quickFindGroups(scope.conn, 'pal', 5)
    expect(r.items.map((g) => g.cn)).toEqual(['pal', 'pal-admins', 'ops-pal'])
    expect(r.more).toBe(false)
  })
})

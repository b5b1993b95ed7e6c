/**
 * IPAM objects (issue 16, items 5 and 6) against a real PostgreSQL server: sites, VLAN groups and VLANs; tags and
 * custom fields; the upgrade of free-text sites and bare VIDs into objects and its rollback; what the database
 * itself refuses (a VID out of range or twice in a group, a bad custom field value written directly).
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrationNames } from '../../migrations/names'
import { Core } from '../../src/main/core'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
import { cli } from '../support/cli'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'
import { freshDatabase, withClient } from '../support/db'

let core: Core
let url: string
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')

beforeAll(async () => {
  ;({ core, url } = await openCore('objects'))
})
afterAll(async () => {
  await core?.close()
})

async function refusedSql(sql: string, params: unknown[] = [], dbUrl = url): Promise<{ code: string; constraint?: string; message: string }> {
  return withClient(dbUrl, async (c) => {
    try {
      await c.query('begin')
      await c.query(sql, params)
      await c.query('commit')
    } catch (e) {
      await c.query('rollback').catch(() => undefined)
      const err = e as pg.DatabaseError
      return { code: err.code!, constraint: err.constraint, message: err.message }
    }
    throw new Error(`not refused: ${sql}`)
  })
}

describe('the upgrade', () => {
  it('turns free-text sites and bare VIDs into objects without loss, and rollback restores the columns', async () => {
    const u = await freshDatabase('objupg')
    const db = await Database.open(await resolveConnection({ databaseUrl: u, dataDir: '/nonexistent' }))
    try {
      await db.migrate()
      await db.rollback('Migration20261227100000_pool_usage')
      await withClient(u, async (c) => {
        await c.query(
          `insert into ip_pools (name, network, vlan_id, site) values
             ('a', '10.1.0.0/24', 12, 'Amsterdam DC1'), ('b', '10.2.0.0/24', 12, 'Amsterdam DC1'),
             ('c', '10.3.0.0/24', 30, 'paris'), ('d', '10.4.0.0/24', null, null), ('e', '10.5.0.0/24', 4094, 'amsterdam dc1')`
        )
      })
      // This migration and every later one (rolled back with it).
      expect(await db.migrate()).toEqual(migrationNames.slice(migrationNames.indexOf('Migration20261228010000_ipam_objects')))
      const rows = await withClient(u, async (c) =>
        (
          await c.query(
            `select p.name, p.site, p.vlan_id, s.name as site_obj, v.vid, v.name as vlan_name, g.name as grp
               from ip_pools p left join ip_sites s on s.id = p.site_ref_id left join ip_vlans v on v.id = p.vlan_ref_id
               left join ip_vlan_groups g on g.id = v.group_id order by p.name`
          )
        ).rows
      )
      expect(rows).toEqual([
        { name: 'a', site: 'Amsterdam DC1', vlan_id: 12, site_obj: 'Amsterdam DC1', vid: 12, vlan_name: 'VLAN 12', grp: 'default' },
        { name: 'b', site: 'Amsterdam DC1', vlan_id: 12, site_obj: 'Amsterdam DC1', vid: 12, vlan_name: 'VLAN 12', grp: 'default' },
        { name: 'c', site: 'paris', vlan_id: 30, site_obj: 'paris', vid: 30, vlan_name: 'VLAN 30', grp: 'default' },
        { name: 'd', site: null, vlan_id: null, site_obj: null, vid: null, vlan_name: null, grp: null },
        { name: 'e', site: 'amsterdam dc1', vlan_id: 4094, site_obj: 'amsterdam dc1', vid: 4094, vlan_name: 'VLAN 4094', grp: 'default' }
      ])
      const counts = await withClient(u, async (c) => (await c.query(`select (select count(*)::int from ip_sites) as sites, (select count(*)::int from ip_vlans) as vlans`)).rows[0])
      expect(counts).toEqual({ sites: 3, vlans: 3 })
      // A rename after the upgrade shows in the derived text, and survives the rollback.
      await withClient(u, (c) => c.query(`update ip_sites set name = 'Paris-1' where name = 'paris'`))
      await db.rollback('Migration20261227100000_pool_usage')
      const back = await withClient(u, async (c) => (await c.query(`select name, site, vlan_id from ip_pools order by name`)).rows)
      expect(back).toEqual([
        { name: 'a', site: 'Amsterdam DC1', vlan_id: 12 },
        { name: 'b', site: 'Amsterdam DC1', vlan_id: 12 },
        { name: 'c', site: 'Paris-1', vlan_id: 30 },
        { name: 'd', site: null, vlan_id: null },
        { name: 'e', site: 'amsterdam dc1', vlan_id: 4094 }
      ])
      const gone = await withClient(u, async (c) => (await c.query(`select to_regclass('ip_sites') as s, to_regclass('ip_vlans') as v`)).rows[0])
      expect(gone).toEqual({ s: null, v: null })
    } finally {
      await db.close()
    }
  })
})

describe('sites, VLAN groups and VLANs', () => {
  it('creates, points pools at, renames, filters and refuses bad input in the service and in SQL', async () => {
    const seq = await lastSeq(core)
    await core.ipam.createSite(admin, { name: 'ams-dc1', description: 'Amsterdam' })
    await core.ipam.createVlanGroup(admin, { name: 'campus' })
    const v120 = await core.ipam.createVlan(admin, { group: 'campus', vid: 120, name: 'users' })
    expect(v120).toMatchObject({ groupName: 'campus', vid: 120, name: 'users', status: 'active' })
    // Bad input, named.
    expect(await core.ipam.createVlan(admin, { group: 'campus', vid: 4095 }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', message: 'vid: VID out of range: must be 1-4094' })
    expect(await core.ipam.createVlan(admin, { group: 'campus', vid: 0 }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'vid' } })
    expect(await core.ipam.createVlan(admin, { group: 'campus', vid: 120 }).catch((e) => e)).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('VLAN 120 already exists in group "campus"') })
    expect(await core.ipam.createVlan(admin, { group: 'nope', vid: 5 }).catch((e) => e)).toMatchObject({ code: 'NOT_FOUND', details: { field: 'group' } })
    // ...and in SQL.
    const gid = v120.groupId
    expect(await refusedSql(`insert into ip_vlans (group_id, vid, name) values ($1, 5000, 'x')`, [gid])).toMatchObject({ code: '23514', constraint: 'ip_vlans_vid_check' })
    expect(await refusedSql(`insert into ip_vlans (group_id, vid, name) values ($1, 120, 'x')`, [gid])).toMatchObject({ code: '23505', constraint: 'ip_vlans_group_vid_key' })
    // The same VID in another group is fine.
    await core.ipam.createVlan(admin, { vid: 120 })
    const p = await core.ipam.createPool(admin, { name: 'users-ams', network: '10.120.0.0/24', siteRef: 'ams-dc1', vlan: 'campus/120' })
    expect(p).toMatchObject({ site: 'ams-dc1', vlanId: 120, vlan: { group: 'campus', vid: 120, name: 'users' } })
    expect(await core.ipam.createPool(admin, { name: 'x', network: '10.121.0.0/24', siteRef: 'nowhere' }).catch((e) => e)).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('siteRef: no site named "nowhere"')
    })
    expect(await core.ipam.createPool(admin, { name: 'x', network: '10.121.0.0/24', vlan: 'campus/7' }).catch((e) => e)).toMatchObject({ code: 'NOT_FOUND', details: { field: 'vlan' } })
    expect(await core.ipam.createPool(admin, { name: 'x', network: '10.121.0.0/24', vlan: 'campus/5000' }).catch((e) => e)).toMatchObject({
      code: 'VALIDATION',
      message: 'vlan: VID out of range: must be 1-4094'
    })
    // Filter by the objects.
    await core.ipam.createPool(admin, { name: 'other', network: '10.122.0.0/24', vlan: '120' })
    expect((await core.ipam.listPools(op, { vlan: 'campus/120' })).items.map((x) => x.name)).toEqual(['users-ams'])
    expect((await core.ipam.listPools(op, { vlan: 'default/120' })).items.map((x) => x.name)).toEqual(['other'])
    expect((await core.ipam.listPools(op, { siteRef: 'ams-dc1' })).items.map((x) => x.name)).toEqual(['users-ams'])
    // Renames and VID changes show in the pools' derived site text and VID.
    await core.ipam.updateSite(admin, 'ams-dc1', { name: 'AMS-1' })
    await core.ipam.updateVlan(admin, 'campus/120', { vid: 121, status: 'deprecated' })
    expect(await core.ipam.getPool(op, 'users-ams')).toMatchObject({ site: 'AMS-1', vlanId: 121, vlan: { vid: 121, status: 'deprecated' } })
    expect((await core.ipam.listPools(op, { site: 'AMS-1' })).items.map((x) => x.name)).toEqual(['users-ams'])
    // In use: refused, naming the pools (by the service and by the foreign key).
    expect(await core.ipam.deleteSite(admin, 'AMS-1').catch((e) => e)).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('"users-ams"'), details: { pools: ['users-ams'] } })
    expect(await core.ipam.deleteVlan(admin, 'campus/121').catch((e) => e)).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('"users-ams"') })
    expect(await refusedSql(`delete from ip_sites where name = 'AMS-1'`)).toMatchObject({ code: '23503' })
    expect(await core.ipam.deleteVlanGroup(admin, 'campus').catch((e) => e)).toMatchObject({ code: 'CONFLICT', details: { field: 'group' } })
    // Clearing the pointers, then deleting works.
    const cleared = await core.ipam.updatePool(admin, 'users-ams', { siteRef: null, vlan: null })
    expect(cleared).toMatchObject({ site: null, vlanId: null, vlan: null, siteId: null })
    await core.ipam.deleteVlan(admin, 'campus/121')
    await core.ipam.deleteVlanGroup(admin, 'campus')
    await core.ipam.deleteSite(admin, 'AMS-1')
    // The older free-text input still works: it finds or creates the site object.
    const legacy = await core.ipam.updatePool(admin, 'users-ams', { site: 'lab' })
    expect(legacy.siteId).toBe((await core.ipam.listSites(op)).find((s) => s.name === 'lab')!.id)
    // Audited with exact before/after.
    const rows = await auditRows(core, seq)
    const vlanUpd = rows.find((r) => r.resource_type === 'ip_vlan' && r.action === 'update')!
    expect(vlanUpd.details).toMatchObject({ before: { vid: 120, status: 'active' }, after: { vid: 121, status: 'deprecated' } })
    const poolUpd = rows.find((r) => r.resource_type === 'ip_pool' && r.action === 'update' && r.resource_name === 'users-ams')!
    expect(poolUpd.details).toMatchObject({ before: { site: 'AMS-1', vlanId: 121, vlanGroup: 'campus' }, after: { site: null, vlanId: null, vlanGroup: null } })
    // Viewers are refused writes by the database grants too.
    expect(await refusedSql(`set role netkeeper_viewer; insert into ip_sites (name) values ('sneaky')`)).toMatchObject({ code: '42501' })
  })
})

describe('tags and custom fields', () => {
  it('filters pools by VLAN group, VID and site, in the service and from `pool list`', async () => {
    await core.ipam.createVlanGroup(admin, { name: 'dc-west' })
    await core.ipam.createVlanGroup(admin, { name: 'dc-east' })
    await core.ipam.createSite(admin, { name: 'west-1' })
    for (const [g, vid] of [
      ['dc-west', 300],
      ['dc-west', 301],
      ['dc-east', 300]
    ] as const)
      await core.ipam.createVlan(admin, { group: g, vid })
    await core.ipam.createPool(admin, { name: 'w300', network: '10.230.0.0/24', vlan: 'dc-west/300', siteRef: 'west-1' })
    await core.ipam.createPool(admin, { name: 'w301', network: '10.230.1.0/24', vlan: 'dc-west/301' })
    await core.ipam.createPool(admin, { name: 'e300', network: '10.230.2.0/24', vlan: 'dc-east/300' })
    const names = async (q: Record<string, unknown>): Promise<string[]> => (await core.ipam.listPools(op, { sort: 'name', ...q })).items.map((x) => x.name)
    expect(await names({ vlanGroup: 'dc-west' })).toEqual(['w300', 'w301'])
    expect(await names({ vlanGroup: 'dc-west', vlanId: 300 })).toEqual(['w300'])
    expect(await names({ vlanId: 300, search: '10.230' })).toEqual(['e300', 'w300'])
    expect(await names({ vlanGroup: 'dc-west', site: 'west-1' })).toEqual(['w300'])
    const east = (await core.ipam.listVlanGroups(op)).find((g) => g.name === 'dc-east')!
    expect(await names({ vlanGroup: east.id })).toEqual(['e300'])
    expect(await core.ipam.listPools(op, { vlanGroup: 'nope' }).catch((e) => e)).toMatchObject({ code: 'NOT_FOUND', details: { field: 'vlanGroup' } })
    // The CLI.
    const r = await cli(['--database-url', url, 'pool', 'list', '--vlan-group', 'dc-west', '--vid', '301', '--json'])
    expect(r.code).toBe(0)
    expect(r.json().items.map((x: { name: string }) => x.name)).toEqual(['w301'])
    const r2 = await cli(['--database-url', url, 'pool', 'list', '--vid', '300', '--site', 'west-1'])
    expect(r2.code).toBe(0)
    expect(r2.stdout).toContain('w300')
    expect(r2.stdout).not.toContain('e300')
    const bad = await cli(['--database-url', url, 'pool', 'list', '--vlan-group', 'nope', '--json'])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr + bad.stdout).toContain('vlanGroup: no VLAN group named "nope"')
  })

  it('validates values in the service and in SQL, filters, searches and refuses changing a definition under stored values', async () => {
    await core.ipam.createTag(admin, { name: 'prod', colour: '#D62728' })
    await core.ipam.createTag(admin, { name: 'pci' })
    await core.ipam.createField(admin, { kind: 'pool', name: 'tier', type: 'choice', choices: ['gold', 'silver'] })
    await core.ipam.createField(admin, { kind: 'pool', name: 'ticket', type: 'integer' })
    await core.ipam.createField(admin, { kind: 'pool', name: 'wiki', type: 'url' })
    await core.ipam.createField(admin, { kind: 'allocation', name: 'expires', type: 'date' })
    await core.ipam.createField(admin, { kind: 'allocation', name: 'monitored', type: 'boolean' })
    const p = await core.ipam.createPool(admin, { name: 'cf', network: '10.130.0.0/24', tags: ['prod'], customFields: { tier: 'gold', ticket: '42' } })
    expect(p).toMatchObject({ tags: [{ name: 'prod', colour: '#d62728' }], customFields: { ticket: 42, tier: 'gold' } })
    // The service names the field and the reason.
    expect(await core.ipam.updatePool(admin, 'cf', { customFields: { tier: 'bronze' } }).catch((e) => e)).toMatchObject({
      code: 'VALIDATION',
      message: 'customFields.tier: "bronze" is not one of gold, silver'
    })
    expect(await core.ipam.updatePool(admin, 'cf', { customFields: { ticket: '4x' } }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'customFields.ticket' } })
    expect(await core.ipam.updatePool(admin, 'cf', { customFields: { wiki: 'javascript:alert(1)' } }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'customFields.wiki' } })
    expect(await core.ipam.updatePool(admin, 'cf', { customFields: { nope: 'x' } }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('no such pool field') })
    expect(await core.ipam.updatePool(admin, 'cf', { tags: ['ghost'] }).catch((e) => e)).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no tag named "ghost"') })
    // The database refuses a direct write of a bad value.
    expect(await refusedSql(`update ip_pools set custom_fields = '{"tier": "bronze"}' where name = 'cf'`)).toMatchObject({
      code: '23514',
      constraint: 'ip_custom_fields_valid',
      message: 'custom field tier: "bronze" is not one of gold, silver'
    })
    expect(await refusedSql(`update ip_pools set custom_fields = '{"ticket": 1.5}' where name = 'cf'`)).toMatchObject({ code: '23514', message: expect.stringContaining('whole number') })
    expect(await refusedSql(`update ip_pools set custom_fields = '{"unknown": 1}' where name = 'cf'`)).toMatchObject({ code: '23514', message: expect.stringContaining('no such pool field') })
    await core.ipam.allocate(op, { pool: 'cf', ip: '10.130.0.10', hostname: 'h10' })
    expect(await refusedSql(`update ip_allocations set custom_fields = '{"expires": "2026-02-30"}' where host(ip_address) = '10.130.0.10'`)).toMatchObject({
      code: '23514',
      message: expect.stringContaining('not a date')
    })
    // Allocation fields and tags through the update.
    const a = await core.ipam.updateAllocation(op, { ip: '10.130.0.10', customFields: { expires: '2027-01-31', monitored: 'yes' }, tags: ['pci'] })
    expect(a).toMatchObject({ customFields: { expires: '2027-01-31', monitored: true }, tags: ['pci'] })
    // Filters and search.
    await core.ipam.createPool(admin, { name: 'cf2', network: '10.131.0.0/24', customFields: { tier: 'silver' } })
    expect((await core.ipam.listPools(op, { fields: { tier: 'gold' } })).items.map((x) => x.name)).toEqual(['cf'])
    expect((await core.ipam.listPools(op, { fields: { ticket: '42' } })).items.map((x) => x.name)).toEqual(['cf'])
    expect((await core.ipam.listPools(op, { tags: ['prod'] })).items.map((x) => x.name)).toEqual(['cf'])
    expect((await core.ipam.listPools(op, { search: 'silver' })).items.map((x) => x.name)).toEqual(['cf2'])
    expect((await core.ipam.listPools(op, { search: 'prod' })).items.map((x) => x.name)).toContain('cf')
    // Tag / untag.
    expect((await core.ipam.tagPool(admin, { pool: 'cf2', tags: ['pci', 'prod'] })).map((t) => t.name)).toEqual(['pci', 'prod'])
    expect((await core.ipam.tagPool(admin, { pool: 'cf2', tags: ['pci'] }, true)).map((t) => t.name)).toEqual(['prod'])
    // A definition is not removed under stored values unless forced (which strips them, counted).
    expect(await core.ipam.removeField(admin, { kind: 'pool', name: 'tier' }).catch((e) => e)).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('2 pool row(s)') })
    expect(await refusedSql(`delete from ip_custom_fields where kind = 'pool' and name = 'tier'`)).toMatchObject({ code: '23503', constraint: 'ip_custom_fields_in_use' })
    expect((await core.ipam.removeField(admin, { kind: 'pool', name: 'tier', force: true })).valuesRemoved).toBe(2)
    expect((await core.ipam.getPool(op, 'cf')).customFields).toEqual({ ticket: 42 })
    // A required field with rows present needs a default, which fills them in.
    expect(await core.ipam.createField(admin, { kind: 'pool', name: 'owner_team', type: 'text', required: true }).catch((e) => e)).toMatchObject({
      code: 'VALIDATION',
      details: { field: 'required' }
    })
    await core.ipam.createField(admin, { kind: 'pool', name: 'owner_team', type: 'text', required: true, defaultValue: 'netops' })
    expect((await core.ipam.getPool(op, 'cf2')).customFields).toMatchObject({ owner_team: 'netops' })
    expect(await core.ipam.updatePool(admin, 'cf2', { customFields: { owner_team: null } }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'customFields.owner_team' } })
    await core.ipam.removeField(admin, { kind: 'pool', name: 'owner_team', force: true })
  })
})

describe('bulk edit', () => {
  it('changes every selected allocation in one transaction under one request id, or nothing', async () => {
    await core.ipam.createPool(admin, { name: 'bulk-edit', network: '10.140.0.0/24' })
    await core.ipam.holdRange(op, { pool: 'bulk-edit', first: '10.140.0.10', last: '10.140.0.14', status: 'reserved', owner: 'lab' })
    const seq = await lastSeq(core)
    const ips = ['10.140.0.10', '10.140.0.11', '10.140.0.12']
    const r = await core.ipam.bulkEdit(op, { pool: 'bulk-edit', ips, set: { status: 'allocated', owner: 'ops', addTags: ['prod'], fields: { monitored: 'true' } } })
    expect(r.items.map((a) => [a.ip, a.status, a.owner, a.tags, a.customFields])).toEqual(ips.map((ip) => [ip, 'allocated', 'ops', ['prod'], { monitored: true }]))
    const rows = await auditRows(core, seq)
    expect(rows.map((x) => x.resource_name)).toEqual(ips)
    expect(new Set(rows.map((x) => x.request_id)).size).toBe(1)
    expect(rows[0]!.details).toMatchObject({ before: { status: 'reserved', owner: 'lab', tags: [], customFields: {} }, after: { status: 'allocated', owner: 'ops', tags: ['prod'] } })
    // One bad row: nothing changes.
    const before = await core.ipam.listAllocations(op, 'bulk-edit')
    const bad = await core.ipam.bulkEdit(op, { pool: 'bulk-edit', ips: ['10.140.0.13', '10.140.0.99'], set: { description: 'x' } }).catch((e) => e)
    expect(bad).toMatchObject({ code: 'NOT_FOUND', details: { field: 'ips', ip: '10.140.0.99' } })
    const badField = await core.ipam.bulkEdit(op, { pool: 'bulk-edit', ips: ['10.140.0.13', '10.140.0.14'], set: { description: 'y', fields: { expires: 'soon' } } }).catch((e) => e)
    expect(badField).toMatchObject({ code: 'VALIDATION', details: { field: 'customFields.expires' } })
    expect(await core.ipam.listAllocations(op, 'bulk-edit')).toEqual(before)
  })
})

describe('address search', () => {
  it('finds allocations by tag name and by a custom field value', async () => {
    const byTag = await core.ipam.search(op, { query: 'pci' })
    expect(byTag.items.map((a) => a.ip)).toEqual(['10.130.0.10'])
    const byField = await core.ipam.search(op, { query: '2027-01-31' })
    expect(byField.items.map((a) => a.ip)).toEqual(['10.130.0.10'])
  })
})

describe('custom field columns: sorting and filtering lists by a field', () => {
  it('sorts pools and a pool\'s allocations by a custom field, rows without a value last, and filters allocations by one', async () => {
    await core.ipam.createField(admin, { kind: 'pool', name: 'rackpos', type: 'integer' })
    await core.ipam.createField(admin, { kind: 'pool', name: 'monitored_cs', type: 'boolean' })
    await core.ipam.createField(admin, { kind: 'allocation', name: 'asset_cs', type: 'text' })
    await core.ipam.createField(admin, { kind: 'allocation', name: 'managed_cs', type: 'boolean' })
    const pools: [string, string, Record<string, string | number | boolean>][] = [
      ['colsort-a', '10.150.0.0/24', { rackpos: 12, monitored_cs: true }],
      ['colsort-b', '10.150.1.0/24', { rackpos: 3 }],
      ['colsort-c', '10.150.2.0/24', { rackpos: 100, monitored_cs: false }],
      ['colsort-d', '10.150.3.0/24', {}]
    ]
    for (const [name, network, customFields] of pools) await core.ipam.createPool(admin, { name, network, customFields })
    const names = async (q: Record<string, unknown>): Promise<string[]> => (await core.ipam.listPools(op, { search: 'colsort-', ...q })).items.map((x) => x.name)
    // Numerically (as text 100 would sort before 12 and 3), no value last in both directions.
    expect(await names({ sortField: 'rackpos' })).toEqual(['colsort-b', 'colsort-a', 'colsort-c', 'colsort-d'])
    expect(await names({ sortField: 'rackpos', order: 'desc' })).toEqual(['colsort-c', 'colsort-a', 'colsort-b', 'colsort-d'])
    expect(await names({ sortField: 'monitored_cs' })).toEqual(['colsort-c', 'colsort-a', 'colsort-b', 'colsort-d'])
    expect(await names({ sortField: 'rackpos', fields: { monitored_cs: 'yes' } })).toEqual(['colsort-a'])
    expect(await core.ipam.listPools(op, { sortField: 'nope' }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'sortField' } })
    // An allocation field is not a pool column.
    expect(await core.ipam.listPools(op, { sortField: 'asset_cs' }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'sortField' } })
    expect(await core.ipam.listPools(op, { sortField: 'Bad Name' } as never).catch((e) => e)).toMatchObject({ code: 'VALIDATION' })

    const made = await core.ipam.allocate(op, { pool: 'colsort-a', next: true, count: 5 })
    const tags = ['AMS-0042', 'AMS-0007', null, 'AMS-0100', null]
    for (const [i, a] of made.entries()) {
      const fields: Record<string, string | boolean> = { managed_cs: i % 2 === 0 }
      if (tags[i]) fields.asset_cs = tags[i]!
      await core.ipam.updateAllocation(op, { ip: a.ip, customFields: fields })
    }
    const ips = async (q: Record<string, unknown>): Promise<string[]> => (await core.ipam.listAllocations(op, 'colsort-a', q)).items.map((a) => a.ip)
    expect(await ips({ sortField: 'asset_cs' })).toEqual(['10.150.0.2', '10.150.0.1', '10.150.0.4', '10.150.0.3', '10.150.0.5'])
    expect(await ips({ sortField: 'asset_cs', order: 'desc' })).toEqual(['10.150.0.4', '10.150.0.1', '10.150.0.2', '10.150.0.3', '10.150.0.5'])
    // Filters: converted to the field's type ("true"), several fields at once, with the page's total.
    const managed = await core.ipam.listAllocations(op, 'colsort-a', { fields: { managed_cs: 'true' } })
    expect(managed.items.map((a) => a.ip)).toEqual(['10.150.0.1', '10.150.0.3', '10.150.0.5'])
    expect(managed.total).toBe(3)
    expect(await ips({ fields: { managed_cs: 'true', asset_cs: 'AMS-0042' } })).toEqual(['10.150.0.1'])
    expect(await core.ipam.listAllocations(op, 'colsort-a', { fields: { managed_cs: 'maybe' } }).catch((e) => e)).toMatchObject({
      code: 'VALIDATION',
      details: { field: 'customFields.managed_cs' }
    })
    expect(await core.ipam.listAllocations(op, 'colsort-a', { sortField: 'rackpos' }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'sortField' } })
    // The CLI.
    const r = await cli(['--database-url', url, 'pool', 'list', '--search', 'colsort-', '--sort-field', 'rackpos', '--order', 'desc', '--json'])
    expect(r.code).toBe(0)
    expect(r.json().items.map((x: { name: string }) => x.name)).toEqual(['colsort-c', 'colsort-a', 'colsort-b', 'colsort-d'])
  })
})

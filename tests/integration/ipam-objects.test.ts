/**
 * IPAM objects (issue 16, items 5 and 6) against a real PostgreSQL server: sites, VLAN groups and VLANs; tags and
 * custom fields; the upgrade of free-text sites and bare VIDs into objects and its rollback; what the database
 * itself refuses (a VID out of range or twice in a group, a bad custom field value written directly).
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
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
      expect(await db.migrate()).toEqual(['Migration20261228010000_ipam_objects'])
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

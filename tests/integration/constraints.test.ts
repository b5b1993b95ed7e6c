/** The database itself refuses what must never be stored, whatever code path writes it. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
import { freshDatabase } from '../support/db'

let client: pg.Client

beforeAll(async () => {
  const url = await freshDatabase('cons')
  const db = await Database.open(await resolveConnection({ databaseUrl: url, dataDir: '/nonexistent' }))
  await db.migrate()
  await db.close()
  client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`insert into ip_pools (name, network, gateway, vlan_id) values ('lan', '10.0.0.0/24', '10.0.0.1', 10)`)
  await client.query(`insert into ip_pools (name, network) values ('v6', '2001:db8::/64')`)
})
afterAll(async () => {
  await client?.end()
})

const pool = async (name: string): Promise<number> => (await client.query(`select id from ip_pools where name = $1`, [name])).rows[0].id

/** Runs a statement that must fail, and returns the SQLSTATE and constraint it failed with. */
async function refused(sql: string, params: unknown[] = []): Promise<{ code: string; constraint?: string }> {
  await client.query('savepoint s')
  try {
    await client.query(sql, params)
  } catch (e) {
    await client.query('rollback to savepoint s')
    const err = e as { code: string; constraint?: string }
    return { code: err.code, constraint: err.constraint }
  }
  await client.query('rollback to savepoint s')
  throw new Error(`statement was accepted: ${sql}`)
}

describe('constraints', () => {
  beforeAll(async () => {
    await client.query('begin')
  })
  afterAll(async () => {
    await client.query('rollback')
  })

  it('refuses overlapping pools, in either direction', async () => {
    expect(await refused(`insert into ip_pools (name, network) values ('inner', '10.0.0.128/25')`)).toEqual({ code: '23P01', constraint: 'ip_pools_no_overlap' })
    expect(await refused(`insert into ip_pools (name, network) values ('outer', '10.0.0.0/16')`)).toEqual({ code: '23P01', constraint: 'ip_pools_no_overlap' })
    expect(await refused(`insert into ip_pools (name, network) values ('v6b', '2001:db8::/48')`)).toEqual({ code: '23P01', constraint: 'ip_pools_no_overlap' })
    // A neighbour is fine.
    await client.query(`insert into ip_pools (name, network) values ('next', '10.0.1.0/24')`)
  })

  it('refuses a duplicate pool name', async () => {
    expect(await refused(`insert into ip_pools (name, network) values ('lan', '192.168.0.0/24')`)).toEqual({ code: '23505', constraint: 'ip_pools_space_name_key' })
  })

  it('refuses malformed and non-canonical networks', async () => {
    expect((await refused(`insert into ip_pools (name, network) values ('bad', 'not-a-cidr')`)).code).toBe('22P02')
    expect((await refused(`insert into ip_pools (name, network) values ('bits', '172.16.0.1/24')`)).code).toBe('22P02')
    expect((await refused(`insert into ip_pools (name, network) values ('big', '300.0.0.0/8')`)).code).toBe('22P02')
  })

  it('refuses a VLAN outside 1-4094 and a gateway outside the network', async () => {
    // A bare VID now finds or makes its VLAN object (issue 16), whose own check refuses it first.
    expect(await refused(`insert into ip_pools (name, network, vlan_id) values ('v0', '172.16.0.0/24', 0)`)).toEqual({ code: '23514', constraint: 'ip_vlans_vid_check' })
    expect(await refused(`insert into ip_pools (name, network, vlan_id) values ('v5', '172.16.0.0/24', 4095)`)).toEqual({ code: '23514', constraint: 'ip_vlans_vid_check' })
    expect(await refused(`insert into ip_pools (name, network, gateway) values ('gw', '172.16.0.0/24', '172.17.0.1')`)).toEqual({ code: '23514', constraint: 'ip_pools_gateway_in_network' })
  })

  it('refuses a duplicate address, even across pools', async () => {
    const lan = await pool('lan')
    await client.query(`insert into ip_allocations (pool_id, ip_address) values ($1, '10.0.0.10')`, [lan])
    expect(await refused(`insert into ip_allocations (pool_id, ip_address) values ($1, '10.0.0.10')`, [lan])).toEqual({
      code: '23505',
      constraint: 'ip_allocations_ip_address_key'
    })
  })

  it('refuses malformed addresses and MACs, and accepts the common MAC forms canonically', async () => {
    const lan = await pool('lan')
    expect((await refused(`insert into ip_allocations (pool_id, ip_address) values ($1, '10.0.0.999')`, [lan])).code).toBe('22P02')
    expect((await refused(`insert into ip_allocations (pool_id, ip_address, mac_address) values ($1, '10.0.0.20', 'zz:bb:cc:dd:ee:ff')`, [lan])).code).toBe('22P02')
    expect((await refused(`insert into ip_allocations (pool_id, ip_address, mac_address) values ($1, '10.0.0.20', 'aa:bb:cc')`, [lan])).code).toBe('22P02')
    const r = await client.query(`insert into ip_allocations (pool_id, ip_address, mac_address) values ($1, '10.0.0.21', 'AA-BB-CC-DD-EE-FF') returning mac_address::text`, [lan])
    expect(r.rows[0].mac_address).toBe('aa:bb:cc:dd:ee:ff')
  })

  it('refuses a network written as an address, an address outside its pool and an unknown status', async () => {
    const lan = await pool('lan')
    expect(await refused(`insert into ip_allocations (pool_id, ip_address) values ($1, '10.0.0.0/24')`, [lan])).toEqual({ code: '23514', constraint: 'ip_allocations_host_address' })
    expect(await refused(`insert into ip_allocations (pool_id, ip_address) values ($1, '10.9.9.9')`, [lan])).toEqual({ code: '23514', constraint: 'ip_allocations_in_pool' })
    expect(await refused(`insert into ip_allocations (pool_id, ip_address, status) values ($1, '10.0.0.30', 'stolen')`, [lan])).toEqual({ code: '23514', constraint: 'ip_allocations_status_check' })
  })

  it('stores IPv6 addresses in IPv6 pools', async () => {
    const v6 = await pool('v6')
    const r = await client.query(`insert into ip_allocations (pool_id, ip_address) values ($1, '2001:db8::1') returning host(ip_address) as ip`, [v6])
    expect(r.rows[0].ip).toBe('2001:db8::1')
    expect(await refused(`insert into ip_allocations (pool_id, ip_address) values ($1, '2001:db9::1')`, [v6])).toEqual({ code: '23514', constraint: 'ip_allocations_in_pool' })
  })

  it('checks every row of a bulk insert and every update against its pool (once per statement)', async () => {
    const lan = await pool('lan')
    const v6 = await pool('v6')
    // One bad row among many refuses the whole statement.
    expect(
      await refused(`insert into ip_allocations (pool_id, ip_address) select $1::int, ('10.0.0.' || i)::inet from generate_series(40, 49) i union all select $1::int, '10.0.1.1'::inet`, [lan])
    ).toEqual({ code: '23514', constraint: 'ip_allocations_in_pool' })
    expect((await client.query(`select count(*)::int as n from ip_allocations where pool_id = $1 and ip_address <<= '10.0.0.32/27'`, [lan])).rows[0].n).toBe(0)
    const ok = await client.query(`insert into ip_allocations (pool_id, ip_address) values ($1, '10.0.0.50') returning id`, [lan])
    const id = ok.rows[0].id
    expect(await refused(`update ip_allocations set ip_address = '10.0.2.50' where id = $1`, [id])).toEqual({ code: '23514', constraint: 'ip_allocations_in_pool' })
    expect(await refused(`update ip_allocations set pool_id = $2 where id = $1`, [id, v6])).toEqual({ code: '23514', constraint: 'ip_allocations_in_pool' })
    await client.query(`update ip_allocations set hostname = 'still-inside' where id = $1`, [id])
    expect((await client.query(`select host(ip_address) as ip, hostname from ip_allocations where id = $1`, [id])).rows[0]).toEqual({ ip: '10.0.0.50', hostname: 'still-inside' })
  })

  it('cascades a pool delete to its allocations', async () => {
    const lan = await pool('lan')
    await client.query(`delete from ip_pools where id = $1`, [lan])
    const n = await client.query(`select count(*)::int as n from ip_allocations where pool_id = $1`, [lan])
    expect(n.rows[0].n).toBe(0)
  })

  it('refuses audit rows with an unknown action, status or source', async () => {
    const base = `insert into audit_logs (seq, action, resource_type, status, source, prev_hash, row_hash) values `
    expect((await refused(`${base} (1, 'hack', 'ip_pool', 'success', 'ui', 'x', 'y')`)).constraint).toBe('audit_logs_action_check')
    expect((await refused(`${base} (1, 'create', 'ip_pool', 'meh', 'ui', 'x', 'y')`)).constraint).toBe('audit_logs_status_check')
    expect((await refused(`${base} (1, 'create', 'ip_pool', 'success', 'web', 'x', 'y')`)).constraint).toBe('audit_logs_source_check')
  })
})

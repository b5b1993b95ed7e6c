/**
 * Address spaces, nested pools, subnet planning and ranges (issue 16), against a real PostgreSQL server: the
 * tree's rules refused by the database itself as well as by the service, concurrency of next-block, split and
 * merge round trips, dhcp ranges skipped by next free, roll-ups, and the upgrade of pre-existing pools.
 */
import { migrationNames } from '../../migrations/names'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
import { parseCidr } from '../../src/shared/net'
import { cli } from '../support/cli'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'
import { freshDatabase, withClient } from '../support/db'

let core: Core
let url: string
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')

beforeAll(async () => {
  ;({ core, url } = await openCore('tree'))
})
afterAll(async () => {
  await core?.close()
})

async function refusedSql(sql: string, params: unknown[] = []): Promise<{ code: string; constraint?: string; message: string }> {
  return withClient(url, async (c) => {
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

describe('address spaces', () => {
  it('holds the same prefix and the same address in two spaces, never twice in one', async () => {
    await core.ipam.createSpace(admin, { name: 'cust-a', description: 'customer A' })
    await core.ipam.createSpace(admin, { name: 'cust-b' })
    const a = await core.ipam.createPool(admin, { name: 'a-lan', network: '192.168.10.0/24', space: 'cust-a' })
    const b = await core.ipam.createPool(admin, { name: 'b-lan', network: '192.168.10.0/24', space: 'cust-b' })
    expect([a.spaceName, b.spaceName]).toEqual(['cust-a', 'cust-b'])
    const x = await core.ipam.allocate(op, { pool: 'a-lan', ip: '192.168.10.5', hostname: 'a-host' })
    const y = await core.ipam.allocate(op, { pool: 'b-lan', ip: '192.168.10.5', hostname: 'b-host' })
    expect([x[0]!.spaceName, y[0]!.spaceName]).toEqual(['cust-a', 'cust-b'])
    // Same space: refused by the service and by the database.
    const dup = await core.ipam.createPool(admin, { name: 'a-lan2', network: '192.168.10.0/25', space: 'cust-a' }).catch((e) => e)
    expect(dup).toMatchObject({ code: 'CONFLICT', details: { field: 'network' } })
    expect(await refusedSql(`insert into ip_pools (name, network, space_id) values ('raw', '192.168.10.0/24', $1)`, [a.spaceId])).toMatchObject({
      code: '23P01',
      constraint: 'ip_pools_no_overlap'
    })
    expect(await refusedSql(`insert into ip_allocations (pool_id, ip_address) values ($1, '192.168.10.5')`, [a.id])).toMatchObject({
      code: '23505',
      constraint: 'ip_allocations_ip_address_key'
    })
    // An address held in two spaces: a look-up without a space is ambiguous and says so; with one it is exact.
    const amb = await core.ipam.getAllocation(op, '192.168.10.5').catch((e) => e)
    expect(amb).toMatchObject({ code: 'CONFLICT', details: { field: 'space', spaces: ['cust-a', 'cust-b'] } })
    expect((await core.ipam.getAllocation(op, '192.168.10.5', 'cust-b')).hostname).toBe('b-host')
    const rel = await core.ipam.release(op, '192.168.10.5', { space: 'cust-a' })
    expect(rel.hostname).toBe('a-host')
    expect((await core.ipam.getAllocation(op, '192.168.10.5')).hostname).toBe('b-host')
    // Search across spaces names each hit's space.
    const hits = await core.ipam.search(op, { query: '192.168.10.0/24' })
    expect(hits.items.map((h) => `${h.ip}@${h.spaceName}`)).toEqual(['192.168.10.5@cust-b'])
    // A space with pools cannot go; the default never.
    expect(await core.ipam.deleteSpace(admin, 'cust-a').catch((e) => e)).toMatchObject({ code: 'CONFLICT', details: { field: 'space' } })
    expect(await core.ipam.deleteSpace(admin, 'default').catch((e) => e)).toMatchObject({ code: 'CONFLICT' })
    const spaces = await core.ipam.listSpaces(op)
    expect(spaces.map((s) => [s.name, s.isDefault, s.pools])).toEqual([
      ['default', true, 0],
      ['cust-a', false, 1],
      ['cust-b', false, 1]
    ])
  })
  it('keeps pool names unique per space: the same name in two spaces, refused twice in one (service and database)', async () => {
    await core.ipam.createSpace(admin, { name: 'names-a' })
    await core.ipam.createSpace(admin, { name: 'names-b' })
    const a = await core.ipam.createPool(admin, { name: 'LAN', network: '10.99.0.0/24', space: 'names-a' })
    const b = await core.ipam.createPool(admin, { name: 'LAN', network: '10.99.0.0/24', space: 'names-b' })
    expect([a.spaceName, b.spaceName]).toEqual(['names-a', 'names-b'])
    expect(await core.ipam.createPool(admin, { name: 'LAN', network: '10.98.0.0/24', space: 'names-a' }).catch((e) => e)).toMatchObject({ code: 'CONFLICT', details: { field: 'name' } })
    expect(await refusedSql(`insert into ip_pools (name, network, space_id) values ('LAN', '10.97.0.0/24', $1)`, [a.spaceId])).toMatchObject({
      code: '23505',
      constraint: 'ip_pools_space_name_key'
    })
    // Renaming and next-block children check the name in their own space only.
    const other = await core.ipam.createPool(admin, { name: 'LAN2', network: '10.98.0.0/24', space: 'names-b' })
    expect(await core.ipam.updatePool(admin, other.id, { name: 'LAN' }).catch((e) => e)).toMatchObject({ code: 'CONFLICT', details: { field: 'name' } })
    expect((await core.ipam.nextBlock(admin, { in: String(a.id), prefixLength: 26, name: 'LAN2' }))[0]!.spaceName).toBe('names-a')
    // By name alone the two are ambiguous (the error names both spaces and ids); by id each is found.
    const amb = await core.ipam.getPool(admin, 'LAN').catch((e) => e)
    expect(amb).toMatchObject({ code: 'CONFLICT', details: { field: 'pool', pools: [{ id: a.id, space: 'names-a' }, { id: b.id, space: 'names-b' }] } })
    expect((await core.ipam.getPool(admin, b.id)).spaceName).toBe('names-b')
  })
})

describe('the pool tree', () => {
  it('refuses a child outside its parent, overlapping siblings and allocations a child covers, in SQL and in the service', async () => {
    const top = await core.ipam.createPool(admin, { name: 'dc1', network: '10.20.0.0/16' })
    const outside = await core.ipam.createPool(admin, { name: 'out', network: '10.21.0.0/24', parent: 'dc1' }).catch((e) => e)
    expect(outside).toMatchObject({ code: 'VALIDATION', details: { field: 'network' } })
    expect(outside.message).toContain('not inside parent pool "dc1"')
    expect(await refusedSql(`insert into ip_pools (name, network, parent_id) values ('out', '10.21.0.0/24', $1)`, [top.id])).toMatchObject({
      code: '23514',
      constraint: 'ip_pools_inside_parent'
    })
    // Equal to the parent is not inside it either.
    expect(await refusedSql(`insert into ip_pools (name, network, parent_id) values ('same', '10.20.0.0/16', $1)`, [top.id])).toMatchObject({
      constraint: 'ip_pools_inside_parent'
    })
    await core.ipam.createPool(admin, { name: 'dc1-web', network: '10.20.1.0/24', parent: 'dc1' })
    const sib = await core.ipam.createPool(admin, { name: 'dc1-web2', network: '10.20.1.128/25', parent: 'dc1' }).catch((e) => e)
    expect(sib).toMatchObject({ code: 'CONFLICT', details: { field: 'network', pool: 'dc1-web' } })
    expect(await refusedSql(`insert into ip_pools (name, network, parent_id) values ('sib', '10.20.1.0/25', $1)`, [top.id])).toMatchObject({
      code: '23P01',
      constraint: 'ip_pools_no_overlap'
    })
    // A nested child of a child may sit inside it (a different parent).
    await core.ipam.createPool(admin, { name: 'dc1-web-a', network: '10.20.1.0/26', parent: 'dc1-web' })
    // A child in another space than its parent: the composite foreign key.
    const other = (await core.ipam.getSpace(op, 'cust-a')).id
    expect((await refusedSql(`insert into ip_pools (name, network, parent_id, space_id) values ('x', '10.20.9.0/24', $1, $2)`, [top.id, other])).code).toBe('23503')
    // An allocation in a container where a child covers the address.
    expect(await refusedSql(`insert into ip_allocations (pool_id, ip_address) values ($1, '10.20.1.10')`, [top.id])).toMatchObject({
      code: '23514',
      constraint: 'ip_allocations_in_leaf'
    })
    const svc = await core.ipam.allocate(op, { pool: 'dc1', ip: '10.20.1.10' }).catch((e) => e)
    expect(svc).toMatchObject({ code: 'CONFLICT', details: { field: 'ip', pool: 'dc1-web' } })
    // ...but where no child covers it, a container holds it (a loopback of the aggregate, say).
    const lo = await core.ipam.allocate(op, { pool: 'dc1', ip: '10.20.255.1', hostname: 'anycast' })
    expect(lo[0]!.poolName).toBe('dc1')
    // A child created over that address takes it over in the same transaction (audited)...
    const seq = await lastSeq(core)
    const lb = await core.ipam.createPool(admin, { name: 'dc1-lb', network: '10.20.255.0/24', parent: 'dc1' })
    expect((await core.ipam.getAllocation(op, '10.20.255.1')).poolName).toBe('dc1-lb')
    expect(lb.utilization.allocated).toBe(1)
    const rows = await auditRows(core, seq)
    expect(rows.map((r) => [r.action, r.resource_name, r.details.context])).toEqual([['create', 'dc1-lb', { space: 'default', parent: 'dc1', allocationsMoved: 1 }]])
    // ...and the database refuses a child that would leave it in the parent (checked at commit).
    await withClient(url, async (c) => {
      await c.query(`insert into ip_allocations (pool_id, ip_address) values ($1, '10.20.254.1')`, [top.id])
    })
    expect(await refusedSql(`insert into ip_pools (name, network, parent_id) values ('x', '10.20.254.0/24', $1)`, [top.id])).toMatchObject({
      constraint: 'ip_allocations_in_leaf'
    })
    // A container with children is not deleted; a child cannot be shrunk past its own children.
    expect(await core.ipam.deletePool(admin, 'dc1', { force: true }).catch((e) => e)).toMatchObject({ code: 'CONFLICT', details: { children: 2 } })
    expect(await refusedSql(`update ip_pools set network = '10.20.1.128/25' where name = 'dc1-web'`)).toMatchObject({ constraint: 'ip_pools_inside_parent' })
    // Next free address in a container skips its children.
    await withClient(url, (c) => c.query(`delete from ip_allocations where ip_address = '10.20.254.1'`))
    const t = await core.ipam.createPool(admin, { name: 'small', network: '10.30.0.0/29' })
    await core.ipam.createPool(admin, { name: 'small-lo', network: '10.30.0.0/30', parent: 'small' })
    const n = await core.ipam.allocate(op, { pool: 'small', next: true })
    expect(n[0]!.ip).toBe('10.30.0.4')
    expect(t.children).toBe(0)
  })

  it('rolls utilization up a container in one statement', async () => {
    await core.ipam.createPool(admin, { name: 'agg', network: '10.40.0.0/22' })
    await core.ipam.createPool(admin, { name: 'agg-a', network: '10.40.0.0/24', parent: 'agg' })
    await core.ipam.createPool(admin, { name: 'agg-b', network: '10.40.1.0/24', parent: 'agg' })
    await core.ipam.createPool(admin, { name: 'agg-b1', network: '10.40.1.0/25', parent: 'agg-b' })
    await core.ipam.allocate(op, { pool: 'agg-a', next: true, count: 10 })
    await core.ipam.allocate(op, { pool: 'agg-b1', next: true, count: 5 })
    await core.ipam.allocate(op, { pool: 'agg', ip: '10.40.3.1' })
    const p = await core.ipam.getPool(op, 'agg')
    expect(p.children).toBe(2)
    expect(p.rollup).toEqual({ size: '1024', assigned: '512', assignedPercent: 50, descendants: 3, used: '16', percent: 1.56 })
    expect((await core.ipam.getPool(op, 'agg-b')).rollup).toMatchObject({ descendants: 1, used: '5', assigned: '128' })
    expect((await core.ipam.getPool(op, 'agg-a')).rollup).toBeNull()
  })

  it('lists the tree depth-first, only below expanded pools when asked', async () => {
    const all = await core.ipam.poolTree(op, { root: 'agg' })
    expect(all.nodes.map((n) => `${'  '.repeat(n.depth)}${n.pool.name}`)).toEqual(['agg', '  agg-a', '  agg-b', '    agg-b1'])
    const agg = all.nodes[0]!.pool.id
    const folded = await core.ipam.poolTree(op, { root: 'agg', expanded: [agg] })
    expect(folded.nodes.map((n) => n.pool.name)).toEqual(['agg', 'agg-a', 'agg-b'])
    const page = await core.ipam.poolTree(op, { root: 'agg', limit: 2, offset: 1 })
    expect(page).toMatchObject({ total: 4 })
    expect(page.nodes.map((n) => n.pool.name)).toEqual(['agg-a', 'agg-b'])
  })
})

describe('subnet planning', () => {
  it('takes the lowest aligned free blocks, skipping children and allocations, and refuses a block larger than the container', async () => {
    await core.ipam.createPool(admin, { name: 'plan', network: '10.60.0.0/24', gateway: '10.60.0.1' })
    await core.ipam.createPool(admin, { name: 'plan-x', network: '10.60.0.64/26', parent: 'plan' })
    await core.ipam.allocate(op, { pool: 'plan', ip: '10.60.0.130' })
    const seq = await lastSeq(core)
    // The /26 at .0 holds the gateway, .64 is a child, .128 holds an allocation: .192 is the lowest free.
    const got = await core.ipam.nextBlock(admin, { in: 'plan', prefixLength: 26 })
    expect(got.map((p) => [p.name, p.network, p.parentName])).toEqual([['plan 10.60.0.192/26', '10.60.0.192/26', 'plan']])
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'create', resource_type: 'ip_pool', resource_name: 'plan 10.60.0.192/26' })
    expect(rows[0]!.details.context).toEqual({ operation: 'next-block', space: 'default', parent: 'plan', prefixLength: 26 })
    const many = await core.ipam.nextBlock(admin, { in: 'plan', prefixLength: 28, count: 3, name: 'svc' })
    // .16/28 to .48/28 are free (the gateway is .1). The search once ordered free ranges by their text, where
    // "10.60.0.131" sorts before "10.60.0.2", and answered .144, .160, .176.
    expect(many.map((p) => [p.name, p.network])).toEqual([
      ['svc-1', '10.60.0.16/28'],
      ['svc-2', '10.60.0.32/28'],
      ['svc-3', '10.60.0.48/28']
    ])
    expect(await core.ipam.nextBlock(admin, { in: 'plan', prefixLength: 24 }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'prefixLength' } })
    expect(await core.ipam.nextBlock(admin, { in: 'plan', prefixLength: 33 }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'prefixLength' } })
    const full = await core.ipam.nextBlock(admin, { in: 'plan', prefixLength: 26 }).catch((e) => e)
    expect(full).toMatchObject({ code: 'CONFLICT', details: { field: 'prefixLength', free: 0 } })
    // A block may start on the container's own network address (nothing can be allocated there).
    await core.ipam.createPool(admin, { name: 'edge', network: '10.61.0.0/24' })
    expect((await core.ipam.nextBlock(admin, { in: 'edge', prefixLength: 25, count: 2 })).map((p) => p.network)).toEqual(['10.61.0.0/25', '10.61.0.128/25'])
    // IPv6 /64s out of a /56.
    await core.ipam.createPool(admin, { name: 'v6', network: '2001:db8:0:100::/56' })
    expect((await core.ipam.nextBlock(admin, { in: 'v6', prefixLength: 64, count: 2 })).map((p) => p.network)).toEqual(['2001:db8:0:100::/64', '2001:db8:0:101::/64'])
  })

  it('finds the lowest free block by the block_len index, past holes too small, in numeric (not text) order, edges included', async () => {
    // block_len: the prefix length of the largest aligned block inside a range, computed by the database.
    const bl = await withClient(url, (c) =>
      c.query<{ a: number; b: number; c: number; d: number; e: number; f: number }>(
        `select ipam_block_prefix('10.0.0.1', '10.255.255.254') a, ipam_block_prefix('10.0.0.31', '10.0.0.64') b, ipam_block_prefix('10.0.0.5', '10.0.0.5') c,
                ipam_block_prefix('2001:db8::1', '2001:db8::ffff:ffff:ffff:ffff') d, ipam_block_prefix('2001:db8::7fff:ffff:ffff:ffff', '2001:db8::8000:0:0:0') e,
                ipam_block_prefix('255.255.255.253', '255.255.255.255') f`
      )
    )
    expect(bl.rows[0]).toEqual({ a: 10, b: 27, c: 32, d: 65, e: 128, f: 31 })
    // Every 4th /26 of 10.180.0.0/20 is only a /27 child, for the first 40 slots: 9 /27 holes no /26 fits in (the
    // 10th joins the free space above).
    const frag = await core.ipam.createPool(admin, { name: 'frag', network: '10.180.0.0/20' })
    await withClient(url, (c) =>
      c.query(
        `insert into ip_pools (name, network, parent_id, space_id, created_by)
         select 'frag-' || g, (host('10.180.0.0'::inet + g * 64) || case when g % 4 = 3 then '/27' else '/26' end)::cidr, $1, $2, 'seed' from generate_series(0, 39) g`,
        [frag.id, frag.spaceId]
      )
    )
    await withClient(url, (c) => c.query(`select ipam_rebuild_free_ranges($1)`, [frag.id]))
    const ranges = await withClient(url, (c) => c.query<{ n: number }>(`select count(*)::int n from ip_free_ranges where pool_id = $1 and block_len > 26`, [frag.id]))
    expect(ranges.rows[0]!.n).toBe(9)
    // The first /26 past the holes.
    expect((await core.ipam.nextBlock(admin, { in: 'frag', prefixLength: 26 }))[0]!.network).toBe('10.180.10.0/26')
    // A /27 goes into the lowest hole.
    expect((await core.ipam.nextBlock(admin, { in: 'frag', prefixLength: 27 }))[0]!.network).toBe('10.180.0.224/27')
    // Several blocks across ranges of different sizes, in numeric address order (as text, 10.180.10.x sorts before
    // 10.180.2.x); compare with a walk of the slots.
    const got = (await core.ipam.nextBlock(admin, { in: 'frag', prefixLength: 27, count: 12 })).map((p) => p.network)
    const oracle: string[] = []
    for (let g = 7; g < 40 && oracle.length < 9; g += 4) oracle.push(`10.180.${Math.floor((g * 64 + 32) / 256)}.${(g * 64 + 32) % 256}/27`)
    expect(got.slice(0, 9)).toEqual(oracle)
    expect(got.slice(9)).toEqual(['10.180.10.64/27', '10.180.10.96/27', '10.180.10.128/27'])
    // The widened top edge: a /21 container whose top /22 is free ends on its own broadcast address.
    await core.ipam.createPool(admin, { name: 'edge2', network: '10.181.0.0/21' })
    await core.ipam.createPool(admin, { name: 'edge2-low', network: '10.181.0.0/22', parent: 'edge2' })
    expect((await core.ipam.nextBlock(admin, { in: 'edge2', prefixLength: 22 }))[0]!.network).toBe('10.181.4.0/22')
    // A /32 child on the container's own first address: the block there is not free any more, the next one is.
    await core.ipam.createPool(admin, { name: 'edge3', network: '10.182.0.0/24' })
    await core.ipam.createPool(admin, { name: 'edge3-net', network: '10.182.0.0/32', parent: 'edge3' })
    expect((await core.ipam.nextBlock(admin, { in: 'edge3', prefixLength: 25 }))[0]!.network).toBe('10.182.0.128/25')
  })

  it('gives 16 concurrent next-block requests distinct, aligned, non-overlapping children', async () => {
    await core.ipam.createPool(admin, { name: 'conc', network: '10.70.0.0/16' })
    const cores = await Promise.all([1, 2, 3, 4].map(() => Core.open({ databaseUrl: url, dataDir: '/nonexistent', migrate: false })))
    try {
      const got = (
        await Promise.all(Array.from({ length: 16 }, (_, i) => cores[i % 4]!.ipam.nextBlock(ctxAs('admin', `w${i}`), { in: 'conc', prefixLength: 26, count: 1 + (i % 2) })))
      ).flat()
      expect(got).toHaveLength(24)
      const nets = got.map((p) => parseCidr(p.network))
      expect(new Set(nets.map((n) => n.text)).size).toBe(24)
      for (const n of nets) expect(n.network % 64n).toBe(0n)
      const sorted = nets.map((n) => n.network).sort((a, b) => (a < b ? -1 : 1))
      // The lowest 24 /26s, no gap and no overlap.
      expect(sorted.map((v) => Number(v - sorted[0]!) / 64)).toEqual(Array.from({ length: 24 }, (_, i) => i))
      expect(parseCidr('10.70.0.0/16').network).toBe(sorted[0])
    } finally {
      await Promise.all(cores.map((c) => c.close()))
    }
  })

  it('writes a new block\'s own free space in the insert statement exactly as a rebuild would, and answers the DTO a read gives', async () => {
    // The children's free space is written with the pools (no rebuild call); compare with what the rebuild writes.
    await core.ipam.createPool(admin, { name: 'fr4', network: '10.93.0.0/24' })
    await core.ipam.createPool(admin, { name: 'fr6', network: '2001:db8:93::/48' })
    const made = [
      ...(await core.ipam.nextBlock(admin, { in: 'fr4', prefixLength: 26 })),
      ...(await core.ipam.nextBlock(admin, { in: 'fr4', prefixLength: 31 })),
      ...(await core.ipam.nextBlock(admin, { in: 'fr4', prefixLength: 32 })),
      ...(await core.ipam.nextBlock(admin, { in: 'fr6', prefixLength: 64 })),
      ...(await core.ipam.nextBlock(admin, { in: 'fr6', prefixLength: 127 })),
      ...(await core.ipam.nextBlock(admin, { in: 'fr6', prefixLength: 128 }))
    ]
    const free = async (): Promise<string[]> =>
      (
        await withClient(url, (c) =>
          c.query<{ r: string }>(`select pool_id || ' ' || host(first_ip) || '-' || host(last_ip) || ' /' || block_len as r from ip_free_ranges where pool_id = any($1) order by pool_id, first_ip`, [
            made.map((p) => p.id)
          ])
        )
      ).rows.map((x) => x.r)
    const written = await free()
    expect(written).toHaveLength(6)
    expect(written[0]).toBe(`${made[0]!.id} 10.93.0.1-10.93.0.62 /28`)
    await withClient(url, (c) => c.query(`select ipam_rebuild_free_ranges(x) from unnest($1::int[]) x`, [made.map((p) => p.id)]))
    expect(await free()).toEqual(written)
    // What next-block answers is what reading the pool answers (utilization, tags, roll-up, parent).
    for (const p of made) expect(await core.ipam.getPool(admin, p.id)).toEqual(p)
    // A name taken in the space: refused naming it (by the unique key, in the one insert statement), nothing created.
    const seq = await lastSeq(core)
    const clash = await core.ipam.nextBlock(admin, { in: 'fr4', prefixLength: 28, name: 'fr6' }).catch((e) => e)
    expect(clash).toMatchObject({ code: 'CONFLICT', message: 'name: a pool named "fr6" already exists in this address space', details: { field: 'name' } })
    expect((await auditRows(core, seq)).map((r) => [r.action, r.status])).toEqual([['create', 'failure']])
    // Found and locked by name in one statement: a name two spaces hold is still refused as ambiguous.
    await core.ipam.createSpace(admin, { name: 'nb-b' })
    await core.ipam.createPool(admin, { name: 'fr4', network: '10.93.0.0/24', space: 'nb-b' })
    expect(await core.ipam.nextBlock(admin, { in: 'fr4', prefixLength: 28 }).catch((e) => e)).toMatchObject({ code: 'CONFLICT', details: { field: 'in' } })
  })

  it('makes next-block one statement: exact audit rows the chain verifies, IPv4-mapped IPv6 text as the client writes it, a hook in the same transaction', async () => {
    await core.ipam.createPool(admin, { name: 'one', network: '10.94.0.0/22' })
    // Round trips: a lone call is one statement (the change, its audit rows, a durable commit).
    const sent: string[] = []
    const spy = (q: { sql: string }): void => void sent.push(q.sql)
    core.db.knex.on('query', spy)
    let made
    try {
      made = await core.ipam.nextBlock(admin, { in: 'one', prefixLength: 24, count: 2, site: 'dc-nb', environment: 'prod', description: 'two racks' })
    } finally {
      core.db.knex.off('query', spy)
    }
    expect(sent).toHaveLength(1)
    expect(sent[0]).toMatch(/ipam_next_block\(/)
    expect(sent[0]).not.toMatch(/synchronous_commit/)
    expect(made.map((p) => [p.name, p.network, p.site, p.environment, p.description, p.parentName, p.spaceName])).toEqual([
      ['one 10.94.0.0/24', '10.94.0.0/24', 'dc-nb', 'prod', 'two racks', 'one', 'default'],
      ['one 10.94.1.0/24', '10.94.1.0/24', 'dc-nb', 'prod', 'two racks', 'one', 'default']
    ])
    for (const p of made) expect(await core.ipam.getPool(admin, p.id)).toEqual(p)
    // One audit row per child with the exact after, as a read of the pool gives it, and the chain holds.
    const rows = (await auditRows(core, '0')).filter((r) => r.resource_type === 'ip_pool' && made.some((p) => String(p.id) === r.resource_id))
    expect(rows).toHaveLength(2)
    rows.forEach((r, i) => {
      const p = made[i]!
      expect(r).toMatchObject({ action: 'create', status: 'success', resource_name: p.name, user_id: 'alice', source: 'ui' })
      expect(r.details.after).toEqual({
        name: p.name,
        network: p.network,
        gateway: null,
        dnsServers: [],
        vlanId: p.vlanId,
        site: p.site,
        environment: p.environment,
        description: p.description,
        isActive: true
      })
      expect(r.details.context).toEqual({ operation: 'next-block', space: 'default', parent: 'one', prefixLength: 24 })
    })
    // A VLAN by VID becomes the VLAN object, as for any other pool.
    const [vl] = await core.ipam.nextBlock(admin, { in: 'one', prefixLength: 24, vlanId: 941, name: 'vl' })
    expect(vl).toMatchObject({ name: 'vl', network: '10.94.2.0/24', vlanId: 941, vlan: { vid: 941 } })
    expect(await core.ipam.getPool(admin, vl!.id)).toEqual(vl)
    // PostgreSQL writes ::ffff:10.95.0.0 where the client writes ::ffff:a5f:0: names, DTOs and audit rows say the latter.
    await core.ipam.createPool(admin, { name: 'mapped', network: '::ffff:10.95.0.0/120' })
    const seq = await lastSeq(core)
    const [m] = await core.ipam.nextBlock(admin, { in: 'mapped', prefixLength: 124 })
    expect(m).toMatchObject({ name: 'mapped ::ffff:a5f:0/124', network: '::ffff:a5f:0/124' })
    expect((await auditRows(core, seq))[0]!.details.after).toMatchObject({ name: 'mapped ::ffff:a5f:0/124', network: '::ffff:a5f:0/124' })
    expect((await core.audit.verify(admin)).ok).toBe(true)
    // With a transaction hook (the offline replay's key), the call runs in the hook's transaction: a hook that
    // throws takes the pools and their audit rows back with it.
    const before = await lastSeq(core)
    const seen: unknown[] = []
    const hooked = await core.ipam.nextBlock(admin, { in: 'one', prefixLength: 25 }, { inTransaction: async (_trx, result) => void seen.push(result) })
    expect(seen).toEqual([hooked])
    expect(hooked[0]!.network).toBe('10.94.3.0/25')
    const mid = await lastSeq(core)
    expect(BigInt(mid) - BigInt(before)).toBe(1n)
    const refused = await core.ipam
      .nextBlock(admin, { in: 'one', prefixLength: 25 }, { inTransaction: async () => Promise.reject(new Error('key taken')) })
      .catch((e) => e)
    expect(refused).toBeInstanceOf(Error)
    expect(await withClient(url, (c) => c.query(`select 1 from ip_pools where network = '10.94.3.128/25'`)).then((r) => r.rowCount)).toBe(0)
    expect((await auditRows(core, mid)).filter((r) => r.status === 'success')).toEqual([])
    // Refusals name the field and the reason, and are audited as failures.
    expect(await core.ipam.nextBlock(admin, { in: 'no-such', prefixLength: 26 }).catch((e) => e)).toMatchObject({
      code: 'NOT_FOUND',
      message: 'in: no pool named "no-such"',
      details: { field: 'in' }
    })
    expect(await core.ipam.nextBlock(admin, { in: 'one', prefixLength: 22 }).catch((e) => e)).toMatchObject({
      code: 'VALIDATION',
      message: 'prefixLength: a /22 block is not smaller than the container 10.94.0.0/22 (/22); ask for a longer prefix'
    })
    expect(await core.ipam.nextBlock(admin, { in: 'one', prefixLength: 24, count: 3 }).catch((e) => e)).toMatchObject({
      code: 'CONFLICT',
      message: 'prefixLength: container "one" (10.94.0.0/22) has no free aligned /24',
      details: { field: 'prefixLength', free: 0 }
    })
    expect(await core.ipam.nextBlock(admin, { in: 'one', prefixLength: 26, count: 3 }).catch((e) => e)).toMatchObject({
      code: 'CONFLICT',
      message: 'count: container "one" (10.94.0.0/22) has only 2 free aligned /26, 3 asked',
      details: { field: 'count', free: 2 }
    })
    // Calls that find others in flight commit without waiting for their flush and wait for the shared one.
    sent.length = 0
    core.db.knex.on('query', spy)
    let four
    try {
      four = (await Promise.all([1, 2, 3, 4].map(() => core.ipam.nextBlock(admin, { in: 'one', prefixLength: 28 })))).flat()
    } finally {
      core.db.knex.off('query', spy)
    }
    expect(new Set(four.map((p) => p.network)).size).toBe(4)
    const calls = sent.filter((q) => /ipam_next_block\(/.test(q))
    expect(calls).toHaveLength(4)
    expect(calls.filter((q) => /synchronous_commit/.test(q))).toHaveLength(3)
    expect(sent.filter((q) => /pg_logical_emit_message/.test(q)).length).toBeGreaterThanOrEqual(1)
    const fails = (await auditRows(core, mid)).filter((r) => r.status === 'failure')
    expect(fails.map((r) => r.details.error?.code)).toEqual(['NOT_FOUND', 'VALIDATION', 'CONFLICT', 'CONFLICT'])
    expect((await core.audit.verify(admin)).ok).toBe(true)
  })

  it('carves blocks from the command line (pool next-block --json), refusing a block larger than the container with exit code 1', async () => {
    await core.ipam.createPool(admin, { name: 'cli-nb', network: '10.96.0.0/24' })
    const ok = await cli(['--database-url', url, 'pool', 'next-block', '--in', 'cli-nb', '--prefix-length', '26', '--count', '2', '--site', 'dc-cli', '--json'])
    expect(ok.code, ok.stderr).toBe(0)
    const made = JSON.parse(ok.stdout) as { name: string; network: string; site: string; parentName: string }[]
    expect(made.map((p) => [p.name, p.network, p.site, p.parentName])).toEqual([
      ['cli-nb 10.96.0.0/26', '10.96.0.0/26', 'dc-cli', 'cli-nb'],
      ['cli-nb 10.96.0.64/26', '10.96.0.64/26', 'dc-cli', 'cli-nb']
    ])
    const text = await cli(['--database-url', url, 'pool', 'next-block', '--in', 'cli-nb', '--prefix-length', '27', '--name', 'svc'])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/created .*svc.*10\.96\.0\.128\/27.* in cli-nb/)
    const big = await cli(['--database-url', url, 'pool', 'next-block', '--in', 'cli-nb', '--prefix-length', '23', '--json'])
    expect(big.code).toBe(1)
    expect(JSON.parse(big.stdout)).toMatchObject({ error: { code: 'VALIDATION', details: { field: 'prefixLength' } } })
    expect(big.stderr).toMatch(/prefixLength: a \/23 block is not smaller than the container 10\.96\.0\.0\/24/)
    const missing = await cli(['--database-url', url, 'pool', 'next-block', '--in', 'no-such-container', '--prefix-length', '26'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/in: no pool named "no-such-container"/)
  })

  it('splits a pool into 2^k children moving its allocations, and merges them back (round trip)', async () => {
    await core.ipam.createPool(admin, { name: 'sp', network: '10.80.0.0/24', gateway: '10.80.0.1', vlanId: 80 })
    await core.ipam.allocate(op, { pool: 'sp', ip: '10.80.0.10', hostname: 'h10' })
    await core.ipam.allocate(op, { pool: 'sp', ip: '10.80.0.200', hostname: 'h200' })
    await core.ipam.addRange(admin, { pool: 'sp', first: '10.80.0.20', last: '10.80.0.29', purpose: 'dhcp' })
    // .127 would become the broadcast of the lower /25: refused, naming it.
    await core.ipam.allocate(op, { pool: 'sp', ip: '10.80.0.127' })
    const bad = await core.ipam.splitPool(admin, { pool: 'sp', prefixLength: 25 }).catch((e) => e)
    expect(bad).toMatchObject({ code: 'VALIDATION', details: { field: 'prefixLength', ip: '10.80.0.127' } })
    expect(bad.message).toContain('10.80.0.127')
    await core.ipam.release(op, '10.80.0.127')
    // A range across a boundary is refused as well.
    await core.ipam.addRange(admin, { pool: 'sp', first: '10.80.0.60', last: '10.80.0.70', purpose: 'reserved' })
    const straddle = await core.ipam.splitPool(admin, { pool: 'sp', prefixLength: 26 }).catch((e) => e)
    expect(straddle).toMatchObject({ code: 'VALIDATION', details: { ip: '10.80.0.60' } })
    expect(straddle.message).toContain('10.80.0.64')
    await core.ipam.removeRange(admin, { pool: 'sp', first: '10.80.0.60' })

    const seq = await lastSeq(core)
    const s = await core.ipam.splitPool(admin, { pool: 'sp', prefixLength: 25 })
    expect(s.children.map((c) => [c.network, c.gateway, c.vlanId, c.utilization.allocated])).toEqual([
      ['10.80.0.0/25', '10.80.0.1', 80, 1],
      ['10.80.0.128/25', null, 80, 1]
    ])
    expect(s.moved).toBe(2)
    expect(s.container.children).toBe(2)
    expect((await core.ipam.listRanges(op, s.children[0]!.name)).map((g) => g.first)).toEqual(['10.80.0.20'])
    const rows = await auditRows(core, seq)
    expect(rows.map((r) => [r.action, r.resource_name])).toEqual([
      ['update', 'sp'],
      ['create', 'sp 10.80.0.0/25'],
      ['create', 'sp 10.80.0.128/25']
    ])
    expect(rows[0]!.details).toMatchObject({ before: { children: 0 }, after: { children: 2 }, context: { operation: 'split', allocationsMoved: 2 } })
    // Next free inside a child still skips the gateway and the dhcp range.
    await core.ipam.allocate(op, { pool: s.children[0]!.name, ip: '10.80.0.2' })
    // Merge the two halves: they make up the parent, so they collapse back into it.
    const m = await core.ipam.mergePools(admin, { a: s.children[0]!.name, b: s.children[1]!.name })
    expect(m.pool.name).toBe('sp')
    expect(m.pool.children).toBe(0)
    expect(m.moved).toBe(3)
    expect(m.removed.map((r) => r.network)).toEqual(['10.80.0.0/25', '10.80.0.128/25'])
    const after = await core.ipam.listAllocations(op, 'sp')
    expect(after.items.map((a) => [a.ip, a.hostname])).toEqual([
      ['10.80.0.2', null],
      ['10.80.0.10', 'h10'],
      ['10.80.0.200', 'h200']
    ])
    expect((await core.ipam.listRanges(op, 'sp')).map((g) => g.first)).toEqual(['10.80.0.20'])
    // Siblings that are not halves of one block are refused; two /26 halves merge into a /25 child.
    await core.ipam.splitPool(admin, { pool: 'sp', prefixLength: 26 })
    const notHalves = await core.ipam.mergePools(admin, { a: 'sp 10.80.0.64/26', b: 'sp 10.80.0.128/26' }).catch((e) => e)
    expect(notHalves).toMatchObject({ code: 'VALIDATION', details: { field: 'b' } })
    const half = await core.ipam.mergePools(admin, { a: 'sp 10.80.0.0/26', b: 'sp 10.80.0.64/26' })
    expect([half.pool.name, half.pool.network, half.pool.parentName]).toEqual(['sp 10.80.0.0/26', '10.80.0.0/25', 'sp'])
    expect((await core.ipam.getAllocation(op, '10.80.0.10')).poolName).toBe('sp 10.80.0.0/26')
  })
})

describe('ranges', () => {
  it('next free skips dhcp and reserved ranges; an address in a dhcp range needs force, naming the range', async () => {
    await core.ipam.createPool(admin, { name: 'rg', network: '10.90.0.0/28' })
    await core.ipam.addRange(admin, { pool: 'rg', first: '10.90.0.1', last: '10.90.0.4', purpose: 'dhcp', description: 'kea scope' })
    await core.ipam.addRange(admin, { pool: 'rg', first: '10.90.0.5', last: '10.90.0.6', purpose: 'reserved' })
    const inf = await core.ipam.addRange(admin, { pool: 'rg', first: '10.90.0.7', last: '10.90.0.8', purpose: 'infrastructure', markUsed: true })
    expect(inf.size).toBe('2')
    expect((await core.ipam.allocate(op, { pool: 'rg', next: true }))[0]!.ip).toBe('10.90.0.7')
    const refused = await core.ipam.allocate(op, { pool: 'rg', ip: '10.90.0.3' }).catch((e) => e)
    expect(refused).toMatchObject({ code: 'CONFLICT', details: { field: 'ip' } })
    expect(refused.message).toContain('dhcp range 10.90.0.1-10.90.0.4 (kea scope)')
    const forced = await core.ipam.allocate(op, { pool: 'rg', ip: '10.90.0.3', force: true })
    expect(forced[0]!.ip).toBe('10.90.0.3')
    // A reserved range's address may be taken explicitly; releasing it does not give it to next free.
    await core.ipam.allocate(op, { pool: 'rg', ip: '10.90.0.5' })
    await core.ipam.release(op, '10.90.0.5')
    await core.ipam.release(op, '10.90.0.3')
    expect((await core.ipam.allocate(op, { pool: 'rg', next: true, count: 2 })).map((a) => a.ip)).toEqual(['10.90.0.8', '10.90.0.9'])
    // Utilization: the mark-used range counts whole (10.90.0.7-8 allocated now, so nothing extra).
    const p = await core.ipam.getPool(op, 'rg')
    expect(p.utilization).toMatchObject({ usable: '14', allocated: 3 })
    // Overlaps, addresses outside, and the database's own exclusion.
    expect(await core.ipam.addRange(admin, { pool: 'rg', first: '10.90.0.4', last: '10.90.0.5', purpose: 'other' }).catch((e) => e)).toMatchObject({ code: 'CONFLICT', details: { field: 'first' } })
    expect(await core.ipam.addRange(admin, { pool: 'rg', first: '10.90.0.10', last: '10.90.1.5', purpose: 'other' }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'last' } })
    expect(await core.ipam.addRange(admin, { pool: 'rg', first: '10.90.0.10', last: '10.90.0.12', purpose: 'lease' as never }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'purpose' } })
    expect(await refusedSql(`insert into ip_ranges (pool_id, first_ip, last_ip, purpose) values ($1, '10.90.0.2', '10.90.0.9', 'other')`, [p.id])).toMatchObject({
      code: '23P01',
      constraint: 'ip_ranges_no_overlap'
    })
    expect(await refusedSql(`insert into ip_ranges (pool_id, first_ip, last_ip, purpose) values ($1, '10.90.0.12', '10.91.0.9', 'other')`, [p.id])).toMatchObject({
      constraint: 'ip_ranges_in_pool'
    })
    // Removing the dhcp range gives its addresses back to next free.
    await core.ipam.removeRange(admin, { pool: 'rg', first: '10.90.0.1' })
    expect((await core.ipam.allocate(op, { pool: 'rg', next: true }))[0]!.ip).toBe('10.90.0.1')
  })
})

describe('the usage counters behind roll-ups', () => {
  it('match a recount after everything the tests above did (allocate, release, split, merge, moves, deletes)', async () => {
    await core.ipam.deletePool(admin, 'small-lo', { force: true })
    const bad = await withClient(url, async (c) =>
      (
        await c.query(
          `select coalesce(u.pool_id, a.pool_id) as pool, u.used, a.n from ip_pool_usage u
             full join (select pool_id, count(*) as n from ip_allocations where status in ('allocated', 'blocked', 'reserved') group by pool_id) a
               on a.pool_id = u.pool_id
            where coalesce(u.used, 0) <> coalesce(a.n, 0) or (u.pool_id is not null and not exists (select 1 from ip_pools p where p.id = u.pool_id))`
        )
      ).rows
    )
    expect(bad).toEqual([])
    const n = await withClient(url, async (c) => (await c.query(`select count(*)::int as n from ip_pool_usage where used > 0`)).rows[0].n)
    expect(n).toBeGreaterThan(5)
  })
})

describe('the upgrade', () => {
  it('moves existing pools and allocations into the default space without loss', async () => {
    const u = await freshDatabase('upg')
    const db = await Database.open(await resolveConnection({ databaseUrl: u, dataDir: '/nonexistent' }))
    try {
      await db.migrate()
      await db.rollback('Migration20261210100000_audit_archive')
      await withClient(u, async (c) => {
        await c.query(`insert into ip_pools (id, name, network, gateway, vlan_id, site) values (1, 'old', '10.1.0.0/24', '10.1.0.1', 12, 'ams'), (2, 'old6', '2001:db8::/64', null, null, null)`)
        await c.query(`insert into ip_allocations (pool_id, ip_address, hostname) values (1, '10.1.0.5', 'a'), (1, '10.1.0.6', 'b'), (2, '2001:db8::5', 'c')`)
        await c.query(`select ipam_rebuild_free_ranges(1)`)
      })
      // Every migration after the rollback point comes back, these two among them.
      expect(await db.migrate()).toEqual(migrationNames.slice(migrationNames.indexOf('Migration20261210100000_audit_archive') + 1))
      expect(migrationNames).toContain('Migration20261215010000_ipam_spaces_tree')
      const usage = await withClient(u, async (c) => (await c.query(`select pool_id, used::int from ip_pool_usage order by pool_id`)).rows)
      expect(usage).toEqual([
        { pool_id: 1, used: 2 },
        { pool_id: 2, used: 1 }
      ])
      const r = await withClient(u, async (c) =>
        (
          await c.query(
            `select p.name, s.name as space, p.parent_id, p.vlan_id, p.site, (select count(*)::int from ip_allocations a where a.pool_id = p.id and a.space_id = p.space_id) as n
               from ip_pools p join ip_spaces s on s.id = p.space_id order by p.id`
          )
        ).rows
      )
      expect(r).toEqual([
        { name: 'old', space: 'default', parent_id: null, vlan_id: 12, site: 'ams', n: 2 },
        { name: 'old6', space: 'default', parent_id: null, vlan_id: null, site: null, n: 1 }
      ])
      const free = await withClient(u, async (c) => (await c.query(`select host(first_ip) as f, host(last_ip) as l from ip_free_ranges where pool_id = 1 order by first_ip`)).rows)
      expect(free).toEqual([
        { f: '10.1.0.2', l: '10.1.0.4' },
        { f: '10.1.0.7', l: '10.1.0.254' }
      ])
    } finally {
      await db.close()
    }
  })
})

describe('atomic bulk holds and releases', () => {
  it('reserves every free address of a run in one transaction, skipping what is taken, and releases a run or a list', async () => {
    await core.ipam.createPool(admin, { name: 'bulk', network: '10.95.0.0/24', gateway: '10.95.0.1' })
    await core.ipam.allocate(op, { pool: 'bulk', ip: '10.95.0.5', hostname: 'taken' })
    await core.ipam.addRange(admin, { pool: 'bulk', first: '10.95.0.8', last: '10.95.0.9', purpose: 'dhcp' })
    const seq = await lastSeq(core)
    const r = await core.ipam.holdRange(op, { pool: 'bulk', first: '10.95.0.0', last: '10.95.0.10', status: 'reserved', owner: 'lab' })
    expect(r.items.map((a) => a.ip)).toEqual(['10.95.0.2', '10.95.0.3', '10.95.0.4', '10.95.0.6', '10.95.0.7', '10.95.0.10'])
    expect(r.items.every((a) => a.status === 'reserved' && a.owner === 'lab')).toBe(true)
    expect(r.skipped).toEqual([
      { ip: '10.95.0.0', reason: 'network or broadcast address' },
      { ip: '10.95.0.1', reason: 'gateway' },
      { ip: '10.95.0.5', reason: 'already allocated to taken' },
      { ip: '10.95.0.8', reason: 'in the dhcp range 10.95.0.8-10.95.0.9' },
      { ip: '10.95.0.9', reason: 'in the dhcp range 10.95.0.8-10.95.0.9' }
    ])
    // One audit row per address, all in the one request.
    const rows = await auditRows(core, seq)
    expect(rows.map((x) => x.resource_name)).toEqual(r.items.map((a) => a.ip))
    expect(new Set(rows.map((x) => x.request_id)).size).toBe(1)
    // The free-space cache agrees: next free skips the whole run.
    expect((await core.ipam.allocate(op, { pool: 'bulk', next: true }))[0]!.ip).toBe('10.95.0.11')
    // Atomic: a run that fails validation writes nothing.
    const bad = await core.ipam.holdRange(op, { pool: 'bulk', first: '10.95.0.20', last: '10.95.1.3', status: 'blocked' }).catch((e) => e)
    expect(bad).toMatchObject({ code: 'VALIDATION', details: { field: 'last' } })
    const rel = await core.ipam.releaseMany(op, { pool: 'bulk', first: '10.95.0.0', last: '10.95.0.10', status: 'reserved' })
    expect(rel.items).toHaveLength(6)
    expect((await core.ipam.getAllocation(op, '10.95.0.5')).hostname).toBe('taken')
    const list = await core.ipam.releaseMany(op, { pool: 'bulk', ips: ['10.95.0.5', '10.95.0.11', '10.95.0.99'] })
    expect(list.items.map((a) => a.ip)).toEqual(['10.95.0.5', '10.95.0.11'])
    expect(list.skipped).toEqual([{ ip: '10.95.0.99', reason: 'not held in pool "bulk"' }])
    expect((await core.ipam.allocate(op, { pool: 'bulk', next: true }))[0]!.ip).toBe('10.95.0.2')
  })
})

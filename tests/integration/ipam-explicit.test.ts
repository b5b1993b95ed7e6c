/**
 * An explicit address in one statement (ipam_allocate_at, src/main/core/ipam/explicit.ts): one round trip and
 * a shared WAL flush; the same row, audit row and refusals as the general path, which is run here beside it by
 * giving the call a transaction hook (a hook makes allocate() take the general path). Concurrent requests,
 * the free-space cache, a lapsed hold handed back to the general path, and the function's server-side
 * guards (owner, SECURITY DEFINER, pinned search_path, execute for operators only).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import type { AllocateInput } from '../../src/shared/ipam'
import { auditRows, ctxAs, lastSeq, openCore, type AuditRow } from '../support/core'

let core: Core
const op = ctxAs('operator', 'olga')
const admin = ctxAs('admin', 'alice')
/** A transaction hook that does nothing: allocate() then takes its general path. */
const general = { inTransaction: async () => undefined }

beforeAll(async () => {
  ;({ core } = await openCore('explicit'))
  // Two pools alike, one per path, so each request can run on both with the same state.
  for (const name of ['fast', 'slow']) {
    const n = name === 'fast' ? 30 : 31
    await core.ipam.createPool(admin, { name, network: `10.${n}.0.0/24`, gateway: `10.${n}.0.1` })
    await core.ipam.addRange(admin, { pool: name, first: `10.${n}.0.100`, last: `10.${n}.0.149`, purpose: 'dhcp', description: 'clients' })
    await core.ipam.addRange(admin, { pool: name, first: `10.${n}.0.150`, last: `10.${n}.0.159`, purpose: 'reserved' })
    await core.ipam.createPool(admin, { name: `${name}-child`, network: `10.${n}.0.192/27`, parent: name })
    await core.ipam.createPool(admin, { name: `${name}-off`, network: `10.${n + 10}.0.0/24`, isActive: false })
    await core.ipam.createPool(admin, { name: `${name}-v6`, network: `2001:db8:${n}::/64` })
  }
  // A name two spaces hold.
  await core.ipam.createSpace(admin, { name: 'cust-b' })
  await core.ipam.createPool(admin, { name: 'twice', network: '10.50.0.0/24' })
  await core.ipam.createPool(admin, { name: 'twice', network: '10.50.0.0/24', space: 'cust-b' })
})
afterAll(async () => {
  await core?.close()
})

/** The request on pool `fast` through the one statement, and the same on pool `slow` through the general path. */
async function both(input: Omit<AllocateInput, 'pool'> & { pool?: string }, pool = 'fast'): Promise<{ fast: unknown; slow: unknown; fastAudit: AuditRow[]; slowAudit: AuditRow[] }> {
  const swap = (v: unknown): unknown => (typeof v === 'string' ? v.replace(/\b10\.30\./g, '10.31.').replace(/\b10\.40\./g, '10.41.').replace(/2001:db8:30:/g, '2001:db8:31:') : v)
  const slowInput = Object.fromEntries(Object.entries({ ...input, pool: pool.replace('fast', 'slow') }).map(([k, v]) => [k, swap(v)])) as AllocateInput
  let seq = await lastSeq(core)
  const fast = await core.ipam.allocate(op, { ...input, pool } as AllocateInput).catch((e: unknown) => e)
  const fastAudit = await auditRows(core, seq)
  seq = await lastSeq(core)
  const slow = await core.ipam.allocate(op, slowInput, general).catch((e: unknown) => e)
  const slowAudit = await auditRows(core, seq)
  return { fast, slow, fastAudit, slowAudit }
}

/** An error or result with pool `slow`'s names and addresses written as pool `fast`'s, for comparison. */
function asFast(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, (k, x) => (x instanceof Error ? { code: (x as { code?: string }).code, message: x.message, details: (x as { details?: unknown }).details } : x))
      .replace(/10\.31\./g, '10.30.')
      .replace(/10\.41\./g, '10.40.')
      .replace(/2001:db8:31:/g, '2001:db8:30:')
      .replace(/"slow/g, '"fast')
      .replace(/\\"slow/g, '\\"fast')
  )
}

const errorOf = (e: unknown) => JSON.parse(JSON.stringify({ code: (e as { code?: string }).code, message: (e as Error).message, details: (e as { details?: unknown }).details }))

describe('one statement', () => {
  it('allocates an explicit address in one round trip plus the shared WAL flush', async () => {
    const sent: string[] = []
    const listen = (d: { sql: string }): void => void sent.push(d.sql)
    core.db.knex.on('query', listen)
    try {
      const [a] = await core.ipam.allocate(op, { pool: 'fast', ip: '10.30.0.10', hostname: 'web10', mac: '02:00:00:00:00:10' })
      expect(a).toMatchObject({ ip: '10.30.0.10', hostname: 'web10', mac: '02:00:00:00:00:10', poolName: 'fast', spaceName: 'default', version: 1 })
    } finally {
      core.db.knex.off('query', listen)
    }
    expect(sent).toHaveLength(2)
    expect(sent[0]).toContain('ipam_allocate_at(')
    expect(sent[1]).toContain('pg_logical_emit_message')
    // The general path, for comparison (and so both pools hold the same addresses): a transaction of its own.
    sent.length = 0
    core.db.knex.on('query', listen)
    try {
      await core.ipam.allocate(op, { pool: 'slow', ip: '10.31.0.10', hostname: 'web10', mac: '02:00:00:00:00:10' }, general)
    } finally {
      core.db.knex.off('query', listen)
    }
    expect(sent.length).toBeGreaterThanOrEqual(8)
  })

  it('answers and writes what the general path does: the row, the audit row, the free space', async () => {
    const input = { ip: '10.30.0.20', hostname: 'Db20.Example.com', mac: 'AA-BB-CC-00-00-20', owner: 'dba', purpose: 'db', description: 'primary', ownerDn: 'uid=dba,ou=people,dc=example,dc=com' }
    const r = await both(input)
    const strip = (x: unknown) => {
      const o = { ...(x as Record<string, unknown>[])[0]! }
      for (const k of ['id', 'poolId', 'createdAt', 'updatedAt']) delete o[k]
      return o
    }
    expect(strip(r.fast)).toEqual(asFast(strip(r.slow)))
    // What a read gives afterwards is what the call answered.
    const read = await core.ipam.getAllocation(op, '10.30.0.20')
    expect(strip([read])).toEqual(strip(r.fast))
    expect(r.fastAudit).toHaveLength(1)
    expect(r.slowAudit).toHaveLength(1)
    const row = (x: AuditRow) => ({ ...x, seq: undefined, resource_id: undefined, request_id: undefined })
    expect(row(r.fastAudit[0]!)).toEqual(asFast(row(r.slowAudit[0]!)))
    expect(r.fastAudit[0]).toMatchObject({ action: 'create', resource_type: 'ip_allocation', resource_name: '10.30.0.20', resource_id: String((r.fast as { id: number }[])[0]!.id) })
    expect(r.fastAudit[0]!.details.after).toMatchObject({ ownerDn: 'uid=dba,ou=people,dc=example,dc=com', hostname: 'db20.example.com', pool: 'fast' })
    expect(r.fastAudit[0]!.details.context).toEqual({ operation: 'allocate', pool: 'fast', mode: 'explicit' })
    // Reservations and blocks, with their expiry.
    const until = new Date(Date.now() + 86400_000).toISOString()
    const held = await both({ ip: '10.30.0.21', status: 'reserved', until, owner: 'bob' })
    expect(strip(held.fast)).toEqual(asFast(strip(held.slow)))
    expect(row(held.fastAudit[0]!)).toEqual(asFast(row(held.slowAudit[0]!)))
    expect(held.fastAudit[0]!.details.context).toMatchObject({ operation: 'reserve' })
    const blocked = await both({ ip: '10.30.0.22', status: 'blocked' })
    expect(row(blocked.fastAudit[0]!)).toEqual(asFast(row(blocked.slowAudit[0]!)))
    // The free space of both pools, with the first address of each taken as a whole, is the same.
    const free = async (pool: string) =>
      (await core.db.knex.raw<{ rows: { f: string; l: string }[] }>(`select host(first_ip) f, host(last_ip) l from ip_free_ranges where pool_id = (select id from ip_pools where name = ?) order by first_ip`, [pool])).rows
    expect(await free('fast')).toEqual(asFast(await free('slow')))
  })

  it.each<[string, Omit<AllocateInput, 'pool'>, string, string, RegExp]>([
    ['no such pool', { ip: '10.30.0.5' }, 'nope', 'NOT_FOUND', /no pool named "nope"/],
    ['an inactive pool', { ip: '10.40.0.5' }, 'fast-off', 'CONFLICT', /is inactive/],
    ['the other family', { ip: '2001:db8:30::5' }, 'fast', 'VALIDATION', /is IPv6; pool "fast" is 10\.30\.0\.0\/24/],
    ['an address outside', { ip: '10.30.1.5' }, 'fast', 'VALIDATION', /outside 10\.30\.0\.0\/24 \(pool "fast"\)/],
    ['the network address', { ip: '10.30.0.0' }, 'fast', 'VALIDATION', /network address/],
    ['the broadcast address', { ip: '10.30.0.255' }, 'fast', 'VALIDATION', /broadcast address/],
    ['the gateway', { ip: '10.30.0.1' }, 'fast', 'VALIDATION', /gateway of pool "fast"/],
    ['the subnet-router anycast address', { ip: '2001:db8:30::' }, 'fast-v6', 'VALIDATION', /subnet-router anycast/],
    ['an address of a dhcp range, not forced', { ip: '10.30.0.120' }, 'fast', 'CONFLICT', /inside the dhcp range 10\.30\.0\.100-10\.30\.0\.149 \(clients\) of pool "fast"; force it/],
    ['an address held', { ip: '10.30.0.20' }, 'fast', 'CONFLICT', /10\.30\.0\.20 is already allocated to db20\.example\.com \(pool "fast"\)/],
    ['an address of a child pool', { ip: '10.30.0.200' }, 'fast', 'CONFLICT', /lies in child pool "fast-child" \(10\.30\.0\.192\/27\); allocate it there/],
    ['an invalid address', { ip: '10.30.0.300' }, 'fast', 'VALIDATION', /not a valid IPv4/]
  ])('refuses %s as the general path does, audited as a failure', async (_what, input, pool, code, message) => {
    const r = await both(input, pool)
    expect(r.fast).toMatchObject({ code })
    expect((r.fast as Error).message).toMatch(message)
    expect(errorOf(r.fast)).toEqual(asFast(errorOf(r.slow)))
    expect(r.fastAudit).toHaveLength(1)
    expect(r.fastAudit[0]).toMatchObject({ status: 'failure', resource_type: 'ip_allocation', action: 'create' })
    expect({ ...r.fastAudit[0]!, seq: undefined, request_id: undefined }).toEqual(asFast({ ...r.slowAudit[0]!, seq: undefined, request_id: undefined }))
  })

  it('refuses a pool name two address spaces hold, naming them, as the general path does', async () => {
    const fast = await core.ipam.allocate(op, { pool: 'twice', ip: '10.50.0.5' }).catch((e: unknown) => e)
    const slow = await core.ipam.allocate(op, { pool: 'twice', ip: '10.50.0.5' }, general).catch((e: unknown) => e)
    expect(fast).toMatchObject({ code: 'CONFLICT', details: { field: 'pool' } })
    expect((fast as Error).message).toMatch(/"twice" names a pool in more than one address space \("cust-b": id \d+, "default": id \d+\); give its id/)
    expect(errorOf(fast)).toEqual(errorOf(slow))
    // By id it goes, into that pool's space.
    const id = (await core.db.knex.raw<{ rows: { id: number }[] }>(`select p.id from ip_pools p join ip_spaces s on s.id = p.space_id where p.name = 'twice' and s.name = 'cust-b'`)).rows[0]!.id
    const [a] = await core.ipam.allocate(op, { pool: id, ip: '10.50.0.5' })
    expect(a).toMatchObject({ poolName: 'twice', spaceName: 'cust-b' })
  })

  it('allocates inside a dhcp range when forced and inside a reserved range, and by pool id', async () => {
    const forced = await both({ ip: '10.30.0.120', force: true, hostname: 'printer' })
    expect(forced.fast).toMatchObject([{ ip: '10.30.0.120', hostname: 'printer' }])
    expect(forced.fastAudit[0]!.details).toEqual(asFast(forced.slowAudit[0]!.details))
    const reserved = await both({ ip: '10.30.0.155' })
    expect(reserved.fast).toMatchObject([{ ip: '10.30.0.155' }])
    const id = (await core.ipam.getPool(op, 'fast')).id
    const [byId] = await core.ipam.allocate(op, { pool: id, ip: '10.30.0.23' })
    expect(byId).toMatchObject({ poolName: 'fast', ip: '10.30.0.23' })
    // IPv6, canonical text.
    const [six] = await core.ipam.allocate(op, { pool: 'fast-v6', ip: '2001:DB8:30:0::a' })
    expect(six!.ip).toBe('2001:db8:30::a')
  })

  it('hands a lapsed hold to the general path, which records the former holder as before', async () => {
    await core.ipam.allocate(op, { pool: 'fast', ip: '10.30.0.30', status: 'reserved', until: new Date(Date.now() + 3600_000).toISOString(), owner: 'carol' })
    await core.db.knex.raw(`update ip_allocations set reserved_until = now() - interval '1 minute' where ip_address = '10.30.0.30'`)
    const seq = await lastSeq(core)
    const [a] = await core.ipam.allocate(op, { pool: 'fast', ip: '10.30.0.30', hostname: 'reuse' })
    expect(a).toMatchObject({ ip: '10.30.0.30', hostname: 'reuse', owner: null, status: 'allocated', version: 2 })
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]!.details.before).toMatchObject({ status: 'reserved', owner: 'carol' })
    expect(rows[0]!.details.context).toMatchObject({ mode: 'explicit', reusedLapsedHold: true })
  })

  it('gives one address to one of 8 concurrent callers and names the holder to the rest', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => core.ipam.allocate(ctxAs('operator', `racer${i}`), { pool: 'fast', ip: '10.30.0.40', hostname: `racer${i}` }))
    )
    const won = results.filter((r) => r.status === 'fulfilled')
    expect(won).toHaveLength(1)
    const winner = (won[0] as PromiseFulfilledResult<{ hostname: string }[]>).value[0]!.hostname
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining(`already allocated to ${winner}`) })
    }
    // 16 distinct addresses at once: all given, the free space as a rebuild would leave it.
    const many = await Promise.all(Array.from({ length: 16 }, (_, i) => core.ipam.allocate(op, { pool: 'fast', ip: `10.30.0.${60 + i}` })))
    expect(many.map((m) => m[0]!.ip)).toEqual(Array.from({ length: 16 }, (_, i) => `10.30.0.${60 + i}`))
    const q = `select pool_id, host(first_ip) f, host(last_ip) l from ip_free_ranges order by pool_id, first_ip`
    const before = (await core.db.knex.raw<{ rows: unknown[] }>(q)).rows
    await core.db.knex.raw(`select ipam_rebuild_free_ranges(id) from ip_pools`)
    expect((await core.db.knex.raw<{ rows: unknown[] }>(q)).rows).toEqual(before)
    // Next-free skips what the explicit path took.
    const [next] = await core.ipam.allocate(op, { pool: 'fast', next: true })
    expect(next!.ip).toBe('10.30.0.2')
  })

  it('keeps the audit chain whole', async () => {
    expect((await core.audit.verify(admin)).ok).toBe(true)
  })

  it('is owned by netkeeper_owner, runs as its definer with a pinned search_path, and only operators may call it', async () => {
    const r = await core.db.knex.raw<{ rows: { owner: string; definer: boolean; config: string[]; viewer: boolean; operator: boolean; public: boolean }[] }>(
      `select pg_get_userbyid(p.proowner) as owner, p.prosecdef as definer, p.proconfig as config,
              has_function_privilege('netkeeper_viewer', p.oid, 'execute') as viewer,
              has_function_privilege('netkeeper_operator', p.oid, 'execute') as operator,
              exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0) as public
         from pg_proc p where p.proname = 'ipam_allocate_at'`
    )
    expect(r.rows).toHaveLength(1)
    expect(r.rows[0]).toMatchObject({ owner: 'netkeeper_owner', definer: true, viewer: false, operator: true, public: false })
    expect(r.rows[0]!.config.join(',')).toMatch(/^search_path=.*pg_catalog, pg_temp$/)
  })
})

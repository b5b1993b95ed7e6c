/**
 * The batched next-free path (ipam/next-free.ts PoolBatches, ipam_allocate_next_batch): callers of one pool
 * that arrive while an allocation is in flight go together as one statement. Each must get exactly what it
 * would have had alone: its own fields, its own audit row (its request id, its user, exact before/after),
 * in arrival order; its outbox row; and its own error, never another caller's.
 *
 * Callers started in the same tick form a group reliably: the first goes alone (the leader) and is in flight
 * on the server while the others reach the queue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { makeContext, type RequestContext } from '../../src/main/core/context'
import type { AllocationDto } from '../../src/shared/ipam'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'

let core: Core
const admin = ctxAs('admin', 'alice')

beforeAll(async () => {
  ;({ core } = await openCore('nextbatch'))
  await core.ipam.createPool(admin, { name: 'mixed', network: '10.90.0.0/24' })
  // 6 usable addresses: .1 to .6.
  await core.ipam.createPool(admin, { name: 'small', network: '10.91.0.0/29' })
  await core.ipam.createPool(admin, { name: 'refuse', network: '10.92.0.0/24' })
  await core.ipam.createPool(admin, { name: 'ptr', network: '10.93.0.0/24' })
  await core.db.knex.raw(`update ip_pools set dns_ptr = true where name = 'ptr'`)
}, 120_000)
afterAll(async () => {
  await core?.close()
})

const caller = (actor: string, source: RequestContext['source'] = 'ui'): RequestContext => makeContext({ actor, roles: ['operator'], source })

/** The transactions that wrote these addresses' allocation rows (xmin), by address. */
async function txOf(ips: string[]): Promise<Map<string, string>> {
  const r = await core.db.knex.raw<{ rows: { ip: string; x: string }[] }>(`select host(ip_address) as ip, xmin::text as x from ip_allocations where host(ip_address) = any(?)`, [ips])
  return new Map(r.rows.map((x) => [x.ip, x.x]))
}

describe('callers queued behind an allocation in flight', () => {
  it('share one transaction, each with its own fields, request id and audit row, in arrival order', async () => {
    const seq = await lastSeq(core)
    const ctxs = Array.from({ length: 8 }, (_, i) => caller(`user-${i}`, i % 2 ? 'cli' : 'ui'))
    const inputs = ctxs.map((_, i) => ({
      pool: 'mixed',
      next: true as const,
      ...(i === 3 ? { count: 3 } : {}),
      ...(i % 3 === 0 ? {} : { hostname: `Host-${i}.Example.org`, owner: `team ${i}`, purpose: i === 5 ? 'printer' : undefined })
    }))
    const results = await Promise.all(ctxs.map((c, i) => core.ipam.allocate(c, inputs[i]!)))
    // Arrival order, each caller's addresses lowest first, the next caller's after them.
    expect(results.map((r) => r.map((a) => a.ip))).toEqual([
      ['10.90.0.1'],
      ['10.90.0.2'],
      ['10.90.0.3'],
      ['10.90.0.4', '10.90.0.5', '10.90.0.6'],
      ['10.90.0.7'],
      ['10.90.0.8'],
      ['10.90.0.9'],
      ['10.90.0.10']
    ])
    results.forEach((r, i) => {
      for (const a of r) {
        expect(a).toMatchObject({
          poolName: 'mixed',
          hostname: i % 3 === 0 ? null : `host-${i}.example.org`,
          owner: i % 3 === 0 ? null : `team ${i}`,
          purpose: i === 5 ? 'printer' : null,
          allocatedBy: `user-${i}`,
          status: 'allocated',
          version: 1
        })
      }
    })
    // What the callers were told is what the database holds.
    const held = await core.ipam.listAllocations(admin, 'mixed')
    expect(held.items.map((a: AllocationDto) => a.ip).sort()).toEqual(results.flat().map((a) => a.ip).sort())
    // The leader went alone; the seven behind it shared one transaction.
    const tx = await txOf(results.flat().map((a) => a.ip))
    const leaderTx = tx.get('10.90.0.1')
    const followers = new Set(results.slice(1).flat().map((a) => tx.get(a.ip)))
    expect(followers.size).toBe(1)
    expect(followers.has(leaderTx)).toBe(false)

    // One audit row per address, in arrival order, each with its caller's request id, user and source, and
    // exactly the snapshot the lone path writes.
    const rows = (await auditRows(core, seq)).filter((r) => r.resource_type === 'ip_allocation')
    expect(rows.map((r) => r.resource_name)).toEqual(results.flat().map((a) => a.ip))
    let k = 0
    results.forEach((r, i) => {
      for (const a of r) {
        const row = rows[k++]!
        expect(row).toMatchObject({ action: 'create', status: 'success', resource_id: String(a.id), user_id: `user-${i}`, request_id: ctxs[i]!.requestId, source: ctxs[i]!.source })
        expect(row.details).toEqual({
          after: {
            pool: 'mixed',
            ip: a.ip,
            status: 'allocated',
            hostname: a.hostname,
            mac: null,
            owner: a.owner,
            purpose: a.purpose,
            description: null,
            dnsManaged: false,
            dhcpManaged: false,
            reservedUntil: null,
            allocatedBy: `user-${i}`
          },
          context: { operation: 'allocate', pool: 'mixed', mode: 'next' }
        })
      }
    })
    expect(await core.audit.verify(admin)).toMatchObject({ ok: true, problem: null })
  })

  it('serves the callers a filling pool can serve; one it cannot gets its own refusal', async () => {
    const seq = await lastSeq(core)
    const ctxs = ['lead', 'two', 'four', 'one-a', 'one-b', 'one-c'].map((n) => caller(n))
    const counts = [1, 2, 4, 1, 1, 1]
    const settled = await Promise.allSettled(ctxs.map((c, i) => core.ipam.allocate(c, { pool: 'small', next: true, count: counts[i], hostname: `${c.actor}.lan` })))
    const ok = settled.map((s) => (s.status === 'fulfilled' ? s.value.map((a) => a.ip) : null))
    // lead .1; two .2-.3; four cannot be served (3 left at its turn), the ones behind it still are.
    expect(ok).toEqual([['10.91.0.1'], ['10.91.0.2', '10.91.0.3'], null, ['10.91.0.4'], ['10.91.0.5'], ['10.91.0.6']])
    // The callers served went in one statement: the one left out did not roll the group back.
    const tx = await txOf(ok.slice(1).flatMap((x) => x ?? []))
    expect(new Set(tx.values()).size).toBe(1)
    const refused = settled[2] as PromiseRejectedResult
    // Alone after the others, it finds the pool full: the error it would have had alone.
    expect(refused.reason).toMatchObject({ code: 'CONFLICT', details: { field: 'pool', free: 0 } })
    expect(String(refused.reason.message)).toMatch(/"small".*no free address/)
    const rows = (await auditRows(core, seq)).filter((r) => r.resource_type === 'ip_allocation')
    expect(rows.filter((r) => r.status === 'success').map((r) => r.user_id)).toEqual(['lead', 'two', 'two', 'one-a', 'one-b', 'one-c'])
    const failure = rows.filter((r) => r.status === 'failure')
    expect(failure).toHaveLength(1)
    expect(failure[0]).toMatchObject({ user_id: 'four', request_id: ctxs[2]!.requestId, action: 'create' })
    expect(failure[0]!.details.error).toMatchObject({ code: 'CONFLICT' })
    expect(await core.audit.verify(admin)).toMatchObject({ ok: true, problem: null })
  })

  it('keeps a request the server refuses from failing the others', async () => {
    const seq = await lastSeq(core)
    // allocated_by holds 255 characters: the server refuses this caller's row (22001), not the request's shape.
    const long = caller('x'.repeat(300))
    const ctxs = [caller('lead'), caller('good-1'), long, caller('good-2'), caller('good-3')]
    const settled = await Promise.allSettled(ctxs.map((c, i) => core.ipam.allocate(c, { pool: 'refuse', next: true, hostname: `h${i}.lan` })))
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    const served = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value.map((a) => a.ip) : []))
    expect(new Set(served).size).toBe(4)
    // A client-side refusal (a bad host name) never reaches the queue at all.
    const pair = await Promise.allSettled([core.ipam.allocate(caller('lead'), { pool: 'refuse', next: true }), core.ipam.allocate(caller('bad'), { pool: 'refuse', next: true, hostname: 'not a name!' })])
    expect(pair[0].status).toBe('fulfilled')
    expect(pair[1]).toMatchObject({ status: 'rejected', reason: { code: 'VALIDATION' } })
    const held = await core.db.knex.raw<{ rows: { ip: string; by: string }[] }>(
      `select host(a.ip_address) as ip, a.allocated_by as by from ip_allocations a join ip_pools p on p.id = a.pool_id where p.name = 'refuse' order by a.ip_address`
    )
    expect(held.rows.map((r) => r.by)).not.toContain('x'.repeat(300))
    expect(held.rows.map((r) => r.ip)).toEqual(expect.arrayContaining(served))
    const rows = (await auditRows(core, seq)).filter((r) => r.resource_type === 'ip_allocation' && r.status === 'success')
    expect(rows.map((r) => r.resource_name).sort()).toEqual(held.rows.map((r) => r.ip).sort())
    expect(await core.audit.verify(admin)).toMatchObject({ ok: true, problem: null })
  })

  it('writes each DNS-managed caller its outbox row, with its own request id, in the shared transaction', async () => {
    const ctxs = Array.from({ length: 5 }, (_, i) => caller(`dns-${i}`))
    const results = await Promise.all(ctxs.map((c, i) => core.ipam.allocate(c, { pool: 'ptr', next: true, hostname: `d${i}.lan`, dnsManaged: i !== 2 })))
    const ids = results.map((r) => r[0]!.id)
    const out = await core.db.knex.raw<{ rows: { subject: string; request_id: string; actor: string; x: string }[] }>(
      `select subject, request_id, actor, xmin::text as x from outbox where kind = 'dns' and subject = any(?)`,
      [ids.map((id) => `ip_allocation:${id}`)]
    )
    const bySubject = new Map(out.rows.map((r) => [r.subject, r]))
    ids.forEach((id, i) => {
      const row = bySubject.get(`ip_allocation:${id}`)
      if (i === 2) expect(row).toBeUndefined()
      else expect(row).toMatchObject({ request_id: ctxs[i]!.requestId, actor: `dns-${i}` })
    })
    // The followers' outbox rows committed with their allocations.
    const tx = await txOf(results.flat().map((a) => a.ip))
    for (const i of [1, 3, 4]) expect(bySubject.get(`ip_allocation:${ids[i]}`)!.x).toBe(tx.get(results[i]![0]!.ip))
  })
})

describe('one round trip per group', () => {
  it('sends a group with its commit and its flush as one query, in the pool\'s space', async () => {
    await core.ipam.createSpace(admin, { name: 'trip-space' })
    await core.ipam.createPool(admin, { name: 'trip', network: '10.94.0.0/24', space: 'trip-space' })
    // What goes out: through knex (the leader's statement and its shared flush) and straight on a connection
    // (the group's query, next-free.ts PoolBatches.run).
    const viaKnex: string[] = []
    const direct: string[] = []
    const listen = (d: { sql: string }): void => void viaKnex.push(d.sql)
    type Conn = { query: (...args: unknown[]) => unknown }
    const client = core.db.knex.client as unknown as { acquireConnection: () => Promise<Conn> }
    const acquire = client.acquireConnection
    const wrapped = new Set<Conn>()
    client.acquireConnection = async function (this: unknown) {
      const c = await acquire.call(this)
      if (!wrapped.has(c)) {
        wrapped.add(c)
        const query = c.query
        c.query = function (this: unknown, ...args: unknown[]) {
          if (typeof args[0] === 'string') direct.push(args[0])
          return query.apply(this, args)
        }
      }
      return c
    }
    core.db.knex.on('query', listen)
    let results: AllocationDto[][]
    try {
      results = await Promise.all(Array.from({ length: 4 }, (_, i) => core.ipam.allocate(caller(`trip-${i}`), { pool: 'trip', next: true })))
    } finally {
      core.db.knex.off('query', listen)
      delete (client as { acquireConnection?: unknown }).acquireConnection
      for (const c of wrapped) delete (c as { query?: unknown }).query
    }
    expect(client.acquireConnection).toBe(acquire)
    expect(results.map((r) => r.map((a) => a.ip))).toEqual([['10.94.0.1'], ['10.94.0.2'], ['10.94.0.3'], ['10.94.0.4']])
    for (const r of results) expect(r[0]).toMatchObject({ poolName: 'trip', spaceName: 'trip-space' })
    // The leader: its statement and a shared flush. The three behind it: one query, the flush inside.
    expect(viaKnex.filter((q) => q.includes('ipam_allocate_next_keyed('))).toHaveLength(1)
    expect(viaKnex.filter((q) => q.includes('pg_logical_emit_message'))).toHaveLength(1)
    expect(viaKnex.filter((q) => q.includes('ipam_allocate_next_batch('))).toEqual([])
    const groups = direct.filter((q) => q.includes('ipam_allocate_next_batch('))
    expect(groups).toHaveLength(1)
    expect(groups[0]).toMatch(/^begin;[\s\S]*ipam_allocate_next_batch\([\s\S]*;\s*commit;\s*select pg_logical_emit_message\(true, 'netkeeper', 'durable'\);$/)
    // Written with the pool's space (not looked up per row by the trigger), which the foreign key checks.
    const held = await core.db.knex.raw<{ rows: { ok: boolean }[] }>(
      `select a.space_id = p.space_id and s.name = 'trip-space' as ok from ip_allocations a join ip_pools p on p.id = a.pool_id join ip_spaces s on s.id = a.space_id where p.name = 'trip'`
    )
    expect(held.rows.map((r) => r.ok)).toEqual([true, true, true, true])
    expect(await core.audit.verify(admin)).toMatchObject({ ok: true, problem: null })
  })
})

describe('a commit whose shared flush failed', () => {
  it('is answered as made once the server shows its rows after a flush of its own, and as lost when they are gone', async () => {
    const [a] = await core.ipam.allocate(caller('flush-check'), { pool: 'mixed', next: true, hostname: 'flush-check' })
    const { lostFlushOutcome, recheckAllocations } = await import('../../src/main/core/ipam/next-free')
    expect(await recheckAllocations(core.db.knex, [a!.id])).toBe(true)
    expect(await lostFlushOutcome(core.db.knex, [a!.id], a!.ip)).toBe(true)
    // An id no row has: the allocation did not survive, and the caller is told nothing was allocated.
    expect(await recheckAllocations(core.db.knex, [a!.id, 2_000_000_000])).toBe(false)
    await expect(lostFlushOutcome(core.db.knex, [2_000_000_000], '10.90.0.250')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('nothing was allocated') })
  })
})

describe('a pool name two address spaces hold', () => {
  it('is refused as ambiguous by next-free, alone and queued together, naming both; by id each pool serves', async () => {
    await core.ipam.createSpace(admin, { name: 'amb-a' })
    await core.ipam.createSpace(admin, { name: 'amb-b' })
    const a = await core.ipam.createPool(admin, { name: 'twin', network: '10.94.0.0/24', space: 'amb-a' })
    const b = await core.ipam.createPool(admin, { name: 'twin', network: '10.94.0.0/24', space: 'amb-b' })
    const before = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ip_allocations where pool_id = any(?)`, [[a.id, b.id]])
    const want = { code: 'CONFLICT', details: { field: 'pool', pools: [{ id: a.id, space: 'amb-a' }, { id: b.id, space: 'amb-b' }] } }
    // Alone (ipam_allocate_next_keyed).
    const alone = await core.ipam.allocate(caller('amb-alone'), { pool: 'twin', next: true }).catch((e) => e)
    expect(alone).toMatchObject(want)
    expect(alone.message).toContain('more than one address space')
    // Six at once: the first goes alone, the rest queue as one group (ipam_allocate_next_batch); every one refused.
    const many = await Promise.all(Array.from({ length: 6 }, (_, i) => core.ipam.allocate(caller(`amb-${i}`), { pool: 'twin', next: true, count: 1 + (i % 2) }).catch((e) => e)))
    for (const m of many) expect(m).toMatchObject(want)
    // Nothing was taken from either pool, and each refusal is on the audit trail as a failure naming the pool.
    const after = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ip_allocations where pool_id = any(?)`, [[a.id, b.id]])
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n)
    const failures = await core.db.knex.raw<{ rows: { actor: string }[] }>(
      `select user_id as actor from audit_logs where resource_type = 'ip_allocation' and status = 'failure' and user_id like 'amb-%'`
    )
    expect(failures.rows.map((r) => r.actor).sort()).toEqual(['amb-0', 'amb-1', 'amb-2', 'amb-3', 'amb-4', 'amb-5', 'amb-alone'])
    // By id, each serves from its own space.
    const [x] = await core.ipam.allocate(caller('amb-id'), { pool: a.id, next: true })
    const [y] = await core.ipam.allocate(caller('amb-id'), { pool: String(b.id), next: true })
    expect([x!.ip, x!.poolId, y!.ip, y!.poolId]).toEqual(['10.94.0.1', a.id, '10.94.0.1', b.id])
  })
})

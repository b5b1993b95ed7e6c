/**
 * `npm run bench -- ipam-tree` (and within `ipam`): the pool tree of issue 16.
 * - next-block: the next free /26 of a /8 container holding 100,000 child pools, fragmented (every 7th child is
 *   a /27, leaving a /27 hole no /26 fits in), each call the full service call (one statement, ipam_next_block:
 *   lock, search, insert, free-space bookkeeping, audit row; then the shared WAL flush), committed and durable;
 *   `statementsPerCall` counts the round trips;
 * - roll-up: a /8 container with 10,000 /24 children and 1,000,000 allocations: getPool, whose DTO carries the
 *   roll-up (one set-based statement);
 * - tree page: 50 nodes with roll-ups out of 100,000 pools (1,000 /16 roots with 100 /24 children each).
 * NETKEEPER_BENCH_SCALE (default 1) scales every size, for a quick run on a busy machine.
 */
import type { Core } from '../src/main/core'
import { benchCtx, log, openCore, percentile, round, time, type BenchServer } from './util'

const ctx = benchCtx()
const SCALE = Number(process.env.NETKEEPER_BENCH_SCALE ?? '1') || 1
const n = (x: number): number => Math.max(1, Math.round(x * SCALE))

async function seedChildren(core: Core, parent: string, count: number): Promise<void> {
  // Slot i is the i-th /26 of 10.0.0.0/8; every 7th slot holds only a /27 (its upper half stays a hole).
  // One statement, in address order as next-block would have made them (the order shapes the exclusion
  // constraint's GiST index, which every later insert searches). The per-row triggers are skipped where the
  // login may (a superuser: session_replication_role): they would only take each child out of the parent's
  // free space one at a time (rebuilt once below instead, to the same rows), check what the statement makes
  // true by construction (inside the parent, no allocations covered) and find no site, VLAN or custom field.
  // Constraints (the exclusion against overlapping siblings among them) are checked either way. The children's
  // own free space (their usable range) is written as next-block writes it.
  const k = core.db.knex
  const su = (await k.raw<{ rows: { su: boolean }[] }>(`select rolsuper as su from pg_roles where rolname = current_user`)).rows[0]?.su === true
  await k.transaction(async (trx) => {
    if (su) await trx.raw(`set local session_replication_role = replica`)
    await trx.raw(
      `with ins as (
         insert into ip_pools (name, network, parent_id, created_by)
         select 'c-' || g, ((host('10.0.0.0'::inet + g * 64::bigint)) || case when g % 7 = 6 then '/27' else '/26' end)::cidr, p.id, 'seed'
           from ip_pools p, generate_series(0, ? - 1) g where p.name = ? order by g
         returning id, network
       )
       insert into ip_free_ranges (pool_id, first_ip, last_ip) select id, host(network)::inet + 1, host(broadcast(network))::inet - 1 from ins`,
      [count, parent]
    )
  })
  await k.raw(`select ipam_rebuild_free_ranges(id) from ip_pools where name = ?`, [parent])
  await k.raw('analyze')
}

export async function benchIpamTree(srv: BenchServer): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { scale: SCALE }

  {
    const children = n(100_000)
    const core = await openCore(await srv.url('bench_ipamtree_nb'))
    await core.ipam.createPool(ctx, { name: 'slash8', network: '10.0.0.0/8' })
    const [, seedMs] = await time(() => seedChildren(core, 'slash8', children))
    const free = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ip_free_ranges f join ip_pools p on p.id = f.pool_id where p.name = 'slash8'`)
    for (let i = 0; i < 20; i++) await core.ipam.nextBlock(ctx, { in: 'slash8', prefixLength: 26 })
    const s: number[] = []
    // Round trips per call: every statement the client sends (the change, the shared WAL flush).
    let statements = 0
    const count = (): void => void statements++
    core.db.knex.on('query', count)
    for (let i = 0; i < 200; i++) {
      const [, ms] = await time(() => core.ipam.nextBlock(ctx, { in: 'slash8', prefixLength: 26 }))
      s.push(ms)
    }
    core.db.knex.off('query', count)
    out.nextBlock26 = {
      children,
      freeRangesBefore: free.rows[0]!.n,
      seedSeconds: round(seedMs / 1000, 1),
      p50Ms: percentile(s, 50),
      p99Ms: percentile(s, 99),
      samples: s.length,
      statementsPerCall: round(statements / s.length, 2),
      goal: 'p50 <= 5 ms (100,000 children)'
    }
    log(`nextBlock26 ${JSON.stringify(out.nextBlock26)}`)
    await core.close()
  }

  {
    const children = n(10_000)
    const perChild = 100
    const core = await openCore(await srv.url('bench_ipamtree_ru'))
    await core.ipam.createPool(ctx, { name: 'agg8', network: '10.0.0.0/8' })
    await core.db.knex.raw(
      `insert into ip_pools (name, network, parent_id, created_by)
       select 'r-' || g, (host('10.0.0.0'::inet + g * 256::bigint) || '/24')::cidr, p.id, 'seed' from ip_pools p, generate_series(0, ? - 1) g where p.name = 'agg8'`,
      [children]
    )
    const [, seedMs] = await time(() =>
      core.db.knex.raw(
        `insert into ip_allocations (pool_id, ip_address, hostname, status, allocated_by)
         select c.id, host(c.network)::inet + g, 'h' || g, case when g % 10 = 0 then 'reserved' else 'allocated' end, 'seed'
           from ip_pools c join ip_pools p on p.id = c.parent_id and p.name = 'agg8', generate_series(1, ?) g`,
        [perChild]
      )
    )
    await core.db.knex.raw('analyze')
    const s: number[] = []
    for (let i = 0; i < 40; i++) {
      const [p, ms] = await time(() => core.ipam.getPool(ctx, 'agg8'))
      if (p.rollup?.used !== String(children * perChild)) throw new Error(`roll-up says ${p.rollup?.used}`)
      if (i >= 5) s.push(ms)
    }
    out.rollup = { children, allocations: children * perChild, seedSeconds: round(seedMs / 1000, 1), p50Ms: percentile(s, 50), p95Ms: percentile(s, 95), goal: '<= 50 ms (10,000 children, 1,000,000 allocations)' }
    log(`rollup ${JSON.stringify(out.rollup)}`)
    await core.close()
  }

  {
    const roots = n(1_000)
    const core = await openCore(await srv.url('bench_ipamtree_tp'))
    await core.db.knex.raw(
      `insert into ip_pools (name, network, created_by) select 't-' || g, (host('10.0.0.0'::inet + g * 65536::bigint) || '/16')::cidr, 'seed' from generate_series(0, ? - 1) g`,
      [roots]
    )
    await core.db.knex.raw(
      `insert into ip_pools (name, network, parent_id, created_by)
       select r.name || '-' || g, (host(host(r.network)::inet + g * 256::bigint) || '/24')::cidr, r.id, 'seed' from ip_pools r, generate_series(0, 99) g where r.parent_id is null`
    )
    await core.db.knex.raw(
      `insert into ip_allocations (pool_id, ip_address, status, allocated_by)
       select c.id, host(c.network)::inet + g, 'allocated', 'seed' from ip_pools c, generate_series(1, 20) g where c.parent_id is not null`
    )
    await core.db.knex.raw('analyze')
    const total = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ip_pools`)
    const ids = await core.db.knex.raw<{ rows: { id: number }[] }>(`select id from ip_pools where parent_id is null order by network limit 3`)
    const s: number[] = []
    for (let i = 0; i < 40; i++) {
      const [r, ms] = await time(() => core.ipam.poolTree(ctx, { expanded: ids.rows.map((x) => x.id), limit: 50, offset: (i % 4) * 50 }))
      if (r.nodes.length !== 50) throw new Error(`page of ${r.nodes.length}`)
      if (i >= 5) s.push(ms)
    }
    out.treePage = { pools: total.rows[0]!.n, pageSize: 50, p50Ms: percentile(s, 50), p95Ms: percentile(s, 95), goal: '<= 50 ms (100,000 pools)' }
    log(`treePage ${JSON.stringify(out.treePage)}`)
    await core.close()
  }
  return out
}

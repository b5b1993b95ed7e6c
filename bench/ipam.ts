/**
 * `npm run bench -- ipam`: next-free latency at 1 % and 95 % fill of a /16, next-free in a /8 holding a
 * million allocations, two OS processes allocating concurrently, a page of pools with utilization out of
 * 5,000, and hostname-prefix search over 500,000 allocations. Each measured operation is the full service
 * call: validation, pool lock, free-space search, insert and audit row, committed durably.
 *
 * Next-free and the concurrent run are measured as an operator login, with the server's grants in place
 * (docs/postgresql-setup.md#roles), and beside it as the owner in the same run (`asOwner`), so the cost of
 * the grants and the owner-defined audit functions shows as a ratio (`operatorToOwner`; goal: within 10 %).
 */
import type { Core } from '../src/main/core'
import { grantRole } from '../src/main/core/db/roles'
import { benchIpamTree } from './ipam-tree'
import { benchIpamCsv } from './ipam-csv'
import { concurrentRun } from './ipam-concurrent'
import { benchCtx, log, openCore, percentile, round, time, type BenchServer } from './util'

const ctx = benchCtx()

/** Fills the lowest `count` usable addresses of a pool with COPY-speed set-based SQL, then rebuilds its free ranges. */
async function seedFill(core: Core, pool: string, count: number, from = 1): Promise<void> {
  await core.db.knex.raw(
    `insert into ip_allocations (pool_id, ip_address, hostname, owner, status, allocated_by)
     select p.id, host(p.network)::inet + g, 'seed-' || g, 'bench', 'allocated', 'seed'
       from ip_pools p, generate_series(?::bigint, ?::bigint) g where p.name = ?`,
    [from, from + count - 1, pool]
  )
  await core.db.knex.raw(`select ipam_rebuild_free_ranges(id) from ip_pools where name = ?`, [pool])
  await core.db.knex.raw('analyze ip_allocations')
}

const OPERATOR = 'nk_bench_operator'

/** The URL of `url`'s database as an operator login (created once per cluster), granted by the owner's core. */
async function operatorUrl(owner: Core, url: string): Promise<string> {
  await owner.db.knex.raw(`do $$ begin if not exists (select 1 from pg_roles where rolname = '${OPERATOR}') then create role ${OPERATOR} login; end if; end $$`)
  await grantRole(owner.db, ctx, OPERATOR, 'operator')
  const u = new URL(url)
  u.username = OPERATOR
  u.password = ''
  return u.toString()
}

async function nextFreeLatency(core: Core, pool: string, n: number): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    const [, ms] = await time(() => core.ipam.allocate(ctx, { pool, next: true }))
    samples.push(ms)
  }
  return samples
}

export async function benchIpam(srv: BenchServer): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}

  // 1. /16 at 1 % and 95 % fill.
  {
    const url = await srv.url('bench_ipam16')
    const owner = await openCore(url)
    await owner.ipam.createPool(ctx, { name: 'p1', network: '10.1.0.0/16' })
    await owner.ipam.createPool(ctx, { name: 'p95', network: '10.2.0.0/16' })
    await seedFill(owner, 'p1', Math.round(65534 * 0.01))
    await seedFill(owner, 'p95', Math.round(65534 * 0.95))
    const core = await openCore(await operatorUrl(owner, url))
    if (core.serverRole !== 'operator') throw new Error(`the bench login is ${core.serverRole}, not operator`)
    // Warm up, then alternate between the two pools and the two logins so drift (JIT, caches, background
    // work) hits all alike.
    for (const c of [core, owner]) {
      await nextFreeLatency(c, 'p1', 200)
      await nextFreeLatency(c, 'p95', 200)
    }
    const s1: number[] = []
    const s95: number[] = []
    const o1: number[] = []
    const o95: number[] = []
    for (let i = 0; i < 500; i++) {
      s1.push(...(await nextFreeLatency(core, 'p1', 1)))
      s95.push(...(await nextFreeLatency(core, 'p95', 1)))
      o1.push(...(await nextFreeLatency(owner, 'p1', 1)))
      o95.push(...(await nextFreeLatency(owner, 'p95', 1)))
    }
    const p50a = percentile(s1, 50)
    const p50b = percentile(s95, 50)
    out.nextFree16 = {
      login: 'operator',
      fill1pct: { p50Ms: p50a, p99Ms: percentile(s1, 99), samples: s1.length },
      fill95pct: { p50Ms: p50b, p99Ms: percentile(s95, 99), samples: s95.length },
      ratio95to1: round(p50b / p50a, 2),
      asOwner: { fill1pctP50Ms: percentile(o1, 50), fill95pctP50Ms: percentile(o95, 50) },
      operatorToOwner: { fill1pct: round(p50a / percentile(o1, 50), 2), fill95pct: round(p50b / percentile(o95, 50), 2) },
      goal: 'p50 <= 3 ms at both fills, ratio <= 2; operator within 10 % of owner'
    }
    log(`nextFree16 ${JSON.stringify(out.nextFree16)}`)
    await core.close()
    await owner.close()
  }

  // 2. /8 holding 1,000,000 allocations.
  {
    const core = await openCore(await srv.url('bench_ipam8'))
    await core.ipam.createPool(ctx, { name: 'big', network: '10.0.0.0/8' })
    const [, seedMs] = await time(() => seedFill(core, 'big', 1_000_000))
    await nextFreeLatency(core, 'big', 50)
    const s = await nextFreeLatency(core, 'big', 500)
    out.nextFree8 = { allocations: 1_000_000, seedSeconds: round(seedMs / 1000, 1), p50Ms: percentile(s, 50), p99Ms: percentile(s, 99), goal: 'p50 <= 5 ms' }
    log(`nextFree8 ${JSON.stringify(out.nextFree8)}`)
    await core.close()
  }

  // 3. 2 OS processes x 8 workers x 250 next-free into one /20.
  out.concurrent = await benchIpamConcurrent(srv)

  // 4 and 5. 5,000 pools, 500,000 allocations: a page of 50 with utilization; hostname-prefix search.
  {
    const core = await openCore(await srv.url('bench_ipamlist'))
    await core.db.knex.raw(
      `insert into ip_pools (name, network, site, environment, created_by)
       select 'pool-' || lpad(g::text, 5, '0'), ('10.' || (g / 256) || '.' || (g % 256) || '.0/24')::cidr,
              'site-' || (g % 20), case when g % 3 = 0 then 'prod' else 'dev' end, 'seed'
         from generate_series(0, 4999) g`
    )
    await core.db.knex.raw(
      `insert into ip_allocations (pool_id, ip_address, hostname, owner, status, allocated_by)
       select p.id, host(p.network)::inet + g, 'host-' || p.id || '-' || g || '.example.net', 'owner-' || (p.id % 50),
              case when g % 10 = 0 then 'reserved' else 'allocated' end, 'seed'
         from ip_pools p, generate_series(1, 100) g`
    )
    await core.db.knex.raw(`select ipam_rebuild_free_ranges(id) from ip_pools`)
    await core.db.knex.raw('analyze')
    const pageSamples: number[] = []
    for (let i = 0; i < 60; i++) {
      const [r, ms] = await time(() => core.ipam.listPools(ctx, { page: 1 + (i % 100), pageSize: 50 }))
      if (r.items.length !== 50 || r.items[0]!.utilization.allocated !== 90) throw new Error('unexpected page')
      if (i >= 10) pageSamples.push(ms)
    }
    const searchSamples: number[] = []
    for (let i = 0; i < 60; i++) {
      const [r, ms] = await time(() => core.ipam.search(ctx, { query: `host-${1 + ((i * 37) % 5000)}-5`, kind: 'hostname' }))
      if (r.total < 1) throw new Error('search found nothing')
      if (i >= 10) searchSamples.push(ms)
    }
    out.poolPage = { pools: 5000, allocations: 500_000, pageSize: 50, p50Ms: percentile(pageSamples, 50), p95Ms: percentile(pageSamples, 95), goal: '<= 50 ms' }
    out.hostnameSearch = { allocations: 500_000, p50Ms: percentile(searchSamples, 50), p95Ms: percentile(searchSamples, 95), goal: '<= 20 ms' }
    log(`poolPage ${JSON.stringify(out.poolPage)} hostnameSearch ${JSON.stringify(out.hostnameSearch)}`)
    await core.close()
  }
  // 6. The pool tree (issue 16): next-block, roll-up, tree page.
  out.tree = await benchIpamTree(srv)
  Object.assign(out, await benchIpamCsv(srv))
  return out
}

/**
 * 2 OS processes x 8 workers x 250 next-free into one /20 (NETKEEPER_BENCH_CONC_PER_WORKER changes the 250),
 * as an operator and beside it as the owner, with where the time went (ipam-concurrent.ts).
 */
export async function benchIpamConcurrent(srv: BenchServer): Promise<Record<string, unknown>> {
  const perWorker = Number(process.env.NETKEEPER_BENCH_CONC_PER_WORKER ?? 250)
  const url = await srv.url('bench_ipamconc')
  const core = await openCore(url)
  await core.ipam.createPool(ctx, { name: 'conc', network: '10.3.0.0/20' })
  await core.ipam.createPool(ctx, { name: 'conc-owner', network: '10.4.0.0/20' })
  await core.ipam.createPool(ctx, { name: 'conc-single', network: '10.5.0.0/20' })
  const opUrl = await operatorUrl(core, url)
  // One allocation at a time (no one to share a statement with): the lone path's latency, which group
  // commit must not make worse. The operator's login, 50 warm-up calls, then 300 measured.
  const single = await openCore(opUrl)
  await nextFreeLatency(single, 'conc-single', 50)
  const singleSamples = await nextFreeLatency(single, 'conc-single', 300)
  await single.close()
  // The owner's run first (a warm server for the measured operator run would favour the operator).
  const ownerRun = await concurrentRun(core, url, 'conc-owner', 8, perWorker, srv.server?.dataDir)
  const ownerPerSecond = round(ownerRun.results.flatMap((r) => r.ips).length / ownerRun.seconds, 1)
  const { seconds, results, profile } = await concurrentRun(core, opUrl, 'conc', 8, perWorker, srv.server?.dataDir)
  const ips = results.flatMap((r) => r.ips)
  const dbCount = await core.db.knex.raw<{ rows: { n: number; d: number }[] }>(
    `select count(*)::int as n, count(distinct ip_address)::int as d from ip_allocations a join ip_pools p on p.id = a.pool_id where p.name = 'conc'`
  )
  // The concurrent run's rows only (the one-at-a-time calls above are the operator's too).
  const loginCount = await core.db.knex.raw<{ rows: { n: number }[] }>(
    `select count(*)::int as n from audit_logs where db_user = ? and resource_type = 'ip_allocation' and details->'context'->>'pool' = 'conc'`,
    [OPERATOR]
  )
  const verified = await core.audit.verify(ctx)
  const out = {
    login: 'operator',
    auditRowsByOperatorLogin: loginCount.rows[0]!.n,
    asOwner: { perSecond: ownerPerSecond },
    operatorToOwner: round(ips.length / seconds / ownerPerSecond, 2),
    processes: 2,
    workersPerProcess: 8,
    perWorker,
    allocated: ips.length,
    distinct: new Set(ips).size,
    duplicates: ips.length - new Set(ips).size,
    failures: results.reduce((n, r) => n + r.failures, 0),
    rowsInDatabase: dbCount.rows[0],
    auditChainOk: verified.ok,
    seconds: round(seconds, 2),
    perSecond: round(ips.length / seconds, 1),
    singleAllocation: { login: 'operator', n: singleSamples.length, p50Ms: percentile(singleSamples, 50), p95Ms: percentile(singleSamples, 95) },
    profile,
    goal: `${16 * perWorker} distinct, 0 duplicates, 0 failures, >= 1000 per second, chain valid; operator within 10 % of owner`
  }
  log(`concurrent ${JSON.stringify(out)}`)
  await core.close()
  return out
}

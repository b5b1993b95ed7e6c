/**
 * `npm run bench -- dns`: DNS and DHCP following allocations, against a real named (loopback, free port)
 * and a Kea database made by kea-admin on the bench's PostgreSQL.
 * - allocation with DNS and DHCP on, until the name answers on the server and the reservation is readable
 *   in Kea's database: p50 goal <= 20 ms (NETKEEPER_BENCH_DNS_N allocations, 200 by default);
 * - drift of a zone with 50,000 records against 50,000 allocations: goal <= 5 s and <= 300 MB
 *   (NETKEEPER_BENCH_DNS_DRIFT_N to change the size).
 * Secrets are kept in memory here (CoreOptions.secrets), not in the OS keychain.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { Core } from '../src/main/core'
import type { SecretStore } from '../src/main/core/credentials/keychain'
import { startNamed } from '../tests/support/named'
import { benchCtx, log, percentile, round, type BenchServer } from './util'

function memoryStore(): SecretStore {
  const m = new Map<string, string>()
  return {
    get: async (k) => m.get(k) ?? null,
    set: async (k, v) => {
      m.set(k, v)
    },
    delete: async (k) => m.delete(k)
  }
}

const ipOf = (i: number): string => `10.201.${Math.floor(i / 254)}.${(i % 254) + 1}`

export async function benchDns(srv: BenchServer): Promise<Record<string, unknown>> {
  const N = Number(process.env.NETKEEPER_BENCH_DNS_N ?? 200)
  const D = Number(process.env.NETKEEPER_BENCH_DNS_DRIFT_N ?? 50_000)
  const driftZone = 'drift.bench.test'
  const records = Array.from({ length: D }, (_, i) => `h${i} 300 IN A ${ipOf(i)}`)
  const named = await startNamed({ [driftZone]: records })
  const url = await srv.url('bench_dns')
  const keaUrl = await srv.url('bench_kea')
  const k = new URL(keaUrl)
  execFileSync('kea-admin', ['db-init', 'pgsql', '-h', k.hostname, '-P', k.port, '-u', k.username, '-p', 'unused', '-n', k.pathname.slice(1)], { stdio: 'pipe' })
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-bench-dns-'))
  process.env.NETKEEPER_POOL_MAX = '4'
  const core = await Core.open({ databaseUrl: url, dataDir, migrate: true, secrets: memoryStore() })
  const kea = new pg.Client({ connectionString: keaUrl })
  await kea.connect()
  try {
    const ctx = benchCtx()
    await core.dns.addServer(ctx, { name: 'ns', address: '127.0.0.1', port: named.info.port, keyName: named.info.keyName, secret: named.info.secret })
    for (const z of [named.info.zones.forward, named.info.zones.reverse24, driftZone]) await core.dns.addZone(ctx, { server: 'ns', name: z, ttl: 60 })
    await core.dhcp.addServer(ctx, { name: 'kea', host: k.hostname, port: Number(k.port), database: k.pathname.slice(1), user: k.username })
    await core.ipam.createPool(ctx, { name: 'lat', network: '192.0.2.0/24' })
    await core.dns.setPoolDns(ctx, { pool: 'lat', zone: named.info.zones.forward, ptr: true })
    await core.dhcp.setPoolDhcp(ctx, { pool: 'lat', server: 'kea', subnetId: 1 })
    const client = await core.dns.servers.client(await core.dns.servers.byName(core.db.knex, 'ns'))

    // 1. Allocation until the name answers and the reservation is readable.
    log(`dns: ${N} allocations with DNS and DHCP on`)
    const samples: number[] = []
    const commitMs: number[] = []
    const applyMs: number[] = []
    const count = Math.min(N, 250)
    for (let i = 0; i < count; i++) {
      const ip = `192.0.2.${i + 2}`
      const name = `lat${i}`
      const t0 = performance.now()
      await core.ipam.allocate(ctx, { pool: 'lat', ip, hostname: name, mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, dnsManaged: true, dhcpManaged: true })
      const t1 = performance.now()
      await core.outbox.drain(10_000)
      const t2 = performance.now()
      commitMs.push(t1 - t0)
      applyMs.push(t2 - t1)
      const a = await client.query(`${name}.${named.info.zones.forward}`, 'A')
      const h = await kea.query(`select 1 from hosts where ipv4_address = $1`, [(192 * 2 ** 24 + 2 * 256 + i + 2).toString()])
      samples.push(performance.now() - t0)
      if (a.answers.length !== 1 || h.rowCount !== 1) throw new Error(`allocation ${ip}: the record or the reservation is missing after the outbox ran`)
    }
    const dig = spawnSync('dig', ['+short', '@127.0.0.1', '-p', String(named.info.port), `lat0.${named.info.zones.forward}`], { encoding: 'utf8' }).stdout.trim()

    // 2. Drift of a zone of D records against D allocations (one in 100 made to differ, one in 100 missing).
    log(`dns: drift of ${D} records against ${D} allocations`)
    await core.ipam.createPool(ctx, { name: 'drift', network: '10.201.0.0/16' })
    await core.db.knex.raw(
      `insert into ip_allocations (pool_id, ip_address, hostname, status, dns_managed, allocated_by)
       select p.id, ('10.201.' || (g / 254) || '.' || (g % 254 + 1))::inet,
              case when g % 100 = 7 then 'other' || g else 'h' || g end, 'allocated', true, 'bench'
         from ip_pools p, generate_series(0, ? - 1) g where p.name = 'drift' and g % 100 <> 3`,
      [D]
    )
    // The zone is set after the load, so the load queues no updates (the records are in the zone file already).
    await core.dns.setPoolDns(ctx, { pool: 'drift', zone: driftZone, ptr: false })
    let peakRss = process.memoryUsage().rss
    const baseRss = peakRss
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
    }, 10)
    const t0 = performance.now()
    const report = await core.dns.drift.report(ctx, { zone: driftZone })
    const driftMs = performance.now() - t0
    clearInterval(sampler)
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
    const byKind: Record<string, number> = {}
    for (const it of report.items) byKind[it.kind] = (byKind[it.kind] ?? 0) + 1
    const p50 = percentile(samples, 50)
    return {
      allocation: {
        n: samples.length,
        p50Ms: p50,
        p90Ms: percentile(samples, 90),
        p99Ms: percentile(samples, 99),
        maxMs: percentile(samples, 100),
        // Where the time goes: the allocation's own commit, and the outbox pass applying its DNS and DHCP rows.
        commitP50Ms: percentile(commitMs, 50),
        applyP50Ms: percentile(applyMs, 50),
        digAnswer: dig,
        goal: 'allocation with DNS and DHCP on, until the name answers and the reservation is readable: p50 <= 20 ms',
        met: p50 <= 20
      },
      drift: {
        records: report.zones[0]?.records,
        allocations: D - Math.ceil(D / 100),
        items: report.items.length,
        byKind,
        ms: round(driftMs, 1),
        peakRssMiB: round(peakRss / 2 ** 20, 1),
        rssGrowthMiB: round((peakRss - baseRss) / 2 ** 20, 1),
        goal: `drift of a zone with ${D} records against its allocations: <= 5000 ms and <= 300 MB`,
        met: driftMs <= 5000 && peakRss <= 300 * 2 ** 20
      }
    }
  } finally {
    await kea.end()
    await core.close()
    await named.stop()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

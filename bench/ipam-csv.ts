/**
 * `npm run bench -- ipam-csv` (and the `csvImport` / `csvExport` entries of `ipam`): a CSV of allocations
 * imported into empty /16 pools end to end (read, analyse every row set-based, one transaction with an
 * audit row per allocation, commit), and every allocation of a large database exported through the
 * cursor. Each runs in a process of its own that reports its wall time and peak memory.
 * Sizes: NETKEEPER_BENCH_CSV_IMPORT (default 200,000) and NETKEEPER_BENCH_CSV_EXPORT (default 1,000,000).
 */
import { fork } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { benchCtx, log, openCore, type BenchServer } from './util'

function worker(url: string, mode: 'import' | 'export', file: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // NETKEEPER_BENCH_CPU_PROF=DIR writes a V8 CPU profile of the worker there (node --cpu-prof).
    const prof = process.env.NETKEEPER_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.NETKEEPER_BENCH_CPU_PROF}`] : []
    const child = fork(path.join(import.meta.dirname, 'ipam-csv-worker.ts'), [url, mode, file], { execArgv: ['--import', 'tsx', ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.once('message', (m) => resolve(m as Record<string, unknown>))
    child.once('error', reject)
    child.on('exit', (code) => code !== 0 && reject(new Error(`csv worker exited ${code}`)))
  })
}

export async function benchIpamCsv(srv: BenchServer): Promise<Record<string, unknown>> {
  const importRows = Number(process.env.NETKEEPER_BENCH_CSV_IMPORT ?? 200_000)
  const exportRows = Number(process.env.NETKEEPER_BENCH_CSV_EXPORT ?? 1_000_000)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-bench-csv-'))
  const out: Record<string, unknown> = {}
  try {
    // Import: pools of /16 (65,534 usable each), a file of `importRows` allocations with host names and owners.
    {
      const url = await srv.url('bench_csv_import')
      const core = await openCore(url)
      const pools = Math.ceil(importRows / 65_000)
      for (let i = 0; i < pools; i++) await core.ipam.createPool(benchCtx(), { name: `csv${i}`, network: `10.${100 + i}.0.0/16` })
      await core.close()
      const file = path.join(dir, 'allocations.csv')
      const lines = ['space,ip,pool,status,hostname,mac,owner,owner_dn,purpose,description,reserved_until,dns_managed,dhcp_managed']
      for (let i = 0; i < importRows; i++) {
        const p = Math.floor(i / 65_000)
        const n = (i % 65_000) + 1
        lines.push(`default,10.${100 + p}.${n >> 8}.${n & 255},csv${p},allocated,host-${i}.example.org,,team-${i % 50},,,,,false,false`)
      }
      fs.writeFileSync(file, lines.join('\r\n') + '\r\n')
      const load = os.loadavg()[0]
      const r = await worker(url, 'import', file)
      out.csvImport = { rows: importRows, fileMiB: Math.round(fs.statSync(file).size / 2 ** 20), ...r, loadAverage1m: load, goal: '200,000 allocations <= 15 s, <= 300 MB' }
      log(`csvImport ${JSON.stringify(out.csvImport)}`)
    }
    // Export: `exportRows` allocations seeded set-based, then exported through the cursor.
    {
      const url = await srv.url('bench_csv_export')
      const core = await openCore(url)
      const pools = Math.ceil(exportRows / 65_000)
      for (let i = 0; i < pools; i++) await core.ipam.createPool(benchCtx(), { name: `x${i}`, network: `10.${i}.0.0/16` })
      await core.db.knex.raw(
        `insert into ip_allocations (pool_id, ip_address, hostname, owner, description, status, allocated_by)
         select p.id, host(p.network)::inet + g, 'host-' || p.id || '-' || g, 'team', case when g % 100 = 0 then '=formula, with "quotes"' end, 'allocated', 'seed'
           from ip_pools p, generate_series(1, 65000) g
          where p.name like 'x%' and (p.id - (select min(id) from ip_pools where name like 'x%')) * 65000 + g <= ?`,
        [exportRows]
      )
      await core.db.knex.raw('analyze ip_allocations')
      await core.close()
      const load = os.loadavg()[0]
      const r = await worker(url, 'export', path.join(dir, 'export.csv'))
      out.csvExport = { ...r, loadAverage1m: load, goal: '1,000,000 allocations <= 10 s, <= 200 MB' }
      log(`csvExport ${JSON.stringify(out.csvExport)}`)
    }
    return out
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

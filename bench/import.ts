/**
 * `npm run bench -- import`: a LDAP Web Manager v2.0 file of 1,000 pools and 200,000 allocations, generated
 * with better-sqlite3 in a temporary folder, imported end to end (read, check, one transaction with pools,
 * allocations, legacy id map, free space and 201,001 audit rows, commit) in a separate process that reports
 * its wall time and peak memory; then the same file again (nothing to import) and a dry run. The text-search
 * index of the imported audit rows, built after the commit (docs/audit.md#text-search), is timed apart
 * (`afterCommit`): the import is complete, and found by searches, without it.
 */
import { fork } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { tempDir, writeCleanLegacyFile } from '../tests/support/legacy'
import { log, round, time, type BenchServer } from './util'

const POOLS = 1_000
const PER_POOL = 200

function runWorker(url: string, file: string, mode: 'run' | 'dry-run'): Promise<Record<string, unknown>> {
  const worker = path.join(import.meta.dirname, 'import-worker.ts')
  return new Promise((resolve, reject) => {
    const child = fork(worker, [url, file, mode], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.once('message', (m) => resolve(m as Record<string, unknown>))
    child.once('error', reject)
    child.on('exit', (code) => code !== 0 && reject(new Error(`import worker exited ${code}`)))
  })
}

export async function benchImport(srv: BenchServer): Promise<Record<string, unknown>> {
  const dir = tempDir('netkeeper-bench-import-')
  try {
    const file = path.join(dir, 'legacy-ipam-large.db')
    const [, genMs] = await time(async () => writeCleanLegacyFile(file, POOLS, PER_POOL))
    const fileMiB = round(fs.statSync(file).size / 2 ** 20, 1)
    log(`generated ${POOLS} pools and ${POOLS * PER_POOL} allocations (${fileMiB} MiB) in ${round(genMs / 1000, 1)} s`)
    const url = await srv.url('bench_import')
    // Other work on the machine shows in the figures: the load average is reported with them.
    const loadBefore = os.loadavg()[0]
    const first = await runWorker(url, file, 'run')
    const loadAfter = os.loadavg()[0]
    log(`import ${JSON.stringify(first)}`)
    const again = await runWorker(url, file, 'run')
    log(`again ${JSON.stringify(again)}`)
    const dry = await runWorker(await srv.url('bench_import_dry'), file, 'dry-run')
    log(`dry run ${JSON.stringify(dry)}`)
    return {
      file: { pools: POOLS, allocations: POOLS * PER_POOL, sizeMiB: fileMiB },
      import: {
        ...first,
        loadAverage1m: { before: round(loadBefore!, 2), after: round(loadAfter!, 2) },
        goal: '1,000 pools and 200,000 allocations <= 15 s end to end, peak memory <= 300 MB',
        met: (first.seconds as number) <= 15 && (first.maxRssMiB as number) <= 300
      },
      sameFileAgain: again,
      dryRunEmptyTarget: dry
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

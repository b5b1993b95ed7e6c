/**
 * One import in a process of its own, so its peak memory is the import's own: reads the legacy file,
 * plans, writes in one transaction and commits, as `netkeeper import sqlite` does.
 */
import type { ImportPhase } from '../src/shared/importer'
import { benchCtx, openCore } from './util'

const [url, file, mode] = process.argv.slice(2)
const core = await openCore(url!)
// The text-search index of the imported audit rows is built after the commit (src/main/core/audit/search-index.ts);
// here it is timed on its own, after the import's figures are taken.
core.auditSearch.background = false
const lsn = async (): Promise<string> => (await core.db.knex.raw<{ rows: { l: string }[] }>(`select pg_current_wal_lsn()::text as l`)).rows[0]!.l
const walBefore = await lsn()
const phases: Partial<Record<ImportPhase, number>> = {}
const started = performance.now()
const input = { file: file!, choices: { onConflict: 'skip' as const } }
const onProgress = (p: { phase: ImportPhase }): void => {
  if (phases[p.phase] === undefined) phases[p.phase] = performance.now() - started
}
const r = mode === 'dry-run' ? await core.importer.dryRun(benchCtx(), input, { onProgress }) : await core.importer.run(benchCtx(), input, { onProgress })
const seconds = (performance.now() - started) / 1000
// Write-ahead log the import produced: the server's I/O, which a shared disk makes the slowest part.
const wal = await core.db.knex.raw<{ rows: { m: string }[] }>(`select round(pg_wal_lsn_diff(pg_current_wal_lsn(), ?::pg_lsn) / 1048576.0)::text as m`, [walBefore])
const maxRssMiB = Math.round(process.resourceUsage().maxRSS / 1024)
const drained = mode === 'dry-run' ? null : await core.auditSearch.drain()
await core.close()
// Each phase's share of the wall time: from its first progress report to the next phase's.
const order = Object.entries(phases).sort((a, b) => a[1] - b[1])
const phaseSeconds = Object.fromEntries(
  order.map(([name, at], i) => [name, Math.round(((order[i + 1]?.[1] ?? seconds * 1000) - at) / 10) / 100])
)
process.send!({
  outcome: r.outcome,
  created: r.created,
  alreadyImported: { pools: r.counts.pools.alreadyImported, allocations: r.counts.allocations.alreadyImported },
  skipped: r.skipped.length,
  seconds: Math.round(seconds * 100) / 100,
  walMiB: Number(wal.rows[0]!.m),
  phaseSeconds,
  maxRssMiB,
  ...(drained ? { afterCommit: { auditSearchIndexed: drained.indexed, auditSearchIndexSeconds: Math.round(drained.ms / 10) / 100 } } : {})
})
process.exit(0)

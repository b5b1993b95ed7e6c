/**
 * A separate process for the archive benchmarks, so its peak memory is its own: `copy` writes an archive of
 * every row (`audit archive`), `purge` runs the purge that archives them first and removes them.
 */
import { benchCtx, openCore } from './util'

const [url, archiveDir, mode] = process.argv.slice(2)
const core = await openCore(url!)
const started = performance.now()
const r =
  mode === 'copy'
    ? { rows: 0, archive: await core.audit.archiveLiveRows(benchCtx(), { archiveDir }) }
    : await core.audit.purge(benchCtx(), { now: new Date(Date.now() + 2 * 86400_000), archiveDir })
const seconds = (performance.now() - started) / 1000
await core.close()
process.send!({
  rows: r.rows || r.archive?.rows,
  archiveBytes: r.archive?.bytes,
  seconds: Math.round(seconds * 100) / 100,
  maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024)
})
process.exit(0)

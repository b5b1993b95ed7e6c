/**
 * One CSV import or export in a process of its own, so its peak memory (maxRSS) is the operation's own:
 * `import FILE` as `netkeeper import csv FILE --kind allocations`, `export FILE` as `netkeeper ipam export`.
 */
import fs from 'node:fs'
import { benchCtx, openCore } from './util'

const [url, mode, file] = process.argv.slice(2)
const core = await openCore(url!)
core.auditSearch.background = false
const started = performance.now()
let extra: Record<string, unknown>
if (mode === 'import') {
  // Seconds spent in each phase (reading the file, checking the rows, writing rows and audit, committing),
  // taken from the progress reports: where the time goes.
  const phases: Record<string, number> = {}
  // The resident set at the end of each phase (MiB): where the peak builds up.
  const rssAtEnd: Record<string, number> = {}
  // The highest resident set seen in each phase (sampled every 25 ms; MiB): where the peak is.
  const rssPeak: Record<string, number> = {}
  let phase = ''
  const sampler = setInterval(() => {
    if (phase) rssPeak[phase] = Math.max(rssPeak[phase] ?? 0, Math.round(process.memoryUsage().rss / 2 ** 20))
  }, 25)
  let since = performance.now()
  const r = await core.ipamCsv.run(
    benchCtx(),
    { file: file!, kind: 'allocations' },
    {
      onProgress: (p) => {
        if (p.phase === phase) return
        const now = performance.now()
        if (phase) {
          phases[phase] = Math.round((now - since) / 10) / 100
          rssAtEnd[phase] = Math.round(process.memoryUsage().rss / 2 ** 20)
        }
        phase = p.phase
        since = now
      }
    }
  )
  clearInterval(sampler)
  extra = { outcome: r.outcome, counts: r.counts, phases, rssAtEnd, rssPeak }
} else {
  const out = fs.createWriteStream(file!)
  const r = await core.ipamCsv.export(benchCtx(), { kind: 'allocations' }, out)
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
  extra = { rows: r.rows, mib: Math.round(r.bytes / 2 ** 20) }
}
const seconds = (performance.now() - started) / 1000
const maxRssMiB = Math.round(process.resourceUsage().maxRSS / 1024)
await core.close()
process.send!({ seconds: Math.round(seconds * 100) / 100, maxRssMiB, ...extra })
process.exit(0)

/**
 * One CSV import or export in a process of its own, so its peak memory (maxRSS) is the operation's own:
 * `import FILE` as `netkeeper import csv FILE --kind allocations`, `export FILE` as `netkeeper ipam export`.
 */
import fs from 'node:fs'
import { benchCtx, openCore } from './util'

const [url, mode, file] = process.argv.slice(2)
const core = await openCore(url!)
core.auditSearch.background = false

/**
 * CPU seconds (user + system) of this database's server backends, read from /proc when the server runs on
 * this machine (null otherwise): most of an import's work is the server's, which the worker's own CPU time
 * does not show. Backends that started after `before` count from zero.
 */
async function backendCpu(): Promise<Map<number, number> | null> {
  const r = await core.db.knex.raw<{ rows: { pid: number }[] }>(`select pid from pg_stat_activity where datname = current_database()`)
  const out = new Map<number, number>()
  for (const { pid } of r.rows) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      out.set(pid, (Number(f[11]) + Number(f[12])) / 100)
    } catch {
      return null
    }
  }
  return out
}
const cpuBefore = await backendCpu()
const started = performance.now()
const nodeCpuStart = process.cpuUsage()
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
  // At each phase's peak: V8's heap (total and used), and memory outside it (external, of which array buffers), MiB.
  const atPeak: Record<string, Record<string, number>> = {}
  const sampler = setInterval(() => {
    if (!phase) return
    const m = process.memoryUsage()
    const rss = Math.round(m.rss / 2 ** 20)
    if (rss <= (rssPeak[phase] ?? 0)) return
    rssPeak[phase] = rss
    const mib = (x: number): number => Math.round(x / 2 ** 20)
    atPeak[phase] = { heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) }
  }, 25)
  // CPU seconds since the start at the end of each phase: the server's (the backends known at the start,
  // read from /proc) and Node's own.
  const serverCpuAtEnd: Record<string, number> = {}
  const nodeCpuAtEnd: Record<string, number> = {}
  const cpuNow = (): number | null => {
    if (!cpuBefore) return null
    let t = 0
    for (const pid of cpuBefore.keys()) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        t += (Number(f[11]) + Number(f[12])) / 100
      } catch {
        return null
      }
    }
    return t
  }
  const serverStart = cpuNow() ?? 0
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
          const server = cpuNow()
          if (server !== null) serverCpuAtEnd[phase] = Math.round((server - serverStart) * 100) / 100
          nodeCpuAtEnd[phase] = Math.round((process.cpuUsage(nodeCpuStart).user + process.cpuUsage(nodeCpuStart).system) / 1e4) / 100
          rssAtEnd[phase] = Math.round(process.memoryUsage().rss / 2 ** 20)
        }
        phase = p.phase
        since = now
      }
    }
  )
  clearInterval(sampler)
  extra = { outcome: r.outcome, counts: r.counts, phases, serverCpuAtEnd, nodeCpuAtEnd, rssAtEnd, rssPeak, atPeak }
} else {
  const out = fs.createWriteStream(file!)
  const r = await core.ipamCsv.export(benchCtx(), { kind: 'allocations' }, out)
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())))
  extra = { rows: r.rows, mib: Math.round(r.bytes / 2 ** 20) }
}
const seconds = (performance.now() - started) / 1000
const nodeCpu = process.cpuUsage(nodeCpuStart)
const cpuAfter = await backendCpu()
const serverCpuSeconds = cpuBefore && cpuAfter ? Math.round([...cpuAfter].reduce((t, [pid, c]) => t + c - (cpuBefore.get(pid) ?? 0), 0) * 100) / 100 : null
const maxRssMiB = Math.round(process.resourceUsage().maxRSS / 1024)
await core.close()
process.send!({ seconds: Math.round(seconds * 100) / 100, maxRssMiB, nodeCpuSeconds: Math.round((nodeCpu.user + nodeCpu.system) / 1e4) / 100, serverCpuSeconds, ...extra })
process.exit(0)

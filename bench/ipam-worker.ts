/** A separate OS process for the concurrency benchmark: N workers sharing one Core allocate next-free. */
import { benchCtx, openCore } from './util'

const [url, pool, workersText, perWorkerText, name] = process.argv.slice(2)
const workers = Number(workersText)
const perWorker = Number(perWorkerText)
const core = await openCore(url!, workers)
const ips: string[] = []
let failures = 0
// CPU this process spends on the allocations alone (not its start-up): the client side's share per allocation.
const cpu0 = process.cpuUsage()
await Promise.all(
  Array.from({ length: workers }, async (_, w) => {
    const ctx = benchCtx(`${name}-w${w}`)
    for (let i = 0; i < perWorker; i++) {
      try {
        const r = await core.ipam.allocate(ctx, { pool: pool!, next: true })
        ips.push(...r.map((a) => a.ip))
      } catch (e) {
        failures++
        process.stderr.write(`${name}: ${(e as Error).message}\n`)
      }
    }
  })
)
const cpu = process.cpuUsage(cpu0)
await core.close()
process.send!({ ips, failures, cpuMs: (cpu.user + cpu.system) / 1000 })
process.exit(0)

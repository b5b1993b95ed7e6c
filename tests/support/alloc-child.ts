/**
 * An allocating process for the group-commit test (tests/integration/ipam-group-commit.test.ts): one Core
 * with ALLOC_WORKERS connections, ALLOC_WORKERS workers each asking ALLOC_PER_WORKER next-free addresses
 * of ALLOC_POOL. Each address is printed ("ip A") the moment its caller is answered, so the test knows what
 * was answered before a crash; a failed call prints "fail MESSAGE". Prints "done" at the end.
 */
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'

const workers = Number(process.env.ALLOC_WORKERS ?? 8)
process.env.NETKEEPER_POOL_MAX = String(workers)
const core = await Core.open({ databaseUrl: process.env.ALLOC_URL!, dataDir: '/nonexistent-netkeeper-alloc-child', migrate: false })
const perWorker = Number(process.env.ALLOC_PER_WORKER ?? 50)
let failures = 0
await Promise.all(
  Array.from({ length: workers }, async (_, w) => {
    const ctx = makeContext({ actor: `${process.env.ALLOC_NAME}-w${w}`, roles: ['operator'], source: 'cli' })
    for (let i = 0; i < perWorker; i++) {
      try {
        const r = await core.ipam.allocate(ctx, { pool: process.env.ALLOC_POOL!, next: true, hostname: `${process.env.ALLOC_NAME}-w${w}-${i}` })
        process.stdout.write(r.map((a) => `ip ${a.ip}\n`).join(''))
      } catch (e) {
        failures++
        process.stdout.write(`fail ${(e as Error).message.replace(/\n/g, ' ')}\n`)
        // After a crash every next call fails too: stop this worker.
        if (failures > 3 * workers) return
      }
    }
  })
)
await core.close().catch(() => undefined)
process.stdout.write('done\n')

/** Never the same address twice: parallel allocators in one process and in separate CLI processes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { cli } from '../support/cli'
import { ctxAs, openCore } from '../support/core'

let core: Core
let url: string
const admin = ctxAs('admin')

beforeAll(async () => {
  ;({ core, url } = await openCore('conc'))
  await core.ipam.createPool(admin, { name: 'shared', network: '10.50.0.0/22', gateway: '10.50.0.1' })
  await core.ipam.createPool(admin, { name: 'cli', network: '10.60.0.0/23' })
  await core.ipam.createPool(admin, { name: 'other', network: '10.70.0.0/24' })
})
afterAll(async () => {
  await core?.close()
})

describe('concurrent next-free allocation', () => {
  it('gives 4 cores x 4 workers x 25 allocations 400 distinct addresses', async () => {
    const cores = await Promise.all([1, 2, 3, 4].map(() => Core.open({ databaseUrl: url, dataDir: '/nonexistent', migrate: false })))
    try {
      const got: string[] = []
      const worker = async (c: Core, w: number): Promise<void> => {
        for (let i = 0; i < 25; i++) {
          const ctx = ctxAs('operator', `worker-${w}`)
          // Mix single and batched requests, and an explicit write into another pool, to stir the locks.
          const r = await c.ipam.allocate(ctx, { pool: 'shared', next: true })
          got.push(...r.map((a) => a.ip))
        }
      }
      await Promise.all(cores.flatMap((c, ci) => [0, 1, 2, 3].map((w) => worker(c, ci * 4 + w))))
      expect(got).toHaveLength(400)
      expect(new Set(got).size).toBe(400)
      const db = await core.db.knex.raw<{ rows: { n: number; d: number }[] }>(
        `select count(*)::int as n, count(distinct ip_address)::int as d from ip_allocations a join ip_pools p on p.id = a.pool_id where p.name = 'shared'`
      )
      expect(db.rows[0]).toEqual({ n: 400, d: 400 })
      // Lowest first and gapless: exactly .2 up to the 400th usable address, the gateway skipped.
      const sorted = [...got].sort((a, b) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0) - b.split('.').reduce((x, o) => x * 256 + Number(o), 0))
      expect(sorted[0]).toBe('10.50.0.2')
      expect(sorted[399]).toBe('10.50.1.145')
      // One audit row per allocation, chain intact.
      const audit = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from audit_logs where resource_type = 'ip_allocation' and status = 'success'`)
      expect(audit.rows[0]!.n).toBe(400)
      const seqs = await core.db.knex.raw<{ rows: { gaps: number }[] }>(`select (max(seq) - min(seq) + 1 - count(*))::int as gaps from audit_logs`)
      expect(seqs.rows[0]!.gaps).toBe(0)
      expect(await core.audit.verify(ctxAs('admin'))).toMatchObject({ ok: true, problem: null })
    } finally {
      await Promise.all(cores.map((c) => c.close()))
    }
  })

  it('8 CLI processes asking for --next --count 50 at once get 400 distinct addresses', async () => {
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => cli(['ip', 'allocate', '--pool', 'cli', '--next', '--count', '50', '--owner', `proc-${i}`, '--json'], { NETKEEPER_DATABASE_URL: url }))
    )
    for (const r of runs) expect(r.code, r.stderr).toBe(0)
    const ips = runs.flatMap((r) => (r.json() as { ip: string }[]).map((a) => a.ip))
    expect(ips).toHaveLength(400)
    expect(new Set(ips).size).toBe(400)
  })
})

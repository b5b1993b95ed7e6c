/** Shared helpers for `npm run bench`: a durable PostgreSQL server, timing and percentiles. */
import { Core } from '../src/main/core'
import { makeContext, type RequestContext } from '../src/main/core/context'
import { startPostgres, type PgServer } from '../tests/support/postgres'

export interface BenchServer {
  server?: PgServer
  url: (db: string) => Promise<string>
  stop: () => Promise<void>
}

/** NETKEEPER_BENCH_DATABASE_URL points at an existing server; otherwise one is started (fsync on). */
export async function benchServer(): Promise<BenchServer> {
  const external = process.env.NETKEEPER_BENCH_DATABASE_URL
  if (external) process.env.NETKEEPER_TEST_DATABASE_URL = external
  const server = await startPostgres({ durable: true })
  return { server, url: (db) => server.createDatabase(db), stop: () => server.stop() }
}

export async function openCore(url: string, poolMax = 4): Promise<Core> {
  process.env.NETKEEPER_POOL_MAX = String(poolMax)
  return Core.open({ databaseUrl: url, dataDir: '/nonexistent-netkeeper-bench', migrate: true })
}

export const benchCtx = (actor = 'bench'): RequestContext => makeContext({ actor, roles: ['admin'], source: 'cli' })

export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b)
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))
  return round(s[i] ?? NaN)
}

export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d

export async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now()
  const r = await fn()
  return [r, performance.now() - t]
}

export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`)
}

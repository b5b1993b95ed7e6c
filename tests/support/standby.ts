/**
 * A primary and a streaming standby on loopback, for the failover tests and benchmark: the primary is the
 * suite's usual throwaway server (postgres.ts), the standby a `pg_basebackup -R` copy of it on a free port
 * of its own, started with pg_ctl. `promote()` runs `pg_ctl promote`; `stopPrimary()` stops the primary
 * (fast: it sends the standby every WAL record before it exits). `stop()` removes both.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { freePort, startPostgres, type PgServer } from './postgres'

export interface ReplicatedPair {
  primary: PgServer
  standbyPort: number
  /** postgres://postgres@127.0.0.1:PORT/NAME on the standby (read-only until promoted). */
  standbyUrl(database: string): string
  /** The multi-host URL of both, primary first (the connection an app would save). */
  bothUrl(database: string, query?: string): string
  stopPrimary(): void
  promote(): void
  /** Resolves once the standby has replayed everything the primary has written so far. */
  caughtUp(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0

function run(bin: string, args: string[]): string {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args]
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' })
}

async function one<T>(url: string, sql: string): Promise<T> {
  const { default: pg } = await import('pg')
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return (await c.query(sql)).rows[0] as T
  } finally {
    await c.end()
  }
}

/** Starts the primary, makes `databases` on it, then the standby from a base backup (databases made later replicate too). */
export async function startReplicatedPair(databases: string[] = []): Promise<ReplicatedPair> {
  if (process.env.NETKEEPER_TEST_DATABASE_URL) throw new Error('a replicated pair needs the suite to start its own PostgreSQL (unset NETKEEPER_TEST_DATABASE_URL)')
  const primary = await startPostgres()
  const binDir = primary.binDir!
  const root = path.dirname(primary.dataDir!)
  for (const d of databases) await primary.createDatabase(d)
  const dataDir = path.join(root, 'standby')
  const sockDir = path.join(root, 'standby-sock')
  fs.mkdirSync(sockDir)
  if (asRoot) execFileSync('chown', ['postgres:postgres', sockDir])
  // -R writes standby.signal and primary_conninfo; -X stream copies the WAL made during the backup.
  run(path.join(binDir, 'pg_basebackup'), ['-D', dataDir, '-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-R', '-X', 'stream', '--no-sync'])
  const port = await freePort()
  fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), `\nport = ${port}\nunix_socket_directories = '${sockDir}'\nhot_standby = on\n`)
  const pgCtl = path.join(binDir, 'pg_ctl')
  const log = path.join(root, 'standby.log')
  run(pgCtl, ['-D', dataDir, '-l', log, '-w', '-t', '60', 'start'])
  const url = (port: number, db: string): string => `postgres://postgres@127.0.0.1:${port}/${db}`
  let primaryUp = true
  return {
    primary,
    standbyPort: port,
    standbyUrl: (db) => url(port, db),
    bothUrl: (db, query) => `postgres://postgres@127.0.0.1:${primary.port},127.0.0.1:${port}/${db}${query ? `?${query}` : ''}`,
    stopPrimary() {
      primary.pause!()
      primaryUp = false
    },
    promote() {
      run(pgCtl, ['-D', dataDir, '-w', '-t', '60', 'promote'])
    },
    async caughtUp(timeoutMs = 15_000) {
      if (!primaryUp) return
      const want = (await one<{ lsn: string }>(url(primary.port, 'postgres'), 'select pg_current_wal_lsn()::text as lsn')).lsn
      const until = Date.now() + timeoutMs
      for (;;) {
        const r = await one<{ ok: boolean }>(url(port, 'postgres'), `select pg_last_wal_replay_lsn() >= '${want}'::pg_lsn as ok`)
        if (r.ok) return
        if (Date.now() > until) throw new Error(`the standby did not replay up to ${want} in ${timeoutMs} ms`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async stop() {
      try {
        run(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])
      } catch {
        /* already stopped */
      }
      await primary.stop()
    }
  }
}

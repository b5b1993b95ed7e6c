/**
 * Starts a throwaway PostgreSQL server for the test run: initdb into a temporary folder, a free loopback
 * port, trust auth on loopback only, the Unix socket inside the temporary folder. initdb and postgres
 * refuse to run as root, so as root they run as the `postgres` user through runuser.
 *
 * Set NETKEEPER_TEST_DATABASE_URL to use an existing server instead.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

export interface PgServer {
  /** The admin URL (database `postgres`). */
  url: string
  port: number
  dataDir?: string
  binDir?: string
  /** Create a fresh database and return its URL. */
  createDatabase(name: string): Promise<string>
  stop(): Promise<void>
  /** pg_ctl stop / start, for the offline tests. */
  pause?(): void
  /** Starts a paused or crashed server again; `env` is added to its environment (FAKETIME and LD_PRELOAD, say). */
  resume?(env?: NodeJS.ProcessEnv): void
  /** Stops the server as a crash would (immediate mode: no checkpoint, WAL not yet written is lost); resume() restarts it. */
  crash?(): void
  /** With `tls`: the CA that signed the server's certificate (CN=localhost, SAN localhost and 127.0.0.1). */
  caFile?: string
}

export function findPgBin(): string {
  const fromEnv = process.env.NETKEEPER_PG_BIN
  if (fromEnv) return fromEnv
  const root = '/usr/lib/postgresql'
  if (fs.existsSync(root)) {
    const versions = fs
      .readdirSync(root)
      .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a))
    if (versions[0]) return path.join(root, versions[0], 'bin')
  }
  throw new Error('PostgreSQL server binaries not found: install the postgresql package, or set NETKEEPER_PG_BIN or NETKEEPER_TEST_DATABASE_URL')
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0))
    })
  })
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0

function run(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args]
  return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd ?? '/', ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) })
}

async function query(url: string, sql: string): Promise<void> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

export interface StartOptions {
  /** Keep fsync and full-page writes on (benchmarks measure durable commits; tests do not need them). */
  durable?: boolean
  /** Serve TLS as well as plain connections, with a certificate from a throwaway CA (caFile). */
  tls?: boolean
}

/** A throwaway CA and a server certificate for localhost / 127.0.0.1 signed by it, made with openssl in `dir`. */
function makeServerCert(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const o = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  }
  o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3', '-subj', '/CN=Netkeeper Test PostgreSQL CA'])
  o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost/O=Netkeeper tests'])
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n')
  o(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '3', '-extfile', 'server.ext'])
  return { caFile: path.join(dir, 'ca.crt'), certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') }
}

export async function startPostgres(opts: StartOptions = {}): Promise<PgServer> {
  const external = process.env.NETKEEPER_TEST_DATABASE_URL
  if (external) {
    return {
      url: external,
      port: Number(new URL(external).port || 5432),
      async createDatabase(name) {
        await query(external, `drop database if exists "${name}" with (force)`)
        await query(external, `create database "${name}"`)
        const u = new URL(external)
        u.pathname = `/${name}`
        return u.toString()
      },
      async stop() {}
    }
  }
  const binDir = findPgBin()
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-pg-'))
  const dataDir = path.join(root, 'data')
  const sockDir = path.join(root, 'sock')
  fs.mkdirSync(sockDir)
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', root])
  fs.chmodSync(root, 0o755)
  run(path.join(binDir, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'])
  const port = await freePort()
  let tls: ReturnType<typeof makeServerCert> | undefined
  if (opts.tls) {
    const certDir = path.join(root, 'tls')
    fs.mkdirSync(certDir)
    tls = makeServerCert(certDir)
    // The server insists on a key only its own user can read.
    fs.chmodSync(tls.keyFile, 0o600)
    if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', certDir])
    fs.chmodSync(tls.caFile, 0o644)
  }
  const conf = [
    `listen_addresses = '127.0.0.1'`,
    `port = ${port}`,
    `unix_socket_directories = '${sockDir}'`,
    ...(opts.durable ? [] : [`fsync = off`, `full_page_writes = off`, `synchronous_commit = off`]),
    `max_connections = 200`,
    `shared_buffers = 256MB`,
    `log_min_messages = warning`,
    ...(tls ? [`ssl = on`, `ssl_cert_file = '${tls.certFile}'`, `ssl_key_file = '${tls.keyFile}'`] : [])
  ].join('\n')
  fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), `\n${conf}\n`)
  const pgCtl = path.join(binDir, 'pg_ctl')
  const logFile = path.join(root, 'server.log')
  const start = (env?: NodeJS.ProcessEnv): void => {
    run(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start'], { env })
  }
  const stopServer = (mode = 'fast'): void => {
    run(pgCtl, ['-D', dataDir, '-m', mode, '-w', 'stop'])
  }
  start()
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  return {
    url,
    port,
    dataDir,
    binDir,
    async createDatabase(name) {
      await query(url, `drop database if exists "${name}" with (force)`)
      await query(url, `create database "${name}"`)
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    ...(tls ? { caFile: tls.caFile } : {}),
    pause: () => stopServer('fast'),
    crash: () => stopServer('immediate'),
    resume: (env) => start(env),
    async stop() {
      try {
        stopServer('immediate')
      } catch {
        /* already stopped */
      }
      fs.rmSync(root, { recursive: true, force: true })
    }
  }
}

/**
 * Which database to use, in this order: an explicit URL (`--database-url`), `NETKEEPER_DATABASE_URL`, a
 * saved connection named by `--profile` or `NETKEEPER_PROFILE`, the active saved connection
 * (settings.json), or the embedded PostgreSQL (PGlite) in the data folder. A saved connection's password
 * comes from the OS keychain, and only for the endpoint and TLS mode it was saved with.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { ConnectionOptions } from 'node:tls'
import { AppError } from '../../../shared/errors'
import { EMBEDDED_CONNECTION, hostsOf, POOL_DEFAULTS, poolSettingsSchema, sslWarning, type DbProfile, type PoolSettings, type SslMode } from '../../../shared/schemas'
import type { DatabaseTarget } from '../../../shared/types'
import { conninfoToUrl, endpointsOf, splitHostPort, splitMultiHostUrl, type DbEndpoint } from '../../../shared/db-hosts'
import { savedDbPassword } from '../credentials/db-password'
import { keychain, type SecretStore } from '../credentials/keychain'
import { SettingsStore, type Settings } from '../settings/store'

export interface ServerSpec {
  kind: 'postgresql'
  origin: 'flag' | 'env' | 'profile'
  label: string
  /** The saved connection's name (origin profile). */
  connection?: string
  /** The TLS mode (a saved connection's, or a URL's sslmode with libpq's default) and its CA file. */
  sslMode?: SslMode
  caFile?: string
  /** Either a URL or discrete fields (profile). */
  url?: string
  /** The host field as saved: one host, or a comma-separated list (see `hosts`). */
  host?: string
  /** The hosts to try in order (profile): the first that answers is used, as libpq does with a host list. */
  hosts?: string[]
  /**
   * Several hosts with their ports (a profile's list, or a multi-host URL): Netkeeper connects to the one
   * that accepts writes and follows a promotion (failover.ts). Absent for one host.
   */
  endpoints?: DbEndpoint[]
  /** A read-only standby for heavy reads (the audit viewer, export, verify), when one is named. */
  standby?: DbEndpoint
  port?: number
  database?: string
  user?: string
  password?: string
  ssl?: false | ConnectionOptions
  /** sslmode=prefer: try TLS, fall back to plain if the server has no TLS. */
  sslFallback?: boolean
  pool: PoolSettings
}

export interface EmbeddedSpec {
  kind: 'embedded'
  origin: 'embedded'
  label: string
  /** The PGlite data folder. */
  pgDataDir: string
}

export type ConnectionSpec = ServerSpec | EmbeddedSpec

export function describeTarget(spec: ConnectionSpec): DatabaseTarget {
  if (spec.kind === 'embedded') return { kind: spec.kind, origin: spec.origin, label: spec.label, connection: EMBEDDED_CONNECTION }
  // Saved connections carry their weak TLS mode's warning wherever they are named.
  const warning = spec.origin === 'profile' && spec.sslMode ? sslWarning(spec.sslMode) : null
  return {
    kind: spec.kind,
    origin: spec.origin,
    label: spec.label,
    ...(spec.connection ? { connection: spec.connection } : {}),
    ...(spec.origin === 'profile' && spec.sslMode ? { sslMode: spec.sslMode } : {}),
    ...(warning ? { tlsWarning: warning } : {})
  }
}

/** A URL with its password removed, for display and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparseable database URL)'
  }
}

function checkUrl(url: string, field: string): void {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new AppError('VALIDATION', `${field}: not a URL; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, { field })
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new AppError('VALIDATION', `${field}: scheme must be postgres:// or postgresql://, got ${u.protocol}//`, { field })
  }
  if (!u.pathname || u.pathname === '/') {
    throw new AppError('VALIDATION', `${field}: the database name is missing (postgres://USER@HOST/DATABASE)`, { field })
  }
}

export function sslOptions(profile: Pick<DbProfile, 'sslMode' | 'caFile'>): { ssl: false | ConnectionOptions; fallback: boolean } {
  const ca = (): string | undefined => {
    if (!profile.caFile) return undefined
    try {
      return fs.readFileSync(profile.caFile, 'utf8')
    } catch (e) {
      throw new AppError('VALIDATION', `caFile: cannot read ${profile.caFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
        field: 'caFile'
      })
    }
  }
  switch (profile.sslMode) {
    case 'disable':
      return { ssl: false, fallback: false }
    case 'prefer':
      return { ssl: { rejectUnauthorized: false }, fallback: true }
    case 'require':
      return { ssl: { rejectUnauthorized: false }, fallback: false }
    case 'verify-ca': {
      const caText = ca()
      if (!caText) throw new AppError('VALIDATION', 'caFile: required when sslMode is verify-ca', { field: 'caFile' })
      // Verify the chain but not the host name, as libpq's verify-ca does.
      return { ssl: { ca: caText, rejectUnauthorized: true, checkServerIdentity: () => undefined }, fallback: false }
    }
    case 'verify-full':
      // The host name is checked against the host being connected to (node-postgres passes it on to
      // tls.connect, as SNI too when it is a name), so each host of a list is checked as itself.
      return { ssl: { ca: ca(), rejectUnauthorized: true }, fallback: false }
  }
}

/**
 * The label of a saved connection. It is also the key of that connection's offline queue entries and
 * last-known snapshot (offline/queue.ts), so its form stays as it was when connections were "profiles".
 */
export const profileLabel = (profile: Pick<DbProfile, 'user' | 'host' | 'port' | 'database' | 'name'>): string =>
  `postgres://${profile.user}@${profile.host}:${profile.port}/${profile.database} (profile ${profile.name})`

/**
 * The connection a saved (or proposed) profile describes. `labelOnly`: where it points, for labels and
 * the offline queue's key, without reading the CA file (a spec made so is never used to connect).
 */
export function profileSpec(profile: DbProfile, password: string | undefined, opts: { labelOnly?: boolean } = {}): ServerSpec {
  const { ssl, fallback } = opts.labelOnly ? { ssl: false as const, fallback: false } : sslOptions(profile)
  return {
    kind: 'postgresql',
    origin: 'profile',
    label: profileLabel(profile),
    connection: profile.name,
    sslMode: profile.sslMode,
    ...(profile.caFile ? { caFile: profile.caFile } : {}),
    host: profile.host,
    hosts: hostsOf(profile.host),
    ...(hostsOf(profile.host).length > 1 ? { endpoints: endpointsOf(profile.host, profile.port) } : {}),
    ...(profile.standby ? { standby: splitHostPort(profile.standby, profile.port) } : {}),
    port: profile.port,
    database: profile.database,
    user: profile.user,
    password,
    ssl,
    sslFallback: fallback,
    pool: profile.pool
  }
}

/**
 * TLS for a URL, from its sslmode and sslrootcert parameters, with libpq's meaning (the driver on its own
 * would ignore them once MikroORM splits the URL). No sslmode means prefer, as in libpq.
 */
export function urlSsl(url: string, field: string): { ssl: false | ConnectionOptions; sslFallback: boolean; sslMode: SslMode; caFile?: string } {
  const q = new URL(url).searchParams
  const mode = q.get('sslmode') ?? 'prefer'
  const known = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify']
  if (!known.includes(mode)) {
    throw new AppError('VALIDATION', `${field}: sslmode "${mode}" is not one of ${known.join(', ')}`, { field })
  }
  const sslMode = (mode === 'allow' ? 'prefer' : mode === 'no-verify' ? 'require' : mode) as DbProfile['sslMode']
  const caFile = q.get('sslrootcert') ?? undefined
  const { ssl, fallback } = sslOptions({ sslMode, caFile })
  return { ssl, sslFallback: fallback, sslMode, ...(caFile ? { caFile } : {}) }
}

export interface ResolveOptions {
  databaseUrl?: string
  /** `--profile NAME`: a saved connection, or `embedded` (outranks NETKEEPER_PROFILE and the active connection). */
  profile?: string
  dataDir: string
  secrets?: SecretStore
  env?: NodeJS.ProcessEnv
  /** Where it points only, without looking up a password (labels, the offline queue's key). */
  labelOnly?: boolean
}

/** The embedded store in the data folder. */
export function embeddedSpec(dataDir: string): EmbeddedSpec {
  const pgDataDir = path.join(dataDir, 'pgdata')
  return { kind: 'embedded', origin: 'embedded', label: `embedded PostgreSQL (PGlite) in ${pgDataDir}`, pgDataDir }
}

/**
 * Which saved connection a name given by --profile or NETKEEPER_PROFILE means: `embedded`, or a saved
 * connection (names compare without regard to case); anything else is refused naming the source.
 */
export function namedConnection(settings: Settings, name: string, field: string): DbProfile | 'embedded' {
  if (name.trim().toLowerCase() === EMBEDDED_CONNECTION) return 'embedded'
  const p = SettingsStore.find(settings, name.trim())
  if (p) return p
  const known = [...settings.connections.map((c) => c.name), EMBEDDED_CONNECTION].join(', ')
  throw new AppError('VALIDATION', `${field}: no saved connection is named "${name}" (saved: ${known}); see \`netkeeper db profile list\``, { field })
}

/** The spec of a saved connection, with its password from NETKEEPER_DB_PASSWORD or the keychain (bound). */
export async function savedConnectionSpec(profile: DbProfile, opts: Pick<ResolveOptions, 'secrets' | 'env' | 'labelOnly'> = {}): Promise<ServerSpec> {
  const env = opts.env ?? process.env
  // Automation may hand the password over in the environment; otherwise it comes from the keychain, and
  // only when it was saved for this very endpoint and TLS mode (settings.json edited by hand to point
  // elsewhere, or to weaken TLS, gets none).
  let password = opts.labelOnly ? undefined : env.NETKEEPER_DB_PASSWORD
  if (password === undefined && !opts.labelOnly) {
    try {
      password = await savedDbPassword(opts.secrets ?? keychain, profile, profile)
    } catch (e) {
      if (!(e instanceof AppError) || e.details?.field !== 'password') throw e
      console.warn(`[db] ${e.message}`)
    }
  }
  return profileSpec(profile, password, { labelOnly: opts.labelOnly })
}

export async function resolveConnection(opts: ResolveOptions): Promise<ConnectionSpec> {
  const env = opts.env ?? process.env
  const pool = poolFromEnv(env)
  if (opts.databaseUrl) return urlSpec(opts.databaseUrl, 'flag', '--database-url', pool)
  if (env.NETKEEPER_DATABASE_URL) return urlSpec(env.NETKEEPER_DATABASE_URL, 'env', 'NETKEEPER_DATABASE_URL', pool)
  const settings = new SettingsStore(opts.dataDir).read()
  const named = opts.profile ? { name: opts.profile, field: '--profile' } : env.NETKEEPER_PROFILE ? { name: env.NETKEEPER_PROFILE, field: 'NETKEEPER_PROFILE' } : undefined
  const chosen = named ? namedConnection(settings, named.name, named.field) : (SettingsStore.active(settings) ?? 'embedded')
  if (chosen === 'embedded') return embeddedSpec(opts.dataDir)
  return savedConnectionSpec(chosen, opts)
}

/**
 * A server connection from a URL (or libpq's key=value form): several hosts (`postgres://u@a:1,b:2/db`,
 * `?host=a,b&port=1,2`, `host=a,b port=1,2 ...`) become the endpoint list, tried for the primary; the
 * `standby=HOST[:PORT]` parameter names a read-only standby for heavy reads.
 */
export function urlSpec(text: string, origin: 'flag' | 'env', field: string, pool: PoolSettings): ServerSpec {
  const asUrl = conninfoToUrl(text) ?? text
  const split = splitMultiHostUrl(asUrl)
  // Only a list (or libpq's host= parameter) is rewritten; a one-host URL is used exactly as given.
  const multi = split && (split.endpoints.length > 1 || /[?&]host=/.test(asUrl)) ? split : null
  const url = multi?.url ?? asUrl
  checkUrl(url, field)
  const standby = new URL(url).searchParams.get('standby')
  const label = multi && multi.endpoints.length > 1 ? asUrl.replace(/(\/\/[^:/@\s]+:)[^@\s]*@/, '$1***@') : redactUrl(url)
  return {
    kind: 'postgresql',
    origin,
    url,
    label,
    pool,
    ...(multi && multi.endpoints.length > 1 ? { endpoints: multi.endpoints } : {}),
    ...(standby ? { standby: splitHostPort(standby, Number(new URL(url).port) || 5432) } : {}),
    ...urlSsl(url, field)
  }
}

/** What decides the connection instead of the active one, when something does (for the Connections list). */
export function connectionOverride(opts: Pick<ResolveOptions, 'databaseUrl' | 'profile' | 'env'>): string | undefined {
  const env = opts.env ?? process.env
  if (opts.databaseUrl) return '--database-url'
  if (env.NETKEEPER_DATABASE_URL) return 'NETKEEPER_DATABASE_URL'
  if (opts.profile) return `--profile ${opts.profile}`
  if (env.NETKEEPER_PROFILE) return `NETKEEPER_PROFILE=${env.NETKEEPER_PROFILE}`
  return undefined
}

/** NETKEEPER_POOL_MAX and friends override the pool defaults for URL connections. */
function poolFromEnv(env: NodeJS.ProcessEnv): PoolSettings {
  const num = (name: string): number | undefined => {
    const v = env[name]
    if (v === undefined || v === '') return undefined
    const n = Number(v)
    if (!Number.isInteger(n)) throw new AppError('VALIDATION', `${name}: must be an integer, got "${v}"`, { field: name })
    return n
  }
  const given = {
    max: num('NETKEEPER_POOL_MAX'),
    acquireTimeoutMs: num('NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS'),
    idleTimeoutMs: num('NETKEEPER_POOL_IDLE_TIMEOUT_MS'),
    maxLifetimeMs: num('NETKEEPER_POOL_MAX_LIFETIME_MS')
  }
  // None set (the usual case): the defaults, without building the schema (docs/cli.md#start-up).
  if (Object.values(given).every((v) => v === undefined)) return { ...POOL_DEFAULTS }
  const parsed = poolSettingsSchema.safeParse(given)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = 'NETKEEPER_POOL_' + String(issue?.path[0] ?? '').replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
    throw new AppError('VALIDATION', `${field}: ${issue?.message}`, { field })
  }
  return parsed.data
}

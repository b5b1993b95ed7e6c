/**
 * Which database to use, in this order: an explicit URL (`--database-url`), `NETKEEPER_DATABASE_URL`, the
 * saved connection profile (password from the OS keychain, used only for the endpoint it was saved with),
 * or the embedded PostgreSQL (PGlite) in the data folder.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { ConnectionOptions } from 'node:tls'
import { AppError } from '../../../shared/errors'
import { poolSettingsSchema, type DbProfile, type PoolSettings } from '../../../shared/schemas'
import type { DatabaseTarget } from '../../../shared/types'
import { savedDbPassword } from '../credentials/db-password'
import { keychain, type SecretStore } from '../credentials/keychain'
import { SettingsStore } from '../settings/store'

export interface ServerSpec {
  kind: 'postgresql'
  origin: 'flag' | 'env' | 'profile'
  label: string
  /** Either a URL or discrete fields (profile). */
  url?: string
  host?: string
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
  return { kind: spec.kind, origin: spec.origin, label: spec.label }
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

export function sslOptions(profile: Pick<DbProfile, 'sslMode' | 'caFile' | 'host'>): { ssl: false | ConnectionOptions; fallback: boolean } {
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
      return { ssl: { ca: ca(), rejectUnauthorized: true, servername: profile.host }, fallback: false }
  }
}

/** The connection a saved (or proposed) profile describes. */
export function profileSpec(profile: DbProfile, password: string | undefined): ServerSpec {
  const { ssl, fallback } = sslOptions(profile)
  return {
    kind: 'postgresql',
    origin: 'profile',
    label: `postgres://${profile.user}@${profile.host}:${profile.port}/${profile.database} (profile ${profile.name})`,
    host: profile.host,
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
export function urlSsl(url: string, field: string): { ssl: false | ConnectionOptions; sslFallback: boolean } {
  const q = new URL(url).searchParams
  const mode = q.get('sslmode') ?? 'prefer'
  const known = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify']
  if (!known.includes(mode)) {
    throw new AppError('VALIDATION', `${field}: sslmode "${mode}" is not one of ${known.join(', ')}`, { field })
  }
  const sslMode = (mode === 'allow' ? 'prefer' : mode === 'no-verify' ? 'require' : mode) as DbProfile['sslMode']
  const { ssl, fallback } = sslOptions({ sslMode, caFile: q.get('sslrootcert') ?? undefined, host: new URL(url).hostname })
  return { ssl, sslFallback: fallback }
}

export interface ResolveOptions {
  databaseUrl?: string
  dataDir: string
  secrets?: SecretStore
  env?: NodeJS.ProcessEnv
}

export async function resolveConnection(opts: ResolveOptions): Promise<ConnectionSpec> {
  const env = opts.env ?? process.env
  const pool = poolFromEnv(env)
  if (opts.databaseUrl) {
    checkUrl(opts.databaseUrl, '--database-url')
    return { kind: 'postgresql', origin: 'flag', url: opts.databaseUrl, label: redactUrl(opts.databaseUrl), pool, ...urlSsl(opts.databaseUrl, '--database-url') }
  }
  if (env.NETKEEPER_DATABASE_URL) {
    checkUrl(env.NETKEEPER_DATABASE_URL, 'NETKEEPER_DATABASE_URL')
    return {
      kind: 'postgresql',
      origin: 'env',
      url: env.NETKEEPER_DATABASE_URL,
      label: redactUrl(env.NETKEEPER_DATABASE_URL),
      pool,
      ...urlSsl(env.NETKEEPER_DATABASE_URL, 'NETKEEPER_DATABASE_URL')
    }
  }
  const profile = new SettingsStore(opts.dataDir).read().database
  if (profile) {
    // Automation may hand the password over in the environment; otherwise it comes from the keychain, and
    // only when it was saved for this very endpoint (settings.json edited by hand to point elsewhere gets none).
    let password = env.NETKEEPER_DB_PASSWORD
    if (password === undefined) {
      try {
        password = await savedDbPassword(opts.secrets ?? keychain, profile, profile)
      } catch (e) {
        if (!(e instanceof AppError) || e.details?.field !== 'password') throw e
        console.warn(`[db] ${e.message}`)
      }
    }
    return profileSpec(profile, password)
  }
  const pgDataDir = path.join(opts.dataDir, 'pgdata')
  return { kind: 'embedded', origin: 'embedded', label: `embedded PostgreSQL (PGlite) in ${pgDataDir}`, pgDataDir }
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
  const parsed = poolSettingsSchema.safeParse({
    max: num('NETKEEPER_POOL_MAX'),
    acquireTimeoutMs: num('NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS'),
    idleTimeoutMs: num('NETKEEPER_POOL_IDLE_TIMEOUT_MS'),
    maxLifetimeMs: num('NETKEEPER_POOL_MAX_LIFETIME_MS')
  })
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = 'NETKEEPER_POOL_' + String(issue?.path[0] ?? '').replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
    throw new AppError('VALIDATION', `${field}: ${issue?.message}`, { field })
  }
  return parsed.data
}

/** Validation schemas shared by the core, the CLI and the renderer's forms. No node, electron or vue. */
import { z } from 'zod'
import { lazySchema } from './lazy-schema'
import { EMBEDDED_CONNECTION, SSL_MODES } from './choices'
import { splitHostPort } from './db-hosts'

export { SSL_MODES }
export type SslMode = (typeof SSL_MODES)[number]

/**
 * Pool settings for a desktop client: one person, a handful of concurrent requests. Small pool, connections
 * that go away when idle (a laptop should not pin server slots), a bounded lifetime so failovers and
 * credential rotations are picked up, and an acquire timeout short enough to report "unreachable" quickly.
 */
export const POOL_DEFAULTS = { max: 4, acquireTimeoutMs: 10_000, idleTimeoutMs: 30_000, maxLifetimeMs: 1_800_000 } as const
export const poolSettingsSchema = lazySchema(() =>
  z
    .object({
      max: z.number().int().min(1).max(50).default(POOL_DEFAULTS.max),
      acquireTimeoutMs: z.number().int().min(100).max(300_000).default(POOL_DEFAULTS.acquireTimeoutMs),
      idleTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(POOL_DEFAULTS.idleTimeoutMs),
      maxLifetimeMs: z.number().int().min(1_000).max(86_400_000).default(POOL_DEFAULTS.maxLifetimeMs)
    })
    .strict()
)
export type PoolSettings = z.output<typeof poolSettingsSchema>

/** The name under which the embedded store is listed among the connections; no server connection may take it. */
export { EMBEDDED_CONNECTION }

/** One host entry: a name or address, with an optional `:port` (`[v6]:port` for an IPv6 address). */
function hostEntryProblem(h: string): string | null {
  if (!h) return 'has an empty entry in its comma-separated list'
  if (h.length > 255) return `"${h.slice(0, 32)}…" is longer than 255 characters`
  if (/[\s/@?#]/.test(h)) return `"${h}" is not a host name or address`
  const e = splitHostPort(h, 5432)
  if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) return `"${h}": the port must be 1-65535`
  if (/[[\]]/.test(e.host)) return `"${h}" is not a host name or address`
  return null
}

/**
 * One host, or several separated by commas (`db1.example.com,db2.example.com:5433`), each with an optional
 * port (the connection's port otherwise). With several, Netkeeper connects to the one that accepts writes
 * (libpq's target_session_attrs=read-write) and follows a promotion (docs/postgresql-setup.md#failover).
 * Stored without spaces around the commas.
 */
export const hostListSchema = lazySchema(() =>
  z
    .string()
    .trim()
    .min(1, 'is required')
    .max(1024, 'must be at most 1024 characters')
    .transform((v) => v.split(',').map((h) => h.trim()))
    .superRefine((hosts, ctx) => {
      for (const h of hosts) {
        const problem = hostEntryProblem(h)
        if (problem) ctx.addIssue({ code: 'custom', message: problem })
      }
      if (new Set(hosts.map((h) => h.toLowerCase())).size !== hosts.length) ctx.addIssue({ code: 'custom', message: 'names the same host twice' })
    })
    .transform((hosts) => hosts.join(','))
)

/** The hosts of a (validated) host field, in the order they are tried. */
export const hostsOf = (host: string): string[] => host.split(',').map((h) => h.trim()).filter(Boolean)

export const connectionNameSchema = lazySchema(() =>
  z
    .string()
    .trim()
    .min(1, 'is required')
    .max(64, 'must be at most 64 characters')
    .refine((n) => n.toLowerCase() !== EMBEDDED_CONNECTION, { message: `"${EMBEDDED_CONNECTION}" is the name of the embedded store; choose another` })
)

/**
 * A saved connection to a PostgreSQL server. A new one verifies the server's certificate and host name
 * (verify-full) unless a weaker mode is chosen explicitly; the weaker modes carry a warning (sslWarning).
 */
export const dbProfileSchema = lazySchema(() =>
  z
    .object({
      name: connectionNameSchema.default('default'),
      host: hostListSchema,
      port: z.number().int().min(1, 'must be 1-65535').max(65535, 'must be 1-65535').default(5432),
      database: z.string().trim().min(1, 'is required').max(63),
      user: z.string().trim().min(1, 'is required').max(63),
      sslMode: z.enum(SSL_MODES).default('verify-full'),
      caFile: z.string().trim().min(1).optional(),
      /**
       * A read-only standby (`host[:port]`) for heavy reads: the audit viewer, export and verify read there,
       * with the replication lag shown; an edit never goes to it.
       */
      standby: z
        .string()
        .trim()
        .max(300, 'must be at most 300 characters')
        .superRefine((v, ctx) => {
          const problem = !v ? null : v.includes(',') ? 'names one host, not a list' : hostEntryProblem(v)
          if (problem) ctx.addIssue({ code: 'custom', message: problem })
        })
        .transform((v) => v || undefined)
        .optional(),
      pool: poolSettingsSchema.default(poolSettingsSchema.parse({}))
    })
    .strict()
)
export type DbProfile = z.output<typeof dbProfileSchema>

/**
 * The single `database` profile of a settings.json written before connections: its sslMode default was
 * `prefer`, and a file that left it out keeps meaning that (with the warning it now carries).
 */
export const legacyDbProfileSchema = lazySchema(() =>
  dbProfileSchema.extend({ sslMode: z.enum(SSL_MODES).default('prefer') })
)

/** How strong each TLS mode is: a saved password is not sent with a weaker mode than it was saved with. */
export const SSL_STRENGTH: Record<SslMode, number> = { disable: 0, prefer: 1, require: 2, 'verify-ca': 3, 'verify-full': 4 }

/** The modes that do not verify who the server is (or do not encrypt at all). */
export const WEAK_SSL_MODES: readonly SslMode[] = ['disable', 'prefer', 'require']

/** The warning a connection with a weak TLS mode carries wherever it is named; null for verify-ca and verify-full. */
export function sslWarning(mode: SslMode): string | null {
  switch (mode) {
    case 'disable':
      return 'TLS is off (sslMode disable): the password and all data cross the network in clear text'
    case 'prefer':
      return 'TLS is optional and unverified (sslMode prefer): the connection falls back to clear text, and an impostor server is not detected'
    case 'require':
      return 'TLS is not verified (sslMode require): the connection is encrypted, but an impostor server is not detected'
    default:
      return null
  }
}

/** Turn the first zod issue into "field: reason", the form every refusal takes. */
export function describeIssue(err: z.ZodError): { field: string; reason: string } {
  const issue = err.issues[0]
  const field = issue?.path.length ? issue.path.join('.') : '(input)'
  return { field, reason: issue?.message ?? 'is invalid' }
}

/**
 * Turns driver errors into typed AppErrors a person can act on. Never lets a password or a connection
 * string with a secret through, nor a SQL statement: knex puts the statement in front of the server's
 * message; keepStatement() (wired to every query error in database.ts) moves it to a property of its own,
 * which statementOf() reads for the log.
 */
import { AppError } from '../../../shared/errors'
import type { ConnectionSpec } from './target'

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EAI_AGAIN'])

interface PgLikeError {
  code?: string
  message?: string
  constraint?: string
  detail?: string
  column?: string
  errno?: number
}

/** True when the error means the server could not be reached (as opposed to refusing the request). */
export function isUnreachable(e: unknown): boolean {
  if (e instanceof AppError) return e.code === 'UNAVAILABLE' && e.details?.reason === 'unreachable'
  const err = e as PgLikeError & { cause?: PgLikeError }
  const code = err?.code ?? err?.cause?.code
  if (code && UNREACHABLE.has(code)) return true
  // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 08xxx connection exceptions
  if (code && (/^08/.test(code) || code === '57P01' || code === '57P02' || code === '57P03')) return true
  const msg = err?.message ?? ''
  return /Connection terminated|Knex: Timeout acquiring a connection|timeout expired|connect ECONNREFUSED|Client has encountered a connection error/i.test(
    msg
  )
}

/**
 * True when the failure happened before the request reached the server (no connection could be made or
 * handed out), so nothing of it can have been applied: safe to queue and replay later. A connection that
 * dropped in the middle of a command is unreachable too, but not this: its commit may have landed.
 */
export function isConnectFailure(e: unknown): boolean {
  if (e instanceof AppError) return e.code === 'UNAVAILABLE' && e.details?.reason === 'unreachable' && e.details?.phase === 'connect'
  const err = e as PgLikeError & { cause?: PgLikeError }
  const code = err?.code ?? err?.cause?.code
  if (code && ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', '57P03'].includes(code)) return true
  return /Knex: Timeout acquiring a connection|connect ECONNREFUSED|timeout expired|Connection terminated due to connection timeout/i.test(err?.message ?? '')
}

/**
 * Called on knex's 'query-error' event: the message becomes the server's own again, and the statement is
 * kept beside it (not enumerable, so it never reaches JSON, an IPC reply or the audit log).
 */
export function keepStatement(err: unknown, sql: string): void {
  if (!(err instanceof Error)) return
  const prefix = `${sql} - `
  if (err.message.startsWith(prefix)) err.message = err.message.slice(prefix.length)
  Object.defineProperty(err, 'statement', { value: sql, enumerable: false, configurable: true, writable: true })
}

/** The SQL statement behind an error (or behind the error it was made from), for the log only. */
export function statementOf(e: unknown): string | undefined {
  for (let x = e as { statement?: unknown; cause?: unknown } | undefined, depth = 0; x && depth < 5; x = x.cause as typeof x, depth++) {
    if (typeof x.statement === 'string') return x.statement
  }
  return undefined
}

export function scrub(message: string): string {
  return message.replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/gi, '$1***@')
}

export function toAppError(e: unknown, spec?: ConnectionSpec): AppError {
  if (e instanceof AppError) return e
  const err = e as PgLikeError
  const where = spec ? ` (${spec.label})` : ''
  const msg = scrub(err?.message ?? String(e))
  if (isUnreachable(e)) {
    // reason 'unreachable' lets callers (the CLI's offline queue) tell "cannot reach" from "refused".
    return new AppError('UNAVAILABLE', `database unreachable${where}: ${msg}`, { reason: 'unreachable', ...(isConnectFailure(e) ? { phase: 'connect' } : {}) })
  }
  if (/client password must be a string/i.test(msg)) {
    return new AppError(
      'UNAVAILABLE',
      `the server asks for a password and none is known${where}: store it with \`netkeeper db profile set --password-stdin\` (OS keychain), ` +
        'or pass it in NETKEEPER_DB_PASSWORD or the URL'
    )
  }
  const tlsCode = (err as { code?: string })?.code ?? ''
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(tlsCode)) {
    return new AppError('UNAVAILABLE', `TLS verification of the server failed${where} (${tlsCode}): ${msg}. Check caFile / sslrootcert and the host name.`)
  }
  if (/The server does not support SSL connections/i.test(msg)) {
    return new AppError(
      'UNAVAILABLE',
      `the server does not offer TLS${where}, and this connection's sslMode requires it: turn ssl on in the server's postgresql.conf, ` +
        'or choose sslMode prefer or disable explicitly (then the password and the data cross the network unencrypted)',
      { reason: 'no-tls' }
    )
  }
  if (/no pg_hba\.conf entry/i.test(msg)) {
    return new AppError('UNAVAILABLE', `the server's pg_hba.conf refuses this connection${where}: ${msg}. It may require TLS (sslMode) or not know this host or user.`)
  }
  switch (err?.code) {
    case '28P01':
    case '28000':
      return new AppError(
        'UNAVAILABLE',
        `database refused the login${where}: ${msg}. Check the user and the password (for a saved profile, the one in the OS keychain).`
      )
    case '3D000':
      return new AppError('UNAVAILABLE', `database does not exist${where}: ${msg}`)
    case '23505':
      return new AppError('CONFLICT', `${constraintField(err.constraint)}: already exists (${err.detail ?? msg})`, {
        field: constraintField(err.constraint),
        constraint: err.constraint
      })
    case '23P01':
      return new AppError('CONFLICT', `${constraintField(err.constraint)}: overlaps an existing entry (${err.detail ?? msg})`, {
        field: constraintField(err.constraint),
        constraint: err.constraint
      })
    case '23514':
      return new AppError('VALIDATION', `${constraintField(err.constraint)}: ${msg}`, { field: constraintField(err.constraint), constraint: err.constraint })
    case '23503':
      return new AppError('NOT_FOUND', `a referenced row does not exist: ${err.detail ?? msg}`, { constraint: err.constraint })
    case '22P02':
    case '22023':
    case '22001':
      return new AppError('VALIDATION', msg)
    case '40001':
    case '40P01':
      return new AppError('CONFLICT', `concurrent change, try again: ${msg}`)
    case '25006':
      // A standby (or a server switched to read-only) refused a write: the trust boundary is the server.
      return new AppError(
        'UNAVAILABLE',
        `the database server is read-only${where}: it is a standby (in recovery), so edits are refused there (${msg}). ` +
          'Edits need the primary: list every host of the cluster in the connection (host1,host2) and Netkeeper uses the one that accepts writes; a standby named for reads (standby) serves only the audit viewer, export, verify and reports',
        { reason: 'read-only', sqlstate: '25006' }
      )
    case '42501':
      // The server decides what a login may do (docs/postgresql-setup.md#roles).
      return new AppError('FORBIDDEN', `the database server refused this for the login's role: ${msg}`, { sqlstate: '42501' })
  }
  // Unexpected: say what failed in words (the server's message and its SQLSTATE); the statement and the
  // original error stay on `cause`, for the log.
  const sqlstate = typeof err?.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : undefined
  const internal = new AppError('INTERNAL', sqlstate || statementOf(e) ? `the database could not run a statement: ${msg}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}` : msg)
  Object.defineProperty(internal, 'cause', { value: e, enumerable: false, configurable: true, writable: true })
  return internal
}

/** Best-effort mapping from a constraint name to the field a person typed. */
function constraintField(constraint?: string): string {
  if (!constraint) return '(input)'
  if (constraint.includes('network') || constraint === 'ip_pools_no_overlap') return 'network'
  if (constraint.includes('name')) return 'name'
  if (constraint.includes('ip_address') || constraint === 'ip_allocations_in_pool' || constraint.includes('host_address')) return 'ip'
  if (constraint.includes('vlan')) return 'vlan'
  if (constraint.includes('gateway')) return 'gateway'
  if (constraint.includes('status')) return 'status'
  return constraint
}

/**
 * LDAP result codes and socket/TLS failures turned into AppErrors a person can act on. Never includes a
 * password; the server's diagnostic message is kept (it names the attribute or the rule that refused).
 */
import { AppError } from '../../../shared/errors'

/** The result code of an ldapts ResultCodeError, or undefined for socket/TLS/other errors. */
export function ldapCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown })?.code
  return typeof c === 'number' ? c : undefined
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE'
])

const NET_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EAI_AGAIN'])

/** ldapts reports a dropped connection with these messages (no code). */
const DROPPED = /Socket error|Connection closed before message response|Socket connection not established|socket hang up|write after end|This socket has been ended/i

/** True when the error means the connection is gone (the operation may be retried on a new one). */
export function isConnectionLost(e: unknown): boolean {
  const err = e as { code?: unknown; message?: string }
  if (typeof err?.code === 'string' && NET_CODES.has(err.code)) return true
  return DROPPED.test(err?.message ?? '')
}

export function isTimeout(e: unknown): boolean {
  return /Operation timed out|Connection timeout/i.test((e as Error)?.message ?? '')
}

/** Strips ldapts' " Code: 0x31" suffix and keeps the server's own words. */
function serverText(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim()
}

/** Errors on the way to the server: unreachable, TLS, timeouts. */
export function connectionError(e: unknown, where: string): AppError {
  const err = e as { code?: unknown; message?: string }
  const code = typeof err?.code === 'string' ? err.code : undefined
  if (code && TLS_CODES.has(code)) {
    return new AppError(
      'UNAVAILABLE',
      `${where}: the server's TLS certificate is not trusted (${code}: ${err.message}). Set the profile's CA certificate (caFile) to the CA that signed it, and use the host name the certificate names.`,
      { kind: 'tls' }
    )
  }
  if (code === 'ECONNREFUSED') return new AppError('UNAVAILABLE', `${where}: connection refused. Is slapd running and listening on that address and port?`, { kind: 'unreachable' })
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new AppError('UNAVAILABLE', `${where}: the host name does not resolve (${code}).`, { kind: 'unreachable' })
  if (code && NET_CODES.has(code)) return new AppError('UNAVAILABLE', `${where}: the server cannot be reached (${code}).`, { kind: 'unreachable' })
  if (isTimeout(e)) return new AppError('UNAVAILABLE', `${where}: the server did not answer in time (${err.message}). Check the network, or raise the profile's timeoutMs.`, { kind: 'timeout' })
  if (isConnectionLost(e)) return new AppError('UNAVAILABLE', `${where}: the connection to the server was lost (${err.message}).`, { kind: 'connection-lost' })
  if (/wrong version number|packet length too long|EPROTO|ssl3_get_record/i.test(err?.message ?? '')) {
    return new AppError('UNAVAILABLE', `${where}: TLS handshake failed (${err.message}). Is this port ldaps:// (TLS from the start) or ldap:// (use StartTLS)?`, { kind: 'tls' })
  }
  return toDirectoryError(e, where)
}

/**
 * Maps an LDAP result to an AppError. `field` names the input the operation was about (uid, cn...), so
 * a CONFLICT or a schema refusal points at what the person typed.
 */
export function toDirectoryError(e: unknown, where: string, field?: string): AppError {
  if (e instanceof AppError) return e
  const code = ldapCode(e)
  const text = serverText(e)
  const f = field ? { field } : {}
  switch (code) {
    case undefined:
      if (isConnectionLost(e) || isTimeout(e) || typeof (e as { code?: unknown })?.code === 'string') return connectionError(e, where)
      return new AppError('INTERNAL', `${where}: ${text}`)
    case 3:
      return new AppError('UNAVAILABLE', `${where}: the server's time limit stopped the operation (${text}).`, { ldapCode: code })
    case 4:
      return new AppError(
        'UNAVAILABLE',
        `${where}: the server's size limit stopped the search (${text}). Raise the limit for this bind DN (olcLimits size.prtotal, see docs/ldap-setup.md).`,
        { ldapCode: code }
      )
    case 7:
    case 8:
    case 13:
      return new AppError('UNAVAILABLE', `${where}: the server requires a secure connection (${text}). Enable StartTLS or use ldaps:// in the profile.`, { ldapCode: code })
    case 11:
      return new AppError('UNAVAILABLE', `${where}: an administrative limit of the server was exceeded (${text}).`, { ldapCode: code })
    case 12:
      return new AppError('UNAVAILABLE', `${where}: the server does not support a control this needs (${text}).`, { ldapCode: code })
    case 16:
      return new AppError('CONFLICT', `${field ?? where}: the entry changed while this was being done (${text}); reload and try again`, { ...f, ldapCode: code })
    case 17:
    case 21:
    case 34:
    case 64:
    case 65:
    case 67:
    case 69:
      return new AppError('VALIDATION', `${field ?? where}: the server refused the value (${text})`, { ...f, ldapCode: code })
    case 18:
      return new AppError('VALIDATION', `${field ?? where}: inappropriate matching (${text})`, { ...f, ldapCode: code })
    case 19:
      return new AppError('VALIDATION', `${field ?? where}: the server's rules refused it (${text})`, { ...f, ldapCode: code })
    case 20:
    case 68:
      return new AppError('CONFLICT', `${field ?? where}: already exists (${text})`, { ...f, ldapCode: code })
    case 32:
      return new AppError('NOT_FOUND', `${field ?? where}: no such entry (${text})`, { ...f, ldapCode: code })
    case 48:
    case 49:
      return new AppError('FORBIDDEN', `${where}: the server refused the credentials (${text || 'invalid credentials'})`, { ldapCode: code })
    case 50:
      return new AppError('FORBIDDEN', `${where}: the directory refused this for the signed-in account (insufficient access${text ? `: ${text}` : ''}). Its ACLs decide what each bind DN may do.`, { ldapCode: code })
    case 51:
    case 52:
      return new AppError('UNAVAILABLE', `${where}: the server is busy or unavailable (${text}); try again shortly.`, { ldapCode: code })
    case 53:
      return new AppError('FORBIDDEN', `${where}: the server is unwilling to perform this (${text}).`, { ldapCode: code })
    case 66:
      return new AppError('CONFLICT', `${field ?? where}: the entry has entries below it (${text}); remove them first`, { ...f, ldapCode: code })
    default:
      return new AppError('UNAVAILABLE', `${where}: the server answered with LDAP result ${code} (${text}).`, { ldapCode: code })
  }
}

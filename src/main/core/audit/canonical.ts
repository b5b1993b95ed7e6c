/**
 * The canonical serialisation an audit row's hash is computed over: JSON with object keys sorted at every
 * level, no whitespace, timestamps as ISO-8601 UTC with milliseconds. Anyone holding an export can
 * recompute the chain with this definition (docs/audit.md).
 */
import { createHash } from 'node:crypto'

export const GENESIS_HASH = '0'.repeat(64)

export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`
  if (value instanceof Date) return JSON.stringify(value.toISOString())
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return 'null'
  if (typeof value === 'bigint') return JSON.stringify(value.toString())
  return JSON.stringify(value)
}

/** The fields of a row that its body covers, in the shape stored (timestamps as ISO strings). */
export interface AuditBody {
  createdAt: string
  action: string
  resourceType: string
  resourceId: string | null
  resourceName: string | null
  userId: string | null
  userIp: string | null
  userAgent: string | null
  status: string
  details: unknown
  requestId: string | null
  source: string
}

export function canonicalBody(b: AuditBody): string {
  return canonicalJson(b)
}

/**
 * A row's hash: SHA-256 (hex) of the previous row's hash, a line feed, the row's sequence number in decimal,
 * a line feed, and the row's canonical body. The database computes the same when appending
 * (the audit_append function), and verify recomputes it here.
 */
export function rowHash(prevHash: string, seq: string, body: string): string {
  return createHash('sha256').update(`${prevHash}\n${seq}\n${body}`, 'utf8').digest('hex')
}

const SECRET_KEY = /pass(word|wd|phrase)?$|^pw$|secret|token|credential|bindpw|userpassword|private.?key|authorization|cookie/i

/** Replaces the value of every key that looks like a secret, at any depth. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact)
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) && v !== null && v !== undefined && v !== '' ? '[redacted]' : redact(v)
    }
    return out
  }
  // PostgreSQL's jsonb cannot hold NUL characters.
  if (typeof value === 'string') return value.split(String.fromCharCode(0)).join('')
  return value
}

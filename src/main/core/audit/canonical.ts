/**
 * The canonical serialisation an audit row's hash is computed over: JSON with object keys sorted at every
 * level, no whitespace, timestamps as ISO-8601 UTC with milliseconds. Anyone holding an export can
 * recompute the chain with this definition (docs/audit.md).
 */
import crypto from 'node:crypto'

export const GENESIS_HASH = '0'.repeat(64)

export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null'
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      return JSON.stringify(value.toString())
    case 'object':
      break
    default:
      // Functions and symbols: what JSON.stringify gives them, as this definition always has.
      return JSON.stringify(value)
  }
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      if (i) out += ','
      // A hole, or an element without a JSON form, is written as nothing (the rule of Array.prototype.join).
      if (i in value) {
        const s = canonicalJson(value[i])
        if (s !== undefined) out += s
      }
    }
    return out + ']'
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString())
  const obj = value as Record<string, unknown>
  const keys = definedKeys(obj)
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    out += keyText(k, i) + canonicalJson(obj[k])
  }
  return out + '}'
}

/** The keys of `obj` whose value is not undefined, sorted in JavaScript's default order (UTF-16 code units). */
function definedKeys(obj: Record<string, unknown>): string[] {
  // Object.keys gives a fresh array: filtered and sorted in place.
  const keys = Object.keys(obj)
  let n = 0
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    if (obj[k] !== undefined) keys[n++] = k
  }
  keys.length = n
  if (n > 12) return keys.sort()
  // Insertion sort: most objects here have a handful of keys. Keys are distinct, so `>` orders them as sort() does.
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!
    let j = i
    while (j > 0 && keys[j - 1]! > k) {
      keys[j] = keys[j - 1]!
      j--
    }
    keys[j] = k
  }
  return keys
}

// The same few keys come back row after row: their JSON text is kept (a bounded cache).
const KEY_CACHE_MAX = 4096
/** Longer keys are not kept (a cache must not hold large strings). */
const KEY_CACHE_LENGTH = 64
const cacheable = (cache: Map<string, unknown>, k: string): boolean => cache.size < KEY_CACHE_MAX && k.length <= KEY_CACHE_LENGTH
const firstKeys = new Map<string, string>()
const nextKeys = new Map<string, string>()

/** `"key":`, with a comma before it unless it is the object's first key (kept for the keys that come back). */
function keyText(k: string, i: number): string {
  const cache = i ? nextKeys : firstKeys
  let t = cache.get(k)
  if (t === undefined) {
    t = (i ? ',' : '') + JSON.stringify(k) + ':'
    if (cacheable(cache, k)) cache.set(k, t)
  }
  return t
}

/** JSON.stringify of a string, kept for the few that come back row after row (keys, actions, types). */
export const jsonString = (s: string): string => quoteKey(s)

const quotedKeys = new Map<string, string>()

function quoteKey(k: string): string {
  let q = quotedKeys.get(k)
  if (q === undefined) {
    q = JSON.stringify(k)
    if (cacheable(quotedKeys, k)) quotedKeys.set(k, q)
  }
  return q
}

/** The fields of a row that its body covers, in the shape stored (timestamps as ISO strings). */
export interface AuditBody {
  createdAt: string
  /**
   * The database login that wrote the row, taken by the server (session_user). Rows written before
   * Migration20261203100000_server_roles have none, and their bodies leave the key out.
   */
  dbUser?: string
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
  const text = prevHash + '\n' + seq + '\n' + body
  // crypto.hash (Node 20.12+): one call, no Hash object per row.
  return typeof crypto.hash === 'function' ? crypto.hash('sha256', text, 'hex') : crypto.createHash('sha256').update(text, 'utf8').digest('hex')
}

const SECRET_KEY = /pass(word|wd|phrase)?$|^pw$|secret|token|credential|bindpw|userpassword|private.?key|authorization|cookie/i

/** Whether a key's value is redacted (a bounded cache: the same keys come back row after row). */
const secretKeys = new Map<string, boolean>()

function isSecretKey(k: string): boolean {
  let secret = secretKeys.get(k)
  if (secret === undefined) {
    secret = SECRET_KEY.test(k)
    if (cacheable(secretKeys, k)) secretKeys.set(k, secret)
  }
  return secret
}

/** Replaces the value of every key that looks like a secret, at any depth. Returns a copy; the input is not changed. */
export function redact(value: unknown): unknown {
  // PostgreSQL's jsonb cannot hold NUL characters.
  if (typeof value === 'string') return value.indexOf('\u0000') < 0 ? value : value.split('\u0000').join('')
  if (!value || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(redact)
  if (value instanceof Date) return value
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj)
  const out: Record<string, unknown> = {}
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    const v = obj[k]
    out[k] = v !== null && v !== undefined && v !== '' && isSecretKey(k) ? '[redacted]' : redact(v)
  }
  return out
}

/**
 * canonicalJson(redact(value)) for plain JSON data (objects, arrays, strings, finite or non-finite numbers,
 * booleans, null), without building the redacted copy; the text is also the value as JSON.stringify(redact(value))
 * would store it (only the order of keys differs). Returns null when `value` holds anything else (a Date, a
 * bigint, a function, an array hole, a __proto__ key): the caller then takes the general path.
 */
export function redactedCanonicalJson(value: unknown): string | null {
  bailed = false
  const s = redactedJson(value)
  return bailed ? null : s
}

let bailed = false

function redactedJson(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.indexOf('\u0000') < 0 ? value : value.split('\u0000').join(''))
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null'
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      break
    default:
      bailed = true
      return ''
  }
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) {
      if (i) out += ','
      if (!(i in value)) bailed = true
      // An undefined element is null in both serialisations.
      out += redactedJson(value[i])
    }
    return out + ']'
  }
  if (value instanceof Date) {
    bailed = true
    return ''
  }
  const obj = value as Record<string, unknown>
  const keys = definedKeys(obj)
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    if (k === '__proto__') bailed = true
    const v = obj[k]
    out += keyText(k, i) + (v !== null && v !== '' && isSecretKey(k) ? '"[redacted]"' : redactedJson(v))
  }
  return out + '}'
}

/** A row as the JSON and JSON Lines exports and the archives write it: the 17 keys of the CSV header. */
export interface ExportedRow {
  seq: string
  createdAt: string
  action: string
  resourceType: string
  resourceId: string | null
  resourceName: string | null
  dbUser: string | null
  userId: string | null
  userIp: string | null
  userAgent: string | null
  status: string
  source: string
  requestId: string | null
  details: unknown
  prevHash: string
  rowHash: string
  id: string
}

/** The hash an exported or archived row must carry: recomputed from its fields, as verify does from the table. */
export function hashOfExportedRow(r: ExportedRow): string {
  return rowHash(
    r.prevHash,
    r.seq,
    canonicalBody({
      createdAt: r.createdAt,
      // Rows written before the server stamped the login have no dbUser key in their body.
      dbUser: r.dbUser ?? undefined,
      action: r.action,
      resourceType: r.resourceType,
      resourceId: r.resourceId,
      resourceName: r.resourceName,
      userId: r.userId,
      userIp: r.userIp,
      userAgent: r.userAgent,
      status: r.status,
      details: r.details,
      requestId: r.requestId,
      source: r.source
    })
  )
}

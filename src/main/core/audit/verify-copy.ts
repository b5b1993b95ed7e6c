/**
 * Verify's reading on a PostgreSQL server: the rows come as binary `COPY (select …) TO STDOUT` (copyStatement), cut
 * into batches of whole tuples by the main thread (CopySplitter) and hashed here, in a worker thread, from
 * the raw bytes: no row object, no JSON text built by the server, no string per field. Each row's canonical
 * body (canonical.ts, the writer's definition) is written as UTF-8 bytes straight from the tuple's fields
 * and hashed with its previous hash and sequence number; the summary is the one hashBatch (verify-batch.ts)
 * gives, so verify.ts walks it the same way (docs/audit.md#how-verify-reads-the-chain).
 *
 * Why the bytes are the same as storedBody's (tests/integration/audit-verify-copy.test.ts holds the two equal):
 * - a text column is JSON-quoted byte by byte: `"` `\` and the bytes below 0x20 escaped as JSON.stringify
 *   escapes them (\b \f \n \r \t, otherwise \u00xx), every other byte as is (valid UTF-8 from the server
 *   has no lone surrogate, the only other thing JSON.stringify escapes); NULL is `null`;
 * - the time is formatted from the timestamp's microseconds as the former query's
 *   `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` did (null for infinity);
 * - details (jsonb, whose binary form is its text) go through canonicalDetails below, which rewrites
 *   PostgreSQL's text of the value into canonical JSON directly when that is provably what
 *   canonicalJson(JSON.parse(text)) gives, and otherwise returns false: that row then takes exactly that path.
 *
 * One file past 500 lines because its parts share one output buffer and position (module state, for the
 * speed of the hot loops) and one argument for their equality with the writer's definition.
 */
import { canonicalJson } from './canonical'
import type { BatchSummary, RowFacts } from './verify-batch'
import crypto from 'node:crypto'

/** The columns COPY sends, in the order decodeBatch reads them. */
export const COPY_COLUMNS = `seq, created_at, action, resource_type, resource_id, resource_name, db_user, user_id, host(user_ip), user_agent,
  status, details, request_id, source, prev_hash, row_hash`

/**
 * One COPY of the chain: `rows` rows in (seq, created_at) order from `from` on (all from the first when
 * null). (seq, created_at) is unique, so a COPY that starts at the last seq of the one before and skips the
 * rows of that seq it already sent takes up exactly where it left off, even at a seq held by two rows.
 */
export function copyStatement(from: bigint | null, rows: number): string {
  const where = from === null ? '' : `where seq >= ${from.toString()} `
  return `copy (select ${COPY_COLUMNS} from audit_logs ${where}order by seq, created_at limit ${Math.trunc(rows)}) to stdout (format binary)`
}
const FIELDS = 16

/** The 19-byte header of a binary COPY without header extension: signature, flags, extension length. */
/** Bytes kept free after a batch's tuples in its buffer. */
const ROOM = 1 << 18
const SIGNATURE = [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]

/**
 * Cuts the byte stream of a binary COPY into batches of whole tuples (`rows` each, the last one shorter),
 * each in an ArrayBuffer of its own that can be moved to a worker. It reads only the tuples' lengths and
 * their first field (seq): the first `skip` tuples are left out (rows the COPY before this one sent), and
 * it keeps the last seq and how many tuples at the end had it, where the next COPY takes up.
 */
export class CopySplitter {
  private buf: Uint8Array
  private view: DataView
  private len = 0
  /** Where the next tuple starts (all before it are whole and counted). */
  private at = 0
  private rows = 0
  private headerDone = false
  /** The tuples seen, skipped ones included. */
  tuples = 0
  /** The tuples at the end with the last seq (ties: only a tampered log has two rows of one seq). */
  ties = 0
  private readonly lastSeq = new Uint8Array(8)
  ended = false

  constructor(
    private readonly batchRows: number,
    private skip = 0
  ) {
    this.buf = new Uint8Array(1 << 20)
    this.view = new DataView(this.buf.buffer)
  }

  /** The seq of the last tuple, or null before the first. */
  get last(): bigint | null {
    return this.tuples ? new DataView(this.lastSeq.buffer).getBigInt64(0) : null
  }

  /** Adds a chunk of the stream; returns the batches it completed. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.append(chunk)
    const out: Uint8Array[] = []
    if (!this.headerDone) {
      if (this.len < 19) return out
      for (let i = 0; i < SIGNATURE.length; i++) if (this.buf[i] !== SIGNATURE[i]) throw new Error('verify: not a binary COPY stream')
      const ext = this.view.getInt32(15)
      if (this.len < 19 + ext) return out
      this.headerDone = true
      this.drop(19 + ext)
    }
    for (;;) {
      if (this.ended || this.len - this.at < 2) break
      const n = this.view.getInt16(this.at)
      if (n === -1) {
        this.ended = true
        break
      }
      if (n !== FIELDS) throw new Error(`verify: a COPY tuple of ${n} fields, not ${FIELDS}`)
      let p = this.at + 2
      let whole = true
      for (let f = 0; f < FIELDS; f++) {
        if (this.len - p < 4) {
          whole = false
          break
        }
        const l = this.view.getInt32(p)
        p += 4 + (l > 0 ? l : 0)
        if (p > this.len) {
          whole = false
          break
        }
      }
      if (!whole) break
      this.seen(this.at + 2)
      if (this.skip > 0) {
        this.skip--
        this.buf.copyWithin(this.at, p, this.len)
        this.len -= p - this.at
        continue
      }
      this.at = p
      if (++this.rows === this.batchRows) out.push(this.cut())
    }
    return out
  }

  /** The rows left at the end of the stream, if any. */
  finish(): Uint8Array | null {
    return this.rows ? this.cut() : null
  }

  /** Counts a tuple whose first field's length is at `at`, and notes its seq. */
  private seen(at: number): void {
    this.tuples++
    const b = this.buf
    const s = this.lastSeq
    if (this.view.getInt32(at) !== 8) throw new Error('verify: a row without its sequence number')
    let same = this.tuples > 1
    for (let i = 0; i < 8; i++) {
      if (s[i] !== b[at + 4 + i]) {
        same = false
        s[i] = b[at + 4 + i]!
      }
    }
    this.ties = same ? this.ties + 1 : 1
  }

  private append(chunk: Uint8Array): void {
    // Room is kept after the tuples: the worker writes each row's hash input there (hashCopyBatch, owned).
    if (this.len + chunk.length + ROOM > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + chunk.length + ROOM))
      bigger.set(this.buf.subarray(0, this.len))
      this.buf = bigger
      this.view = new DataView(bigger.buffer)
    }
    this.buf.set(chunk, this.len)
    this.len += chunk.length
  }

  private drop(n: number): void {
    this.buf.copyWithin(0, n, this.len)
    this.len -= n
  }

  /** The whole tuples so far as a batch; the bytes after them start the next buffer. */
  private cut(): Uint8Array {
    const batch = this.buf.subarray(0, this.at)
    // The next batch will be about this one's size: room for it, a quarter more, and the worker's room.
    const next = new Uint8Array(Math.max(1 << 20, Math.ceil(this.at * 1.25) + (this.len - this.at) + ROOM))
    next.set(this.buf.subarray(this.at, this.len))
    this.len -= this.at
    this.at = 0
    this.rows = 0
    this.buf = next
    this.view = new DataView(next.buffer)
    return batch
  }
}

// ------------------------------------------------------------------ writing the body

/**
 * The batch and the rows being written share one array: the batch's tuples at [0, batchEnd), then two row
 * areas of `size` bytes each, then as much again as scratch for reordering an object's members. Rows take
 * the two areas in turn, so the row before is still whole while the next is written: the parts of its hash
 * input whose fields are the same (most of a row: the action, time, login, request, type, status... of rows
 * appended together) are copied from it instead of being written again (decodeBatch). The row being written
 * is at [base, cap). Runs of bytes move with copyWithin (a memmove, no view made per copy), short ones byte by
 * byte. Plain Uint8Arrays all (no Buffer), so the loops see one kind of array.
 */
let out: Uint8Array = new Uint8Array(0)
let batchEnd = 0
let size = 0
/** Which row area the row being written is in (0 or 1). */
let area = 0
let base = 0
let cap = 0
/** Where the scratch starts. */
let scratch = 0
let p = 0
/** Counts the times the array was replaced: the row before is gone when it changed. */
let grown = 0

/** Makes room for `n` more bytes of the row at p: a bigger array, with the batch and the row so far. */
function ensure(n: number): void {
  if (p + n <= cap) return
  const next = Math.max(2 * size, p - base + n, 1 << 16)
  const bigger = new Uint8Array(batchEnd + 3 * next)
  bigger.set(out.subarray(0, batchEnd))
  bigger.set(out.subarray(base, p), batchEnd)
  p = batchEnd + (p - base)
  size = next
  out = bigger
  grown++
  startRow(0)
}

/** Places the next row in row area `a`. */
function startRow(a: number): void {
  area = a
  base = batchEnd + a * size
  cap = base + size
  scratch = batchEnd + 2 * size
}

/**
 * Starts on a batch: its tuples, and, when the caller owns the batch's whole buffer (`owned`: CopySplitter
 * leaves room after the tuples), that room; otherwise a copy of the batch with room of its own.
 */
function useBatch(bytes: Uint8Array, owned: boolean): void {
  if (owned) out = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.buffer.byteLength - bytes.byteOffset)
  else {
    out = new Uint8Array(bytes.length + 3 * (1 << 16))
    out.set(bytes)
  }
  batchEnd = bytes.length
  size = Math.floor((out.length - batchEnd) / 3)
  grown++
  startRow(0)
  p = base
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s)
const K_ACTION = ascii('{"action":')
const K_CREATED = ascii(',"createdAt":')
const K_DBUSER = ascii(',"dbUser":')
const K_DETAILS = ascii(',"details":')
const K_REQUEST = ascii(',"requestId":')
const K_RID = ascii(',"resourceId":')
const K_RNAME = ascii(',"resourceName":')
const K_RTYPE = ascii(',"resourceType":')
const K_SOURCE = ascii(',"source":')
const K_STATUS = ascii(',"status":')
const K_UA = ascii(',"userAgent":')
const K_UID = ascii(',"userId":')
const K_UIP = ascii(',"userIp":')
const NULL = ascii('null')
const AUDIT_LOG = ascii('audit_log')

// The hot loops work on locals: module-level variables are loaded and stored on every use.
function put(b: Uint8Array): void {
  const o = out
  let w = p
  for (let i = 0; i < b.length; i++) o[w++] = b[i]!
  p = w
}

/** Copies out[s, e) (the batch, or the row) to p: short runs byte by byte, longer ones with copyWithin. */
function copy(s: number, e: number): void {
  if (e - s >= 24) {
    out.copyWithin(p, s, e)
    p += e - s
    return
  }
  const o = out
  let w = p
  for (let i = s; i < e; i++) o[w++] = o[i]!
  p = w
}

const HEX = '0123456789abcdef'
const SHORT: Record<number, number> = { 8: 0x62, 9: 0x74, 10: 0x6e, 12: 0x66, 13: 0x72 }

/** A text field as JSON.stringify writes it, or null; `len` -1 is NULL. */
function putText(s: number, len: number): void {
  // The room was made for the whole row (rowBound).
  if (len < 0) {
    put(NULL)
    return
  }
  const src = out
  out[p++] = 0x22
  const e = s + len
  let from = s
  for (let i = s; i < e; i++) {
    const c = src[i]!
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue
    const o = out
    copy(from, i)
    o[p++] = 0x5c
    if (c === 0x22 || c === 0x5c) o[p++] = c
    else if (SHORT[c] !== undefined) o[p++] = SHORT[c]!
    else {
      o[p++] = 0x75
      o[p++] = 0x30
      o[p++] = 0x30
      o[p++] = HEX.charCodeAt(c >> 4)
      o[p++] = HEX.charCodeAt(c & 15)
    }
    from = i + 1
  }
  copy(from, e)
  out[p++] = 0x22
}

function putAscii(s: string): void {
  ensure(s.length)
  const o = out
  let w = p
  for (let i = 0; i < s.length; i++) o[w++] = s.charCodeAt(i)
  p = w
}

const pad = (n: number, w: number): string => {
  const s = String(n)
  return s.length >= w ? s : '0'.repeat(w - s.length) + s
}

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_MS = 946_684_800_000
const INT64_MAX = 0x7fffffffffffffffn
const INT64_MIN = -0x8000000000000000n

/**
 * `to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` of a timestamptz given as PostgreSQL's
 * microseconds since 2000-01-01 UTC, as JSON: null for ±infinity (to_char gives NULL), the year as YYYY
 * writes it (at least four digits; a year BC without its era).
 */
export function pgTimeJson(hi: number, lo: number): string {
  // Rows appended together share their time: the last one's text is kept.
  if (hi === lastHi && lo === lastLo) return lastTime
  lastHi = hi
  lastLo = lo
  return (lastTime = timeJson(hi, lo))
}
let lastHi = NaN
let lastLo = NaN
let lastTime = ''

function timeJson(hi: number, lo: number): string {
  let ms: number
  if (hi >= -0x100000 && hi < 0x100000) {
    // |µs| < 2^52: exact as a double.
    ms = Math.floor((hi * 0x100000000 + lo) / 1000)
  } else {
    const us = (BigInt(hi) << 32n) | BigInt(lo)
    if (us === INT64_MAX || us === INT64_MIN) return 'null'
    const q = us / 1000n
    ms = Number(us < 0n && q * 1000n !== us ? q - 1n : q)
  }
  ms += PG_EPOCH_MS
  const days = Math.floor(ms / 86_400_000)
  let rest = ms - days * 86_400_000
  // Civil date from days since 1970-01-01 (proleptic Gregorian, year 0 = 1 BC), Howard Hinnant's method.
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0)
  const hh = Math.floor(rest / 3_600_000)
  rest -= hh * 3_600_000
  const mi = Math.floor(rest / 60_000)
  rest -= mi * 60_000
  const ss = Math.floor(rest / 1000)
  return `"${pad(y > 0 ? y : 1 - y, 4)}-${pad(m, 2)}-${pad(d, 2)}T${pad(hh, 2)}:${pad(mi, 2)}:${pad(ss, 2)}.${pad(rest - ss * 1000, 3)}Z"`
}

// ------------------------------------------------------------------ details: PostgreSQL's jsonb text to canonical JSON

/** Members of the objects being rewritten: for each, key start and end (input), output start and end (out). */
let members = new Int32Array(1024)
/** The members of one object in key order (a reordering uses it once its nested objects are done). */
let order = new Int32Array(64)
let top = 0
let src: Uint8Array = out
let q = 0
let end = 0

function skipSpaces(): void {
  const b = src
  const e = end
  let i = q
  while (i < e && b[i] === 0x20) i++
  q = i
}

/**
 * Rewrites the jsonb value at src[q] into out at p as canonicalJson(JSON.parse(text)) would write it, or
 * returns false where that is not certain: a number that is not a plain integer of at most 15 digits (a
 * double prints such an integer as it is written, and nothing else for sure), a key that is not printable
 * ASCII without escapes (whose UTF-16 order is then its byte order), two equal keys, an escape
 * JSON.stringify would not write, a raw control byte, or anything that is not JSON.
 */
function value(): boolean {
  skipSpaces()
  if (q >= end) return false
  const c = src[q]!
  if (c === 0x22) return string()
  if (c === 0x7b) return object()
  if (c === 0x5b) return array()
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return number()
  if (c === 0x74) return word(0x74, 0x72, 0x75, 0x65, -1)
  if (c === 0x66) return word(0x66, 0x61, 0x6c, 0x73, 0x65)
  if (c === 0x6e) return word(0x6e, 0x75, 0x6c, 0x6c, -1)
  return false
}

function word(a: number, b: number, c: number, d: number, e: number): boolean {
  const n = e < 0 ? 4 : 5
  if (q + n > end || src[q] !== a || src[q + 1] !== b || src[q + 2] !== c || src[q + 3] !== d || (e >= 0 && src[q + 4] !== e)) return false
  copy(q, q + n)
  q += n
  return true
}

function number(): boolean {
  const s = q
  if (src[q] === 0x2d) q++
  const digits = q
  while (q < end && src[q]! >= 0x30 && src[q]! <= 0x39) q++
  const n = q - digits
  if (n === 0 || n > 15 || (src[digits] === 0x30 && (n > 1 || digits > s))) return false
  // A fraction or an exponent: the general path.
  if (q < end && (src[q] === 0x2e || src[q] === 0x65 || src[q] === 0x45)) return false
  copy(s, q)
  return true
}

/** A string copied as it is, once its escapes are the ones JSON.stringify writes. */
function string(): boolean {
  // Written while it is read (one pass): the output is the row's area, never the batch it reads.
  const b = src
  const o = out
  const stop = end
  let i = q + 1
  let w = p
  o[w++] = 0x22
  for (;;) {
    if (i >= stop) return false
    const c = b[i]!
    if (c === 0x22) break
    if (c < 0x20) return false
    if (c === 0x5c) {
      const e = b[i + 1]!
      if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        o[w++] = 0x5c
        o[w++] = e
        i += 2
      } else if (e === 0x75) {
        // \u00XX for a control character without a short escape, in lowercase hex.
        if (i + 6 > stop || b[i + 2] !== 0x30 || b[i + 3] !== 0x30 || (b[i + 4] !== 0x30 && b[i + 4] !== 0x31)) return false
        const h = b[i + 5]!
        const low = h >= 0x30 && h <= 0x39 ? h - 0x30 : h >= 0x61 && h <= 0x66 ? h - 0x57 : -1
        if (low < 0) return false
        const code = (b[i + 4]! - 0x30) * 16 + low
        if (SHORT[code] !== undefined) return false
        for (let k = 0; k < 6; k++) o[w++] = b[i + k]!
        i += 6
      } else return false
    } else {
      o[w++] = c
      i++
    }
  }
  o[w++] = 0x22
  q = i + 1
  p = w
  return true
}

function array(): boolean {
  out[p++] = 0x5b
  q++
  skipSpaces()
  if (src[q] === 0x5d) {
    q++
    out[p++] = 0x5d
    return true
  }
  for (let first = true; ; first = false) {
    if (!first) out[p++] = 0x2c
    if (!value()) return false
    skipSpaces()
    const c = src[q++]
    if (c === 0x5d) break
    if (c !== 0x2c) return false
  }
  out[p++] = 0x5d
  return true
}

/** Compares two keys' bytes (printable ASCII: the order of their UTF-16 code units). */
function keyOrder(a: number, b: number): number {
  const as = members[a]!
  const ae = members[a + 1]!
  const bs = members[b]!
  const be = members[b + 1]!
  const n = Math.min(ae - as, be - bs)
  for (let i = 0; i < n; i++) {
    const d = src[as + i]! - src[bs + i]!
    if (d) return d
  }
  return ae - as - (be - bs)
}

function object(): boolean {
  out[p++] = 0x7b
  q++
  skipSpaces()
  if (src[q] === 0x7d) {
    q++
    out[p++] = 0x7d
    return true
  }
  const base = top
  const contentStart = p
  let sorted = true
  for (let first = true; ; first = false) {
    skipSpaces()
    if (src[q] !== 0x22) return false
    // The key: printable ASCII, no escape.
    const ks = q + 1
    let k = ks
    const b = src
    const stop = end
    while (k < stop && b[k] !== 0x22) {
      const c = b[k]!
      if (c < 0x20 || c > 0x7e || c === 0x5c) return false
      k++
    }
    if (k >= stop) return false
    if (!first) out[p++] = 0x2c
    const os = p
    copy(q, k + 1)
    q = k + 1
    skipSpaces()
    if (src[q++] !== 0x3a) return false
    out[p++] = 0x3a
    if (top + 4 > members.length) {
      const bigger = new Int32Array(members.length * 2)
      bigger.set(members)
      members = bigger
    }
    const me = top
    top += 4
    if (!value()) return false
    members[me] = ks
    members[me + 1] = k
    members[me + 2] = os
    members[me + 3] = p
    if (me > base) {
      const d = keyOrder(me - 4, me)
      if (d === 0) return false
      if (d > 0) sorted = false
    }
    skipSpaces()
    const c = src[q++]
    if (c === 0x7d) break
    if (c !== 0x2c) return false
  }
  if (!sorted) {
    const n = (top - base) / 4
    if (order.length < n) order = new Int32Array(n * 2)
    for (let i = 0; i < n; i++) order[i] = base + i * 4
    // Insertion sort: a handful of keys.
    for (let i = 1; i < n; i++) {
      const m = order[i]!
      let j = i
      while (j > 0 && keyOrder(order[j - 1]!, m) > 0) {
        order[j] = order[j - 1]!
        j--
      }
      if (j > 0 && keyOrder(order[j - 1]!, m) === 0) return false
      order[j] = m
    }
    // The members to the scratch after the row's room (as large as it), then back in key order.
    out.copyWithin(scratch, contentStart, p)
    const shift = scratch - contentStart
    p = contentStart
    for (let i = 0; i < n; i++) {
      if (i) out[p++] = 0x2c
      const m = order[i]!
      copy(members[m + 2]! + shift, members[m + 3]! + shift)
    }
  }
  top = base
  out[p++] = 0x7d
  return true
}

/**
 * The canonical JSON of a jsonb value given as PostgreSQL's text of it (bytes [s, e) of `from`), written
 * into out at p; false (and p as it was) where the direct rewrite is not certain to match.
 */
function canonicalDetails(s: number, e: number): boolean {
  // The rewrite only drops spaces between tokens and reorders members: never longer than the text.
  ensure(e - s)
  src = out
  q = s
  end = e
  top = 0
  const start = p
  if (value()) {
    skipSpaces()
    if (q === end) return true
  }
  p = start
  return false
}

// ------------------------------------------------------------------ a batch

const decoder = new TextDecoder('utf-8', { fatal: false })
const encoder = new TextEncoder()

/**
 * Decodes and hashes a batch of whole binary COPY tuples (CopySplitter) of COPY_COLUMNS, consecutive in
 * sequence order: the summary hashBatch gives for the same rows. `want`: the seqs to list in `marks`.
 */
export function hashCopyBatch(bytes: Uint8Array, want?: ReadonlySet<string>, owned = false): BatchSummary {
  return decodeBatch(bytes, want, owned)
}

/** The fields written after the resource's id and name, in the body's key order: key text and field index. */
const LAST_FIELDS: [Uint8Array, number][] = [
  [K_RTYPE, 3],
  [K_SOURCE, 13],
  [K_STATUS, 10],
  [K_UA, 9],
  [K_UID, 7],
  [K_UIP, 8]
]

/** The text fields of a row (all but seq, time, details and the two hashes). */
const TEXT_FIELDS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]

/**
 * Room enough for a row's hash input: the previous hash, the seq, every key, each text field escaped at its
 * longest (\u00xx for every byte), the time, and details (the direct rewrite is never longer than its text).
 */
function rowBound(fl: Int32Array): number {
  let n = fl[14]! + 2 + 24 + 256 + 48 + (fl[11]! < 0 ? 4 : fl[11]!)
  for (let i = 0; i < TEXT_FIELDS.length; i++) {
    const l = fl[TEXT_FIELDS[i]!]!
    n += l < 0 ? 4 : l * 6 + 2
  }
  return n
}

/** Whether field f holds the same bytes (or is NULL alike) in this row (fs, fl) as in the row before (ps, pl). */
function same(b: Uint8Array, fs: Int32Array, fl: Int32Array, ps: Int32Array, pl: Int32Array, f: number): boolean {
  const n = fl[f]!
  if (n !== pl[f]) return false
  const a = fs[f]!
  const c = ps[f]!
  for (let i = 0; i < n; i++) if (b[a + i] !== b[c + i]) return false
  return true
}

function decodeBatch(bytes: Uint8Array, want: ReadonlySet<string> | undefined, owned: boolean, inputs?: string[]): BatchSummary {
  useBatch(bytes, owned)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // The stored hashes are compared as text with the hex digests (one native comparison).
  const whole = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const text = (s: number, len: number): string => decoder.decode(bytes.subarray(s, s + len))
  const breaks: BatchSummary['breaks'] = []
  const purgeRuns: BatchSummary['purgeRuns'] = []
  const purgeArchives: BatchSummary['purgeArchives'] = []
  const marks: BatchSummary['marks'] = []
  const watching = want !== undefined && want.size > 0
  // This row's fields (start, length) and the row before's; the parts of the row before's hash input.
  let fs = new Int32Array(FIELDS)
  let fl = new Int32Array(FIELDS)
  let ps = new Int32Array(FIELDS)
  let pl = new Int32Array(FIELDS)
  let cur = new Int32Array(6)
  let prv = new Int32Array(6)
  let memoGrown = -1
  let first: RowFacts | null = null
  let count = 0
  // The row before: its seq (as a number when it is one exactly, else NaN) and where its seq and hash are.
  let beforeN = NaN
  let beforeSeqAt = 0
  let beforeHashAt = 0
  let beforeHashLen = -1
  let at = 0
  while (at < bytes.length) {
    const n = view.getInt16(at)
    if (n === -1) break
    if (n !== FIELDS) throw new Error(`verify: a COPY tuple of ${n} fields, not ${FIELDS}`)
    at += 2
    for (let f = 0; f < FIELDS; f++) {
      const l = view.getInt32(at)
      fs[f] = at + 4
      fl[f] = l
      at += 4 + (l > 0 ? l : 0)
    }
    if (fl[0] !== 8 || fl[1] !== 8 || fl[14]! < 0 || fl[15]! < 0) throw new Error('verify: a row without its sequence number, time or hashes')
    const seqAt = fs[0]!
    const sh = view.getInt32(seqAt)
    // Exact as a double below 2^53; larger ones are compared and printed as bigints.
    const seqN = sh >= -0x200000 && sh < 0x200000 ? sh * 0x100000000 + view.getUint32(seqAt + 4) : NaN
    const seqText = seqN === seqN ? '' : bigSeq(view, seqAt)

    // The hash input: previous hash, a line feed, the seq, a line feed, the body. One bound for all of it
    // (details aside when it takes the general path, which makes room for itself).
    startRow(area ^ 1)
    p = base
    ensure(rowBound(fl))
    const rowGrown = grown
    // The row before is whole in the other area (unless the array was replaced since): a part whose
    // fields hold the same bytes as there is copied from it.
    const memo = count > 0 && memoGrown === grown
    copy(fs[14]!, fs[14]! + fl[14]!)
    out[p++] = 0x0a
    if (seqN === seqN && seqN >= 0) putUint(seqN)
    else putAscii(seqText || String(seqN))
    out[p++] = 0x0a
    // The action, the time and the login, up to the details' key.
    cur[0] = p
    if (memo && same(bytes, fs, fl, ps, pl, 2) && same(bytes, fs, fl, ps, pl, 1) && same(bytes, fs, fl, ps, pl, 6)) copy(prv[0]!, prv[1]!)
    else {
      put(K_ACTION)
      putText(fs[2]!, fl[2]!)
      put(K_CREATED)
      putTime(view.getInt32(fs[1]!), view.getUint32(fs[1]! + 4))
      if (fl[6]! >= 0) {
        put(K_DBUSER)
        putText(fs[6]!, fl[6]!)
      }
      put(K_DETAILS)
    }
    cur[1] = p
    // jsonb's binary form: a version byte (1), then the value's text.
    let details: unknown
    let parsed = false
    if (fl[11]! < 0) put(NULL)
    else if (memo && same(bytes, fs, fl, ps, pl, 11)) copy(prv[1]!, prv[2]!)
    else {
      if (fl[11] === 0 || bytes[fs[11]!] !== 1) throw new Error('verify: a jsonb value in an unknown binary format')
      const ds = fs[11]! + 1
      const de = fs[11]! + fl[11]!
      if (!canonicalDetails(ds, de)) {
        details = JSON.parse(text(ds, de - ds))
        parsed = true
        const json = canonicalJson(details)
        ensure(json.length * 3)
        p += encoder.encodeInto(json, out.subarray(p)).written
      }
    }
    cur[2] = p
    // A replaced array (the general path above) moved this row: nothing more is copied from the row before.
    const still = memo && grown === rowGrown
    if (still && same(bytes, fs, fl, ps, pl, 12)) copy(prv[2]!, prv[3]!)
    else {
      put(K_REQUEST)
      putText(fs[12]!, fl[12]!)
    }
    cur[3] = p
    if (still && same(bytes, fs, fl, ps, pl, 4) && same(bytes, fs, fl, ps, pl, 5)) copy(prv[3]!, prv[4]!)
    else {
      put(K_RID)
      putText(fs[4]!, fl[4]!)
      put(K_RNAME)
      putText(fs[5]!, fl[5]!)
    }
    cur[4] = p
    if (
      still &&
      same(bytes, fs, fl, ps, pl, 3) &&
      same(bytes, fs, fl, ps, pl, 13) &&
      same(bytes, fs, fl, ps, pl, 10) &&
      same(bytes, fs, fl, ps, pl, 9) &&
      same(bytes, fs, fl, ps, pl, 7) &&
      same(bytes, fs, fl, ps, pl, 8)
    )
      copy(prv[4]!, prv[5]!)
    else {
      for (let k = 0; k < LAST_FIELDS.length; k++) {
        const [key, f] = LAST_FIELDS[k]!
        put(key)
        putText(fs[f]!, fl[f]!)
      }
      out[p++] = 0x7d
    }
    cur[5] = p
    // This row is the next one's row before, unless the array was replaced while it was written.
    memoGrown = grown === rowGrown ? grown : -1
    inputs?.push(decoder.decode(out.subarray(base, p)))
    const ok = whole.toString('latin1', fs[15]!, fs[15]! + fl[15]!) === crypto.hash('sha256', out.subarray(base, p), 'hex')
    const follows =
      count > 0 &&
      ok &&
      (seqN === seqN && beforeN === beforeN ? seqN === beforeN + 1 : BigInt(seqString(view, seqAt)) === BigInt(seqString(view, beforeSeqAt)) + 1n) &&
      sameBytes(bytes, fs[14]!, fl[14]!, beforeHashAt, beforeHashLen)
    if (!follows) {
      // Only the rows the walk must see are made into strings.
      const seq = seqText || String(seqN)
      const row = { seq, prev: text(fs[14]!, fl[14]!), hash: text(fs[15]!, fl[15]!), ok }
      if (count === 0) first = row
      else breaks.push({ index: count, row, before: { seq: seqString(view, beforeSeqAt), hash: text(beforeHashAt, beforeHashLen) } })
    }
    // Purge records list the runs they removed; collected to cross-check the checkpoints.
    if (fl[3] === AUDIT_LOG.length && sameBytes(bytes, fs[3]!, fl[3]!, -1, -1) && fl[11]! > 0) {
      if (!parsed) details = JSON.parse(text(fs[11]! + 1, fl[11]! - 1))
      const context = (details as { context?: { runs?: unknown; archive?: unknown } } | null)?.context
      if (context && Array.isArray(context.runs)) {
        const seq = seqString(view, seqAt)
        purgeRuns.push([seq, (context.runs as [string, string, string][]).map((x) => x.join(':'))])
        if (context.archive !== undefined) purgeArchives.push([seq, context.archive])
      }
    }
    if (watching) {
      const seq = seqString(view, seqAt)
      if (want.has(seq)) marks.push([count, seq, text(fs[14]!, fl[14]!), text(fs[15]!, fl[15]!)])
    }
    beforeN = seqN
    beforeSeqAt = seqAt
    beforeHashAt = fs[15]!
    beforeHashLen = fl[15]!
    count++
    ;[cur, prv] = [prv, cur]
    ;[fs, ps] = [ps, fs]
    ;[fl, pl] = [pl, fl]
  }
  if (!count) throw new Error('hashCopyBatch: an empty batch')
  return { count, first: first!, last: { seq: seqString(view, beforeSeqAt), hash: text(beforeHashAt, beforeHashLen) }, breaks, purgeRuns, purgeArchives, marks }
}

/** A bigint column (8 bytes, big-endian) in decimal, as PostgreSQL prints it. */
function bigSeq(view: DataView, at: number): string {
  return view.getBigInt64(at).toString()
}

function seqString(view: DataView, at: number): string {
  const hi = view.getInt32(at)
  return hi >= -0x200000 && hi < 0x200000 ? String(hi * 0x100000000 + view.getUint32(at + 4)) : bigSeq(view, at)
}

/** A whole number's decimal digits at p (0 <= n < 2^53). */
function putUint(n: number): void {
  let digits = 1
  for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++
  const o = out
  let w = p + digits
  p = w
  do {
    o[--w] = 0x30 + (n % 10)
    n = Math.floor(n / 10)
  } while (n > 0)
}

/** pgTimeJson's text at p, as bytes (rows appended together share their time: the last one's are kept). */
function putTime(hi: number, lo: number): void {
  if (hi !== timeHi || lo !== timeLo) {
    timeBytes = ascii(pgTimeJson(hi, lo))
    timeHi = hi
    timeLo = lo
  }
  put(timeBytes)
}
let timeHi = NaN
let timeLo = NaN
let timeBytes: Uint8Array = new Uint8Array(0)

/** Whether bytes[a, a + alen) equal bytes[b, b + blen) (b -1: the text audit_log). */
function sameBytes(bytes: Uint8Array, a: number, alen: number, b: number, blen: number): boolean {
  const other = b < 0 ? AUDIT_LOG : bytes
  if (b < 0) {
    b = 0
    blen = AUDIT_LOG.length
  }
  if (alen !== blen) return false
  for (let i = 0; i < alen; i++) if (bytes[a + i] !== other[b + i]) return false
  return true
}

/** For tests: the hash input (previous hash, seq, body) of each row of the batch, as text. */
export function copyRowHashInputs(bytes: Uint8Array): string[] {
  const inputs: string[] = []
  decodeBatch(bytes, undefined, false, inputs)
  return inputs
}

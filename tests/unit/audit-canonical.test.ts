/**
 * The audit's canonical serialisation and redaction are part of the hash chain's definition (docs/audit.md):
 * `audit verify` and external scripts recompute hashes from it. The fast implementations must give exactly
 * what the original, straightforward ones give, for any value; the originals are kept here as the reference.
 */
import { createHash } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalBody, canonicalJson, redact, redactedCanonicalJson, rowHash, type AuditBody } from '../../src/main/core/audit/canonical'
import { auditBody, openBulkAudit, type AuditEntry, type PreparedAudits } from '../../src/main/core/audit/writer'
import { hashBatch, storedBody, type RowArray } from '../../src/main/core/audit/verify-batch'
import type { RequestContext } from '../../src/main/core/context'
import { parseIp } from '../../src/shared/net'
import type { Knex } from '@mikro-orm/postgresql'

// ------------------------------------------------------------------ the reference definitions

function referenceCanonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (Array.isArray(value)) return `[${value.map((v) => referenceCanonicalJson(v)).join(',')}]`
  if (value instanceof Date) return JSON.stringify(value.toISOString())
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${referenceCanonicalJson(obj[k])}`).join(',')}}`
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return 'null'
  if (typeof value === 'bigint') return JSON.stringify(value.toString())
  return JSON.stringify(value)
}

const SECRET_KEY = /pass(word|wd|phrase)?$|^pw$|secret|token|credential|bindpw|userpassword|private.?key|authorization|cookie/i

function referenceRedact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(referenceRedact)
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) && v !== null && v !== undefined && v !== '' ? '[redacted]' : referenceRedact(v)
    }
    return out
  }
  if (typeof value === 'string') return value.split(String.fromCharCode(0)).join('')
  return value
}

/** The server's stamp the fake chain head hands out. */
const FAKE_TIME = '2026-12-03T10:00:00.123Z'
const FAKE_LOGIN = 'alice'

const clip = (s: string | null | undefined, n: number): string | null => (s === null || s === undefined ? null : s.length > n ? s.slice(0, n) : s)

function referenceAuditBody(ctx: RequestContext, createdAt: string, entry: AuditEntry, dbUser = FAKE_LOGIN): AuditBody {
  let userIp: string | null = null
  if (ctx.ip) {
    try {
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ctx.ip.trim())
      userIp = parseIp(mapped ? mapped[1]! : ctx.ip).text
    } catch {
      userIp = null
    }
  }
  return {
    createdAt,
    dbUser,
    action: entry.action,
    resourceType: entry.resourceType,
    resourceId: entry.resourceId === undefined || entry.resourceId === null ? null : clip(String(entry.resourceId), 255),
    resourceName: clip(entry.resourceName ?? null, 255),
    userId: clip(ctx.actor, 255),
    userIp,
    userAgent: clip(ctx.userAgent ?? null, 512),
    status: entry.status ?? 'success',
    details: referenceRedact(
      ctx.replay ? { ...(entry.details ?? {}), context: { ...(entry.details?.context ?? {}), ...ctx.replay } } : { ...(entry.details ?? {}) }
    ),
    requestId: clip(ctx.requestId, 64),
    source: ctx.source
  }
}

const referenceRowHash = (prevHash: string, seq: string, body: string): string => createHash('sha256').update(`${prevHash}\n${seq}\n${body}`, 'utf8').digest('hex')

// ------------------------------------------------------------------ generated values

const keys = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('password', 'Password', 'apiToken', 'pw', 'PW', 'x-pw', 'passphrase', 'bindPw', 'Cookie', 'private_key', 'secretName', 'credentials'),
  fc.constantFrom('', 'a"b', 'back\\slash', 'line\nfeed', '\u0000', '\u2028', 'é', 'e\u0301', '😀', '\ud800', '10', '9', '01', 'Z', 'a', 'toJSON', 'constructor', '__proto__')
)

const strings = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('a', '\u0000', '"', '\\', '\n', '\u001f', '\u007f', '\u2028', '😀', '\udc00', 'é') })
)

const numbers = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e21, 1e-7, 5e-324, Number.MAX_SAFE_INTEGER + 2))

const leaves = fc.oneof(
  { weight: 4, arbitrary: strings },
  { weight: 3, arbitrary: numbers },
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  fc.date({ noInvalidDate: true })
)

/** Anything the audit may be handed: nested objects and arrays (sparse ones too), Dates, bigints, and the rest. */
const values = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaves, tie('array'), tie('object'), tie('sparse')),
  array: fc.array(tie('value'), { maxLength: 6 }),
  sparse: fc.sparseArray(tie('value'), { maxLength: 6 }),
  object: fc.dictionary(keys, tie('value'), { maxKeys: 8 })
})).value

/** Plain JSON data (what details are made of in practice), with keys and strings that need care. */
const jsonData = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    strings,
    numbers,
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    tie('array'),
    tie('object')
  ),
  array: fc.array(tie('value'), { maxLength: 6 }),
  object: fc.dictionary(keys.filter((k) => k !== '__proto__' && k !== 'toJSON'), tie('value'), { maxKeys: 8 })
})).value

const RUNS = 3_000

/** The result, or the kind of error thrown (an invalid Date, say, throws in both). */
function attempt<T>(f: () => T): T | string {
  try {
    return f()
  } catch (e) {
    return `throws ${(e as Error).name}`
  }
}

function hasProtoKey(v: unknown): boolean {
  if (!v || typeof v !== 'object') return false
  if (Object.prototype.hasOwnProperty.call(v, '__proto__')) return true
  return Object.values(v).some(hasProtoKey)
}

describe('canonicalJson', () => {
  it('writes what the reference definition writes, for any value', () => {
    fc.assert(
      fc.property(values, (v) => {
        expect(attempt(() => canonicalJson(v))).toBe(attempt(() => referenceCanonicalJson(v)))
      }),
      { numRuns: RUNS }
    )
  })

  it('matches on the edge cases by name', () => {
    const fn = (): void => undefined
    const protoKey = JSON.parse('{"__proto__": {"b": 1}, "a": [1, null]}') as unknown
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${(i * 7919) % 40}`, i]))
    const cases: unknown[] = [
      undefined,
      null,
      [undefined, null, , 3], // eslint-disable-line no-sparse-arrays
      { a: undefined, b: null, c: [fn], d: fn, e: Symbol('s') },
      [fn, Symbol('x')],
      fn,
      new Date(0),
      { at: new Date(1_700_000_000_123) },
      10n,
      -0,
      NaN,
      -Infinity,
      { '': 1, Z: 2, a: 3, é: 4, '😀': 5, 'a"b': 6, '\n': 7, '10': 8, '9': 9 },
      new String('ab'),
      Object.create(null),
      Object.assign(Object.create(null), { b: 1, a: 2 }),
      protoKey,
      many,
      new Map([[1, 2]]),
      Buffer.from('hi'),
      'text with \u0000 NUL, "quotes", \\ and \u2028'
    ]
    for (const c of cases) expect(canonicalJson(c)).toBe(referenceCanonicalJson(c))
  })
})

describe('redact', () => {
  it('gives what the reference gives, for any value', () => {
    fc.assert(
      fc.property(values, (v) => {
        const got = redact(v)
        const want = referenceRedact(v)
        // node's comparison, not toStrictEqual: that one reads a "constructor" key as the object's class. A
        // "__proto__" key sets the copy's prototype to a fresh object each time, so only the text is compared then.
        if (!hasProtoKey(v)) expect(isDeepStrictEqual(got, want)).toBe(true)
        expect(attempt(() => referenceCanonicalJson(got))).toBe(attempt(() => referenceCanonicalJson(want)))
      }),
      { numRuns: RUNS }
    )
  })

  it('copies: the input is never changed, nor shared', () => {
    const input = { password: 'x', nested: { token: 'y', list: [{ cookie: 'z' }] }, clean: { a: 1 } }
    const copy = structuredClone(input)
    const out = redact(input) as typeof input
    expect(input).toStrictEqual(copy)
    expect(out).toStrictEqual({ password: '[redacted]', nested: { token: '[redacted]', list: [{ cookie: '[redacted]' }] }, clean: { a: 1 } })
    expect(out.clean).not.toBe(input.clean)
  })
})

describe('redactedCanonicalJson', () => {
  it('is canonicalJson(redact(v)) for plain JSON data, and stores the same value as JSON.stringify(redact(v))', () => {
    fc.assert(
      fc.property(jsonData, (v) => {
        const got = redactedCanonicalJson(v)
        expect(got).toBe(referenceCanonicalJson(referenceRedact(v)))
        if (v !== undefined) expect(isDeepStrictEqual(JSON.parse(got!), JSON.parse(JSON.stringify(referenceRedact(v))))).toBe(true)
      }),
      { numRuns: RUNS }
    )
  })

  it('either agrees with the reference or declines, for any value', () => {
    fc.assert(
      fc.property(values, (v) => {
        const got = attempt(() => redactedCanonicalJson(v))
        if (got !== null) expect(got).toBe(attempt(() => referenceCanonicalJson(referenceRedact(v))))
      }),
      { numRuns: RUNS }
    )
  })

  it('declines what JSON.stringify and canonicalJson write differently', () => {
    const fn = (): void => undefined
    for (const v of [{ a: fn }, [fn], { a: [1, , 2] }, { d: new Date(0) }, { n: 1n }, JSON.parse('{"__proto__": null}'), { s: Symbol('s') }]) { // eslint-disable-line no-sparse-arrays
      expect(redactedCanonicalJson(v)).toBeNull()
    }
    // A secret's value is replaced whatever it is.
    expect(redactedCanonicalJson({ password: fn, token: 1n, cookie: '', secret: null })).toBe('{"cookie":"","password":"[redacted]","secret":null,"token":"[redacted]"}')
  })
})

describe('rowHash', () => {
  it('is SHA-256 over prev, seq and body', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.bigInt({ min: 1n }), (body, seq) => {
        expect(rowHash('0'.repeat(64), seq.toString(), body)).toBe(referenceRowHash('0'.repeat(64), seq.toString(), body))
      }),
      { numRuns: 500 }
    )
  })
})

// ------------------------------------------------------------------ verify's reading of stored rows

/** A stored row as verify reads it (ROW_JSON): text or null in every column, details any JSON value. */
const storedRows = fc
  .tuple(
    fc.bigInt({ min: 1n, max: 2n ** 62n }),
    fc.option(strings, { nil: null }),
    fc.option(strings, { nil: null }),
    fc.option(strings, { nil: null }),
    fc.option(jsonData.map((d) => (d === undefined ? null : d)), { nil: null })
  )
  .map(([seq, a, b, c, details]): RowArray => [
    seq.toString(),
    '2026-12-03T10:00:00.123Z',
    'update',
    b ?? 'ip_pool',
    a,
    b,
    c,
    a,
    c,
    b,
    'success',
    JSON.parse(JSON.stringify(details ?? {})) as RowArray[11],
    c,
    'cli',
    '0'.repeat(64),
    'f'.repeat(64)
  ])

describe("verify's canonical body of a stored row", () => {
  it('is canonicalBody of the row, as verify built it row by row, for any row', () => {
    fc.assert(
      fc.property(storedRows, (r) => {
        const asBefore = canonicalBody({
          createdAt: r[1],
          dbUser: r[6] ?? undefined,
          action: r[2],
          resourceType: r[3],
          resourceId: r[4],
          resourceName: r[5],
          userId: r[7],
          userIp: r[8],
          userAgent: r[9],
          status: r[10],
          details: r[11],
          requestId: r[12],
          source: r[13]
        })
        expect(storedBody(r)).toBe(asBefore)
      }),
      { numRuns: RUNS }
    )
  })

  it('summarises a batch: the first row, the rows that break the chain, and purge runs', () => {
    const rows: RowArray[] = []
    let prev = '0'.repeat(64)
    for (let i = 1; i <= 6; i++) {
      const details = i === 4 ? { context: { runs: [['1', '2', 'ab']], archive: { file: 'purge.jsonl.gz', sha256: 'cd' } } } : i === 6 ? { context: { runs: [] } } : {}
      const r: RowArray = ['' + i, '2026-12-03T10:00:00.123Z', 'create', i >= 4 && i % 2 === 0 ? 'audit_log' : 'ip_pool', null, null, 'alice', null, null, null, 'success', details, null, 'cli', prev, '']
      r[15] = rowHash(prev, r[0], storedBody(r))
      prev = r[15]
      rows.push(r)
    }
    rows[2]![15] = 'e'.repeat(64) // row 3's stored hash no longer matches its contents
    const s = hashBatch(rows.map((r) => JSON.stringify(r)))
    expect(s.count).toBe(6)
    expect(s.first).toEqual({ seq: '1', prev: '0'.repeat(64), hash: rows[0]![15], ok: true })
    expect(s.last).toEqual({ seq: '6', hash: rows[5]![15] })
    // Row 3 fails its hash; row 4 no longer follows row 3's (stored) hash.
    expect(s.breaks.map((b) => [b.index, b.row.seq, b.row.ok, b.before.seq])).toEqual([
      [2, '3', false, '2'],
      [3, '4', true, '3']
    ])
    expect(s.purgeRuns).toEqual([
      ['4', ['1:2:ab']],
      ['6', []]
    ])
    // The archive a purge record names, as stored; a record naming none is not listed.
    expect(s.purgeArchives).toEqual([['4', { file: 'purge.jsonl.gz', sha256: 'cd' }]])
    expect(s.marks).toEqual([])
  })

  it('lists the rows asked for, in order, with their stored hashes, whatever they hold', () => {
    const rows: RowArray[] = []
    let prev = '0'.repeat(64)
    for (let i = 1; i <= 5; i++) {
      const r: RowArray = ['' + (i + 10), '2026-12-03T10:00:00.123Z', 'create', 'ip_pool', null, null, null, null, null, null, 'success', {}, null, 'cli', prev, '']
      r[15] = rowHash(prev, r[0], storedBody(r))
      prev = r[15]
      rows.push(r)
    }
    rows[3]![15] = 'e'.repeat(64)
    const s = hashBatch(
      rows.map((r) => JSON.stringify(r)),
      new Set(['11', '14', '99'])
    )
    expect(s.marks).toEqual([
      [0, '11', '0'.repeat(64), rows[0]![15]],
      [3, '14', rows[2]![15], 'e'.repeat(64)]
    ])
  })
})

// ------------------------------------------------------------------ the bulk writer's rows

/** The bulk writer as it was: auditBody per row, canonicalBody, rowHash, JSON.stringify of the rows. */
function referencePrepare(ctx: RequestContext, createdAt: string, seq0: bigint, prev0: string, entries: AuditEntry[]): { payload: unknown[]; last: string } {
  let seq = seq0
  let prev = prev0
  const rows = entries.map((entry) => {
    const b = referenceAuditBody(ctx, createdAt, entry)
    seq++
    const s = seq.toString()
    const hash = referenceRowHash(prev, s, referenceCanonicalJson(b))
    const row = {
      seq: s,
      created_at: b.createdAt,
      action: b.action,
      resource_type: b.resourceType,
      resource_id: b.resourceId,
      resource_name: b.resourceName,
      user_id: b.userId,
      user_ip: b.userIp,
      user_agent: b.userAgent,
      status: b.status,
      details: b.details,
      request_id: b.requestId,
      source: b.source,
      prev_hash: prev,
      row_hash: hash
    }
    prev = hash
    return row
  })
  return { payload: JSON.parse(JSON.stringify(rows)) as unknown[], last: prev }
}

/** A prepared batch's rows as BULK_AUDIT_INSERT stores them (the batch's shared values, seq and prev_hash filled in). */
function expand(p: PreparedAudits): Record<string, unknown>[] {
  const rows = JSON.parse(p.payload) as { a: string; t: string; i: string | null; n: string | null; s: string; d: unknown; h: string }[]
  return rows.map((r, k) => ({
    seq: (BigInt(p.first) + BigInt(k)).toString(),
    created_at: p.createdAt,
    action: r.a,
    resource_type: r.t,
    resource_id: r.i,
    resource_name: r.n,
    user_id: p.userId,
    user_ip: p.userIp,
    user_agent: p.userAgent,
    status: r.s,
    details: r.d,
    request_id: p.requestId,
    source: p.source,
    prev_hash: k === 0 ? p.prev : rows[k - 1]!.h,
    row_hash: r.h
  }))
}

/** What audit_bulk_open gives: the chain head and the server's stamp (time and login). */
function fakeTrx(): Knex.Transaction {
  return { raw: async () => ({ rows: [{ last_seq: '41', last_hash: 'f'.repeat(64), created_at: FAKE_TIME, db_user: FAKE_LOGIN }] }) } as unknown as Knex.Transaction
}

const entries = fc.array(
  fc.record(
    {
      action: fc.constantFrom('create', 'update', 'delete'),
      resourceType: fc.constantFrom('ip_allocation', 'ip_pool', 'user'),
      resourceId: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant(undefined)),
      resourceName: fc.oneof(fc.string({ maxLength: 300 }), fc.constant(null), fc.constant(undefined)),
      status: fc.constantFrom('success', 'failure', 'warning', undefined),
      details: fc.oneof(fc.constant(undefined), fc.record({ after: jsonData, before: jsonData, context: fc.dictionary(keys, jsonData, { maxKeys: 4 }) }), values)
    },
    { requiredKeys: ['action', 'resourceType'] }
  ),
  { maxLength: 8 }
)

const contexts = fc.record({
  actor: fc.oneof(fc.string({ maxLength: 300 }), fc.constant('admin')),
  roles: fc.constant(['admin'] as const),
  requestId: fc.string({ maxLength: 80 }),
  source: fc.constantFrom('import', 'cli', 'app'),
  ip: fc.constantFrom(undefined, '', '10.0.0.1', ' ::ffff:10.1.2.3 ', '2001:DB8::1', 'not an ip'),
  userAgent: fc.option(fc.string({ maxLength: 600 }), { nil: undefined }),
  replay: fc.option(fc.record({ idempotencyKey: fc.string(), queuedAt: fc.string(), replayedAt: fc.string() }), { nil: undefined })
}) as fc.Arbitrary<RequestContext>

describe('openBulkAudit prepare', () => {
  it('hashes and stores each row as the straightforward writer did', async () => {
    await fc.assert(
      fc.asyncProperty(contexts, entries, async (ctx, batch) => {
        const bulk = await openBulkAudit(fakeTrx(), ctx)
        let prepared: PreparedAudits | undefined
        let error: unknown
        try {
          prepared = bulk.prepare(batch as AuditEntry[])
        } catch (e) {
          error = e
        }
        const createdAt = prepared?.createdAt ?? new Date().toISOString()
        let want: ReturnType<typeof referencePrepare> | undefined
        let wantError: unknown
        try {
          want = referencePrepare(ctx, createdAt, 41n, 'f'.repeat(64), batch as AuditEntry[])
        } catch (e) {
          wantError = e
        }
        if (wantError) {
          // The reference could not store these details (a bigint): neither may the writer.
          expect(error).toBeDefined()
          return
        }
        expect(error).toBeUndefined()
        expect(prepared!.rows).toBe(batch.length)
        // Same rows, same hashes; the details' keys may come in another order (jsonb keeps none).
        expect(prepared!.first).toBe('42')
        expect(prepared!.prev).toBe('f'.repeat(64))
        expect(isDeepStrictEqual(JSON.parse(JSON.stringify(expand(prepared!))), want!.payload)).toBe(true)
      }),
      { numRuns: 1_000 }
    )
  })

  it('keeps the body canonicalBody defines', async () => {
    const ctx: RequestContext = { actor: 'admin', roles: ['admin'], requestId: 'r-1', source: 'import', ip: '::ffff:10.0.0.7' }
    const bulk = await openBulkAudit(fakeTrx(), ctx)
    const entry: AuditEntry = { action: 'create', resourceType: 'ip_allocation', resourceId: 7, resourceName: '10.0.0.9', details: { after: { ip: '10.0.0.9', password: 'x' }, context: { legacyId: 'a-1' } } }
    const [row] = expand(bulk.prepare([entry])) as { created_at: string; row_hash: string; seq: string }[]
    expect(row!.created_at).toBe(FAKE_TIME)
    const body = canonicalBody({ ...auditBody(ctx, entry), createdAt: FAKE_TIME, dbUser: FAKE_LOGIN })
    expect(body).toBe(referenceCanonicalJson(referenceAuditBody(ctx, row!.created_at, entry)))
    expect(body).toBe(
      `{"action":"create","createdAt":"${FAKE_TIME}","dbUser":"${FAKE_LOGIN}","details":{"after":{"ip":"10.0.0.9","password":"[redacted]"},"context":{"legacyId":"a-1"}},"requestId":"r-1",` +
        `"resourceId":"7","resourceName":"10.0.0.9","resourceType":"ip_allocation","source":"import","status":"success","userAgent":null,"userId":"admin","userIp":"10.0.0.7"}`
    )
    expect(row!.seq).toBe('42')
    expect(row!.row_hash).toBe(referenceRowHash('f'.repeat(64), '42', body))
  })
})

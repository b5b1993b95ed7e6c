/**
 * `audit verify` on a server decodes binary COPY tuples itself and rewrites PostgreSQL's text of each
 * jsonb `details` into canonical JSON without parsing it where it can (verify-copy.ts). Whatever the rows
 * hold, each row's hash input (previous hash, seq, canonical body) must be byte for byte the one the
 * cursor path builds from the same row (PostgreSQL's JSON of the row, JSON.parse, storedBody), which is
 * the writer's definition (tests/unit/audit-canonical.test.ts). Rows of random fields are stored as they
 * are (the guard trigger off: they need not form a chain) and read both ways from the real server, so the
 * jsonb text is PostgreSQL's own: keys in its order, its numbers (1.50, 1e300 as digits, big integers), its
 * escapes, non-ASCII keys and values.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { to } from 'pg-copy-streams'
import type pg from 'pg'
import { copyStatement, copyRowHashInputs, CopySplitter, hashCopyBatch } from '../../src/main/core/audit/verify-copy'
import { CopyOut } from '../../src/main/core/audit/verify-copy-out'
import { hashBatch, ROW_JSON, storedBody, type RowArray } from '../../src/main/core/audit/verify-batch'
import { Core } from '../../src/main/core'
import { freshDatabase, withClient } from '../support/db'

let url: string
let core: Core

beforeAll(async () => {
  url = await freshDatabase('audit_verify_copy')
  core = await Core.open({ databaseUrl: url, dataDir: '/nonexistent-netkeeper-test', migrate: true })
})

afterAll(async () => {
  await core?.close()
})

/** The whole binary COPY of the log, as verify reads it (one COPY). */
async function copyBytes(c: pg.Client): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  const stream = c.query(to(copyStatement(null, 1_000_000)))
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk)
  const splitter = new CopySplitter(1_000_000)
  const batches = chunks.flatMap((ch) => splitter.push(ch))
  const rest = splitter.finish()
  if (rest) batches.push(rest)
  expect(splitter.ended).toBe(true)
  expect(batches).toHaveLength(1)
  return batches[0]!.slice()
}

/** The cursor path's hash inputs for the same rows. */
async function cursorInputs(c: pg.Client): Promise<string[]> {
  const rows = (await c.query<{ r: string }>(`select ${ROW_JSON} as r from audit_logs order by seq, created_at`)).rows
  return rows.map(({ r }) => {
    const a = JSON.parse(r) as RowArray
    return `${a[14]}\n${a[0]}\n${storedBody(a)}`
  })
}

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.split('\u0000').join('').replace(/[\ud800-\udfff]/g, '')),
  fc.constantFrom('a"b', 'back\\slash', 'tab\there', 'line\nfeed', '\u0001\u001f\u007f', 'ünïcødé', '😀', '\u2028')
)
// Numbers as JSON text, so PostgreSQL's numeric keeps what was written (1.50 stays 1.50).
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.maxSafeInteger().map(String),
  fc.constantFrom('0', '-0', '1.50', '1e3', '1E-7', '0.1', '123456789012345678901234567890', '9007199254740993', '-12.0', '1e300', '4.35')
)
const key = fc.oneof(fc.constantFrom('a', 'b', 'B', 'aa', 'hostname', 'ip', 'owner', 'Z', '_', '__proto__', 'é', 'ö', '😀', 'k"q', 'x\ny', ''), text)
const json: fc.Arbitrary<string> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    text.map((s) => JSON.stringify(s)),
    numberText,
    fc.constantFrom('true', 'false', 'null'),
    fc.array(tie('value') as fc.Arbitrary<string>, { maxLength: 4 }).map((a) => `[${a.join(', ')}]`),
    fc.array(fc.tuple(key, tie('value') as fc.Arbitrary<string>), { maxLength: 5 }).map((m) => `{${m.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(', ')}}`)
  )
})).value as fc.Arbitrary<string>

const nullable = (a: fc.Arbitrary<string>) => fc.option(a, { nil: null })
const row = fc.record({
  // The table's checks hold action, status and source to their lists.
  action: fc.constantFrom('create', 'update', 'delete', 'login', 'error'),
  resourceType: fc.oneof(fc.constant('audit_log'), text),
  resourceId: nullable(text),
  resourceName: nullable(text),
  dbUser: nullable(text),
  userId: nullable(text),
  userIp: fc.option(fc.constantFrom('10.1.2.3', '::1', '2001:db8::ff', '::ffff:10.0.0.1', '192.168.0.0/16'), { nil: null }),
  userAgent: nullable(text),
  status: fc.constantFrom('success', 'failure', 'warning'),
  // details is NOT NULL; its JSON null is among json's values.
  details: json,
  requestId: nullable(text),
  source: fc.constantFrom('ui', 'cli', 'import', 'replay'),
  prevHash: text,
  rowHash: text,
  // Microseconds since the Unix epoch: now, the far past and future, before 2000 and 1970.
  micros: fc.oneof(fc.bigInt(-62_135_596_800_000_000n, 253_402_300_799_999_999n), fc.constantFrom(0n, -1n, 946_684_799_999_999n, 1_798_761_600_123_456n))
})

interface Row {
  action: string
  resourceType: string
  resourceId: string | null
  resourceName: string | null
  dbUser: string | null
  userId: string | null
  userIp: string | null
  userAgent: string | null
  status: string
  details: string
  requestId: string | null
  source: string
  prevHash: string
  rowHash: string
  micros: bigint
}

async function store(c: pg.Client, rows: Row[]): Promise<void> {
  await c.query('alter table audit_logs disable trigger audit_logs_no_update')
  try {
    await c.query('delete from audit_logs')
    await c.query(`select audit_partitions_ensure('2026-12-01'::timestamptz, 0)`)
    let seq = 1
    for (const r of rows) {
      await c.query(
        `insert into audit_logs (seq, created_at, action, resource_type, resource_id, resource_name, db_user, user_id, user_ip, user_agent, status, details,
                                 request_id, source, prev_hash, row_hash)
         values ($1, timestamptz 'epoch' + $2::bigint * interval '1 microsecond', $3, $4, $5, $6, $7, $8, $9::inet, $10, $11, $12::jsonb, $13, $14, $15, $16)`,
        [seq++, r.micros.toString(), r.action, r.resourceType, r.resourceId, r.resourceName, r.dbUser, r.userId, r.userIp, r.userAgent, r.status, r.details, r.requestId, r.source, r.prevHash, r.rowHash]
      )
    }
  } finally {
    await c.query('alter table audit_logs enable trigger audit_logs_no_update')
  }
}

describe('binary COPY decoding for verify', () => {
  it('builds the hash input of every row exactly as the cursor path does', async () => {
    await withClient(url, async (c) => {
      await c.query(`set timezone = 'UTC'`)
      let rows = 0
      await fc.assert(
        fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 25 }), async (batch) => {
          await store(c, batch)
          const bytes = await copyBytes(c)
          const expected = await cursorInputs(c)
          expect(copyRowHashInputs(bytes)).toEqual(expected)
          rows += batch.length
        }),
        { numRuns: 60 }
      )
      expect(rows).toBeGreaterThan(100)
    })
  })

  it('builds rows that repeat the row before in all but a field or two (copied parts) as the cursor path does', async () => {
    // Rows appended together share most fields: verify copies those parts of the hash input from the row
    // before. Each row here is the one before with a few fields changed (or none), some to values large
    // enough that the output array must grow in the middle of a row (a huge text, or details on the general
    // path), after which nothing may be copied from the row before (only details and db_user are text columns
    // without a length limit).
    const big = 'x'.repeat(40_000)
    const value: Record<keyof Row, fc.Arbitrary<unknown>> = {
      action: fc.constantFrom('create', 'update', 'delete'),
      resourceType: fc.oneof(fc.constantFrom('ip_allocation', 'audit_log'), text),
      resourceId: fc.oneof(fc.constantFrom('1', '2', null, '"'.repeat(255)), text),
      resourceName: fc.oneof(fc.constantFrom('10.0.0.1', null), text),
      // db_user is text: a huge one makes the array grow when the row starts.
      dbUser: fc.constantFrom('postgres', 'nk_admin', null, big),
      userId: fc.constantFrom('seed', 'alice', null),
      userIp: fc.constantFrom('10.1.2.3', '::1', null),
      userAgent: fc.constantFrom(null, 'ua', 'a"b'),
      status: fc.constantFrom('success', 'failure'),
      details: fc.oneof(fc.constantFrom('{"after": {"ip": "10.0.0.1", "owner": "b", "hostname": "h"}}', '{}', 'null', `{"n": 1.50, "s": "${big}"}`, `{"s": "${big}"}`), json),
      requestId: fc.constantFrom('r1', 'r2', null),
      source: fc.constantFrom('cli', 'import'),
      prevHash: text,
      rowHash: text,
      micros: fc.constantFrom(0n, 1n, 1_798_761_600_123_456n)
    }
    const start: Row = { action: 'create', resourceType: 'ip_allocation', resourceId: '1', resourceName: '10.0.0.1', dbUser: 'postgres', userId: 'seed', userIp: null, userAgent: null, status: 'success', details: '{"after": {"ip": "10.0.0.1", "owner": "b", "hostname": "h"}}', requestId: 'r1', source: 'import', prevHash: 'p', rowHash: 'h', micros: 1n }
    const fields = Object.keys(value) as (keyof Row)[]
    const change = fc.array(fc.constantFrom(...fields).chain((k) => value[k].map((v) => [k, v] as const)), { maxLength: 2 })
    await withClient(url, async (c) => {
      await c.query(`set timezone = 'UTC'`)
      let copied = 0
      await fc.assert(
        fc.asyncProperty(fc.array(change, { minLength: 2, maxLength: 30 }), async (changes) => {
          const rows: Row[] = []
          let r = start
          for (const ch of changes) {
            r = { ...r, ...Object.fromEntries(ch) }
            rows.push(r)
            if (!ch.length) copied++
          }
          await store(c, rows)
          expect(copyRowHashInputs(await copyBytes(c))).toEqual(await cursorInputs(c))
        }),
        { numRuns: 40 }
      )
      expect(copied).toBeGreaterThan(10)
    })
  })

  it('rewrites the tricky jsonb values as canonicalJson(JSON.parse(text)) does', async () => {
    // Each one either takes the direct rewrite or must be seen to need the general path.
    const tricky = [
      '{"ip": "10.0.0.1", "owner": "bench", "hostname": "h1"}',
      '{"b": 1, "a": {"d": [1, 2, {"z": 0, "y": -5}], "c": null}, "": true}',
      '{"B": 1, "a": 2, "_": 3, "Z": 4}',
      '{"é": 1, "e": 2, "😀": 3, "\uffff": 4, "ö": 5}',
      '{"k\\"q": 1, "x\\ny": 2, "__proto__": {"a": 1}}',
      // Numbers one per row: any one that needs the general path sends its whole value there.
      ...['9007199254740993', '123456789012345', '-123456789012345', '1234567890123456', '-0', '0', '-12', '1.50', '1e3', '1E-7', '0.1', '1e300', '4.35', '-12.0'].map(
        (n) => `{"n": ${n}, "s": "x"}`
      ),
      '"tab\\there \\u0001 \\u001f \\" \\\\ \\u2028 😀 \\ud83d\\ude00"',
      '{"a": "\\b\\f\\n\\r\\t\\u000bx"}',
      '123456789012345678901234567890',
      '{}', '[]', '[[], {}, [{}]]', 'null', 'true', '"x"', '1.0'
    ]
    await withClient(url, async (c) => {
      await c.query(`set timezone = 'UTC'`)
      const base = { action: 'update', resourceType: 'ip_pool', resourceId: '1', resourceName: null, dbUser: null, userId: null, userIp: null, userAgent: null, status: 'success', requestId: null, source: 'cli', prevHash: 'p', rowHash: 'h', micros: 0n }
      await store(c, tricky.map((details) => ({ ...base, details })))
      const got = copyRowHashInputs(await copyBytes(c))
      const expected = await cursorInputs(c)
      expect(got).toHaveLength(tricky.length)
      for (let i = 0; i < tricky.length; i++) expect(got[i], tricky[i]).toBe(expected[i])
    })
  })

  it('reads a COPY off the socket into the same batches, and gives the connection back after an error', async () => {
    await withClient(url, async (c) => {
      // 16 columns as verify's COPY sends them (seq a bigint): 20,000 rows, in batches of 3,000.
      const cols = (fail: string) =>
        `select g::bigint, timestamptz '2026-12-01 10:00', 'create', 't', g::text, null, null, null, null, null, 's', ${fail}, 'r', 'cli', md5(g::text), md5((g + 1)::text) from generate_series(1, 20000) g`
      const read = async (sql: string, splitter: CopySplitter): Promise<Uint8Array[]> => {
        const copy = new CopyOut(`copy (${sql}) to stdout (format binary)`, splitter)
        c.query(copy as never)
        const out: Uint8Array[] = []
        for await (const b of copy.batches()) out.push(b.slice())
        return out
      }
      const good = new CopySplitter(3000)
      const batches = await read(cols("'{}'::jsonb"), good)
      const rest = good.finish()
      if (rest) batches.push(rest.slice())
      expect(good.ended).toBe(true)
      expect(batches.map((b) => hashCopyBatch(b).count)).toEqual([3000, 3000, 3000, 3000, 3000, 3000, 2000])
      // The same bytes as pg-copy-streams reads.
      const chunks: Buffer[] = []
      for await (const ch of c.query(to(`copy (${cols("'{}'::jsonb")}) to stdout (format binary)`)) as AsyncIterable<Buffer>) chunks.push(ch)
      const other = new CopySplitter(3000)
      const expected = chunks.flatMap((ch) => other.push(ch))
      expect(expected).toHaveLength(6)
      for (let i = 0; i < 6; i++) expect(Buffer.from(batches[i]!).equals(Buffer.from(expected[i]!)), `batch ${i}`).toBe(true)
      // An error from the server in the middle of the rows: the error, then the connection works on.
      await expect(read(cols("(case when g = 15000 then 1 / 0 else 0 end)::text::jsonb"), new CopySplitter(3000))).rejects.toThrow(/division by zero/)
      expect((await c.query('select 41 + 1 as n')).rows[0].n).toBe(42)
      // A stream that is not verify's (one column): the splitter's error, and the connection works on.
      await expect(read('select g from generate_series(1, 5000) g', new CopySplitter(3000))).rejects.toThrow(/a COPY tuple of 1 fields/)
      expect((await c.query('select 41 + 1 as n')).rows[0].n).toBe(42)
    })
  })

  it('gives the summary hashBatch gives: breaks, purge runs and archives, marks', async () => {
    await withClient(url, async (c) => {
      await c.query(`set timezone = 'UTC'`)
      // Rows that look like a chain in places (so some continue the row before) and purge records.
      const runs = JSON.stringify({ context: { runs: [['1', '2', 'ab'], ['5', '9', 'cd']], archive: { file: 'x.jsonl.gz', sha256: 'ff' } } })
      const base = { action: 'delete', resourceId: null, resourceName: null, dbUser: 'u', userId: null, userIp: null, userAgent: null, status: 'success', requestId: null, source: 'cli', micros: 1_798_761_600_000_000n }
      await store(c, [
        { ...base, resourceType: 'audit_log', details: runs, prevHash: 'a', rowHash: 'b' },
        { ...base, resourceType: 'audit_log', details: '{"context": {"runs": "not a list"}}', prevHash: 'b', rowHash: 'c' },
        { ...base, resourceType: 'ip_pool', details: runs, prevHash: 'c', rowHash: 'd' },
        { ...base, resourceType: 'audit_log', details: 'null', prevHash: 'x', rowHash: 'e' }
      ])
      const bytes = await copyBytes(c)
      const json = (await c.query<{ r: string }>(`select ${ROW_JSON} as r from audit_logs order by seq, created_at`)).rows.map((x) => x.r)
      const want = new Set(['2', '4'])
      expect(hashCopyBatch(bytes, want)).toEqual(hashBatch(json, want))
      expect(hashCopyBatch(bytes).purgeRuns).toEqual([['1', ['1:2:ab', '5:9:cd']]])
    })
  })
})

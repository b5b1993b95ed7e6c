/**
 * `audit verify` reads the chain in batches hashed apart from the walk (docs/audit.md#how-verify-reads-the-chain):
 * wherever the batches begin and end, whether the rows come through the cursor (as on the embedded store)
 * or as binary COPY (on a server; several COPYs, each taking up where the one before ended), and whether a
 * worker thread or the main thread hashes them, the report is the same (the problem, its kind, seq, message and file, `checked`, the first and last row),
 * with archives too: purge archives fitted where a purged run is bridged, copy archives compared at their
 * edges, which a batch border may split. Each case breaks the chain (or brings another database's archive)
 * and compares every reading with one batch of everything.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { readArchiveFolder } from '../../src/main/core/audit/archive'
import { to } from 'pg-copy-streams'
import { verify, type VerifyReading } from '../../src/main/core/audit/verify'
import { hashBatch, ROW_JSON } from '../../src/main/core/audit/verify-batch'
import { copyStatement, CopySplitter, hashCopyBatch } from '../../src/main/core/audit/verify-copy'
import { appendAudit } from '../../src/main/core/audit/writer'
import { makeContext } from '../../src/main/core/context'
import type { VerifyReport } from '../../src/shared/audit'
import { ensureBuilt } from '../support/build'
import { root } from '../support/cli'
import { ctxAs } from '../support/core'
import { freshDatabase, withClient } from '../support/db'

let core: Core
let other: Core
let url: string
let work: string
/** Archives of this database: two purges and a copy of the live rows. */
let archives: string
/** Those, plus a copy of another database's rows (same seqs, other hashes). */
let foreign: string
const admin = ctxAs('admin', 'alice')
const DAY = 86400_000

async function seed(c: Core, n: number, resourceType: string): Promise<void> {
  const ctx = makeContext({ actor: 'seeder', roles: ['admin'], source: 'cli' })
  await c.db.knex.transaction(async (trx) => {
    for (let i = 0; i < n; i++) await appendAudit(trx, ctx, { action: 'update', resourceType, resourceId: i, resourceName: `${resourceType}-${i}`, details: { after: { n: i, note: 'a ? b' } } })
  })
}

/** Tampers as a superuser would: with the guard trigger switched off. */
async function tamper(sql: string): Promise<void> {
  await withClient(url, async (c) => {
    await c.query('alter table audit_logs disable trigger audit_logs_no_update')
    try {
      await c.query(sql)
    } finally {
      await c.query('alter table audit_logs enable trigger audit_logs_no_update')
    }
  })
}

/** The report without its timing. */
const facts = (r: VerifyReport): Omit<VerifyReport, 'seconds'> => {
  const { seconds: _s, ...rest } = r
  return rest
}

/** Every reading gives the report one batch of everything (through the cursor) gives; returns that report. */
async function sameEverywhere(dir?: string): Promise<Omit<VerifyReport, 'seconds'>> {
  const folder = dir ? await readArchiveFolder(dir) : undefined
  const whole = facts(await verify(core.db.knex, undefined, folder, { batchRows: 1_000_000, threads: 0, via: 'cursor' }))
  const readings: VerifyReading[] = [
    ...[1, 2, 3, 5, 8].map((batchRows) => ({ batchRows, via: 'cursor' as const })),
    { batchRows: 1_000_000, via: 'copy' },
    ...[1, 3, 8].flatMap((batchRows) => [1, 2, 7].map((copyRows) => ({ batchRows, copyRows, via: 'copy' as const })))
  ]
  for (const reading of readings) {
    const progress: number[] = []
    const r = await verify(core.db.knex, (n) => progress.push(n), folder, { ...reading, threads: 0 })
    expect(facts(r), JSON.stringify(reading)).toEqual(whole)
    // Progress counts up, one report per batch walked, and never past what was checked.
    expect([...progress].sort((a, b) => a - b)).toEqual(progress)
    expect(progress.every((n) => n <= whole.checked)).toBe(true)
  }
  return whole
}

beforeAll(async () => {
  url = await freshDatabase('audit_batches')
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-verify-batches-'))
  fs.mkdirSync(path.join(work, 'data'))
  fs.mkdirSync(path.join(work, 'other-data'))
  core = await Core.open({ databaseUrl: url, dataDir: path.join(work, 'data'), migrate: true })
  other = await Core.open({ databaseUrl: await freshDatabase('audit_batches_other'), dataDir: path.join(work, 'other-data'), migrate: true })

  // Runs to purge between rows that stay, twice over, so several runs and checkpoints sit inside batches.
  archives = path.join(work, 'archives')
  fs.mkdirSync(archives)
  await core.audit.setPolicy(admin, { resourceType: 'short_lived', retentionDays: 30 })
  for (const [n, type] of [[3, 'kept'], [4, 'short_lived'], [2, 'kept'], [1, 'short_lived'], [5, 'kept']] as const) await seed(core, n, type)
  await core.audit.purge(admin, { now: new Date(Date.now() + 40 * DAY), archiveDir: archives })
  for (const [n, type] of [[2, 'short_lived'], [3, 'kept'], [2, 'short_lived']] as const) await seed(core, n, type)
  await core.audit.purge(admin, { now: new Date(Date.now() + 40 * DAY), archiveDir: archives })
  await seed(core, 4, 'kept')
  // A copy of the live rows (its runs end where the purged runs begin), then more rows after it.
  expect(await core.audit.archiveLiveRows(admin, { archiveDir: archives })).not.toBeNull()
  await seed(core, 6, 'kept')

  // Another database's copy of its first rows: the same seqs, another chain.
  foreign = path.join(work, 'foreign')
  fs.mkdirSync(foreign)
  for (const f of fs.readdirSync(archives)) fs.copyFileSync(path.join(archives, f), path.join(foreign, f))
  // Their copy ends at a row that is live here (the policy's row, then three kept ones), so the walk knows
  // the chain's hash at its edge and must compare it.
  await seed(other, 3, 'elsewhere')
  const end = (await other.db.knex.raw<{ rows: { seq: string }[] }>(`select max(seq)::text as seq from audit_logs`)).rows[0]!.seq
  expect((await core.db.knex.raw<{ rows: unknown[] }>(`select 1 from audit_logs where seq = ?`, [end])).rows).toHaveLength(1)
  const theirs = path.join(work, 'theirs')
  fs.mkdirSync(theirs)
  await other.audit.archiveLiveRows(admin, { archiveDir: theirs })
  for (const f of fs.readdirSync(theirs)) fs.copyFileSync(path.join(theirs, f), path.join(foreign, f))
})

afterAll(async () => {
  await core?.close()
  await other?.close()
  if (work) fs.rmSync(work, { recursive: true, force: true })
})

describe('verify in batches', () => {
  it('gives the same report for an intact chain, with and without its archives', async () => {
    const plain = await sameEverywhere()
    expect(plain).toMatchObject({ ok: true, checkpoints: 4, firstSeq: '1', problem: null })
    expect(plain.checked).toBeGreaterThan(20)
    const proved = await sameEverywhere(archives)
    expect(proved).toMatchObject({ ok: true, archives: { files: 3 } })
  })

  it("names another database's copy at the same row, wherever the batches split it", async () => {
    const r = await sameEverywhere(foreign)
    expect(r).toMatchObject({ ok: false, problem: { kind: 'archive', message: expect.stringMatching(/does not agree with the chain at rows 1 to \d+/) } })
  })

  it('finds the same altered, missing and reordered rows, and a forged checkpoint', async () => {
    const rows = (await core.db.knex.raw<{ rows: { seq: string }[] }>(`select seq::text as seq from audit_logs order by seq`)).rows.map((x) => x.seq)
    const snapshot = (await core.db.knex.raw<{ rows: unknown[] }>(`select * from audit_logs order by seq`)).rows
    const restore = async (): Promise<void> => {
      await tamper(`delete from audit_logs`)
      await withClient(url, async (c) => {
        await c.query('alter table audit_logs disable trigger audit_logs_no_update')
        await c.query(`insert into audit_logs select * from json_populate_recordset(null::audit_logs, $1)`, [JSON.stringify(snapshot)])
        await c.query('alter table audit_logs enable trigger audit_logs_no_update')
      })
    }
    const mid = rows[Math.floor(rows.length / 2)]!
    const next = rows[Math.floor(rows.length / 2) + 1]!

    await tamper(`update audit_logs set details = jsonb_set(details, '{after,n}', '999') where seq = ${mid}`)
    expect(await sameEverywhere(archives)).toMatchObject({ ok: false, problem: { seq: mid, kind: 'altered' } })
    await restore()

    // The row right after a purged run: the gap then runs into the bridged run.
    const afterGap = rows.find((s, i) => i > 0 && BigInt(s) !== BigInt(rows[i - 1]!) + 1n)!
    for (const seq of [mid, afterGap, rows[0]!]) {
      await tamper(`delete from audit_logs where seq = ${seq}`)
      expect(await sameEverywhere(archives), `row ${seq} deleted`).toMatchObject({ ok: false, problem: { kind: 'missing' } })
      await restore()
    }

    await tamper(`update audit_logs set seq = -1 where seq = ${mid}; update audit_logs set seq = ${mid} where seq = ${next}; update audit_logs set seq = ${next} where seq = -1`)
    expect(await sameEverywhere(archives)).toMatchObject({ ok: false, problem: { seq: mid, kind: 'reordered' } })
    await restore()

    await tamper(`delete from audit_logs where seq = ${rows[rows.length - 1]}`)
    expect(await sameEverywhere()).toMatchObject({ ok: false, problem: { kind: 'missing' } })
    await restore()

    // A row inserted with the seq of another (another time, so the unique key lets it in): the walk meets
    // the two in (seq, created_at) order whatever the batches and COPYs, and reports the same problem.
    await tamper(`insert into audit_logs select gen_random_uuid(), seq, created_at + interval '1 millisecond', action, resource_type, resource_id, resource_name,
                    user_id, user_ip, user_agent, status, details, request_id, source, prev_hash, row_hash, db_user from audit_logs where seq = ${mid}`)
    expect(await sameEverywhere(archives)).toMatchObject({ ok: false, problem: { kind: 'missing' } })
    await restore()

    // A checkpoint no purge record lists, hiding rows deleted by hand.
    await tamper(`delete from audit_logs where seq = ${mid}`)
    await withClient(url, (c) =>
      c.query(`insert into audit_checkpoints (first_seq, last_seq, last_hash, rows) select seq, seq, row_hash, 1 from json_populate_recordset(null::audit_logs, $1) where seq = $2`, [JSON.stringify(snapshot), mid])
    )
    expect(await sameEverywhere()).toMatchObject({ ok: false, problem: { seq: mid, kind: 'checkpoint' } })
    await withClient(url, (c) => c.query(`delete from audit_checkpoints where first_seq = $1`, [mid]))
    await restore()
    expect((await verify(core.db.knex)).ok).toBe(true)
  })

  it('gives the same report from the built CLI, hashing in worker threads, in batches of three and four', async () => {
    // The worker runs as the built out/main/verify-worker.js (the TypeScript source cannot be loaded in a
    // worker under the test runner or tsx, where verify hashes in its own thread).
    await ensureBuilt()
    const worker = new Worker(path.join(root, 'out/main/verify-worker.js'))
    try {
      await new Promise((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      const rows = (await core.db.knex.raw<{ rows: { r: string }[] }>(`select ${ROW_JSON} as r from audit_logs order by seq limit 7`)).rows.map((x) => x.r)
      const answer = await new Promise<{ summary: unknown }>((resolve) => {
        worker.once('message', resolve)
        worker.postMessage({ id: 1, rows, want: ['2', '5'] })
      })
      expect(answer.summary).toEqual(hashBatch(rows, new Set(['2', '5'])))
      // And whole binary COPY tuples, moved to the worker as bytes.
      const bytes = await withClient(url, async (c) => {
        const splitter = new CopySplitter(7)
        const batches: Uint8Array[] = []
        for await (const chunk of c.query(to(copyStatement(null, 7))) as AsyncIterable<Buffer>) batches.push(...splitter.push(chunk))
        return batches[0]!
      })
      const copied = bytes.slice()
      const fromBytes = await new Promise<{ summary: unknown }>((resolve) => {
        worker.once('message', resolve)
        worker.postMessage({ id: 2, bytes, want: ['2', '5'] }, [bytes.buffer as ArrayBuffer])
      })
      expect(fromBytes.summary).toEqual(hashBatch(rows, new Set(['2', '5'])))
      expect(hashCopyBatch(copied, new Set(['2', '5']))).toEqual(fromBytes.summary)
    } finally {
      await worker.terminate()
    }

    const run = (args: string[], env: NodeJS.ProcessEnv): { code: number; report: VerifyReport } => {
      const r = spawnSync(process.execPath, [path.join(root, 'out/main/cli.js'), '--database-url', url, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' })
      return { code: r.status ?? -1, report: JSON.parse(r.stdout) as VerifyReport }
    }
    const broken = run(['audit', 'verify', '--json', '--archives', foreign], { NETKEEPER_VERIFY_THREADS: '1', NETKEEPER_VERIFY_BATCH: '3' })
    expect(broken.code).toBe(1)
    expect(facts(broken.report)).toEqual(facts(await verify(core.db.knex, undefined, await readArchiveFolder(foreign), { threads: 0 })))
    const ok = run(['audit', 'verify', '--json', '--archives', archives], { NETKEEPER_VERIFY_THREADS: '2', NETKEEPER_VERIFY_BATCH: '4' })
    expect(ok.code).toBe(0)
    expect(facts(ok.report)).toEqual(facts(await verify(core.db.knex, undefined, await readArchiveFolder(archives), { threads: 0 })))
  })
})

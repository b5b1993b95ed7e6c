/**
 * `npm run bench -- audit`: with 5,000,000 rows, viewer pages of 100 under six filter combinations;
 * export of 1,000,000 rows as CSV (time and the exporting process's peak memory); verification of a
 * 1,000,000-row chain (goal <= 5 s; also `npm run bench -- verify` alone); appends from 8 concurrent
 * writers; and (`trail`, audit-trail.ts) the signed export, verify-export and the archive before a purge of a
 * 1,000,000-row chain; and (`forward`, audit-forward.ts) forwarding to rsyslog over TCP.
 */
import { fork, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { AuditFilter } from '../src/shared/audit'
import { appendAudit, appendAudits, type AuditEntry } from '../src/main/core/audit/writer'
import { verify } from '../src/main/core/audit/verify'
import { makeContext } from '../src/main/core/context'
import { benchAuditTrail } from './audit-trail'
import { ensureBuilt } from '../tests/support/build'
import { benchAuditForward } from './audit-forward'
import { benchCtx, log, openCore, percentile, round, time, type BenchServer } from './util'

const ctx = benchCtx()

export async function benchAudit(srv: BenchServer): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}

  // 1. Five million rows for the viewer and the export. The chain is not checked here (verify has its own
  // database), so rows are generated set-based with placeholder hashes.
  const url5m = await srv.url('bench_audit5m')
  {
    const core = await openCore(url5m)
    const [, seedMs] = await time(async () => {
      await core.db.knex.raw(`alter table audit_logs disable trigger audit_logs_no_update`)
      await core.db.knex.raw(
        `insert into audit_logs (seq, created_at, action, resource_type, resource_id, resource_name, user_id, user_ip, user_agent,
                                 status, details, request_id, source, prev_hash, row_hash)
         select g, now() - make_interval(secs => (5000000 - g) * 6.3),
                (array['create','update','delete','update','update','login','authorize'])[1 + g % 7],
                (array['ip_allocation','ip_allocation','ip_pool','ldap_user','ldap_group','session'])[1 + g % 6],
                (g % 100000)::text, 'host-' || (g % 100000) || '.example.net', 'user-' || (g % 50),
                ('10.' || (g % 4) || '.' || (g % 256) || '.' || (g % 250 + 1))::inet, 'netkeeper-cli',
                case when g % 53 = 0 then 'failure' else 'success' end,
                jsonb_build_object('after', jsonb_build_object('hostname', 'web-' || (g % 5000), 'owner', 'team-' || (g % 40)),
                                   'context', jsonb_build_object('pool', 'pool-' || (g % 300))),
                md5(g::text), (array['ui','cli','import','replay'])[1 + g % 4], repeat('0', 64), md5(g::text) || md5(g::text)
           from generate_series(1, 5000000) g`
      )
      await core.db.knex.raw(`update audit_chain_head set last_seq = 5000000`)
      await core.db.knex.raw(`alter table audit_logs enable trigger audit_logs_no_update`)
      await core.db.knex.raw(`vacuum analyze audit_logs`)
    })
    log(`seeded 5M audit rows in ${round(seedMs / 1000, 1)} s`)
    // A quarter of the rows have source 'import': their text search copies are built as the app builds
    // them after an import (docs/audit.md#text-search), so the viewer is measured in the steady state.
    const [indexed, indexMs] = await time(() => core.auditSearch.drain())
    // Vacuumed (the trigram index's pending list merged) and flushed now, so neither autovacuum nor the
    // checkpoint the seeding and indexing call for runs under the measurements.
    await core.db.knex.raw(`vacuum analyze audit_import_search`)
    await core.db.knex.raw(`checkpoint`)
    log(`indexed ${indexed.indexed} imported rows for text search in ${round(indexMs / 1000, 1)} s`)
    out.importRowsSearchIndex = { rows: indexed.indexed, seconds: round(indexMs / 1000, 1) }
    const monthAgo = new Date(Date.now() - 30 * 86400_000).toISOString()
    const combos: Record<string, AuditFilter> = {
      newest: {},
      actionDelete: { action: 'delete' },
      typeAndFailure: { resourceType: 'ip_allocation', status: 'failure' },
      actorLastMonth: { actor: 'user-7', from: monthAgo },
      actorCidr: { ip: '10.2.0.0/16' },
      textInDetails: { text: 'web-4242' }
    }
    const viewer: Record<string, unknown> = {}
    for (const [name, f] of Object.entries(combos)) {
      const samples: number[] = []
      for (let i = 0; i < 25; i++) {
        // First page, then a page further down through the keyset cursor, alternately.
        const [page, ms] = await time(() => core.audit.list(ctx, { ...f, limit: 100 }))
        if (i >= 5) samples.push(ms)
        if (page.nextCursor) {
          const [, ms2] = await time(() => core.audit.list(ctx, { ...f, limit: 100, before: page.nextCursor! }))
          if (i >= 5) samples.push(ms2)
        }
      }
      viewer[name] = { p50Ms: percentile(samples, 50), p95Ms: percentile(samples, 95) }
    }
    out.viewer = { rows: 5_000_000, pageSize: 100, combos: viewer, worstP95Ms: Math.max(...Object.values(viewer).map((v) => (v as { p95Ms: number }).p95Ms)), goal: 'p95 <= 25 ms' }
    log(`viewer ${JSON.stringify(out.viewer)}`)
    await core.close()
  }

  // 2. Export 1,000,000 rows as CSV from a separate process, measuring its peak memory.
  {
    const worker = path.join(import.meta.dirname, 'audit-export-worker.ts')
    const result = await new Promise<{ rows: number; bytes: number; seconds: number; maxRssMiB: number }>((resolve, reject) => {
      const child = fork(worker, [url5m, '4000001'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      child.on('message', (m) => resolve(m as { rows: number; bytes: number; seconds: number; maxRssMiB: number }))
      child.on('error', reject)
      child.on('exit', (code) => code !== 0 && reject(new Error(`export worker exited ${code}`)))
    })
    out.exportCsv = { ...result, goal: '1,000,000 rows <= 10 s, peak memory <= 200 MB' }
    log(`exportCsv ${JSON.stringify(out.exportCsv)}`)
  }

  // 3. Verify a real 1,000,000-row chain.
  {
    out.verify = await benchAuditVerify(srv)

    // 4. Appends: 8 concurrent writers, each appending one row per call outside a transaction, as sign-in
    // events and refusals are written. The writer groups calls that arrive while one is in flight into one
    // audit_append and one commit (group commit, docs/audit.md).
    const writer = await openCore(await srv.url('bench_audit_append'), 8)
    const seconds = 10
    const deadline = performance.now() + seconds * 1000
    let rows = 0
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        const c = makeContext({ actor: `writer-${w}`, roles: ['admin'], source: 'cli' })
        while (performance.now() < deadline) {
          await appendAudit(writer.db.knex, c, { action: 'update', resourceType: 'ip_allocation', resourceId: rows, details: { after: { n: rows } } })
          rows++
        }
      })
    )
    const verified = await writer.audit.verify(ctx)
    out.appends = {
      writers: 8,
      mode: 'one appendAudit call per row outside a transaction (concurrent calls share commits)',
      seconds,
      rows,
      rowsPerSecond: Math.round(rows / seconds),
      chainIntact: verified.ok,
      goal: '>= 2,000 rows per second'
    }
    log(`appends ${JSON.stringify(out.appends)}`)

    // The same writers, each row in a transaction of its own (as a change appends inside its transaction):
    // nothing is shared, one commit per row. For comparison; the goal is the figure above.
    const deadline2 = performance.now() + seconds * 1000
    let rows2 = 0
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        const c = makeContext({ actor: `writer-${w}`, roles: ['admin'], source: 'cli' })
        while (performance.now() < deadline2) {
          await writer.db.knex.transaction((trx) => appendAudit(trx, c, { action: 'update', resourceType: 'ip_allocation', resourceId: rows2, details: { after: { n: rows2 } } }))
          rows2++
        }
      })
    )
    out.appendsOneTransactionEach = { writers: 8, mode: 'one transaction per row (no sharing)', seconds, rows: rows2, rowsPerSecond: Math.round(rows2 / seconds) }
    log(`appendsOneTransactionEach ${JSON.stringify(out.appendsOneTransactionEach)}`)
    await writer.close()
  }
  out.purgeMonth = await benchAuditPurgeMonth(srv)
  out.trail = await benchAuditTrail(srv)
  out.forward = await benchAuditForward(srv)
  return out
}

/**
 * `npm run bench -- verify` (and part of `audit`): seeds a real 1,000,000-row chain through the writer
 * (NETKEEPER_BENCH_VERIFY_ROWS, in thousands of 5,000, sets another size), then verifies it through the
 * core as the app does (binary COPY, hashed in worker threads: under tsx the workers run the TypeScript
 * source), through the core reading by the cursor instead (the embedded store's way, and the server's
 * before binary COPY), and once more through the built CLI (`netkeeper audit verify`, a fresh process:
 * what a person runs), with that process's wall time and peak memory.
 */
export async function benchAuditVerify(srv: BenchServer): Promise<Record<string, unknown>> {
  const url = await srv.url('bench_audit_chain')
  const core = await openCore(url)
  const batches = Math.max(1, Math.round(Number(process.env.NETKEEPER_BENCH_VERIFY_ROWS ?? 1_000_000) / 5000))
  try {
    const [, seedMs] = await time(async () => {
      const c = makeContext({ actor: 'seed', roles: ['admin'], source: 'import' })
      for (let b = 0; b < batches; b++) {
        const entries: AuditEntry[] = Array.from({ length: 5000 }, (_, i) => ({
          action: 'create',
          resourceType: 'ip_allocation',
          resourceId: b * 5000 + i,
          resourceName: `10.${b}.${i >> 8}.${i & 255}`,
          details: { after: { ip: `10.${b}.${i >> 8}.${i & 255}`, hostname: `h${i}.example.net`, owner: 'bench' }, context: { batch: b } }
        }))
        await core.db.knex.transaction((trx) => appendAudits(trx, c, entries))
      }
    })
    log(`seeded a ${batches * 5000}-row chain in ${round(seedMs / 1000, 1)} s`)
    await core.db.knex.raw(`vacuum analyze audit_logs`)
    const loadAverage = os.loadavg().map((x) => round(x, 2))
    const [report, ms] = await time(() => core.audit.verify(ctx))
    if (!report.ok) throw new Error(`verify failed on a clean chain: ${JSON.stringify(report.problem)}`)
    const [byCursor, cursorMs] = await time(() => verify(core.db.knex, undefined, undefined, { via: 'cursor' }))
    if (!byCursor.ok) throw new Error(`verify by cursor failed on a clean chain: ${JSON.stringify(byCursor.problem)}`)
    const cli = await verifyThroughCli(url)
    const out = {
      rows: report.checked,
      seconds: round(ms / 1000, 2),
      rowsPerSecond: Math.round(report.checked / (ms / 1000)),
      mode: 'in process, through the core: binary COPY, hashed in worker threads',
      byCursor: { seconds: round(cursorMs / 1000, 2), mode: 'in process, rows through a cursor as JSON texts (the embedded store; the server before binary COPY)' },
      loadAverage,
      cli,
      goal: '1,000,000 rows <= 5 s'
    }
    log(`verify ${JSON.stringify(out)}`)
    return out
  } finally {
    await core.close()
  }
}

/** `netkeeper --database-url URL audit verify --json` with the built bundle: wall time and peak RSS (GNU time). */
async function verifyThroughCli(url: string): Promise<Record<string, unknown>> {
  await ensureBuilt()
  const root = path.resolve(import.meta.dirname, '..')
  const rssFile = path.join(os.tmpdir(), `nk-bench-verify-${process.pid}.rss`)
  const useTime = fs.existsSync('/usr/bin/time')
  const argv = [process.execPath, path.join(root, 'bin', 'netkeeper.js'), '--database-url', url, 'audit', 'verify', '--json']
  const started = performance.now()
  const stdout = await new Promise<string>((resolve, reject) => {
    const [file, ...args] = useTime ? ['/usr/bin/time', '-f', '%M', '-o', rssFile, ...argv] : argv
    const child = spawn(file!, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout.on('data', (d: Buffer) => (text += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`netkeeper audit verify exited ${code}`))))
  })
  const seconds = round((performance.now() - started) / 1000, 2)
  const report = JSON.parse(stdout) as { ok: boolean; checked: number }
  if (!report.ok) throw new Error(`netkeeper audit verify failed on a clean chain: ${stdout}`)
  let maxRssMiB: number | null = null
  if (useTime) {
    maxRssMiB = round(Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024, 1)
    fs.rmSync(rssFile, { force: true })
  }
  return { command: 'netkeeper audit verify --json (built bundle, whole process)', rows: report.checked, seconds, maxRssMiB }
}

/**
 * `npm run bench -- audit-purge` (and part of `audit`): a retention purge of one month of 1,000,000 rows
 * (three months ago, every row due under a 30-day policy), archive included: the month's partition is
 * detached and dropped. Beside it, the same million rows in a month that also holds one row of a type
 * without a policy, so that month is only partly due and its rows are deleted one by one (the way every
 * purge went before the log was partitioned). Rows are generated set-based with placeholder hashes (the
 * purge archives and removes rows, it does not check their hashes; verify has its own benchmark).
 */
export async function benchAuditPurgeMonth(srv: BenchServer, rows = Number(process.env.NETKEEPER_BENCH_PURGE_ROWS ?? 1_000_000)): Promise<Record<string, unknown>> {
  const run = async (db: string, partial: boolean): Promise<Record<string, unknown>> => {
    const core = await openCore(await srv.url(db))
    const archiveDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-bench-purge-'))
    try {
      await core.audit.setPolicy(ctx, { resourceType: 'ip_allocation', retentionDays: 30, isActive: true })
      const k = core.db.knex
      const head = Number((await k.raw<{ rows: { s: string }[] }>(`select last_seq::text as s from audit_chain_head`)).rows[0]!.s)
      // The month three months back (UTC), its partition made ahead of the rows.
      const month = (await k.raw<{ rows: { m: Date }[] }>(`select (date_trunc('month', now() at time zone 'UTC') - interval '3 months') at time zone 'UTC' as m`)).rows[0]!.m
      await k.raw(`select audit_partitions_ensure(?::timestamptz, 2)`, [month])
      await k.raw(`alter table audit_logs disable trigger audit_logs_no_update`)
      // Seq numbers after the head: the month's rows come "later" in the chain than the policy rows, as a
      // restored or imported history might; the purge only needs them due.
      await k.raw(
        `insert into audit_logs (seq, created_at, action, resource_type, resource_id, resource_name, user_id, user_ip, user_agent,
                                 status, details, request_id, source, prev_hash, row_hash)
         select ? + g, ?::timestamptz + make_interval(secs => g * 2.0), 'create', case when ? and g = 1 then 'ip_pool' else 'ip_allocation' end,
                (g % 100000)::text, 'host-' || (g % 100000) || '.example.net', 'user-' || (g % 50),
                ('10.' || (g % 4) || '.' || (g % 256) || '.' || (g % 250 + 1))::inet, 'netkeeper-cli', 'success',
                jsonb_build_object('after', jsonb_build_object('hostname', 'web-' || (g % 5000), 'owner', 'team-' || (g % 40))),
                md5(g::text), 'cli', repeat('0', 64), md5(g::text) || md5(g::text)
           from generate_series(1, ?) g`,
        [head, month, partial, rows + (partial ? 1 : 0)]
      )
      await k.raw(`update audit_chain_head set last_seq = ?`, [head + rows + (partial ? 1 : 0)])
      await k.raw(`alter table audit_logs enable trigger audit_logs_no_update`)
      await k.raw(`vacuum analyze audit_logs`)
      await k.raw(`checkpoint`)
      const [report, ms] = await time(() => core.audit.purge(ctx, { archiveDir }))
      if (report.rows !== rows) throw new Error(`the purge removed ${report.rows} rows, not ${rows}`)
      const name = `audit_logs_${new Date(month).toISOString().slice(0, 7).replace('-', '_')}`
      const dropped = !(await k.raw<{ rows: { e: boolean }[] }>(`select to_regclass(?) is not null as e`, [name])).rows[0]!.e
      return { rows: report.rows, seconds: round(ms / 1000, 2), monthPartitionDropped: dropped, archiveBytes: report.archive?.bytes }
    } finally {
      await core.close()
      fs.rmSync(archiveDir, { recursive: true, force: true })
    }
  }
  const loadAverage = os.loadavg().map((x) => round(x, 2))
  const whole = await run('bench_audit_purge_month', false)
  log(`purgeMonth (whole month) ${JSON.stringify(whole)}`)
  const rowByRow = await run('bench_audit_purge_rows', true)
  log(`purgeMonth (row by row) ${JSON.stringify(rowByRow)}`)
  return { wholeMonth: whole, partialMonthRowByRow: rowByRow, loadAverage, mode: 'the whole purge through the core: plan, archive written and synced, removal, purge record, checkpoints', goal: 'report (issue 19 item 6)' }
}

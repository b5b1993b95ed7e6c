/**
 * `npm run bench -- audit-trail` (and part of `-- audit`): on a real 1,000,000-row chain, the export of
 * every row as CSV with its signed manifest, `verify-export` of that file (with no database, and against
 * the live chain), and a purge of all of them, archived first (time and the purging process's peak memory).
 */
import { fork } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { verifyExport, writeExportManifest } from '../src/main/core/audit/export-manifest'
import { AuditSigningKeys } from '../src/main/core/audit/signing'
import { appendAudits, type AuditEntry } from '../src/main/core/audit/writer'
import { makeContext } from '../src/main/core/context'
import { benchCtx, log, openCore, round, time, type BenchServer } from './util'

const ctx = benchCtx()
/** 1,000,000 rows (200 batches); NETKEEPER_BENCH_TRAIL_BATCHES makes a smaller chain for a quick look. */
const BATCHES = Number(process.env.NETKEEPER_BENCH_TRAIL_BATCHES ?? 200)

export async function benchAuditTrail(srv: BenchServer): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  const url = await srv.url('bench_audit_trail')
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-bench-trail-'))
  const core = await openCore(url)
  try {
    const [, seedMs] = await time(async () => {
      const c = makeContext({ actor: 'seed', roles: ['admin'], source: 'import' })
      for (let b = 0; b < BATCHES; b++) {
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
    log(`seeded a ${BATCHES * 5000}-row chain in ${round(seedMs / 1000, 1)} s`)

    // Export every row as CSV and sign its manifest (a key in memory: the bench has no OS keychain).
    const file = path.join(work, 'all.csv')
    const stream = fs.createWriteStream(file)
    const [report, exportMs] = await time(async () => {
      const r = await core.audit.export(ctx, stream, 'csv', {})
      await new Promise<void>((resolve) => stream.end(resolve))
      return r
    })
    const memory = new Map<string, string>()
    const keys = new AuditSigningKeys(work, { get: async (a) => memory.get(a) ?? null, set: async (a, s) => void memory.set(a, s), delete: async (a) => memory.delete(a) })
    await writeExportManifest(core.db.knex, keys, ctx, { file, report, filters: {}, database: 'bench' })
    out.exportCsvSigned = { rows: report.rows, bytes: report.bytes, seconds: round(exportMs / 1000, 2) }
    log(`exportCsvSigned ${JSON.stringify(out.exportCsvSigned)}`)

    const [v, verifyMs] = await time(() => verifyExport(file))
    out.verifyExportCsv = { rows: v.rows, ok: v.ok, seconds: round(verifyMs / 1000, 2), goal: '1,000,000-row CSV export <= 10 s' }
    log(`verifyExportCsv ${JSON.stringify(out.verifyExportCsv)}`)
    const [live, liveMs] = await time(() => verifyExport(file, { knex: core.db.knex }))
    out.verifyExportCsvLive = { rows: live.rows, ok: live.ok, compared: live.live?.compared, seconds: round(liveMs / 1000, 2) }
    log(`verifyExportCsvLive ${JSON.stringify(out.verifyExportCsvLive)}`)
    fs.rmSync(file, { force: true })

    // The archive alone (`audit archive`: the same writer a purge uses, nothing removed), then the purge of all
    // of them, archived first; each in a process of its own so its peak memory is its own.
    const copies = path.join(work, 'copy')
    fs.mkdirSync(copies)
    const worker = (mode: string, dir: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const child = fork(path.join(import.meta.dirname, 'audit-archive-worker.ts'), [url, dir, mode], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
        child.on('message', (m) => resolve(m as Record<string, unknown>))
        child.on('exit', (code) => (code ? reject(new Error(`the ${mode} worker exited with ${code}`)) : undefined))
      })
    out.archiveOnly = { ...(await worker('copy', copies)), goal: 'archive of 1,000,000 rows before a purge <= 15 s, <= 200 MB' }
    log(`archiveOnly ${JSON.stringify(out.archiveOnly)}`)
    fs.rmSync(copies, { recursive: true, force: true })
    await core.audit.setPolicy(ctx, { resourceType: 'ip_allocation', retentionDays: 1 })
    const archives = path.join(work, 'archive')
    fs.mkdirSync(archives)
    out.archivePurge = { ...(await worker('purge', archives)), mode: 'the whole purge: plan, archive, delete (a row trigger and every index), checkpoints' }
    log(`archivePurge ${JSON.stringify(out.archivePurge)}`)
    const [proof, proofMs] = await time(() => core.audit.verify(ctx, undefined, { archives }))
    out.verifyArchives = { ok: proof.ok, archivedRows: proof.archives?.rows, seconds: round(proofMs / 1000, 2) }
    log(`verifyArchives ${JSON.stringify(out.verifyArchives)}`)
  } finally {
    await core.close()
    fs.rmSync(work, { recursive: true, force: true })
  }
  return out
}

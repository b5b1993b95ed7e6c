/**
 * Nothing deleted unasked, and nothing deleted before it is archived (docs/audit.md#retention, #archives):
 * no purge without a policy, even by the background run; the archive is written and synced before the rows
 * go, and a folder that cannot take it stops the purge with nothing removed; `verify --archives` proves the
 * whole history from the first row and names a missing, overlapping, altered, shortened or reordered
 * archive; a rollback that would drop a non-empty audit log refuses unless an archive holds every row.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { migrationNames } from '../../migrations/names'
import { appendAudit } from '../../src/main/core/audit/writer'
import { makeContext } from '../../src/main/core/context'
import { cli } from '../support/cli'
import { ctxAs } from '../support/core'
import { freshDatabase } from '../support/db'

let core: Core
let url: string
let dataDir: string
let work: string
const admin = ctxAs('admin', 'alice')
const DAY = 86400_000

async function seed(n: number, resourceType: string): Promise<void> {
  const ctx = makeContext({ actor: 'seeder', roles: ['admin'], source: 'cli' })
  await core.db.knex.transaction(async (trx) => {
    for (let i = 0; i < n; i++) await appendAudit(trx, ctx, { action: 'update', resourceType, resourceId: i, resourceName: `${resourceType}-${i}`, details: { after: { n: i } } })
  })
}

const count = async (where = 'true'): Promise<number> =>
  Number((await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from audit_logs where ${where}`)).rows[0]!.n)

/** A copy of the archive folder to break, so each case starts from the good one. */
function copyOf(dir: string): string {
  const to = fs.mkdtempSync(path.join(work, 'case-'))
  for (const f of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, f), path.join(to, f))
  return to
}

const dataFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl.gz')).sort()
const readRows = (file: string): string[] => zlib.gunzipSync(fs.readFileSync(file)).toString('utf8').trim().split('\n')
const writeRows = (file: string, lines: string[]): void => fs.writeFileSync(file, zlib.gzipSync(lines.join('\n') + '\n'))

beforeAll(async () => {
  url = await freshDatabase('audit_archive')
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-archive-'))
  dataDir = path.join(work, 'data')
  fs.mkdirSync(dataDir)
  core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
})
afterAll(async () => {
  await core?.close()
  fs.rmSync(work, { recursive: true, force: true })
})

describe('nothing deleted unasked', () => {
  it('keeps every row of a type without a policy, whatever its age, even in the background run', async () => {
    await seed(5, 'no_policy')
    await seed(4, 'kept_forever')
    await core.audit.setPolicy(admin, { resourceType: 'kept_forever', retentionDays: null })
    await core.audit.setPolicy(admin, { resourceType: 'switched_off', retentionDays: 1, isActive: false })
    await seed(2, 'switched_off')
    // Ten years on, as the owner may ask: nothing is due.
    const dry = await core.audit.purge(admin, { dryRun: true, now: new Date(Date.now() + 3650 * DAY) })
    expect(dry).toMatchObject({ rows: 0, byType: {}, cutoffs: { kept_forever: null } })
    expect(await core.audit.purge(admin, { now: new Date(Date.now() + 3650 * DAY) })).toMatchObject({ rows: 0, purgeSeq: null, archive: null })
    // The server refuses the old default-days purge outright: it is gone.
    await expect(core.db.knex.raw(`select * from audit_purge_runs(now() + interval '10 years', 365, false)`)).rejects.toThrow(/does not exist/)

    // The background run (start, then daily) removes nothing either, and Settings says when it runs next.
    const before = await count()
    core.startMaintenance(60_000)
    const outlook = await core.purgeOutlook(admin)
    expect(outlook.nextRunAt).not.toBeNull()
    expect(Date.parse(outlook.nextRunAt!) - Date.now()).toBeGreaterThan(30_000)
    expect(outlook).toMatchObject({ archiveDir: path.join(dataDir, 'audit-archive'), report: { rows: 0 } })
    await new Promise((r) => setTimeout(r, 500))
    expect(await count()).toBe(before)
    expect(fs.existsSync(path.join(dataDir, 'audit-archive')) ? dataFiles(path.join(dataDir, 'audit-archive')) : []).toEqual([])
  })
})

describe('archive before purge', () => {
  let archives: string

  it('writes the rows to a gzipped JSON Lines archive with a manifest before removing them', async () => {
    archives = path.join(work, 'archives')
    fs.mkdirSync(archives)
    await seed(6, 'short_lived')
    await seed(2, 'kept_forever')
    await seed(3, 'short_lived')
    await core.audit.setPolicy(admin, { resourceType: 'short_lived', retentionDays: 30 })
    const in40 = new Date(Date.now() + 40 * DAY)
    const preview = await core.audit.previewPurge(admin, 40 * DAY + 60_000)
    expect(preview).toMatchObject({ rows: 9, ranges: 2, byType: { short_lived: 9 } })

    const done = await core.audit.purge(admin, { now: in40, archiveDir: archives })
    expect(done).toMatchObject({ rows: 9, ranges: 2, byType: { short_lived: 9 }, archive: { rows: 9, dir: archives } })
    expect(await count(`resource_type = 'short_lived'`)).toBe(0)
    const files = fs.readdirSync(archives).sort()
    expect(files).toHaveLength(2)
    const manifest = JSON.parse(fs.readFileSync(done.archive!.manifest, 'utf8'))
    const lines = readRows(done.archive!.file).map((l) => JSON.parse(l) as { seq: string; resourceType: string; prevHash: string; rowHash: string })
    expect(lines.map((l) => l.resourceType)).toEqual(Array(9).fill('short_lived'))
    expect(manifest).toMatchObject({
      kind: 'netkeeper-audit-archive',
      purpose: 'purge',
      rows: 9,
      firstSeq: lines[0]!.seq,
      lastSeq: lines[8]!.seq,
      hashBeforeFirst: lines[0]!.prevHash,
      lastHash: lines[8]!.rowHash,
      purgeSeq: done.purgeSeq,
      sha256: done.archive!.sha256
    })
    expect(manifest.runs).toHaveLength(2)
    // The purge record, a hashed row of the chain, names the archive and its SHA-256.
    const rec = await core.audit.get(admin, done.purgeSeq!)
    expect(rec.details.context).toMatchObject({ rows: 9, archive: { file: path.basename(done.archive!.file), sha256: done.archive!.sha256 } })
    expect(manifest.purgeRowHash).toBe(rec.rowHash)

    expect(await core.audit.verify(admin)).toMatchObject({ ok: true })
    expect(await core.audit.verify(admin, undefined, { archives })).toMatchObject({ ok: true, archives: { files: 1, rows: 9 } })
  })

  it('proves the whole history across several purges, from the core and the CLI', async () => {
    await seed(3, 'short_lived')
    const done = await core.audit.purge(admin, { now: new Date(Date.now() + 40 * DAY), archiveDir: archives })
    expect(done.rows).toBe(3)
    expect(dataFiles(archives)).toHaveLength(2)
    expect(await core.audit.verify(admin, undefined, { archives })).toMatchObject({ ok: true, checkpoints: 3, archives: { files: 2, rows: 12 } })
    const r = await cli(['--database-url', url, 'audit', 'verify', '--archives', archives])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/audit chain intact: .*3 purge checkpoint\(s\); 2 archive\(s\) in .* hold the 12 purged row\(s\)/)
  })

  it('names a missing archive, an overlapping one, an altered, removed or reordered row, and a swapped manifest', async () => {
    const [first, second] = dataFiles(archives) as [string, string]
    const check = async (dir: string) => (await core.audit.verify(admin, undefined, { archives: dir })).problem

    // Missing: both files of the first archive gone.
    let dir = copyOf(archives)
    fs.rmSync(path.join(dir, first))
    fs.rmSync(path.join(dir, first + '.manifest.json'))
    expect(await check(dir)).toMatchObject({ kind: 'archive', message: expect.stringMatching(/^rows \d+ to \d+, removed by the purge recorded at seq \d+, are in no archive/) })
    // Only the data file gone: named as missing.
    dir = copyOf(archives)
    fs.rmSync(path.join(dir, second))
    expect(await check(dir)).toMatchObject({ kind: 'archive', file: second, message: expect.stringContaining(`archive ${second} is missing`) })

    // Overlapping: the same rows under a second name.
    dir = copyOf(archives)
    const dup = first.replace(/-([0-9a-f]{8})\.jsonl\.gz$/, '-00000000.jsonl.gz')
    fs.copyFileSync(path.join(dir, first), path.join(dir, dup))
    const m = JSON.parse(fs.readFileSync(path.join(dir, first + '.manifest.json'), 'utf8'))
    fs.writeFileSync(path.join(dir, dup + '.manifest.json'), JSON.stringify({ ...m, file: dup }))
    expect(await check(dir)).toMatchObject({ kind: 'archive', message: expect.stringMatching(/both hold row \d+ \(they overlap\)/) })

    // One row altered (its details changed): named by its sequence number.
    dir = copyOf(archives)
    let lines = readRows(path.join(dir, first))
    const victim = JSON.parse(lines[2]!) as { seq: string; details: { after: { n: number } } }
    victim.details.after.n = 999
    lines[2] = JSON.stringify(victim)
    writeRows(path.join(dir, first), lines)
    expect(await check(dir)).toMatchObject({ kind: 'archive', seq: victim.seq, file: first, message: `archive ${first}: row ${victim.seq} was altered: its contents no longer match its hash` })

    // One row removed from the middle of a run.
    dir = copyOf(archives)
    lines = readRows(path.join(dir, first))
    const gone = (JSON.parse(lines[1]!) as { seq: string }).seq
    writeRows(path.join(dir, first), [lines[0]!, ...lines.slice(2)])
    expect(await check(dir)).toMatchObject({ kind: 'archive', seq: gone, message: `archive ${first}: row ${gone} is missing` })

    // Two rows swapped.
    dir = copyOf(archives)
    lines = readRows(path.join(dir, first))
    writeRows(path.join(dir, first), [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)])
    expect(await check(dir)).toMatchObject({ kind: 'archive', file: first, message: expect.stringMatching(/out of order/) })

    // A byte changed that no row's hash covers (a trailing line): caught by the file's SHA-256.
    dir = copyOf(archives)
    writeRows(path.join(dir, first), [...readRows(path.join(dir, first)), ''])
    expect(await check(dir)).toMatchObject({ kind: 'archive', message: expect.stringContaining('does not match its manifest (SHA-256') })

    // A rewritten archive with a matching manifest still differs from what the purge record names.
    dir = copyOf(archives)
    lines = readRows(path.join(dir, first))
    writeRows(path.join(dir, first), lines)
    const data = fs.readFileSync(path.join(dir, first))
    const mf = JSON.parse(fs.readFileSync(path.join(dir, first + '.manifest.json'), 'utf8'))
    const { createHash } = await import('node:crypto')
    fs.writeFileSync(path.join(dir, first + '.manifest.json'), JSON.stringify({ ...mf, sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length }))
    expect(await check(dir)).toMatchObject({ kind: 'archive', message: expect.stringContaining(`is not the one the purge recorded at seq ${mf.purgeSeq} wrote`) })

    // The CLI exits 1 and names the file.
    dir = copyOf(archives)
    fs.rmSync(path.join(dir, second))
    const r = await cli(['--database-url', url, 'audit', 'verify', '--archives', dir])
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(`(archive): archive ${second} is missing`)
  })

  it('stops the purge with nothing removed when the archive folder cannot be written', async () => {
    await seed(4, 'short_lived')
    const due = await count(`resource_type = 'short_lived'`)
    const head = await count()
    const in40 = new Date(Date.now() + 40 * DAY)
    // A configured folder that does not exist is never created: a share that is not mounted must not fill the local disk.
    await expect(core.audit.purge(admin, { now: in40, archiveDir: path.join(work, 'not-there') })).rejects.toMatchObject({
      code: 'VALIDATION',
      details: { field: 'archiveDir' },
      message: expect.stringContaining('does not exist')
    })
    // A folder the process may not write to (immutable even for root).
    const locked = path.join(work, 'locked')
    fs.mkdirSync(locked)
    let immutable = true
    try {
      execFileSync('chattr', ['+i', locked], { stdio: 'ignore' })
    } catch {
      immutable = false
      fs.chmodSync(locked, 0o500)
    }
    try {
      if (immutable || process.getuid?.() !== 0) {
        await expect(core.audit.purge(admin, { now: in40, archiveDir: locked })).rejects.toMatchObject({
          code: 'UNAVAILABLE',
          message: expect.stringMatching(/archive folder .*locked cannot be written \((EPERM|EACCES)\); nothing was archived or removed/)
        })
      }
    } finally {
      if (immutable) execFileSync('chattr', ['-i', locked])
    }
    // A folder that fills up half-way: the write fails, the partial file goes, nothing is removed.
    const full = path.join(work, 'full')
    fs.mkdirSync(full)
    let mounted = false
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', full], { stdio: 'ignore' })
      mounted = true
    } catch {
      console.warn('[audit-archive] cannot mount a small tmpfs here: the disk-full case is skipped')
    }
    try {
      if (mounted) {
        await seed(400, 'short_lived')
        // Where the disk fills (the data file, its sync, the manifest) decides the words after the folder:
        // the refusal names the folder and the system's reason, and says that nothing was removed.
        const refused = await core.audit.purge(admin, { now: in40, archiveDir: full }).then(
          () => null,
          (e: unknown) => e as { code?: string; message?: string; details?: { field?: string } }
        )
        expect(refused, 'the purge must be refused when the archive folder is full').not.toBeNull()
        expect({ code: refused!.code, field: refused!.details?.field }).toEqual({ code: 'UNAVAILABLE', field: 'archiveDir' })
        expect(refused!.message).toMatch(/archive folder .*full cannot be written \([A-Z_]+\); nothing was (archived or )?removed/)
        expect(fs.readdirSync(full)).toEqual([])
      }
    } finally {
      if (mounted) execFileSync('umount', [full])
    }
    expect(await count(`resource_type = 'short_lived'`)).toBe(due + (mounted ? 400 : 0))
    expect(await count()).toBe(head + (mounted ? 400 : 0))
    expect((await core.audit.verify(admin, undefined, { archives })).ok).toBe(true)
  })
})

describe('rollback of a non-empty audit log', () => {
  it('refuses unless an archive holds every row, or --discard-audit is given, and says so', async () => {
    const to = 'Migration20261127120000_initial'
    await expect(core.db.rollback(0)).rejects.toMatchObject({
      code: 'CONFLICT',
      details: { field: 'discardAudit' },
      message: expect.stringMatching(/drops the audit log \(audit_logs\).*no archive folder was given.*netkeeper audit archive.*--discard-audit/s)
    })
    // Rolling back only the newest migration loses no audit data: allowed (and re-applied).
    expect(await core.db.rollback()).toEqual([migrationNames[migrationNames.length - 1]])
    await core.db.migrate()
    // The purges' archives alone do not hold the rows still in the log.
    const archives = path.join(work, 'archives')
    await expect(core.db.rollback(to, { archiveDir: archives })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/no archive in .* starts the chain at row 1|hold the history from row 1 only up to row/)
    })
    const viaCli = await cli(['--database-url', url, '--data-dir', dataDir, 'db', 'rollback', '--to', '0', '--archive-dir', archives, '--yes'])
    expect(viaCli.code).toBe(1)
    expect(viaCli.stderr).toMatch(/netkeeper: conflict: rolling back .*--discard-audit/s)

    // `audit archive` copies the rest; then the archives hold every row, and verify still proves them.
    const copy = await core.audit.archiveLiveRows(admin, { archiveDir: archives })
    expect(copy).toMatchObject({ rows: await count() })
    expect(await core.audit.archiveLiveRows(admin, { archiveDir: archives })).toBeNull()
    expect(await core.audit.verify(admin, undefined, { archives })).toMatchObject({ ok: true })
    const down = await core.db.rollback(to, { archiveDir: archives })
    expect(down[down.length - 1]).toBe('Migration20261127130000_ipam_audit')
  })

  it('drops it with --discard-audit', async () => {
    const url2 = await freshDatabase('audit_discard')
    const env = { NETKEEPER_DATA_DIR: dataDir }
    expect((await cli(['--database-url', url2, 'db', 'migrate'], env)).code).toBe(0)
    const c = await Core.open({ databaseUrl: url2, dataDir, migrate: false })
    try {
      await c.ipam.createPool(admin, { name: 'doomed', network: '10.66.0.0/24' })
    } finally {
      await c.close()
    }
    const refused = await cli(['--database-url', url2, 'db', 'rollback', '--to', '0', '--json'], env)
    expect(refused.code).toBe(1)
    expect(refused.json().error).toMatchObject({ code: 'CONFLICT', details: { field: 'discardAudit', rows: 1 } })
    const r = await cli(['--database-url', url2, 'db', 'rollback', '--to', '0', '--discard-audit', '--yes', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.json().state.applied).toEqual([])
  })
})

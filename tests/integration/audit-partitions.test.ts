/**
 * audit_logs partitioned by month (Migration20270110100000_audit_partitions): a chain written over three
 * months on the unpartitioned table (the server started under libfaketime for the past ones) verifies, and
 * searches the same, before and after the migration moves it into monthly partitions; a retention purge
 * drops the month whose every row is due (after writing its archive) and deletes row by row in a month only
 * partly due; `verify --archives` passes; a row dated in a month with no partition yet goes in (to the
 * default partition) and moves to its month when the partitions are made.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import type { AuditFilter } from '../../src/shared/audit'
import { startPostgres, type PgServer } from '../support/postgres'
import { ctxAs } from '../support/core'
import { migrationNames } from '../../migrations/names'

// The migration just before the partitioning one, whatever lands between them later.
const PREVIOUS = migrationNames[migrationNames.indexOf('Migration20270110100000_audit_partitions') - 1]!
const admin = ctxAs('admin')
let srv: PgServer
let url: string
let dataDir: string

/** libfaketime's preload library (Debian's faketime package). */
function fakeTimeLib(): string | undefined {
  return ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'].find((p) => fs.existsSync(p))
}

const open = (migrate = false): Promise<Core> => Core.open({ databaseUrl: url, dataDir, migrate })

/** Restarts the server with its clock `offset` days away (libfaketime), or on the real clock. */
function clockAt(offset: string | null): void {
  srv.pause!()
  srv.resume!(offset ? { LD_PRELOAD: fakeTimeLib()!, FAKETIME: offset, FAKETIME_DONT_RESET: '1' } : undefined)
}

async function allocateSome(pool: string, n: number, tag: string): Promise<void> {
  const core = await open()
  try {
    for (let i = 0; i < n; i++) await core.ipam.allocate(ctxAs('operator', `op-${tag}`), { pool, next: true, hostname: `${tag}-${i}` })
  } finally {
    await core.close()
  }
}

/** Every row a filter finds, page by page through the keyset cursor. */
async function searchAll(core: Core, f: AuditFilter): Promise<string[]> {
  const out: string[] = []
  let before: string | undefined
  for (;;) {
    const page = await core.audit.list(admin, { ...f, limit: 7, ...(before ? { before } : {}) })
    out.push(...page.items.map((e) => `${e.seq}:${e.id}:${e.createdAt}`))
    if (!page.nextCursor) return out
    before = page.nextCursor
  }
}

const monthOf = (d: Date): string => `audit_logs_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`

const skipWhy = !fakeTimeLib() ? 'libfaketime is not installed (Debian package faketime)' : null

beforeAll(async () => {
  if (skipWhy) return
  srv = await startPostgres()
  if (!srv.pause || !srv.resume) return
  url = await srv.createDatabase('audit_partitions')
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-partitions-'))
  const core = await open(true)
  try {
    // Back to the unpartitioned table (this also runs the migration's down()).
    // (and the down() of every later one, newest first).
    expect(await core.db.rollback(PREVIOUS)).toEqual(migrationNames.slice(migrationNames.indexOf(PREVIOUS) + 1).reverse())
  } finally {
    await core.close()
  }
}, 120_000)
afterAll(async () => {
  await srv?.stop()
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
})

describe.skipIf(!!skipWhy)('partitioned audit log', () => {
  const months: Record<string, Date> = {}

  it('writes a chain over three months on the unpartitioned table', async () => {
    if (!srv.pause) throw new Error('needs a server this test starts itself (NETKEEPER_TEST_DATABASE_URL is set)')
    // Era A (160 days ago): the pool (a type without a policy: its month is only partly due) and allocations.
    clockAt('-160d')
    {
      const core = await open()
      await core.ipam.createPool(admin, { name: 'parts', network: '10.90.0.0/20' })
      await core.close()
    }
    await allocateSome('parts', 5, 'era-a')
    // Era B (100 days ago): allocations only, so every row of that month is due under a 30-day policy.
    clockAt('-100d')
    await allocateSome('parts', 6, 'era-b')
    clockAt(null)
    await allocateSome('parts', 4, 'era-c')
    const core = await open()
    try {
      const r = await core.db.knex.raw<{ rows: { m: Date; n: number }[] }>(
        `select date_trunc('month', created_at, 'UTC') as m, count(*)::int as n from audit_logs group by 1 order by 1`
      )
      expect(r.rows.map((x) => x.n)).toEqual([6, 6, 4])
      ;[months.a, months.b, months.c] = r.rows.map((x) => new Date(x.m))
      expect((await core.db.knex.raw(`select relkind from pg_class where relname = 'audit_logs'`)).rows[0].relkind).toBe('r')
      expect(await core.audit.verify(admin)).toMatchObject({ ok: true })
    } finally {
      await core.close()
    }
  }, 180_000)

  it('moves it into monthly partitions: the chain verifies and searches return the same rows', async () => {
    const before = await open()
    const filters: AuditFilter[] = [{}, { resourceType: 'ip_allocation' }, { text: 'era-b' }, { from: new Date(months.b!.getTime() - 86400_000).toISOString() }]
    const found: string[][] = []
    let exported: string
    try {
      for (const f of filters) found.push(await searchAll(before, f))
      expect(found[0]!.length).toBe(16)
      expect(found[2]!.length).toBe(6)
      exported = JSON.stringify((await before.audit.list(admin, { limit: 100 })).items)
    } finally {
      await before.close()
    }
    const core = await open(true)
    try {
      expect((await core.db.knex.raw(`select relkind from pg_class where relname = 'audit_logs'`)).rows[0].relkind).toBe('p')
      const parts = (await core.db.knex.raw<{ rows: { name: string; n: number }[] }>(
        `select c.relname as name, (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from %I', c.relname), false, true, '')))[1]::text::int as n
           from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit_logs'::regclass order by 1`
      )).rows
      const byName = Object.fromEntries(parts.map((p) => [p.name, p.n]))
      expect(byName[monthOf(months.a!)]).toBe(6)
      expect(byName[monthOf(months.b!)]).toBe(6)
      expect(byName[monthOf(months.c!)]).toBeGreaterThanOrEqual(4)
      expect(byName.audit_logs_default).toBe(0)
      // Two months ahead are there already.
      const ahead = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 2, 1))
      expect(byName[monthOf(ahead)]).toBe(0)
      expect(await core.audit.verify(admin)).toMatchObject({ ok: true })
      for (const [i, f] of filters.entries()) expect(await searchAll(core, f), JSON.stringify(f)).toEqual(found[i])
      expect(JSON.stringify((await core.audit.list(admin, { limit: 100 })).items)).toBe(exported!)
    } finally {
      await core.close()
    }
  }, 180_000)

  it('purges a whole month by dropping its partition after archiving it, a partial month row by row, and verifies with the archives', async () => {
    const core = await open()
    const archiveDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-partitions-archive-'))
    try {
      await core.audit.setPolicy(admin, { resourceType: 'ip_allocation', retentionDays: 30, isActive: true })
      const r = await core.audit.purge(admin, { archiveDir })
      // Era A's 5 allocations and era B's 6: the pool's row stays (no policy), era C is too young.
      expect(r.rows).toBe(11)
      expect(r.archive?.rows).toBe(11)
      const exists = async (name: string): Promise<boolean> => (await core.db.knex.raw(`select to_regclass(?) is not null as e`, [name])).rows[0].e
      expect(await exists(monthOf(months.b!))).toBe(false)
      expect(await exists(monthOf(months.a!))).toBe(true)
      const left = await core.db.knex.raw<{ rows: { t: string }[] }>(`select resource_type as t from ${monthOf(months.a!)}`)
      expect(left.rows.map((x) => x.t)).toEqual(['ip_pool'])
      const v = await core.audit.verify(admin, undefined, { archives: archiveDir })
      expect(v).toMatchObject({ ok: true, problem: null })
      expect(v.archives?.rows).toBe(11)
      // The era-b rows are gone from searches, the rest as before.
      expect(await searchAll(core, { text: 'era-b' })).toEqual([])
    } finally {
      await core.close()
      fs.rmSync(archiveDir, { recursive: true, force: true })
    }
  }, 180_000)

  it('takes a row dated in a month with no partition yet, and moves it into its month when the partitions are made', async () => {
    // 200 days ahead: past the two months made ahead.
    clockAt('+200d')
    await allocateSome('parts', 1, 'future')
    clockAt(null)
    const core = await open()
    try {
      const d = await core.db.knex.raw<{ rows: { n: number; m: Date }[] }>(`select count(*)::int as n, max(created_at) as m from audit_logs_default`)
      expect(d.rows[0]!.n).toBe(1)
      const future = new Date(d.rows[0]!.m)
      expect(await core.audit.ensurePartitions()).toBeGreaterThanOrEqual(1)
      expect((await core.db.knex.raw(`select count(*)::int as n from audit_logs_default`)).rows[0].n).toBe(0)
      expect((await core.db.knex.raw(`select count(*)::int as n from ${monthOf(future)}`)).rows[0].n).toBe(1)
      // Nothing to do the second time.
      expect(await core.audit.ensurePartitions()).toBe(0)
      expect(await core.audit.verify(admin)).toMatchObject({ ok: true })
    } finally {
      await core.close()
    }
  }, 180_000)
})

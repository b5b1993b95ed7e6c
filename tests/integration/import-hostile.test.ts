/**
 * A hostile legacy file cannot hang the import: views (a recursive one never ends) and virtual tables are
 * refused by name before a row is read; a file past the caps (rows per table, bytes per value) is refused
 * with the cap named, at once; a dry run stops on request, in the core and on Ctrl-C in the CLI.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { LEGACY_CAPS } from '../../src/main/core/importer/legacy-file'
import type { ImportProgress } from '../../src/shared/importer'
import { cli } from '../support/cli'
import { ctxAs, openCore } from '../support/core'
import { tempDir, writeCleanLegacyFile, writeLegacyFile } from '../support/legacy'
import { cliOnTerminal } from '../support/pty'

const admin = ctxAs('admin', 'alice')
const dir = tempDir()
let core: Core
let url: string

beforeAll(async () => {
  ;({ core, url } = await openCore('imp_hostile'))
})
afterAll(async () => {
  await core?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** analyse() refuses the file (VALIDATION on `file`) quickly; resolves with the error. */
async function refused(file: string): Promise<{ message: string; details: Record<string, unknown> }> {
  const started = Date.now()
  const err = await core.importer.analyse(admin, { file }).catch((e: unknown) => e)
  expect(err, file).toMatchObject({ code: 'VALIDATION', details: { field: 'file' } })
  expect(Date.now() - started, 'refused at once').toBeLessThan(15_000)
  return err as { message: string; details: Record<string, unknown> }
}

describe('a legacy file whose tables are not tables', () => {
  it('refuses views, a recursive one included, by name, without reading them', async () => {
    const file = path.join(dir, 'views.db')
    const db = new Database(file)
    db.exec(`create view ip_pools as select 'p1' as id, 'lan' as name, '10.0.0.0/24' as network`)
    // Never ends if anything selects from it.
    db.exec(`create view ip_allocations as with recursive n(i) as (select 1 union all select i + 1 from n)
             select i as id, 'p1' as pool_id, '10.0.0.5' as ip_address, 'static' as allocation_type from n`)
    db.close()
    const err = await refused(file)
    expect(err.message).toBe('file: "views.db" is not a legacy IPAM file: ip_pools is a view and ip_allocations is a view, not a table (Netkeeper reads only real tables)')
    expect(err.details.notTables).toEqual(['ip_pools', 'ip_allocations'])
    // The run and the dry run refuse it the same way.
    await expect(core.importer.dryRun(admin, { file })).rejects.toMatchObject({ code: 'VALIDATION' })
  })

  it('refuses a virtual table', async () => {
    const file = writeLegacyFile(path.join(dir, 'virtual.db'), [], [])
    const db = new Database(file)
    db.exec(`drop table ip_pools; create virtual table ip_pools using fts5(id, name, network)`)
    db.close()
    expect((await refused(file)).message).toContain('ip_pools is a virtual table, not a table')
  })
})

describe('the caps', () => {
  it('refuses a file with a 100 MB value, naming the cap, the column and the row', async () => {
    const file = writeLegacyFile(path.join(dir, 'huge-value.db'), [{ id: 'p1', name: 'lan', network: '10.0.0.0/24' }], [])
    const db = new Database(file)
    db.prepare(`update ip_pools set description = zeroblob(?) where id = 'p1'`).run(100 * 1024 * 1024)
    db.close()
    const err = await refused(file)
    expect(err.message).toBe(
      'file: "huge-value.db" has a value larger than 64 KiB, the most Netkeeper reads (cap: bytes per value): ip_pools.description of row 1 holds 100 MiB'
    )
    expect(err.details).toMatchObject({ cap: 'valueBytes', limit: LEGACY_CAPS.valueBytes, table: 'ip_pools', column: 'description', row: 1 })
    fs.rmSync(file)
  })

  it('refuses a file with a row too large, though no one value is', async () => {
    const wide = 'x'.repeat(40 * 1024)
    const file = writeLegacyFile(path.join(dir, 'wide-row.db'), [{ id: 'p1', name: 'lan', network: '10.0.0.0/24' }], [
      { id: 'a1', pool_id: 'p1', ip_address: '10.0.0.5', allocation_type: 'static', hostname: wide, description: wide, allocated_by: wide }
    ])
    expect((await refused(file)).message).toBe(
      'file: "wide-row.db" has a row larger than 64 KiB, the most Netkeeper reads (cap: bytes per row): row 1 of ip_allocations holds 120 KiB'
    )
  })

  it('refuses a file with millions of pools, naming the cap', async () => {
    const file = writeLegacyFile(path.join(dir, 'many-pools.db'), [], [])
    const db = new Database(file)
    db.pragma('journal_mode = OFF')
    db.exec(`insert into ip_pools (id, name, network)
             with recursive n(i) as (select 1 union all select i + 1 from n where i < 1200000)
             select 'p' || i, 'pool-' || i, '10.0.0.0/24' from n`)
    db.close()
    const err = await refused(file)
    expect(err.message).toBe('file: "many-pools.db" holds more than 100,000 rows in ip_pools, the most Netkeeper imports (cap: pools per file)')
    expect(err.details).toMatchObject({ cap: 'pools', limit: LEGACY_CAPS.pools })
    fs.rmSync(file)
  })
})

describe('a dry run', () => {
  const big = path.join(dir, 'big.db')
  beforeAll(() => {
    writeCleanLegacyFile(big, 1600, 250)
  })

  it('stops on request while it checks, and reports cancelled', async () => {
    const controller = new AbortController()
    const seen: ImportProgress[] = []
    const r = await core.importer.dryRun(
      admin,
      { file: big },
      {
        signal: controller.signal,
        onProgress: (p) => {
          seen.push(p)
          if (p.phase === 'checking' && p.done > 0) controller.abort()
        }
      }
    )
    expect(r.outcome).toBe('cancelled')
    expect(seen.some((p) => p.phase === 'checking' && p.done > 0 && p.done < p.total)).toBe(true)
    expect(seen.at(-1)).toMatchObject({ phase: 'done' })
  })

  it('gives up measuring a file past the deadline, from a worker, without holding the main thread', async () => {
    process.env.NETKEEPER_IMPORT_CHECK_DEADLINE_MS = '5'
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    try {
      const err = await refused(big)
      expect(err.message).toBe('file: "big.db" took longer than 5 ms to measure against the import\'s caps (cap: seconds to check a file); it was not read')
      expect(err.details).toMatchObject({ cap: 'checkSeconds' })
      // The main thread kept running while the worker measured.
      expect(ticks).toBeGreaterThan(0)
    } finally {
      clearInterval(timer)
      delete process.env.NETKEEPER_IMPORT_CHECK_DEADLINE_MS
    }
  })

  it('stops on Ctrl-C in the CLI', async () => {
    expect((await cli(['--database-url', url, 'db', 'migrate'])).code).toBe(0)
    const r = await cliOnTerminal(['--database-url', url, 'import', 'sqlite', big, '--dry-run'], [{ expect: 'checking', send: '\u0003' }])
    expect(r.screen).toContain('cancelling: rolling back (Ctrl-C again forces)...')
    expect(r.screen).toContain('dry run of big.db cancelled: nothing was written')
    expect(r.code).toBe(1)
  })
})

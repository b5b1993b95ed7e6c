/**
 * The embedded store starts PGlite with smaller shared buffers than its built-in 128MB (pglite-wasm.ts):
 * the setting reaches PostgreSQL, a store written by PGlite's own module reads back (and the other way
 * round), and a build without the literal falls back to PGlite's own module with a note.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { Database } from '../../src/main/core/db/database'
import { pgliteModule } from '../../src/main/core/db/pglite-wasm'
import { resolveConnection } from '../../src/main/core/db/target'

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-embedded-buffers-'))
const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-embedded-buffers-b-'))
afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true })
  fs.rmSync(otherDir, { recursive: true, force: true })
})
const saved = process.env.NETKEEPER_PGLITE_SHARED_BUFFERS
afterEach(() => {
  if (saved === undefined) delete process.env.NETKEEPER_PGLITE_SHARED_BUFFERS
  else process.env.NETKEEPER_PGLITE_SHARED_BUFFERS = saved
  vi.restoreAllMocks()
})

/** Opens the store with `buffers` in NETKEEPER_PGLITE_SHARED_BUFFERS (undefined: the default). */
async function open(dir: string, buffers: string | undefined): Promise<Database> {
  if (buffers === undefined) delete process.env.NETKEEPER_PGLITE_SHARED_BUFFERS
  else process.env.NETKEEPER_PGLITE_SHARED_BUFFERS = buffers
  return Database.open(await resolveConnection({ dataDir: dir, env: {} }))
}

async function settings(db: Database): Promise<{ sb: string; pages: string; shm: string }> {
  const r = await db.knex.raw<{ rows: { sb: string; pages: string; shm: string }[] }>(
    `select current_setting('shared_buffers') as sb, (select setting from pg_settings where name = 'shared_buffers') as pages,
            current_setting('shared_memory_size') as shm`
  )
  return r.rows[0]!
}

const poolNames = async (db: Database): Promise<string[]> =>
  (await db.knex.raw<{ rows: { name: string }[] }>(`select name from ip_pools order by name`)).rows.map((r) => r.name)

describe('the embedded store with smaller shared buffers', () => {
  it('reads back what PGlite with its own module wrote, and the other way round', async () => {
    // Made, migrated and written by PGlite's own module (the built-in 128MB: no patch applied).
    let db = await open(dataDir, '128MB')
    try {
      expect(await settings(db)).toMatchObject({ sb: '128MB', pages: '16384' })
      await db.migrate()
      await db.knex.raw(`insert into ip_pools (name, network) values ('before', '10.1.0.0/24')`)
      await db.knex.raw(`insert into ip_allocations (pool_id, ip_address, hostname) select id, '10.1.0.7', 'h7' from ip_pools where name = 'before'`)
    } finally {
      await db.close()
    }
    // The default: 16MB, and PostgreSQL's shared memory shrinks with it.
    db = await open(dataDir, undefined)
    try {
      const s = await settings(db)
      expect(s).toMatchObject({ sb: '16MB', pages: '2048' })
      expect(parseInt(s.shm, 10)).toBeLessThan(40)
      expect((await db.migrationState()).pending).toEqual([])
      expect(await poolNames(db)).toEqual(['before'])
      const a = await db.knex.raw<{ rows: { host: string }[] }>(`select hostname as host from ip_allocations where ip_address = '10.1.0.7'`)
      expect(a.rows).toEqual([{ host: 'h7' }])
      await db.knex.raw(`insert into ip_pools (name, network) values ('after', '10.2.0.0/24')`)
    } finally {
      await db.close()
    }
    // Another size, in 8 kB pages; then PGlite's own module again reads both rows.
    db = await open(dataDir, '1024')
    try {
      expect(await settings(db)).toMatchObject({ sb: '8MB', pages: '1024' })
      expect(await poolNames(db)).toEqual(['after', 'before'])
    } finally {
      await db.close()
    }
    db = await open(dataDir, '128MB')
    try {
      expect(await settings(db)).toMatchObject({ sb: '128MB' })
      expect(await poolNames(db)).toEqual(['after', 'before'])
    } finally {
      await db.close()
    }
  })

  it('makes a new store (initdb) with the smaller buffers, which PGlite with its own module opens', async () => {
    let db = await open(otherDir, '512kB')
    try {
      expect(await settings(db)).toMatchObject({ sb: '512kB', pages: '64' })
      await db.migrate()
      // More pages than 64 buffers hold: the table and its indexes go through eviction and read back whole.
      await db.knex.raw(`insert into ip_pools (name, network) values ('wide', '10.8.0.0/16')`)
      await db.knex.raw(
        `insert into ip_allocations (pool_id, ip_address, hostname) select p.id, '10.8.0.0'::inet + g, 'host-' || g from ip_pools p, generate_series(1, 20000) g where p.name = 'wide'`
      )
      const n = await db.knex.raw<{ rows: { n: string; h: string }[] }>(`select count(*)::text as n, max(hostname) as h from ip_allocations`)
      expect(n.rows[0]).toEqual({ n: '20000', h: 'host-9999' })
    } finally {
      await db.close()
    }
    db = await open(otherDir, '128MB')
    try {
      const n = await db.knex.raw<{ rows: { n: string }[] }>(`select count(*)::text as n from ip_allocations where hostname like 'host-%'`)
      expect(n.rows[0]!.n).toBe('20000')
      expect((await db.migrationState()).pending).toEqual([])
    } finally {
      await db.close()
    }
  })

  it('refuses a bad NETKEEPER_PGLITE_SHARED_BUFFERS before the store is touched', async () => {
    await expect(open(otherDir, '1GB')).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('NETKEEPER_PGLITE_SHARED_BUFFERS: "1GB"') })
    // The lock was released: the store opens at once.
    const db = await open(otherDir, undefined)
    await db.close()
  })

  it('falls back to PGlite’s own module, with a note, where the literal is not in the build', async () => {
    const fake = path.join(otherDir, 'other-build.wasm')
    // A valid, empty WebAssembly module: no shared_buffers literal in it.
    fs.writeFileSync(fake, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]))
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    expect(await pgliteModule('16MB', fake)).toBeUndefined()
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/PGlite starts with its built-in shared_buffers \(128MB\): "shared_buffers=128MB" is not in this PGlite build/))
    expect(await pgliteModule('16MB', path.join(otherDir, 'missing.wasm'))).toBeUndefined()
    expect(warn).toHaveBeenLastCalledWith(expect.stringContaining('its module could not be prepared'))
    // And with the installed build, a module (the patched one) comes back.
    expect(Object.prototype.toString.call(await pgliteModule('16MB'))).toBe('[object WebAssembly.Module]')
  })
})

/** The embedded default (PGlite in the data folder): same migrations, same constraints, data kept. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
import { migrationsList } from '../../migrations'

const ALL = migrationsList.map((m) => m.name)

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-embedded-'))
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }))

const open = async (): Promise<Database> => Database.open(await resolveConnection({ dataDir, env: {} }))

describe('embedded PostgreSQL (PGlite)', () => {
  it('is chosen when nothing else is configured, inside the data folder', async () => {
    const spec = await resolveConnection({ dataDir, env: {} })
    expect(spec.kind).toBe('embedded')
    expect(spec.kind === 'embedded' && spec.pgDataDir).toBe(path.join(dataDir, 'pgdata'))
  })

  it('runs the same migrations up, down and up, and enforces the same constraints', async () => {
    const db = await open()
    try {
      expect(await db.migrate()).toEqual(ALL)
      expect(await db.rollback(0)).toEqual([...ALL].reverse())
      expect(await db.migrate()).toEqual(ALL)
      const k = db.knex
      await k.raw(`insert into ip_pools (name, network, gateway) values ('lan', '10.0.0.0/24', '10.0.0.1')`)
      await expect(k.raw(`insert into ip_pools (name, network) values ('inner', '10.0.0.0/25')`)).rejects.toMatchObject({ code: '23P01' })
      await k.raw(`insert into ip_allocations (pool_id, ip_address, mac_address) select id, '10.0.0.5', 'aabb.ccdd.eeff' from ip_pools where name = 'lan'`)
      await expect(k.raw(`insert into ip_allocations (pool_id, ip_address) select id, '10.0.0.5' from ip_pools where name = 'lan'`)).rejects.toMatchObject({ code: '23505' })
      await expect(k.raw(`insert into ip_pools (name, network) values ('bad', '10.1.2.3/24')`)).rejects.toMatchObject({ code: '22P02' })
      const types = await k.raw<{ rows: { udt_name: string }[] }>(
        `select distinct udt_name from information_schema.columns where table_schema = 'public' and udt_name in ('cidr','inet','macaddr','uuid','jsonb') order by 1`
      )
      expect(types.rows.map((r) => r.udt_name)).toEqual(['cidr', 'inet', 'jsonb', 'macaddr', 'uuid'])
      const h = await db.health()
      expect(h.reachable).toBe(true)
      expect(h.serverVersion).toMatch(/^\d+\.\d+/)
      expect(h.target.kind).toBe('embedded')
    } finally {
      await db.close()
    }
  })

  it('keeps the data across restarts', async () => {
    const db = await open()
    try {
      expect((await db.migrationState()).pending).toEqual([])
      const r = await db.knex.raw<{ rows: { mac: string }[] }>(`select mac_address::text as mac from ip_allocations where ip_address = '10.0.0.5'`)
      expect(r.rows).toEqual([{ mac: 'aa:bb:cc:dd:ee:ff' }])
    } finally {
      await db.close()
    }
  })

  it('is opened by one process at a time, with a clear message for the second', async () => {
    const db = await open()
    try {
      const lock = path.join(dataDir, 'pgdata.lock')
      expect(fs.readFileSync(lock, 'utf8')).toBe(String(process.pid))
      // Pretend another live process holds it: pid 1 is always alive.
      fs.writeFileSync(lock, '1')
      const { acquireEmbeddedLock } = await import('../../src/main/core/db/embedded-lock')
      await expect(acquireEmbeddedLock(path.join(dataDir, 'pgdata'), 200)).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringContaining('in use by another Netkeeper process (pid 1)')
      })
      fs.writeFileSync(lock, String(process.pid))
    } finally {
      await db.close()
    }
    expect(fs.existsSync(path.join(dataDir, 'pgdata.lock'))).toBe(false)
  })

  it('takes over a lock left by a crashed process', async () => {
    fs.writeFileSync(path.join(dataDir, 'pgdata.lock'), '999999999')
    const db = await open()
    await db.close()
  })
})

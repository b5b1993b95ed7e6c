/** The embedded default (PGlite in the data folder): same migrations, same constraints, data kept. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { afterAll, describe, expect, it } from 'vitest'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
import { migrationsList } from '../../migrations'

const ALL = migrationsList.map((m) => m.name)
const root = path.resolve(import.meta.dirname, '..', '..')

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
      const { acquireEmbeddedLock } = await import('../../src/main/core/db/embedded-lock')
      const started = Date.now()
      await expect(acquireEmbeddedLock(path.join(dataDir, 'pgdata'), 300)).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringContaining(`is in use by another Netkeeper process (most likely pid ${process.pid} on ${os.hostname()}`)
      })
      expect(Date.now() - started).toBeGreaterThanOrEqual(300)
    } finally {
      await db.close()
    }
    // Released by closing: the file stays (deleting a lock file races with the next holder) and opens at once.
    expect(fs.existsSync(path.join(dataDir, 'pgdata.lock.sqlite'))).toBe(true)
    const { acquireEmbeddedLock } = await import('../../src/main/core/db/embedded-lock')
    ;(await acquireEmbeddedLock(path.join(dataDir, 'pgdata'), 0))()
  })

  it('keeps its files 0600 and its folders 0700, tightening what an older version left', async () => {
    fs.chmodSync(path.join(dataDir, 'pgdata', 'PG_VERSION'), 0o644)
    fs.chmodSync(path.join(dataDir, 'pgdata', 'base'), 0o755)
    const db = await open()
    try {
      // A new relation makes new files while the store is open.
      await db.knex.raw('create table mode_probe (x int); insert into mode_probe values (1)')
      const modes = new Set<string>()
      const walk = (d: string): void => {
        modes.add(`d${(fs.statSync(d).mode & 0o777).toString(8)}`)
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(path.join(d, e.name))
          else modes.add(`f${(fs.statSync(path.join(d, e.name)).mode & 0o777).toString(8)}`)
        }
      }
      walk(path.join(dataDir, 'pgdata'))
      expect([...modes].sort()).toEqual(['d700', 'f600'])
      expect(fs.statSync(path.join(dataDir, 'pgdata.lock.sqlite')).mode & 0o777).toBe(0o600)
      expect(fs.statSync(path.join(dataDir, 'pgdata.lock.owner')).mode & 0o777).toBe(0o600)
      await db.knex.raw('drop table mode_probe')
    } finally {
      await db.close()
    }
  })

  it('is not blocked by a stale lock file whose pid now belongs to a live process', async () => {
    // The pid file of older versions, and an owner note, both naming pid 1 (always alive: a reused pid).
    fs.writeFileSync(path.join(dataDir, 'pgdata.lock'), '1')
    fs.writeFileSync(path.join(dataDir, 'pgdata.lock.owner'), JSON.stringify({ pid: 1, command: 'netkeeper', host: os.hostname(), since: '2020-01-01T00:00:00Z' }))
    const db = await open()
    await db.close()
    expect(fs.existsSync(path.join(dataDir, 'pgdata.lock'))).toBe(false)
  })
})

describe('the embedded store lock between processes', () => {
  /** One process (node with tsx's loader, no wrapper process) running tests/support/lock-holder.ts. */
  const holder = (dir: string, waitMs: number) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'tests', 'support', 'lock-holder.ts'), dir, String(waitMs)], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] })
    let out = ''
    const waiting = new Set<() => void>()
    child.stdout.on('data', (d: Buffer) => {
      out += String(d)
      for (const look of [...waiting]) look()
    })
    /** The first whole line that starts with `what`. */
    const seen = (what: string): Promise<string> =>
      new Promise((resolve) => {
        const look = (): void => {
          const line = out.split('\n').slice(0, -1).find((l) => l.startsWith(what))
          if (line === undefined) return
          waiting.delete(look)
          resolve(line)
        }
        waiting.add(look)
        look()
      })
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
    return { child, seen, exited }
  }

  it('is freed at once when its holder is killed with SIGKILL', async () => {
    const dir = path.join(dataDir, 'killed')
    const h = holder(dir, 0)
    await h.seen('ready')
    h.child.stdin.write('go\n')
    await h.seen('held')
    h.child.kill('SIGKILL')
    await h.exited
    const { acquireEmbeddedLock } = await import('../../src/main/core/db/embedded-lock')
    ;(await acquireEmbeddedLock(dir, 0))()
  })

  it('goes to exactly one of several processes that start together', async () => {
    const dir = path.join(dataDir, 'race')
    const hs = [holder(dir, 2_000), holder(dir, 2_000), holder(dir, 2_000)]
    await Promise.all(hs.map((h) => h.seen('ready')))
    for (const h of hs) h.child.stdin.write('go\n')
    const outcomes = await Promise.all(hs.map((h) => Promise.race([h.seen('held'), h.seen('busy')])))
    expect(outcomes.filter((o) => o === 'held')).toHaveLength(1)
    expect(outcomes.filter((o) => o.startsWith('busy: the embedded database')).length).toBe(2)
    for (const h of hs) h.child.stdin.end()
    await Promise.all(hs.map((h) => h.exited))
  })
})

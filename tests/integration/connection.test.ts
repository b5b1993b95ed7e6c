/** Connection resolution, pool settings, health and the errors a person sees. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { inject } from 'vitest'
import { Database } from '../../src/main/core/db/database'
import { embeddedSpec, resolveConnection, redactUrl } from '../../src/main/core/db/target'
import { SettingsStore } from '../../src/main/core/settings/store'
import { freePort } from '../support/postgres'
import { freshDatabase } from '../support/db'

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-conn-'))

describe('connection resolution', () => {
  it('prefers the flag, then the environment, then the profile, then the embedded store', async () => {
    const dataDir = tmp()
    new SettingsStore(dataDir).write({ database: { name: 'team', host: 'db.example', port: 5433, database: 'ipam', user: 'nk', sslMode: 'disable', pool: { max: 4, acquireTimeoutMs: 10_000, idleTimeoutMs: 30_000, maxLifetimeMs: 1_800_000 } } })
    const secrets = { get: async () => 's3cret', set: async () => undefined, delete: async () => true }
    const env = { NETKEEPER_DATABASE_URL: 'postgres://env@h/envdb' }
    expect((await resolveConnection({ dataDir, databaseUrl: 'postgres://flag@h/flagdb', env, secrets })).origin).toBe('flag')
    expect((await resolveConnection({ dataDir, env, secrets })).origin).toBe('env')
    const prof = await resolveConnection({ dataDir, env: {}, secrets })
    expect(prof).toMatchObject({ origin: 'profile', host: 'db.example', port: 5433, user: 'nk', password: 's3cret', ssl: false })
    expect(prof.label).not.toContain('s3cret')
    fs.rmSync(path.join(dataDir, 'settings.json'))
    expect((await resolveConnection({ dataDir, env: {}, secrets })).kind).toBe('embedded')
  })

  it('names the field of a bad URL or pool setting', async () => {
    await expect(resolveConnection({ dataDir: tmp(), databaseUrl: 'mysql://x@h/db', env: {} })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: '--database-url' } })
    await expect(resolveConnection({ dataDir: tmp(), env: { NETKEEPER_DATABASE_URL: 'postgres://x@h' } })).rejects.toMatchObject({ details: { field: 'NETKEEPER_DATABASE_URL' } })
    await expect(resolveConnection({ dataDir: tmp(), env: { NETKEEPER_POOL_MAX: 'lots' } })).rejects.toMatchObject({ details: { field: 'NETKEEPER_POOL_MAX' } })
    await expect(resolveConnection({ dataDir: tmp(), env: { NETKEEPER_POOL_MAX_LIFETIME_MS: '5' } })).rejects.toMatchObject({ details: { field: 'NETKEEPER_POOL_MAX_LIFETIME_MS' } })
  })

  it('refuses a settings file with a bad field, naming it', async () => {
    const dataDir = tmp()
    fs.writeFileSync(path.join(dataDir, 'settings.json'), JSON.stringify({ database: { host: 'h', database: 'd', user: 'u', port: 99999 } }))
    await expect(resolveConnection({ dataDir, env: {} })).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('database.port') })
  })

  it('never shows a password', () => {
    expect(redactUrl('postgres://nk:hunter2@db/ipam')).toBe('postgres://nk:***@db/ipam')
  })

  it('reports an unreachable server as UNAVAILABLE without leaking the password', async () => {
    const port = await freePort()
    const spec = await resolveConnection({ dataDir: tmp(), databaseUrl: `postgres://nk:hunter2@127.0.0.1:${port}/x`, env: { NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS: '2000' } })
    const err = await Database.open(spec).then(
      () => null,
      (e) => e
    )
    expect(err).toMatchObject({ code: 'UNAVAILABLE' })
    expect(err.message).toContain('database unreachable')
    expect(err.message).not.toContain('hunter2')
  })

  it('reports a missing database clearly', async () => {
    const u = new URL(inject('pgUrl'))
    u.pathname = '/no_such_db'
    const err = await Database.open(await resolveConnection({ dataDir: tmp(), databaseUrl: u.toString(), env: {} })).catch((e) => e)
    expect(err).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('does not exist') })
  })

  it('health reports version, latency, pool use and migration state', async () => {
    const url = await freshDatabase('health')
    const db = await Database.open(await resolveConnection({ dataDir: tmp(), databaseUrl: url, env: { NETKEEPER_POOL_MAX: '3' } }))
    try {
      const h = await db.health()
      expect(h.reachable).toBe(true)
      expect(h.serverVersion).toMatch(/^\d+\.\d+/)
      expect(h.latencyMs).toBeGreaterThan(0)
      expect(h.pool).toMatchObject({ max: 3 })
      expect(h.migrations?.pending.length).toBeGreaterThan(0)
    } finally {
      await db.close()
    }
  })

  it('answers as the services expect, on a server and on the embedded store: a ? in a statement without bindings as written, times as text', async () => {
    const url = await freshDatabase('reads')
    for (const spec of [await resolveConnection({ dataDir: tmp(), databaseUrl: url, env: {} }), embeddedSpec(tmp())]) {
      const db = await Database.open(spec)
      try {
        type Row = { q: string; has: boolean; t: unknown; ts: unknown[]; app: string }
        const sql = `select '?' as q, '{"a": 1}'::jsonb ? 'a' as has, now() as t, array[now(), null] as ts, current_setting('application_name') as app`
        const row = (await db.knex.raw<{ rows: Row[] }>(sql)).rows[0]!
        expect(row).toMatchObject({ q: '?', has: true })
        // The same inside a transaction (its client is made from the dialect's prototype).
        expect((await db.knex.transaction((trx) => trx.raw<{ rows: Row[] }>(sql))).rows[0]).toMatchObject({ q: '?', has: true })
        // With bindings, each ? is a placeholder as always, and \\? a question mark.
        expect((await db.knex.raw<{ rows: { n: number; has: boolean }[] }>(`select ?::int as n, '{"a": 1}'::jsonb \\? 'a' as has`, [5])).rows[0]).toEqual({ n: 5, has: true })
        if (spec.kind === 'postgresql') {
          // Timestamps and their arrays come back as the server's text, as MikroORM's driver set them.
          expect(typeof row.t).toBe('string')
          expect(row.ts).toEqual([row.t, null])
          expect(row.app).toBe('netkeeper')
        }
      } finally {
        await db.close()
      }
    }
  })

  it('retires connections after their maximum lifetime', async () => {
    const url = await freshDatabase('life')
    const db = await Database.open(await resolveConnection({ dataDir: tmp(), databaseUrl: url, env: { NETKEEPER_POOL_MAX: '1', NETKEEPER_POOL_MAX_LIFETIME_MS: '1000' } }))
    try {
      const pid = async (): Promise<number> => (await db.knex.raw<{ rows: { p: number }[] }>('select pg_backend_pid() as p')).rows[0]!.p
      const first = await pid()
      expect(await pid()).toBe(first)
      await new Promise((r) => setTimeout(r, 1300))
      expect(await pid()).not.toBe(first)
    } finally {
      await db.close()
    }
  })
})

/** Database passwords come from the OS keychain (a real Secret Service started by the test runner). */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { inject } from 'vitest'
import { decodeBound } from '../../src/main/core/credentials/bound'
import { dbAccount, keychain } from '../../src/main/core/credentials/keychain'
import { makeContext } from '../../src/main/core/context'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
import { DbProfileService } from '../../src/main/core/settings/db-profile'
import { SettingsStore } from '../../src/main/core/settings/store'
import { dispatch, settingsHandlers } from '../../src/main/ipc/handlers'
import { fakePostgres, type FakePostgres } from '../support/fake-servers'

const hasSecretService = Boolean(process.env.DBUS_SESSION_BUS_ADDRESS)
if (!hasSecretService) console.warn('keychain tests skipped: no session D-Bus (run through `npm test`, which starts one with gnome-keyring)')

describe.skipIf(!hasSecretService)('OS keychain', () => {
  it('stores, reads and deletes a secret under the Netkeeper service', async () => {
    const account = `test:${process.pid}`
    await keychain.set(account, 'p@ss w0rd')
    expect(await keychain.get(account)).toBe('p@ss w0rd')
    expect(await keychain.delete(account)).toBe(true)
    expect(await keychain.get(account)).toBeNull()
  })

  it('connects with a saved profile whose password lives in the keychain, and nowhere on disk', async () => {
    // Give the test role a password so the keychain value is really used.
    const admin = new URL(inject('pgUrl'))
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-profile-'))
    const profile = { name: 'team', host: admin.hostname, port: Number(admin.port), database: 'postgres', user: 'postgres', sslMode: 'disable' as const, pool: { max: 2, acquireTimeoutMs: 5000, idleTimeoutMs: 30000, maxLifetimeMs: 60000 } }
    new SettingsStore(dataDir).write({ database: profile })
    await keychain.set(dbAccount('team'), 'kept-in-keychain')
    try {
      const spec = await resolveConnection({ dataDir, env: {} })
      expect(spec).toMatchObject({ origin: 'profile', password: 'kept-in-keychain' })
      // A bare entry (saved before passwords were bound to their endpoint) is now bound to the saved profile.
      expect(decodeBound((await keychain.get(dbAccount('team')))!)).toEqual({
        endpoint: { host: admin.hostname, port: Number(admin.port), database: 'postgres', user: 'postgres', sslMode: 'disable' },
        secret: 'kept-in-keychain'
      })
      const db = await Database.open(spec)
      expect((await db.health()).reachable).toBe(true)
      await db.close()
      expect(fs.readFileSync(path.join(dataDir, 'settings.json'), 'utf8')).not.toContain('kept-in-keychain')
    } finally {
      await keychain.delete(dbAccount('team'))
    }
  })
})

describe.skipIf(!hasSecretService)('netkeeper db profile', () => {
  it('tests, saves (password to the keychain, not to disk), is used, shows and clears', { timeout: 180_000 }, async () => {
    const { cli } = await import('../support/cli')
    const admin = new URL(inject('pgUrl'))
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-cli-profile-'))
    const env = { NETKEEPER_DATA_DIR: dataDir }
    const base = ['db', 'profile', 'set', '--name', 'team-cli', '--host', admin.hostname, '--port', admin.port, '--database', 'postgres', '--user', 'postgres', '--ssl-mode', 'disable']
    // A server that is not there: refused, nothing saved.
    const bad = await cli(['db', 'profile', 'set', '--host', '127.0.0.1', '--port', '1', '--database', 'x', '--user', 'x', '--ssl-mode', 'disable', '--json'], env)
    expect(bad.code).toBe(1)
    expect(bad.json().error.code).toBe('UNAVAILABLE')
    expect(fs.existsSync(path.join(dataDir, 'settings.json'))).toBe(false)

    const ok = await cli([...base, '--password-stdin', '--json'], env, 'cli-secret-123\n')
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.json()).toMatchObject({ profile: { name: 'team-cli', sslMode: 'disable' }, passwordStored: true })
    expect(fs.readFileSync(path.join(dataDir, 'settings.json'), 'utf8')).not.toContain('cli-secret-123')
    expect(decodeBound((await keychain.get(dbAccount('team-cli')))!)).toMatchObject({ secret: 'cli-secret-123', endpoint: { port: Number(admin.port) } })

    const status = await cli(['db', 'health', '--json'], env)
    expect(status.json()).toMatchObject({ reachable: true, target: { origin: 'profile', kind: 'postgresql' } })
    expect((await cli(['db', 'profile', 'show', '--json'], env)).json()).toMatchObject({ passwordStored: true, profile: { name: 'team-cli' } })
    expect((await cli(['db', 'profile', 'set', '--host', 'h', '--database', 'd', '--user', 'u', '--port', 'x'], env)).code).toBe(2)

    expect((await cli(['db', 'profile', 'clear', '--yes', '--json'], env)).json()).toEqual({ removed: true })
    expect(await keychain.get(dbAccount('team-cli'))).toBeNull()
    expect((await cli(['db', 'health', '--json'], env)).json().target.kind).toBe('embedded')
  })
})

describe.skipIf(!hasSecretService)('a saved database password goes only to the endpoint it was saved for', () => {
  const SECRET = 'only-for-server-a-7f3'
  const ctx = makeContext({ actor: 'tester', roles: ['admin'], source: 'cli' })
  const fakes: FakePostgres[] = []
  const fake = async (opts: { host?: string; port?: number } = {}): Promise<FakePostgres> => {
    const f = await fakePostgres(opts)
    fakes.push(f)
    return f
  }
  const pool = { max: 1, acquireTimeoutMs: 3000, idleTimeoutMs: 30000, maxLifetimeMs: 60000 }

  it('never sends it when the host, port, database or user of the connection changes', { timeout: 120_000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-bound-'))
    const a = await fake()
    const b = await fake()
    // Another server on the same port of another loopback address: only the host differs.
    const c = await fake({ host: '127.0.0.2', port: a.port })
    const svc = new DbProfileService(dataDir)
    const saved = { name: 'shared', host: '127.0.0.1', port: a.port, database: 'ipam', user: 'nk', sslMode: 'disable' as const, pool }
    try {
      await svc.save(ctx, saved, SECRET, { skipTest: true })
      expect(await svc.get()).toMatchObject({ passwordStored: true })

      // The saved endpoint gets the saved password (the fake server records it, then refuses the login).
      await expect(svc.test(saved)).rejects.toMatchObject({ code: 'UNAVAILABLE' })
      expect(a.passwords.length).toBeGreaterThan(0)
      expect(new Set(a.passwords)).toEqual(new Set([SECRET]))
      const control = { connections: a.connections, passwords: a.passwords.length }

      const changes: [string, Record<string, unknown>, string][] = [
        ['port', { port: b.port }, `port (${a.port} → ${b.port})`],
        ['host', { host: '127.0.0.2' }, 'host (127.0.0.1 → 127.0.0.2)'],
        ['database', { database: 'other' }, 'database (ipam → other)'],
        ['user', { user: 'postgres' }, 'user (nk → postgres)']
      ]
      for (const [field, change, said] of changes) {
        const err = await svc.test({ ...saved, ...change }).catch((e) => e)
        expect(err, field).toMatchObject({ code: 'VALIDATION', details: { field: 'password', changed: [field] } })
        expect(err.message).toContain(`the saved password belongs to nk@127.0.0.1:${a.port}/ipam (profile shared)`)
        expect(err.message).toContain(said)
        expect(err.message).toContain(`Enter the password for the new ${field === 'port' ? 'host' : field}`)
        // Under another profile name too: the name is not what the password is bound to.
        await expect(svc.test({ ...saved, ...change, name: 'renamed' })).rejects.toMatchObject({ details: { field: 'password' } })
        // Saving the changed connection without a password is refused the same way, and saves nothing.
        await expect(svc.save(ctx, { ...saved, ...change }, undefined, { skipTest: true })).rejects.toMatchObject({ details: { field: 'password', changed: [field] } })
        expect((await svc.get())?.profile).toEqual(saved)
      }
      // The same refusal over the handler table the app and the harness serve.
      const table = settingsHandlers(dataDir)
      const r = await dispatch(table as never, 'settings:db:test', { profile: { ...saved, port: b.port } }, ctx)
      expect(r).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { field: 'password' } } })

      // Not one of those attempts even connected: only the control above ever reached a server.
      expect([a.connections, b.connections, c.connections]).toEqual([control.connections, 0, 0])

      // A password typed for the new server goes there (and only that one).
      await expect(svc.test({ ...saved, port: b.port }, 'typed-for-b')).rejects.toMatchObject({ code: 'UNAVAILABLE' })
      expect(new Set(b.passwords)).toEqual(new Set(['typed-for-b']))
      const typed = b.passwords.length

      // Saved again for server B with its own password: from then on server A gets nothing.
      await svc.save(ctx, { ...saved, port: b.port }, 'saved-for-b', { skipTest: true })
      await expect(svc.test(saved)).rejects.toMatchObject({ details: { field: 'password' } })
      await expect(svc.test({ ...saved, port: b.port })).rejects.toMatchObject({ code: 'UNAVAILABLE' })
      expect(new Set(b.passwords.slice(typed))).toEqual(new Set(['saved-for-b']))

      // A bare entry written before binding is taken as the saved profile's (server B) and nobody else's.
      await keychain.set(dbAccount('shared'), SECRET)
      await expect(svc.test(saved)).rejects.toMatchObject({ details: { field: 'password', changed: ['port'] } })
      expect(decodeBound((await keychain.get(dbAccount('shared')))!)).toMatchObject({ endpoint: { port: b.port } })

      // The CLI says the same and exits 1.
      const { cli } = await import('../support/cli')
      const out = await cli(['db', 'profile', 'test', '--name', 'shared', '--host', '127.0.0.1', '--port', String(a.port), '--database', 'ipam', '--user', 'nk', '--ssl-mode', 'disable'], { NETKEEPER_DATA_DIR: dataDir })
      expect(out.code).toBe(1)
      expect(out.stderr).toContain('password: the saved password belongs to')

      // Server A heard the saved password from the control only; B and C never did.
      expect(a.passwords.length).toBe(control.passwords)
      expect(b.saw(SECRET)).toBe(false)
      expect(c.connections).toBe(0)
    } finally {
      await svc.clear()
      await Promise.all(fakes.map((f) => f.close()))
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

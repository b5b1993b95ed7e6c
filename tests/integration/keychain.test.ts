/** Database passwords come from the OS keychain (a real Secret Service started by the test runner). */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { inject } from 'vitest'
import { dbAccount, keychain } from '../../src/main/core/credentials/keychain'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
import { SettingsStore } from '../../src/main/core/settings/store'

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
    expect(await keychain.get(dbAccount('team-cli'))).toBe('cli-secret-123')

    const status = await cli(['db', 'health', '--json'], env)
    expect(status.json()).toMatchObject({ reachable: true, target: { origin: 'profile', kind: 'postgresql' } })
    expect((await cli(['db', 'profile', 'show', '--json'], env)).json()).toMatchObject({ passwordStored: true, profile: { name: 'team-cli' } })
    expect((await cli(['db', 'profile', 'set', '--host', 'h', '--database', 'd', '--user', 'u', '--port', 'x'], env)).code).toBe(2)

    expect((await cli(['db', 'profile', 'clear', '--json'], env)).json()).toEqual({ removed: true })
    expect(await keychain.get(dbAccount('team-cli'))).toBeNull()
    expect((await cli(['db', 'health', '--json'], env)).json().target.kind).toBe('embedded')
  })
})

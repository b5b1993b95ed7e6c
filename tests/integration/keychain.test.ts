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

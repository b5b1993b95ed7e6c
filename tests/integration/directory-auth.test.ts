/** Sign-in against a real slapd: roles from groups, audited failures, backoff, idle lock, TLS, a slapd restart mid-session. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { ldapAccount, ProfileStore } from '../../src/main/core/directory/profiles'
import { ldapProfileSchema } from '../../src/shared/directory'
import { auditRows, lastSeq } from '../support/core'
import { freshDatabase } from '../support/db'
import { baseProfile, hasSecretService, openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'
import { SEED_PASSWORDS, startSlapd, type SlapdServer } from '../support/slapd'
import { createHandlers, dispatch } from '../../src/main/ipc/handlers'
import { fakeLdap } from '../support/fake-servers'

const skip = slapdMissing()
const ui = () => makeContext({ actor: 'desktop-user', roles: ['admin'], source: 'ui' })
const dnOf = (uid: string) => `uid=${uid},ou=people,dc=example,dc=test`

let fx: DirectoryFixture

beforeAll(async () => {
  if (skip) return
  // The seeded people live in ou=people: sign-in builds their DN from there when it cannot search.
  fx = await openDirectory('auth', { usersDn: 'ou=people,dc=example,dc=test', groupsDn: 'ou=groups,dc=example,dc=test' })
})
afterAll(async () => {
  await fx?.close()
})

describe.skipIf(skip)('sign-in and roles', () => {
  it.each([
    ['alice', 'admin', ['netkeeper-admins']],
    ['bob', 'admin', ['netkeeper-admins']], // through senior-admins, nested in netkeeper-admins
    ['oscar', 'operator', ['netkeeper-operators']],
    ['victor', 'viewer', ['netkeeper-viewers']] // memberUid of a posixGroup
  ] as const)('%s signs in by uid and gets %s from the directory', async (uid, role, via) => {
    const seq = await lastSeq(fx.core)
    const s = await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: uid, password: SEED_PASSWORDS[uid] })
    expect(s).toMatchObject({ signedIn: true, login: uid, dn: dnOf(uid), role, locked: false, viaGroups: via })
    const rows = await auditRows(fx.core, seq)
    expect(rows.map((r) => [r.action, r.resource_type, r.status, r.user_id, r.resource_name])).toEqual([['login', 'session', 'success', uid, uid]])
    expect(rows[0]!.details.context).toMatchObject({ profile: fx.profileName, role, tls: 'none' })
    expect(JSON.stringify(rows)).not.toContain(SEED_PASSWORDS[uid])
    await fx.core.auth.signOut(ui())
  })

  it('a bind DN the profile lists in adminDns is admin without any group', async () => {
    const s = await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: fx.info.adminDn, password: fx.info.adminPassword })
    expect(s).toMatchObject({ role: 'admin', viaGroups: ['adminDns'], dn: fx.info.adminDn })
    await fx.core.auth.signOut(ui())
  })

  it('refuses someone in no mapped group, audited as no-role', async () => {
    const seq = await lastSeq(fx.core)
    const err = await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: 'nobody', password: SEED_PASSWORDS.nobody }).catch((e) => e)
    expect(err).toMatchObject({ code: 'FORBIDDEN', details: { kind: 'no-role' } })
    expect(err.message).toContain('not a member of any group mapped to a Netkeeper role')
    const rows = await auditRows(fx.core, seq)
    expect(rows.map((r) => [r.action, r.status, r.details.context?.kind])).toEqual([['login', 'failure', 'no-role']])
    expect(fx.core.auth.status().signedIn).toBe(false)
  })

  it('says the same for a wrong password and an unknown or hostile name, and audits the kind, never the password', async () => {
    const seq = await lastSeq(fx.core)
    const attempts = [
      { user: 'alice', password: 'wrong-password-1' },
      { user: 'no-such-person', password: 'wrong-password-2' },
      { user: '*)(uid=*', password: 'wrong-password-3' },
      { user: 'admin)(|(objectClass=*', password: 'wrong-password-4' }
    ]
    for (const a of attempts) {
      const err = await fx.core.auth.signIn(ui(), { profile: fx.profileName, ...a }).catch((e) => e)
      expect(err).toMatchObject({ code: 'FORBIDDEN', details: { kind: 'credentials' } })
      expect(err.message).toContain('the user name or password is wrong, or the account is locked')
    }
    const rows = await auditRows(fx.core, seq)
    expect(rows.map((r) => [r.action, r.status, r.resource_name])).toEqual(attempts.map((a) => ['login', 'failure', a.user]))
    expect(rows.every((r) => r.details.context?.kind === 'invalid-credentials')).toBe(true)
    const text = JSON.stringify(rows)
    for (const a of attempts) expect(text).not.toContain(a.password)
  })

  it('refuses an empty password before any bind (it would be an anonymous bind)', async () => {
    const seq = await lastSeq(fx.core)
    await expect(fx.core.auth.signIn(ui(), { profile: fx.profileName, user: 'alice', password: '' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'password' } })
    expect((await auditRows(fx.core, seq)).map((r) => r.details.context?.kind)).toEqual(['empty-password'])
  })

  it('slows down repeated failures per user and profile, across attempts in parallel, and a success clears it', async () => {
    const p = fx.profileName
    for (let i = 0; i < 3; i++) await fx.core.auth.signIn(ui(), { profile: p, user: 'victor', password: `bad-${i}` }).catch(() => undefined)
    // Even the right password is refused while the pause lasts; parallel attempts do not slip through.
    const results = await Promise.all([1, 2, 3].map(() => fx.core.auth.signIn(ui(), { profile: p, user: 'victor', password: SEED_PASSWORDS.victor }).catch((e) => e)))
    for (const r of results) {
      expect(r).toMatchObject({ code: 'FORBIDDEN', details: { kind: 'throttled' } })
      expect(r.details.retryAfterMs).toBeGreaterThan(0)
    }
    // Another user on the same profile is not affected.
    expect((await fx.core.auth.signIn(ui(), { profile: p, user: 'oscar', password: SEED_PASSWORDS.oscar })).role).toBe('operator')
    await fx.core.auth.signOut(ui())
    const row = (await fx.core.db.knex.raw(`select failures, not_before > now() as waiting from directory_auth_throttle where profile = ? and login = 'victor'`, [p])).rows[0]
    expect(row).toEqual({ failures: 3, waiting: true })
    const seq = await lastSeq(fx.core)
    await new Promise((r) => setTimeout(r, results[0].details.retryAfterMs + 100))
    expect((await fx.core.auth.signIn(ui(), { profile: p, user: 'victor', password: SEED_PASSWORDS.victor })).role).toBe('viewer')
    expect((await fx.core.db.knex.raw(`select count(*)::int as n from directory_auth_throttle where profile = ? and login = 'victor'`, [p])).rows[0].n).toBe(0)
    expect((await auditRows(fx.core, seq)).map((r) => [r.action, r.status])).toEqual([['login', 'success']])
    await fx.core.auth.signOut(ui())
  })
})

describe.skipIf(skip)('the session', () => {
  it('runs directory work as the signed-in person, locks after idle time, unlocks with the password, signs out', async () => {
    await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: 'alice', password: SEED_PASSWORDS.alice })
    const scope = await fx.core.auth.scope(ui())
    expect(scope.ctx).toMatchObject({ actor: 'alice', roles: ['admin'], source: 'ui' })
    expect((await fx.core.directory.users.get(scope, 'bob')).uid).toBe('bob')

    const real = fx.core.auth.now
    const seq = await lastSeq(fx.core)
    try {
      fx.core.auth.now = () => real() + 16 * 60_000 // the profile's default idle lock is 15 minutes
      expect(fx.core.auth.status().locked).toBe(true)
      await expect(fx.core.auth.scope(ui())).rejects.toMatchObject({ code: 'FORBIDDEN', details: { kind: 'locked' } })
      await expect(fx.core.auth.unlock(ui(), { password: 'not-it' })).rejects.toMatchObject({ code: 'FORBIDDEN', details: { kind: 'credentials' } })
      expect(fx.core.auth.status().locked).toBe(true)
      const s = await fx.core.auth.unlock(ui(), { password: SEED_PASSWORDS.alice })
      expect(s).toMatchObject({ locked: false, role: 'admin' })
      expect((await fx.core.directory.users.get(await fx.core.auth.scope(ui()), 'bob')).uid).toBe('bob')
    } finally {
      fx.core.auth.now = real
    }
    await fx.core.auth.signOut(ui())
    await expect(fx.core.auth.scope(ui())).rejects.toMatchObject({ code: 'FORBIDDEN', details: { kind: 'no-session' } })
    const rows = await auditRows(fx.core, seq)
    expect(rows.map((r) => [r.action, r.status, r.details.context?.reason, r.details.context?.kind ?? null])).toEqual([
      ['logout', 'success', 'idle-lock', null],
      ['login', 'failure', 'unlock', 'invalid-credentials'],
      ['login', 'success', 'unlock', null],
      ['logout', 'success', 'sign-out', null]
    ])
  })
})

describe.skipIf(skip)('over the IPC handler table', () => {
  it('validates arguments, needs a sign-in, and runs as the signed-in person', async () => {
    const table = createHandlers(fx.core)
    const before = await dispatch(table, 'directory:user:list', {}, ui())
    expect(before).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', details: { kind: 'no-session' } } })
    const bad = await dispatch(table, 'directory:user:list', { pageSize: 5000 }, ui())
    expect(bad).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { field: 'pageSize' } } })
    const signed = await dispatch(table, 'auth:signin', { profile: fx.profileName, user: 'victor', password: SEED_PASSWORDS.victor }, ui())
    expect(signed).toMatchObject({ ok: true, value: { role: 'viewer' } })
    const page = await dispatch(table, 'directory:user:list', { search: 'osc', pageSize: 10 }, ui())
    // Other test files add users under the same base concurrently (e.g. "byoscar"): oscar must be there.
    expect(page).toMatchObject({ ok: true, value: { items: expect.arrayContaining([expect.objectContaining({ uid: 'oscar' })]) } })
    // The viewer may not create users, nor promote themselves through the profile's role mapping.
    expect(await dispatch(table, 'directory:user:create', { uid: 'byviewer', sn: 'V' }, ui())).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    const profile = ldapProfileSchema.parse({ ...fx.profile, roles: { admin: ['netkeeper-viewers'], operator: [], viewer: [] } })
    expect(await dispatch(table, 'directory:profile:save', { profile, replace: true }, ui())).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    // Nor test or save a database connection (admin actions while a directory session exists).
    const db = { name: 'x', host: '127.0.0.1', port: 1, database: 'x', user: 'x', sslMode: 'disable' as const }
    for (const channel of ['settings:db:test', 'settings:db:save'] as const) {
      expect(await dispatch(table, channel, { profile: db }, ui())).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringContaining('victor has viewer') } })
    }
    expect(await dispatch(table, 'auth:session', {}, ui())).toMatchObject({ ok: true, value: { signedIn: true, login: 'victor', role: 'viewer' } })
    // IPAM and the audit trail run as the signed-in person too: a viewer reads, but may not change pools.
    expect(await dispatch(table, 'ipam:pool:list', {}, ui())).toMatchObject({ ok: true })
    const refused = await dispatch(table, 'ipam:pool:create', { name: 'by-viewer', network: '10.250.0.0/24' }, ui())
    expect(refused).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    const last = await dispatch(table, 'audit:list', { limit: 1, resourceType: 'ip_pool' }, ui())
    expect(last).toMatchObject({ ok: true, value: { items: [expect.objectContaining({ action: 'authorize', status: 'failure', userId: expect.stringContaining('victor') })] } })
    expect(await dispatch(table, 'auth:signout', {}, ui())).toMatchObject({ ok: true, value: { signedIn: false } })
    // Signed out, the app keeps the viewer's rights: signing out never raises a role (an admin's sign-in does).
    expect(await dispatch(table, 'ipam:pool:create', { name: 'by-desktop', network: '10.250.0.0/24' }, ui())).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    await dispatch(table, 'auth:signin', { profile: fx.profileName, user: 'alice', password: SEED_PASSWORDS.alice }, ui())
    await dispatch(table, 'auth:signout', {}, ui())
    expect(await dispatch(table, 'ipam:pool:create', { name: 'by-desktop', network: '10.250.0.0/24' }, ui())).toMatchObject({ ok: true })
  })
})

describe.skipIf(skip)('TLS and a server that goes away', () => {
  let srv: SlapdServer
  let core: Core
  let dataDir: string

  beforeAll(async () => {
    // Its own slapd that refuses anything but TLS, so a reconnect that forgot StartTLS would fail.
    srv = await startSlapd({ extraConfig: ['security tls=1'] })
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-tls-'))
    const common = { adminDns: [srv.info.adminDn], roles: { admin: ['netkeeper-admins'], operator: [], viewer: [] } }
    new ProfileStore(dataDir).write({
      version: 1,
      defaultProfile: 'starttls',
      profiles: [
        ldapProfileSchema.parse(baseProfile(srv.info, { name: 'starttls', startTls: true, ...common })),
        ldapProfileSchema.parse(baseProfile(srv.info, { name: 'ldaps', url: srv.info.ldapsUrl, ...common })),
        ldapProfileSchema.parse(baseProfile(srv.info, { name: 'plain', ...common })),
        ldapProfileSchema.parse(baseProfile(srv.info, { name: 'untrusted', url: srv.info.ldapsUrl, caFile: undefined, ...common })),
        ldapProfileSchema.parse(baseProfile(srv.info, { name: 'by-name', url: srv.info.ldapsUrl.replace('127.0.0.1', 'localhost'), ...common }))
      ]
    })
    core = await Core.open({ databaseUrl: await freshDatabase('tls'), dataDir, migrate: true })
  })
  afterAll(async () => {
    await core?.close()
    await srv?.stop()
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })

  it('binds over StartTLS and ldaps:// with the CA made for the test; refuses plain binds and unknown CAs clearly', async () => {
    for (const name of ['starttls', 'ldaps', 'by-name']) {
      const r = await core.directory.testProfile(ui(), name, srv.info.adminPassword)
      expect(r, JSON.stringify(r.checks)).toMatchObject({ ok: true, tls: name === 'starttls' ? 'starttls' : 'ldaps', passwordModify: true, pagedResults: true })
    }
    const plain = await core.auth.signIn(ui(), { profile: 'plain', user: 'alice', password: SEED_PASSWORDS.alice }).catch((e) => e)
    expect(plain.code).toBe('UNAVAILABLE')
    expect(plain.message).toContain('requires a secure connection')
    const untrusted = await core.directory.testProfile(ui(), 'untrusted', srv.info.adminPassword)
    expect(untrusted.ok).toBe(false)
    expect(untrusted.checks[0]!.detail).toContain("TLS certificate is not trusted")
    expect(untrusted.checks[0]!.detail).toContain('caFile')
  })

  it('survives a slapd restart in the middle of a session: reconnects, redoes StartTLS and the bind', async () => {
    await core.auth.signIn(ui(), { profile: 'starttls', user: 'alice', password: SEED_PASSWORDS.alice })
    const scope = await core.auth.scope(ui())
    expect((await core.directory.users.get(scope, 'oscar')).uid).toBe('oscar')
    await srv.pause()
    const down = await core.directory.users.get(await core.auth.scope(ui()), 'oscar').catch((e) => e)
    expect(down).toMatchObject({ code: 'UNAVAILABLE', details: { kind: 'unreachable' } })
    expect(down.message).toContain('connection refused')
    await srv.resume()
    const s2 = await core.auth.scope(ui())
    // A write proves the bind was redone (anonymous may not write) and TLS too (the server refuses plain text).
    const u = await core.directory.users.create(s2, { uid: 'afterrestart', sn: 'Restart' })
    expect(u.uid).toBe('afterrestart')
    expect(s2.conn.reconnects).toBe(1)
    expect(core.auth.status()).toMatchObject({ signedIn: true, locked: false, login: 'alice' })
    await core.auth.signOut(ui())
  })
})

describe.skipIf(skip || !hasSecretService)('with the bind secret in the OS keychain', () => {
  it('looks the uid up with the profile bind DN, tells unknown users and locked accounts apart in the audit log only', async () => {
    const name = `${fx.profileName}-kc`
    await fx.core.directory.saveProfile(ui(), { profile: ldapProfileSchema.parse({ ...fx.profile, name }), password: fx.info.adminPassword })
    try {
      expect(fs.readFileSync(path.join(fx.dataDir, 'directory-profiles.json'), 'utf8')).not.toContain(fx.info.adminPassword)
      const seq = await lastSeq(fx.core)
      await fx.core.auth.signIn(ui(), { profile: name, user: 'oscar', password: SEED_PASSWORDS.oscar })
      await fx.core.auth.signOut(ui())
      await fx.core.auth.signIn(ui(), { profile: name, user: 'nosuchuser', password: 'x-1' }).catch(() => undefined)
      const admin = await fx.admin()
      await fx.core.directory.users.lock(admin, 'nobody')
      await fx.core.auth.signIn(ui(), { profile: name, user: 'nobody', password: SEED_PASSWORDS.nobody }).catch(() => undefined)
      await fx.core.directory.users.unlock(admin, 'nobody')
      const logins = (await auditRows(fx.core, seq)).filter((r) => r.resource_type === 'session' && r.action === 'login')
      expect(logins.map((r) => [r.resource_name, r.status, r.details.context?.method ?? null, r.details.context?.kind ?? null])).toEqual([
        ['oscar', 'success', 'search', null],
        ['nosuchuser', 'failure', 'search', 'unknown-user'],
        ['nobody', 'failure', 'search', 'account-locked']
      ])
    } finally {
      await fx.core.directory.removeProfile(ui(), name)
      await expect(fx.core.directory.secrets.get(ldapAccount(name))).resolves.toBeNull()
    }
  })

  it('drops the stored secret when the URL or bind DN changes, and never sends it to another server', async () => {
    const fake = await fakeLdap()
    const fakeUrl = `ldap://127.0.0.1:${fake.port}`
    const secret = fx.info.adminPassword
    const name = `${fx.profileName}-moved`
    const profile = ldapProfileSchema.parse({ ...fx.profile, name, timeoutMs: 2000, connectTimeoutMs: 1000 })
    const store = new ProfileStore(fx.dataDir)
    const pointAt = (url: string): void => {
      const f = store.read()
      store.write({ ...f, profiles: f.profiles.map((p) => (p.name === name ? { ...p, url } : p)) })
    }
    const noSecret = { code: 'NOT_FOUND', details: { field: 'password' } }
    await fx.core.directory.saveProfile(ui(), { profile, password: secret })
    try {
      // The control: the stored secret binds at the server it was saved for.
      expect((await fx.core.directory.testProfile(ui(), name)).ok).toBe(true)

      // The file edited by hand to point at another server: the secret stays behind, nothing is sent.
      pointAt(fakeUrl)
      await expect(fx.core.directory.testProfile(ui(), name)).rejects.toMatchObject(noSecret)
      await expect(fx.core.auth.commandScope(ui(), { profile: name })).rejects.toMatchObject(noSecret)
      expect((await fx.core.directory.listProfiles(ui())).find((p) => p.name === name)?.hasSecret).toBe(false)
      pointAt(profile.url)
      expect((await fx.core.directory.listProfiles(ui())).find((p) => p.name === name)?.hasSecret).toBe(true)

      // Saved with a new URL (and no new secret): the secret is deleted from the keychain, and saving the old
      // URL back does not bring it back.
      const moved = await fx.core.directory.saveProfile(ui(), { profile: { ...profile, url: fakeUrl }, replace: true })
      expect(moved.hasSecret).toBe(false)
      await expect(fx.core.directory.secrets.get(ldapAccount(name))).resolves.toBeNull()
      await expect(fx.core.directory.testProfile(ui(), name)).rejects.toMatchObject(noSecret)
      await fx.core.directory.saveProfile(ui(), { profile, replace: true })
      await expect(fx.core.directory.testProfile(ui(), name)).rejects.toMatchObject(noSecret)

      // Same for a new bind DN.
      await fx.core.directory.saveProfile(ui(), { profile, password: secret, replace: true })
      const rebound = await fx.core.directory.saveProfile(ui(), { profile: { ...profile, bindDn: dnOf('alice') }, replace: true })
      expect(rebound.hasSecret).toBe(false)
      await expect(fx.core.directory.secrets.get(ldapAccount(name))).resolves.toBeNull()

      // The fake server heard from nobody so far; a secret typed for it does go there (the fake records the
      // bind request), so it would have seen the stored one had it been sent.
      expect(fake.connections).toBe(0)
      await fx.core.directory.saveProfile(ui(), { profile: { ...profile, url: fakeUrl }, replace: true })
      const typed = await fx.core.directory.testProfile(ui(), name, 'typed-for-the-fake')
      expect(typed.ok).toBe(false)
      expect(fake.saw('typed-for-the-fake')).toBe(true)
      expect(fake.saw(secret)).toBe(false)
    } finally {
      await fx.core.directory.removeProfile(ui(), name)
      await fake.close()
    }
  })
})

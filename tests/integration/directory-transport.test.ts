/**
 * Passwords and plain LDAP: a simple bind or a password change over ldap:// without StartTLS to a host
 * that is not this machine is refused before any socket is opened, unless the profile says allowInsecure.
 *
 * The refused target is 192.0.2.1 (TEST-NET-1, RFC 5737): nothing is ever sent there, and the test proves
 * it by counting every client socket Node creates (the `net.client.socket` diagnostics channel) while the
 * refusals run. What allowInsecure lets through is shown against a fake LDAP listener reached through an
 * address of this machine's own that is not loopback, when it has one.
 */
import dc from 'node:diagnostics_channel'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { insecureTransport, isLoopbackHost, LdapConnection, OID_PASSWORD_MODIFY } from '../../src/main/core/directory/connection'
import { change } from '../../src/main/core/directory/filters'
import { passwordModifyValue } from '../../src/main/core/directory/password'
import { ProfileStore, resolveProfile } from '../../src/main/core/directory/profiles'
import { ldapProfileSchema } from '../../src/shared/directory'
import { auditRows, lastSeq } from '../support/core'
import { freshDatabase } from '../support/db'
import { fakeLdap } from '../support/fake-servers'

const TEST_NET = 'ldap://192.0.2.1:389'
const ui = () => makeContext({ actor: 'desktop-user', roles: ['admin'], source: 'ui' })
const base = { baseDn: 'dc=example,dc=test', bindDn: 'cn=admin,dc=example,dc=test', timeoutMs: 2000, connectTimeoutMs: 1000 }

/** Client sockets Node creates while `fn` runs. */
async function socketsDuring(fn: () => Promise<unknown>): Promise<number> {
  let n = 0
  const count = (): void => void n++
  dc.subscribe('net.client.socket', count)
  try {
    await fn()
  } finally {
    dc.unsubscribe('net.client.socket', count)
  }
  return n
}

/** An IPv4 address of this machine that is not loopback, or null. */
function ownAddress(): string | null {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return null
}

describe('which hosts are this machine', () => {
  it('takes 127.0.0.0/8, ::1 and localhost as loopback, and nothing else', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LocalHost']) expect(isLoopbackHost(h), h).toBe(true)
    for (const h of ['192.0.2.1', '10.0.0.1', '0.0.0.0', '::', '128.0.0.1', 'localhost.example.org', 'ldap.example.org', '::ffff:192.0.2.1']) expect(isLoopbackHost(h), h).toBe(false)
  })

  it('lets a password over TLS, to loopback, or with allowInsecure; refuses it otherwise, naming the way out', () => {
    const p = (url: string, more: { startTls?: boolean; allowInsecure?: boolean } = {}) => ({ name: 'p', url, startTls: false, allowInsecure: false, ...more })
    expect(insecureTransport(p('ldaps://192.0.2.1'), 'a bind')).toBeNull()
    expect(insecureTransport(p(TEST_NET, { startTls: true }), 'a bind')).toBeNull()
    expect(insecureTransport(p('ldap://127.0.0.1:389'), 'a bind')).toBeNull()
    expect(insecureTransport(p('ldap://localhost'), 'a bind')).toBeNull()
    expect(insecureTransport(p('ldap://[::1]:389'), 'a bind')).toBeNull()
    expect(insecureTransport(p(TEST_NET, { allowInsecure: true }), 'a bind')).toBeNull()
    const refused = insecureTransport(p(TEST_NET), 'a bind')
    expect(refused).toMatchObject({ code: 'FORBIDDEN', details: { field: 'url', kind: 'insecure' } })
    expect(refused?.message).toContain('would send the password in clear to 192.0.2.1')
    expect(refused?.message).toContain('allowInsecure')
  })
})

describe('plain ldap:// to another machine', () => {
  let core: Core
  let dataDir: string

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-transport-'))
    new ProfileStore(dataDir).write({ version: 1, defaultProfile: 'far', profiles: [ldapProfileSchema.parse({ name: 'far', url: TEST_NET, ...base })] })
    core = await Core.open({ databaseUrl: await freshDatabase('transport'), dataDir, migrate: true })
  })
  afterAll(async () => {
    await core?.close()
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })

  it('refuses a bind and a password change before any connection is attempted', async () => {
    const far = resolveProfile(ldapProfileSchema.parse({ name: 'far', url: TEST_NET, ...base }))
    const seq = await lastSeq(core)
    const started = performance.now()
    const sockets = await socketsDuring(async () => {
      // A bind (the connection's first operation).
      await expect(new LdapConnection(far, { dn: base.bindDn, password: 'pw-1' }).open()).rejects.toMatchObject({ code: 'FORBIDDEN', details: { kind: 'insecure', field: 'url' } })
      // Sign-in with a DN (no look-up first), a command bind, a profile test.
      await expect(core.auth.signIn(ui(), { profile: 'far', user: 'uid=alice,ou=people,dc=example,dc=test', password: 'pw-2' })).rejects.toMatchObject({ code: 'FORBIDDEN', details: { kind: 'insecure' } })
      await expect(core.auth.commandScope(ui(), { profile: 'far', password: 'pw-3' })).rejects.toMatchObject({ code: 'FORBIDDEN', details: { kind: 'insecure' } })
      const report = await core.directory.testProfile(ui(), 'far', 'pw-4')
      expect(report).toMatchObject({ ok: false, tls: 'none', allowInsecure: false })
      expect(report.checks[0]!.detail).toContain('set allowInsecure on profile far')
      // A password change on an anonymous connection: refused before the connection is even made.
      const anon = new LdapConnection(far, null)
      await expect(anon.exop(OID_PASSWORD_MODIFY, passwordModifyValue('uid=alice,ou=people,dc=example,dc=test', 'new-pw'), 'set the password of alice', 'password')).rejects.toMatchObject({
        code: 'FORBIDDEN',
        details: { kind: 'insecure' }
      })
      await expect(anon.modify('uid=alice,ou=people,dc=example,dc=test', [change('replace', 'userPassword', ['{SSHA}x'])])).rejects.toMatchObject({ details: { kind: 'insecure' } })
      await expect(anon.add('uid=eve,ou=people,dc=example,dc=test', { objectClass: 'inetOrgPerson', userPassword: 'clear' })).rejects.toMatchObject({ details: { kind: 'insecure' } })
    })
    expect(sockets).toBe(0)
    // Refused at once: nobody waited for a connect timeout.
    expect(performance.now() - started).toBeLessThan(1000)
    const failures = (await auditRows(core, seq)).filter((r) => r.resource_type === 'session' && r.status === 'failure')
    expect(failures.map((r) => [r.action, r.details.context?.kind ?? r.details.context?.purpose])).toEqual([
      ['login', 'insecure-transport'],
      ['authenticate', 'insecure-transport'],
      ['authenticate', 'profile-test']
    ])
  })

  it.skipIf(!ownAddress())('with allowInsecure, binds over plain LDAP to another address (here: this machine\'s own)', async () => {
    const fake = await fakeLdap({ host: '0.0.0.0' })
    try {
      const url = `ldap://${ownAddress()}:${fake.port}`
      const strict = resolveProfile(ldapProfileSchema.parse({ name: 'lab', url, ...base }))
      expect(await socketsDuring(() => new LdapConnection(strict, { dn: base.bindDn, password: 'lab-secret' }).open().catch((e) => expect(e.details.kind).toBe('insecure')))).toBe(0)
      expect(fake.connections).toBe(0)
      const lab = resolveProfile(ldapProfileSchema.parse({ name: 'lab', url, allowInsecure: true, ...base }))
      // The fake listener records the bind request, then hangs up: the bind fails, but it was sent.
      await expect(new LdapConnection(lab, { dn: base.bindDn, password: 'lab-secret' }).open()).rejects.toMatchObject({ code: 'UNAVAILABLE' })
      expect(fake.saw('lab-secret')).toBe(true)
    } finally {
      await fake.close()
    }
  })
})

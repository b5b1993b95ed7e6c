/**
 * Sign-in that means something: an admin can require a directory sign-in on the database (shared by every
 * desktop), and signing out never raises a role. Real slapd and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeContext } from '../../src/main/core/context'
import { createHandlers, dispatch } from '../../src/main/ipc/handlers'
import { auditRows, lastSeq } from '../support/core'
import { cli } from '../support/cli'
import { openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'
import { SEED_PASSWORDS } from '../support/slapd'

const skip = slapdMissing()
const ui = () => makeContext({ actor: 'desktop-user', roles: ['admin'], source: 'ui' })

let fx: DirectoryFixture

beforeAll(async () => {
  if (skip) return
  fx = await openDirectory('policy', { usersDn: 'ou=people,dc=example,dc=test', groupsDn: 'ou=groups,dc=example,dc=test' })
})
afterAll(async () => {
  await fx?.close()
})

describe.skipIf(skip)('signing out never raises a role', () => {
  it("leaves a viewer's rights after a viewer signs out, and an operator's after an operator", async () => {
    expect(fx.core.auth.status()).toMatchObject({ signedIn: false, roleWithoutSession: 'admin' })
    await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: 'victor', password: SEED_PASSWORDS.victor })
    const out = await fx.core.auth.signOut(ui())
    expect(out).toMatchObject({ signedIn: false, roleWithoutSession: 'viewer' })
    expect((await fx.core.auth.requestContext(ui())).roles).toEqual(['viewer'])
    expect(fx.core.auth.configContext(ui()).roles).toEqual(['viewer'])
    // The handler table runs IPAM as that viewer: a pool create is refused.
    const table = createHandlers(fx.core)
    const r = await dispatch(table, 'ipam:pool:create', { name: 'after-signout', network: '10.66.0.0/24' }, ui())
    expect(r).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: 'oscar', password: SEED_PASSWORDS.oscar })
    await fx.core.auth.signOut(ui())
    expect((await fx.core.auth.requestContext(ui())).roles).toEqual(['operator'])
    // An admin's session, ended, gives an admin's rights back (never more than the session that ended).
    await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: 'alice', password: SEED_PASSWORDS.alice })
    await fx.core.auth.signOut(ui())
    expect((await fx.core.auth.requestContext(ui())).roles).toEqual(['admin'])
  })
})

describe.skipIf(skip)('a directory sign-in required by the database', () => {
  it('cannot be switched on from the app without a session, so the app cannot lock itself out', async () => {
    const err = await fx.core.auth.setSignInPolicy(ui(), { requireSignIn: true }).catch((e) => e)
    expect(err).toMatchObject({ code: 'VALIDATION', details: { field: 'requireSignIn' } })
  })

  it('is refused to a signed-in viewer and set by an admin, audited', async () => {
    await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: 'victor', password: SEED_PASSWORDS.victor })
    await expect(fx.core.auth.setSignInPolicy(ui(), { requireSignIn: true })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await fx.core.auth.signOut(ui())
    await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: 'alice', password: SEED_PASSWORDS.alice })
    const seq = await lastSeq(fx.core)
    const table = createHandlers(fx.core)
    const set = await dispatch(table, 'settings:security:set', { requireSignIn: true }, ui())
    expect(set).toMatchObject({ ok: true, value: { requireSignIn: true } })
    const rows = await auditRows(fx.core, seq)
    expect(rows.map((r) => [r.action, r.resource_type, r.resource_name, r.user_id])).toEqual([['update', 'security_policy', 'require_directory_sign_in', 'alice']])
    expect(rows[0]!.details).toMatchObject({ before: { requireSignIn: false }, after: { requireSignIn: true } })
    await fx.core.auth.signOut(ui())
  })

  it('then refuses every request without a session, and the session status says so', async () => {
    const table = createHandlers(fx.core)
    const list = await dispatch(table, 'ipam:pool:list', {}, ui())
    expect(list).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', details: { kind: 'sign-in-required' } } })
    const audit = await dispatch(table, 'audit:list', {}, ui())
    expect(audit).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    const status = await dispatch(table, 'auth:session', {}, ui())
    expect(status).toMatchObject({ ok: true, value: { signedIn: false, signInRequired: true } })
    await fx.core.auth.signIn(ui(), { profile: fx.profileName, user: 'oscar', password: SEED_PASSWORDS.oscar })
    expect(await dispatch(table, 'ipam:pool:list', {}, ui())).toMatchObject({ ok: true })
    await fx.core.auth.signOut(ui())
  })

  it('is shown and switched off from the CLI (which it does not lock: the server role decides there)', async () => {
    const url = fx.core.db.spec.kind === 'postgresql' ? (fx.core.db.spec.url ?? '') : ''
    const shown = await cli(['db', 'require-sign-in', '--json'], { NETKEEPER_DATABASE_URL: url })
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.json()).toEqual({ requireSignIn: true })
    const off = await cli(['db', 'require-sign-in', 'no'], { NETKEEPER_DATABASE_URL: url })
    expect(off.code, off.stderr).toBe(0)
    expect(off.stdout).toContain('directory sign-in not required')
    expect(await fx.core.auth.refreshPolicy(true)).toEqual({ requireSignIn: false })
    const bad = await cli(['db', 'require-sign-in', 'maybe'], { NETKEEPER_DATABASE_URL: url })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('"maybe" is not yes or no')
  })
})

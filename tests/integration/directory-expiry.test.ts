/**
 * Account expiry, password policy, the maintenance run and bulk actions against the real slapd (ppolicy
 * loaded): expiry set and listed, an expired account locked by the maintenance run, a password refused by
 * the policy's minimum length before it reaches the server, a bulk lock as one request id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandScope } from '../../src/main/core/auth/service'
import { epochDays } from '../../src/main/core/directory/password'
import { auditRows, lastSeq } from '../support/core'
import { ldapadd, ldapmodify, ldapsearch, ldifValues, openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'

const skip = slapdMissing()
let fx: DirectoryFixture
let admin: CommandScope
const day = (offset: number): string => new Date((epochDays() + offset) * 86_400_000).toISOString().slice(0, 10)
let policyDn: string

beforeAll(async () => {
  if (skip) return
  fx = await openDirectory('expiry')
  admin = await fx.admin()
  let n = 44000
  for (const uid of ['soon', 'later', 'past', 'strict', 'b1', 'b2', 'b3']) {
    await fx.core.directory.users.create(admin, { uid, sn: uid, uidNumber: n++ })
  }
  policyDn = `cn=strict-${fx.profileName},ou=policies,${fx.info.baseDn}`
  ldapadd(`dn: ${policyDn}\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\ncn: strict-${fx.profileName}\npwdAttribute: userPassword\npwdMinLength: 12\npwdMaxAge: 864000\n`)
  ldapmodify(`dn: uid=strict,${fx.usersDn}\nchangetype: modify\nadd: pwdPolicySubentry\npwdPolicySubentry: ${policyDn}\n`)
})
afterAll(async () => {
  await fx?.close()
})

describe.skipIf(skip)('account expiry and password policy', () => {
  it('sets expiry (shadowExpire), lists what expires within N days, removes it', async () => {
    const r = await fx.core.directory.expiry.set(admin, { uid: 'soon', on: day(10) })
    expect(r).toMatchObject({ uid: 'soon', expires: day(10), shadowExpire: epochDays() + 10, changed: true })
    expect(ldifValues(ldapsearch(`uid=soon,${fx.usersDn}`, '(objectClass=*)', ['shadowExpire'], 'base'), 'shadowExpire')).toEqual([String(epochDays() + 10)])
    expect((await fx.core.directory.expiry.set(admin, { uid: 'soon', on: day(10) })).changed).toBe(false)
    await fx.core.directory.expiry.set(admin, { uid: 'later', on: day(90) })
    const list = await fx.core.directory.expiry.expiring(admin, { withinDays: 30 })
    expect(list.filter((a) => a.what === 'account').map((a) => [a.uid, a.daysLeft])).toEqual([['soon', 10]])
    expect((await fx.core.directory.expiry.expiring(admin, { withinDays: 100 })).filter((a) => a.what === 'account').map((a) => a.uid)).toEqual(['soon', 'later'])
    await fx.core.directory.expiry.set(admin, { uid: 'later', on: null })
    expect(ldifValues(ldapsearch(`uid=later,${fx.usersDn}`, '(objectClass=*)', ['shadowExpire'], 'base'), 'shadowExpire')).toEqual([])
    await expect(fx.core.directory.expiry.set(admin, { uid: 'soon', on: '2026-13-45' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'on' } })
  })

  it('locks an expired account in the maintenance run (dry run first), audited under one request id', async () => {
    await fx.core.directory.expiry.set(admin, { uid: 'past', on: day(-2) })
    const dry = await fx.core.directory.expiry.lockExpired(admin, { dryRun: true })
    expect(dry.locked).toEqual(['past'])
    expect(ldifValues(ldapsearch(`uid=past,${fx.usersDn}`, '(objectClass=*)', ['pwdAccountLockedTime'], 'base'), 'pwdAccountLockedTime')).toEqual([])
    const seq = await lastSeq(fx.core)
    const r = await fx.core.directory.expiry.lockExpired(admin)
    expect(r).toMatchObject({ locked: ['past'], failed: [] })
    expect(ldifValues(ldapsearch(`uid=past,${fx.usersDn}`, '(objectClass=*)', ['pwdAccountLockedTime'], 'base'), 'pwdAccountLockedTime')).toEqual(['000001010000Z'])
    const rows = await auditRows(fx.core, seq)
    expect(rows.map((x) => [x.resource_type, x.status])).toEqual([
      ['ldap_user', 'warning'],
      ['ldap_user', 'success'],
      ['ldap_maintenance', 'success']
    ])
    expect(new Set(rows.map((x) => x.request_id)).size).toBe(1)
    expect((await fx.core.directory.expiry.lockExpired(admin)).locked).toEqual([])
  })

  it("finds the policy that applies (the entry's, else the default) and refuses a short password before it reaches the server", async () => {
    expect(await fx.core.directory.expiry.policy(admin, 'strict')).toMatchObject({ dn: policyDn, source: 'entry', minLength: 12, maxAgeSeconds: 864000 })
    expect(await fx.core.directory.expiry.policy(admin, 'soon')).toMatchObject({ dn: `cn=default,ou=policies,${fx.info.baseDn}`, source: 'default', minLength: null })
    const seq = await lastSeq(fx.core)
    const err = await fx.core.directory.users.setPassword(admin, { uid: 'strict', password: 'short-pw' }).catch((e) => e)
    expect(err).toMatchObject({ code: 'VALIDATION', details: { field: 'password', minLength: 12 } })
    expect(err.message).toContain('at least 12 characters')
    expect(err.message).not.toContain('short-pw')
    const rows = (await auditRows(fx.core, seq)).filter((r) => r.resource_type === 'ldap_user')
    expect(rows.map((r) => r.status)).toEqual(['failure']) // no intent row: nothing was sent
    expect(JSON.stringify(rows)).not.toContain('short-pw')
    await fx.core.directory.users.setPassword(admin, { uid: 'strict', password: 'a-long-enough-password' })
    // A password changed under a policy with a max age (10 days here) is listed as expiring; the default
    // policy has none, so the others' passwords are not.
    const list = await fx.core.directory.expiry.expiring(admin, { withinDays: 30 })
    expect(list.filter((a) => a.what === 'password').map((a) => [a.uid, a.daysLeft])).toEqual([['strict', 10]])
  })

  it('runs a bulk lock, group add and expiry as one request id each', async () => {
    ldapadd(`dn: cn=bulk-team,${fx.groupsDn}\nobjectClass: posixGroup\ncn: bulk-team\ngidNumber: 44100\n`)
    const seq = await lastSeq(fx.core)
    const lock = await fx.core.directory.bulk.run(admin, { action: 'lock', uids: ['b1', 'b2', 'b3', 'nobody-here'] })
    expect(lock).toMatchObject({ done: ['b1', 'b2', 'b3'], failed: [{ uid: 'nobody-here' }] })
    const rows = await auditRows(fx.core, seq)
    expect(rows.length).toBeGreaterThanOrEqual(7)
    expect(new Set(rows.map((x) => x.request_id))).toEqual(new Set([admin.ctx.requestId]))
    for (const u of ['b1', 'b2', 'b3']) expect(ldifValues(ldapsearch(`uid=${u},${fx.usersDn}`, '(objectClass=*)', ['pwdAccountLockedTime'], 'base'), 'pwdAccountLockedTime')).toHaveLength(1)
    expect(await fx.core.directory.bulk.run(admin, { action: 'addToGroup', group: 'bulk-team', uids: ['b1', 'b2'] })).toMatchObject({ done: ['b1', 'b2'] })
    expect(ldifValues(ldapsearch(`cn=bulk-team,${fx.groupsDn}`, '(objectClass=*)', ['memberUid'], 'base'), 'memberUid').sort()).toEqual(['b1', 'b2'])
    expect(await fx.core.directory.bulk.run(admin, { action: 'setExpiry', expires: day(5), uids: ['b1', 'b2'] })).toMatchObject({ done: ['b1', 'b2'] })
    await expect(fx.core.directory.bulk.run(admin, { action: 'addToGroup', uids: ['b1'] })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'group' } })
    const op = { ...admin, ctx: { ...admin.ctx, roles: ['operator' as const] } }
    await expect(fx.core.directory.bulk.run(op, { action: 'delete', uids: ['b3'] })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect((await fx.core.directory.bulk.run(admin, { action: 'unlock', uids: ['b1', 'b2', 'b3'] })).done).toEqual(['b1', 'b2', 'b3'])
  })
})

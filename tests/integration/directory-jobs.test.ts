/**
 * What issue 18 left for the app, against the real slapd: progress and cancel of the CSV import, the LDIF
 * import and the bulk actions through the run registry the IPC handlers use (directory/jobs.ts), each cancel
 * reporting exactly what was applied before it; bulk actions on several groups as one audited request; and
 * the CSV import's update mode setting passwords (never audited, a second run a no-op).
 */
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandScope } from '../../src/main/core/auth/service'
import { makeContext } from '../../src/main/core/context'
import { auditRows, lastSeq } from '../support/core'
import { ldapadd, ldapmodify, ldapsearch, ldifValues, openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'

const skip = slapdMissing()
let fx: DirectoryFixture
let admin: CommandScope

const uidsIn = (dn: string): string[] => ldifValues(ldapsearch(dn, '(uid=*)', ['uid'], 'one'), 'uid').sort()
const membersOf = (fx: DirectoryFixture, cn: string): string[] => ldifValues(ldapsearch(`cn=${cn},${fx.groupsDn}`, '(objectClass=*)', ['memberUid'], 'base'), 'memberUid').sort()
const canBind = (dn: string, password: string): boolean => {
  try {
    execFileSync('ldapwhoami', ['-x', '-H', fx.info.url, '-D', dn, '-w', password], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

beforeAll(async () => {
  if (skip) return
  fx = await openDirectory('dirjobs')
  admin = await fx.admin()
  for (const [cn, gid] of [
    ['jobs-a', 43001],
    ['jobs-b', 43002],
    ['jobs-c', 43003]
  ] as const)
    ldapadd(`dn: cn=${cn},${fx.groupsDn}\nobjectClass: posixGroup\ncn: ${cn}\ngidNumber: ${gid}\n`)
})
afterAll(async () => {
  await fx?.close()
})

describe.skipIf(skip)('directory runs: progress, cancel, group bulk, passwords on update', () => {
  it('cancels a CSV import after the rows in flight, marks the rest not attempted, and keeps what was written', async () => {
    const rows = Array.from({ length: 80 }, (_, i) => `c${String(i).padStart(2, '0')},Cee,Row${i}`)
    const text = ['uid,givenName,sn', ...rows].join('\n')
    const runId = randomUUID()
    const seen: (number | undefined)[] = []
    const r = await fx.core.directory.jobs.track(fx.ctx, runId, 'user-import', (h) =>
      fx.core.directory.userImport.run(
        admin,
        { text },
        (done, total) => {
          h.progress(done, total)
          seen.push(fx.core.directory.jobs.progress(fx.ctx, runId)?.done)
          if (done === 3) expect(fx.core.directory.jobs.cancel(fx.ctx, runId)).toEqual({ cancelled: true })
        },
        h.cancelled
      )
    )
    expect(seen.slice(0, 3)).toEqual([1, 2, 3])
    expect(r.cancelled).toBe(true)
    const written = uidsIn(fx.usersDn).filter((u) => u.startsWith('c'))
    expect(r.created).toBe(written.length)
    expect(written.length).toBeGreaterThanOrEqual(3)
    expect(written.length).toBeLessThan(80)
    expect(r.notAttempted).toBe(80 - written.length)
    const skipped = r.rows.filter((x) => x.notAttempted).map((x) => x.uid!)
    expect(skipped.length).toBe(r.notAttempted)
    expect(skipped.some((u) => written.includes(u))).toBe(false)
    // The run is gone from the registry once it ends; another person never sees it.
    expect(fx.core.directory.jobs.progress(fx.ctx, runId)).toBeNull()
    expect(fx.core.directory.jobs.cancel(makeContext({ actor: 'someone-else', roles: ['admin'], source: 'ui' }), runId)).toEqual({ cancelled: false })
  })

  it('refuses a second run under a run id that is still running', async () => {
    const runId = randomUUID()
    await fx.core.directory.jobs.track(fx.ctx, runId, 'user-bulk', async () => {
      await expect(fx.core.directory.jobs.track(fx.ctx, runId, 'user-bulk', async () => 1)).rejects.toMatchObject({ code: 'CONFLICT' })
      expect(fx.core.directory.jobs.progress(makeContext({ actor: 'someone-else', roles: ['admin'], source: 'ui' }), runId)).toBeNull()
    })
  })

  it('cancels a bulk lock before the next user and names the users it never reached', async () => {
    const runId = randomUUID()
    const r = await fx.core.directory.jobs.track(fx.ctx, runId, 'user-bulk', (h) =>
      fx.core.directory.bulk.run(
        admin,
        { action: 'lock', uids: ['c00', 'c01', 'c02', 'c03'] },
        (done, total, current) => {
          h.progress(done, total, current)
          if (done === 2) {
            expect(fx.core.directory.jobs.progress(fx.ctx, runId)).toMatchObject({ kind: 'user-bulk', done: 2, total: 4, current: 'c02', cancelling: false })
            fx.core.directory.jobs.cancel(fx.ctx, runId)
          }
        },
        h.cancelled
      )
    )
    // c02 was already in hand when the cancel came: it is done; c03 was never touched.
    expect(r).toMatchObject({ cancelled: true, done: ['c00', 'c01', 'c02'], notAttempted: ['c03'], failed: [] })
    const locked = (uid: string): boolean => ldifValues(ldapsearch(`uid=${uid},${fx.usersDn}`, '(objectClass=*)', ['pwdAccountLockedTime', 'loginShell', 'userPassword'], 'base'), 'pwdAccountLockedTime').length > 0
    expect(locked('c00')).toBe(true)
    expect(locked('c03')).toBe(false)
  })

  it('cancels an LDIF import and reports the records applied before it and those not attempted', async () => {
    const ldif = ['x1', 'x2', 'x3', 'x4'].map((u) => `dn: uid=${u},${fx.usersDn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: ${u}\ncn: ${u}\nsn: ${u}\n`).join('\n')
    const runId = randomUUID()
    const source = (async function* () {
      yield ldif
    })()
    const r = await fx.core.directory.jobs.track(fx.ctx, runId, 'ldif-import', (h) =>
      fx.core.directory.ldif.import(
        admin,
        { source },
        (p) => {
          h.progress(p.done, p.total, p.dn)
          if (p.done === 2) fx.core.directory.jobs.cancel(fx.ctx, runId)
        },
        h.cancelled
      )
    )
    expect(r).toMatchObject({ cancelled: true, applied: 2, notAttempted: 2, failed: [] })
    expect(uidsIn(fx.usersDn).filter((u) => u.startsWith('x'))).toEqual(['x1', 'x2'])
  })

  it('adds and removes the same users to and from several groups, and deletes several groups, each as one request', async () => {
    let seq = await lastSeq(fx.core)
    const add = await fx.core.directory.bulk.runGroups(admin, { action: 'addMembers', cns: ['jobs-a', 'jobs-b', 'JOBS-A'], members: ['c00', 'c01'] })
    expect(add).toMatchObject({ action: 'addMembers', done: ['jobs-a', 'jobs-b'], unchanged: [], failed: [], cancelled: false })
    expect(membersOf(fx, 'jobs-a')).toEqual(['c00', 'c01'])
    expect(membersOf(fx, 'jobs-b')).toEqual(['c00', 'c01'])
    let rows = (await auditRows(fx.core, seq)).filter((x) => x.resource_type === 'ldap_group' && x.status === 'success')
    expect(rows.map((x) => x.resource_name).sort()).toEqual(['jobs-a', 'jobs-b'])
    expect(new Set(rows.map((x) => x.request_id))).toEqual(new Set([add.requestId]))

    const again = await fx.core.directory.bulk.runGroups(admin, { action: 'addMembers', cns: ['jobs-a', 'jobs-b'], members: ['c00'] })
    expect(again).toMatchObject({ done: [], unchanged: ['jobs-a', 'jobs-b'] })

    const rm = await fx.core.directory.bulk.runGroups(admin, { action: 'removeMembers', cns: ['jobs-a', 'jobs-b', 'no-such-group'], members: ['c01'] })
    expect(rm.done).toEqual(['jobs-a', 'jobs-b'])
    expect(rm.failed.map((f) => f.cn)).toEqual(['no-such-group'])
    expect(rm.failed[0]!.message).toMatch(/no-such-group/)
    expect(membersOf(fx, 'jobs-a')).toEqual(['c00'])

    seq = await lastSeq(fx.core)
    const del = await fx.core.directory.bulk.runGroups(admin, { action: 'delete', cns: ['jobs-b', 'jobs-c'] })
    expect(del).toMatchObject({ done: ['jobs-b', 'jobs-c'], failed: [] })
    expect(ldifValues(ldapsearch(fx.groupsDn, '(objectClass=posixGroup)', ['cn'], 'one'), 'cn')).toEqual(['jobs-a'])
    rows = (await auditRows(fx.core, seq)).filter((x) => x.resource_type === 'ldap_group' && x.action === 'delete' && x.status === 'success')
    expect(rows.map((x) => x.resource_name).sort()).toEqual(['jobs-b', 'jobs-c'])
    expect(new Set(rows.map((x) => x.request_id))).toEqual(new Set([del.requestId]))
  })

  it('refuses group bulk without members, and a group delete to an operator, with an audited refusal', async () => {
    await expect(fx.core.directory.bulk.runGroups(admin, { action: 'addMembers', cns: ['jobs-a'] })).rejects.toMatchObject({ code: 'VALIDATION' })
    const seq = await lastSeq(fx.core)
    const op = { ...admin, ctx: { ...admin.ctx, roles: ['operator' as const] } }
    await expect(fx.core.directory.bulk.runGroups(op, { action: 'delete', cns: ['jobs-a'] })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect((await auditRows(fx.core, seq)).filter((x) => x.action === 'authorize' && x.resource_type === 'ldap_group').length).toBe(1)
    expect(ldifValues(ldapsearch(fx.groupsDn, '(objectClass=posixGroup)', ['cn'], 'one'), 'cn')).toEqual(['jobs-a'])
  })

  it('sets passwords of existing users in update mode, never audits them, and leaves a password the entry holds alone', async () => {
    await fx.core.directory.userImport.run(admin, { text: 'uid,givenName,sn,password\njobpat,Pat,Post,first-pw-11\njobquin,Quin,Quay,\n' })
    const dn = `uid=jobpat,${fx.usersDn}`
    expect(canBind(dn, 'first-pw-11')).toBe(true)

    const text = 'uid,sn,password\njobpat,Post,second-pw-22\njobquin,Quay,jobquin-pw-33\n'
    const preview = await fx.core.directory.userImport.run(admin, { text, onExisting: 'update', dryRun: true })
    expect(preview.rows.map((x) => [x.uid, x.action, x.passwordSet])).toEqual([
      ['jobpat', 'update', true],
      ['jobquin', 'update', true]
    ])
    expect(canBind(dn, 'first-pw-11')).toBe(true)

    const seq = await lastSeq(fx.core)
    const r = await fx.core.directory.userImport.run(admin, { text, onExisting: 'update' })
    expect(r).toMatchObject({ updated: 2, failed: 0 })
    expect(canBind(dn, 'second-pw-22')).toBe(true)
    expect(canBind(dn, 'first-pw-11')).toBe(false)
    expect(canBind(`uid=jobquin,${fx.usersDn}`, 'jobquin-pw-33')).toBe(true)
    const audit = JSON.stringify(await auditRows(fx.core, seq))
    expect(audit).not.toContain('second-pw-22')
    expect(audit).not.toContain('jobquin-pw-33')
    expect(audit).toContain('"passwordSet":true')

    // The same file again: the stored hashes already match, so nothing changes.
    const again = await fx.core.directory.userImport.run(admin, { text, onExisting: 'update' })
    expect(again).toMatchObject({ updated: 0, unchanged: 2 })

    // A password the entry's policy refuses skips the row with the reason, before anything is sent.
    const policyDn = `cn=jobs-${fx.profileName},ou=policies,${fx.info.baseDn}`
    ldapadd(`dn: ${policyDn}\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\ncn: jobs-${fx.profileName}\npwdAttribute: userPassword\npwdMinLength: 12\n`)
    ldapmodify(`dn: ${dn}\nchangetype: modify\nadd: pwdPolicySubentry\npwdPolicySubentry: ${policyDn}\n`)
    const short = await fx.core.directory.userImport.run(admin, { text: 'uid,password\njobpat,short-pw\n', onExisting: 'update', dryRun: true })
    expect(short.rows[0]).toMatchObject({ action: 'skip' })
    expect(short.rows[0]!.reason).toMatch(/^password: /)
  })
})

/**
 * Bulk user import from CSV against the real slapd: a damaged file, each bad row reported with its reason;
 * the dry run writes nothing; apply creates exactly the clean rows (template applied, passwords set by the
 * server and never audited, groups joined); a second run changes nothing; existing uids updated when asked;
 * a file that is not CSV named by line; the templates themselves; new users sent in LDAP transactions, a
 * refusal inside one failing only its row, each user with its own intent and outcome audit rows.
 */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandScope } from '../../src/main/core/auth/service'
import { auditRows, lastSeq } from '../support/core'
import { ldapadd, ldapsearch, ldifValues, openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'

const skip = slapdMissing()
let fx: DirectoryFixture
let admin: CommandScope

const CSV = [
  'uid,givenName,sn,mail,password,groups,telephoneNumber',
  'ann,Ann,Able,ann@example.test,pw-ann-1,csv-team,+1 555 0100',
  'bad uid!,X,Y,,,,',
  'ben,Ben,Baker,ben@example.test,,,',
  'ann,Dup,Dup,,,,',
  'cat,Cat,,cat@example.test,,,',
  'dan,Dan,Day,dan@example.test,,no-such-group,',
  'eve,Eve,Evans,eve@exämple.test,,,',
  'fay,Fay,Fox,fay@example.test,,,,extra',
  '"gil","Gil","Gold ""the third""","gil@example.test",,,"+1 (555) 0101"',
  'hal,Hal,Hill,hal@example.test,,,phone#1',
  'alice,Alice,Again,,,,'
].join('\n')

const uidsIn = (dn: string): string[] => ldifValues(ldapsearch(dn, '(uid=*)', ['uid'], 'one'), 'uid').sort()

beforeAll(async () => {
  if (skip) return
  fx = await openDirectory('csvimp')
  admin = await fx.admin()
  ldapadd(`dn: cn=csv-team,${fx.groupsDn}\nobjectClass: posixGroup\ncn: csv-team\ngidNumber: 42000\n`)
})
afterAll(async () => {
  await fx?.close()
})

describe.skipIf(skip)('user import from CSV', () => {
  it('analyses every row with its reason, and the dry run writes nothing', async () => {
    const seq = await lastSeq(fx.core)
    const r = await fx.core.directory.userImport.run(admin, { text: CSV, dryRun: true })
    expect(r.rows.map((x) => [x.line, x.uid, x.action])).toEqual([
      [2, 'ann', 'create'],
      [3, 'bad uid!', 'skip'],
      [4, 'ben', 'create'],
      [5, 'ann', 'skip'],
      [6, 'cat', 'skip'],
      [7, 'dan', 'skip'],
      [8, 'eve', 'skip'],
      [9, 'fay', 'skip'],
      [10, 'gil', 'create'],
      [11, 'hal', 'skip'],
      [12, 'alice', 'skip']
    ])
    const reason = (line: number): string => r.rows.find((x) => x.line === line)!.reason!
    expect(reason(3)).toMatch(/^bad uid "bad uid!"/)
    expect(reason(5)).toBe('duplicate: uid ann is already on line 2')
    expect(reason(6)).toMatch(/^missing required attribute: sn is required/)
    expect(reason(7)).toBe('unknown group "no-such-group"')
    expect(reason(8)).toMatch(/^schema: mail: "eve@exämple.test" must be ASCII/)
    expect(reason(9)).toBe('has 8 fields; the header has 7')
    expect(reason(11)).toMatch(/^schema: telephoneNumber: "phone#1" may contain only/)
    expect(reason(12)).toMatch(/^exists \(uid=alice,ou=people,/)
    expect(r).toMatchObject({ dryRun: true, created: 3, skipped: 8, failed: 0 })
    expect(uidsIn(fx.usersDn)).toEqual([])
    expect((await auditRows(fx.core, seq)).filter((x) => x.resource_type === 'ldap_user' && x.status !== 'failure')).toEqual([])
  })

  it('creates exactly the clean rows with the template, passwords set and never audited, under one request id; a second run changes nothing', async () => {
    await fx.core.directory.templates.set(fx.ctx, fx.core.directory.profile(fx.profileName), { homeDirectory: '/srv/home/{uid}', loginShell: '/bin/zsh', attributes: { description: ['imported {uid}'] } })
    const seq = await lastSeq(fx.core)
    const progress: number[] = []
    const r = await fx.core.directory.userImport.run(admin, { text: CSV }, (done) => progress.push(done))
    expect(r).toMatchObject({ dryRun: false, created: 3, updated: 0, skipped: 8, failed: 0, cancelled: false })
    expect(progress).toEqual([1, 2, 3])
    expect(uidsIn(fx.usersDn)).toEqual(['ann', 'ben', 'gil'])
    const gil = ldapsearch(`uid=gil,${fx.usersDn}`, '(objectClass=*)', ['sn', 'homeDirectory', 'loginShell', 'description', 'uidNumber', 'objectClass'], 'base')
    expect(ldifValues(gil, 'sn')).toEqual(['Gold "the third"'])
    expect(ldifValues(gil, 'homeDirectory')).toEqual(['/srv/home/gil'])
    expect(ldifValues(gil, 'loginShell')).toEqual(['/bin/zsh'])
    expect(ldifValues(gil, 'description')).toEqual(['imported gil'])
    expect(Number(ldifValues(gil, 'uidNumber')[0])).toBeGreaterThanOrEqual(10000)
    execFileSync('ldapwhoami', ['-x', '-H', fx.info.url, '-D', `uid=ann,${fx.usersDn}`, '-w', 'pw-ann-1'])
    expect(ldifValues(ldapsearch(`cn=csv-team,${fx.groupsDn}`, '(objectClass=*)', ['memberUid'], 'base'), 'memberUid')).toEqual(['ann'])
    const rows = await auditRows(fx.core, seq)
    expect(JSON.stringify(rows)).not.toContain('pw-ann-1')
    const creates = rows.filter((x) => x.resource_type === 'ldap_user' && x.action === 'create' && x.status === 'success')
    expect(creates.map((x) => x.resource_name).sort()).toEqual(['ann', 'ben', 'gil'])
    expect(new Set(rows.map((x) => x.request_id))).toEqual(new Set([admin.ctx.requestId]))

    const seq2 = await lastSeq(fx.core)
    const again = await fx.core.directory.userImport.run(admin, { text: CSV })
    expect(again).toMatchObject({ created: 0, updated: 0, skipped: 11, failed: 0 })
    expect((await auditRows(fx.core, seq2)).filter((x) => x.status === 'success' && x.resource_type !== 'session')).toEqual([])
  })

  it('updates existing uids when asked (only what differs), and then finds nothing to change', async () => {
    const text = 'uid,sn,mail\nben,Baker,ben.baker@example.test\ngil,Gold "the third",gil@example.test\n'.replace('Gold "the third"', '"Gold ""the third"""')
    const r = await fx.core.directory.userImport.run(admin, { text, onExisting: 'update' })
    expect(r.rows.map((x) => [x.uid, x.action])).toEqual([
      ['ben', 'update'],
      ['gil', 'unchanged']
    ])
    expect(r.rows[0]!.changes).toEqual([{ attribute: 'mail', before: ['ben@example.test'], after: ['ben.baker@example.test'] }])
    expect(ldifValues(ldapsearch(`uid=ben,${fx.usersDn}`, '(objectClass=*)', ['mail'], 'base'), 'mail')).toEqual(['ben.baker@example.test'])
    const again = await fx.core.directory.userImport.run(admin, { text, onExisting: 'update' })
    expect(again).toMatchObject({ updated: 0, unchanged: 2 })
  })

  it('names the line of a file that is not CSV, and columns that map to nothing', async () => {
    await expect(fx.core.directory.userImport.run(admin, { text: 'uid,sn\nok,Fine\n"broken,Quote\n', dryRun: true })).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringMatching(/^line 3: /) })
    await expect(fx.core.directory.userImport.run(admin, { text: 'uid,shoeSize\nx,44\n', dryRun: true })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'mapping', columns: ['shoeSize'] } })
    const ignored = await fx.core.directory.userImport.run(admin, { text: 'uid,shoeSize,sn\nzed,44,Zed\n', mapping: { shoeSize: '' }, dryRun: true })
    expect(ignored.rows).toEqual([expect.objectContaining({ uid: 'zed', action: 'create' })])
  })

  it('creates new users in LDAP transactions: a row the server refuses mid-run fails alone with its reason, and every user keeps its own intent and outcome rows', async () => {
    // 120 rows: batches of 3 (at least 50 batches), two in flight. Once the first rows settle, tx100 is
    // created behind the import's back, so its batch's transaction is refused and its rows go one by one.
    const text = ['uid,givenName,sn', ...Array.from({ length: 120 }, (_, i) => `tx${String(i).padStart(3, '0')},Tee,Row${i}`)].join('\n')
    const seq = await lastSeq(fx.core)
    let raced = false
    const r = await fx.core.directory.userImport.run(admin, { text }, (done) => {
      if (done >= 1 && !raced) {
        raced = true
        ldapadd(`dn: uid=tx100,${fx.usersDn}\nobjectClass: inetOrgPerson\nuid: tx100\ncn: Taken\nsn: Taken\n`)
      }
    })
    expect(r).toMatchObject({ created: 119, failed: 1, cancelled: false })
    const refused = r.rows.find((x) => x.uid === 'tx100')!
    expect(refused.error).toMatch(/already exists|code 68/i)
    expect(uidsIn(fx.usersDn).filter((u) => u.startsWith('tx'))).toHaveLength(120)
    // tx099 and tx101 shared tx100's transaction: created one by one after it was refused.
    expect(ldifValues(ldapsearch(`uid=tx101,${fx.usersDn}`, '(objectClass=*)', ['sn'], 'base'), 'sn')).toEqual(['Row101'])

    const rows = (await auditRows(fx.core, seq)).filter((x) => x.resource_type === 'ldap_user' && x.resource_name?.startsWith('tx'))
    const intents = rows.filter((x) => (x.details as { context?: { phase?: string } }).context?.phase === 'intent')
    const outcomes = rows.filter((x) => (x.details as { context?: { phase?: string } }).context?.phase === 'outcome')
    expect(intents).toHaveLength(120)
    expect(outcomes).toHaveLength(120)
    expect(intents.every((x) => x.status === 'warning')).toBe(true)
    // Each outcome points at its own user's intent, and comes after it.
    const intentOf = new Map(intents.map((x) => [x.seq, x.resource_name]))
    for (const o of outcomes) {
      const at = (o.details as { context: { intentSeq: string } }).context.intentSeq
      expect(intentOf.get(at)).toBe(o.resource_name)
      expect(BigInt(o.seq)).toBeGreaterThan(BigInt(at))
    }
    const failed = outcomes.filter((x) => x.status === 'failure')
    expect(failed.map((x) => x.resource_name)).toEqual(['tx100'])
    expect((failed[0]!.details as { error: { message: string } }).error.message).toMatch(/already exists|code 68/i)
    expect(new Set(rows.map((x) => x.request_id))).toEqual(new Set([admin.ctx.requestId]))
    expect(await fx.core.audit.verify(fx.ctx)).toMatchObject({ ok: true })
  })

  it('keeps templates per profile: the built-in one until set, admin only, refused when invalid', async () => {
    const other = { ...fx.core.directory.profile(fx.profileName), name: 'other' }
    expect(fx.core.directory.templates.get(other)).toMatchObject({ builtIn: true, objectClasses: ['inetOrgPerson', 'posixAccount', 'shadowAccount'], homeDirectory: '/home/{uid}' })
    await expect(fx.core.directory.templates.set({ ...fx.ctx, roles: ['operator'] }, other, {})).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(fx.core.directory.templates.set(fx.ctx, other, { homeDirectory: '/home/fixed' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'homeDirectory' } })
  })
})

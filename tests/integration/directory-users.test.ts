/** Users against a real slapd: create, page, search, edit, rename, delete, passwords, lock, id allocation, audit. */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandScope } from '../../src/main/core/auth/service'
import { sshaVerify } from '../../src/main/core/directory/password'
import { auditRows, lastSeq } from '../support/core'
import { ldapadd, ldapsearch, ldifValues, openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'
import { SEED_PASSWORDS } from '../support/slapd'

const skip = slapdMissing()

let fx: DirectoryFixture
let admin: CommandScope

beforeAll(async () => {
  if (skip) return
  // A pool and a number range of its own: other test files take numbers from the shared pool meanwhile.
  fx = await openDirectory('users', { idPoolDn: `cn=pool-users-${process.pid},dc=example,dc=test`, uidNumberMin: 200000 })
  admin = await fx.admin()
})
afterAll(async () => {
  await fx?.close()
})

const canBind = (dn: string, password: string): boolean => {
  try {
    execFileSync('ldapwhoami', ['-x', '-H', fx.info.url, '-D', dn, '-w', password], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe.skipIf(skip)('creating users', () => {
  it('creates inetOrgPerson + posixAccount + shadowAccount with a pooled uidNumber, audited before and after, password hashed by the server', async () => {
    const seq = await lastSeq(fx.core)
    const u = await fx.core.directory.users.create(admin, { uid: 'jdoe', givenName: 'Jane', sn: 'Doe', mail: 'jane@example.test', password: 'Correct horse 1' })
    expect(u).toMatchObject({ uid: 'jdoe', cn: 'Jane Doe', sn: 'Doe', givenName: 'Jane', gidNumber: 2000, homeDirectory: '/home/jdoe', loginShell: '/bin/bash', gecos: 'Jane Doe', locked: false })
    expect(u.dn).toBe(`uid=jdoe,${fx.usersDn}`)
    expect(u.uidNumber).toBeGreaterThanOrEqual(200000)
    expect(u.objectClasses.map((c) => c.toLowerCase()).sort()).toEqual(['inetorgperson', 'posixaccount', 'shadowaccount'])

    // What the server really holds, seen by the rootdn with ldapsearch.
    const ldif = ldapsearch(u.dn, '(objectClass=*)', ['*'], 'base')
    expect(ldifValues(ldif, 'uidNumber')).toEqual([String(u.uidNumber)])
    const stored = ldifValues(ldif, 'userPassword')[0]!
    expect(stored).toMatch(/^\{SSHA\}/)
    expect(sshaVerify('Correct horse 1', stored)).toBe(true)
    expect(canBind(u.dn, 'Correct horse 1')).toBe(true)

    const rows = await auditRows(fx.core, seq)
    const mine = rows.filter((r) => r.resource_type === 'ldap_user')
    expect(mine.map((r) => [r.action, r.status, r.details.context?.phase])).toEqual([
      ['create', 'warning', 'intent'],
      ['create', 'success', 'outcome']
    ])
    expect(mine[1]!.details.context?.intentSeq).toBe(mine[0]!.seq)
    expect(mine[0]).toMatchObject({ resource_id: u.dn, resource_name: 'jdoe', user_id: fx.info.adminDn, source: 'cli' })
    expect(mine[0]!.details.after).toMatchObject({ uid: 'jdoe', cn: 'Jane Doe', uidNumber: String(u.uidNumber), mail: 'jane@example.test' })
    expect(JSON.stringify(rows)).not.toContain('Correct horse 1')
  })

  it.each([
    [{ uid: 'jdoe', sn: 'Again' }, 'CONFLICT', 'uid', 'already exists'],
    [{ uid: '*)(uid=*', sn: 'X' }, 'VALIDATION', 'uid', 'may contain only'],
    [{ uid: 'admin)(|(objectClass=*', sn: 'X' }, 'VALIDATION', 'uid', 'may contain only'],
    [{ uid: 'a,ou=x', sn: 'X' }, 'VALIDATION', 'uid', 'may contain only'],
    [{ uid: '#lead', sn: 'X' }, 'VALIDATION', 'uid', 'may contain only'],
    [{ uid: 'trail\\ ', sn: 'X' }, 'VALIDATION', 'uid', 'space'],
    [{ uid: '12345', sn: 'X' }, 'VALIDATION', 'uid', 'all digits'],
    [{ uid: 'nul', sn: 'X\u0000Y' }, 'VALIDATION', 'sn', 'U+0000'],
    [{ uid: 'gecos1', sn: 'X', gecos: 'Zoë' }, 'VALIDATION', 'gecos', 'ASCII'],
    [{ uid: 'mail1', sn: 'X', mail: 'not-a-mail' }, 'VALIDATION', 'mail', 'not a mail'],
    [{ uid: 'home1', sn: 'X', homeDirectory: 'relative/home' }, 'VALIDATION', 'homeDirectory', 'absolute'],
    [{ uid: 'dupnum', sn: 'X', uidNumber: 2001 }, 'CONFLICT', 'uidNumber', 'already used']
  ])('refuses %j (%s on %s), audited, nothing written', async (input, code, field, reason) => {
    const seq = await lastSeq(fx.core)
    const err = await fx.core.directory.users.create(admin, input).catch((e) => e)
    expect(err).toMatchObject({ code, details: { field } })
    expect(err.message).toContain(reason)
    const rows = (await auditRows(fx.core, seq)).filter((r) => r.resource_type === 'ldap_user')
    expect(rows.map((r) => [r.action, r.status])).toEqual([['create', 'failure']])
    expect(rows[0]!.details.error?.code).toBe(code)
    // Nothing but the seeded jdoe under the file's container carries those names.
    expect(ldapsearch(fx.usersDn, '(objectClass=posixAccount)', ['uid'], 'one').match(/^dn:/gm)).toHaveLength(1)
  })

  it('keeps non-ASCII names literally and finds them by substring', async () => {
    const u = await fx.core.directory.users.create(admin, { uid: 'zarn', givenName: 'Zoë', sn: 'Ärnström' })
    expect(u.cn).toBe('Zoë Ärnström')
    expect(u.gecos).toBeNull() // gecos is IA5: not derived from a non-ASCII cn
    const page = await fx.core.directory.users.list(admin, { search: 'Ärnstr' })
    expect(page.items.map((x) => x.uid)).toEqual(['zarn'])
  })

  it('hands out 16 distinct uidNumbers to 16 parallel creations (compare-and-swap on the id pool)', async () => {
    const made = await Promise.all(Array.from({ length: 16 }, (_, i) => fx.core.directory.users.create(admin, { uid: `par${i}`, sn: `Parallel ${i}` })))
    const nums = made.map((u) => u.uidNumber!)
    expect(new Set(nums).size).toBe(16)
    // The pool moved past every number given out.
    const pool = ldapsearch(`cn=pool-users-${process.pid},${fx.info.baseDn}`, '(objectClass=*)', ['uidNumber'], 'base')
    expect(Number(ldifValues(pool, 'uidNumber')[0])).toBeGreaterThan(Math.max(...nums))
    // And the directory agrees: no two accounts share a number.
    const all = ldifValues(ldapsearch(fx.usersDn, '(uid=par*)', ['uidNumber'], 'one'), 'uidNumber')
    expect(new Set(all).size).toBe(16)
  })

  it('skips a number another tool already gave out', async () => {
    const pool = ldapsearch(`cn=pool-users-${process.pid},${fx.info.baseDn}`, '(objectClass=*)', ['uidNumber'], 'base')
    const next = Number(ldifValues(pool, 'uidNumber')[0])
    ldapadd(
      `dn: uid=squatter,${fx.usersDn}\nobjectClass: account\nobjectClass: posixAccount\nuid: squatter\ncn: squatter\nuidNumber: ${next}\ngidNumber: 2000\nhomeDirectory: /home/squatter\n`
    )
    const u = await fx.core.directory.users.create(admin, { uid: 'afterpool', sn: 'After' })
    expect(u.uidNumber).toBe(next + 1)
  })
})

describe.skipIf(skip)('listing and searching', () => {
  beforeAll(() => {
    const entries = Array.from({ length: 25 }, (_, i) => {
      const n = String(i).padStart(2, '0')
      return `dn: uid=bulk${n},${fx.usersDn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: bulk${n}\ncn: Bulk ${n}\nsn: Bulk\nuidNumber: ${5000 + i}\ngidNumber: 2000\nhomeDirectory: /home/bulk${n}\n`
    })
    ldapadd(entries.join('\n'))
  })

  it('pages with RFC 2696 cookies, one page per call, until nextCursor is null', async () => {
    const seen: string[] = []
    let page = await fx.core.directory.users.list(admin, { search: 'bulk', pageSize: 10 })
    const sizes = [page.items.length]
    seen.push(...page.items.map((u) => u.uid))
    while (page.nextCursor) {
      page = await fx.core.directory.users.list(admin, { cursor: page.nextCursor })
      sizes.push(page.items.length)
      seen.push(...page.items.map((u) => u.uid))
    }
    expect(sizes).toEqual([10, 10, 5])
    expect(new Set(seen).size).toBe(25)
    expect(seen.every((u) => u.startsWith('bulk'))).toBe(true)
    // The listing's connection is gone: its cursor is refused.
    await expect(fx.core.directory.users.list(admin, { cursor: 'x'.repeat(24) })).rejects.toMatchObject({ code: 'NOT_FOUND', details: { field: 'cursor' } })
  })

  it('ends with nextCursor null on an exact multiple of the page size (no empty last page)', async () => {
    const first = await fx.core.directory.users.list(admin, { search: 'Bulk 1', pageSize: 5 })
    expect(first.items).toHaveLength(5)
    const second = await fx.core.directory.users.list(admin, { cursor: first.nextCursor! })
    expect(second.items).toHaveLength(5)
    expect(second.nextCursor).toBeNull()
  })

  it.each(['*)(uid=*', 'admin)(|(objectClass=*', '*', ')(', '\\2a', 'a,ou=x', '#lead', 'trail\\ '])('searches %j literally: it never widens the search', async (text) => {
    const page = await fx.core.directory.users.list(admin, { search: text, pageSize: 100 })
    expect(page.items).toEqual([])
  })

  it('refuses NUL in a search and looks up hostile uids literally', async () => {
    await expect(fx.core.directory.users.list(admin, { search: 'a\u0000b' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'search' } })
    for (const uid of ['*', '*)(uid=*', 'admin)(|(objectClass=*', `jdoe,${fx.usersDn}`]) {
      await expect(fx.core.directory.users.get(admin, uid)).rejects.toMatchObject({ code: 'NOT_FOUND', details: { field: 'uid' } })
    }
  })

  it('shows a user with the groups it is in', async () => {
    const u = await fx.core.directory.users.get(admin, 'jdoe')
    expect(u).toMatchObject({ uid: 'jdoe', groups: [] })
  })
})

describe.skipIf(skip)('editing', () => {
  it('records exact before/after of the fields that changed; a no-op edit writes nothing', async () => {
    const before = await fx.core.directory.users.get(admin, 'jdoe')
    const seq = await lastSeq(fx.core)
    const u = await fx.core.directory.users.update(admin, { uid: 'jdoe', mail: 'jane.doe@example.test', loginShell: '/bin/zsh', givenName: null, version: before.version! })
    expect(u).toMatchObject({ mail: 'jane.doe@example.test', loginShell: '/bin/zsh', givenName: null })
    const rows = (await auditRows(fx.core, seq)).filter((r) => r.resource_type === 'ldap_user')
    expect(rows.map((r) => r.status)).toEqual(['warning', 'success'])
    expect(rows[1]!.details.before).toEqual({ mail: 'jane@example.test', loginShell: '/bin/bash', givenName: 'Jane' })
    expect(rows[1]!.details.after).toEqual({ mail: 'jane.doe@example.test', loginShell: '/bin/zsh', givenName: null })
    expect(ldifValues(ldapsearch(u.dn, '(objectClass=*)', ['loginShell'], 'base'), 'loginShell')).toEqual(['/bin/zsh'])

    const seq2 = await lastSeq(fx.core)
    const same = await fx.core.directory.users.update(admin, { uid: 'jdoe', mail: 'jane.doe@example.test' })
    expect(same.version).toBe(u.version)
    expect(await auditRows(fx.core, seq2)).toEqual([])
  })

  it('refuses an edit based on a stale version (someone else changed the entry)', async () => {
    const loaded = await fx.core.directory.users.get(admin, 'jdoe')
    await fx.core.directory.users.update(admin, { uid: 'jdoe', description: 'changed elsewhere' })
    const err = await fx.core.directory.users.update(admin, { uid: 'jdoe', description: 'mine', version: loaded.version! }).catch((e) => e)
    expect(err).toMatchObject({ code: 'CONFLICT', details: { field: 'version' } })
    expect((await fx.core.directory.users.get(admin, 'jdoe')).description).toBe('changed elsewhere')
  })
})

describe.skipIf(skip)('passwords and locking', () => {
  it('sets a password with the Password Modify operation, or an {SSHA} hash made here when told not to use it', async () => {
    const seq = await lastSeq(fx.core)
    const r = await fx.core.directory.users.setPassword(admin, { uid: 'jdoe', password: 'N3w-secret!' })
    expect(r).toMatchObject({ uid: 'jdoe', method: 'password-modify' })
    expect(r.generated).toBeUndefined()
    expect(canBind(r.dn, 'N3w-secret!')).toBe(true)
    expect(canBind(r.dn, 'Correct horse 1')).toBe(false)
    const rows = await auditRows(fx.core, seq)
    expect(rows.map((x) => [x.action, x.status, x.details.context?.change])).toEqual([
      ['update', 'warning', 'password'],
      ['update', 'success', 'password']
    ])
    expect(JSON.stringify(rows)).not.toContain('N3w-secret!')

    const gen = await fx.core.directory.users.setPassword(admin, { uid: 'jdoe', generate: true, mustChange: true })
    expect(gen.generated).toMatch(/^.{20}$/)
    expect(canBind(gen.dn, gen.generated!)).toBe(true)
    expect(ldifValues(ldapsearch(gen.dn, '(objectClass=*)', ['shadowLastChange'], 'base'), 'shadowLastChange')).toEqual(['0'])
    expect(JSON.stringify(await auditRows(fx.core, seq))).not.toContain(gen.generated!)

    // Servers without the extended operation: the hash is made here, never clear text.
    const own = await openDirectory('users-ssha', { passwordModify: false })
    try {
      const s = await own.admin()
      await s.conn.add(`uid=hashme,${own.usersDn}`, { objectClass: ['inetOrgPerson', 'posixAccount', 'shadowAccount'], uid: 'hashme', cn: 'H', sn: 'H', uidNumber: '7001', gidNumber: '2000', homeDirectory: '/home/hashme' })
      const res = await own.core.directory.users.setPassword(s, { uid: 'hashme', password: 'hashed-here' })
      expect(res.method).toBe('ssha')
      const stored = ldifValues(ldapsearch(res.dn, '(objectClass=*)', ['userPassword'], 'base'), 'userPassword')[0]!
      expect(stored).toMatch(/^\{SSHA\}/)
      expect(sshaVerify('hashed-here', stored)).toBe(true)
      expect(canBind(res.dn, 'hashed-here')).toBe(true)
    } finally {
      await own.close()
    }
  })

  it('locks with ppolicy (the bind is refused) and unlocks; repeating either is a no-op, not audited', async () => {
    await fx.core.directory.users.setPassword(admin, { uid: 'jdoe', password: 'lock-me' })
    const l = await fx.core.directory.users.lock(admin, 'jdoe')
    expect(l).toMatchObject({ locked: true, changed: true, method: 'ppolicy' })
    expect(canBind(l.dn, 'lock-me')).toBe(false)
    expect((await fx.core.directory.users.get(admin, 'jdoe')).locked).toBe(true)
    const seq = await lastSeq(fx.core)
    expect(await fx.core.directory.users.lock(admin, 'jdoe')).toMatchObject({ changed: false })
    expect(await auditRows(fx.core, seq)).toEqual([])
    expect(await fx.core.directory.users.unlock(admin, 'jdoe')).toMatchObject({ locked: false, changed: true })
    expect(canBind(l.dn, 'lock-me')).toBe(true)
  })

  it('locks without ppolicy by disabling the hash and setting shadowExpire, and unlocks', async () => {
    const own = await openDirectory('users-shadow', { lockMethod: 'shadow' })
    try {
      const s = await own.admin()
      const u = await own.core.directory.users.create(s, { uid: 'shadowy', sn: 'S', password: 'shadow-pw' })
      expect(canBind(u.dn, 'shadow-pw')).toBe(true)
      expect(await own.core.directory.users.lock(s, 'shadowy')).toMatchObject({ locked: true, changed: true, method: 'shadow' })
      expect(canBind(u.dn, 'shadow-pw')).toBe(false)
      const ldif = ldapsearch(u.dn, '(objectClass=*)', ['userPassword', 'shadowExpire'], 'base')
      expect(ldifValues(ldif, 'shadowExpire')).toEqual(['1'])
      expect(ldifValues(ldif, 'userPassword')[0]).toMatch(/^\{SSHA\}!/)
      expect((await own.core.directory.users.get(s, 'shadowy')).locked).toBe(true)
      await own.core.directory.users.unlock(s, 'shadowy')
      expect(canBind(u.dn, 'shadow-pw')).toBe(true)
      expect((await own.core.directory.users.get(s, 'shadowy')).locked).toBe(false)
    } finally {
      await own.close()
    }
  })
})

describe.skipIf(skip)('rename and delete keep groups in step', () => {
  it('renames: the RDN, uid, and every member/memberUid pointing at it', async () => {
    const u = await fx.core.directory.users.create(admin, { uid: 'mover', sn: 'Mover' })
    await fx.core.directory.groups.create(admin, { cn: 'mv-posix', members: ['mover', 'jdoe'] })
    await fx.core.directory.groups.create(admin, { cn: 'mv-names', type: 'groupOfNames', members: ['mover'] })
    const r = await fx.core.directory.users.rename(admin, { uid: 'mover', newUid: 'moved' })
    expect(r.user).toMatchObject({ uid: 'moved', dn: `uid=moved,${fx.usersDn}`, uidNumber: u.uidNumber })
    expect(r.groupsUpdated.sort()).toEqual(['mv-names', 'mv-posix'])
    expect(ldifValues(ldapsearch(`cn=mv-posix,${fx.groupsDn}`, '(objectClass=*)', ['memberUid'], 'base'), 'memberUid').sort()).toEqual(['jdoe', 'moved'])
    expect(ldifValues(ldapsearch(`cn=mv-names,${fx.groupsDn}`, '(objectClass=*)', ['member'], 'base'), 'member')).toEqual([`uid=moved,${fx.usersDn}`])
    await expect(fx.core.directory.users.get(admin, 'mover')).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('refuses to delete the only member of a groupOfNames, otherwise deletes and cleans every group', async () => {
    const err = await fx.core.directory.users.delete(admin, 'moved').catch((e) => e)
    expect(err).toMatchObject({ code: 'CONFLICT', details: { field: 'uid', groups: ['mv-names'] } })
    await fx.core.directory.groups.addMembers(admin, { cn: 'mv-names', members: ['jdoe'] })
    const seq = await lastSeq(fx.core)
    const r = await fx.core.directory.users.delete(admin, 'moved')
    expect(r.removedFrom.sort()).toEqual(['mv-names', 'mv-posix'])
    expect(ldapsearch(fx.usersDn, '(uid=moved)', ['dn'], 'one')).toBe('')
    expect(ldifValues(ldapsearch(`cn=mv-posix,${fx.groupsDn}`, '(objectClass=*)', ['memberUid'], 'base'), 'memberUid')).toEqual(['jdoe'])
    const rows = await auditRows(fx.core, seq)
    expect(rows.filter((x) => x.status === 'success').map((x) => [x.action, x.resource_type])).toEqual([
      ['delete', 'ldap_user'],
      ['update', 'ldap_group'],
      ['update', 'ldap_group']
    ])
    expect(rows.find((x) => x.action === 'delete' && x.status === 'success')!.details.before).toMatchObject({ uid: 'moved', uidNumber: expect.any(Number) })
  })
})

describe.skipIf(skip)('roles and refusals', () => {
  it('viewer reads but may not create; operator creates but may not delete; each refusal audited as authorize', async () => {
    const viewer = await fx.as('victor', SEED_PASSWORDS.victor)
    expect(viewer.role).toBe('viewer')
    expect((await fx.core.directory.users.get(viewer, 'jdoe')).uid).toBe('jdoe')
    const seq = await lastSeq(fx.core)
    await expect(fx.core.directory.users.create(viewer, { uid: 'nope', sn: 'N' })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const operator = await fx.as('oscar', SEED_PASSWORDS.oscar)
    expect(operator.role).toBe('operator')
    const made = await fx.core.directory.users.create(operator, { uid: 'byoscar', sn: 'Oscar made' })
    await expect(fx.core.directory.users.delete(operator, 'byoscar')).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const rows = await auditRows(fx.core, seq)
    expect(rows.filter((r) => r.action === 'authorize').map((r) => [r.user_id, r.status, r.details.context?.attempted])).toEqual([
      ['victor', 'failure', 'create'],
      ['oscar', 'failure', 'delete']
    ])
    expect(made.uid).toBe('byoscar')
  })

  it("maps the directory's own refusal (ACL) to FORBIDDEN naming the reason", async () => {
    // bob is admin in Netkeeper through a nested group, but the server's ACL gives only direct members write.
    const bob = await fx.as('bob', SEED_PASSWORDS.bob)
    expect(bob.role).toBe('admin')
    const err = await fx.core.directory.users.create(bob, { uid: 'bobmade', sn: 'B' }).catch((e) => e)
    expect(err.code).toBe('FORBIDDEN')
    expect(err.message).toContain('insufficient access')
  })

  it('refuses every change when the audit log cannot be written, and sends nothing to the directory', async () => {
    await fx.core.db.knex.raw('alter function audit_append rename to audit_append_gone')
    try {
      const err = await fx.core.directory.users.create(admin, { uid: 'unaudited', sn: 'U', uidNumber: 7777 }).catch((e) => e)
      expect(err).toMatchObject({ code: 'UNAVAILABLE', details: { kind: 'audit-unavailable' } })
      expect(err.message).toContain('nothing happens unaudited')
      expect(ldapsearch(fx.usersDn, '(uid=unaudited)', ['dn'], 'one')).toBe('')
    } finally {
      await fx.core.db.knex.raw('alter function audit_append_gone rename to audit_append')
    }
  })
})

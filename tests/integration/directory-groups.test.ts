/** Groups against a real slapd: posixGroup, groupOfNames, rfc2307bis (member and memberUid in step), nesting, DN escaping. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandScope } from '../../src/main/core/auth/service'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { ProfileStore } from '../../src/main/core/directory/profiles'
import { ldapProfileSchema } from '../../src/shared/directory'
import { auditRows, lastSeq } from '../support/core'
import { freshDatabase } from '../support/db'
import { baseProfile, ldapsearch, ldifValues, openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'
import { startSlapd, type SlapdServer } from '../support/slapd'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const skip = slapdMissing()

let fx: DirectoryFixture
let admin: CommandScope

beforeAll(async () => {
  if (skip) return
  fx = await openDirectory('groups')
  admin = await fx.admin()
  for (const uid of ['gus', 'gina', 'gary']) await fx.core.directory.users.create(admin, { uid, sn: uid })
})
afterAll(async () => {
  await fx?.close()
})

const values = (dn: string, attr: string): string[] => ldifValues(ldapsearch(dn, '(objectClass=*)', [attr], 'base'), attr).sort()

describe.skipIf(skip)('posixGroup (the profile default)', () => {
  it('creates with a pooled gidNumber and members by uid, adds and removes in bulk, skipping what is already there', async () => {
    const g = await fx.core.directory.groups.create(admin, { cn: 'devs', description: 'Developers', members: ['gus'] })
    expect(g).toMatchObject({ cn: 'devs', type: 'posixGroup', memberUids: ['gus'], memberDns: [], description: 'Developers' })
    expect(g.gidNumber).toBeGreaterThanOrEqual(10000)
    const seq = await lastSeq(fx.core)
    const add = await fx.core.directory.groups.addMembers(admin, { cn: 'devs', members: ['gus', 'gina', 'gary'] })
    expect(add.changed.sort()).toEqual(['gary', 'gina'])
    expect(add.unchanged).toEqual(['gus'])
    expect(values(g.dn, 'memberUid')).toEqual(['gary', 'gina', 'gus'])
    const rows = await auditRows(fx.core, seq)
    expect(rows.map((r) => [r.action, r.resource_type, r.status])).toEqual([
      ['update', 'ldap_group', 'warning'],
      ['update', 'ldap_group', 'success']
    ])
    expect(rows[1]!.details.after).toEqual({ members: { list: ['gina', 'gary'], count: 2 } })

    const rm = await fx.core.directory.groups.removeMembers(admin, { cn: 'devs', members: ['gina', 'nosuchuser'] })
    expect(rm.changed).toEqual(['gina'])
    expect(rm.unchanged).toEqual(['nosuchuser'])
    expect(values(g.dn, 'memberUid')).toEqual(['gary', 'gus'])
  })

  it('refuses unknown members, groups inside a posixGroup, a taken name or gidNumber', async () => {
    await expect(fx.core.directory.groups.addMembers(admin, { cn: 'devs', members: ['ghost1', 'gus'] })).rejects.toMatchObject({ code: 'NOT_FOUND', details: { field: 'members', missing: ['ghost1'] } })
    await expect(fx.core.directory.groups.addMembers(admin, { cn: 'devs', groups: ['staff'] })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'groups' } })
    await expect(fx.core.directory.groups.create(admin, { cn: 'devs' })).rejects.toMatchObject({ code: 'CONFLICT', details: { field: 'cn' } })
    await expect(fx.core.directory.groups.create(admin, { cn: 'dup-gid', gidNumber: 2000 })).rejects.toMatchObject({ code: 'CONFLICT', details: { field: 'gidNumber' } })
    await expect(fx.core.directory.groups.create(admin, { cn: 'a,ou=x' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'cn' } })
  })

  it('edits the description and gidNumber with before/after; refuses deleting a primary group', async () => {
    const seq = await lastSeq(fx.core)
    const g = await fx.core.directory.groups.update(admin, { cn: 'devs', description: null, gidNumber: 19999 })
    expect(g).toMatchObject({ description: null, gidNumber: 19999 })
    const ok = (await auditRows(fx.core, seq)).find((r) => r.status === 'success')!
    expect(ok.details.before).toEqual({ description: 'Developers', gidNumber: expect.any(Number) })
    expect(ok.details.after).toEqual({ description: null, gidNumber: 19999 })
    await fx.core.directory.users.update(admin, { uid: 'gary', gidNumber: 19999 })
    const err = await fx.core.directory.groups.delete(admin, 'devs').catch((e) => e)
    expect(err).toMatchObject({ code: 'CONFLICT', details: { field: 'cn', users: ['gary'] } })
    await fx.core.directory.users.update(admin, { uid: 'gary', gidNumber: 2000 })
    expect(await fx.core.directory.groups.delete(admin, 'devs')).toMatchObject({ cn: 'devs' })
    expect(ldapsearch(fx.groupsDn, '(cn=devs)', ['dn'], 'one')).toBe('')
  })
})

describe.skipIf(skip)('groupOfNames, nesting and DN escaping', () => {
  it('needs a member, holds users and groups by DN, and shows nested groups with their depth', async () => {
    await expect(fx.core.directory.groups.create(admin, { cn: 'empty', type: 'groupOfNames' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'members' } })
    await fx.core.directory.groups.create(admin, { cn: 'inner', type: 'groupOfNames', members: ['gus'] })
    await fx.core.directory.groups.create(admin, { cn: 'middle', type: 'groupOfNames', members: ['gina'], groups: ['inner'] })
    const outer = await fx.core.directory.groups.create(admin, { cn: 'outer', type: 'groupOfNames', groups: ['middle'] })
    expect(outer.memberDns).toEqual([`cn=middle,${fx.groupsDn}`])
    const shown = await fx.core.directory.groups.get(admin, 'outer')
    expect(shown.nestedGroups!.map((n) => [n.cn, n.depth, n.via])).toEqual([
      ['middle', 1, 'outer'],
      ['inner', 2, 'middle']
    ])
    expect((await fx.core.directory.groups.get(admin, 'inner')).memberOf).toEqual([{ cn: 'middle', dn: `cn=middle,${fx.groupsDn}` }])
    // A cycle is cut, not followed forever.
    await fx.core.directory.groups.addMembers(admin, { cn: 'inner', groups: ['outer'] })
    expect((await fx.core.directory.groups.get(admin, 'outer')).nestedGroups!.map((n) => n.cn)).toEqual(['middle', 'inner'])
    // The last member cannot go.
    await expect(fx.core.directory.groups.removeMembers(admin, { cn: 'outer', groups: ['middle'] })).rejects.toMatchObject({ code: 'CONFLICT' })
  })

  it.each(['a,ou=x', '#lead', 'admin)(|(objectClass=*', 'x+cn=y', 'Grüße "quoted" <b>', 'semi;colon\\back'])('creates a groupOfNames named %j literally, at its own escaped DN', async (cn) => {
    const g = await fx.core.directory.groups.create(admin, { cn, type: 'groupOfNames', members: ['gus'] })
    expect(g.cn).toBe(cn)
    // The entry sits directly in the file's groups container: the name did not address another entry.
    const ldif = ldapsearch(fx.groupsDn, '(objectClass=groupOfNames)', ['cn'], 'one')
    expect(ldifValues(ldif, 'cn')).toContain(cn)
    expect((await fx.core.directory.groups.get(admin, cn)).dn).toBe(g.dn)
    await fx.core.directory.groups.delete(admin, cn)
    expect(ldifValues(ldapsearch(fx.groupsDn, '(objectClass=groupOfNames)', ['cn'], 'one'), 'cn')).not.toContain(cn)
  })

  it('refuses names that cannot be kept literally', async () => {
    for (const [cn, reason] of [
      ['trail\\ ', 'space'],
      [' lead', 'space'],
      ['nul\u0000byte', 'U+0000']
    ] as const) {
      const err = await fx.core.directory.groups.create(admin, { cn, type: 'groupOfNames', members: ['gus'] }).catch((e) => e)
      expect(err).toMatchObject({ code: 'VALIDATION', details: { field: 'cn' } })
      expect(err.message).toContain(reason)
    }
  })

  it('pages groups and searches them literally', async () => {
    const page = await fx.core.directory.groups.list(admin, { search: 'middle' })
    expect(page.items.map((g) => g.cn)).toEqual(['middle'])
    expect((await fx.core.directory.groups.list(admin, { search: '*' })).items).toEqual([])
  })
})

describe.skipIf(skip)('rfc2307bis: member and memberUid kept in step', () => {
  let srv: SlapdServer
  let core: Core
  let scope: CommandScope
  let dataDir: string

  beforeAll(async () => {
    // Its own slapd: rfc2307bis replaces the nis schema (posixGroup auxiliary), which cannot share a server.
    srv = await startSlapd({ schema: 'rfc2307bis' })
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-bis-'))
    const profile = ldapProfileSchema.parse(baseProfile(srv.info, { name: 'bis', groupType: 'rfc2307bis', defaultGidNumber: 3000, roles: { admin: [], operator: [], viewer: [] } }))
    new ProfileStore(dataDir).write({ version: 1, defaultProfile: 'bis', profiles: [profile] })
    core = await Core.open({ databaseUrl: await freshDatabase('bis'), dataDir, migrate: true })
    scope = await core.auth.commandScope(makeContext({ actor: 't', source: 'cli' }), { password: srv.info.adminPassword })
  })
  afterAll(async () => {
    await scope?.close()
    await core?.close()
    await srv?.stop()
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })

  it('creates groupOfNames + posixGroup with both attributes, and changes them together', async () => {
    const g = await core.directory.groups.create(scope, { cn: 'team', members: ['carol'] })
    expect(g).toMatchObject({ type: 'rfc2307bis', memberUids: ['carol'], memberDns: ['uid=carol,ou=people,dc=example,dc=test'] })
    expect(g.gidNumber).toBeGreaterThanOrEqual(10000)
    await core.directory.groups.addMembers(scope, { cn: 'team', members: ['dave'] })
    expect(ldifValues(ldapsearch(g.dn, '(objectClass=*)', ['memberUid', 'member'], 'base', srv.info), 'memberUid').sort()).toEqual(['carol', 'dave'])
    expect(ldifValues(ldapsearch(g.dn, '(objectClass=*)', ['member'], 'base', srv.info), 'member').sort()).toEqual(['uid=carol,ou=people,dc=example,dc=test', 'uid=dave,ou=people,dc=example,dc=test'])
    await core.directory.groups.removeMembers(scope, { cn: 'team', members: ['carol'] })
    const after = ldapsearch(g.dn, '(objectClass=*)', ['memberUid', 'member'], 'base', srv.info)
    expect(ldifValues(after, 'memberUid')).toEqual(['dave'])
    expect(ldifValues(after, 'member')).toEqual(['uid=dave,ou=people,dc=example,dc=test'])
    expect((await core.directory.groups.get(scope, 'team')).drift).toEqual({ memberWithoutUid: [], uidWithoutMember: [] })
  })

  it('reports drift made by other tools and repairs it for the members it is told about', async () => {
    const d = await core.directory.groups.get(scope, 'drifted')
    expect(d.drift).toEqual({ memberWithoutUid: ['uid=carol,ou=people,dc=example,dc=test'], uidWithoutMember: ['ghost'] })
    const r = await core.directory.groups.addMembers(scope, { cn: 'drifted', members: ['carol'] })
    expect(r.changed).toEqual(['carol'])
    await core.directory.groups.removeMembers(scope, { cn: 'drifted', members: ['ghost'] })
    expect((await core.directory.groups.get(scope, 'drifted')).drift).toEqual({ memberWithoutUid: [], uidWithoutMember: [] })
  })

  it('renames a user in both attributes of every group', async () => {
    await core.directory.users.rename(scope, { uid: 'dave', newUid: 'david' })
    const g = ldapsearch('cn=team,ou=groups,dc=example,dc=test', '(objectClass=*)', ['memberUid', 'member'], 'base', srv.info)
    expect(ldifValues(g, 'memberUid')).toEqual(['david'])
    expect(ldifValues(g, 'member')).toEqual(['uid=david,ou=people,dc=example,dc=test'])
  })
})

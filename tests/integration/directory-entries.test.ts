/**
 * Every attribute of any entry, driven by the real slapd's schema: MUST removal and syntax violations
 * refused before anything is sent, single-value and NO-USER-MODIFICATION respected, object classes added
 * and removed with what they require, binary values as size and download, the tree paged one level at a
 * time; and the new commands end to end through the real CLI (entry, ldif, user import, template).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandScope } from '../../src/main/core/auth/service'
import { ProfileStore } from '../../src/main/core/directory/profiles'
import { ldapProfileSchema } from '../../src/shared/directory'
import { cli } from '../support/cli'
import { auditRows, lastSeq } from '../support/core'
import { freshDatabase } from '../support/db'
import { baseProfile, ldapadd, ldapsearch, ldifValues, makeContainers, openDirectory, slapdInfo, slapdMissing, type DirectoryFixture } from '../support/directory'

const skip = slapdMissing()
let fx: DirectoryFixture
let admin: CommandScope
let dn: string
const photo = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')

beforeAll(async () => {
  if (skip) return
  fx = await openDirectory('entries')
  admin = await fx.admin()
  dn = `uid=eddie,${fx.usersDn}`
  ldapadd(`dn: ${dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: eddie\ncn: Eddie\nsn: Edwards\nuidNumber: 43001\ngidNumber: 2000\nhomeDirectory: /home/eddie\njpegPhoto:: ${photo.toString('base64')}\n`)
  for (let i = 0; i < 7; i++) ldapadd(`dn: cn=dev${i},${fx.groupsDn}\nobjectClass: device\ncn: dev${i}\n`)
})
afterAll(async () => {
  await fx?.close()
})

describe.skipIf(skip)('the all-attributes editor', () => {
  it('shows every attribute with what the schema says, binary values as their size', async () => {
    const d = await fx.core.directory.entries.show(admin, { dn })
    const a = (n: string) => d.attributes.find((x) => x.info.name === n)!
    expect(d.attributes[0]!.info.name).toBe('objectClass')
    expect(a('sn')).toMatchObject({ required: true, values: ['Edwards'] })
    expect(a('uidNumber')).toMatchObject({ required: true, info: { singleValue: true, syntaxName: 'integer' } })
    expect(a('jpegPhoto')).toMatchObject({ values: ['(16 bytes)'], sizes: [16], info: { binary: true } })
    expect(a('entryUUID').info).toMatchObject({ operational: true, userModifiable: false })
    expect(d.allowed.map((x) => x.name)).toContain('mail')
    expect(d.objectClasses.map((c) => c.name)).toEqual(expect.arrayContaining(['inetOrgPerson', 'posixAccount', 'person']))
    expect(d.auxiliaryClasses).toContain('shadowAccount')
    expect(await fx.core.directory.entries.value(admin, dn, 'jpegPhoto')).toEqual(photo)
  })

  it.each([
    [{ attribute: 'sn', values: [] }, 'attribute', /sn is required by person \(MUST\)/],
    [{ attribute: 'uidNumber', values: ['forty-two'] }, 'values.0', /is not an integer/],
    [{ attribute: 'uidNumber', values: ['1', '2'] }, 'values', /takes a single value/],
    [{ attribute: 'mail', values: ['zoë@example.test'] }, 'values.0', /must be ASCII/],
    [{ attribute: 'entryUUID', values: ['x'] }, 'attribute', /maintained by the server/],
    [{ attribute: 'shadowExpire', values: ['1'] }, 'attribute', /not allowed by the entry's object classes/],
    [{ attribute: 'noSuchThing', values: ['1'] }, 'attribute', /not an attribute of the server's schema/],
    [{ attribute: 'objectClass', values: ['top'] }, 'attribute', /their own action/]
  ])('refuses %j before sending (%s)', async (change, field, reason) => {
    const seq = await lastSeq(fx.core)
    const err = await fx.core.directory.entries.set(admin, { dn, ...change }).catch((e) => e)
    expect(err).toMatchObject({ code: 'VALIDATION', details: { field } })
    expect(err.message).toMatch(reason)
    // Refused, audited as a failure, and no intent row: nothing went to the server.
    const rows = (await auditRows(fx.core, seq)).filter((r) => r.resource_type === 'ldap_entry')
    expect(rows.map((r) => r.status)).toEqual(['failure'])
    expect(ldifValues(ldapsearch(dn, '(objectClass=*)', ['sn', 'uidNumber'], 'base'), 'uidNumber')).toEqual(['43001'])
  })

  it('sets, replaces and removes values, audited; refuses an edit based on stale values', async () => {
    await fx.core.directory.entries.set(admin, { dn, attribute: 'mail', values: ['e@example.test', 'eddie@example.test'] })
    expect(ldifValues(ldapsearch(dn, '(objectClass=*)', ['mail'], 'base'), 'mail').sort()).toEqual(['e@example.test', 'eddie@example.test'])
    await expect(fx.core.directory.entries.set(admin, { dn, attribute: 'mail', values: ['x@example.test'], expected: ['e@example.test'] })).rejects.toMatchObject({ code: 'CONFLICT' })
    const seq = await lastSeq(fx.core)
    await fx.core.directory.entries.set(admin, { dn, attribute: 'mail', values: [] })
    expect(ldifValues(ldapsearch(dn, '(objectClass=*)', ['mail'], 'base'), 'mail')).toEqual([])
    const rows = (await auditRows(fx.core, seq)).filter((r) => r.resource_type === 'ldap_entry')
    expect(rows.map((r) => r.status)).toEqual(['warning', 'success'])
    expect(rows[1]!.details).toMatchObject({ before: { mail: ['e@example.test', 'eddie@example.test'] }, after: { mail: [] } })
  })

  it('adds an auxiliary class with what it requires, and removes it; the structural class stays', async () => {
    await expect(fx.core.directory.entries.classes(admin, { dn, add: ['ldapPublicKey'] })).rejects.toMatchObject({ code: 'VALIDATION' })
    const d = await fx.core.directory.entries.classes(admin, { dn, add: ['shadowAccount'] })
    expect(d.objectClasses.map((c) => c.name)).toContain('shadowAccount')
    await fx.core.directory.entries.set(admin, { dn, attribute: 'shadowExpire', values: ['20000'] })
    await expect(fx.core.directory.entries.classes(admin, { dn, remove: ['shadowAccount'] })).rejects.toMatchObject({ code: 'VALIDATION', details: { attributes: ['shadowExpire'] } })
    await fx.core.directory.entries.set(admin, { dn, attribute: 'shadowExpire', values: [] })
    await fx.core.directory.entries.classes(admin, { dn, remove: ['shadowAccount'] })
    expect(ldifValues(ldapsearch(dn, '(objectClass=*)', ['objectClass'], 'base'), 'objectClass')).not.toContain('shadowAccount')
    await expect(fx.core.directory.entries.classes(admin, { dn, remove: ['inetOrgPerson'] })).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('structural') })
    await expect(fx.core.directory.entries.show(admin, { dn: 'cn=x,dc=elsewhere' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'dn' } })
  })

  it('browses the tree lazily, one level and one page at a time', async () => {
    const root = await fx.core.directory.entries.tree(admin, {})
    expect(root.items).toEqual([expect.objectContaining({ dn: fx.info.baseDn, hasChildren: true })])
    const first = await fx.core.directory.entries.tree(admin, { dn: fx.groupsDn, pageSize: 3 })
    expect(first.items).toHaveLength(3)
    expect(first.nextCursor).not.toBeNull()
    const seen = [...first.items]
    let page = first
    while (page.nextCursor) {
      page = await fx.core.directory.entries.tree(admin, { cursor: page.nextCursor })
      seen.push(...page.items)
    }
    expect(seen.map((n) => n.rdn).sort()).toEqual(['cn=dev0', 'cn=dev1', 'cn=dev2', 'cn=dev3', 'cn=dev4', 'cn=dev5', 'cn=dev6'])
    expect(seen.every((n) => !n.hasChildren)).toBe(true)
  })
})

describe.skipIf(skip)('the directory admin commands through the real CLI', () => {
  let dataDir: string
  let env: NodeJS.ProcessEnv
  let usersDn: string
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-entcli-'))
    const info = slapdInfo()
    const c = makeContainers(`entcli-${process.pid}`)
    usersDn = c.usersDn
    new ProfileStore(dataDir).write({ version: 1, defaultProfile: 'lab', profiles: [ldapProfileSchema.parse(baseProfile(info, { name: 'lab', usersDn: c.usersDn, groupsDn: c.groupsDn }))] })
    env = { NETKEEPER_DATA_DIR: dataDir, NETKEEPER_DATABASE_URL: await freshDatabase('entcli'), NETKEEPER_LDAP_PASSWORD: info.adminPassword }
  })
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }))

  it('template set|show, user import --dry-run and for real, entry show --all, entry set, ldif export and import --dry-run', async () => {
    const set = await cli(['template', 'set', '--home', '/u/{uid}', '--shell', '/bin/sh', '--json'], env)
    expect(set.code, set.stderr).toBe(0)
    expect((await cli(['template', 'show'], env)).stdout).toContain('home directory: /u/{uid}')

    const csv = path.join(dataDir, 'people.csv')
    fs.writeFileSync(csv, 'uid;sn;mail;pw\nkim;Kim;kim@example.test;kim-pw-1\nbad!;X;;\n')
    const dry = await cli(['user', 'import', csv, '--map', 'pw=password', '--dry-run'], env)
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toContain('line 3: bad! skipped: bad uid')
    expect(dry.stdout).toContain('dry run: would create 1')
    const run = await cli(['user', 'import', csv, '--map', 'pw=password', '--json'], env)
    expect(run.code, run.stderr).toBe(0)
    expect(run.json()).toMatchObject({ created: 1, skipped: 1 })
    expect(run.stdout).not.toContain('kim-pw-1')

    const kim = `uid=kim,${usersDn}`
    const show = await cli(['entry', 'show', kim, '--all', '--json'], env)
    expect(show.code, show.stderr).toBe(0)
    expect(show.json().attributes.find((a: { info: { name: string } }) => a.info.name === 'homeDirectory').values).toEqual(['/u/kim'])
    const text = await cli(['entry', 'show', kim, '--all'], env)
    expect(text.stdout).toMatch(/sn\s+Kim\s+\[MUST/)
    const bad = await cli(['entry', 'set', kim, 'uidNumber', 'x'], env)
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('is not an integer')
    expect((await cli(['entry', 'set', kim, 'description', 'set from the CLI'], env)).code).toBe(0)
    expect(ldifValues(ldapsearch(kim, '(objectClass=*)', ['description'], 'base'), 'description')).toEqual(['set from the CLI'])
    const mustGo = await cli(['entry', 'set', kim, 'sn', '--clear'], env)
    expect(mustGo.code).toBe(1)
    expect(mustGo.stderr).toContain('(MUST) and cannot be removed')

    const out = path.join(dataDir, 'people.ldif')
    const exp = await cli(['ldif', 'export', '--base', usersDn, '--out', out, '--json'], env)
    expect(exp.code, exp.stderr).toBe(0)
    expect(exp.json()).toMatchObject({ entries: 2 })
    expect(fs.readFileSync(out, 'utf8')).toContain(`dn: ${kim}`)
    const mod = path.join(dataDir, 'mod.ldif')
    fs.writeFileSync(mod, `dn: ${kim}\nchangetype: modify\nreplace: mail\nmail: kim.new@example.test\n-\n\ndn: uid=ghost,${usersDn}\nchangetype: delete\n`)
    const imp = await cli(['ldif', 'import', mod, '--dry-run'], env)
    expect(imp.code).toBe(0)
    expect(imp.stdout).toContain('+ mail: kim.new@example.test')
    expect(imp.stdout).toContain('REFUSED: uid=ghost')
    const real = await cli(['ldif', 'import', mod, '--json'], env)
    expect(real.code).toBe(1)
    expect(real.json()).toMatchObject({ applied: 1, failed: [{ line: 7 }] })
    const broken = path.join(dataDir, 'broken.ldif')
    fs.writeFileSync(broken, 'dn: cn=x\ncn:: ###\n')
    const b = await cli(['ldif', 'import', broken], env)
    expect(b.code).toBe(1)
    expect(b.stderr).toContain('line 2: cn: the base64 value does not decode')
  })
})

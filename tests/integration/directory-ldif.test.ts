/**
 * LDIF out and in against the real slapd: a subtree exported (UTF-8, multi-valued, binary) and imported
 * into an empty second slapd gives equal entries, compared with ldapsearch; adds, modifies, deletes and a
 * modrdn applied in order with a refusal in the middle, under both choices; the preview's diffs; one
 * request id across the import's audit rows; bad input named by line.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LdapConnection } from '../../src/main/core/directory/connection'
import { CursorRegistry } from '../../src/main/core/directory/cursors'
import { resolveProfile } from '../../src/main/core/directory/profiles'
import type { DirectoryScope } from '../../src/main/core/directory/scope'
import { ldapProfileSchema } from '../../src/shared/directory'
import { auditRows, lastSeq } from '../support/core'
import { baseProfile, ldapadd, ldapsearch, ldifValues, openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'
import { startSlapd, type SlapdServer } from '../support/slapd'
import type { CommandScope } from '../../src/main/core/auth/service'

const skip = slapdMissing()
let fx: DirectoryFixture
let admin: CommandScope
let empty: SlapdServer
let emptyScope: DirectoryScope
const photo = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x80, 0x0a, 0x0d, 0x00])

const src = (text: string): AsyncIterable<string> => Readable.from([text])

/** ldapsearch output as a set of entries, each a sorted list of lines: order-free equality. */
function entriesOf(ldif: string): string[][] {
  return ldif
    .trim()
    .split(/\n\n+/)
    .map((block) => block.split('\n').filter(Boolean).sort())
    .sort((a, b) => (a.join('\n') < b.join('\n') ? -1 : 1))
}

beforeAll(async () => {
  if (skip) return
  fx = await openDirectory('ldif')
  admin = await fx.admin()
  const u = fx.usersDn
  ldapadd(
    [
      `dn: ou=lab,${u}\nobjectClass: organizationalUnit\nou: lab\ndescription: a nested container\n`,
      `dn: uid=zoe,ou=lab,${u}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: zoe\ncn: Zoë Ærø\nsn:: w4Zyw7g=\nuidNumber: 41001\ngidNumber: 2000\nhomeDirectory: /home/zoe\nmail: zoe@example.test\nmail: z@example.test\njpegPhoto:: ${photo.toString('base64')}\ndescription: ${'long '.repeat(40).trim()}\n`,
      `dn: uid=yan,${u}\nobjectClass: inetOrgPerson\nuid: yan\ncn: Yan\nsn: Yan\ndescription:: IGxlYWRpbmcgc3BhY2U=\n`
    ].join('\n')
  )
  const seed = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-ldif-seed-')), 'seed.ldif')
  fs.writeFileSync(seed, `dn: ${fx.info.baseDn}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\ndn: ou=people,${fx.info.baseDn}\nobjectClass: organizationalUnit\nou: people\n\n`)
  empty = await startSlapd({ seedFile: seed })
  const profile = resolveProfile(ldapProfileSchema.parse(baseProfile(empty.info, { name: 'empty', caFile: empty.info.caFile })))
  const conn = new LdapConnection(profile, { dn: empty.info.adminDn, password: empty.info.adminPassword })
  emptyScope = { conn, ctx: { ...admin.ctx, requestId: 'ldif-roundtrip' }, cursors: new CursorRegistry() }
})

afterAll(async () => {
  await emptyScope?.conn.close()
  await empty?.stop()
  await fx?.close()
})

describe.skipIf(skip)('LDIF export and import', () => {
  it('exports a subtree that, imported into an empty slapd, gives equal entries (ldapsearch on both)', async () => {
    const parentOu = `ou=${fx.usersDn.split(',')[0]!.slice(3)},ou=people,${fx.info.baseDn}`
    let text = ''
    const r = await fx.core.directory.ldif.export(admin, { base: parentOu, pageSize: 2 }, (c) => {
      text += c
    })
    expect(r.entries).toBe(4)
    expect(text).toContain(`jpegPhoto:: ${photo.toString('base64')}`)
    expect(text.split('\n').every((l) => l.length <= 76)).toBe(true)

    const imp = await fx.core.directory.ldif.import(emptyScope, { source: src(text) })
    expect(imp).toMatchObject({ records: 4, applied: 4, failed: [], notAttempted: 0 })
    const a = ldapsearch(parentOu, '(objectClass=*)')
    const b = ldapsearch(parentOu, '(objectClass=*)', [], 'sub', empty.info)
    expect(entriesOf(b)).toEqual(entriesOf(a))
    expect(entriesOf(a)).toHaveLength(4)
    // The binary value arrived as its bytes.
    expect(ldifValues(b, 'jpegPhoto')).toHaveLength(1)
    expect(b).toContain(photo.toString('base64'))
  })

  it('refuses a filter that does not parse and a base outside the profile', async () => {
    await expect(fx.core.directory.ldif.export(admin, { base: fx.usersDn, filter: '(uid=' }, () => undefined)).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'filter' } })
    await expect(fx.core.directory.ldif.export(admin, { base: 'dc=elsewhere' }, () => undefined)).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'base' } })
  })

  const changes = (tag: string): string => {
    const u = fx.usersDn
    return `version: 1

dn: uid=${tag}-new,${u}
changetype: add
objectClass: inetOrgPerson
uid: ${tag}-new
cn: New ${tag}
sn: New

dn: uid=${tag}-mod,${u}
changetype: modify
replace: mail
mail: ${tag}@example.test
-
add: description
description: added by LDIF
-

dn: uid=${tag}-ghost,${u}
changetype: modify
replace: cn
cn: nobody

dn: uid=${tag}-old,${u}
changetype: delete

dn: uid=${tag}-ren,${u}
changetype: modrdn
newrdn: uid=${tag}-renamed
deleteoldrdn: 1
`
  }
  const prepare = (tag: string): void => {
    const u = fx.usersDn
    ldapadd(
      ['mod', 'old', 'ren']
        .map((k) => `dn: uid=${tag}-${k},${u}\nobjectClass: inetOrgPerson\nuid: ${tag}-${k}\ncn: ${tag} ${k}\nsn: ${k}\nmail: before@example.test\n`)
        .join('\n')
    )
  }
  const exists = (dn: string): boolean => {
    try {
      return ldapsearch(dn, '(objectClass=*)', ['1.1'], 'base').includes('dn:')
    } catch (e) {
      if (String((e as Error).message).includes('No such object (32)')) return false
      throw e
    }
  }

  it('previews each change as a diff against the live entry and writes nothing on a dry run', async () => {
    prepare('dry')
    const seq = await lastSeq(fx.core)
    const r = await fx.core.directory.ldif.import(admin, { source: src(changes('dry')), dryRun: true })
    expect(r.applied).toBe(0)
    expect(r.preview.map((p) => [p.kind, p.problem === null])).toEqual([
      ['add', true],
      ['modify', true],
      ['modify', false],
      ['delete', true],
      ['modrdn', true]
    ])
    expect(r.preview[1]!.changes).toEqual([
      { attribute: 'mail', before: ['before@example.test'], after: ['dry@example.test'] },
      { attribute: 'description', before: [], after: ['added by LDIF'] }
    ])
    expect(r.preview[2]).toMatchObject({ line: 19, problem: expect.stringContaining('does not exist') })
    expect(r.preview[4]).toMatchObject({ newDn: `uid=dry-renamed,${fx.usersDn}` })
    expect(exists(`uid=dry-new,${fx.usersDn}`)).toBe(false)
    expect(ldifValues(ldapsearch(`uid=dry-mod,${fx.usersDn}`, '(objectClass=*)', ['mail'], 'base'), 'mail')).toEqual(['before@example.test'])
    expect((await auditRows(fx.core, seq)).filter((x) => x.resource_type === 'ldap_entry')).toEqual([])
  })

  it('stops at the first refusal: records before it applied, the rest not attempted', async () => {
    prepare('stop')
    const seq = await lastSeq(fx.core)
    const r = await fx.core.directory.ldif.import(admin, { source: src(changes('stop')) })
    expect(r).toMatchObject({ applied: 2, notAttempted: 2, failed: [{ line: 19, kind: 'modify', code: 'VALIDATION' }] })
    expect(exists(`uid=stop-new,${fx.usersDn}`)).toBe(true)
    expect(ldifValues(ldapsearch(`uid=stop-mod,${fx.usersDn}`, '(objectClass=*)', ['mail', 'description'], 'base'), 'description')).toEqual(['added by LDIF'])
    expect(exists(`uid=stop-old,${fx.usersDn}`)).toBe(true)
    expect(exists(`uid=stop-ren,${fx.usersDn}`)).toBe(true)
    const rows = (await auditRows(fx.core, seq)).filter((x) => x.resource_type === 'ldap_entry')
    expect(new Set(rows.map((x) => x.request_id))).toEqual(new Set([admin.ctx.requestId]))
    // add and modify: intent + outcome each; the refusal: one failure row naming its line.
    expect(rows.map((x) => [x.action, x.status])).toEqual([
      ['create', 'warning'],
      ['create', 'success'],
      ['update', 'warning'],
      ['update', 'success'],
      ['update', 'failure']
    ])
  })

  it('continues past a refusal (ours or the server\'s, with its result code) when asked, and reports each', async () => {
    prepare('go')
    // A record the server refuses (the parent does not exist is found by the preview; an entry
    // without its structural class's MUST is refused by the schema check; this one only the server knows:
    // a delete of an entry with children).
    const u = fx.usersDn
    ldapadd(`dn: ou=go-parent,${u}\nobjectClass: organizationalUnit\nou: go-parent\n\ndn: cn=child,ou=go-parent,${u}\nobjectClass: device\ncn: child\n`)
    const text = changes('go') + `\ndn: ou=go-parent,${u}\nchangetype: delete\n`
    const r = await fx.core.directory.ldif.import(admin, { source: src(text), continueOnError: true })
    expect(r.applied).toBe(4)
    expect(r.notAttempted).toBe(0)
    expect(r.failed).toEqual([
      expect.objectContaining({ line: 19, code: 'VALIDATION' }),
      expect.objectContaining({ line: 32, kind: 'delete', code: 'CONFLICT', ldapCode: 66 })
    ])
    expect(exists(`uid=go-old,${u}`)).toBe(false)
    expect(exists(`uid=go-renamed,${u}`)).toBe(true)
    expect(exists(`uid=go-ren,${u}`)).toBe(false)
    expect(exists(`ou=go-parent,${u}`)).toBe(true)
  })

  it('refuses before sending: a syntax violation, a MUST attribute removed, a DN outside the base, a parse error by line', async () => {
    const u = fx.usersDn
    ldapadd(`dn: uid=schema1,${u}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: schema1\ncn: S\nsn: S\nuidNumber: 41010\ngidNumber: 2000\nhomeDirectory: /home/s\n`)
    const text = `dn: uid=schema1,${u}\nchangetype: modify\nreplace: uidNumber\nuidNumber: forty\n\ndn: uid=schema1,${u}\nchangetype: modify\ndelete: sn\n\ndn: cn=x,dc=elsewhere\nchangetype: delete\n`
    const r = await fx.core.directory.ldif.import(admin, { source: src(text), dryRun: true })
    expect(r.preview.map((p) => p.problem)).toEqual([
      expect.stringContaining('uidNumber: "forty" is not an integer'),
      expect.stringContaining('sn is required'),
      expect.stringContaining('outside the profile')
    ])
    await expect(fx.core.directory.ldif.import(admin, { source: src(`dn: uid=a,${u}\ncn: a\nbroken line\n`) })).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringMatching(/^line 3: /) })
  })
})

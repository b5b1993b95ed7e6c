/** The LDIF parser and writer (RFC 2849): every production accepted, every refusal with its line. */
import { describe, expect, it } from 'vitest'
import { fold, formatChange, formatEntry, isSafeString, LdifParser, parseLdifText, type LdifRecord } from '../../src/main/core/directory/ldif'

describe('LDIF parser', () => {
  it('reads content records with version, comments, folding, base64 and CRLF', () => {
    const text = [
      'version: 1',
      '# a comment',
      '#  folded',
      ' still the comment',
      'dn: uid=a,ou=people,dc=x',
      'objectClass: inetOrgPerson',
      'cn: Alice',
      '  Liddell',
      'sn:: TMOkZGVsbA==',
      'jpegPhoto:: /9j/4AAQ',
      'description:    leading spaces dropped',
      '',
      '',
      'dn:: dWlkPWIsb3U9cGVvcGxlLGRjPXg=',
      'cn: B',
      ''
    ].join('\r\n')
    const r = parseLdifText(text)
    expect(r).toHaveLength(2)
    const a = r[0] as Extract<LdifRecord, { kind: 'add' }>
    expect(a).toMatchObject({ kind: 'add', dn: 'uid=a,ou=people,dc=x', line: 5 })
    expect(Object.fromEntries(a.attrs)).toMatchObject({ objectClass: ['inetOrgPerson'], cn: ['Alice Liddell'], sn: ['Lädell'], description: ['leading spaces dropped'] })
    expect(Buffer.isBuffer(Object.fromEntries(a.attrs).jpegPhoto![0])).toBe(true)
    expect(r[1]).toMatchObject({ kind: 'add', dn: 'uid=b,ou=people,dc=x', line: 14 })
  })

  it('reads add, modify (with and without the last "-"), delete, modrdn and moddn', () => {
    const r = parseLdifText(`dn: cn=n,dc=x
changetype: add
objectClass: device
cn: n

dn: cn=n,dc=x
changetype: modify
add: description
description: one
description: two
-
replace: l
l: Paris
-
delete: seeAlso
-
delete: description
description: one

dn: cn=n,dc=x
changetype: modrdn
newrdn: cn=m
deleteoldrdn: 0
newsuperior: ou=devices,dc=x

dn: cn=m,ou=devices,dc=x
changetype: moddn
newrdn: cn=k
deleteoldrdn: 1

dn: cn=k,ou=devices,dc=x
changetype: delete
`)
    expect(r.map((x) => x.kind)).toEqual(['add', 'modify', 'modrdn', 'modrdn', 'delete'])
    const m = r[1] as Extract<LdifRecord, { kind: 'modify' }>
    expect(m.mods).toEqual([
      { op: 'add', type: 'description', values: ['one', 'two'] },
      { op: 'replace', type: 'l', values: ['Paris'] },
      { op: 'delete', type: 'seeAlso', values: [] },
      { op: 'delete', type: 'description', values: ['one'] }
    ])
    expect(r[2]).toMatchObject({ newRdn: 'cn=m', deleteOldRdn: false, newSuperior: 'ou=devices,dc=x', line: 20 })
    expect(r[3]).toMatchObject({ newRdn: 'cn=k', deleteOldRdn: true, newSuperior: null })
  })

  it('streams: records split across chunks at any byte come out the same', () => {
    const text = formatEntry('cn=Zoë,dc=x', [['cn', ['Zoë']], ['description', ['x'.repeat(300)]]]) + formatEntry('cn=b,dc=x', [['cn', ['b']]])
    const whole = parseLdifText(text)
    const buf = Buffer.from(text)
    for (const size of [1, 3, 7, 64]) {
      const p = new LdifParser()
      const out: LdifRecord[] = []
      for (let i = 0; i < buf.length; i += size) out.push(...p.push(buf.subarray(i, i + size)))
      out.push(...p.end())
      expect(out).toEqual(whole)
    }
  })

  it.each([
    ['cn: x\n', 1, 'must start with "dn:"'],
    ['dn: cn=x\nno colon here\n', 2, 'expected "name: value"'],
    ['dn: cn=x\ncn:: ***\n', 2, 'base64'],
    ['dn: cn=x\ncn:< file:///etc/shadow\n', 2, 'URL values'],
    ['dn: cn=x\ncontrol: 1.2.3 true\nchangetype: delete\n', 2, 'control lines'],
    ['dn: cn=x\nchangetype: rename\n', 2, 'changetype "rename"'],
    ['dn: cn=x\nchangetype: modify\nfrobnicate: cn\n', 3, 'not a modify operation'],
    ['dn: cn=x\nchangetype: modify\nadd: cn\nsn: y\n', 4, 'expected a value of cn'],
    ['dn: cn=x\nchangetype: modrdn\nnewrdn: cn=y\n', 2, 'deleteoldrdn'],
    ['dn: cn=x\nchangetype: delete\ncn: x\n', 3, 'takes no further lines'],
    [' leading continuation\n', 1, 'continuation line'],
    ['version: 2\ndn: cn=x\ncn: x\n', 1, 'version 2'],
    ['dn: cn=x\n', 1, 'no attributes'],
    ['dn: cn=x\nc n: y\n', 2, 'not an attribute name']
  ])('refuses %j at line %i', (text, line, reason) => {
    let err: unknown
    try {
      parseLdifText(text)
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ code: 'VALIDATION', details: { line } })
    expect((err as Error).message).toContain(`line ${line}: `)
    expect((err as Error).message).toContain(reason)
  })
})

describe('LDIF writer', () => {
  it('base64-encodes what is not a SAFE-STRING and folds at 76 columns', () => {
    expect(isSafeString('plain')).toBe(true)
    for (const s of [' lead', ':colon', '<lt', 'trail ', 'né', 'a\nb', 'nul\u0000']) expect(isSafeString(s)).toBe(false)
    const long = 'x'.repeat(200)
    const folded = fold(`description: ${long}`)
    expect(folded.split('\n').every((l) => l.length <= 76)).toBe(true)
    const text = formatEntry('cn=José,dc=x', [
      ['cn', ['José']],
      ['description', [long]],
      ['jpegPhoto', [Buffer.from([0xff, 0xd8, 0x00, 0x01])]]
    ])
    expect(text).toContain('dn:: ')
    expect(text.endsWith('\n\n')).toBe(true)
    const back = parseLdifText(text)[0] as Extract<LdifRecord, { kind: 'add' }>
    expect(back.dn).toBe('cn=José,dc=x')
    const m = Object.fromEntries(back.attrs)
    expect(m.cn).toEqual(['José'])
    expect(m.description).toEqual([long])
    expect(m.jpegPhoto![0]).toEqual(Buffer.from([0xff, 0xd8, 0x00, 0x01]))
  })

  it('writes change records that parse back to themselves', () => {
    const recs = parseLdifText('dn: cn=a,dc=x\nchangetype: modify\nreplace: description\ndescription: é\n-\n\ndn: cn=a,dc=x\nchangetype: modrdn\nnewrdn: cn=b\ndeleteoldrdn: 1\n\ndn: cn=b,dc=x\nchangetype: delete\n')
    const again = parseLdifText(recs.map(formatChange).join(''))
    expect(again.map(({ line: _l, ...r }) => r)).toEqual(recs.map(({ line: _l, ...r }) => r))
  })
})

/** RFC 4514 DNs and RFC 4515 filter values: escaping, parsing, and round trips of arbitrary text. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { childDn, dnEquals, DnSyntaxError, escapeDnValue, escapeFilterValue, formatDn, isUnderDn, leafValue, normalizeDn, parentDn, parseDn } from '../../src/shared/dn'

describe('escapeDnValue', () => {
  it.each([
    ['a,ou=x', 'a\\2Cou\\3Dx'],
    ['#lead', '\\23lead'],
    ['in#side', 'in#side'],
    [' lead', '\\20lead'],
    ['trail ', 'trail\\20'],
    ['trail\\ ', 'trail\\5C\\20'],
    ['x+cn=y', 'x\\2Bcn\\3Dy'],
    ['"q";<b>', '\\22q\\22\\3B\\3Cb\\3E'],
    ['nul\u0000byte', 'nul\\00byte'],
    ['Zoë Ärnström', 'Zoë Ärnström'],
    ['*)(uid=*', '*)(uid\\3D*']
  ])('%j -> %s', (raw, escaped) => {
    expect(escapeDnValue(raw)).toBe(escaped)
    expect(parseDn(`cn=${escaped},dc=example`)).toEqual([[{ type: 'cn', value: raw }], [{ type: 'dc', value: 'example' }]])
  })

  it('never lets a value end its RDN early or reach another entry, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (raw) => {
        const dn = childDn('cn', raw, 'ou=groups,dc=example,dc=test')
        const rdns = parseDn(dn)
        expect(rdns).toHaveLength(4)
        expect(rdns[0]).toEqual([{ type: 'cn', value: raw }])
        expect(parentDn(dn)).toBe('ou=groups,dc=example,dc=test')
        expect(leafValue(dn)).toBe(raw)
      })
    )
  })
})

describe('escapeFilterValue', () => {
  it.each([
    ['*)(uid=*', '\\2a\\29\\28uid=\\2a'],
    ['admin)(|(objectClass=*', 'admin\\29\\28|\\28objectClass=\\2a'],
    ['back\\slash', 'back\\5cslash'],
    ['nul\u0000', 'nul\\00'],
    ['Grüße', 'Grüße']
  ])('%j -> %s', (raw, escaped) => {
    expect(escapeFilterValue(raw)).toBe(escaped)
  })
})

describe('parseDn', () => {
  it('accepts what people type and what servers return', () => {
    expect(parseDn('uid=alice, ou=People ,dc=example;dc=org')).toEqual([[{ type: 'uid', value: 'alice' }], [{ type: 'ou', value: 'People' }], [{ type: 'dc', value: 'example' }], [{ type: 'dc', value: 'org' }]])
    expect(parseDn('cn=a+uid=b,dc=x')).toEqual([[{ type: 'cn', value: 'a' }, { type: 'uid', value: 'b' }], [{ type: 'dc', value: 'x' }]])
    expect(parseDn('cn="a, b",dc=x')[0]).toEqual([{ type: 'cn', value: 'a, b' }])
    expect(parseDn('cn=\\C3\\A4rger,dc=x')[0]).toEqual([{ type: 'cn', value: 'ärger' }])
    expect(parseDn('cn=x\\ ,dc=x')[0]).toEqual([{ type: 'cn', value: 'x ' }])
    expect(parseDn('cn=#04024869,dc=x')[0]).toEqual([{ type: 'cn', value: '#04024869' }])
    expect(parseDn('')).toEqual([])
  })

  it.each(['cn', 'cn=a,', '=a', 'cn=a\\', 'cn=#lead,dc=x', 'cn=a\\q', 'cn=a<b', 'cn="open'])('refuses %j', (bad) => {
    expect(() => parseDn(bad)).toThrow(DnSyntaxError)
  })

  it('compares DNs the way the server does for naming attributes', () => {
    expect(dnEquals('UID=Alice, OU=people,dc=Example', 'uid=alice,ou=People,dc=example')).toBe(true)
    expect(dnEquals('uid=alice,ou=people', 'uid=alicia,ou=people')).toBe(false)
    expect(isUnderDn('uid=a,ou=people,dc=x', 'DC=X')).toBe(true)
    expect(isUnderDn('uid=a,ou=people,dc=xy', 'dc=x')).toBe(false)
    expect(normalizeDn('cn=B+uid=a,dc=x')).toBe('cn=b+uid=a,dc=x')
    expect(formatDn(parseDn('cn=a\\,b,dc=x'))).toBe('cn=a\\2Cb,dc=x')
  })
})

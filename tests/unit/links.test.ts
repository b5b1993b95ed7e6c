/** netkeeper:// links (src/shared/palette.ts): what parses, what is refused, and the round trip. */
import { describe, expect, it } from 'vitest'
import { formatLink, linkInArgv, parseLink, paletteSearchSchema } from '../../src/shared/palette'

describe('netkeeper:// links', () => {
  it('parses the four documented kinds and the two extra ones', () => {
    expect(parseLink('netkeeper://pool/lab-1')).toEqual({ kind: 'pool', name: 'lab-1' })
    expect(parseLink('netkeeper://pool/Office%20LAN/')).toEqual({ kind: 'pool', name: 'Office LAN' })
    expect(parseLink('netkeeper://ip/10.0.0.7')).toEqual({ kind: 'ip', address: '10.0.0.7' })
    expect(parseLink('NETKEEPER://IP/2001:DB8::1')).toEqual({ kind: 'ip', address: '2001:DB8::1' })
    expect(parseLink('netkeeper://user/alice')).toEqual({ kind: 'user', uid: 'alice' })
    expect(parseLink('netkeeper://audit/1234')).toEqual({ kind: 'audit', seq: '1234' })
    expect(parseLink('netkeeper://audit/%231234')).toEqual({ kind: 'audit', seq: '1234' })
    expect(parseLink('netkeeper:group/admins')).toEqual({ kind: 'group', cn: 'admins' })
    expect(parseLink('netkeeper://request/0A2B3C4D-0000-4000-8000-000000000001')).toEqual({ kind: 'request', id: '0a2b3c4d-0000-4000-8000-000000000001' })
  })

  it('refuses anything else', () => {
    for (const bad of [
      'https://example.org/pool/x',
      'netkeeper://pool/',
      'netkeeper://nothing/x',
      'netkeeper://ip/10.0.0.1;rm',
      'netkeeper://audit/12a',
      'netkeeper://user/%00',
      'netkeeper://user/%E0%A4%A',
      'netkeeper://request/not-a-uuid',
      `netkeeper://pool/${'x'.repeat(3000)}`
    ]) {
      expect(parseLink(bad), bad).toBeUndefined()
    }
  })

  it('formats what it parses', () => {
    for (const l of ['netkeeper://pool/Office%20LAN', 'netkeeper://ip/10.0.0.7', 'netkeeper://user/alice', 'netkeeper://audit/9']) {
      expect(formatLink(parseLink(l)!)).toBe(l)
    }
  })

  it('finds the link in a command line, skipping options and bad links', () => {
    expect(linkInArgv(['/usr/bin/netkeeper', '--profile=lab', 'netkeeper://bad/x', 'netkeeper://ip/10.0.0.9'])).toBe('netkeeper://ip/10.0.0.9')
    expect(linkInArgv(['/usr/bin/netkeeper', '/tmp/file.sqlite'])).toBeUndefined()
  })

  it('the palette query is checked: empty, too long and control characters are refused', () => {
    expect(paletteSearchSchema.safeParse({ query: '  ' }).success).toBe(false)
    expect(paletteSearchSchema.safeParse({ query: 'a'.repeat(201) }).success).toBe(false)
    expect(paletteSearchSchema.safeParse({ query: 'a\u0000b' }).success).toBe(false)
    expect(paletteSearchSchema.parse({ query: ' web ' })).toEqual({ query: 'web', limit: 5 })
  })
})

/** Property-based tests for address, CIDR and MAC parsing, IPv4 and IPv6. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bigIntToIp, normalizeHostname, normalizeMac, parseCidr, parseIp, unusableReason, usableRange } from '../../src/shared/net'

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'))
const v6 = fc.ipV6()

describe('parseIp', () => {
  it('round-trips every IPv4 address', () => {
    fc.assert(
      fc.property(v4, (s) => {
        const p = parseIp(s)
        expect(p.family).toBe(4)
        expect(p.text).toBe(s)
        expect(bigIntToIp(p.value, 4)).toBe(s)
      })
    )
  })

  it('canonicalises every IPv6 address and round-trips its value', () => {
    fc.assert(
      fc.property(v6, (s) => {
        const p = parseIp(s)
        expect(p.family).toBe(6)
        expect(parseIp(p.text).value).toBe(p.value)
        expect(bigIntToIp(p.value, 6)).toBe(p.text)
        expect(p.text).toBe(p.text.toLowerCase())
      })
    )
  })

  it('refuses garbage, naming the field', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4/32', 'fe80::1%eth0', '2001:db8::g', 'host']) {
      expect(() => parseIp(bad, 'gateway')).toThrowError(expect.objectContaining({ code: 'VALIDATION', details: expect.objectContaining({ field: 'gateway' }) }))
    }
  })
})

describe('parseCidr', () => {
  it('accepts every canonical IPv4 network and suggests the canonical form for host bits', () => {
    fc.assert(
      fc.property(v4, fc.integer({ min: 0, max: 32 }), (addr, prefix) => {
        const ip = parseIp(addr).value
        const mask = prefix === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - prefix)) - 1n)
        const canonical = `${bigIntToIp(ip & mask, 4)}/${prefix}`
        expect(parseCidr(canonical).text).toBe(canonical)
        if ((ip & mask) !== ip) {
          expect(() => parseCidr(`${addr}/${prefix}`)).toThrowError(expect.objectContaining({ details: expect.objectContaining({ suggestion: canonical }) }))
        }
      })
    )
  })

  it('accepts every canonical IPv6 network', () => {
    fc.assert(
      fc.property(v6, fc.integer({ min: 0, max: 128 }), (addr, prefix) => {
        const ip = parseIp(addr).value
        const host = (1n << BigInt(128 - prefix)) - 1n
        const net = ip & ~host
        const c = parseCidr(`${bigIntToIp(net, 6)}/${prefix}`)
        expect(c.network).toBe(net)
        expect(usableRange(c).count).toBe(prefix >= 127 ? 1n << BigInt(128 - prefix) : (1n << BigInt(128 - prefix)) - 1n)
      })
    )
  })

  it('gives usable ranges and reasons for the special addresses', () => {
    const c = parseCidr('10.1.2.0/24')
    expect(usableRange(c)).toEqual({ first: parseIp('10.1.2.1').value, last: parseIp('10.1.2.254').value, count: 254n })
    expect(unusableReason(c, parseIp('10.1.2.0'))).toContain('network address')
    expect(unusableReason(c, parseIp('10.1.2.255'))).toContain('broadcast address')
    expect(unusableReason(c, parseIp('10.1.3.1'))).toContain('outside')
    expect(unusableReason(parseCidr('10.0.0.0/31'), parseIp('10.0.0.0'))).toBeNull()
    expect(() => parseCidr('10.1.2.3/24')).toThrowError(/did you mean 10\.1\.2\.0\/24/)
  })
})

describe('normalizeMac', () => {
  const hex = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')))
  it('accepts the four common forms in any case and stores one canonical form', () => {
    fc.assert(
      fc.property(hex, fc.boolean(), (h, upper) => {
        const canonical = h.join(':')
        const c = (s: string): string => (upper ? s.toUpperCase() : s)
        expect(normalizeMac(c(h.join(':')))).toBe(canonical)
        expect(normalizeMac(c(h.join('-')))).toBe(canonical)
        expect(normalizeMac(c(`${h[0]}${h[1]}.${h[2]}${h[3]}.${h[4]}${h[5]}`))).toBe(canonical)
        expect(normalizeMac(c(h.join('')))).toBe(canonical)
      })
    )
  })
  it('refuses mixed separators and wrong lengths', () => {
    for (const bad of ['aa:bb-cc:dd:ee:ff', 'aa:bb:cc:dd:ee', 'aabbccddeeff00', 'gg:bb:cc:dd:ee:ff', 'aabb.ccdd.eef']) {
      expect(() => normalizeMac(bad)).toThrowError(expect.objectContaining({ details: expect.objectContaining({ field: 'mac' }) }))
    }
  })
})

describe('normalizeHostname', () => {
  it('accepts RFC 1123 names and refuses the rest', () => {
    expect(normalizeHostname('Web-01.Example.com.')).toBe('web-01.example.com')
    expect(normalizeHostname('1host')).toBe('1host')
    for (const bad of ['-a', 'a-', 'a..b', 'a_b', 'x'.repeat(64), `${'a.'.repeat(127)}ab`]) {
      expect(() => normalizeHostname(bad)).toThrowError(expect.objectContaining({ details: expect.objectContaining({ field: 'hostname' }) }))
    }
  })
})

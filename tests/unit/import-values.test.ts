/**
 * The importer reads the common spellings of addresses, MACs and host names without the general parsers of
 * shared/net. Whatever the input, the fast readers either decline or give exactly what those parsers give.
 */
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import { describe, expect, it } from 'vitest'
import { createRequire } from 'node:module'
import { plainHostname, plainIpv4, plainMac } from '../../src/main/core/importer/plan'
import { pgArray } from '../../src/main/core/importer/write'
import { normalizeHostname, normalizeMac, parseIp } from '../../src/shared/net'

// node-postgres's own serialisation of an array parameter.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (v: unknown) => string }

const attempt = <T>(f: () => T): T | string => {
  try {
    return f()
  } catch (e) {
    return `throws ${(e as Error).message}`
  }
}

const octets = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('00', '01', '010', '255', '256', '1000', '', ' 1', '1 ', '-1', '+1', '1e1', 'a'))
const ipv4ish = fc.oneof(
  fc.array(octets, { minLength: 1, maxLength: 5 }).map((o) => o.join('.')),
  fc.tuple(octets, octets, octets, octets).map((o) => o.join('.')),
  fc.constantFrom('0.0.0.0', '255.255.255.255', '1.2.3.4.', '.1.2.3', '1..2.3', '10.0.0.1/32', '::ffff:1.2.3.4', '١.٢.٣.٤'),
  fc.string({ unit: fc.constantFrom('1', '0', '5', '2', '.', ' ', ':', 'a') })
)

const hex = fc.constantFrom(...'0123456789abcdefABCDEFgG'.split(''))
const macish = fc.oneof(
  fc.tuple(fc.array(fc.tuple(hex, hex).map(([a, b]) => a + b), { minLength: 6, maxLength: 6 }), fc.constantFrom(':', '-', '.', ' ')).map(([p, sep]) => p.join(sep)),
  fc.array(fc.tuple(hex, hex).map(([a, b]) => a + b), { minLength: 6, maxLength: 6 }).map((p) => `${p[0]}:${p[1]}-${p[2]}:${p[3]}:${p[4]}:${p[5]}`),
  fc.string({ unit: fc.constantFrom('a', 'F', '0', ':', '-', '.') }),
  fc.constantFrom('aabb.ccdd.eeff', 'aabbccddeeff', ' aa:bb:cc:dd:ee:ff', 'aa:bb:cc:dd:ee:ff ')
)

const label = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', '_', 'é'), minLength: 0, maxLength: 70 })
const hostish = fc.oneof(
  fc.array(label, { minLength: 1, maxLength: 5 }).map((l) => l.join('.')),
  fc.array(fc.string({ unit: fc.constantFrom('a', 'B', '7'), minLength: 60, maxLength: 64 }), { minLength: 3, maxLength: 5 }).map((l) => l.join('.')),
  fc.constantFrom('host-1.example.org', 'HOST.Example.ORG', 'a', 'a.', 'a..b', '-a', 'a-', 'a.-b', ' a', 'a b', ''),
  fc.string()
)

describe('the importer fast readers', () => {
  it('read a dotted quad as parseIp does, or decline', () => {
    fc.assert(
      fc.property(ipv4ish, (s) => {
        const fast = plainIpv4(s)
        if (fast !== null) expect(isDeepStrictEqual(fast, parseIp(s))).toBe(true)
      }),
      { numRuns: 20_000 }
    )
    for (const s of ['10.0.0.1', '0.0.0.0', '255.255.255.255', '192.168.10.200']) expect(plainIpv4(s)).toEqual(parseIp(s))
  })

  it('read a MAC as normalizeMac does, or decline', () => {
    fc.assert(
      fc.property(macish, (s) => {
        const fast = plainMac(s)
        if (fast !== null) expect(fast).toBe(attempt(() => normalizeMac(s)))
      }),
      { numRuns: 20_000 }
    )
    for (const s of ['aa:bb:cc:dd:ee:ff', 'AA-BB-CC-DD-EE-0F', 'aA:Bb:cc:dd:ee:ff']) expect(plainMac(s)).toBe(normalizeMac(s))
  })

  it('read a host name as normalizeHostname does, or decline', () => {
    fc.assert(
      fc.property(hostish, (s) => {
        const fast = plainHostname(s)
        if (fast !== null) expect(fast).toBe(attempt(() => normalizeHostname(s)))
      }),
      { numRuns: 20_000 }
    )
    for (const s of ['host-1.example.org', 'HOST.Example.ORG', 'a', `${'a'.repeat(63)}.b`]) expect(plainHostname(s)).toBe(normalizeHostname(s))
  })
})

describe('pgArray', () => {
  it('writes the array literal node-postgres writes for the same array', () => {
    const element = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom('a', '"', '\\', ',', '{', '}', ' ', 'N', 'U', 'L', '\u0000', '😀') }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom('NULL', '', '2024-01-01T08:00:00.000Z')
    )
    fc.assert(
      fc.property(fc.array(element, { maxLength: 30 }), (items) => {
        expect(pgArray(items, (v) => v)).toBe(prepareValue(items))
      }),
      { numRuns: 5_000 }
    )
  })
})

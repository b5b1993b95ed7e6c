import { describe, expect, it } from 'vitest'
import { describeCidr } from '../../src/shared/cidr-calc'

describe('the CIDR calculator', () => {
  it('describes an IPv4 prefix: network, broadcast, usable range, mask, wildcard, reverse zone', () => {
    expect(describeCidr('10.20.30.40/22')).toEqual({
      input: '10.20.30.40/22',
      family: 4,
      network: '10.20.28.0/22',
      prefix: 22,
      hostAddress: '10.20.30.40',
      firstAddress: '10.20.28.0',
      lastAddress: '10.20.31.255',
      broadcast: '10.20.31.255',
      usableFirst: '10.20.28.1',
      usableLast: '10.20.31.254',
      size: '1024',
      usable: '1022',
      mask: '255.255.252.0',
      wildcard: '0.0.3.255',
      nibble: null,
      reverseZone: '20.10.in-addr.arpa'
    })
  })

  it('knows /31 and /32 have no broadcast and every address is usable', () => {
    expect(describeCidr('192.0.2.4/31')).toMatchObject({ broadcast: null, usable: '2', usableFirst: '192.0.2.4', usableLast: '192.0.2.5', mask: '255.255.255.254' })
    expect(describeCidr('192.0.2.9/32')).toMatchObject({ broadcast: null, usable: '1', hostAddress: null, wildcard: '0.0.0.0' })
    expect(describeCidr('0.0.0.0/0')).toMatchObject({ size: '4294967296', reverseZone: 'in-addr.arpa' })
  })

  it('describes IPv6 nibble boundaries and the ip6.arpa zone', () => {
    const f = describeCidr('2001:db8:abcd:14::/62')
    expect(f).toMatchObject({ network: '2001:db8:abcd:14::/62', broadcast: null, mask: null, usableFirst: '2001:db8:abcd:14::1', size: (2n ** 66n).toString() })
    expect(f.nibble).toEqual({ aligned: false, below: 60, above: 64, reverseZone: '1.0.0.d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa' })
    expect(describeCidr('2001:db8::/32').nibble).toMatchObject({ aligned: true, reverseZone: '8.b.d.0.1.0.0.2.ip6.arpa' })
  })

  it('refuses what is not a prefix, naming the field', () => {
    expect(() => describeCidr('10.0.0.0', 'prefix')).toThrow(/prefix.*no prefix length/)
    expect(() => describeCidr('10.0.0.0/33')).toThrow(/0 to 32/)
    expect(() => describeCidr('banana/8')).toThrow(/network/)
  })
})

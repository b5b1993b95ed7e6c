/**
 * The CIDR calculator: everything a person wants to know about a prefix typed anywhere one is asked for.
 * Pure (no node, electron or vue), so the renderer shows it as you type and the CLI's `ipam calc` prints the
 * same figures. Host bits are accepted here (10.1.2.3/24 describes the /24 around that address) and reported.
 */
import { bigIntToIp, parseIp, usableRange, type ParsedCidr } from './net'
import { validationError } from './errors'

export interface CidrFacts {
  input: string
  family: 4 | 6
  /** Canonical network, e.g. 10.1.2.0/24. */
  network: string
  prefix: number
  /** The address typed, when it had host bits set (so it is not the network itself). */
  hostAddress: string | null
  firstAddress: string
  lastAddress: string
  /** IPv4 only: the broadcast address (null for /31 and /32, which have none). */
  broadcast: string | null
  /** First and last address a host may use (RFC 3021 for /31; IPv6 leaves out the subnet-router anycast). */
  usableFirst: string | null
  usableLast: string | null
  /** Addresses in the prefix and those usable by hosts (decimal strings: IPv6 is big). */
  size: string
  usable: string
  /** IPv4: dotted mask and wildcard (Cisco ACL style). IPv6: null. */
  mask: string | null
  wildcard: string | null
  /** IPv6: whether the prefix falls on a nibble (4-bit) boundary, the nearest ones around it, and its ip6.arpa zone. */
  nibble: { aligned: boolean; below: number; above: number; reverseZone: string } | null
  /** IPv4: the in-addr.arpa zone of the enclosing octet boundary. */
  reverseZone: string | null
}

/** Describes a prefix; throws a validation error naming `field` when it is not one. */
export function describeCidr(input: string, field = 'network'): CidrFacts {
  const s = String(input ?? '').trim()
  const slash = s.indexOf('/')
  if (slash < 0) throw validationError(field, `"${s}" has no prefix length; write it as ADDRESS/PREFIX, e.g. 10.0.0.0/24`)
  const addr = parseIp(s.slice(0, slash), field)
  const bits = addr.family === 4 ? 32 : 128
  const pt = s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(pt) || Number(pt) > bits) throw validationError(field, `"${s}": prefix length must be a number from 0 to ${bits}`)
  const prefix = Number(pt)
  const hostBits = BigInt(bits - prefix)
  const network = (addr.value >> hostBits) << hostBits
  const size = 1n << hostBits
  const last = network + size - 1n
  const c: ParsedCidr = { family: addr.family, text: `${bigIntToIp(network, addr.family)}/${prefix}`, prefix, network, bits }
  const u = usableRange(c)
  const ip = (v: bigint): string => bigIntToIp(v, addr.family)
  const allOnes = (1n << BigInt(bits)) - 1n
  const maskValue = allOnes ^ (size - 1n)
  let reverseZone: string | null = null
  let nibble: CidrFacts['nibble'] = null
  if (addr.family === 4) {
    const octets = Math.floor(prefix / 8)
    const parts = ip(network).split('.').slice(0, octets).reverse()
    reverseZone = `${parts.length ? `${parts.join('.')}.` : ''}in-addr.arpa`
  } else {
    const nibbles = Math.floor(prefix / 4)
    const hex = network.toString(16).padStart(32, '0').slice(0, nibbles).split('').reverse()
    nibble = {
      aligned: prefix % 4 === 0,
      below: Math.floor(prefix / 4) * 4,
      above: Math.min(128, Math.ceil(prefix / 4) * 4),
      reverseZone: `${hex.length ? `${hex.join('.')}.` : ''}ip6.arpa`
    }
  }
  return {
    input: s,
    family: addr.family,
    network: c.text,
    prefix,
    hostAddress: network === addr.value ? null : addr.text,
    firstAddress: ip(network),
    lastAddress: ip(last),
    broadcast: addr.family === 4 && prefix < 31 ? ip(last) : null,
    usableFirst: u.count > 0n ? ip(u.first) : null,
    usableLast: u.count > 0n ? ip(u.last) : null,
    size: size.toString(),
    usable: u.count.toString(),
    mask: addr.family === 4 ? ip(maskValue) : null,
    wildcard: addr.family === 4 ? ip(size - 1n) : null,
    nibble,
    reverseZone
  }
}

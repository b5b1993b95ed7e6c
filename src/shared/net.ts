/**
 * Address parsing that accepts what people type and refuses the rest with a reason. Shared by the core
 * (authoritative checks), the CLI and the renderer's inline validation. IPv4 math uses netmask; IPv6 uses
 * ipaddr.js with BigInt arithmetic. No node, electron or vue imports.
 */
import ipaddr from 'ipaddr.js'
import { Netmask } from 'netmask'
import { validationError } from './errors'

export type Family = 4 | 6

export interface ParsedIp {
  family: Family
  /** Canonical text: dotted quad for IPv4, RFC 5952 compressed form for IPv6. */
  text: string
  value: bigint
}

export interface ParsedCidr {
  family: Family
  /** Canonical network text, e.g. `10.1.2.0/24`, `2001:db8::/64`. */
  text: string
  prefix: number
  network: bigint
  bits: 32 | 128
}

const FOUR_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

function v6ToBigInt(a: ipaddr.IPv6): bigint {
  return a.parts.reduce((acc, p) => (acc << 16n) | BigInt(p), 0n)
}

export function bigIntToIp(value: bigint, family: Family): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.')
  }
  const parts: number[] = []
  for (let i = 7; i >= 0; i--) parts.push(Number((value >> BigInt(i * 16)) & 0xffffn))
  return new ipaddr.IPv6(parts).toRFC5952String()
}

/** Parses a single host address. `field` names the input in the error. */
export function parseIp(input: string, field = 'ip'): ParsedIp {
  const s = String(input ?? '').trim()
  if (!s) throw validationError(field, 'is required')
  if (s.includes('/')) throw validationError(field, `"${s}" is a network; give a single address without a prefix length`)
  if (s.includes('.') && !s.includes(':')) {
    if (!FOUR_PART.test(s)) throw validationError(field, `"${s}" is not a valid IPv4 address (four decimal numbers 0-255, no leading zeros)`)
    const value = s.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n)
    return { family: 4, text: s, value }
  }
  if (s.includes(':')) {
    if (s.includes('%')) throw validationError(field, `"${s}": zone indices (%...) are not stored`)
    if (!ipaddr.IPv6.isValid(s)) throw validationError(field, `"${s}" is not a valid IPv6 address`)
    const a = ipaddr.IPv6.parse(s)
    return { family: 6, text: a.toRFC5952String(), value: v6ToBigInt(a) }
  }
  throw validationError(field, `"${s}" is not an IP address`)
}

/** Orders two numeric address values (for sort). */
export function compareValues(x: bigint, y: bigint): number {
  return x < y ? -1 : x > y ? 1 : 0
}

/** Orders two addresses by value (10.0.0.9 before 10.0.0.10), for sort; throws on a malformed one. */
export function compareIp(a: string, b: string): number {
  return compareValues(parseIp(a).value, parseIp(b).value)
}

/**
 * Parses a network in CIDR form and insists it is canonical: `10.1.2.3/24` is refused with a message that
 * suggests `10.1.2.0/24`.
 */
export function parseCidr(input: string, field = 'network'): ParsedCidr {
  const s = String(input ?? '').trim()
  if (!s) throw validationError(field, 'is required')
  const slash = s.indexOf('/')
  if (slash < 0) throw validationError(field, `"${s}" has no prefix length; write it as ADDRESS/PREFIX, e.g. 10.0.0.0/24`)
  const addrText = s.slice(0, slash)
  const prefixText = s.slice(slash + 1)
  let addr: ParsedIp
  try {
    addr = parseIp(addrText, field)
  } catch {
    throw validationError(field, `"${s}" is not a valid CIDR network (bad address "${addrText}")`)
  }
  const bits = addr.family === 4 ? 32 : 128
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    throw validationError(field, `"${s}": prefix length must be a number from 0 to ${bits}`)
  }
  const prefix = Number(prefixText)
  let canonicalText: string
  let network: bigint
  if (addr.family === 4) {
    const nm = new Netmask(`${addr.text}/${prefix}`)
    canonicalText = `${nm.base}/${nm.bitmask}`
    network = parseIp(nm.base).value
  } else {
    const hostBits = BigInt(128 - prefix)
    network = (addr.value >> hostBits) << hostBits
    canonicalText = `${bigIntToIp(network, 6)}/${prefix}`
  }
  if (network !== addr.value) {
    throw validationError(field, `"${s}" has host bits set; did you mean ${canonicalText}?`, { suggestion: canonicalText })
  }
  return { family: addr.family, text: canonicalText, prefix, network, bits }
}

export function cidrSize(c: ParsedCidr): bigint {
  return 1n << BigInt(c.bits - c.prefix)
}

export function cidrLast(c: ParsedCidr): bigint {
  return c.network + cidrSize(c) - 1n
}

export function cidrContains(c: ParsedCidr, ip: ParsedIp): boolean {
  return c.family === ip.family && ip.value >= c.network && ip.value <= cidrLast(c)
}

/**
 * The range of addresses that may be handed out: an IPv4 network wider than /31 loses its network and
 * broadcast addresses; an IPv6 prefix wider than /127 loses the subnet-router anycast address (RFC 4291).
 */
export function usableRange(c: ParsedCidr): { first: bigint; last: bigint; count: bigint } {
  let first = c.network
  let last = cidrLast(c)
  if (c.family === 4 && c.prefix < 31) {
    first += 1n
    last -= 1n
  } else if (c.family === 6 && c.prefix < 127) {
    first += 1n
  }
  return { first, last, count: last - first + 1n }
}

/** Why an address cannot be used in a pool, or null when it can. */
export function unusableReason(c: ParsedCidr, ip: ParsedIp): string | null {
  if (!cidrContains(c, ip)) return `${ip.text} is outside ${c.text}`
  if (c.family === 4 && c.prefix < 31) {
    if (ip.value === c.network) return `${ip.text} is the network address of ${c.text}`
    if (ip.value === cidrLast(c)) return `${ip.text} is the broadcast address of ${c.text}`
  }
  if (c.family === 6 && c.prefix < 127 && ip.value === c.network) return `${ip.text} is the subnet-router anycast address of ${c.text}`
  return null
}

/** Accepts aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff and aabbccddeeff; returns aa:bb:cc:dd:ee:ff. */
export function normalizeMac(input: string, field = 'mac'): string {
  const s = String(input ?? '').trim()
  if (!s) throw validationError(field, 'is required')
  let hex: string | null = null
  if (/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(s)) hex = s.replace(/[:-]/g, '')
  else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i.test(s)) hex = s.replace(/\./g, '')
  else if (/^[0-9a-f]{12}$/i.test(s)) hex = s
  if (!hex) {
    throw validationError(field, `"${s}" is not a MAC address; use aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff or aabbccddeeff`)
  }
  return hex.toLowerCase().match(/../g)!.join(':')
}

/** RFC 1123 host name (labels of letters, digits and inner hyphens, at most 63 each, 253 in all). */
export function normalizeHostname(input: string, field = 'hostname'): string {
  const s = String(input ?? '').trim().replace(/\.$/, '')
  if (!s) throw validationError(field, 'is required')
  if (s.length > 253) throw validationError(field, `must be at most 253 characters (got ${s.length})`)
  for (const label of s.split('.')) {
    if (!label) throw validationError(field, `"${s}" has an empty label (two dots in a row)`)
    if (label.length > 63) throw validationError(field, `label "${label.slice(0, 20)}..." is longer than 63 characters`)
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(label)) {
      throw validationError(field, `"${s}" is not a valid host name (RFC 1123: letters, digits and hyphens; a label may not start or end with a hyphen)`)
    }
  }
  return s.toLowerCase()
}

/** How many DNS servers a pool may list (resolv.conf uses three; DHCP option 6 carries more). */
export const MAX_DNS_SERVERS = 8

/**
 * A pool's DNS servers: single addresses, IPv4 or IPv6 whatever the pool's family, none twice, at most
 * MAX_DNS_SERVERS. Returns their canonical texts in the given order; errors name the field, the entry and
 * the reason (`dnsServers: entry 2 "10.0.0.300" is not a valid IPv4 address ...`).
 */
export function parseDnsServers(list: readonly string[], field = 'dnsServers'): string[] {
  if (list.length > MAX_DNS_SERVERS) throw validationError(field, `at most ${MAX_DNS_SERVERS} servers (got ${list.length})`)
  const out: string[] = []
  list.forEach((raw, i) => {
    const s = String(raw ?? '').trim()
    if (!s) throw validationError(field, `entry ${i + 1} is empty`)
    let text: string
    try {
      text = parseIp(s, field).text
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e)
      throw validationError(field, `entry ${i + 1} ${msg.startsWith(`${field}: `) ? msg.slice(field.length + 2) : msg}`)
    }
    if (out.includes(text)) throw validationError(field, `${text} is listed twice`)
    out.push(text)
  })
  return out
}

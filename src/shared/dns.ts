/**
 * DNS names and zones as Netkeeper manages them: zone names, reverse zones (in-addr.arpa on octet
 * boundaries or classless per RFC 2317, ip6.arpa on nibble boundaries), the owner names of PTR records, and
 * the fully qualified name an allocation's host name gets in its pool's forward zone. Pure: no node, no vue.
 */
import { z } from 'zod'
import { TSIG_ALGORITHMS } from './choices'
import { validationError } from './errors'
import { bigIntToIp, parseCidr, parseIp, type ParsedCidr } from './net'

export { TSIG_ALGORITHMS }
export type TsigAlgorithm = (typeof TSIG_ALGORITHMS)[number]

export const ZONE_KINDS = ['forward', 'reverse4', 'reverse6'] as const
export type ZoneKind = (typeof ZONE_KINDS)[number]

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/
/** A classless (RFC 2317) label: `0-25`, `0/25`, `64-26`. */
const CLASSLESS = /^(\d{1,3})[-/](\d{1,2})$/

/** A domain name in Netkeeper's form: lower case, no trailing dot. Refuses what DNS cannot carry. */
export function normalizeDnsName(input: string, field = 'name'): string {
  let s = String(input ?? '')
    .trim()
    .toLowerCase()
  if (s.endsWith('.')) s = s.slice(0, -1)
  if (!s) throw validationError(field, 'is required')
  if (s.length > 253) throw validationError(field, `"${s}" is longer than 253 characters`)
  for (const label of s.split('.')) {
    if (!label) throw validationError(field, `"${s}" has an empty label (two dots in a row)`)
    if (!LABEL.test(label) && !CLASSLESS.test(label)) {
      throw validationError(field, `"${label}" in "${s}" is not a valid DNS label (letters, digits, hyphens; 1-63 characters; no hyphen at either end)`)
    }
  }
  return s
}

/** Whether `name` is `zone` or below it. */
export function inZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`)
}

/**
 * The fully qualified name of a host name in a forward zone: a name already in the zone stays as it is,
 * any other gets the zone appended (`web-01` → `web-01.example.test`, `web.dc1` → `web.dc1.example.test`).
 */
export function fqdnIn(hostname: string, zone: string): string {
  const h = hostname.toLowerCase().replace(/\.$/, '')
  return inZone(h, zone) ? h : `${h}.${zone}`
}

/** The PTR owner name of an address in the full reverse tree (`4.3.2.1.in-addr.arpa`, nibbles for IPv6). */
export function reverseName(ip: string): string {
  const p = parseIp(ip, 'ip')
  if (p.family === 4) return `${p.text.split('.').reverse().join('.')}.in-addr.arpa`
  const hex = p.value.toString(16).padStart(32, '0')
  return `${[...hex].reverse().join('.')}.ip6.arpa`
}

export interface ReverseZoneInfo {
  kind: 'reverse4' | 'reverse6'
  /** The addresses the zone holds PTRs for. */
  network: string
  /** RFC 2317: PTRs are named `<last octet>.<zone>` instead of by the full reverse name. */
  classless: boolean
}

/**
 * What a reverse zone's name says: the network it covers. `2.0.192.in-addr.arpa` → 192.0.2.0/24,
 * `0-25.100.51.198.in-addr.arpa` (or `0/25...`) → 198.51.100.0/25, `8.b.d.0.1.0.0.2.ip6.arpa` → 2001:db8::/32.
 * Null for a forward zone.
 */
export function reverseZoneInfo(zone: string, field = 'name'): ReverseZoneInfo | null {
  if (zone.endsWith('.in-addr.arpa')) {
    const labels = zone.slice(0, -'.in-addr.arpa'.length).split('.')
    const m = CLASSLESS.exec(labels[0]!)
    if (m) {
      const octets = labels.slice(1).reverse()
      if (octets.length !== 3 || octets.some((o) => !/^\d{1,3}$/.test(o) || Number(o) > 255)) {
        throw validationError(field, `"${zone}": a classless reverse zone sits under a /24 zone (first-prefix.c.b.a.in-addr.arpa)`)
      }
      const [first, len] = [Number(m[1]), Number(m[2])]
      if (len < 25 || len > 32 || first > 255) throw validationError(field, `"${zone}": a classless reverse zone's prefix is /25 to /32`)
      const net = parseCidr(`${octets.join('.')}.${first}/${len}`, field)
      return { kind: 'reverse4', network: net.text, classless: true }
    }
    if (labels.length < 1 || labels.length > 3 || labels.some((o) => !/^\d{1,3}$/.test(o) || Number(o) > 255 || (o.length > 1 && o.startsWith('0')))) {
      throw validationError(field, `"${zone}" is not a reverse zone on an octet boundary (c.b.a.in-addr.arpa, b.a.in-addr.arpa or a.in-addr.arpa)`)
    }
    const octets = labels.reverse()
    const text = [...octets, ...Array(4 - octets.length).fill('0')].join('.')
    return { kind: 'reverse4', network: parseCidr(`${text}/${octets.length * 8}`, field).text, classless: false }
  }
  if (zone.endsWith('.ip6.arpa')) {
    const nibbles = zone.slice(0, -'.ip6.arpa'.length).split('.')
    if (nibbles.length < 1 || nibbles.length > 31 || nibbles.some((n) => !/^[0-9a-f]$/.test(n))) {
      throw validationError(field, `"${zone}" is not an IPv6 reverse zone on a nibble boundary (hex digits, one per label)`)
    }
    const hex = nibbles.reverse().join('').padEnd(32, '0')
    return { kind: 'reverse6', network: `${bigIntToIp(BigInt(`0x${hex}`), 6)}/${nibbles.length * 4}`, classless: false }
  }
  return null
}

/** The reverse zone that would hold the PTRs of a network: octet or nibble aligned, RFC 2317 above /24. */
export function reverseZoneFor(network: string): string {
  const c: ParsedCidr = parseCidr(network, 'network')
  if (c.family === 4) {
    const octets = bigIntToIp(c.network, 4).split('.')
    if (c.prefix > 24) return `${octets[3]}-${c.prefix}.${octets[2]}.${octets[1]}.${octets[0]}.in-addr.arpa`
    const n = Math.max(1, Math.floor(c.prefix / 8))
    return `${octets.slice(0, n).reverse().join('.')}.in-addr.arpa`
  }
  const n = Math.max(1, Math.floor(c.prefix / 4))
  const hex = c.network.toString(16).padStart(32, '0').slice(0, n)
  return `${[...hex].reverse().join('.')}.ip6.arpa`
}

/** The PTR owner name of `ip` in a reverse zone (the zone must cover it). */
export function ptrNameIn(ip: string, zone: string, info: ReverseZoneInfo): string {
  if (info.classless) return `${parseIp(ip).text.split('.')[3]}.${zone}`
  return reverseName(ip)
}

// ---------------------------------------------------------------- the contract's inputs and results

const dnsName = (field: string) => z.string().trim().min(1, 'is required').max(254).transform((v, ctx) => {
  try {
    return normalizeDnsName(v, field)
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^[^:]+: /, '') })
    return z.NEVER
  }
})

export const dnsServerAddSchema = z
  .object({
    name: z.string().trim().min(1, 'is required').max(100),
    address: z.string().trim().min(1, 'is required').max(64),
    port: z.number().int().min(1).max(65535).default(53),
    keyName: dnsName('keyName'),
    algorithm: z.enum(TSIG_ALGORITHMS).default('hmac-sha256'),
    /** Base64, as `tsig-keygen` prints it; kept in the OS keychain, never in the database. */
    secret: z.string().trim().min(1, 'is required').max(1024)
  })
  .strict()
export type DnsServerAddInput = z.input<typeof dnsServerAddSchema>

export const dnsZoneAddSchema = z
  .object({
    server: z.string().trim().min(1, 'is required').max(100),
    name: dnsName('name'),
    ttl: z.number().int().min(0).max(2147483647).default(3600),
    /**
     * The address space (name or id) whose allocations a reverse zone holds PTRs for; the default space when
     * left out. The same address in another space gets no PTR there.
     */
    space: z.union([z.number().int().positive(), z.string().trim().min(1, 'is required').max(100)]).optional(),
    /** Skip asking the server whether it serves the zone (offline set-up). */
    noCheck: z.boolean().optional()
  })
  .strict()
export type DnsZoneAddInput = z.input<typeof dnsZoneAddSchema>

export const poolDnsSchema = z
  .object({
    pool: z.union([z.string().trim().min(1), z.number().int().positive()]),
    /** The forward zone of the pool's names; null to stop publishing them. */
    zone: z.string().trim().max(254).nullable().optional(),
    ptr: z.boolean().optional(),
    /**
     * Also bring the records of the pool's existing allocations (DNS on, with a host name) in line with the
     * new settings: published in the new zone, removed from the old one. One outbox batch under the change's
     * request id; without it only later allocation changes follow the new settings.
     */
    publish: z.boolean().optional()
  })
  .strict()
export type PoolDnsInput = z.input<typeof poolDnsSchema>

export interface DnsServerDto {
  id: number
  name: string
  address: string
  port: number
  keyName: string
  algorithm: TsigAlgorithm
  zones: number
  createdAt: string
}

export interface DnsZoneDto {
  id: number
  server: string
  name: string
  kind: ZoneKind
  /** Reverse zones: the addresses they hold PTRs for. */
  network: string | null
  classless: boolean
  ttl: number
  /** The address space whose allocations it holds PTRs for (reverse zones; kept for forward zones too). */
  space: string
  pools: string[]
}

export interface DnsRecordDto {
  name: string
  type: string
  ttl: number
  data: string
  /** The allocation the record stands for, when it is one Netkeeper keeps. */
  allocation: { ip: string; hostname: string | null; pool: string } | null
}

export interface DnsServerTest {
  server: string
  ok: boolean
  zones: { zone: string; ok: boolean; serial?: number; updates?: boolean; error?: string }[]
  error?: string
  ms: number
}

export const DRIFT_KINDS = ['record-without-allocation', 'allocation-without-record', 'record-differs', 'ptr-mismatch', 'ptr-without-allocation', 'allocation-without-ptr', 'a-ptr-disagree'] as const
export type DnsDriftKind = (typeof DRIFT_KINDS)[number]

export interface DnsDriftItem {
  /** Stable id of the line (kind:zone:name:type), for repair and ignore. */
  id: string
  kind: DnsDriftKind
  zone: string
  name: string
  type: string
  /** What the zone holds. */
  inZone: string[]
  /** What the allocations say it should hold. */
  expected: string[]
  allocation: { ip: string; hostname: string | null; pool: string } | null
  /** What each repair does, in words. */
  toZone: string
  toIpam: string | null
  ignored: boolean
}

export interface DnsDriftReport {
  zones: { zone: string; records: number; serial: number | null; error?: string }[]
  items: DnsDriftItem[]
  ms: number
}

export const recordListSchema = z
  .object({
    zone: z.string().trim().min(1, 'is required').max(254),
    search: z.string().trim().max(253).optional(),
    type: z.string().trim().max(10).optional(),
    page: z.number().int().min(1).default(1),
    pageSize: z.number().int().min(1).max(1000).default(100)
  })
  .strict()

export const driftRepairSchema = z
  .object({
    zone: z.string().trim().max(254).optional(),
    ids: z.array(z.string().max(600)).max(10000).optional(),
    direction: z.enum(['zone', 'ipam'])
  })
  .strict()

export interface DnsRepairResult {
  id: string
  direction: 'zone' | 'ipam'
  ok: boolean
  message: string
}

/** A pool's DNS settings and its reverse-zone coverage (the pool page, `netkeeper dns pool`). */
export interface PoolDnsDto {
  pool: string
  network: string
  zone: string | null
  ptr: boolean
  /** The reverse zones Netkeeper manages that hold this pool's PTRs, and the one it would need if none does. */
  reverseZones: { zone: string; network: string }[]
  suggestedReverseZone: string | null
  /** Parts of the pool no managed reverse zone covers (PTRs there cannot be written). */
  uncovered: boolean
  /** The pool's allocations with DNS on and a host name: what a publish would bring in line. */
  dnsAllocations: number
  /** After a change with `publish`: how many allocations were queued (in how many outbox rows). */
  published?: { allocations: number; rows: number }
}

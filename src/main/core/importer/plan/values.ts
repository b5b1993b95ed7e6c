/**
 * Reading a legacy row's values: text cleaned of control characters and clipped, and readers for the
 * common spellings of addresses, MACs and host names that give the same result as the general parsers in
 * shared/net.ts without their intermediate strings (hundreds of thousands of rows go through them).
 */
import { parseIp, type ParsedIp } from '../../../../shared/net'

// Control characters other than tab and line breaks are refused by the IPAM schemas; the import removes them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g

export const NAME_MAX = 100
export const BY_MAX = 255

// The same characters, to test for them (no g flag: no lastIndex to carry between calls).
// eslint-disable-next-line no-control-regex
const HAS_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/

export function clean(v: string | null, max?: number): { value: string | null; changed: boolean } {
  if (v === null) return { value: null, changed: false }
  let s = HAS_CONTROL.test(v) ? v.replace(CONTROL, '') : v
  let changed = s.length !== v.length
  s = s.trim()
  if (max !== undefined && s.length > max) {
    s = s.slice(0, max)
    changed = true
  }
  return { value: s === '' ? null : s, changed }
}

/** clean(v, max).value, without the object. */
export function cleaned(v: string | null, max?: number): string | null {
  if (v === null) return null
  let s = (HAS_CONTROL.test(v) ? v.replace(CONTROL, '') : v).trim()
  if (max !== undefined && s.length > max) s = s.slice(0, max)
  return s === '' ? null : s
}

/**
 * parseIp for the common case, a dotted quad exactly as written (no spaces, no leading zeros): the same
 * ParsedIp, without the general parser's intermediate strings. Null for anything else (parseIp decides).
 */
export function plainIpv4(s: string): ParsedIp | null {
  const n = s.length
  if (n < 7 || n > 15) return null
  let value = 0
  let octet = 0
  let digits = 0
  let dots = 0
  let lead = 0
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c === 46) {
      if (digits === 0) return null
      value = value * 256 + octet
      dots++
      octet = 0
      digits = 0
    } else if (c >= 48 && c <= 57) {
      if (digits === 0) lead = c
      else if (lead === 48) return null
      octet = octet * 10 + (c - 48)
      if (++digits > 3 || octet > 255) return null
    } else return null
  }
  if (digits === 0 || dots !== 3) return null
  return { family: 4, text: s, value: BigInt(value * 256 + octet) }
}

/** parseIp(v), the common case first. Throws as parseIp does. */
export const readIp = (v: string | null): ParsedIp => (v !== null && plainIpv4(v)) || parseIp(v ?? '', 'ip_address')

const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)

/**
 * normalizeMac for the spellings aa:bb:cc:dd:ee:ff and AA-BB-CC-DD-EE-FF (any case): the same text, without
 * the general reader's intermediate strings. Null for anything else (normalizeMac decides).
 */
export function plainMac(s: string): string | null {
  if (s.length !== 17) return null
  const sep = s.charCodeAt(2)
  if (sep !== 58 && sep !== 45) return null
  let lower = true
  for (let i = 0; i < 17; i++) {
    const c = s.charCodeAt(i)
    if (i % 3 === 2) {
      if (c !== sep) return null
    } else if (!isHex(c)) return null
    else if (c >= 65 && c <= 70) lower = false
  }
  const t = lower ? s : s.toLowerCase()
  return sep === 58 ? t : t.replaceAll('-', ':')
}

/**
 * normalizeHostname for a name without a trailing dot or spaces: letters, digits and inner hyphens in labels
 * of 1 to 63, at most 253 in all. The same text, lower-cased. Null for anything else (normalizeHostname decides).
 */
export function plainHostname(s: string): string | null {
  const n = s.length
  if (n === 0 || n > 253) return null
  let label = 0
  let prev = 46
  let lower = true
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c === 46) {
      if (label === 0 || prev === 45) return null
      label = 0
    } else {
      if (c === 45) {
        if (label === 0) return null
      } else if (c >= 65 && c <= 90) lower = false
      else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57))) return null
      if (++label > 63) return null
    }
    prev = c
  }
  if (label === 0 || prev === 45) return null
  return lower ? s : s.toLowerCase()
}

export function reasonOf(e: unknown, fallback: string): string {
  const m = (e as Error)?.message
  if (!m) return fallback
  // parseIp and friends say "field: reason"; the problem already names its field.
  return m.replace(/^[a-z_]+: /, '')
}

/** dns_servers: a JSON list of addresses; a plain comma- or space-separated list is read too. */
export function parseDnsServers(raw: string | null): { valid: string[]; error: string | null } {
  const s = (raw ?? '').trim()
  if (!s || s === 'null' || s === '[]') return { valid: [], error: null }
  let items: unknown[]
  let json = true
  try {
    const v = JSON.parse(s)
    items = Array.isArray(v) ? v : [v]
    if (!Array.isArray(v)) json = false
  } catch {
    json = false
    items = s.split(/[\s,;]+/).filter(Boolean)
  }
  const valid: string[] = []
  const bad: string[] = []
  for (const it of items) {
    try {
      const ip = parseIp(String(it))
      if (!valid.includes(ip.text)) valid.push(ip.text)
    } catch {
      bad.push(String(it))
    }
  }
  if (!bad.length) return { valid, error: null }
  return {
    valid,
    error: json
      ? `dns_servers lists ${bad.map((b) => `"${b}"`).join(', ')}, which ${bad.length === 1 ? 'is not an IP address' : 'are not IP addresses'}`
      : `dns_servers "${s}" is not a JSON list of IP addresses`
  }
}

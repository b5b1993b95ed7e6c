/**
 * How each CSV target field (shared/ipam-csv.ts CSV_FIELDS) is read: one parser per field name, giving the
 * canonical text that is compared with the database and written, or throwing the reason in words. An empty
 * cell is null. Adding a column is one entry here and one in CSV_FIELDS.
 */
import { isDn } from '../../../shared/dn'
import { isCustomFieldColumn } from '../../../shared/ipam-csv'
import { normalizeHostname, normalizeMac, parseDnsServers, parseIp } from '../../../shared/net'

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/

/** The reason of an AppError-style message without its "field: " prefix. */
const why = (e: unknown): string => (e instanceof Error ? e.message.replace(/^[a-zA-Z]+: /, '') : String(e))

const text = (max: number) => (v: string): string => {
  if (v.length > max) throw new Error(`must be at most ${max} characters (got ${v.length})`)
  if (CONTROL.test(v)) throw new Error('must not contain control characters')
  return v
}

const TRUE = new Set(['true', 'yes', 'y', '1', 'on', 'active', 'container', 'reserved'])
const FALSE = new Set(['false', 'no', 'n', '0', 'off', 'deprecated', 'inactive'])
const bool = (v: string): string => {
  const l = v.toLowerCase()
  if (TRUE.has(l)) return 'true'
  if (FALSE.has(l)) return 'false'
  throw new Error(`"${v}" is not true or false`)
}

/** Allocation statuses of Netkeeper, NetBox and phpIPAM; `dhcp` means allocated with dhcp_managed set. */
const STATUS: Record<string, string> = {
  allocated: 'allocated',
  active: 'allocated',
  used: 'allocated',
  slaac: 'allocated',
  reserved: 'reserved',
  blocked: 'blocked',
  deprecated: 'blocked',
  offline: 'blocked',
  dhcp: 'dhcp'
}

const dottedMask = (v: string): number => {
  const ip = parseIp(v)
  if (ip.family !== 4) throw new Error(`"${v}" is not a prefix length or an IPv4 mask`)
  const bits = ip.value.toString(2).padStart(32, '0')
  if (!/^1*0*$/.test(bits)) throw new Error(`"${v}" is not a contiguous mask`)
  return bits.indexOf('0') < 0 ? 32 : bits.indexOf('0')
}

export const FIELD_PARSERS: Record<string, (v: string) => string> = {
  space: text(100),
  network: (v) => v, // checked with prefix_length in the row (csv-import.ts)
  prefix_length: (v) => {
    if (/^\/?\d{1,3}$/.test(v)) {
      const n = Number(v.replace('/', ''))
      if (n > 128) throw new Error(`${n} is not a prefix length (0-128)`)
      return String(n)
    }
    try {
      return String(dottedMask(v))
    } catch (e) {
      throw new Error(why(e))
    }
  },
  name: text(100),
  gateway: (v) => parseIp(v, 'gateway').text,
  vlan: (v) => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 4094) throw new Error(`"${v}" is not a VLAN number 1-4094`)
    return String(Number(v))
  },
  site: text(100),
  environment: text(50),
  description: text(2000),
  dns_servers: (v) => parseDnsServers(v.split(/[\s,;]+/).filter(Boolean), 'dns_servers').join(' '),
  active: bool,
  ip: (v) => parseIp(v.replace(/\/\d{1,3}$/, ''), 'ip').text,
  pool: text(100),
  status: (v) => {
    const s = STATUS[v.toLowerCase()]
    if (!s) throw new Error(`"${v}" is not a status (allocated, reserved, blocked; NetBox active, deprecated, dhcp, slaac; phpIPAM Used, Reserved, Offline, DHCP)`)
    return s
  },
  hostname: (v) => normalizeHostname(v, 'hostname'),
  mac: (v) => normalizeMac(v, 'mac'),
  owner: text(255),
  owner_dn: (v) => {
    if (v.length > 1024 || !isDn(v)) throw new Error(`"${v.slice(0, 60)}" is not a distinguished name`)
    return v
  },
  purpose: text(255),
  reserved_until: (v) => {
    const t = Date.parse(v)
    if (Number.isNaN(t)) throw new Error(`"${v}" is not a date and time (ISO-8601)`)
    return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z')
  },
  dns_managed: bool,
  dhcp_managed: bool,
  // Tag names (no spaces or commas, at most 64 characters: the tag rules) separated by commas or spaces;
  // canonical: sorted, without repeats, joined by commas (as the export writes them).
  tags: (v) => {
    const names = [...new Set(v.split(/[\s,]+/).filter(Boolean))].sort()
    for (const n of names) {
      if (n.length > 64) throw new Error(`"${n.slice(0, 40)}…" is longer than 64 characters (a tag name)`)
      if (CONTROL.test(n)) throw new Error('must not contain control characters')
    }
    return names.length ? names.join(',') : ''
  },
  ignore: () => ''
}

/** A custom field cell (cf_<name>): kept as text here, checked against the field's definition when the rows are analysed. */
const customField = text(1000)

/** Parses a cell for a field: the canonical text, null for an empty cell, or { error } with the reason. */
export function parseField(field: string, raw: string): string | null | { error: string } {
  const v = raw.trim()
  if (v === '') return null
  try {
    const parser = FIELD_PARSERS[field] ?? (isCustomFieldColumn(field) ? customField : undefined)
    if (!parser) return { error: `no field named ${field}` }
    const out = parser(v)
    return out === '' && field !== 'ignore' ? null : out
  } catch (e) {
    return { error: why(e) }
  }
}

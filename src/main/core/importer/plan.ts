/**
 * Judges every legacy row and decides its fate under the given choices: create, rename, merge, already
 * imported, or skip with its reasons. Knows nothing of SQLite or SQL: the target's state comes in as data
 * and through two hooks (who holds these addresses; lock these pools), so the same plan serves the
 * analysis, the dry run and the run (which plans again inside its transaction).
 *
 * Rows are judged in file order (rowid). Where two rows want the same thing (an address, a network, a
 * name), the first row that is otherwise importable keeps it and the later ones are reported.
 */
import {
  CLASH_KINDS,
  DEFAULT_TYPE_MAP,
  PROBLEM_KINDS,
  type AppliedFix,
  type ImportChoices,
  type ImportCounts,
  type ImportProblem,
  type ImportTypeSummary,
  type LegacyTable,
  type ProblemKind,
  type TypeTarget
} from '../../../shared/importer'
import { cidrLast, normalizeHostname, normalizeMac, parseCidr, parseIp, unusableReason, type ParsedCidr, type ParsedIp } from '../../../shared/net'
import type { AllocationStatus } from '../../../shared/ipam'
import type { LegacyAllocation, LegacyPool } from './legacy-file'

export interface TargetPool {
  id: number
  name: string
  network: ParsedCidr
  gateway: string | null
}

export interface TargetState {
  pools: TargetPool[]
  /** Legacy pool ids imported before, and what they became. */
  poolMap: Map<string, { targetId: number; action: 'created' | 'renamed' | 'merged' }>
  /** Legacy allocation ids imported before. */
  allocMap: Set<string>
}

export interface AddressHolder {
  id: number
  poolName: string
  hostname: string | null
  status: string
}

export interface PlanHooks {
  /** Who holds these addresses (canonical text) in the target. */
  holders(ips: string[]): Promise<Map<string, AddressHolder>>
  /** Locks the existing pools the plan adds allocations to (the run does; analysis and dry run do not). */
  lockPools?(ids: number[]): Promise<void>
  signal?: AbortSignal
  onProgress?(done: number, total: number): void
}

export type PoolAction = 'create' | 'rename' | 'merge' | 'already' | 'skip'

export interface PoolPlan {
  src: LegacyPool
  index: number
  legacyId: string | null
  /** The legacy name, cleaned; `name` is what it will be called (differs after a rename). */
  legacyName: string | null
  name: string | null
  /** The network it will have: canonical, and after the host-bits fix. Null when unreadable. */
  net: ParsedCidr | null
  gateway: string | null
  vlanId: number | null
  dnsServers: string[]
  description: string | null
  createdAt: string | null
  updatedAt: string | null
  action: PoolAction
  /** merge and already: the existing pool (for merge, the first it joins). */
  targetId: number | null
  /** merge (and a pool merged by an earlier run): the existing pools its allocations may join. */
  mergeTargets: TargetPool[]
  /** already: an earlier run merged it rather than creating it. */
  mergedBefore: boolean
  /** The first reason it is skipped. */
  reason: ImportProblem | null
  fixed: boolean
  /** Allocations it brings (created in it, or into the pools it merges with). */
  allocations: number
}

/** What a created allocation is made of: re-derived from its legacy row by the write passes (allocationValues). */
export interface AllocationValues {
  ip: string
  mac: string | null
  hostname: string | null
  status: Exclude<AllocationStatus, 'available'>
  dhcpManaged: boolean
  purpose: string | null
  description: string | null
  allocatedBy: string | null
  createdAt: string | null
  updatedAt: string | null
  legacyType: string
}

/** Allocation fates, per row in file order. */
export const FATE_SKIP = 0
export const FATE_CREATE = 1
export const FATE_ALREADY = 2
/** Fixes applied to a created allocation (bits of Plan.drop). */
export const DROP_MAC = 1
export const DROP_HOSTNAME = 2

/**
 * The decisions. Allocations are kept compact (typed arrays indexed by the row's place in file order), so
 * a file of hundreds of thousands of rows is planned and written without holding its rows in memory.
 */
export interface Plan {
  pools: PoolPlan[]
  /** FATE_* per allocation, in file order. */
  fate: Uint8Array
  /** Created allocations: >= 0 the index of the new pool in `pools`; < 0 minus the id of the existing pool. */
  dest: Int32Array
  /** Created allocations: DROP_* bits. */
  drop: Uint8Array
  typeMap: Map<string, TypeTarget>
  /** Names of the existing pools allocations go into, by id. */
  existingNames: Map<number, string>
  problems: ImportProblem[]
  fixes: AppliedFix[]
  counts: ImportCounts
  types: ImportTypeSummary[]
  refusal: { code: 'CONFLICT'; message: string } | null
  /** Existing pools that receive allocations (locked by the run, free space rebuilt afterwards). */
  existingPoolIds: number[]
  /** The address as found in the file, for skipped allocations (by rowid). */
  skippedValues: Map<number, string | null>
}

/** The source of rows a plan judges: the pools, and the allocations as a stream (see LegacySource). */
export interface PlanSource {
  pools: LegacyPool[]
  allocationCount: number
  allocations(): Iterable<LegacyAllocation>
}

// Control characters other than tab and line breaks are refused by the IPAM schemas; the import removes them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g

const NAME_MAX = 100
const BY_MAX = 255

// The same characters, to test for them (no g flag: no lastIndex to carry between calls).
// eslint-disable-next-line no-control-regex
const HAS_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/

function clean(v: string | null, max?: number): { value: string | null; changed: boolean } {
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
function cleaned(v: string | null, max?: number): string | null {
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
const readIp = (v: string | null): ParsedIp => (v !== null && plainIpv4(v)) || parseIp(v ?? '', 'ip_address')

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

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i

/** A legacy timestamp as ISO-8601 UTC. SQLite's CURRENT_TIMESTAMP is UTC without a zone. `bad` when unreadable. */
export function legacyTime(v: string | null): { iso: string | null; bad: boolean } {
  const s = (v ?? '').trim()
  if (!s) return { iso: null, bad: false }
  if (s === lastTimeIn) return { iso: lastTimeOut, bad: false }
  const iso = plainTime(s)
  if (iso !== null) {
    lastTimeIn = s
    lastTimeOut = iso
    return { iso, bad: false }
  }
  return anyTime(s)
}

// Rows of a file mostly share a few timestamps: the last one read is kept.
let lastTimeIn = ''
let lastTimeOut = ''

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** Two decimal digits at s[i], or -1. */
function digits2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48
  const b = s.charCodeAt(i + 1) - 48
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1
}

/**
 * The common shapes, read without the general pattern: `YYYY-MM-DD HH:MM:SS` (or with T), optionally with
 * `.mmm` and `Z`, a valid UTC date and time from the year 100 on. Null for anything else (anyTime decides).
 */
function plainTime(s: string): string | null {
  const n = s.length
  if (n !== 19 && n !== 20 && n !== 23 && n !== 24) return null
  const sep = s.charCodeAt(10)
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || (sep !== 32 && sep !== 84 && sep !== 116) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return null
  let end = 19
  if (n >= 23) {
    if (s.charCodeAt(19) !== 46 || digits2(s, 20) < 0 || digits2(s, 21) < 0) return null
    end = 23
  }
  if (n === end + 1) {
    const z = s.charCodeAt(end)
    if (z !== 90 && z !== 122) return null
  } else if (n !== end) return null
  const c = digits2(s, 0)
  const y2 = digits2(s, 2)
  const mo = digits2(s, 5)
  const d = digits2(s, 8)
  const h = digits2(s, 11)
  const mi = digits2(s, 14)
  const sec = digits2(s, 17)
  // Years before 100 are left to Date.UTC's own reading (anyTime).
  if (c < 1 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return null
  const y = c * 100 + y2
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
  if (d > (mo === 2 && leap ? 29 : DAYS[mo - 1]!)) return null
  return s.slice(0, 10) + 'T' + s.slice(11, 19) + (end === 23 ? s.slice(19, 23) : '.000') + 'Z'
}

/** Every shape legacyTime accepts: the general pattern, epoch seconds, offsets. */
function anyTime(s: string): { iso: string | null; bad: boolean } {
  if (/^\d{9,10}(\.\d+)?$/.test(s)) return { iso: new Date(Number(s) * 1000).toISOString(), bad: false }
  const m = TIME.exec(s)
  if (!m) return { iso: null, bad: true }
  const [y, mo, d, h = '0', mi = '0', sec = '0'] = m.slice(1, 7).map((x) => x ?? '0') as string[]
  const ms = m[7] ? Math.round(Number(m[7]) * 1000) : 0
  const parts = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(sec)] as const
  if (parts[1] < 1 || parts[1] > 12 || parts[3] > 23 || parts[4] > 59 || parts[5] > 59) return { iso: null, bad: true }
  const t = Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5], ms)
  const back = new Date(t)
  // Date.UTC rolls 30 February over into March: refuse what does not round-trip.
  if (back.getUTCFullYear() !== parts[0] || back.getUTCMonth() !== parts[1] - 1 || back.getUTCDate() !== parts[2]) return { iso: null, bad: true }
  let offsetMin = 0
  const z = m[8]
  if (z && z.toUpperCase() !== 'Z') {
    const sign = z.startsWith('-') ? -1 : 1
    const digits = z.slice(1).replace(':', '')
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)))
  }
  return { iso: new Date(t - offsetMin * 60_000).toISOString(), bad: false }
}

function overlaps(a: ParsedCidr, b: ParsedCidr): boolean {
  return a.family === b.family && a.network <= cidrLast(b) && b.network <= cidrLast(a)
}

/** The last address of each network (checked for every row: computed once). */
const lastAddress = new WeakMap<ParsedCidr, bigint>()

function lastOf(c: ParsedCidr): bigint {
  let last = lastAddress.get(c)
  if (last === undefined) lastAddress.set(c, (last = cidrLast(c)))
  return last
}

function contains(c: ParsedCidr, ip: ParsedIp): boolean {
  return c.family === ip.family && ip.value >= c.network && ip.value <= lastOf(c)
}

/** unusableReason for an address `c` contains: only its first and last addresses can be refused. */
function unusableInside(c: ParsedCidr, ip: ParsedIp): string | null {
  return ip.value === c.network || ip.value === lastOf(c) ? unusableReason(c, ip) : null
}

const rowKey = (table: LegacyTable, legacyId: string | null): string => `${table}\u0000${legacyId ?? ''}`

/** Judges a legacy file against the target under the given choices. */
export async function makePlan(data: PlanSource, target: TargetState, choices: ImportChoices, hooks: PlanHooks): Promise<Plan> {
  const problems: ImportProblem[] = []
  const fixes: AppliedFix[] = []
  const overrides = new Map(choices.rows.map((r) => [rowKey(r.table, r.legacyId.trim()), r.action]))
  const wantsFix = (table: LegacyTable, id: string | null): boolean => {
    const o = overrides.get(rowKey(table, id))
    return o === 'fix' || (choices.fix && o !== 'skip')
  }
  const typeMap = new Map<string, TypeTarget>(Object.entries(DEFAULT_TYPE_MAP))
  for (const [k, v] of Object.entries(choices.typeMap)) typeMap.set(k.trim().toLowerCase(), v)
  const counts: ImportCounts = {
    pools: { inFile: data.pools.length, created: 0, renamed: 0, merged: 0, alreadyImported: 0, skipped: 0, fixed: 0 },
    allocations: { inFile: data.allocationCount, created: 0, alreadyImported: 0, skipped: 0, fixed: 0 }
  }
  const targetById = new Map(target.pools.map((p) => [p.id, p]))
  const targetByName = new Map(target.pools.map((p) => [p.name, p]))

  // ------------------------------------------------------------------ pools
  const pools: PoolPlan[] = []
  const poolsById = new Map<string, PoolPlan>()
  // Every name the file or the target uses, so a rename never takes a name a later row brings.
  const usedNames = new Set<string>([...targetByName.keys()])
  for (const p of data.pools) {
    const n = clean(p.name, undefined).value
    if (n) usedNames.add(n)
  }
  const uniqueName = (base: string): string => {
    for (let i = 1; ; i++) {
      const suffix = i === 1 ? '-imported' : `-imported-${i}`
      const candidate = `${base.slice(0, NAME_MAX - suffix.length)}${suffix}`
      if (!usedNames.has(candidate)) {
        usedNames.add(candidate)
        return candidate
      }
    }
  }
  const keptNames = new Set<string>()
  const kept: PoolPlan[] = []
  const refusedPools: ImportProblem[] = []

  for (let index = 0; index < data.pools.length; index++) {
    const src = data.pools[index]!
    const rowProblems: ImportProblem[] = []
    const legacyId = clean(src.id).value
    const name0 = clean(src.name)
    const add = (kind: ProblemKind, field: string, value: string | null, message: string, fix?: ImportProblem['fix'], severity: 'error' | 'warning' = 'error'): ImportProblem => {
      const pr: ImportProblem = { table: 'ip_pools', legacyId, row: src.row, kind, severity, field, value, message, outcome: severity === 'warning' ? 'imported' : 'skipped', pool: name0.value }
      if (fix) pr.fix = fix
      rowProblems.push(pr)
      return pr
    }
    const plan: PoolPlan = {
      src,
      index,
      legacyId,
      legacyName: name0.value,
      name: name0.value,
      net: null,
      gateway: null,
      vlanId: null,
      dnsServers: [],
      description: clean(src.description).value,
      createdAt: null,
      updatedAt: null,
      action: 'skip',
      targetId: null,
      mergeTargets: [],
      mergedBefore: false,
      reason: null,
      fixed: false,
      allocations: 0
    }
    pools.push(plan)
    if (legacyId && !poolsById.has(legacyId)) poolsById.set(legacyId, plan)

    // The network first: an already-imported pool still needs it for the checks of its allocations.
    let fixedNet: ParsedCidr | null = null
    try {
      plan.net = parseCidr(src.network ?? '', 'network')
    } catch (e) {
      const suggestion = (e as { details?: { suggestion?: string } }).details?.suggestion
      if (suggestion) {
        fixedNet = parseCidr(suggestion)
        add('network_not_canonical', 'network', src.network, `${(src.network ?? '').trim()} has host bits set; the network is ${suggestion}`, {
          description: `use ${suggestion}`,
          value: suggestion
        })
      } else {
        add('invalid_network', 'network', src.network, reasonOf(e, `"${src.network ?? ''}" is not a valid CIDR network`))
      }
    }
    const net = plan.net ?? fixedNet

    const mapped = legacyId ? target.poolMap.get(legacyId) : undefined
    if (mapped) {
      // Imported before: nothing about the row matters any more, except where its allocations go.
      plan.action = 'already'
      plan.targetId = mapped.targetId
      plan.net = net
      const t = targetById.get(mapped.targetId)
      plan.name = t?.name ?? plan.legacyName
      if (mapped.action === 'merged') {
        plan.mergedBefore = true
        plan.mergeTargets = clashesOf(net, plan.legacyName, target.pools)
      }
      counts.pools.alreadyImported++
      if (plan.legacyName) keptNames.add(plan.legacyName)
      kept.push(plan)
      continue
    }

    if (!legacyId) add('missing_id', 'id', src.id, 'the pool has no id; a second run could not tell it was imported, so it is not imported')
    if (!name0.value) add('invalid_name', 'name', src.name, 'the pool has no name')
    else if (name0.value.length > NAME_MAX) add('invalid_name', 'name', src.name, `the name is ${name0.value.length} characters long; at most ${NAME_MAX} are allowed`)
    else if (keptNames.has(name0.value)) {
      const suggestion = uniqueName(name0.value)
      add('duplicate_name', 'name', src.name, `an earlier pool of the file is already named "${name0.value}"`, { description: `rename it to "${suggestion}"`, value: suggestion })
    } else if (name0.changed) add('text_cleaned', 'name', src.name, 'control characters were removed from the name', undefined, 'warning')

    if (net && src.gateway !== null && src.gateway.trim() !== '') {
      let why: string | null = null
      try {
        const g = parseIp(src.gateway, 'gateway')
        if (g.family !== net.family) why = `${g.text} is IPv${g.family} but the network ${net.text} is IPv${net.family}`
        else why = unusableReason(net, g)
        if (!why) plan.gateway = g.text
      } catch (e) {
        why = reasonOf(e, `"${src.gateway}" is not an IP address`)
      }
      if (why) add('invalid_gateway', 'gateway', src.gateway, `gateway: ${why}`, { description: 'import the pool without a gateway', value: null })
    }

    if (src.vlanId !== null && src.vlanId.trim() !== '') {
      const v = src.vlanId.trim()
      if (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 4094) plan.vlanId = Number(v)
      else add('invalid_vlan', 'vlan_id', src.vlanId, `VLAN "${v}" is not a whole number from 1 to 4094`, { description: 'import the pool without a VLAN', value: null })
    }

    const dns = parseDnsServers(src.dnsServers)
    plan.dnsServers = dns.valid
    if (dns.error) {
      add('invalid_dns_servers', 'dns_servers', src.dnsServers, dns.error, {
        description: dns.valid.length ? `keep ${dns.valid.join(', ')} and drop the rest` : 'import the pool without DNS servers',
        value: dns.valid.length ? JSON.stringify(dns.valid) : null
      })
    }

    const created = legacyTime(src.createdAt)
    const modified = legacyTime(src.modifiedAt)
    if (created.bad) add('invalid_timestamp', 'created_at', src.createdAt, `created_at "${src.createdAt}" is not a date; the import time is used`, undefined, 'warning')
    if (modified.bad) add('invalid_timestamp', 'modified_at', src.modifiedAt, `modified_at "${src.modifiedAt}" is not a date; the import time is used`, undefined, 'warning')
    plan.createdAt = created.iso
    plan.updatedAt = modified.iso ?? created.iso

    // Overlap with an earlier pool the file keeps: the first one keeps the space.
    if (net) {
      const other = kept.find((k) => k.net && overlaps(k.net, net))
      if (other) {
        add(
          'overlapping_pool',
          'network',
          src.network,
          `${net.text} overlaps pool "${other.legacyName}" (${other.net!.text}, legacy id ${other.legacyId}) of the same file, which is imported; one network, one pool`
        )
      }
    }

    // Decide.
    const errors = rowProblems.filter((x) => x.severity === 'error')
    const fixing = wantsFix('ip_pools', legacyId)
    const blocking = errors.filter((x) => !x.fix || !fixing)
    if (legacyId && overrides.get(rowKey('ip_pools', legacyId)) === 'skip') {
      const pr = add('skipped_by_choice', 'id', legacyId, 'left out by choice')
      rowProblems.unshift(rowProblems.pop()!)
      plan.reason = pr
    } else if (blocking.length) {
      plan.reason = blocking[0]!
    } else {
      for (const x of errors) {
        x.outcome = 'fixed'
        plan.fixed = true
        fixes.push({ table: 'ip_pools', legacyId, row: src.row, kind: x.kind, field: x.field, from: x.value, to: x.fix?.value ?? null })
        if (x.kind === 'network_not_canonical') plan.net = fixedNet
        if (x.kind === 'duplicate_name') plan.name = x.fix!.value
        // invalid_gateway, invalid_vlan: left null; invalid_dns_servers: the valid ones are kept.
      }
      plan.net = plan.net ?? fixedNet
      plan.action = 'create'
    }

    // Clashes with the target, for a pool that would otherwise be created.
    if (plan.action === 'create' && plan.net && plan.name) {
      const byName = targetByName.get(plan.name)
      const byNet = target.pools.filter((t) => overlaps(t.network, plan.net!))
      if (byName || byNet.length) {
        const clash: ImportProblem[] = []
        if (byName) clash.push(add('name_clash', 'name', src.name, `a pool named "${plan.name}" already exists in the target (${byName.network.text})`))
        for (const t of byNet) clash.push(add('network_clash', 'network', src.network, `${plan.net.text} overlaps pool "${t.name}" (${t.network.text}) already in the target`))
        switch (choices.onConflict) {
          case 'fail':
            for (const c of clash) c.outcome = 'refused'
            refusedPools.push(...clash)
            plan.action = 'skip'
            plan.reason = clash[0]!
            break
          case 'skip':
            plan.action = 'skip'
            plan.reason = clash[0]!
            break
          case 'rename':
            if (byNet.length) {
              const c = clash.find((x) => x.kind === 'network_clash')!
              c.message += '; renaming cannot resolve an overlapping network (choose merge to add its allocations to the existing pool)'
              plan.action = 'skip'
              plan.reason = c
            } else {
              const to = uniqueName(plan.name)
              clash[0]!.outcome = 'fixed'
              clash[0]!.fix = { description: `import it as "${to}"`, value: to }
              fixes.push({ table: 'ip_pools', legacyId, row: src.row, kind: 'name_clash', field: 'name', from: plan.name, to })
              plan.name = to
              plan.action = 'rename'
            }
            break
          case 'merge': {
            const targets = [...byNet]
            if (byName && !targets.includes(byName)) targets.push(byName)
            plan.mergeTargets = targets
            plan.targetId = targets[0]!.id
            plan.action = 'merge'
            for (const c of clash) {
              c.outcome = 'fixed'
              c.fix = { description: `add its allocations to ${targets.map((t) => `"${t.name}"`).join(', ')}`, value: targets[0]!.name }
            }
            break
          }
        }
      }
    }

    if (plan.action === 'skip') {
      for (const x of rowProblems) if (x.outcome !== 'refused') x.outcome = 'skipped'
      // Fixes are applied to imported rows only.
      for (let i = fixes.length - 1; i >= 0 && fixes[i]!.table === 'ip_pools' && fixes[i]!.row === src.row; i--) fixes.pop()
      plan.fixed = false
      counts.pools.skipped++
    } else {
      if (plan.action === 'create') counts.pools.created++
      else if (plan.action === 'rename') counts.pools.renamed++
      else if (plan.action === 'merge') counts.pools.merged++
      if (plan.fixed) counts.pools.fixed++
      if (plan.legacyName) keptNames.add(plan.legacyName)
      if (plan.name) keptNames.add(plan.name)
      kept.push(plan)
    }
    problems.push(...rowProblems)
  }

  // Existing pools that may receive allocations: lock them before reading who holds which address.
  const existingIds = new Set<number>()
  for (const p of pools) {
    if (p.action === 'already' && targetById.has(p.targetId!)) existingIds.add(p.targetId!)
    for (const t of p.mergeTargets) existingIds.add(t.id)
  }
  await hooks.lockPools?.([...existingIds].sort((a, b) => a - b))

  // ------------------------------------------------------------------ allocations
  const total = data.allocationCount
  const fate = new Uint8Array(total)
  const dest = new Int32Array(total)
  const drop = new Uint8Array(total)
  const tick = (i: number): void => {
    if (i % 10_000 === 0) {
      hooks.onProgress?.(i, total)
      hooks.signal?.throwIfAborted()
    }
  }
  // Addresses kept so far -> the row (place in file order) holding it. IPv4 keys are numbers (smaller).
  const keptIps = new Map<number | string, number>()
  const keyOf = (ip: ParsedIp): number | string => (ip.family === 4 ? Number(ip.value) : ip.text)
  // A duplicate address names the row that keeps it. Which row that is (its place in file order) is all that
  // is kept per address; its id and rowid are read back once the rows are judged (see named below).
  const duplicates: { problem: ImportProblem; ip: string; holder: number }[] = []
  const tryIp = (v: string | null): ParsedIp | null => {
    try {
      return readIp(v)
    } catch {
      return null
    }
  }

  // A first pass, only when the target may already hold some of these rows or addresses: rows imported
  // before keep their addresses, and the holders of addresses bound for existing pools are looked up at once.
  let holders = new Map<string, AddressHolder>()
  if (target.allocMap.size || existingIds.size) {
    const candidates: string[] = []
    let i = 0
    for (const a of data.allocations()) {
      tick(i)
      const ip = tryIp(a.ip)
      const id = cleaned(a.id)
      if (ip && id && target.allocMap.has(id)) {
        if (!keptIps.has(keyOf(ip))) keptIps.set(keyOf(ip), i)
      } else if (ip && existingIds.size) {
        const pp = poolsById.get(cleaned(a.poolId) ?? '')
        if (!pp || pp.action === 'already' || pp.action === 'merge' || !pp.net || !contains(pp.net, ip)) candidates.push(ip.text)
      }
      i++
    }
    if (candidates.length) holders = await hooks.holders(candidates)
  }

  const typeCounts = new Map<string, number>()
  const refused: ImportProblem[] = []
  const skippedValues = new Map<number, string | null>()
  const existingPoolIds = new Set<number>()
  const existingNames = new Map<number, string>()
  const movable = (ip: ParsedIp, except: PoolPlan | null): PoolPlan | undefined =>
    kept.find((k) => k !== except && (k.action === 'create' || k.action === 'rename' || k.action === 'already') && k.net && contains(k.net, ip))

  // The row being judged, for add (one function for every row).
  let rowSrc: LegacyAllocation | undefined
  let rowLegacyId: string | null = null
  let rowPool: PoolPlan | null = null
  let rowProblems: ImportProblem[] = []
  const add: AddProblem = (kind, field, value, message, fix, severity = 'error') => {
    const pr: ImportProblem = {
      table: 'ip_allocations',
      legacyId: rowLegacyId,
      row: rowSrc!.row,
      kind,
      severity,
      field,
      value,
      message,
      outcome: severity === 'warning' ? 'imported' : 'skipped',
      pool: rowPool?.legacyName ?? null
    }
    if (fix) pr.fix = fix
    rowProblems.push(pr)
    return pr
  }

  let i = -1
  for (const src of data.allocations()) {
    i++
    tick(i)
    const legacyId = cleaned(src.id)
    const type = (src.type ?? '').trim().toLowerCase()
    typeCounts.set(type, (typeCounts.get(type) ?? 0) + 1)
    if (legacyId && target.allocMap.has(legacyId)) {
      fate[i] = FATE_ALREADY
      counts.allocations.alreadyImported++
      continue
    }
    const pp = poolsById.get(cleaned(src.poolId) ?? '') ?? null
    rowSrc = src
    rowLegacyId = legacyId
    rowPool = pp
    rowProblems = []
    if (!legacyId) add('missing_id', 'id', src.id, 'the allocation has no id; a second run could not tell it was imported, so it is not imported')
    const v = checkValues(src, typeMap, add)
    const ip = v.ip

    // Where it goes: its own pool, or the one a fix moves it to.
    let to: PoolPlan | null = pp
    if (ip) {
      if (!pp) {
        const other = movable(ip, null)
        add(
          'orphan_allocation',
          'pool_id',
          src.poolId,
          `pool "${src.poolId ?? ''}" does not exist in the file${other ? `; ${ip.text} lies in pool "${other.name}"` : ''}`,
          other ? { description: `put it in pool "${other.name}"`, value: other.name } : undefined
        )
        to = other ?? null
      } else if (pp.net && !contains(pp.net, ip)) {
        const other = movable(ip, pp)
        add(
          'ip_outside_pool',
          'ip_address',
          src.ip,
          `${unusableReason(pp.net, ip)} (pool "${pp.legacyName}")${other ? `; it lies in pool "${other.name}"` : ''}`,
          other ? { description: `put it in pool "${other.name}"`, value: other.name } : undefined
        )
        to = other ?? null
      }
      // The legacy pool's own network and gateway first; an existing pool it goes into is checked below as well.
      if (to && to.net && contains(to.net, ip)) {
        const why = unusableInside(to.net, ip)
        if (why) add('network_or_broadcast_address', 'ip_address', src.ip, `${why} (pool "${to.legacyName}")`)
        else if (to.gateway === ip.text) add('gateway_address', 'ip_address', src.ip, `${ip.text} is the gateway of pool "${to.legacyName}"; the gateway stays on the pool`)
      }
      if (pp && (pp.action === 'skip' || !pp.net)) {
        add('pool_skipped', 'pool_id', src.poolId, `pool "${pp.legacyName ?? pp.legacyId}" is not imported${pp.reason ? ` (${pp.reason.kind}: ${pp.reason.message})` : ''}`)
      }
      const h = keptIps.get(keyOf(ip))
      if (h !== undefined) duplicates.push({ problem: add('duplicate_ip', 'ip_address', src.ip, ''), ip: ip.text, holder: h })
    } else if (!pp) {
      add('orphan_allocation', 'pool_id', src.poolId, `pool "${src.poolId ?? ''}" does not exist in the file`)
    }

    // Decide.
    const errors = rowProblems.filter((x) => x.severity === 'error')
    const fixing = wantsFix('ip_allocations', legacyId)
    let blocking = errors.filter((x) => !x.fix || !fixing)
    let existing: TargetPool | null = null
    if (legacyId !== null && overrides.get(rowKey('ip_allocations', legacyId)) === 'skip') {
      add('skipped_by_choice', 'id', legacyId, 'left out by choice')
      rowProblems.unshift(rowProblems.pop()!)
      blocking = [rowProblems[0]!]
    }
    if (!blocking.length && ip && to && v.mapping) {
      // Into an existing pool: its own network and gateway now decide.
      if (to.action === 'already' && !to.mergedBefore) {
        existing = targetById.get(to.targetId!) ?? null
        if (!existing) blocking.push(add('pool_gone', 'pool_id', src.poolId, `pool "${to.legacyName}" was imported before as #${to.targetId} and has since been deleted`))
      } else if (to.action === 'merge' || to.action === 'already') {
        existing = to.mergeTargets.find((t) => contains(t.network, ip)) ?? null
        if (!existing) {
          blocking.push(
            add('merge_outside', 'ip_address', src.ip, `${ip.text} lies in none of the existing pools "${to.legacyName}" was merged into (${to.mergeTargets.map((t) => `${t.name} ${t.network.text}`).join(', ') || 'none left'})`)
          )
        }
      }
      if (existing) {
        const why = unusableReason(existing.network, ip)
        if (why) blocking.push(add(why.includes('outside') ? 'merge_outside' : 'network_or_broadcast_address', 'ip_address', src.ip, `${why} (existing pool "${existing.name}")`))
        else if (existing.gateway === ip.text) blocking.push(add('gateway_address', 'ip_address', src.ip, `${ip.text} is the gateway of existing pool "${existing.name}"`))
        else {
          const h = holders.get(ip.text)
          if (h) {
            const c = add('address_in_use', 'ip_address', src.ip, `${ip.text} is already ${h.status} in pool "${h.poolName}"${h.hostname ? ` to ${h.hostname}` : ''} in the target`)
            if (choices.onConflict === 'fail') {
              c.outcome = 'refused'
              refused.push(c)
            }
            blocking.push(c)
          }
        }
      }
    }

    if (blocking.length || !ip || !to || !v.mapping || !legacyId) {
      for (const x of rowProblems) if (x.outcome !== 'refused') x.outcome = 'skipped'
      fate[i] = FATE_SKIP
      skippedValues.set(src.row, src.ip)
      counts.allocations.skipped++
    } else {
      let fixed = false
      for (const x of errors) {
        x.outcome = 'fixed'
        fixed = true
        if (x.kind === 'invalid_mac') drop[i]! |= DROP_MAC
        if (x.kind === 'invalid_hostname') drop[i]! |= DROP_HOSTNAME
        fixes.push({ table: 'ip_allocations', legacyId, row: src.row, kind: x.kind, field: x.field, from: x.value, to: x.fix?.value ?? null })
      }
      if (fixed) counts.allocations.fixed++
      keptIps.set(keyOf(ip), i)
      to.allocations++
      fate[i] = FATE_CREATE
      if (existing) {
        dest[i] = -existing.id
        existingPoolIds.add(existing.id)
        existingNames.set(existing.id, existing.name)
      } else {
        dest[i] = to.index
      }
      counts.allocations.created++
    }
    if (rowProblems.length) problems.push(...rowProblems)
  }
  if (duplicates.length) named(data, duplicates, hooks.signal)
  hooks.onProgress?.(total, total)

  refused.unshift(...refusedPools)
  const refusal =
    choices.onConflict === 'fail' && refused.length
      ? {
          code: 'CONFLICT' as const,
          message: `${refused.length} clash(es) with what is already in the target, e.g. ${refused[0]!.table === 'ip_pools' ? 'pool' : 'allocation'} ${refused[0]!.legacyId}: ${refused[0]!.message}; nothing was imported (choose skip, rename or merge)`
        }
      : null

  const types: ImportTypeSummary[] = [...typeCounts.entries()]
    .map(([type, count]) => {
      const m = typeMap.get(type)
      return { type, count, mapsTo: m ?? null }
    })
    .sort((a, b) => b.count - a.count || a.type.localeCompare(b.type))

  return { pools, fate, dest, drop, typeMap, existingNames, problems, fixes, counts, types, refusal, existingPoolIds: [...existingPoolIds], skippedValues }
}

/**
 * Completes the duplicate_ip problems with the id and rowid of the row that keeps the address: one more pass
 * over the rows, only when the file has duplicates (keeping them for every row would hold the whole file).
 */
function named(data: PlanSource, duplicates: { problem: ImportProblem; ip: string; holder: number }[], signal?: AbortSignal): void {
  const holders = new Map<number, { legacyId: string | null; row: number }>()
  for (const d of duplicates) holders.set(d.holder, { legacyId: null, row: 0 })
  let i = 0
  for (const a of data.allocations()) {
    if (i % 10_000 === 0) signal?.throwIfAborted()
    const h = holders.get(i++)
    if (h) {
      h.legacyId = cleaned(a.id)
      h.row = a.row
    }
  }
  for (const d of duplicates) {
    const h = holders.get(d.holder)!
    d.problem.message = `${d.ip} is also held by allocation ${h.legacyId} (row ${h.row}), which keeps it: one address, one holder`
  }
}

type AddProblem = (kind: ProblemKind, field: string, value: string | null, message: string, fix?: ImportProblem['fix'], severity?: 'error' | 'warning') => ImportProblem

/**
 * Reads and judges the values of one legacy allocation row (address, type, MAC, host name, text, times),
 * reporting each problem through `add`. allocationValues() derives the same values for the write.
 */
function checkValues(src: LegacyAllocation, typeMap: Map<string, TypeTarget>, add: AddProblem): { ip: ParsedIp | null; mapping: TypeTarget | undefined } {
  let ip: ParsedIp | null = null
  try {
    ip = readIp(src.ip)
  } catch (e) {
    add('invalid_ip', 'ip_address', src.ip, reasonOf(e, `"${src.ip ?? ''}" is not a valid IP address`))
  }
  const type = (src.type ?? '').trim().toLowerCase()
  let mapping: TypeTarget | undefined = typeMap.get(type)
  if (!mapping) {
    add('unknown_allocation_type', 'allocation_type', src.type, `allocation type "${src.type ?? ''}" has no mapping (known: ${[...typeMap.keys()].join(', ')}); map it to a status to import these rows`)
  } else if (mapping === 'skip') {
    add('type_skipped', 'allocation_type', src.type, `allocation type "${type}" is mapped to skip`)
    mapping = undefined
  }
  const mac0 = cleaned(src.mac)
  if (mac0 && plainMac(mac0) === null) {
    try {
      normalizeMac(mac0, 'mac_address')
    } catch (e) {
      add('invalid_mac', 'mac_address', src.mac, reasonOf(e, `"${mac0}" is not a MAC address`), { description: 'import the address without the MAC', value: null })
    }
  }
  const host0 = cleaned(src.hostname)
  if (host0 && plainHostname(host0) === null) {
    try {
      normalizeHostname(host0, 'hostname')
    } catch (e) {
      add('invalid_hostname', 'hostname', src.hostname, reasonOf(e, `"${host0}" is not a valid host name`), { description: 'import the address without the host name', value: null })
    }
  }
  const description = clean(src.description)
  const by = clean(src.allocatedBy, BY_MAX)
  if ((description.changed && description.value !== null) || by.changed) {
    add('text_cleaned', by.changed ? 'allocated_by' : 'description', by.changed ? src.allocatedBy : src.description, 'control characters were removed or the value was shortened to fit', undefined, 'warning')
  }
  if (legacyTime(src.createdAt).bad) add('invalid_timestamp', 'created_at', src.createdAt, `created_at "${src.createdAt}" is not a date; the import time is used`, undefined, 'warning')
  if (legacyTime(src.modifiedAt).bad) add('invalid_timestamp', 'modified_at', src.modifiedAt, `modified_at "${src.modifiedAt}" is not a date; the import time is used`, undefined, 'warning')
  return { ip, mapping }
}

/** The values a created allocation gets from its legacy row (the plan has judged the row importable). */
export function allocationValues(src: LegacyAllocation, dropBits: number, typeMap: Map<string, TypeTarget>): AllocationValues {
  const type = (src.type ?? '').trim().toLowerCase()
  const mapping = typeMap.get(type)!
  const mac0 = dropBits & DROP_MAC ? null : cleaned(src.mac)
  const host0 = dropBits & DROP_HOSTNAME ? null : cleaned(src.hostname)
  const created = legacyTime(src.createdAt).iso
  return {
    ip: readIp(src.ip).text,
    mac: mac0 ? (plainMac(mac0) ?? normalizeMac(mac0)) : null,
    hostname: host0 ? (plainHostname(host0) ?? normalizeHostname(host0)) : null,
    status: mapping === 'dhcp' ? 'allocated' : (mapping as 'allocated' | 'reserved' | 'blocked'),
    dhcpManaged: mapping === 'dhcp',
    purpose: type === 'infrastructure' ? 'infrastructure' : null,
    description: cleaned(src.description),
    allocatedBy: cleaned(src.allocatedBy, BY_MAX),
    createdAt: created,
    updatedAt: legacyTime(src.modifiedAt).iso ?? created,
    legacyType: type
  }
}

/** The existing pools a legacy pool clashes with: those its network overlaps, and the one with its name. */
function clashesOf(net: ParsedCidr | null, name: string | null, pools: TargetPool[]): TargetPool[] {
  const out = net ? pools.filter((t) => overlaps(t.network, net)) : []
  const byName = name ? pools.find((t) => t.name === name) : undefined
  if (byName && !out.includes(byName)) out.push(byName)
  return out
}

function reasonOf(e: unknown, fallback: string): string {
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

export { PROBLEM_KINDS, CLASH_KINDS }

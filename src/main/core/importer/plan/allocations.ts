/**
 * The plan's second pass: each legacy allocation, in file order, read (address, type, MAC, host name,
 * text, times), placed (its own pool, or the pool a fix moves it to), checked against the pool it goes into
 * (an existing pool's network, gateway and holders decide there) and against the rows kept before it
 * (one address, one holder), then decided. Also the values a created allocation is written with.
 */
import type { ImportProblem, ProblemKind, TypeTarget } from '../../../../shared/importer'
import { cidrLast, normalizeHostname, normalizeMac, unusableReason, type ParsedCidr, type ParsedIp } from '../../../../shared/net'
import type { LegacyAllocation } from '../legacy-file'
import type { PoolPass } from './pools'
import { legacyTime } from './time'
import {
  DROP_HOSTNAME,
  DROP_MAC,
  FATE_ALREADY,
  FATE_CREATE,
  FATE_SKIP,
  rowKey,
  type AddressHolder,
  type AllocationValues,
  type PlanHooks,
  type PlanRun,
  type PlanSource,
  type PoolPlan,
  type TargetPool,
  type TargetState
} from './types'
import { BY_MAX, clean, cleaned, plainHostname, plainMac, readIp, reasonOf } from './values'

/** One turn of the event loop (setImmediate runs after pending I/O and signals are handled). */
const yieldToEvents = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

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

/** What the allocation pass leaves for the plan. */
export interface AllocationPass {
  fate: Uint8Array
  dest: Int32Array
  drop: Uint8Array
  /** Clashes with the target refused under onConflict 'fail'. */
  refused: ImportProblem[]
  skippedValues: Map<number, string | null>
  existingPoolIds: Set<number>
  existingNames: Map<number, string>
  /** Rows per legacy type (trimmed, lower-cased). */
  typeCounts: Map<string, number>
}

/**
 * Judges every legacy allocation (see the module comment). `existingIds`: the existing pools that may
 * receive allocations, already locked by the run.
 */
export async function judgeAllocations(
  data: PlanSource,
  target: TargetState,
  run: PlanRun,
  hooks: PlanHooks,
  poolPass: PoolPass,
  existingIds: Set<number>
): Promise<AllocationPass> {
  const { choices, overrides, wantsFix, typeMap, counts, problems, fixes, targetById } = run
  const { poolsById, kept } = poolPass
  const total = data.allocationCount
  const fate = new Uint8Array(total)
  const dest = new Int32Array(total)
  const drop = new Uint8Array(total)
  // Every 10,000 rows: report, let the event loop run (a Ctrl-C, an IPC cancel or any other request is
  // heard while a large file is checked), then stop if asked to.
  const tick = async (i: number): Promise<void> => {
    hooks.onProgress?.(i, total)
    await yieldToEvents()
    hooks.signal?.throwIfAborted()
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
      if (i % 10_000 === 0) await tick(i)
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
    if (i % 10_000 === 0) await tick(i)
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
  if (duplicates.length) await named(data, duplicates, hooks.signal)
  hooks.onProgress?.(total, total)
  return { fate, dest, drop, refused, skippedValues, existingPoolIds, existingNames, typeCounts }
}

/**
 * Completes the duplicate_ip problems with the id and rowid of the row that keeps the address: one more pass
 * over the rows, only when the file has duplicates (keeping them for every row would hold the whole file).
 */
async function named(data: PlanSource, duplicates: { problem: ImportProblem; ip: string; holder: number }[], signal?: AbortSignal): Promise<void> {
  const holders = new Map<number, { legacyId: string | null; row: number }>()
  for (const d of duplicates) holders.set(d.holder, { legacyId: null, row: 0 })
  let i = 0
  for (const a of data.allocations()) {
    if (i % 10_000 === 0) {
      await yieldToEvents()
      signal?.throwIfAborted()
    }
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

/**
 * The plan's first pass: each legacy pool, in file order, checked (network, name, gateway, VLAN, DNS
 * servers, times, overlap with an earlier pool of the file), then decided under the choices, then weighed
 * against the target's pools (a name or network clash is failed, skipped, renamed or merged).
 */
import type { ImportProblem, ProblemKind } from '../../../../shared/importer'
import { cidrLast, parseCidr, parseIp, unusableReason, type ParsedCidr } from '../../../../shared/net'
import { legacyTime } from './time'
import { rowKey, type PlanRun, type PlanSource, type PoolPlan, type TargetPool, type TargetState } from './types'
import { clean, NAME_MAX, parseDnsServers, reasonOf } from './values'

function overlaps(a: ParsedCidr, b: ParsedCidr): boolean {
  return a.family === b.family && a.network <= cidrLast(b) && b.network <= cidrLast(a)
}

/** The existing pools a legacy pool clashes with: those its network overlaps, and the one with its name. */
function clashesOf(net: ParsedCidr | null, name: string | null, pools: TargetPool[]): TargetPool[] {
  const out = net ? pools.filter((t) => overlaps(t.network, net)) : []
  const byName = name ? pools.find((t) => t.name === name) : undefined
  if (byName && !out.includes(byName)) out.push(byName)
  return out
}

/** What the pool pass leaves for the allocation pass and the plan. */
export interface PoolPass {
  pools: PoolPlan[]
  /** The first pool of each legacy id. */
  poolsById: Map<string, PoolPlan>
  /** The pools the file keeps (imported before, created, renamed or merged), in file order. */
  kept: PoolPlan[]
  /** Clashes with the target refused under onConflict 'fail'. */
  refusedPools: ImportProblem[]
}

/** Judges every legacy pool (see the module comment). */
export function judgePools(data: PlanSource, target: TargetState, run: PlanRun): PoolPass {
  const { choices, overrides, wantsFix, counts, problems, fixes, targetById } = run
  const targetByName = new Map(target.pools.map((p) => [p.name, p]))
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
  return { pools, poolsById, kept, refusedPools }
}

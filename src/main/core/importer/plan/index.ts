/**
 * Judges every legacy row and decides its fate under the given choices: create, rename, merge, already
 * imported, or skip with its reasons. Knows nothing of SQLite or SQL: the target's state comes in as data
 * and through two hooks (who holds these addresses; lock these pools), so the same plan serves the
 * analysis, the dry run and the run (which plans again inside its transaction).
 *
 * Rows are judged in file order (rowid). Where two rows want the same thing (an address, a network, a
 * name), the first row that is otherwise importable keeps it and the later ones are reported.
 *
 * The passes live beside this file: pools.ts judges the pools, allocations.ts the allocations (and derives
 * what a created one is written with); values.ts and time.ts read a row's values; types.ts holds the shapes.
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
  type TypeTarget
} from '../../../../shared/importer'
import { judgeAllocations } from './allocations'
import { judgePools } from './pools'
import { rowKey, type Plan, type PlanHooks, type PlanRun, type PlanSource, type TargetState } from './types'

export { allocationValues } from './allocations'
export { legacyTime } from './time'
export {
  DROP_HOSTNAME,
  DROP_MAC,
  FATE_ALREADY,
  FATE_CREATE,
  FATE_SKIP,
  type AddressHolder,
  type AllocationValues,
  type Plan,
  type PlanHooks,
  type PlanSource,
  type PoolAction,
  type PoolPlan,
  type TargetPool,
  type TargetState
} from './types'
export { parseDnsServers, plainHostname, plainIpv4, plainMac } from './values'

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
  const run: PlanRun = { choices, overrides, wantsFix, typeMap, counts, problems, fixes, targetById }

  const poolPass = judgePools(data, target, run)
  const { pools, refusedPools } = poolPass

  // Existing pools that may receive allocations: lock them before reading who holds which address.
  const existingIds = new Set<number>()
  for (const p of pools) {
    if (p.action === 'already' && targetById.has(p.targetId!)) existingIds.add(p.targetId!)
    for (const t of p.mergeTargets) existingIds.add(t.id)
  }
  await hooks.lockPools?.([...existingIds].sort((a, b) => a - b))

  const { fate, dest, drop, refused, skippedValues, existingPoolIds, existingNames, typeCounts } = await judgeAllocations(data, target, run, hooks, poolPass, existingIds)

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

export { PROBLEM_KINDS, CLASH_KINDS }

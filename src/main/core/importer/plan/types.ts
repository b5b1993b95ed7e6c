/**
 * The plan's shapes: the target's state as the plan sees it, the hooks into the target, the decisions for
 * each pool and allocation, and what the passes of one plan share (PlanRun).
 */
import type { AppliedFix, ImportChoices, ImportCounts, ImportProblem, ImportTypeSummary, LegacyTable, TypeTarget } from '../../../../shared/importer'
import type { ParsedCidr } from '../../../../shared/net'
import type { AllocationStatus } from '../../../../shared/ipam'
import type { LegacyAllocation, LegacyPool } from '../legacy-file'

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

export const rowKey = (table: LegacyTable, legacyId: string | null): string => `${table}\u0000${legacyId ?? ''}`

/** What the passes of one plan share: the choices as read, the target's pools by id, and what they add up. */
export interface PlanRun {
  choices: ImportChoices
  /** The per-row choices, by rowKey. */
  overrides: Map<string, ImportChoices['rows'][number]['action']>
  /** Whether a row's fixable problems are to be fixed (its own choice, else the file-wide one). */
  wantsFix(table: LegacyTable, id: string | null): boolean
  typeMap: Map<string, TypeTarget>
  counts: ImportCounts
  problems: ImportProblem[]
  fixes: AppliedFix[]
  targetById: Map<number, TargetPool>
}

/**
 * IPAM: pools and the addresses in them.
 *
 * Every change runs as validate -> authorize -> one transaction {lock the pool row, change, audit row} ->
 * reply. The pool's row lock (SELECT ... FOR UPDATE) serialises writers of one pool and never blocks
 * another pool; the unique constraint on ip_address is the backstop. Free space comes from
 * ip_free_ranges, so finding the next free address is one index probe however full the pool is.
 *
 * This class is the face the app, the CLI, the offline replay and the tests call (`core.ipam.x(...)`); the
 * work is done by the modules beside it, each given the same knex:
 *   pools.ts        pools: create, get, list, update, delete
 *   allocations.ts  allocate (explicit or next free), get, update, release, list a pool's
 *   owners.ts       allocations owned by a directory person (owner_dn): list, hand over, follow a rename
 *   next-free.ts    the one-statement next-free path and the replay's runs of it
 *   map.ts          the subnet map's data
 *   search.ts       search by address, network, MAC, owner or host name
 *   palette.ts      the command palette's lean pool and address look-ups
 *   stats.ts        the dashboard's statistics
 *   usage.ts        utilization over time: the daily snapshot, history, thresholds, levels now
 *   mutation.ts     the path every change takes (authorize, one transaction, failure audited) and its options
 *   rows.ts         the rows read, their DTOs and the shared look-ups; free-ranges.ts keeps ip_free_ranges
 *   spaces.ts       address spaces (VRFs)
 *   tree.ts         the pool tree: next free block, split, merge, the tree listing
 *   rollup.ts       containers' utilization over their subtree
 *   ranges.ts       dhcp / reserved / infrastructure ranges inside a pool
 *   objects.ts      sites, VLAN groups and VLANs (the objects pools point at)
 *   tags.ts         tags on pools and allocations; custom field definitions and their values' checks
 *   bulk-edit.ts    one change to many allocations of a pool in one transaction
 */
import * as owners from './owners'
import type { Knex } from '@mikro-orm/postgresql'
import type {
  BulkHoldInput,
  BulkReleaseInput,
  BulkResult,
  MergeInput,
  MergeResult,
  NextBlockInput,
  PoolTreeInput,
  PoolTreeNode,
  RangeCreateInput,
  RangeDto,
  SpaceCreateInput,
  SpaceDto,
  SpaceRef,
  SpaceUpdateInput,
  SplitInput,
  SplitResult,
  AllocateInput,
  AllocationDto,
  AllocationUpdateInput,
  IpamStats,
  PoolFacets,
  Page,
  PoolCreateInput,
  PoolDeleteResult,
  PoolDto,
  PoolListInput,
  PoolMap,
  PoolRef,
  PoolUpdateInput,
  SearchInput
} from '../../../shared/ipam'
import type { RequestContext } from '../context'
import * as allocations from './allocations'
import { poolMap, type PoolLeases } from './map'
import type { MutationOptions, ReplayRecord } from './mutation'
import { allocateNextRun } from './next-free'
import * as pools from './pools'
import { search } from './search'
import { paletteAddresses, palettePools, type PaletteAddressHit, type PaletteHits, type PalettePoolHit } from './palette'
import * as bulk from './bulk'
import * as ranges from './ranges'
import * as spaces from './spaces'
import * as tree from './tree'
import { poolFacets, stats } from './stats'
import * as usage from './usage'
import type { PoolLevel, ThresholdSetInput, Thresholds, UsageHistory, UsageHistoryInput } from '../../../shared/usage'

import * as objects from './objects'
import * as tagging from './tags'
import { bulkEdit, type BulkEditResult } from './bulk-edit'
import type {
  BulkEditInput,
  FieldCreateInput,
  FieldDto,
  FieldKind,
  FieldRemoveInput,
  IpTagInput,
  ObjectRef,
  PoolTagInput,
  SiteCreateInput,
  SiteDto,
  SiteUpdateInput,
  TagCreateInput,
  TagDto,
  TagRef,
  TagUpdateInput,
  VlanCreateInput,
  VlanDto,
  VlanGroupCreateInput,
  VlanGroupDto,
  VlanListInput,
  VlanRef,
  VlanUpdateInput
} from '../../../shared/ipam-objects'

export type { BulkEditResult } from './bulk-edit'
export type { LockedPool, MutationOptions, ReplayRecord, TransactionHook } from './mutation'

export class IpamService {
  constructor(
    private readonly knex: Knex,
    /** Called after each change committed (the outbox worker is kicked: the change may have queued side effects). */
    private readonly afterChange: () => void = () => undefined,
    /** The pools' DHCP leases for the subnet map (core/dhcp, wired in by the core); none without it. */
    private readonly leases?: PoolLeases
  ) {}

  private changed<T>(p: Promise<T>): Promise<T> {
    return p.then((r) => {
      this.afterChange()
      return r
    })
  }

  // ---------------------------------------------------------------- utilization over time

  /** Today's row of every pool (any role: the server function derives every number itself). */
  snapshotUsage(_ctx: RequestContext): Promise<number> {
    return usage.snapshotUsage(this.knex)
  }

  usageHistory(_ctx: RequestContext, input: UsageHistoryInput): Promise<UsageHistory> {
    return usage.usageHistory(this.knex, input)
  }

  setThresholds(ctx: RequestContext, input: ThresholdSetInput): Promise<Thresholds> {
    return usage.setThresholds(this.knex, ctx, input)
  }

  poolLevels(_ctx: RequestContext): Promise<PoolLevel[]> {
    return usage.poolLevels(this.knex)
  }

  // ---------------------------------------------------------------- pools

  createPool(ctx: RequestContext, input: PoolCreateInput, opts: MutationOptions = {}): Promise<PoolDto> {
    return this.changed(pools.createPool(this.knex, ctx, input, opts))
  }

  getPool(_ctx: RequestContext, ref: PoolRef): Promise<PoolDto> {
    return pools.getPool(this.knex, ref)
  }

  listPools(_ctx: RequestContext, input: PoolListInput = {}): Promise<Page<PoolDto>> {
    return pools.listPools(this.knex, input)
  }

  updatePool(ctx: RequestContext, ref: PoolRef, input: PoolUpdateInput, opts: MutationOptions = {}): Promise<PoolDto> {
    return this.changed(pools.updatePool(this.knex, ctx, ref, input, opts))
  }

  deletePool(ctx: RequestContext, ref: PoolRef, opts: { force?: boolean } & MutationOptions = {}): Promise<PoolDeleteResult> {
    return this.changed(pools.deletePool(this.knex, ctx, ref, opts))
  }

  // ---------------------------------------------------------------- allocations

  /**
   * Allocates, reserves or blocks an explicit address, the next free one, or the next N. Returns the
   * rows written, lowest address first.
   */
  allocate(ctx: RequestContext, input: AllocateInput, opts: MutationOptions = {}): Promise<AllocationDto[]> {
    return this.changed(allocations.allocate(this.knex, ctx, input, opts))
  }

  /** The offline replay's runs of queued next-free allocations, several in one round trip (see next-free.ts). */
  allocateNextRun(items: { ctx: RequestContext; input: AllocateInput; replay: ReplayRecord }[]): Promise<AllocationDto[][]> {
    return this.changed(allocateNextRun(this.knex, items))
  }

  getAllocation(_ctx: RequestContext, ip: string, space?: SpaceRef): Promise<AllocationDto> {
    return allocations.getAllocation(this.knex, ip, space)
  }

  updateAllocation(ctx: RequestContext, input: AllocationUpdateInput, opts: MutationOptions = {}): Promise<AllocationDto> {
    return this.changed(allocations.updateAllocation(this.knex, ctx, input, opts))
  }

  /** Frees an address. The audit row keeps who held it. */
  /** The allocations a directory person owns (by DN, compared without case). */
  ownedBy(dn: string): Promise<AllocationDto[]> {
    return owners.allocationsOfOwner(this.knex, dn)
  }

  /** Every allocation of `fromDn` to another owner (hand-over) or to the same person's new DN (rename). */
  reassignOwner(ctx: RequestContext, fromDn: string, to: { dn: string; name: string | null }, operation: 'owner-renamed' | 'hand-over'): Promise<AllocationDto[]> {
    return this.changed(owners.reassignOwner(this.knex, ctx, fromDn, to, operation))
  }

  release(ctx: RequestContext, ipText: string, opts: { version?: number; space?: SpaceRef } & MutationOptions = {}): Promise<AllocationDto> {
    return this.changed(allocations.release(this.knex, ctx, ipText, opts))
  }

  /** Every allocation of a pool, lowest address first (the subnet map and `pool show`). */
  listAllocations(_ctx: RequestContext, ref: PoolRef, opts: allocations.AllocationListOptions = {}): Promise<Page<AllocationDto>> {
    return allocations.listAllocations(this.knex, ref, opts)
  }

  /** The data the subnet map draws, compact enough for a /16 in one reply (see PoolMap). */
  poolMap(_ctx: RequestContext, ref: PoolRef): Promise<PoolMap> {
    return poolMap(this.knex, ref, this.leases)
  }

  // ---------------------------------------------------------------- search and stats

  search(_ctx: RequestContext, input: SearchInput): Promise<Page<AllocationDto> & { kind: string }> {
    return search(this.knex, input)
  }

  /** The command palette's lean look-ups (palette.ts): a few rows, an index each, counts capped. */
  palettePools(_ctx: RequestContext, query: string, limit: number): Promise<PaletteHits<PalettePoolHit>> {
    return palettePools(this.knex, query, limit)
  }

  paletteAddresses(_ctx: RequestContext, query: string, limit: number): Promise<PaletteHits<PaletteAddressHit>> {
    return paletteAddresses(this.knex, query, limit)
  }

  stats(_ctx: RequestContext): Promise<IpamStats> {
    return stats(this.knex)
  }

  /** The sites and environments pools name (the Pools screen's filter menus): two index-only reads, not the stats. */
  poolFacets(_ctx: RequestContext): Promise<PoolFacets> {
    return poolFacets(this.knex)
  }

  // ---------------------------------------------------------------- spaces

  listSpaces(_ctx: RequestContext): Promise<SpaceDto[]> {
    return spaces.listSpaces(this.knex)
  }

  getSpace(_ctx: RequestContext, ref: SpaceRef): Promise<SpaceDto> {
    return spaces.getSpace(this.knex, ref)
  }

  createSpace(ctx: RequestContext, input: SpaceCreateInput, opts: MutationOptions = {}): Promise<SpaceDto> {
    return spaces.createSpace(this.knex, ctx, input, opts)
  }

  updateSpace(ctx: RequestContext, ref: SpaceRef, input: SpaceUpdateInput, opts: MutationOptions = {}): Promise<SpaceDto> {
    return spaces.updateSpace(this.knex, ctx, ref, input, opts)
  }

  deleteSpace(ctx: RequestContext, ref: SpaceRef, opts: MutationOptions = {}): Promise<SpaceDto> {
    return spaces.deleteSpace(this.knex, ctx, ref, opts)
  }

  // ---------------------------------------------------------------- the tree

  /** The lowest aligned free /N (or N of them) in a container, created as its children in one transaction. */
  nextBlock(ctx: RequestContext, input: NextBlockInput, opts: MutationOptions = {}): Promise<PoolDto[]> {
    return this.changed(tree.nextBlock(this.knex, ctx, input, opts))
  }

  splitPool(ctx: RequestContext, input: SplitInput, opts: MutationOptions = {}): Promise<SplitResult> {
    return this.changed(tree.splitPool(this.knex, ctx, input, opts))
  }

  mergePools(ctx: RequestContext, input: MergeInput, opts: MutationOptions = {}): Promise<MergeResult> {
    return this.changed(tree.mergePools(this.knex, ctx, input, opts))
  }

  poolTree(_ctx: RequestContext, input: PoolTreeInput & { expanded?: number[] } = {}): Promise<{ nodes: PoolTreeNode[]; total: number }> {
    return tree.poolTree(this.knex, input)
  }

  // ---------------------------------------------------------------- ranges

  listRanges(_ctx: RequestContext, pool: PoolRef): Promise<RangeDto[]> {
    return ranges.listRanges(this.knex, pool)
  }

  addRange(ctx: RequestContext, input: RangeCreateInput, opts: MutationOptions = {}): Promise<RangeDto> {
    return ranges.addRange(this.knex, ctx, input, opts)
  }

  removeRange(ctx: RequestContext, ref: { id?: number; pool?: PoolRef; first?: string }, opts: MutationOptions = {}): Promise<RangeDto> {
    return ranges.removeRange(this.knex, ctx, ref, opts)
  }

  // ---------------------------------------------------------------- bulk

  /** Reserve or block every free address from first to last: one request, one transaction. */
  holdRange(ctx: RequestContext, input: BulkHoldInput, opts: MutationOptions = {}): Promise<BulkResult> {
    return this.changed(bulk.holdRange(this.knex, ctx, input, opts))
  }

  /** Release a run or a list of addresses of one pool: one request, one transaction. */
  releaseMany(ctx: RequestContext, input: BulkReleaseInput, opts: MutationOptions = {}): Promise<BulkResult> {
    return this.changed(bulk.releaseMany(this.knex, ctx, input, opts))
  }

  // ---------------------------------------------------------------- sites, VLAN groups, VLANs

  listSites(_ctx: RequestContext): Promise<SiteDto[]> {
    return objects.listSites(this.knex)
  }

  createSite(ctx: RequestContext, input: SiteCreateInput, opts: MutationOptions = {}): Promise<SiteDto> {
    return objects.createSite(this.knex, ctx, input, opts)
  }

  updateSite(ctx: RequestContext, ref: ObjectRef, input: SiteUpdateInput, opts: MutationOptions = {}): Promise<SiteDto> {
    return objects.updateSite(this.knex, ctx, ref, input, opts)
  }

  deleteSite(ctx: RequestContext, ref: ObjectRef, opts: MutationOptions = {}): Promise<SiteDto> {
    return objects.deleteSite(this.knex, ctx, ref, opts)
  }

  listVlanGroups(_ctx: RequestContext): Promise<VlanGroupDto[]> {
    return objects.listVlanGroups(this.knex)
  }

  createVlanGroup(ctx: RequestContext, input: VlanGroupCreateInput, opts: MutationOptions = {}): Promise<VlanGroupDto> {
    return objects.createVlanGroup(this.knex, ctx, input, opts)
  }

  deleteVlanGroup(ctx: RequestContext, ref: ObjectRef, opts: MutationOptions = {}): Promise<VlanGroupDto> {
    return objects.deleteVlanGroup(this.knex, ctx, ref, opts)
  }

  listVlans(_ctx: RequestContext, input: VlanListInput = {}): Promise<VlanDto[]> {
    return objects.listVlans(this.knex, input)
  }

  createVlan(ctx: RequestContext, input: VlanCreateInput, opts: MutationOptions = {}): Promise<VlanDto> {
    return objects.createVlan(this.knex, ctx, input, opts)
  }

  updateVlan(ctx: RequestContext, ref: VlanRef, input: VlanUpdateInput, opts: MutationOptions = {}): Promise<VlanDto> {
    return objects.updateVlan(this.knex, ctx, ref, input, opts)
  }

  deleteVlan(ctx: RequestContext, ref: VlanRef, opts: MutationOptions = {}): Promise<VlanDto> {
    return objects.deleteVlan(this.knex, ctx, ref, opts)
  }

  // ---------------------------------------------------------------- tags and custom fields

  listTags(_ctx: RequestContext): Promise<TagDto[]> {
    return tagging.listTags(this.knex)
  }

  createTag(ctx: RequestContext, input: TagCreateInput, opts: MutationOptions = {}): Promise<TagDto> {
    return tagging.createTag(this.knex, ctx, input, opts)
  }

  updateTag(ctx: RequestContext, ref: string, input: TagUpdateInput, opts: MutationOptions = {}): Promise<TagDto> {
    return tagging.updateTag(this.knex, ctx, ref, input, opts)
  }

  deleteTag(ctx: RequestContext, ref: string, opts: MutationOptions = {}): Promise<TagDto> {
    return tagging.deleteTag(this.knex, ctx, ref, opts)
  }

  /** Adds (or with remove, takes off) tags on a pool; returns its tags after. */
  tagPool(ctx: RequestContext, input: PoolTagInput, remove = false, opts: MutationOptions = {}): Promise<TagRef[]> {
    return tagging.tagPool(this.knex, ctx, input, remove, opts)
  }

  /** Adds (or with remove, takes off) tags on allocations, in one transaction. */
  tagAllocations(ctx: RequestContext, input: IpTagInput, remove = false, opts: MutationOptions = {}): Promise<{ changed: string[] }> {
    return tagging.tagAllocations(this.knex, ctx, input, remove, opts)
  }

  listFields(_ctx: RequestContext, kind?: FieldKind): Promise<FieldDto[]> {
    return tagging.listFields(this.knex, kind)
  }

  createField(ctx: RequestContext, input: FieldCreateInput, opts: MutationOptions = {}): Promise<FieldDto> {
    return tagging.createField(this.knex, ctx, input, opts)
  }

  removeField(ctx: RequestContext, input: FieldRemoveInput, opts: MutationOptions = {}): Promise<FieldDto & { valuesRemoved: number }> {
    return tagging.removeField(this.knex, ctx, input, opts)
  }

  /** One change to many allocations of a pool: one request, one transaction, nothing changed if any address fails. */
  bulkEdit(ctx: RequestContext, input: BulkEditInput, opts: MutationOptions = {}): Promise<BulkEditResult> {
    return this.changed(bulkEdit(this.knex, ctx, input, opts))
  }
}

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
 *   next-free.ts    the one-statement next-free path and the replay's runs of it
 *   map.ts          the subnet map's data
 *   search.ts       search by address, network, MAC, owner or host name
 *   stats.ts        the dashboard's statistics
 *   usage.ts        utilization over time: the daily snapshot, history, thresholds, levels now
 *   mutation.ts     the path every change takes (authorize, one transaction, failure audited) and its options
 *   rows.ts         the rows read, their DTOs and the shared look-ups; free-ranges.ts keeps ip_free_ranges
 */
import type { Knex } from '@mikro-orm/postgresql'
import type {
  AllocateInput,
  AllocationDto,
  AllocationUpdateInput,
  IpamStats,
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
import { poolMap } from './map'
import type { MutationOptions, ReplayRecord } from './mutation'
import { allocateNextRun } from './next-free'
import * as pools from './pools'
import { search } from './search'
import { stats } from './stats'
import * as usage from './usage'
import type { PoolLevel, ThresholdSetInput, Thresholds, UsageHistory, UsageHistoryInput } from '../../../shared/usage'

export type { LockedPool, MutationOptions, ReplayRecord, TransactionHook } from './mutation'

export class IpamService {
  constructor(private readonly knex: Knex) {}

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
    return pools.createPool(this.knex, ctx, input, opts)
  }

  getPool(_ctx: RequestContext, ref: PoolRef): Promise<PoolDto> {
    return pools.getPool(this.knex, ref)
  }

  listPools(_ctx: RequestContext, input: PoolListInput = {}): Promise<Page<PoolDto>> {
    return pools.listPools(this.knex, input)
  }

  updatePool(ctx: RequestContext, ref: PoolRef, input: PoolUpdateInput, opts: MutationOptions = {}): Promise<PoolDto> {
    return pools.updatePool(this.knex, ctx, ref, input, opts)
  }

  deletePool(ctx: RequestContext, ref: PoolRef, opts: { force?: boolean } & MutationOptions = {}): Promise<PoolDeleteResult> {
    return pools.deletePool(this.knex, ctx, ref, opts)
  }

  // ---------------------------------------------------------------- allocations

  /**
   * Allocates, reserves or blocks an explicit address, the next free one, or the next N. Returns the
   * rows written, lowest address first.
   */
  allocate(ctx: RequestContext, input: AllocateInput, opts: MutationOptions = {}): Promise<AllocationDto[]> {
    return allocations.allocate(this.knex, ctx, input, opts)
  }

  /** The offline replay's runs of queued next-free allocations, several in one round trip (see next-free.ts). */
  allocateNextRun(items: { ctx: RequestContext; input: AllocateInput; replay: ReplayRecord }[]): Promise<AllocationDto[][]> {
    return allocateNextRun(this.knex, items)
  }

  getAllocation(_ctx: RequestContext, ip: string): Promise<AllocationDto> {
    return allocations.getAllocation(this.knex, ip)
  }

  updateAllocation(ctx: RequestContext, input: AllocationUpdateInput, opts: MutationOptions = {}): Promise<AllocationDto> {
    return allocations.updateAllocation(this.knex, ctx, input, opts)
  }

  /** Frees an address. The audit row keeps who held it. */
  release(ctx: RequestContext, ipText: string, opts: { version?: number } & MutationOptions = {}): Promise<AllocationDto> {
    return allocations.release(this.knex, ctx, ipText, opts)
  }

  /** Every allocation of a pool, lowest address first (the subnet map and `pool show`). */
  listAllocations(_ctx: RequestContext, ref: PoolRef, opts: { page?: number; pageSize?: number } = {}): Promise<Page<AllocationDto>> {
    return allocations.listAllocations(this.knex, ref, opts)
  }

  /** The data the subnet map draws, compact enough for a /16 in one reply (see PoolMap). */
  poolMap(_ctx: RequestContext, ref: PoolRef): Promise<PoolMap> {
    return poolMap(this.knex, ref)
  }

  // ---------------------------------------------------------------- search and stats

  search(_ctx: RequestContext, input: SearchInput): Promise<Page<AllocationDto> & { kind: string }> {
    return search(this.knex, input)
  }

  stats(_ctx: RequestContext): Promise<IpamStats> {
    return stats(this.knex)
  }
}

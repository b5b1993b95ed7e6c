/** IPAM DTOs and input schemas, shared by the core, the CLI, the IPC contract and the renderer. */
import { z } from 'zod'
import { lazySchema } from './lazy-schema'
import { isDn } from './dn'
import { RANGE_PURPOSES } from './choices'
import type { FieldValue, PoolVlan, TagRef } from './ipam-objects'

export const ALLOCATION_STATUSES = ['available', 'allocated', 'reserved', 'blocked'] as const
export type AllocationStatus = (typeof ALLOCATION_STATUSES)[number]

// Control characters (other than tab and line breaks) have no place in names and notes; refusing them also
// keeps the audit placeholders of the fast allocation path unambiguous.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/
const text = (max: number) =>
  z
    .string()
    .trim()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !CONTROL.test(s), 'must not contain control characters')
const optText = (max: number) => text(max).nullish()

/** A pool is referred to by its name or its numeric id. */
export const poolRef = lazySchema(() =>
  z.union([z.number().int().positive(), z.string().trim().min(1, 'is required').max(100)])
)
export type PoolRef = z.input<typeof poolRef>

/** An address space (VRF) by its name or numeric id. */
export const spaceRef = lazySchema(() =>
  z.union([z.number().int().positive(), z.string().trim().min(1, 'is required').max(100)])
)
export type SpaceRef = z.input<typeof spaceRef>

export const poolCreateSchema = lazySchema(() =>
  z
    .object({
      name: text(100).min(1, 'is required'),
      network: z.string().trim().min(1, 'is required').max(64),
      gateway: z.string().trim().max(64).nullish(),
      vlanId: z.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be 1-4094').max(4094, 'must be 1-4094').nullish(),
      site: optText(100),
      environment: optText(50),
      description: optText(2000),
      isActive: z.boolean().optional(),
      /** Resolvers handed to the pool's hosts, in order (checked in the core: see parseDnsServers in net.ts). null or [] clears them. */
      dnsServers: z.array(z.string().max(64, 'each entry must be at most 64 characters'), { error: 'must be a list of IP addresses' }).max(64).nullish(),
      /** The address space (name or id); the default space when absent. A child is always in its parent's space. */
      space: spaceRef.optional(),
      /** The container this pool is carved from (name or id); a root pool of its space when absent. */
      parent: poolRef.nullish(),
      /**
       * The site object (name or id), which must exist; null clears. (`site`, the older free-text input, finds or
       * creates the site by name: kept for legacy imports and edits queued by older versions.)
       */
      siteRef: z.union([z.number().int().positive(), z.string().trim().min(1, 'is required').max(100)]).nullish(),
      /** The VLAN object: its id or "GROUP/VID" (a bare "VID" is in the "default" group), which must exist; null clears. */
      vlan: z.union([z.number().int().positive(), z.string().trim().min(1, 'is required').max(120)]).nullish(),
      /** Tag names (existing tags); on update, the whole set. */
      tags: z.array(z.string().trim().min(1).max(64)).max(100).optional(),
      /** Custom field values (text as typed is converted to the field's type); on update merged, null clears one. */
      customFields: z.record(z.string().max(64), z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])).optional()
    })
    .strict()
)
export type PoolCreateInput = z.input<typeof poolCreateSchema>

/** Space and parent are fixed at creation (split, merge and next-block reshape the tree). */
export const poolUpdateSchema = lazySchema(() =>
  poolCreateSchema.omit({ space: true, parent: true }).partial().strict()
)
export type PoolUpdateInput = z.input<typeof poolUpdateSchema>

/** A custom field's name, as a filter or sort key names it. */
export const fieldName = lazySchema(() =>
  z
    .string()
    .max(64, 'must be at most 64 characters')
    .regex(/^[a-z][a-z0-9_]*$/, 'is not a custom field name (lower-case letters, digits and _)')
)

export const POOL_SORTS = ['name', 'network', 'site', 'environment', 'vlan', 'created', 'utilization'] as const
export const poolListSchema = lazySchema(() =>
  z
    .object({
      site: text(100).optional(),
      environment: text(50).optional(),
      active: z.boolean().optional(),
      vlanId: z.number().int().min(1).max(4094).optional(),
      search: text(200).optional(),
      /** Only pools of this space. */
      space: spaceRef.optional(),
      /** Only the children of this pool; null: only the roots (of the space, or of every space). */
      parent: poolRef.nullish(),
      /** Only pools at this site object (name or id). */
      siteRef: z.union([z.number().int().positive(), z.string().trim().min(1).max(100)]).optional(),
      /** Only pools on this VLAN (id or "GROUP/VID"). */
      vlan: z.union([z.number().int().positive(), z.string().trim().min(1).max(120)]).optional(),
      /** Only pools on a VLAN of this VLAN group (name or id); with vlanId, that VID in this group. */
      vlanGroup: z.union([z.number().int().positive(), z.string().trim().min(1).max(100)]).optional(),
      /** Only pools carrying every one of these tags. */
      tags: z.array(z.string().trim().min(1).max(64)).max(20).optional(),
      /** Only pools whose custom fields hold these values (name -> value as text). */
      fields: z.record(z.string().max(64), z.string().max(1000)).optional(),
      page: z.number().int().min(1, 'must be 1 or more').default(1),
      pageSize: z.number().int().min(1, 'must be 1-500').max(500, 'must be 1-500').default(50),
      sort: z.enum(POOL_SORTS).default('name'),
      /** Order by this custom field's value instead of `sort` (rows without a value last; ties by name). */
      sortField: fieldName.optional(),
      order: z.enum(['asc', 'desc']).default('asc')
    })
    .strict()
)
export type PoolListInput = z.input<typeof poolListSchema>

export const allocationFields = lazySchema(() => ({
  hostname: text(253).nullish(),
  mac: z.string().trim().max(32).nullish(),
  owner: optText(255),
  /** The owner as a directory person (their DN; `owner` then holds the display name). */
  ownerDn: z
    .string()
    .trim()
    .max(1024, 'must be at most 1024 characters')
    .refine((v) => v === '' || isDn(v), 'is not a distinguished name')
    .nullish(),
  purpose: optText(255),
  description: optText(2000),
  dnsManaged: z.boolean().optional(),
  dhcpManaged: z.boolean().optional()
}))

export const allocateSchema = lazySchema(() =>
  z
    .object({
      pool: poolRef,
      ip: z.string().trim().max(64).optional(),
      next: z.boolean().optional(),
      count: z.number().int('must be a whole number').min(1, 'must be 1-1024').max(1024, 'must be 1-1024').optional(),
      status: z.enum(['allocated', 'reserved', 'blocked']).default('allocated'),
      /** For reservations: when the hold lapses (ISO-8601). An expired hold counts as free. */
      until: z.string().trim().max(40).nullish(),
      /** An explicit address inside a dhcp range is refused unless forced. */
      force: z.boolean().optional(),
      ...allocationFields
    })
    .strict()
)
export type AllocateInput = z.input<typeof allocateSchema>

export const allocationUpdateSchema = lazySchema(() =>
  z
    .object({
      ip: z.string().trim().min(1, 'is required').max(64),
      /** The address space, when the address is held in more than one. */
      space: spaceRef.optional(),
      /** The version the caller last saw; the update is refused if someone changed the row since. */
      version: z.number().int().positive().optional(),
      status: z.enum(ALLOCATION_STATUSES).optional(),
      until: z.string().trim().max(40).nullish(),
      ...allocationFields,
      /** Tag names: the whole set the allocation should carry. */
      tags: z.array(z.string().trim().min(1).max(64)).max(100).optional(),
      /** Custom field values, merged; null clears one. */
      customFields: z.record(z.string().max(64), z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])).optional()
    })
    .strict()
)
export type AllocationUpdateInput = z.input<typeof allocationUpdateSchema>

export const searchSchema = lazySchema(() =>
  z
    .object({
      query: z.string().trim().min(1, 'is required').max(253),
      /** Only this space; every space when absent (each hit names its space). */
      space: spaceRef.optional(),
      kind: z.enum(['auto', 'ip', 'cidr', 'hostname', 'mac', 'owner']).default('auto'),
      page: z.number().int().min(1).default(1),
      pageSize: z.number().int().min(1).max(500).default(50)
    })
    .strict()
)
export type SearchInput = z.input<typeof searchSchema>

export interface Utilization {
  /** Addresses that can be handed out (network, broadcast and gateway excluded). Decimal string: IPv6 is big. */
  usable: string
  allocated: number
  reserved: number
  blocked: number
  /** Free addresses of mark-used ranges, counted as used; absent when there are none. */
  ranged?: number
  /** usable minus allocated, reserved (unexpired) and blocked. Decimal string. */
  free: string
  /** Share of usable addresses in use, 0-100, two decimals. */
  percent: number
}

export interface PoolDto {
  id: number
  name: string
  description: string | null
  network: string
  family: 4 | 6
  prefix: number
  gateway: string | null
  /** The DNS servers of the pool, in order; empty when none are set. */
  dnsServers: string[]
  vlanId: number | null
  site: string | null
  environment: string | null
  isActive: boolean
  createdAt: string
  updatedAt: string
  createdBy: string | null
  utilization: Utilization
  spaceId: number
  spaceName: string
  parentId: number | null
  parentName: string | null
  /** Direct child pools. */
  children: number
  /** With children: the whole subtree (see RollUp); null for a leaf. */
  rollup: RollUp | null
  /** The site object (its name is `site`). */
  siteId: number | null
  /** The VLAN object (its VID is `vlanId`). */
  vlan: PoolVlan | null
  tags: TagRef[]
  customFields: Record<string, FieldValue>
}

/**
 * A container's figures over its subtree. `assigned` is the share of the container's addresses carved into
 * child pools; `used` counts allocated, reserved (unexpired) and blocked addresses anywhere in the subtree,
 * plus the addresses of mark-used ranges; `percent` is `used` over the container's size.
 */
export interface RollUp {
  size: string
  assigned: string
  assignedPercent: number
  descendants: number
  used: string
  percent: number
}

export interface SpaceDto {
  id: number
  name: string
  description: string | null
  isDefault: boolean
  pools: number
  createdAt: string
  updatedAt: string
  createdBy: string | null
}

export const spaceCreateSchema = lazySchema(() =>
  z.object({ name: text(100).min(1, 'is required'), description: optText(2000) }).strict()
)
export type SpaceCreateInput = z.input<typeof spaceCreateSchema>
export const spaceUpdateSchema = lazySchema(() =>
  spaceCreateSchema.partial().strict()
)
export type SpaceUpdateInput = z.input<typeof spaceUpdateSchema>

/** One node of `pool tree`: a pool with its depth below the listed root. */
export interface PoolTreeNode {
  pool: PoolDto
  depth: number
}

export const poolTreeSchema = lazySchema(() =>
  z
    .object({
      space: spaceRef.optional(),
      /** The subtree under this pool; every root of the space when absent. */
      root: poolRef.optional(),
      /** How many levels below the roots to return (0: the roots only). */
      depth: z.number().int().min(0).max(128).default(128),
      /** Pools whose children are folded away (the screen's collapsed nodes). */
      collapsed: z.array(z.number().int().positive()).max(10000).default([]),
      limit: z.number().int().min(1).max(5000).default(500),
      offset: z.number().int().min(0).default(0)
    })
    .strict()
)
export type PoolTreeInput = z.input<typeof poolTreeSchema>

export const nextBlockSchema = lazySchema(() =>
  z
    .object({
      in: poolRef,
      prefixLength: z.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be 1-128').max(128, 'must be 1-128'),
      count: z.number().int('must be a whole number').min(1, 'must be 1-256').max(256, 'must be 1-256').default(1),
      /** The new pools' name (count 1) or name prefix (numbered -1, -2 ...); "<container> <network>" when absent. */
      name: text(90).optional(),
      description: optText(2000),
      site: optText(100),
      environment: optText(50),
      vlanId: z.number().int().min(1, 'must be 1-4094').max(4094, 'must be 1-4094').nullish()
    })
    .strict()
)
export type NextBlockInput = z.input<typeof nextBlockSchema>

export const splitSchema = lazySchema(() =>
  z
    .object({
      pool: poolRef,
      prefixLength: z.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be 1-128').max(128, 'must be 1-128')
    })
    .strict()
)
export type SplitInput = z.input<typeof splitSchema>

export const mergeSchema = lazySchema(() =>
  z.object({ a: poolRef, b: poolRef }).strict()
)
export type MergeInput = z.input<typeof mergeSchema>

export interface SplitResult {
  container: PoolDto
  children: PoolDto[]
  /** Allocations moved from the split pool into its new children. */
  moved: number
}

export interface MergeResult {
  /** The aggregate (the first pool widened, or the parent when the two made it up). */
  pool: PoolDto
  /** The pools merged away. */
  removed: { id: number; name: string; network: string }[]
  moved: number
}

/** Reserve or block every free address from first to last of a pool: one request, one transaction. */
export const bulkHoldSchema = lazySchema(() =>
  z
    .object({
      pool: poolRef,
      first: z.string().trim().min(1, 'is required').max(64),
      last: z.string().trim().min(1, 'is required').max(64),
      status: z.enum(['reserved', 'blocked']),
      until: z.string().trim().max(40).nullish(),
      owner: optText(255),
      purpose: optText(255),
      description: optText(2000),
      /** Also inside dhcp ranges. */
      force: z.boolean().optional()
    })
    .strict()
)
export type BulkHoldInput = z.input<typeof bulkHoldSchema>

/** Release every allocation of a pool from first to last (optionally only those of one status), or the listed addresses. */
export const bulkReleaseSchema = lazySchema(() =>
  z
    .object({
      pool: poolRef,
      first: z.string().trim().max(64).optional(),
      last: z.string().trim().max(64).optional(),
      ips: z.array(z.string().trim().min(1).max(64)).max(65536).optional(),
      status: z.enum(['allocated', 'reserved', 'blocked']).optional()
    })
    .strict()
)
export type BulkReleaseInput = z.input<typeof bulkReleaseSchema>

export interface BulkResult {
  pool: string
  /** The rows written (held) or removed (released), lowest address first. */
  items: AllocationDto[]
  /** Addresses of the range left alone, with the reason (held already, gateway, network address, dhcp range). */
  skipped: { ip: string; reason: string }[]
}

export { RANGE_PURPOSES }
export type RangePurpose = (typeof RANGE_PURPOSES)[number]

export const rangeCreateSchema = lazySchema(() =>
  z
    .object({
      pool: poolRef,
      first: z.string().trim().min(1, 'is required').max(64),
      last: z.string().trim().min(1, 'is required').max(64),
      purpose: z.enum(RANGE_PURPOSES, { error: `must be one of ${RANGE_PURPOSES.join(', ')}` }),
      description: optText(2000),
      /** Counted as used in the pool's utilization (a dhcp scope handed to a DHCP server, say). */
      markUsed: z.boolean().optional()
    })
    .strict()
)
export type RangeCreateInput = z.input<typeof rangeCreateSchema>

export interface RangeDto {
  id: number
  poolId: number
  poolName: string
  first: string
  last: string
  size: string
  purpose: RangePurpose
  description: string | null
  markUsed: boolean
  /** Addresses of the range that are allocated, reserved or blocked. */
  held: number
  createdAt: string
  createdBy: string | null
}

export interface AllocationDto {
  id: number
  poolId: number
  poolName: string
  spaceName: string
  ip: string
  mac: string | null
  hostname: string | null
  owner: string | null
  /** Set when the owner is a directory person: their DN (owner is then their display name). */
  ownerDn: string | null
  purpose: string | null
  description: string | null
  status: AllocationStatus
  dnsManaged: boolean
  dhcpManaged: boolean
  reservedUntil: string | null
  /** True for a reservation whose hold has lapsed: the address counts as free. */
  expired: boolean
  createdAt: string
  updatedAt: string
  allocatedBy: string | null
  version: number
  /** Tag names, sorted (left out by the one-statement next-free path's reply). */
  tags?: string[]
  /** Custom field values (left out by the one-statement next-free path's reply). */
  customFields?: Record<string, FieldValue>
  /**
   * What the name server and Kea make of it (the app's allocation read fills it in; other reads leave it out):
   * the DNS names and the last DNS outcome, the reservation's last outcome and the lease Kea holds for it.
   */
  sideEffects?: AllocationSideEffects
}

export interface AllocationSideEffects {
  dns: { names: string[]; ptr: string | null; state: string | null; message: string | null } | null
  dhcp: { state: string | null; message: string | null; lease: { mac: string | null; expires: string | null } | null } | null
}

/**
 * Set on a read answered from the last-known snapshot because the database could not be reached: the data
 * is as of `asOf`, and may be out of date.
 */
export interface StaleMark {
  asOf: string
  reason: string
}

export interface Page<T> {
  items: T[]
  page: number
  pageSize: number
  total: number
  /** Present only when the page comes from the offline snapshot. */
  stale?: StaleMark
}

export interface PoolDeleteResult {
  pool: PoolDto
  allocationsRemoved: number
}

/** The values the Pools screen's filter menus offer: every site and environment some pool names, sorted. */
export interface PoolFacets {
  sites: string[]
  environments: string[]
}

export interface IpamStats {
  pools: number
  activePools: number
  allocations: { allocated: number; reserved: number; blocked: number }
  bySite: { site: string | null; pools: number; allocated: number; usable: string; percent: number }[]
  byEnvironment: { environment: string | null; pools: number; allocated: number; usable: string; percent: number }[]
  mostUtilized: { id: number; name: string; network: string; percent: number; used: number; usable: string }[]
}

/** Cell states of the subnet map, one byte per address. */
/** 'range': a free address of a dhcp or reserved range (next free skips it); 'child': covered by a child pool. */
/**
 * 'leased': an allocated address that Kea's lease database says is leased now; 'leased-range': a lease Kea
 * handed out from a dhcp range (dynamic, as intended); 'leased-free': a lease on an address IPAM calls free
 * (drift: someone handed it out behind IPAM's back).
 * New states go at the end: the map's bytes are indexes into this list.
 */
export const MAP_STATES = ['free', 'allocated', 'reserved', 'blocked', 'gateway', 'network', 'lapsed', 'range', 'child', 'leased', 'leased-range', 'leased-free'] as const
export type MapState = (typeof MAP_STATES)[number]

/**
 * What the subnet map draws. IPv4 pools up to /16: one byte per address (MAP_STATES index), base64.
 * Wider IPv4 pools: the /24 tiles that hold anything, with their counts. IPv6: the first allocations and
 * the free space counted in /64s.
 */
/** A lease as the subnet map shows it (Kea's lease4). */
export interface MapLease {
  ip: string
  mac: string | null
  hostname: string | null
  expires: string | null
}

export type PoolMap = (
  | {
      kind: 'cells'
      pool: string
      network: string
      first: string
      size: number
      states: string
      counts: Record<MapState, number>
      /**
       * The pool's active leases from Kea's lease database, when the pool is mapped to a Kea subnet and the
       * database answered (absent otherwise; `leaseError` says why it could not be read).
       */
      leases?: MapLease[]
      leaseError?: string
    }
  | { kind: 'tiles'; pool: string; network: string; tileCount: number; tiles: { network: string; used: number; reserved: number; blocked: number }[] }
  | { kind: 'v6'; pool: string; network: string; allocations: AllocationDto[]; total: number; subnets64: string; used64: number; free64: string }
) & { stale?: StaleMark }

/** IPAM DTOs and input schemas, shared by the core, the CLI, the IPC contract and the renderer. */
import { z } from 'zod'
import { isDn } from './dn'

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
export const poolRef = z.union([z.number().int().positive(), z.string().trim().min(1, 'is required').max(100)])
export type PoolRef = z.input<typeof poolRef>

export const poolCreateSchema = z
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
    dnsServers: z.array(z.string().max(64, 'each entry must be at most 64 characters'), { error: 'must be a list of IP addresses' }).max(64).nullish()
  })
  .strict()
export type PoolCreateInput = z.input<typeof poolCreateSchema>

export const poolUpdateSchema = poolCreateSchema.partial().strict()
export type PoolUpdateInput = z.input<typeof poolUpdateSchema>

export const POOL_SORTS = ['name', 'network', 'site', 'environment', 'vlan', 'created', 'utilization'] as const
export const poolListSchema = z
  .object({
    site: text(100).optional(),
    environment: text(50).optional(),
    active: z.boolean().optional(),
    vlanId: z.number().int().min(1).max(4094).optional(),
    search: text(200).optional(),
    page: z.number().int().min(1, 'must be 1 or more').default(1),
    pageSize: z.number().int().min(1, 'must be 1-500').max(500, 'must be 1-500').default(50),
    sort: z.enum(POOL_SORTS).default('name'),
    order: z.enum(['asc', 'desc']).default('asc')
  })
  .strict()
export type PoolListInput = z.input<typeof poolListSchema>

export const allocationFields = {
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
}

export const allocateSchema = z
  .object({
    pool: poolRef,
    ip: z.string().trim().max(64).optional(),
    next: z.boolean().optional(),
    count: z.number().int('must be a whole number').min(1, 'must be 1-1024').max(1024, 'must be 1-1024').optional(),
    status: z.enum(['allocated', 'reserved', 'blocked']).default('allocated'),
    /** For reservations: when the hold lapses (ISO-8601). An expired hold counts as free. */
    until: z.string().trim().max(40).nullish(),
    ...allocationFields
  })
  .strict()
export type AllocateInput = z.input<typeof allocateSchema>

export const allocationUpdateSchema = z
  .object({
    ip: z.string().trim().min(1, 'is required').max(64),
    /** The version the caller last saw; the update is refused if someone changed the row since. */
    version: z.number().int().positive().optional(),
    status: z.enum(ALLOCATION_STATUSES).optional(),
    until: z.string().trim().max(40).nullish(),
    ...allocationFields
  })
  .strict()
export type AllocationUpdateInput = z.input<typeof allocationUpdateSchema>

export const searchSchema = z
  .object({
    query: z.string().trim().min(1, 'is required').max(253),
    kind: z.enum(['auto', 'ip', 'cidr', 'hostname', 'mac', 'owner']).default('auto'),
    page: z.number().int().min(1).default(1),
    pageSize: z.number().int().min(1).max(500).default(50)
  })
  .strict()
export type SearchInput = z.input<typeof searchSchema>

export interface Utilization {
  /** Addresses that can be handed out (network, broadcast and gateway excluded). Decimal string: IPv6 is big. */
  usable: string
  allocated: number
  reserved: number
  blocked: number
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
}

export interface AllocationDto {
  id: number
  poolId: number
  poolName: string
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

export interface IpamStats {
  pools: number
  activePools: number
  allocations: { allocated: number; reserved: number; blocked: number }
  bySite: { site: string | null; pools: number; allocated: number; usable: string; percent: number }[]
  byEnvironment: { environment: string | null; pools: number; allocated: number; usable: string; percent: number }[]
  mostUtilized: { id: number; name: string; network: string; percent: number; used: number; usable: string }[]
}

/** Cell states of the subnet map, one byte per address. */
export const MAP_STATES = ['free', 'allocated', 'reserved', 'blocked', 'gateway', 'network', 'lapsed'] as const
export type MapState = (typeof MAP_STATES)[number]

/**
 * What the subnet map draws. IPv4 pools up to /16: one byte per address (MAP_STATES index), base64.
 * Wider IPv4 pools: the /24 tiles that hold anything, with their counts. IPv6: the first allocations and
 * the free space counted in /64s.
 */
export type PoolMap = (
  | { kind: 'cells'; pool: string; network: string; first: string; size: number; states: string; counts: Record<MapState, number> }
  | { kind: 'tiles'; pool: string; network: string; tileCount: number; tiles: { network: string; used: number; reserved: number; blocked: number }[] }
  | { kind: 'v6'; pool: string; network: string; allocations: AllocationDto[]; total: number; subnets64: string; used64: number; free64: string }
) & { stale?: StaleMark }

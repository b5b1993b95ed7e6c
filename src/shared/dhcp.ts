/** DHCP through Kea: the contract's inputs and results. Pure: no node, no vue. */
import { z } from 'zod'

export const dhcpServerAddSchema = z
  .object({
    name: z.string().trim().min(1, 'is required').max(100),
    /** Kea's host and lease database (PostgreSQL): a host name, an address, or a Unix socket folder. */
    host: z.string().trim().min(1, 'is required').max(255),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().trim().min(1, 'is required').max(63),
    user: z.string().trim().min(1, 'is required').max(63),
    /** Kept in the OS keychain; none for trust or peer authentication. */
    password: z.string().max(1024).optional()
  })
  .strict()
export type DhcpServerAddInput = z.input<typeof dhcpServerAddSchema>

export const poolDhcpSchema = z
  .object({
    pool: z.union([z.string().trim().min(1), z.number().int().positive()]),
    server: z.string().trim().max(100).nullable().optional(),
    subnetId: z.number().int().min(1).max(4294967294).nullable().optional()
  })
  .strict()
export type PoolDhcpInput = z.input<typeof poolDhcpSchema>

export interface DhcpServerDto {
  id: number
  name: string
  host: string
  port: number
  database: string
  user: string
  pools: string[]
}

export interface ReservationDto {
  ip: string
  mac: string
  hostname: string | null
  subnetId: number
  /** Written by Netkeeper (its mark in Kea's user_context), or by someone else. */
  ours: boolean
  allocation: { ip: string; hostname: string | null } | null
}

export interface LeaseDto {
  ip: string
  mac: string | null
  hostname: string | null
  expires: string | null
  state: number
  subnetId: number
}

export const DHCP_DRIFT_KINDS = ['reservation-without-allocation', 'allocation-without-reservation', 'reservation-differs', 'lease-on-free-address'] as const
export type DhcpDriftKind = (typeof DHCP_DRIFT_KINDS)[number]

export interface DhcpDriftItem {
  id: string
  kind: DhcpDriftKind
  pool: string
  ip: string
  inKea: string | null
  expected: string | null
  toDhcp: string | null
  toIpam: string | null
  ignored: boolean
}

export interface DhcpServerTest {
  server: string
  ok: boolean
  /** Kea's schema version (schema_version), the reservations and leases it holds. */
  schema?: string
  hosts?: number
  leases?: number
  error?: string
}

/** A pool's Kea mapping (the pool page). */
export interface PoolDhcpDto {
  pool: string
  server: string | null
  subnetId: number | null
}

/**
 * The subnet ids a pool may map to on a Kea server, for the pool page's picker: the ids Kea's database
 * already holds reservations or leases for (with how many, and how many of its leases fall inside the
 * pool), the pools of this Netkeeper already mapped to each, and the lowest id not used yet.
 */
export interface KeaSubnetChoices {
  server: string
  ids: { subnetId: number; hosts: number; leases: number; leasesInPool: number; pools: string[] }[]
  nextFree: number
  error?: string
}

export const dhcpDriftRepairSchema = z
  .object({
    pool: z.string().trim().max(200).optional(),
    ids: z.array(z.string().min(1).max(600)).max(10_000).optional(),
    direction: z.enum(['dhcp', 'ipam'])
  })
  .strict()
export type DhcpDriftRepairInput = z.input<typeof dhcpDriftRepairSchema>

export interface DhcpDriftReport {
  pools: { pool: string; error?: string }[]
  items: DhcpDriftItem[]
}

export interface DhcpRepairResult {
  id: string
  ok: boolean
  message: string
}

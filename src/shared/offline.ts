/**
 * Offline-queued edits: the DTOs and schemas shared by the core, the CLI, the IPC contract and the renderer.
 * Imports nothing from node, electron or vue.
 */
import type { FailoverStatus } from './types'
import { z } from 'zod'
import { QUEUE_STATES } from './choices'
import {
  allocateSchema,
  allocationUpdateSchema,
  bulkHoldSchema,
  bulkReleaseSchema,
  mergeSchema,
  nextBlockSchema,
  poolCreateSchema,
  poolRef,
  poolUpdateSchema,
  rangeCreateSchema,
  spaceCreateSchema,
  spaceRef,
  spaceUpdateSchema,
  splitSchema,
  type AllocateInput,
  type AllocationUpdateInput,
  type BulkHoldInput,
  type BulkReleaseInput,
  type MergeInput,
  type NextBlockInput,
  type PoolCreateInput,
  type PoolRef,
  type PoolUpdateInput,
  type RangeCreateInput,
  type SpaceCreateInput,
  type SpaceRef,
  type SpaceUpdateInput,
  type SplitInput
} from './ipam'
import { bulkEditSchema, ipTagEditSchema, objectEditSchema, type BulkEditInput, type IpTagEdit, type ObjectEdit } from './ipam-objects'
import {
  groupCreateSchema,
  groupRefSchema,
  groupUpdateSchema,
  membersSchema,
  userCreateSchema,
  userRef,
  userUpdateSchema,
  type GroupCreateInput,
  type GroupUpdateInput,
  type MembersInput,
  type UserCreateInput,
  type UserUpdateInput
} from './directory'

export { QUEUE_STATES }
export type QueueState = (typeof QUEUE_STATES)[number]

/** A range by id, or by its pool and first address. */
export const rangeRemoveSchema = z
  .object({ id: z.number().int().positive().optional(), pool: poolRef.optional(), first: z.string().trim().min(1).max(64).optional() })
  .strict()
  .refine((v) => v.id !== undefined || (v.pool !== undefined && v.first !== undefined), { message: 'give the range id, or the pool and the first address', path: ['id'] })

/** The edits that can be queued, each with the arguments its core method takes. */
export const offlineArgSchemas = {
  'ipam.allocate': allocateSchema,
  'ipam.update': allocationUpdateSchema,
  'ipam.release': z.object({ ip: z.string().trim().min(1).max(64), version: z.number().int().positive().optional(), space: spaceRef.optional() }).strict(),
  'ipam.pool.create': poolCreateSchema,
  'ipam.pool.update': z.object({ pool: poolRef, changes: poolUpdateSchema }).strict(),
  'ipam.pool.delete': z.object({ pool: poolRef, force: z.boolean().optional() }).strict(),
  'ipam.holdRange': bulkHoldSchema,
  'ipam.releaseMany': bulkReleaseSchema,
  'ipam.pool.nextBlock': nextBlockSchema,
  'ipam.pool.split': splitSchema,
  'ipam.pool.merge': mergeSchema,
  'ipam.space.create': spaceCreateSchema,
  'ipam.space.update': z.object({ space: spaceRef, changes: spaceUpdateSchema }).strict(),
  'ipam.space.delete': z.object({ space: spaceRef }).strict(),
  'ipam.range.add': rangeCreateSchema,
  'ipam.range.remove': rangeRemoveSchema,
  'ipam.object': objectEditSchema,
  'ipam.ip.tag': ipTagEditSchema,
  'ipam.bulkEdit': bulkEditSchema,
  // Directory edits. Passwords are never queued (they would sit on disk): a new user is queued without one.
  'directory.user.create': userCreateSchema.refine((v) => v.password === undefined, {
    message: 'a password is not kept in the offline queue; create the user without one and set it once the directory is back',
    path: ['password']
  }),
  'directory.user.update': userUpdateSchema,
  'directory.user.delete': z.object({ uid: userRef }).strict(),
  'directory.user.lock': z.object({ uid: userRef }).strict(),
  'directory.user.unlock': z.object({ uid: userRef }).strict(),
  'directory.group.create': groupCreateSchema,
  'directory.group.update': groupUpdateSchema,
  'directory.group.delete': z.object({ cn: groupRefSchema }).strict(),
  'directory.group.members.add': membersSchema,
  'directory.group.members.remove': membersSchema
} as const
export type OfflineOperation = keyof typeof offlineArgSchemas
export const OFFLINE_OPERATIONS = Object.keys(offlineArgSchemas) as OfflineOperation[]

export type OfflineEdit =
  | { operation: 'ipam.allocate'; args: AllocateInput }
  | { operation: 'ipam.update'; args: AllocationUpdateInput }
  | { operation: 'ipam.release'; args: { ip: string; version?: number; space?: SpaceRef } }
  | { operation: 'ipam.pool.create'; args: PoolCreateInput }
  | { operation: 'ipam.pool.update'; args: { pool: PoolRef; changes: PoolUpdateInput } }
  | { operation: 'ipam.pool.delete'; args: { pool: PoolRef; force?: boolean } }
  | { operation: 'ipam.holdRange'; args: BulkHoldInput }
  | { operation: 'ipam.releaseMany'; args: BulkReleaseInput }
  | { operation: 'ipam.pool.nextBlock'; args: NextBlockInput }
  | { operation: 'ipam.pool.split'; args: SplitInput }
  | { operation: 'ipam.pool.merge'; args: MergeInput }
  | { operation: 'ipam.space.create'; args: SpaceCreateInput }
  | { operation: 'ipam.space.update'; args: { space: SpaceRef; changes: SpaceUpdateInput } }
  | { operation: 'ipam.space.delete'; args: { space: SpaceRef } }
  | { operation: 'ipam.range.add'; args: RangeCreateInput }
  | { operation: 'ipam.range.remove'; args: { id?: number; pool?: PoolRef; first?: string } }
  | { operation: 'ipam.object'; args: ObjectEdit }
  | { operation: 'ipam.ip.tag'; args: IpTagEdit }
  | { operation: 'ipam.bulkEdit'; args: BulkEditInput }
  | DirectoryEdit

export type DirectoryEdit =
  | { operation: 'directory.user.create'; args: UserCreateInput }
  | { operation: 'directory.user.update'; args: UserUpdateInput }
  | { operation: 'directory.user.delete' | 'directory.user.lock' | 'directory.user.unlock'; args: { uid: string } }
  | { operation: 'directory.group.create'; args: GroupCreateInput }
  | { operation: 'directory.group.update'; args: GroupUpdateInput }
  | { operation: 'directory.group.delete'; args: { cn: string } }
  | { operation: 'directory.group.members.add' | 'directory.group.members.remove'; args: MembersInput }

export function isDirectoryOperation(op: string): op is DirectoryEdit['operation'] {
  return op.startsWith('directory.')
}

/**
 * What the edit was made against: the allocation's version (given by the caller or taken from the last
 * known snapshot), the pool's last change time, or nothing (a next-free request takes whatever is free
 * at replay).
 */
export interface QueueBasis {
  version?: number
  poolId?: number
  poolUpdatedAt?: string
  /** Where the basis came from: the caller (--if-version) or the stale snapshot, and its time. */
  from: 'caller' | 'snapshot' | 'none'
  snapshotAt?: string
  /** The name of a pool the edit refers to by id, as last known (for the notes only). */
  poolName?: string
  /** Directory edits: the LDAP profile of the session that made the edit; replay applies it only there. */
  profile?: string
  /** Directory edits: the entry's version (entryCSN / modifyTimestamp) the edit was made against. */
  entryVersion?: string
}

export interface QueueConflict {
  code: string
  message: string
  field?: string
  /** What was queued (the arguments as they stood at replay). */
  queued: unknown
  /** What the server has now (the allocation or pool), or null when it has nothing there. */
  server: unknown
  at: string
}

export interface QueueEntryDto {
  id: number
  idempotencyKey: string
  actor: string
  roles: string[]
  operation: OfflineOperation
  args: unknown
  basedOn: QueueBasis
  /** The database the edit is meant for (label, no secret); replay applies it only there. */
  target: string
  createdAt: string
  state: QueueState
  attempts: number
  lastAttemptAt: string | null
  appliedAt: string | null
  result: unknown
  conflict: QueueConflict | null
  /** A sentence for people: "queued, not done: ..." */
  note: string
}

export interface QueueCounts {
  queued: number
  conflict: number
  applied: number
  cancelled: number
}

export interface BackendState {
  /** null until the first probe or error has said anything. */
  online: boolean | null
  since: string | null
  lastError: string | null
  checkedAt: string | null
  nextProbeAt: string | null
  failures: number
}

export interface OfflineStateDto {
  database: BackendState
  /** A connection with several hosts: the primary in use, or that it is looking for one (null otherwise). */
  failover?: FailoverStatus | null
  /** The signed-in session's directory server; null when nobody is signed in (nothing to watch). */
  directory: BackendState | null
  queue: QueueCounts
  /** When the last-known pools and allocations were saved; null when there is no snapshot. */
  snapshotAt: string | null
  /** A replay is running now (started by hand or because the database came back). */
  replaying: boolean
  /** The last replay this app ran, with when it ended; null before the first. */
  lastReplay: (ReplayReport & { at: string; trigger: ReplayTrigger }) | null
  /** Why the last automatic replay could not run (another replayer holds the lock...), if it could not. */
  lastReplayError: string | null
}

export type ReplayTrigger = 'manual' | 'reconnect' | 'startup'

/**
 * The answer of a mutating IPAM channel when the database could not be reached: the edit was queued, not
 * done. `message` says so in words; the entry can be cancelled until it is replayed.
 */
export interface QueuedEdit {
  status: 'queued'
  message: string
  entry: QueueEntryDto
}

export type OrQueued<T> = T | QueuedEdit

// isQueued lives in queued.ts (no zod: the renderer's first chunk imports it).
export { isQueued } from './queued'

export interface ReplayReport {
  applied: number
  alreadyApplied: number
  conflicts: number
  /** Entries for another database, left in the queue. */
  otherTarget: number
  /** Directory edits left queued: no directory session of the person who made them here, or the directory is unreachable. */
  waiting: number
  /**
   * Edits left queued because they need a role the person replaying does not have (a replay never runs with
   * more than that person's role); a replay by someone who has it applies them.
   */
  heldForRole: number
  /** Why replay stopped early (the server went away again), if it did. */
  stopped: string | null
  remaining: number
  ms: number
}

export interface StaleSnapshot<T> {
  stale: true
  asOf: string
  data: T
}

export const queueIdSchema = z.object({ id: z.number().int().positive() }).strict()
export const queueListSchema = z.object({ state: z.enum(QUEUE_STATES).optional(), limit: z.number().int().min(1).max(10000).optional() }).strict()
export const queueRetrySchema = z.object({ id: z.number().int().positive(), args: z.record(z.string(), z.unknown()).optional() }).strict()

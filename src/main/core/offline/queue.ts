/**
 * The durable local queue of offline edits, and the last-known snapshot of pools and allocations, in one
 * SQLite file in the data folder (offline-queue.sqlite). It works whether or not the database is up: the
 * CLI and the app open it without a Core.
 *
 * Both are kept per database (per connection): each entry records the target it was made for (the
 * connection's label, db/target.ts) and replays only there; each target has its own snapshot
 * (`queue.snapshot(target)`), so switching connections never shows one database's pools as another's.
 *
 * WAL with synchronous=FULL: an edit the CLI reported as queued survives a crash or a power cut. Entries
 * are replayed in id order (replay.ts); a replayed entry's idempotency key is recorded in PostgreSQL in
 * the same transaction as the change, so this file only has to catch up, never to be exact.
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { createRequire } from 'node:module'
import { AppError, validationError } from '../../../shared/errors'
import { describeIssue } from '../../../shared/schemas'
import type { AllocationDto, PoolDto } from '../../../shared/ipam'
import {
  offlineArgSchemas,
  QUEUE_STATES,
  type DirectoryEdit,
  type OfflineEdit,
  type OfflineOperation,
  type QueueBasis,
  type QueueConflict,
  type QueueCounts,
  type QueueEntryDto,
  type QueueState,
  type StaleSnapshot
} from '../../../shared/offline'
import { parseIp } from '../../../shared/net'
import type { RequestContext } from '../context'
import { describeDirectoryEdit } from './directory-edits'
import { describeObjectEdit, type IpTagEdit, type ObjectEdit } from '../../../shared/ipam-objects'

export const QUEUE_FILE = 'offline-queue.sqlite'

export interface AppliedMark {
  id: number
  result: unknown
  appliedAt: string
  /** From version / pool change time `from` to `to` (see markApplied). */
  rebase?: { ip?: string; poolId?: number; from: number | string; to: number | string }
}

interface EntryRow {
  id: number
  key: string
  actor: string
  roles: string
  operation: OfflineOperation
  args: string
  based_on: string
  target: string
  created_at: string
  state: QueueState
  attempts: number
  last_attempt_at: string | null
  applied_at: string | null
  result: string | null
  conflict: string | null
}

const SCHEMA = `
create table if not exists queue_entries (
  id integer primary key autoincrement,
  key text not null unique,
  actor text not null,
  roles text not null,
  operation text not null,
  args text not null,
  based_on text not null,
  target text not null,
  created_at text not null,
  state text not null check (state in (${QUEUE_STATES.map((s) => `'${s}'`).join(', ')})),
  attempts integer not null default 0,
  last_attempt_at text,
  applied_at text,
  result text,
  conflict text
);
create index if not exists queue_entries_state on queue_entries (state, id);
-- The last-known snapshot, one per target. The tables of the first version had no target: that snapshot
-- cannot be told apart from another database's, so it goes (the next refresh of each connection makes its own).
drop table if exists snapshot_pools;
drop table if exists snapshot_allocations;
drop table if exists snapshot_meta;
create table if not exists target_snapshot_pools (target text not null, name text not null, id integer not null, data text not null, saved_at text not null, primary key (target, name));
create table if not exists target_snapshot_allocations (target text not null, ip text not null, pool text not null, data text not null, saved_at text not null, primary key (target, ip));
create index if not exists target_snapshot_allocations_pool on target_snapshot_allocations (target, pool, ip);
create table if not exists target_snapshot_meta (target text not null, name text not null, value text not null, primary key (target, name));
`

/** better-sqlite3 is native: loaded on first use so a broken build fails with a message, not at import. */
function loadSqlite(): typeof BetterSqlite3 {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3
  } catch (e) {
    throw new AppError('UNAVAILABLE', `the offline queue needs better-sqlite3, which could not be loaded: ${(e as Error).message}`)
  }
}

/** The edit in words; `basis.poolName` names a pool the edit refers to by id. */
export function describeEdit(e: { operation: OfflineOperation; args: unknown }, basis?: QueueBasis): string {
  const a = { ...(e.args as Record<string, unknown>) }
  if (basis?.poolName && typeof a.pool === 'number') a.pool = basis.poolName
  switch (e.operation) {
    case 'ipam.allocate': {
      const verb = a.status === 'reserved' ? 'reserve' : a.status === 'blocked' ? 'block' : 'allocate'
      return a.ip ? `${verb} ${String(a.ip)} in pool ${String(a.pool)}` : `${verb} the next ${a.count && a.count !== 1 ? `${String(a.count)} free addresses` : 'free address'} in pool ${String(a.pool)}`
    }
    case 'ipam.update':
      return `update ${String(a.ip)}`
    case 'ipam.release':
      return `release ${String(a.ip)}`
    case 'ipam.pool.create':
      return `create pool ${String(a.name)} (${String(a.network)})`
    case 'ipam.pool.update':
      return `update pool ${String(a.pool)}`
    case 'ipam.pool.delete':
      return `delete pool ${String(a.pool)}${a.force ? ' with its allocations' : ''}`
    case 'ipam.holdRange':
      return `${a.status === 'blocked' ? 'block' : 'reserve'} every free address from ${String(a.first)} to ${String(a.last)} in pool ${String(a.pool)}`
    case 'ipam.releaseMany':
      return a.first ? `release ${String(a.first)}-${String(a.last)} in pool ${String(a.pool)}` : `release ${(a.ips as unknown[] | undefined)?.length ?? 0} addresses in pool ${String(a.pool)}`
    case 'ipam.pool.nextBlock':
      return `carve the next ${a.count && a.count !== 1 ? `${String(a.count)} free` : 'free'} /${String(a.prefixLength)} out of pool ${String(a.in)}`
    case 'ipam.pool.split':
      return `split pool ${String(a.pool)} into /${String(a.prefixLength)}`
    case 'ipam.pool.merge':
      return `merge pools ${String(a.a)} and ${String(a.b)}`
    case 'ipam.space.create':
      return `create address space ${String(a.name)}`
    case 'ipam.space.update':
      return `update address space ${String(a.space)}`
    case 'ipam.space.delete':
      return `delete address space ${String(a.space)}`
    case 'ipam.range.add':
      return `add ${String(a.purpose)} range ${String(a.first)}-${String(a.last)} to pool ${String(a.pool)}`
    case 'ipam.object':
      return describeObjectEdit(e.args as ObjectEdit)
    case 'ipam.ip.tag': {
      const x = e.args as IpTagEdit
      return `${x.remove ? 'untag' : 'tag'} ${x.input.ips.join(', ')} ${x.remove ? 'from' : 'with'} ${x.input.tags.join(', ')}`
    }
    case 'ipam.bulkEdit':
      return `edit ${(a.ips as unknown[] | undefined)?.length ?? 0} addresses of pool ${String(a.pool)} at once`
    case 'ipam.range.remove':
      return a.id !== undefined ? `remove range #${String(a.id)}` : `remove the range at ${String(a.first)} of pool ${String(a.pool)}`
    default:
      return `${describeDirectoryEdit(e as DirectoryEdit)}${basis?.profile ? ` (directory ${basis.profile})` : ''}`
  }
}

function noteFor(operation: OfflineOperation, args: unknown, basis: QueueBasis): string {
  const a = args as Record<string, unknown>
  let note = `queued, not done: ${describeEdit({ operation, args }, basis)}`
  if (operation === 'ipam.allocate' && !a.ip) note += '; it will take whatever address is free at replay'
  if (basis.version !== undefined) note += `; made against version ${basis.version}${basis.from === 'snapshot' ? ` (last known at ${basis.snapshotAt})` : ''}, refused at replay if the address changed since`
  else if ((operation === 'ipam.update' || operation === 'ipam.release') && basis.from === 'none')
    note += '; no known version of the address (no --if-version, not in the last-known snapshot): replay applies it to whatever is there then'
  if (basis.poolUpdatedAt) note += `; made against the pool as of ${basis.poolUpdatedAt}, refused at replay if it changed since`
  if (basis.entryVersion) note += `; made against version ${basis.entryVersion} of the directory entry, refused at replay if it changed since`
  if (operation.startsWith('directory.')) note += `; applied under ${basis.profile ? `your ${basis.profile} directory session` : 'your directory session'} once the directory answers`
  return note
}

export function parseEditArgs(operation: OfflineOperation, args: unknown): void {
  const schema = offlineArgSchemas[operation]
  if (!schema) throw validationError('operation', `"${String(operation)}" cannot be queued`)
  const r = schema.safeParse(args ?? {})
  if (!r.success) {
    const { field, reason } = describeIssue(r.error)
    throw validationError(field, reason)
  }
}

export class OfflineQueue {
  private constructor(
    readonly file: string,
    private readonly db: BetterSqlite3.Database
  ) {}

  static open(dataDir: string): OfflineQueue {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const file = path.join(dataDir, QUEUE_FILE)
    const Sqlite = loadSqlite()
    const db = new Sqlite(file)
    try {
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
      // The app and a CLI process may write at the same time: wait for the other's write, do not fail.
      db.pragma('busy_timeout = 10000')
      db.exec(SCHEMA)
    } catch (e) {
      db.close()
      throw new AppError('UNAVAILABLE', `the offline queue at ${file} could not be opened: ${(e as Error).message}`)
    }
    try {
      fs.chmodSync(file, 0o600)
    } catch {
      /* not ours to change (another user's file system): the folder is 0700 anyway */
    }
    return new OfflineQueue(file, db)
  }

  close(): void {
    this.db.close()
  }

  // ---------------------------------------------------------------- entries

  /**
   * Queues an edit. The basis is what the edit was made against: the caller's --if-version, or else the
   * allocation's version in the last-known snapshot, so replay refuses (as a conflict) instead of
   * overwriting a change made by someone else meanwhile.
   */
  enqueue(ctx: RequestContext, edit: OfflineEdit, target: string, extra: Pick<QueueBasis, 'profile'> = {}): QueueEntryDto {
    parseEditArgs(edit.operation, edit.args)
    const args = { ...(edit.args as Record<string, unknown>) }
    let basis: QueueBasis = { from: 'none' }
    if (edit.operation.startsWith('directory.')) {
      // Directory edits: made against the entry's version when the caller gave one (the dialogs do).
      basis = { from: typeof args.version === 'string' ? 'caller' : 'none', ...extra, ...(typeof args.version === 'string' ? { entryVersion: args.version } : {}) }
    }
    const snap = this.snapshot(target)
    const snapAt = snap.at() ?? undefined
    if (edit.operation === 'ipam.update' || edit.operation === 'ipam.release') {
      // Canonical text, so later entries for the same address can be rebased on this one (markApplied).
      args.ip = parseIp(String(args.ip), 'ip').text
      if (typeof args.version === 'number') basis = { version: args.version, from: 'caller' }
      else {
        const known = snap.allocation(String(args.ip))
        if (known) {
          args.version = known.data.version
          basis = { version: known.data.version, from: 'snapshot', snapshotAt: known.asOf }
        }
      }
    } else if (edit.operation === 'ipam.pool.update' || edit.operation === 'ipam.pool.delete') {
      const known = snap.pool(args.pool as string | number)
      if (known) basis = { poolId: known.data.id, poolUpdatedAt: known.data.updatedAt, from: 'snapshot', snapshotAt: known.asOf }
    } else if (snapAt && !edit.operation.startsWith('directory.')) {
      basis = { from: 'none', snapshotAt: snapAt }
    }
    // A pool given by id (the app does that) is named in the notes, from the last-known data.
    if (typeof args.pool === 'number' && !basis.poolName) {
      const p = snap.pool(args.pool)
      if (p) basis = { ...basis, poolName: p.data.name }
    }
    const key = randomUUID()
    const now = new Date().toISOString()
    const info = this.db
      .prepare(
        `insert into queue_entries (key, actor, roles, operation, args, based_on, target, created_at, state) values (?, ?, ?, ?, ?, ?, ?, ?, 'queued')`
      )
      .run(key, ctx.actor, JSON.stringify(ctx.roles), edit.operation, JSON.stringify(args), JSON.stringify(basis), target, now)
    return this.get(Number(info.lastInsertRowid))
  }

  private toDto(r: EntryRow): QueueEntryDto {
    const args = JSON.parse(r.args) as unknown
    const basedOn = JSON.parse(r.based_on) as QueueBasis
    const conflict = r.conflict ? (JSON.parse(r.conflict) as QueueConflict) : null
    const what = describeEdit({ operation: r.operation, args }, basedOn)
    const note =
      r.state === 'queued'
        ? noteFor(r.operation, args, basedOn)
        : r.state === 'applied'
          ? `applied: ${what}`
          : r.state === 'cancelled'
            ? `cancelled, never applied: ${what}`
            : `conflict, not applied: ${what}: ${conflict?.message ?? ''}`
    return {
      id: r.id,
      idempotencyKey: r.key,
      actor: r.actor,
      roles: JSON.parse(r.roles) as string[],
      operation: r.operation,
      args,
      basedOn,
      target: r.target,
      createdAt: r.created_at,
      state: r.state,
      attempts: r.attempts,
      lastAttemptAt: r.last_attempt_at,
      appliedAt: r.applied_at,
      result: r.result ? (JSON.parse(r.result) as unknown) : null,
      conflict,
      note
    }
  }

  get(id: number): QueueEntryDto {
    const r = this.db.prepare(`select * from queue_entries where id = ?`).get(id) as EntryRow | undefined
    if (!r) throw new AppError('NOT_FOUND', `id: no queued edit #${id}`, { field: 'id' })
    return this.toDto(r)
  }

  /** Entries by id (oldest first); every state unless one is given. */
  list(opts: { state?: QueueState; limit?: number } = {}): QueueEntryDto[] {
    const rows = (
      opts.state
        ? this.db.prepare(`select * from queue_entries where state = ? order by id limit ?`).all(opts.state, opts.limit ?? 1000)
        : this.db.prepare(`select * from queue_entries order by id limit ?`).all(opts.limit ?? 1000)
    ) as EntryRow[]
    return rows.map((r) => this.toDto(r))
  }

  conflicts(): QueueEntryDto[] {
    return this.list({ state: 'conflict', limit: 10000 })
  }

  /** The next queued entries for a target, oldest first (replay). */
  pending(target: string, limit: number, afterId = 0): QueueEntryDto[] {
    const rows = this.db
      .prepare(`select * from queue_entries where state = 'queued' and target = ? and id > ? order by id limit ?`)
      .all(target, afterId, limit) as EntryRow[]
    return rows.map((r) => this.toDto(r))
  }

  counts(): QueueCounts {
    const c: QueueCounts = { queued: 0, conflict: 0, applied: 0, cancelled: 0 }
    for (const r of this.db.prepare(`select state, count(*) as n from queue_entries group by state`).all() as { state: QueueState; n: number }[]) c[r.state] = r.n
    return c
  }

  /** How many entries are queued for `target`. */
  countPending(target: string): number {
    return (this.db.prepare(`select count(*) as n from queue_entries where state = 'queued' and target = ?`).get(target) as { n: number }).n
  }

  /** Queued entries meant for another database than `target`. */
  countOtherTargets(target: string): number {
    return (this.db.prepare(`select count(*) as n from queue_entries where state = 'queued' and target <> ?`).get(target) as { n: number }).n
  }

  /** Cancels (discards) a queued or conflicting entry. An applied entry cannot be cancelled. */
  cancel(id: number): QueueEntryDto {
    const e = this.get(id)
    if (e.state === 'applied') throw new AppError('CONFLICT', `id: edit #${id} was already applied on ${e.appliedAt}; undo it with a new edit`, { field: 'id' })
    if (e.state === 'cancelled') return e
    // Guarded by state, so a replay that applied it meanwhile wins and the cancel is refused below.
    const r = this.db.prepare(`update queue_entries set state = 'cancelled' where id = ? and state in ('queued', 'conflict')`).run(id)
    if (!r.changes) return this.cancel(id)
    return this.get(id)
  }

  /**
   * Puts a conflicting entry back in the queue, as it was (retry) or with new arguments (re-target: another
   * address, the server's current version...). The idempotency key stays: the conflict was never applied.
   * The entry is stamped anew with the actor and roles of `by`, the person retrying: from now on it is their
   * edit and replays with their rights (never with those of whoever queued it first).
   */
  retry(id: number, by: Pick<RequestContext, 'actor' | 'roles'>, newArgs?: Record<string, unknown>): QueueEntryDto {
    const e = this.get(id)
    if (e.state !== 'conflict') throw new AppError('CONFLICT', `id: edit #${id} is ${e.state}; only conflicts can be retried`, { field: 'id' })
    let args = e.args as Record<string, unknown>
    let basedOn = e.basedOn
    if (newArgs) {
      args = { ...args, ...newArgs }
      for (const [k, v] of Object.entries(args)) if (v === null && !(k in (e.args as Record<string, unknown>))) delete args[k]
      parseEditArgs(e.operation, args)
      basedOn = { ...basedOn, ...(typeof args.version === 'number' ? { version: args.version, from: 'caller' as const } : {}) }
      if (newArgs.version === null) {
        delete args.version
        basedOn = { from: 'none' }
      }
    }
    this.db
      .prepare(`update queue_entries set state = 'queued', actor = ?, roles = ?, args = ?, based_on = ?, conflict = null where id = ? and state = 'conflict'`)
      .run(by.actor, JSON.stringify(by.roles), JSON.stringify(args), JSON.stringify(basedOn), id)
    return this.get(id)
  }

  /**
   * Marks entries applied in one local transaction (replay batches these; see replay.ts). A rebase moves
   * later queued edits of the same address or pool, made against the same version, onto the version this
   * edit produced: the person queued them knowing their own earlier edit, so that is not a conflict.
   */
  markApplied(marks: AppliedMark[]): void {
    if (!marks.length) return
    const stmt = this.db.prepare(`update queue_entries set state = 'applied', applied_at = ?, result = ?, conflict = null where id = ? and state = 'queued'`)
    const rebaseIp = this.db.prepare(
      `update queue_entries set args = json_set(args, '$.version', ?), based_on = json_set(based_on, '$.version', ?)
        where state = 'queued' and id > ? and operation in ('ipam.update', 'ipam.release')
          and json_extract(args, '$.ip') = ? and json_extract(args, '$.version') = ?`
    )
    const rebasePool = this.db.prepare(
      `update queue_entries set based_on = json_set(based_on, '$.poolUpdatedAt', ?)
        where state = 'queued' and id > ? and json_extract(based_on, '$.poolId') = ? and json_extract(based_on, '$.poolUpdatedAt') = ?`
    )
    this.db.transaction(() => {
      for (const m of marks) {
        stmt.run(m.appliedAt, JSON.stringify(m.result ?? null), m.id)
        if (m.rebase?.ip) rebaseIp.run(m.rebase.to, m.rebase.to, m.id, m.rebase.ip, m.rebase.from)
        if (m.rebase?.poolId) rebasePool.run(m.rebase.to, m.id, m.rebase.poolId, m.rebase.from)
      }
    })()
  }

  markConflict(id: number, conflict: QueueConflict): void {
    this.db
      .prepare(`update queue_entries set state = 'conflict', conflict = ?, attempts = attempts + 1, last_attempt_at = ? where id = ? and state = 'queued'`)
      .run(JSON.stringify(conflict), conflict.at, id)
  }

  noteAttempt(id: number): void {
    this.db.prepare(`update queue_entries set attempts = attempts + 1, last_attempt_at = ? where id = ?`).run(new Date().toISOString(), id)
  }

  // ---------------------------------------------------------------- last-known snapshot

  /** The last-known snapshot of one database (a connection's target label). */
  snapshot(target: string): TargetSnapshot {
    return new TargetSnapshot(this.db, target)
  }
}

/** The last-known pools and allocations of one target, read while that database is unreachable (stale.ts). */
export class TargetSnapshot {
  constructor(
    private readonly db: BetterSqlite3.Database,
    readonly target: string
  ) {}

  /** Saves pools (and, when given, replaces the allocations of those pools) as last known now. */
  rememberPools(pools: PoolDto[], allocations?: Map<string, AllocationDto[]>): void {
    const now = new Date().toISOString()
    const t = this.target
    const putPool = this.db.prepare(`insert into target_snapshot_pools (target, name, id, data, saved_at) values (?, ?, ?, ?, ?)
                                     on conflict (target, name) do update set id = excluded.id, data = excluded.data, saved_at = excluded.saved_at`)
    const dropAllocs = this.db.prepare(`delete from target_snapshot_allocations where target = ? and pool = ?`)
    const putAlloc = this.db.prepare(`insert into target_snapshot_allocations (target, ip, pool, data, saved_at) values (?, ?, ?, ?, ?)
                                      on conflict (target, ip) do update set pool = excluded.pool, data = excluded.data, saved_at = excluded.saved_at`)
    this.db.transaction(() => {
      for (const p of pools) {
        // A pool renamed since: its old name goes.
        this.db.prepare(`delete from target_snapshot_pools where target = ? and id = ? and name <> ?`).run(t, p.id, p.name)
        putPool.run(t, p.name, p.id, JSON.stringify(p), now)
        const list = allocations?.get(p.name)
        if (list) {
          dropAllocs.run(t, p.name)
          for (const a of list) putAlloc.run(t, a.ip, a.poolName, JSON.stringify(a), now)
        }
      }
      this.db
        .prepare(`insert into target_snapshot_meta (target, name, value) values (?, 'saved_at', ?) on conflict (target, name) do update set value = excluded.value`)
        .run(t, now)
    })()
  }

  /** Replaces the whole snapshot of this target (after a replay or a full refresh). */
  replace(pools: PoolDto[], allocations: Map<string, AllocationDto[]>): void {
    this.db.transaction(() => {
      this.db.prepare(`delete from target_snapshot_pools where target = ?`).run(this.target)
      this.db.prepare(`delete from target_snapshot_allocations where target = ?`).run(this.target)
      this.rememberPools(pools, allocations)
    })()
  }

  rememberAllocations(items: AllocationDto[]): void {
    const now = new Date().toISOString()
    const put = this.db.prepare(`insert into target_snapshot_allocations (target, ip, pool, data, saved_at) values (?, ?, ?, ?, ?)
                                 on conflict (target, ip) do update set pool = excluded.pool, data = excluded.data, saved_at = excluded.saved_at`)
    this.db.transaction(() => {
      for (const a of items) put.run(this.target, a.ip, a.poolName, JSON.stringify(a), now)
    })()
  }

  forgetAllocation(ip: string): void {
    this.db.prepare(`delete from target_snapshot_allocations where target = ? and ip = ?`).run(this.target, ip)
  }

  /** When this target's snapshot was last saved; null when it has none. */
  at(): string | null {
    const r = this.db.prepare(`select value from target_snapshot_meta where target = ? and name = 'saved_at'`).get(this.target) as { value: string } | undefined
    return r?.value ?? null
  }

  pools(): StaleSnapshot<PoolDto[]> | null {
    const rows = this.db.prepare(`select data, saved_at from target_snapshot_pools where target = ? order by name`).all(this.target) as { data: string; saved_at: string }[]
    const at = this.at()
    if (!at) return null
    return { stale: true, asOf: at, data: rows.map((r) => JSON.parse(r.data) as PoolDto) }
  }

  pool(ref: string | number): StaleSnapshot<PoolDto> | null {
    const t = this.target
    const r = (
      typeof ref === 'number' || /^\d+$/.test(String(ref))
        ? (this.db
            .prepare(`select data, saved_at from target_snapshot_pools where target = ? and (id = ? or name = ?) order by (id = ?) desc limit 1`)
            .get(t, Number(ref), String(ref), Number(ref)) as { data: string; saved_at: string } | undefined)
        : (this.db.prepare(`select data, saved_at from target_snapshot_pools where target = ? and name = ?`).get(t, String(ref).trim()) as
            | { data: string; saved_at: string }
            | undefined)
    )
    return r ? { stale: true, asOf: r.saved_at, data: JSON.parse(r.data) as PoolDto } : null
  }

  allocations(pool: string): StaleSnapshot<AllocationDto[]> | null {
    const p = this.pool(pool)
    if (!p) return null
    const rows = this.db.prepare(`select data from target_snapshot_allocations where target = ? and pool = ?`).all(this.target, p.data.name) as { data: string }[]
    const items = rows.map((r) => JSON.parse(r.data) as AllocationDto)
    return { stale: true, asOf: p.asOf, data: items }
  }

  allocation(ip: string): StaleSnapshot<AllocationDto> | null {
    let key = ip.trim().toLowerCase()
    try {
      key = parseIp(key).text
    } catch {
      return null
    }
    const r = this.db.prepare(`select data, saved_at from target_snapshot_allocations where target = ? and ip = ?`).get(this.target, key) as
      | { data: string; saved_at: string }
      | undefined
    return r ? { stale: true, asOf: r.saved_at, data: JSON.parse(r.data) as AllocationDto } : null
  }
}

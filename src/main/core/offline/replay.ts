/**
 * Replays the offline queue against an open Core: oldest first, each entry in its own transaction with its
 * audit row (source 'replay', with the time the edit was queued and the time it was applied) and its
 * idempotency key in offline_applied. The key commits with the change, so:
 *
 * - a replayer killed after the commit and before it marked the entry applied locally finds the key on the
 *   next run and marks the entry applied without applying it again;
 * - two replayers racing on one queue cannot both apply an entry: the second insert of the key finds it
 *   taken and rolls its whole change back.
 *
 * Local "applied" marks are therefore batched (one SQLite transaction per batch): losing them costs a
 * look-up, never a second application. Replayed transactions commit without waiting for the WAL flush;
 * the marks are written only after confirmDurable has flushed it and checked the keys are there. Queued
 * next-free allocations in a row go to the server in runs, one round trip each (replayRun). A refusal
 * (version moved, address taken, pool gone...) moves the entry to the conflicts list with both sides;
 * nothing is overwritten. An unreachable server stops the run and leaves the rest queued.
 *
 * Rights: an entry runs as the person stamped on it (who queued it, or who last retried or re-targeted
 * it: queue.ts), with their roles narrowed to the current role of the person replaying (`replayer`), never
 * more. An IPAM edit that needs more than that narrowed role but not more than its own stays queued for a
 * replay by someone who has the role (counted in heldForRole); one its own person lacks the role for is
 * refused by the service like any edit, and lands in the conflicts list.
 *
 * One file past ~500 lines on purpose: the run loop, the batched next-free runs, the durability check and
 * the rights rule share the run's state (marks not yet written, the replayer, the report being built), and
 * each is only correct together with the others' ordering; split apart they would pass that state around.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import type { AllocateInput, AllocationDto, PoolDto } from '../../../shared/ipam'
import type { OfflineEdit, QueueConflict, QueueEntryDto, ReplayReport } from '../../../shared/offline'
import type { Core } from '..'
import { capRoles, hasRole, makeContext, type RequestContext, type Role } from '../context'
import { isUnreachable, toAppError } from '../db/errors'
import type { LockedPool, MutationOptions, TransactionHook } from '../ipam/service'
import type { AppliedMark, OfflineQueue } from './queue'
import type { DirectoryScope } from '../directory/scope'
import { applyDirectoryEdit, directoryServerSide, summarizeDirectory } from './directory-edits'
import { isDirectoryOperation, type DirectoryEdit } from '../../../shared/offline'
import type { ObjectEdit } from '../../../shared/ipam-objects'

export interface ReplayOptions {
  /** Entries per batch: one key look-up, one durability confirmation and one local commit of "applied" marks per batch. */
  batchSize?: number
  /** Refresh the last-known snapshot after the run (default true). */
  refreshSnapshot?: boolean
  /** Awaited before each of that snapshot's queries (refreshSnapshot's yieldTo). */
  snapshotYieldTo?: () => Promise<void>
  /**
   * The directory scope to apply a directory edit under (the signed-in session of the person who queued it,
   * on the same profile), or null when there is none now: the edit then waits for a later replay.
   */
  directoryScope?: (e: QueueEntryDto) => Promise<DirectoryScope | null>
  /** Called after each entry (progress; the crash test uses it to be killed at random points). */
  onEntry?: (entry: QueueEntryDto, outcome: 'applied' | 'already' | 'conflict') => void
  /**
   * Who runs this replay, with their current roles: entries run with at most these roles. Absent when no
   * person asked (the app's replay at start or reconnect with nobody signed in): entries run with their own.
   */
  replayer?: { actor: string; roles: readonly Role[] }
}

/** The role each IPAM edit needs (IpamService's checks); directory edits run under their person's own session. */
const NEEDED: Partial<Record<QueueEntryDto['operation'], Role>> = {
  'ipam.allocate': 'operator',
  'ipam.update': 'operator',
  'ipam.release': 'operator',
  'ipam.pool.create': 'admin',
  'ipam.pool.update': 'admin',
  'ipam.pool.delete': 'admin',
  'ipam.holdRange': 'operator',
  'ipam.releaseMany': 'operator',
  'ipam.pool.nextBlock': 'admin',
  'ipam.pool.split': 'admin',
  'ipam.pool.merge': 'admin',
  'ipam.space.create': 'admin',
  'ipam.space.update': 'admin',
  'ipam.space.delete': 'admin',
  'ipam.range.add': 'admin',
  'ipam.range.remove': 'admin',
  'ipam.object': 'admin',
  'ipam.ip.tag': 'operator',
  'ipam.bulkEdit': 'operator'
}

/** The roles an entry runs with: its own, narrowed to the replayer's. */
const entryRoles = (e: QueueEntryDto, replayer: ReplayOptions['replayer']): Role[] => (replayer ? capRoles(e.roles as Role[], replayer.roles) : (e.roles as Role[]))

/** True when the entry's own roles allow it but the replayer's narrow them below what it needs: it waits. */
function heldForRole(e: QueueEntryDto, replayer: ReplayOptions['replayer']): boolean {
  const needed = NEEDED[e.operation]
  if (!needed || !replayer) return false
  return hasRole({ roles: e.roles as Role[] }, needed) && !hasRole({ roles: entryRoles(e, replayer) }, needed)
}

/** The only replayer on this data folder: a lock file holding the pid, taken over when that process is gone. */
function takeLock(dataDir: string): () => void {
  const file = path.join(dataDir, 'offline-replay.lock')
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 })
      return () => fs.rmSync(file, { force: true })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const pid = Number(fs.readFileSync(file, 'utf8').trim())
      let alive = false
      try {
        if (pid > 0 && pid !== process.pid) {
          process.kill(pid, 0)
          alive = true
        }
      } catch {
        alive = false
      }
      if (alive) throw new AppError('CONFLICT', `a replay of this offline queue is already running (process ${pid})`, { pid })
      // Left behind by a replayer that was killed: exactly-once does not depend on this lock, so take it.
      fs.rmSync(file, { force: true })
    }
  }
  throw new AppError('CONFLICT', 'could not take the offline replay lock')
}

function replayContext(e: QueueEntryDto, replayedAt: string, replayer: ReplayOptions['replayer']): RequestContext {
  return makeContext({
    actor: e.actor,
    roles: entryRoles(e, replayer),
    source: 'replay',
    // The key doubles as the request id: every audit row of this edit, success or refusal, carries it.
    requestId: e.idempotencyKey,
    replay: { idempotencyKey: e.idempotencyKey, queuedAt: e.createdAt, replayedAt }
  })
}

/** A compact result for offline_applied and the local entry, plus how later entries rebase on it. */
function summarize(e: QueueEntryDto, r: unknown): { result: Record<string, unknown>; rebase?: AppliedMark['rebase'] } {
  const args = e.args as Record<string, unknown>
  switch (e.operation) {
    case 'ipam.allocate': {
      const list = r as AllocationDto[]
      return { result: { allocations: list.map((a) => ({ id: a.id, ip: a.ip, pool: a.poolName, version: a.version })) } }
    }
    case 'ipam.update': {
      const a = r as AllocationDto
      const from = typeof args.version === 'number' ? args.version : undefined
      return {
        result: { id: a.id, ip: a.ip, version: a.version, ...(from !== undefined ? { rebase: { ip: a.ip, from, to: a.version } } : {}) },
        rebase: from !== undefined ? { ip: a.ip, from, to: a.version } : undefined
      }
    }
    case 'ipam.release': {
      const a = r as AllocationDto
      return { result: { released: { id: a.id, ip: a.ip, version: a.version } } }
    }
    case 'ipam.pool.create': {
      const p = r as PoolDto
      return { result: { pool: { id: p.id, name: p.name, network: p.network } } }
    }
    case 'ipam.pool.update': {
      const p = r as PoolDto
      const b = e.basedOn
      const rebase = b.poolId && b.poolUpdatedAt ? { poolId: b.poolId, from: b.poolUpdatedAt, to: p.updatedAt } : undefined
      return { result: { pool: { id: p.id, name: p.name, updatedAt: p.updatedAt }, ...(rebase ? { rebase } : {}) }, rebase }
    }
    case 'ipam.pool.delete': {
      const d = r as { pool: PoolDto; allocationsRemoved: number }
      return { result: { deleted: { id: d.pool.id, name: d.pool.name }, allocationsRemoved: d.allocationsRemoved } }
    }
    case 'ipam.holdRange':
    case 'ipam.releaseMany': {
      const x = r as { pool: string; items: { id: number; ip: string; version: number }[]; skipped: unknown[] }
      return { result: { pool: x.pool, allocations: x.items.map((a) => ({ id: a.id, ip: a.ip, version: a.version })), skipped: x.skipped.length } }
    }
    case 'ipam.pool.nextBlock':
      return { result: { pools: (r as PoolDto[]).map((p) => ({ id: p.id, name: p.name, network: p.network })) } }
    case 'ipam.pool.split': {
      const x = r as { container: PoolDto; children: PoolDto[]; moved: number }
      return { result: { split: x.container.name, children: x.children.map((p) => ({ id: p.id, name: p.name, network: p.network })), moved: x.moved } }
    }
    case 'ipam.pool.merge': {
      const x = r as { pool: PoolDto; removed: unknown[]; moved: number }
      return { result: { pool: { id: x.pool.id, name: x.pool.name, network: x.pool.network }, removed: x.removed, moved: x.moved } }
    }
    case 'ipam.space.create':
    case 'ipam.space.update':
    case 'ipam.space.delete': {
      const x = r as { id: number; name: string }
      return { result: { space: { id: x.id, name: x.name } } }
    }
    case 'ipam.object': {
      const x = r as { id?: number; name?: string } | { name: string }[]
      return { result: Array.isArray(x) ? { tags: x.map((t) => t.name) } : { id: x.id ?? null, name: x.name ?? null } }
    }
    case 'ipam.ip.tag':
      return { result: { changed: (r as { changed: string[] }).changed } }
    case 'ipam.bulkEdit': {
      const x = r as { pool: string; items: { ip: string; version: number }[]; unchanged: string[] }
      return { result: { pool: x.pool, changed: x.items.map((a) => ({ ip: a.ip, version: a.version })), unchanged: x.unchanged.length } }
    }
    case 'ipam.range.add':
    case 'ipam.range.remove': {
      const x = r as { id: number; poolName: string; first: string; last: string }
      return { result: { range: { id: x.id, pool: x.poolName, first: x.first, last: x.last } } }
    }
    default:
      return { result: summarizeDirectory(e, r) }
  }
}

async function apply(core: Core, e: QueueEntryDto, ctx: RequestContext, opts: MutationOptions, scope: DirectoryScope | null): Promise<unknown> {
  // The arguments were checked against the operation's schema when queued (and re-targeted); the
  // service validates them again.
  const edit = { operation: e.operation, args: e.args } as OfflineEdit
  if (isDirectoryOperation(edit.operation)) {
    // Under the session's bind, audited as this replay; the key is recorded once the directory took it.
    const r = await applyDirectoryEdit(core, { ...scope!, ctx: { ...ctx, actor: scope!.ctx.actor, roles: scope!.ctx.roles } }, edit as DirectoryEdit)
    await opts.inTransaction!(core.db.knex as unknown as Parameters<TransactionHook>[0], r)
    return r
  }
  switch (edit.operation) {
    case 'ipam.allocate':
      return core.ipam.allocate(ctx, edit.args, opts)
    case 'ipam.update':
      return core.ipam.updateAllocation(ctx, edit.args, opts)
    case 'ipam.release':
      return core.ipam.release(ctx, edit.args.ip, { version: edit.args.version, space: edit.args.space, ...opts })
    case 'ipam.pool.create':
      return core.ipam.createPool(ctx, edit.args, opts)
    case 'ipam.pool.update':
      return core.ipam.updatePool(ctx, edit.args.pool, edit.args.changes, opts)
    case 'ipam.pool.delete':
      return core.ipam.deletePool(ctx, edit.args.pool, { force: edit.args.force, ...opts })
    case 'ipam.holdRange':
      return core.ipam.holdRange(ctx, edit.args, opts)
    case 'ipam.releaseMany':
      return core.ipam.releaseMany(ctx, edit.args, opts)
    case 'ipam.pool.nextBlock':
      return core.ipam.nextBlock(ctx, edit.args, opts)
    case 'ipam.pool.split':
      return core.ipam.splitPool(ctx, edit.args, opts)
    case 'ipam.pool.merge':
      return core.ipam.mergePools(ctx, edit.args, opts)
    case 'ipam.space.create':
      return core.ipam.createSpace(ctx, edit.args, opts)
    case 'ipam.space.update':
      return core.ipam.updateSpace(ctx, edit.args.space, edit.args.changes, opts)
    case 'ipam.space.delete':
      return core.ipam.deleteSpace(ctx, edit.args.space, opts)
    case 'ipam.range.add':
      return core.ipam.addRange(ctx, edit.args, opts)
    case 'ipam.range.remove':
      return core.ipam.removeRange(ctx, edit.args, opts)
    case 'ipam.object':
      return applyObjectEdit(core, ctx, edit.args, opts)
    case 'ipam.ip.tag':
      return core.ipam.tagAllocations(ctx, edit.args.input, edit.args.remove, opts)
    case 'ipam.bulkEdit':
      return core.ipam.bulkEdit(ctx, edit.args, opts)
  }
}

/**
 * Pools carry no version: a pool edit made against a known state is refused when the pool changed since
 * (its updated_at moved, or it is another pool under that name). The service calls this with the pool row
 * locked FOR UPDATE in the change's own transaction, so the check and the change are atomic.
 */
function poolBasisCheck(e: QueueEntryDto): MutationOptions['beforeChange'] {
  const b = e.basedOn
  if (!b.poolUpdatedAt) return undefined
  return async (_trx, now: LockedPool) => {
    if (now.updatedAt !== b.poolUpdatedAt || (b.poolId !== undefined && now.id !== b.poolId)) {
      throw new AppError('CONFLICT', `pool: "${now.name}" was changed at ${now.updatedAt}, after the state this edit was made against (${b.poolUpdatedAt})`, {
        field: 'pool'
      })
    }
  }
}

/** What the server has now at the entry's target, for the conflicts list. Never throws. */
async function serverSide(core: Core, e: QueueEntryDto, ctx: RequestContext, scope: DirectoryScope | null): Promise<unknown> {
  const a = e.args as Record<string, unknown>
  if (isDirectoryOperation(e.operation)) return scope ? directoryServerSide(core, scope, e) : null
  try {
    if (e.operation === 'ipam.update' || e.operation === 'ipam.release' || (e.operation === 'ipam.allocate' && a.ip)) {
      return await core.ipam.getAllocation(ctx, String(a.ip))
    }
    if (e.operation === 'ipam.allocate' || e.operation === 'ipam.pool.update' || e.operation === 'ipam.pool.delete') {
      return await core.ipam.getPool(ctx, a.pool as string | number)
    }
    if (e.operation === 'ipam.pool.create') {
      const page = await core.ipam.listPools(ctx, { search: String(a.name), pageSize: 5 })
      return page.items.find((p) => p.name === a.name) ?? null
    }
  } catch (err) {
    if (err instanceof AppError && err.code === 'NOT_FOUND') return null
    return { unreadable: (err as Error).message }
  }
  return null
}

/** Keys of the batch already recorded in PostgreSQL, with the result stored there. */
async function appliedKeys(knex: Knex, keys: string[]): Promise<Map<string, { result: Record<string, unknown> | null; appliedAt: string }>> {
  if (!keys.length) return new Map()
  const r = await knex.raw<{ rows: { k: string; result: Record<string, unknown> | null; applied_at: Date }[] }>(
    `select idempotency_key::text as k, result, applied_at from offline_applied where idempotency_key = any(?::uuid[])`,
    [keys]
  )
  return new Map(r.rows.map((x) => [x.k, { result: x.result, appliedAt: new Date(x.applied_at).toISOString() }]))
}

/**
 * Confirms that what `keys` stand for is durable on the server, and returns the keys it holds.
 *
 * Replayed changes commit with synchronous_commit off (their commit does not wait for the WAL flush, which
 * is most of a commit's time on a real disk): each is still one atomic transaction with its key, and a
 * replayer killed at any point leaves the server with every change it committed. A *server* crash could
 * lose the last of them, though, so no entry is marked applied locally before this: one statement that
 * writes (an UPDATE of one of the rows always writes WAL) and commits synchronously, which flushes the WAL
 * up to its own commit record and so every commit before it, ours included; it reads which keys the server
 * holds in the same statement. A key it does not hold was lost with a server crash: its entry stays queued.
 */
async function confirmDurable(knex: Knex, keys: string[]): Promise<Set<string>> {
  const r = await knex.raw<{ rows: { k: string }[] }>(
    `with present as (select idempotency_key from offline_applied where idempotency_key = any(?::uuid[])),
          flush as (update offline_applied set applied_at = applied_at where idempotency_key = (select idempotency_key from present limit 1))
     -- Flushed even where synchronous_commit is off for the whole server ('local': this server's WAL).
     select idempotency_key::text as k,
            case when current_setting('synchronous_commit') = 'off' then set_config('synchronous_commit', 'local', true) end as sync_commit
       from present`,
    [keys]
  )
  return new Set(r.rows.map((x) => x.k))
}

/** Longest run of next-free allocations replayRun sends in one round trip. */
const RUN_MAX = 100

const isNextFree = (e: QueueEntryDto): boolean => e.operation === 'ipam.allocate' && !(e.args as { ip?: unknown }).ip

/** The queued next-free allocations from batch[i] on, in a row, not known to be applied yet; none unless two or more. */
function runFrom(batch: QueueEntryDto[], i: number, known: Map<string, unknown>, max: number, replayer: ReplayOptions['replayer']): QueueEntryDto[] {
  let j = i
  while (j < batch.length && j - i < max && isNextFree(batch[j]!) && !known.has(batch[j]!.idempotencyKey) && !heldForRole(batch[j]!, replayer)) j++
  return j - i >= 2 ? batch.slice(i, j) : []
}

/**
 * Replays a run of next-free allocations in one round trip (IpamService.allocateNextRun): each is still its
 * own transaction with its audit row and key, in queue order, through the same SQL function and checks as
 * when replayed alone. Calls `applied` for each entry applied, in order, and returns those entries: a prefix
 * of the run, empty when the run applied nothing. When the server stops the run with an error, the entries
 * before the failing one are committed: found by their keys (with the result stored there). Throws when
 * the database is unreachable (nothing is marked then: the next run looks the keys up).
 */
async function replayRun(
  core: Core,
  run: QueueEntryDto[],
  replayer: ReplayOptions['replayer'],
  applied: (e: QueueEntryDto, mark: Pick<AppliedMark, 'result' | 'appliedAt' | 'rebase'>) => void
): Promise<QueueEntryDto[]> {
  if (!run.length) return []
  const replayedAt = new Date().toISOString()
  const items = run.map((e) => ({
    ctx: replayContext(e, replayedAt, replayer),
    input: e.args as AllocateInput,
    replay: { key: e.idempotencyKey, operation: e.operation, actor: e.actor, queuedAt: e.createdAt }
  }))
  try {
    const results = await core.ipam.allocateNextRun(items)
    const at = new Date().toISOString()
    results.forEach((r, i) => {
      const s = summarize(run[i]!, r)
      applied(run[i]!, { result: s.result, appliedAt: at, rebase: s.rebase })
    })
    return run.slice(0, results.length)
  } catch (err) {
    if (isUnreachable(err)) throw err
    const found = await appliedKeys(
      core.db.knex,
      run.map((e) => e.idempotencyKey)
    )
    const done: QueueEntryDto[] = []
    for (const e of run) {
      const f = found.get(e.idempotencyKey)
      if (!f) break
      // The stored result is the one summarize() gives for an allocation (see ipam_allocate_next_keyed).
      applied(e, { result: f.result, appliedAt: f.appliedAt })
      done.push(e)
    }
    return done
  }
}

/** True when a rebase among the marks may change this entry's arguments or basis (markApplied's rules, widened). */
function rebasedBy(marks: AppliedMark[], e: QueueEntryDto): boolean {
  const ip = (e.args as { ip?: unknown }).ip
  return marks.some((m) => m.rebase && ((m.rebase.ip !== undefined && m.rebase.ip === ip) || (m.rebase.poolId !== undefined && m.rebase.poolId === e.basedOn.poolId)))
}

const alreadyApplied = (err: unknown): boolean => err instanceof AppError && err.details?.reason === 'already-applied'

export async function replayQueue(core: Core, queue: OfflineQueue, opts: ReplayOptions = {}): Promise<ReplayReport> {
  const started = performance.now()
  const target = core.db.target.label
  const knex = core.db.knex
  const batchSize = opts.batchSize ?? 200
  const report: ReplayReport = { applied: 0, alreadyApplied: 0, conflicts: 0, otherTarget: queue.countOtherTargets(target), waiting: 0, heldForRole: 0, stopped: null, remaining: 0, ms: 0 }
  /** Why directory edits wait this run (no session, the directory is unreachable), once known. */
  let directoryDown: string | null = null
  const release = takeLock(core.dataDir)
  try {
    let afterId = 0
    outer: for (;;) {
      const batch = queue.pending(target, batchSize, afterId)
      if (!batch.length) break
      const known = await appliedKeys(
        knex,
        batch.map((e) => e.idempotencyKey)
      )
      type Mark = AppliedMark & { key: string; outcome: 'applied' | 'already' }
      const marks: Mark[] = []
      /** Confirms the marks' keys durable on the server, then commits the marks locally; false: stop the run. */
      const flush = async (): Promise<boolean> => {
        const ready = marks.splice(0)
        if (!ready.length) return true
        let present: Set<string>
        try {
          present = await confirmDurable(
            knex,
            ready.map((m) => m.key)
          )
        } catch (err) {
          // Nothing is marked: the next run finds the committed keys by their look-up.
          report.stopped ??= `the database became unreachable while confirming edits up to #${ready.at(-1)!.id}: ${toAppError(err).message}`
          return false
        }
        const lost = ready.filter((m) => !present.has(m.key))
        queue.markApplied(lost.length ? ready.filter((m) => present.has(m.key)) : ready)
        if (!lost.length) return true
        for (const m of lost) report[m.outcome === 'applied' ? 'applied' : 'alreadyApplied']--
        report.stopped = `the database no longer holds ${lost.length} edit(s) this run applied (from #${lost[0]!.id}; did the server restart?): they stay queued`
        return false
      }
      let solo = -1
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i]!
        afterId = e.id
        const done = known.get(e.idempotencyKey)
        if (done) {
          const rebase = done.result?.rebase as AppliedMark['rebase'] | undefined
          marks.push({ id: e.id, key: e.idempotencyKey, result: done.result, appliedAt: done.appliedAt, rebase, outcome: 'already' })
          report.alreadyApplied++
          opts.onEntry?.(e, 'already')
          continue
        }
        if (heldForRole(e, opts.replayer)) {
          // Needs a role the person replaying does not have: left queued, not tried (no refusal recorded).
          report.heldForRole++
          continue
        }
        // Queued next-free allocations in a row go to the server together (see replayRun); the one that stops
        // a run is replayed alone below.
        if (e.id !== solo) {
          const planned = runFrom(batch, i, known, RUN_MAX, opts.replayer)
          let run: QueueEntryDto[]
          try {
            run = await replayRun(core, planned, opts.replayer, (entry, mark) => {
              marks.push({ id: entry.id, key: entry.idempotencyKey, ...mark, outcome: 'applied' })
              report.applied++
              opts.onEntry?.(entry, 'applied')
            })
          } catch (err) {
            await flush()
            queue.noteAttempt(e.id)
            report.stopped = `replay stopped at edit #${e.id}: ${toAppError(err).message}`
            break outer
          }
          if (run.length) {
            i += run.length - 1
            afterId = batch[i]!.id
            if (run.length < planned.length) solo = batch[i + 1]!.id
            continue
          }
        }
        // A rebase from an earlier entry of this batch changes this one's arguments: commit the marks first.
        if (rebasedBy(marks, e)) {
          if (!(await flush())) break outer
          Object.assign(e, queue.get(e.id))
          if (e.state !== 'queued') continue
        }
        let scope: DirectoryScope | null = null
        if (isDirectoryOperation(e.operation)) {
          scope = directoryDown ? null : ((await opts.directoryScope?.(e)) ?? null)
          if (!scope) {
            // Left queued for a replay that has the person's directory session (the app, signed in).
            report.waiting++
            continue
          }
        }
        const replayedAt = new Date().toISOString()
        const ctx = replayContext(e, replayedAt, opts.replayer)
        let duplicate = false
        let summary: ReturnType<typeof summarize> | undefined
        const hook: TransactionHook = async (trx, result) => {
          summary = summarize(e, result)
          // Committed without waiting for the WAL flush, like the fast path (see confirmDurable).
          const ins = await trx.raw<{ rows: unknown[] }>(
            `insert into offline_applied (idempotency_key, operation, actor, queued_at, result) values (?::uuid, ?, ?, ?::timestamptz, ?::jsonb)
             on conflict (idempotency_key) do nothing returning idempotency_key, set_config('synchronous_commit', 'off', true) as async_commit`,
            [e.idempotencyKey, e.operation, e.actor, e.createdAt, JSON.stringify(summary.result)]
          )
          if (!ins.rows.length) {
            // Another replayer committed this key since our look-up: roll this change back.
            duplicate = true
            throw new Error(`offline edit ${e.idempotencyKey} was applied by another replayer`)
          }
        }
        const mutation: MutationOptions = {
          inTransaction: hook,
          // Next-free and explicit allocations record the key inside their one statement instead of calling the hook.
          replay: { key: e.idempotencyKey, operation: e.operation, actor: e.actor, queuedAt: e.createdAt },
          beforeChange: poolBasisCheck(e)
        }
        try {
          const result = await apply(core, e, ctx, mutation, scope)
          summary ??= summarize(e, result)
          marks.push({ id: e.id, key: e.idempotencyKey, result: summary.result, appliedAt: new Date().toISOString(), rebase: summary.rebase, outcome: 'applied' })
          report.applied++
          opts.onEntry?.(e, 'applied')
        } catch (err) {
          if (duplicate || alreadyApplied(err)) {
            const again = (await appliedKeys(knex, [e.idempotencyKey])).get(e.idempotencyKey)
            marks.push({ id: e.id, key: e.idempotencyKey, result: again?.result ?? null, appliedAt: again?.appliedAt ?? new Date().toISOString(), outcome: 'already' })
            report.alreadyApplied++
            opts.onEntry?.(e, 'already')
            continue
          }
          if (isUnreachable(err) || (err instanceof AppError && err.code === 'UNAVAILABLE')) {
            await flush()
            queue.noteAttempt(e.id)
            report.stopped = `the database became unreachable at edit #${e.id}: ${toAppError(err).message}`
            break outer
          }
          const appErr = toAppError(err)
          if (scope && appErr.code === 'UNAVAILABLE') {
            // The directory went away (or the outcome of this write is unknown): this and the later
            // directory edits wait for the next replay; the directory refuses a repeat of a write it took.
            directoryDown = appErr.message
            queue.noteAttempt(e.id)
            report.waiting++
            continue
          }
          const flushed = await flush()
          const conflict: QueueConflict = {
            code: appErr.code,
            message: appErr.message,
            ...(typeof appErr.details?.field === 'string' ? { field: appErr.details.field } : {}),
            queued: e.args,
            server: await serverSide(core, e, ctx, scope),
            at: new Date().toISOString()
          }
          queue.markConflict(e.id, conflict)
          report.conflicts++
          opts.onEntry?.(e, 'conflict')
          if (!flushed) break outer
        }
      }
      if (!(await flush())) break
    }
  } finally {
    release()
  }
  report.remaining = queue.countPending(target)
  if (opts.refreshSnapshot !== false && !report.stopped) await refreshSnapshot(core, queue, undefined, opts.snapshotYieldTo).catch(() => undefined)
  report.ms = Math.round(performance.now() - started)
  return report
}

/**
 * Saves every pool and (up to `maxAllocations` in all) their allocations as the last-known snapshot,
 * read while the database is unreachable (marked stale, with this time).
 */
export async function refreshSnapshot(
  core: Core,
  queue: OfflineQueue,
  maxAllocations = 200_000,
  /** Awaited before each query: a host lets the window's requests go first (ipc/first-screen.ts). */
  yieldTo: () => Promise<void> = async () => undefined
): Promise<{ pools: number; allocations: number }> {
  const ctx = makeContext({ actor: 'netkeeper (offline snapshot)', roles: ['viewer'], source: 'cli' })
  const pools: PoolDto[] = []
  for (let page = 1; ; page++) {
    await yieldTo()
    const r = await core.ipam.listPools(ctx, { page, pageSize: 500 })
    pools.push(...r.items)
    if (pools.length >= r.total || !r.items.length) break
  }
  const allocations = new Map<string, AllocationDto[]>()
  let budget = maxAllocations
  for (const p of pools) {
    if (budget <= 0) break
    const list: AllocationDto[] = []
    for (let page = 1; budget > 0; page++) {
      await yieldTo()
      const r = await core.ipam.listAllocations(ctx, p.id, { page, pageSize: Math.min(65536, budget) })
      list.push(...r.items)
      budget -= r.items.length
      if (list.length >= r.total || !r.items.length) break
    }
    allocations.set(p.name, list)
  }
  queue.snapshot(core.db.target.label).replace(pools, allocations)
  return { pools: pools.length, allocations: [...allocations.values()].reduce((n, l) => n + l.length, 0) }
}

/** Runs a queued site / VLAN / tag / field edit (or, from the app and the CLI, the same edit online). */
export function applyObjectEdit(core: Core, ctx: RequestContext, e: ObjectEdit, opts: MutationOptions = {}): Promise<unknown> {
  const m = core.ipam
  switch (e.action) {
    case 'site.add':
      return m.createSite(ctx, e.input, opts)
    case 'site.update':
      return m.updateSite(ctx, e.ref, e.input, opts)
    case 'site.remove':
      return m.deleteSite(ctx, e.ref, opts)
    case 'vlanGroup.add':
      return m.createVlanGroup(ctx, e.input, opts)
    case 'vlanGroup.remove':
      return m.deleteVlanGroup(ctx, e.ref, opts)
    case 'vlan.add':
      return m.createVlan(ctx, e.input, opts)
    case 'vlan.update':
      return m.updateVlan(ctx, e.ref, e.input, opts)
    case 'vlan.remove':
      return m.deleteVlan(ctx, e.ref, opts)
    case 'tag.add':
      return m.createTag(ctx, e.input, opts)
    case 'tag.update':
      return m.updateTag(ctx, e.ref, e.input, opts)
    case 'tag.remove':
      return m.deleteTag(ctx, e.ref, opts)
    case 'pool.tag':
      return m.tagPool(ctx, e.input, e.remove, opts)
    case 'field.add':
      return m.createField(ctx, e.input, opts)
    case 'field.remove':
      return m.removeField(ctx, e.input, opts)
  }
}

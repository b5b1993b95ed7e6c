/**
 * The offline side of a long-running host (the app, the browser harness): one health monitor for the
 * database, fed by every request's outcome and probing with backoff while it is down; the durable queue
 * for edits made meanwhile; a replay when the database comes back (and at start, for edits queued by the
 * CLI or an earlier run); and the last-known snapshot of pools and allocations, refreshed at start, after
 * each replay and every few minutes, which the reads fall back on while offline (stale.ts).
 *
 * Electron-free: the Electron main process and the harness both build it through CoreHost.
 */
import net from 'node:net'
import { AppError } from '../../../shared/errors'
import type { OfflineEdit, OfflineStateDto, QueuedEdit, ReplayReport, ReplayTrigger } from '../../../shared/offline'
import type { Core } from '..'
import { makeContext, type RequestContext } from '../context'
import { toAppError } from '../db/errors'
import { HealthMonitor, type HealthMonitorOptions } from './health'
import { OfflineQueue } from './queue'
import { refreshSnapshot, replayQueue } from './replay'

export interface OfflineRuntimeOptions {
  /** Replay the queue when the database comes back and at start (default true). */
  autoReplay?: boolean
  /** How often the last-known snapshot is refreshed while online; 0 disables (default 10 minutes). */
  snapshotEveryMs?: number
  monitor?: Partial<HealthMonitorOptions>
}

export function withQueueAt<T>(dataDir: string, fn: (q: OfflineQueue) => T): T {
  const q = OfflineQueue.open(dataDir)
  try {
    return fn(q)
  } finally {
    q.close()
  }
}

/** The reply of a mutating channel whose edit was queued. */
export function queuedReply(
  q: OfflineQueue,
  ctx: RequestContext,
  edit: OfflineEdit,
  target: string,
  why: string,
  extra: Parameters<OfflineQueue['enqueue']>[3] = {},
  backend: 'database' | 'directory' = 'database'
): QueuedEdit {
  const entry = q.enqueue(ctx, edit, target, extra)
  return {
    status: 'queued',
    // The note names the edit and its caveats (a next-free request takes whatever is free at replay...).
    message: `Queued as #${entry.id}, not done yet: ${entry.note.replace(/^queued, not done: /, '')}. The ${backend} is unreachable (${why}); the edit is applied when it is back.`,
    entry
  }
}

/** A directory error that says the server could not be reached (or the connection to it was lost). */
export function isDirectoryUnreachable(e: unknown): boolean {
  return e instanceof AppError && e.code === 'UNAVAILABLE' && ['unreachable', 'connection-lost', 'timeout'].includes(String(e.details?.kind))
}

/** Resolves when a TCP connection to the LDAP URL's host and port opens (no bind: it only asks "is it up?"). */
export function tcpProbe(url: string, timeoutMs = 3000): Promise<void> {
  const u = new URL(url)
  const port = Number(u.port) || (u.protocol === 'ldaps:' ? 636 : 389)
  const host = u.hostname.replace(/^\[|\]$/g, '')
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port })
    const done = (e?: Error): void => {
      sock.destroy()
      if (e) reject(e)
      else resolve()
    }
    sock.setTimeout(timeoutMs, () => done(Object.assign(new Error(`connect ETIMEDOUT ${host}:${port}`), { code: 'ETIMEDOUT' })))
    sock.once('connect', () => done())
    sock.once('error', (e) => done(e))
  })
}

export class OfflineRuntime {
  readonly monitor: HealthMonitor
  /** The directory of the signed-in session (a TCP probe of its server; nothing to probe when signed out). */
  readonly directory: HealthMonitor
  private running?: Promise<ReplayReport>
  private last: OfflineStateDto['lastReplay'] = null
  private lastError: string | null = null
  private snapTimer?: NodeJS.Timeout
  private started = false
  /** Awaited between a snapshot's queries: the window's requests go first (start()). */
  private yieldTo?: () => Promise<void>
  private closed = false
  private readonly unsubscribe: () => void

  constructor(
    private readonly core: Core,
    private readonly opts: OfflineRuntimeOptions = {}
  ) {
    const knex = core.db.knex
    this.monitor = new HealthMonitor({ probe: async () => void (await knex.raw('select 1')), ...opts.monitor })
    this.directory = new HealthMonitor({
      probe: async () => {
        const s = core.auth.sessionInfo()
        if (s) await tcpProbe(s.url)
      },
      unreachable: isDirectoryUnreachable,
      ...opts.monitor
    })
    const onBack = (online: boolean): void => {
      if (online && this.opts.autoReplay !== false) void this.replay('reconnect').catch(() => undefined)
    }
    const offDb = this.monitor.onChange(onBack)
    const offDir = this.directory.onChange(onBack)
    // A new primary was found after a failover: probe now, so queued edits replay without waiting for the backoff.
    const offPrimary =
      core.db.tracker?.onChange((s) => {
        if (s.host && this.started && !this.closed) void this.monitor.check()
      }) ?? (() => undefined)
    this.unsubscribe = () => {
      offDb()
      offDir()
      offPrimary()
    }
  }

  get target(): string {
    return this.core.db.target.label
  }

  /**
   * Starts probing, replays what is already queued for this database, and keeps the snapshot fresh. A host
   * with a window passes `background`: the start-up replay or snapshot waits for `after` (the first screen
   * served), and every snapshot steps aside for the window's requests between its queries (`idle`).
   */
  start(background: { after?: Promise<void>; idle?: () => Promise<void> } = {}): void {
    if (this.started || this.closed) return
    this.yieldTo = background.idle
    this.started = true
    this.monitor.start()
    this.directory.start()
    const every = this.opts.snapshotEveryMs ?? 10 * 60_000
    if (every > 0) {
      this.snapTimer = setInterval(() => {
        if (this.monitor.online !== false && !this.running) void this.refresh().catch(() => undefined)
      }, every)
      this.snapTimer.unref()
    }
    void (async () => {
      await background.after
      if (this.closed) return
      const pending = this.withQueue((q) => q.pending(this.target, 1).length)
      if (pending && this.opts.autoReplay !== false) await this.replay('startup')
      else await this.refresh()
    })().catch((e) => {
      // A snapshot cut short because the app is closing is no failure worth a line.
      if (!this.closed) console.error('[offline] start-up replay or snapshot failed:', toAppError(e).message)
    })
  }

  withQueue<T>(fn: (q: OfflineQueue) => T): T {
    return withQueueAt(this.core.dataDir, fn)
  }

  async refresh(): Promise<{ pools: number; allocations: number }> {
    const q = OfflineQueue.open(this.core.dataDir)
    try {
      return await refreshSnapshot(this.core, q, undefined, this.yieldTo)
    } finally {
      q.close()
    }
  }

  state(): OfflineStateDto {
    return this.withQueue((q) => ({
      database: this.monitor.state(),
      failover: this.core.db.failover() ?? null,
      directory: this.core.auth.sessionInfo() ? this.directory.state() : null,
      queue: q.counts(),
      snapshotAt: q.snapshot(this.target).at(),
      replaying: !!this.running,
      lastReplay: this.last,
      lastReplayError: this.lastError
    }))
  }

  enqueue(ctx: RequestContext, edit: OfflineEdit): QueuedEdit {
    const why = this.monitor.state().lastError ?? 'no answer'
    return this.withQueue((q) => queuedReply(q, ctx, edit, this.target, why))
  }

  /**
   * Whether an edit whose connection dropped mid-command (its commit may or may not have landed) was
   * applied, on a connection that follows the primary: waits up to `waitMs` for a primary, then looks for a
   * successful audit row with the edit's request id (the audit row commits in the same transaction as the
   * change, and a promoted standby has every commit the old primary sent). 'unknown' when there is no
   * primary to ask, or the connection has one host.
   */
  async fateOf(requestId: string, waitMs?: number): Promise<{ state: 'applied'; seq: string } | { state: 'not-applied' } | { state: 'unknown' }> {
    const tracker = this.core.db.tracker
    const spec = this.core.db.spec
    if (!tracker || spec.kind !== 'postgresql') return { state: 'unknown' }
    try {
      // Longer than an acquire: a promotion takes seconds, and a definite answer beats "it may have landed".
      await tracker.primary(waitMs ?? Math.max(spec.pool.acquireTimeoutMs, 30_000))
      const r = await this.core.db.knex.raw<{ rows: { seq: string }[] }>(
        `select seq::text as seq from audit_logs where request_id = ? and status = 'success' order by seq limit 1`,
        [requestId]
      )
      return r.rows[0] ? { state: 'applied', seq: r.rows[0].seq } : { state: 'not-applied' }
    } catch {
      return { state: 'unknown' }
    }
  }

  /** Someone is signed in to the directory (and unlocked): their edits can be queued. */
  directorySignedIn(): boolean {
    const s = this.core.auth.sessionInfo()
    return !!s && !s.locked
  }

  /** Queues a directory edit of the signed-in person, for their profile; refuses when nobody is signed in. */
  enqueueDirectory(ctx: RequestContext, edit: OfflineEdit): QueuedEdit {
    const s = this.core.auth.sessionInfo()
    if (!s) throw new AppError('FORBIDDEN', 'the directory needs a sign-in first', { kind: 'no-session' })
    const why = this.directory.state().lastError ?? 'no answer'
    const who = { ...ctx, actor: s.actor, roles: [s.role] }
    return this.withQueue((q) => queuedReply(q, who, edit, this.target, why, { profile: s.profile }, 'directory'))
  }

  /**
   * One replay at a time in this process; a second caller shares the running one. `by` is the person who
   * asked for it (a manual replay); the automatic ones run for the signed-in person, when there is one.
   * Either way entries run with at most that person's current role (replay.ts); with nobody, with their own.
   */
  replay(trigger: ReplayTrigger, by?: Pick<RequestContext, 'actor' | 'roles'>): Promise<ReplayReport> {
    if (this.closed) return Promise.reject(new AppError('UNAVAILABLE', 'the application is shutting down'))
    const s = this.core.auth.sessionInfo()
    const replayer = by ? { actor: by.actor, roles: by.roles } : s ? { actor: s.actor, roles: [s.role] } : undefined
    this.running ??= (async () => {
      const q = OfflineQueue.open(this.core.dataDir)
      try {
        const r = await replayQueue(this.core, q, {
          replayer,
          snapshotYieldTo: this.yieldTo,
          directoryScope: async (e) =>
            this.core.auth.replayScope(e.actor, e.basedOn.profile, makeContext({ actor: e.actor, roles: ['viewer'], source: 'replay' }))
        })
        this.last = { ...r, at: new Date().toISOString(), trigger }
        this.lastError = null
        if (r.stopped) this.monitor.observe(new AppError('UNAVAILABLE', r.stopped, { reason: 'unreachable' }))
        else this.monitor.observeSuccess()
        return r
      } catch (e) {
        this.lastError = toAppError(e).message
        this.monitor.observe(e)
        throw e
      } finally {
        q.close()
        this.running = undefined
      }
    })()
    return this.running
  }

  async close(): Promise<void> {
    this.closed = true
    this.unsubscribe()
    this.monitor.stop()
    this.directory.stop()
    if (this.snapTimer) clearInterval(this.snapTimer)
    await this.running?.catch(() => undefined)
  }
}

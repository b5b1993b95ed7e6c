/**
 * The offline side of a long-running host (the app, the browser harness): one health monitor for the
 * database, fed by every request's outcome and probing with backoff while it is down; the durable queue
 * for edits made meanwhile; a replay when the database comes back (and at start, for edits queued by the
 * CLI or an earlier run); and the last-known snapshot of pools and allocations, refreshed at start, after
 * each replay and every few minutes, which the reads fall back on while offline (stale.ts).
 *
 * Electron-free: the Electron main process and the harness both build it through CoreHost.
 */
import { AppError } from '../../../shared/errors'
import type { OfflineEdit, OfflineStateDto, QueuedEdit, ReplayReport, ReplayTrigger } from '../../../shared/offline'
import type { Core } from '..'
import type { RequestContext } from '../context'
import { toAppError } from '../db/errors'
import { HealthMonitor, type HealthMonitorOptions } from './health'
import { describeEdit, OfflineQueue } from './queue'
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
export function queuedReply(q: OfflineQueue, ctx: RequestContext, edit: OfflineEdit, target: string, why: string): QueuedEdit {
  const entry = q.enqueue(ctx, edit, target)
  return {
    status: 'queued',
    message: `Queued as #${entry.id}, not done yet: ${describeEdit(entry, entry.basedOn)}. The database is unreachable (${why}); the edit is applied when it is back.`,
    entry
  }
}

export class OfflineRuntime {
  readonly monitor: HealthMonitor
  private running?: Promise<ReplayReport>
  private last: OfflineStateDto['lastReplay'] = null
  private lastError: string | null = null
  private snapTimer?: NodeJS.Timeout
  private started = false
  private closed = false
  private readonly unsubscribe: () => void

  constructor(
    private readonly core: Core,
    private readonly opts: OfflineRuntimeOptions = {}
  ) {
    const knex = core.db.knex
    this.monitor = new HealthMonitor({ probe: async () => void (await knex.raw('select 1')), ...opts.monitor })
    this.unsubscribe = this.monitor.onChange((online) => {
      if (online && this.opts.autoReplay !== false) void this.replay('reconnect').catch(() => undefined)
    })
  }

  get target(): string {
    return this.core.db.target.label
  }

  /** Starts probing, replays what is already queued for this database, and keeps the snapshot fresh. */
  start(): void {
    if (this.started || this.closed) return
    this.started = true
    this.monitor.start()
    const every = this.opts.snapshotEveryMs ?? 10 * 60_000
    if (every > 0) {
      this.snapTimer = setInterval(() => {
        if (this.monitor.online !== false && !this.running) void this.refresh().catch(() => undefined)
      }, every)
      this.snapTimer.unref()
    }
    void (async () => {
      const pending = this.withQueue((q) => q.pending(this.target, 1).length)
      if (pending && this.opts.autoReplay !== false) await this.replay('startup')
      else await this.refresh()
    })().catch((e) => console.error('[offline] start-up replay or snapshot failed:', toAppError(e).message))
  }

  withQueue<T>(fn: (q: OfflineQueue) => T): T {
    return withQueueAt(this.core.dataDir, fn)
  }

  async refresh(): Promise<{ pools: number; allocations: number }> {
    const q = OfflineQueue.open(this.core.dataDir)
    try {
      return await refreshSnapshot(this.core, q)
    } finally {
      q.close()
    }
  }

  state(): OfflineStateDto {
    return this.withQueue((q) => ({
      database: this.monitor.state(),
      queue: q.counts(),
      snapshotAt: q.snapshotAt(),
      replaying: !!this.running,
      lastReplay: this.last,
      lastReplayError: this.lastError
    }))
  }

  enqueue(ctx: RequestContext, edit: OfflineEdit): QueuedEdit {
    const why = this.monitor.state().lastError ?? 'no answer'
    return this.withQueue((q) => queuedReply(q, ctx, edit, this.target, why))
  }

  /** One replay at a time in this process; a second caller shares the running one. */
  replay(trigger: ReplayTrigger): Promise<ReplayReport> {
    if (this.closed) return Promise.reject(new AppError('UNAVAILABLE', 'the application is shutting down'))
    this.running ??= (async () => {
      const q = OfflineQueue.open(this.core.dataDir)
      try {
        const r = await replayQueue(this.core, q)
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
    if (this.snapTimer) clearInterval(this.snapTimer)
    await this.running?.catch(() => undefined)
  }
}

/**
 * Is the database reachable? A small monitor for long-running hosts (the app): anything that sees a
 * connection-level failure reports it (`observe`), which marks the backend offline and starts probing with
 * exponential backoff (with jitter, capped); the first probe that succeeds marks it online again and tells
 * the listeners (the app replays the queue then). While online it probes at a slow, steady interval so a
 * quiet app still notices an outage. `state()` is what the app polls (IPC `offline:state`).
 */
import type { BackendState } from '../../../shared/offline'
import { isUnreachable, scrub } from '../db/errors'

export interface HealthMonitorOptions {
  /** Resolves when the backend answers; rejects with the connection error when it does not. */
  probe: () => Promise<void>
  /** First retry delay after a failure (doubles up to maxDelayMs). */
  minDelayMs?: number
  maxDelayMs?: number
  /** Probe interval while online; 0 disables it. */
  onlineIntervalMs?: number
  /** Which errors seen elsewhere mean "cannot reach it" (default: the database's connection failures). */
  unreachable?: (e: unknown) => boolean
}

export class HealthMonitor {
  private s: BackendState = { online: null, since: null, lastError: null, checkedAt: null, nextProbeAt: null, failures: 0 }
  private timer?: NodeJS.Timeout
  private running = false
  private probing?: Promise<boolean>
  private readonly listeners = new Set<(online: boolean) => void>()
  private readonly minDelay: number
  private readonly maxDelay: number
  private readonly onlineInterval: number

  constructor(private readonly opts: HealthMonitorOptions) {
    this.minDelay = opts.minDelayMs ?? 1000
    this.maxDelay = opts.maxDelayMs ?? 30_000
    this.onlineInterval = opts.onlineIntervalMs ?? 30_000
  }

  state(): BackendState {
    return { ...this.s }
  }

  get online(): boolean | null {
    return this.s.online
  }

  /** Started and probing on its schedule (an idle monitor only records what it is told). */
  get active(): boolean {
    return this.running
  }

  /** Called with each change of state (true: back online). */
  onChange(fn: (online: boolean) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** Starts probing: once now, then on the schedule. */
  start(): void {
    if (this.running) return
    this.running = true
    void this.check()
  }

  stop(): void {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
  }

  /**
   * Reports an error seen elsewhere. Connection-level failures mark the backend offline and schedule the
   * next probe; other errors (a refusal, a constraint) say nothing about reachability and are ignored.
   * Returns true when the error was a connection failure.
   */
  observe(e: unknown): boolean {
    if (!(this.opts.unreachable ?? isUnreachable)(e)) return false
    this.markOffline(e)
    this.schedule()
    return true
  }

  /** Reports a success seen elsewhere (any answered query). */
  observeSuccess(): void {
    this.markOnline()
  }

  /** Probes now (one probe at a time); resolves to whether the backend answered. */
  async check(): Promise<boolean> {
    this.probing ??= (async () => {
      try {
        await this.opts.probe()
        this.markOnline()
        return true
      } catch (e) {
        this.markOffline(e)
        return false
      } finally {
        this.s.checkedAt = new Date().toISOString()
        this.probing = undefined
        this.schedule()
      }
    })()
    return this.probing
  }

  private delay(): number {
    if (this.s.online !== false) return this.onlineInterval
    const base = Math.min(this.maxDelay, this.minDelay * 2 ** Math.min(20, Math.max(0, this.s.failures - 1)))
    // +-20 % jitter: many clients coming back after one outage do not probe in lockstep.
    return Math.round(base * (0.8 + Math.random() * 0.4))
  }

  private schedule(): void {
    if (!this.running) return
    if (this.timer) clearTimeout(this.timer)
    const ms = this.delay()
    if (!ms) {
      this.s.nextProbeAt = null
      return
    }
    this.s.nextProbeAt = new Date(Date.now() + ms).toISOString()
    this.timer = setTimeout(() => void this.check(), ms)
    this.timer.unref()
  }

  private markOnline(): void {
    const was = this.s.online
    this.s.failures = 0
    this.s.lastError = null
    if (was !== true) {
      this.s.online = true
      this.s.since = new Date().toISOString()
      if (was === false) for (const fn of this.listeners) fn(true)
    }
  }

  private markOffline(e: unknown): void {
    const was = this.s.online
    this.s.failures++
    this.s.lastError = scrub((e as Error)?.message ?? String(e))
    if (was !== false) {
      this.s.online = false
      this.s.since = new Date().toISOString()
      for (const fn of this.listeners) fn(false)
    }
  }
}

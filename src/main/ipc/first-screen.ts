/**
 * Background work waits for the window (issue 19, item 2: a fast first screen).
 *
 * When a host opens the core, upkeep wants the database too: the offline runtime's start-up replay and its
 * last-known snapshot (a page of pools after another, then every pool's allocations: thousands of queries
 * with 5,000 pools), the daily maintenance (partitions, the usage snapshot, the retention purge), the audit
 * search index. Started at once, they ran on the same connections as the first screen's own requests (one
 * connection on the embedded store), which then waited behind them: the dashboard's totals and the Pools
 * screen's first page came seconds late, and the snapshot itself failed with "Timeout acquiring a
 * connection".
 *
 * The host counts the requests its transport (Electron IPC, the browser harness) is serving. `firstScreen`
 * resolves once the window has asked something and every request has been answered, with `quietMs` of
 * silence after the last one (a screen asks in waves: health first, then its data), or after `maxWaitMs`
 * whatever happens (a window that never asks must not stop upkeep for good). `idle()` lets long background
 * work step aside: it resolves when no request is in flight and none ended in the last `yieldMs`, so a
 * snapshot query runs between the window's requests, never in front of them.
 */

export interface FirstScreenGateOptions {
  quietMs?: number
  maxWaitMs?: number
  yieldMs?: number
}

export class FirstScreenGate {
  private inFlight = 0
  private lastEnd = 0
  private asked = false
  private opened = false
  private closed = false
  private quietTimer?: NodeJS.Timeout
  private readonly deadline: NodeJS.Timeout
  private openGate!: () => void
  private waiters: (() => void)[] = []
  private waitTimer?: NodeJS.Timeout
  private readonly quietMs: number
  private readonly yieldMs: number
  /** The latest moment the gate opens (epoch ms), whatever the window does. */
  readonly latestOpenAt: number
  /** Resolves once the first screen has been served (or after maxWaitMs). */
  readonly firstScreen: Promise<void>

  constructor(opts: FirstScreenGateOptions = {}) {
    this.quietMs = opts.quietMs ?? 750
    this.yieldMs = opts.yieldMs ?? 100
    this.firstScreen = new Promise((resolve) => (this.openGate = resolve))
    const maxWaitMs = opts.maxWaitMs ?? 10_000
    this.latestOpenAt = Date.now() + maxWaitMs
    this.deadline = setTimeout(() => this.open(), maxWaitMs)
    this.deadline.unref?.()
  }

  /** Whether the first screen has been served (background work may start). */
  get isOpen(): boolean {
    return this.opened
  }

  /** Runs one request of the window, counted. */
  async track<T>(fn: () => Promise<T>): Promise<T> {
    this.asked = true
    this.inFlight++
    clearTimeout(this.quietTimer)
    try {
      return await fn()
    } finally {
      this.inFlight--
      this.lastEnd = Date.now()
      if (this.inFlight === 0) {
        if (!this.opened) {
          this.quietTimer = setTimeout(() => this.inFlight === 0 && this.asked && this.open(), this.quietMs)
          this.quietTimer.unref?.()
        }
        this.wake()
      }
    }
  }

  /** Resolves when no request of the window is in flight and none ended in the last yieldMs. */
  idle(): Promise<void> {
    if (this.closed || (this.inFlight === 0 && Date.now() - this.lastEnd >= this.yieldMs)) return Promise.resolve()
    return new Promise((resolve) => {
      this.waiters.push(resolve)
      this.wake()
    })
  }

  private wake(): void {
    if (!this.waiters.length || this.inFlight > 0 || this.waitTimer) return
    const wait = Math.max(0, this.yieldMs - (Date.now() - this.lastEnd))
    this.waitTimer = setTimeout(() => {
      this.waitTimer = undefined
      if (this.inFlight > 0) return // the next request's end wakes them
      if (Date.now() - this.lastEnd < this.yieldMs) return this.wake()
      const ws = this.waiters
      this.waiters = []
      for (const w of ws) w()
    }, wait)
    this.waitTimer.unref?.()
  }

  private open(): void {
    if (this.opened || this.closed) return
    this.opened = true
    clearTimeout(this.deadline)
    clearTimeout(this.quietTimer)
    this.openGate()
  }

  /**
   * The host is closing: whatever waits in idle() goes on (and ends, on a closed core), now and from now on;
   * the first screen never comes, so upkeep that has not started does not start on a core about to close.
   */
  close(): void {
    this.closed = true
    clearTimeout(this.deadline)
    clearTimeout(this.quietTimer)
    clearTimeout(this.waitTimer)
    this.waitTimer = undefined
    const ws = this.waiters
    this.waiters = []
    for (const w of ws) w()
  }
}

/**
 * Which host of a connection's list is the primary, and following it when it changes.
 *
 * node-postgres (8.x) connects to one host and has no `target_session_attrs`, so this does what libpq's
 * `target_session_attrs=read-write` does, and more: each host is asked `select pg_is_in_recovery()` in
 * turn, and the first one that is not a standby is the primary. The pool's connection settings come from
 * here (connect.ts asks `primary()` for every new connection, and checks each new connection is not in
 * recovery before the pool hands it out), so every pooled connection is on the primary.
 *
 * When the primary goes away (a connection error, or a statement refused with SQLSTATE 25006 because the
 * server is now read-only), `lost()` forgets it: new connections wait for the next primary, which a
 * background loop looks for among the hosts with backoff (0.2 s doubling to 2 s, so a promotion is noticed
 * within about two seconds) until one answers. Connections opened on the old primary are disposed by the
 * caller (database.ts), so the pool carries on on the new one without a restart.
 */
import { AppError } from '../../../shared/errors'
import { endpointLabel, sameEndpoint, type DbEndpoint } from '../../../shared/db-hosts'
import type { FailoverStatus } from '../../../shared/types'

export type HostRole = 'primary' | 'standby'

/** The tracker's state is what `db health` and the status bar show: one type, in shared/types.ts. */
export type FailoverState = FailoverStatus

export interface TrackerOptions {
  /** Asks one host whether it is a primary or a standby; rejects when it cannot be reached or refuses. */
  probe: (e: DbEndpoint) => Promise<HostRole>
  /** Whether an error of `probe` means "not reachable" (the turn passes to the next host). */
  unreachable: (e: unknown) => boolean
  scrub: (message: string) => string
  minDelayMs?: number
  maxDelayMs?: number
}

export class PrimaryTracker {
  private current: DbEndpoint | null = null
  private s: FailoverState
  private loop?: Promise<void>
  private stopped = false
  private wake?: () => void
  private readonly waiters = new Set<() => void>()
  private readonly listeners = new Set<(s: FailoverState) => void>()

  constructor(
    readonly endpoints: DbEndpoint[],
    private readonly opts: TrackerOptions
  ) {
    this.s = { hosts: endpoints.map(endpointLabel), host: null, reconnecting: false, since: new Date().toISOString(), lastError: null, tried: [], switches: 0 }
  }

  state(): FailoverState {
    return { ...this.s, tried: [...this.s.tried] }
  }

  get primaryNow(): DbEndpoint | null {
    return this.current
  }

  onChange(fn: (s: FailoverState) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /**
   * One round over the hosts, in order: the first primary is used. A host that answers and refuses (the
   * login, TLS) stops the round with its own error, as at open: an impostor is no reason to try the next.
   * Throws UNAVAILABLE (reason unreachable) naming every host tried when none accepts writes.
   */
  async find(): Promise<DbEndpoint> {
    const tried: { host: string; error: string }[] = []
    for (const e of this.endpoints) {
      try {
        const role = await this.opts.probe(e)
        if (role === 'primary') {
          this.use(e, tried)
          return e
        }
        tried.push({ host: endpointLabel(e), error: 'read-only standby (in recovery)' })
      } catch (err) {
        if (!this.opts.unreachable(err)) throw err
        tried.push({ host: endpointLabel(e), error: this.opts.scrub((err as Error)?.message ?? String(err)) })
      }
    }
    this.s.tried = tried
    const list = tried.map((t) => `${t.host}: ${t.error}`).join('; ')
    const standbys = tried.filter((t) => t.error.startsWith('read-only standby')).length
    throw new AppError(
      'UNAVAILABLE',
      standbys
        ? `no host accepts writes (${list}): the connection needs a primary; edits wait until one is promoted or comes back`
        : `none of the hosts answered (${list})`,
      { reason: 'unreachable', phase: 'connect', hostsTried: tried }
    )
  }

  private use(e: DbEndpoint, tried: { host: string; error: string }[]): void {
    const changed = !this.current || !sameEndpoint(this.current, e) || this.s.reconnecting
    const had = this.s.host !== null || this.s.reconnecting
    this.current = e
    this.s = {
      ...this.s,
      host: endpointLabel(e),
      reconnecting: false,
      tried,
      lastError: null,
      since: changed ? new Date().toISOString() : this.s.since,
      switches: this.s.switches + (changed && had ? 1 : 0)
    }
    for (const w of this.waiters) w()
    this.waiters.clear()
    if (changed) for (const fn of this.listeners) fn(this.state())
  }

  /**
   * The primary gave a sign it is gone (`why`): forget it and look for one in the background. `from`: the
   * host the failing connection was on; a failure on a host already given up changes nothing.
   */
  lost(why: string, from?: DbEndpoint): void {
    if (this.stopped) return
    if (from && this.current && !sameEndpoint(from, this.current)) return
    if (this.current) {
      this.current = null
      this.s = { ...this.s, host: null, reconnecting: true, since: new Date().toISOString(), lastError: this.opts.scrub(why) }
      for (const fn of this.listeners) fn(this.state())
    }
    this.search()
  }

  /** Starts the background search unless it runs (or a primary is known). */
  private search(): void {
    if (this.loop || this.current || this.stopped) return
    this.loop = (async () => {
      let delay = this.opts.minDelayMs ?? 200
      while (!this.stopped && !this.current) {
        try {
          await this.find()
          break
        } catch (e) {
          this.s.lastError = this.opts.scrub((e as Error)?.message ?? String(e))
          this.s.reconnecting = true
        }
        await new Promise<void>((r) => {
          const t = setTimeout(r, delay)
          t.unref()
          this.wake = () => {
            clearTimeout(t)
            r()
          }
        })
        this.wake = undefined
        delay = Math.min(this.opts.maxDelayMs ?? 2000, delay * 2)
      }
    })().finally(() => {
      this.loop = undefined
    })
  }

  /**
   * The primary to open a connection on: the known one, or the next one found within `timeoutMs` (the
   * pool's acquire timeout). Throws UNAVAILABLE naming the hosts tried when none is found in time.
   */
  async primary(timeoutMs: number): Promise<DbEndpoint> {
    if (this.current) return this.current
    this.search()
    this.wake?.()
    const found = await new Promise<boolean>((resolve) => {
      const done = (): void => resolve(true)
      this.waiters.add(done)
      // Not unref'd: someone is waiting for this answer, so the process stays up until it comes.
      const t = setTimeout(() => {
        this.waiters.delete(done)
        resolve(false)
      }, timeoutMs)
      this.waiters.add(() => clearTimeout(t))
    })
    if (found && this.current) return this.current
    const list = this.s.tried.map((t) => `${t.host}: ${t.error}`).join('; ')
    throw new AppError('UNAVAILABLE', `no host accepts writes yet${list ? ` (${list})` : ''}; still looking for a primary among ${this.s.hosts.join(', ')}`, {
      reason: 'unreachable',
      phase: 'connect',
      hostsTried: this.s.tried
    })
  }

  stop(): void {
    this.stopped = true
    this.wake?.()
    for (const w of this.waiters) w()
    this.waiters.clear()
  }
}

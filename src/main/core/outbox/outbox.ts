/**
 * The transactional outbox: side effects outside the database, written in the change's own transaction (by
 * a domain's trigger or outbox_enqueue, Migration20261220010000_outbox) and applied here, one handler per
 * kind. Nothing in this module knows a domain: DNS and DHCP register their handlers (core/index.ts).
 *
 * The worker:
 * - claims due rows with FOR UPDATE SKIP LOCKED and a lease (claimed_until), only the oldest pending row of
 *   each target, so the rows of one target apply in order (a rename after its create) while other targets
 *   go on; two workers (the app and `netkeeper outbox run`) never take the same row;
 * - applies each outside any transaction (a network call must not hold one open);
 * - records the outcome and its audit row in one transaction, the audit row under the originating request id
 *   (so the allocation and the DNS update it caused share one id in the log). A handler that throws is
 *   retried with exponential backoff (1 s doubling to 5 min, with jitter), for ever: a server that is down
 *   delays the change, never loses it. Repeated failures with the same error are audited once.
 */
import { hostname } from 'node:os'
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import { OUTBOX_STATES } from '../../../shared/choices'
import { appendAudit, auditAppendCall, type AuditEntry } from '../audit/writer'
import { makeContext, requireRole, type RequestContext, type Source } from '../context'
import { awaitDurableAt, flushesSettled, lsnValue } from '../db/durable'

export { OUTBOX_STATES }
export type OutboxState = (typeof OUTBOX_STATES)[number]

export interface OutboxRow {
  id: string
  kind: string
  target: string
  subject: string | null
  payload: Record<string, unknown>
  requestId: string | null
  actor: string | null
  source: string | null
  state: OutboxState
  attempts: number
  nextAttemptAt: string
  lastError: string | null
  outcome: Record<string, unknown> | null
  createdAt: string
  doneAt: string | null
}

/** What a handler returns for a row it settled; a throw means "try again later" (the message is kept). */
export interface HandlerOutcome {
  state: 'done' | 'conflict' | 'failed'
  /** A sentence for a person: what was done, or why not. */
  message: string
  detail?: Record<string, unknown>
  /**
   * Data-modifying statements (the body of a WITH item each, `?` bindings) that commit in the same statement
   * as the outcome and its audit row: a handler's own bookkeeping of what it did, one round trip fewer.
   */
  also?: { cte: string; bindings: Knex.RawBinding[] }[]
}

/** What the worker hands a handler with its row. */
export interface ApplyContext {
  /**
   * Resolves once the change that queued the row is durable (rejects when the database cannot say so; the
   * row is then retried). A handler with `readsFirst` awaits it before it tells anything outside the
   * database; the worker awaits it for the others before calling them.
   */
  durable: () => Promise<void>
}

export interface OutboxHandler {
  /** Applies one row. Must be idempotent: a row may be applied again after a crash before its outcome was recorded. */
  apply(row: OutboxRow, ctx: ApplyContext): Promise<HandlerOutcome>
  /**
   * The handler reads what it needs from the database first and awaits `ctx.durable()` before it reaches
   * the outside (a name server, Kea): its reads then overlap the WAL flush the row may be waiting for.
   */
  readsFirst?: boolean
}

export interface RunReport {
  claimed: number
  done: number
  conflict: number
  failed: number
  retrying: number
}

export interface OutboxStatus {
  counts: Record<OutboxState, number>
  /** Pending rows whose last attempt failed, oldest first (at most 50). */
  retrying: OutboxRow[]
  /** Rows waiting for a person (conflict, failed), newest first (at most 50). */
  attention: OutboxRow[]
}

const LEASE_SECONDS = 120
const MAX_BACKOFF_SECONDS = 300

export function backoffSeconds(attempts: number, random = Math.random): number {
  const base = Math.min(MAX_BACKOFF_SECONDS, 2 ** Math.max(0, attempts - 1))
  return Math.round(base * (0.8 + 0.4 * random()) * 1000) / 1000
}

interface DbRow {
  id: string
  kind: string
  target: string
  subject: string | null
  payload: Record<string, unknown>
  request_id: string | null
  actor: string | null
  source: string | null
  state: OutboxState
  attempts: number
  next_attempt_at: Date
  last_error: string | null
  outcome: Record<string, unknown> | null
  created_at: Date
  done_at: Date | null
}

const COLS = `id::text, kind, target, subject, payload, request_id, actor, source, state, attempts, next_attempt_at, last_error, outcome, created_at, done_at`

export function toOutboxRow(r: DbRow): OutboxRow {
  return {
    id: r.id,
    kind: r.kind,
    target: r.target,
    subject: r.subject,
    payload: r.payload,
    requestId: r.request_id,
    actor: r.actor,
    source: r.source,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: new Date(r.next_attempt_at).toISOString(),
    lastError: r.last_error,
    outcome: r.outcome,
    createdAt: new Date(r.created_at).toISOString(),
    doneAt: r.done_at ? new Date(r.done_at).toISOString() : null
  }
}

/** The pg client knex makes for its pool, as the LISTEN connection uses it. */
interface ListenConnection {
  on(event: 'notification' | 'error' | 'end', fn: (...args: unknown[]) => void): unknown
  query(sql: string): Promise<unknown>
}
interface RawClient {
  acquireRawConnection(): Promise<ListenConnection>
  destroyRawConnection(conn: ListenConnection): Promise<void>
}

const SOURCES: readonly Source[] = ['ui', 'cli', 'import', 'replay']

/** A row of outbox `c` that is due for the kinds bound at its `?`: pending, its time come, no live claim on it. */
const DUE = `c.state = 'pending' and c.kind = any(?::text[]) and c.next_attempt_at <= now()
               and (c.claimed_until is null or c.claimed_until < now())`

/** When an attempt's steps ended (performance.now() of this process): where the time of a side effect goes. */
export interface SettledTiming {
  claimedAt: number
  appliedAt: number
  recordedAt: number
}
export type SettledListener = (row: OutboxRow, state: 'done' | 'conflict' | 'failed' | 'retrying', timing: SettledTiming) => void

export class Outbox {
  private readonly handlers = new Map<string, OutboxHandler>()
  private timer?: NodeJS.Timeout
  private running?: Promise<RunReport>
  private again = false
  /** When the last kick() came during a pass, and when the last claim was sent (performance.now()). */
  private kickedAt = 0
  private claimSentAt = 0
  private stopped = true
  readonly workerId = `${hostname()}:${process.pid}`

  constructor(private readonly knex: Knex) {}

  /** Registers the handler of a kind (once per kind). */
  register(kind: string, handler: OutboxHandler): void {
    if (this.handlers.has(kind)) throw new Error(`outbox: a handler for "${kind}" is already registered`)
    this.handlers.set(kind, handler)
  }

  private readonly settledListeners = new Set<SettledListener>()

  /**
   * Calls `fn` each time a row's attempt is recorded (its outcome, or its retry), in this process; returns
   * the function that stops it. The benchmark waits on it; a screen could too.
   */
  onSettled(fn: SettledListener): () => void {
    this.settledListeners.add(fn)
    return () => this.settledListeners.delete(fn)
  }

  kinds(): string[] {
    return [...this.handlers.keys()]
  }

  /** Queues a side effect in the caller's transaction (for kinds without a trigger of their own). */
  async enqueue(trx: Knex | Knex.Transaction, ctx: RequestContext, row: { kind: string; target: string; subject?: string | null; payload: Record<string, unknown> }): Promise<string> {
    const r = await trx.raw<{ rows: { id: string }[] }>(`select outbox_enqueue(?, ?, ?, ?::jsonb, ?, ?, ?)::text as id`, [
      row.kind,
      row.target,
      row.subject ?? null,
      JSON.stringify(row.payload),
      ctx.requestId,
      ctx.actor,
      ctx.source
    ])
    this.kick()
    return r.rows[0]!.id
  }

  /**
   * Starts the background worker (the app's main process, the web harness): a pass at once whenever kick()
   * is called (after a local change that may have queued something), and, with `listen` (a PostgreSQL
   * server, where other programs write too), whenever the server notifies `netkeeper_outbox` (the triggers
   * and outbox_enqueue send it on commit). A pass every `intervalMs` remains as the safety net and for
   * retries whose backoff has run out.
   */
  start(intervalMs = 2000, opts: { listen?: boolean } = {}): void {
    if (!this.stopped) return
    this.stopped = false
    this.timer = setInterval(() => this.kick(), intervalMs)
    this.timer.unref()
    if (opts.listen) void this.listen()
    this.kick()
  }

  /** Whether the worker currently hears the server's notifications (tests, the health report). */
  get listening(): boolean {
    return !!this.listener
  }

  private listener?: ListenConnection
  private relisten?: NodeJS.Timeout

  /**
   * A connection of its own (outside the pool, which it would otherwise hold for ever) that LISTENs on
   * netkeeper_outbox. A lost connection is replaced after a few seconds; until then the interval pass
   * carries on, and a pass runs right after it is back (to pick up what was queued meanwhile).
   */
  private async listen(): Promise<void> {
    const client = this.knex.client as unknown as RawClient
    if (typeof client.acquireRawConnection !== 'function') return
    let conn: ListenConnection | undefined
    const again = (): void => {
      if (this.listener === conn) this.listener = undefined
      if (conn) void client.destroyRawConnection(conn).catch(() => undefined)
      if (this.stopped || this.relisten) return
      this.relisten = setTimeout(() => {
        this.relisten = undefined
        void this.listen()
      }, 5000)
      this.relisten.unref()
    }
    try {
      conn = await client.acquireRawConnection()
      if (this.stopped) {
        await client.destroyRawConnection(conn).catch(() => undefined)
        return
      }
      // One commit may notify more than once (one NOTIFY per kind it queued, told apart by their payloads), and
      // they arrive together: one kick for all of them, not a pass for the first and one more for the rest.
      let heard = false
      conn.on('notification', () => {
        if (heard) return
        heard = true
        setImmediate(() => {
          heard = false
          this.kick()
        })
      })
      conn.on('error', again)
      conn.on('end', again)
      await conn.query('listen netkeeper_outbox')
      this.listener = conn
      this.kick()
    } catch {
      again()
    }
  }

  /**
   * Asks for a pass now (coalesced: a pass already running is followed by one more, unless it covered the
   * ask). `notified`: the caller's change queues its rows by the triggers or outbox_enqueue, whose NOTIFY
   * reaches this worker when it listens; a pass running then needs no pass more for it (the NOTIFY asks if
   * the running pass's claim was sent before the change committed).
   */
  kick(opts: { notified?: boolean } = {}): void {
    if (this.stopped || !this.handlers.size) return
    if (this.running) {
      if (opts.notified && this.listener) return
      this.again = true
      this.kickedAt = performance.now()
      return
    }
    this.running = this.pass()
      .catch((e) => {
        console.error('[outbox] pass failed:', (e as Error).message)
        return { report: { claimed: 0, done: 0, conflict: 0, failed: 0, retrying: 0 }, empty: false }
      })
      .then(({ report, empty }) => {
        // A kick says "something may have committed". A pass that ended on finding nothing more due, in a claim
        // sent after the last kick, has seen whatever that kick announced: no pass more (one claim fewer per
        // local change, whose NOTIFY and in-process kick both arrive while its pass runs).
        if (this.again && empty && this.claimSentAt > this.kickedAt) this.again = false
        return report
      })
      .finally(() => {
        this.running = undefined
        if (this.again) {
          this.again = false
          this.kick()
        }
      })
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    if (this.relisten) clearTimeout(this.relisten)
    this.relisten = undefined
    const conn = this.listener
    this.listener = undefined
    if (conn) await (this.knex.client as unknown as RawClient).destroyRawConnection(conn).catch(() => undefined)
    await this.running
  }

  /**
   * One pass: claims due rows (oldest pending row of each target, up to `limit`), applies them (targets in
   * parallel, each target's rows in order) and records each outcome; repeats while rows were settled, so a
   * target's queue drains in one pass. Returns what happened.
   */
  async runOnce(opts: { limit?: number; kinds?: string[] } = {}): Promise<RunReport> {
    return (await this.pass(opts)).report
  }

  /** A pass, and whether it ended because nothing due was left (rather than because every row failed). */
  private async pass(opts: { limit?: number; kinds?: string[] } = {}): Promise<{ report: RunReport; empty: boolean }> {
    const total: RunReport = { claimed: 0, done: 0, conflict: 0, failed: 0, retrying: 0 }
    const kinds = opts.kinds ?? this.kinds()
    if (!kinds.length) return { report: total, empty: true }
    for (let round = 0; round < 1000; round++) {
      // The changes that queued these rows may have committed with synchronous_commit off (allocations do:
      // db/durable.ts) and be visible here before their WAL is on disk. A name server or Kea must never be
      // told of a change a crash could still take back: claim() hands back, with the rows, the wait for a WAL
      // flush past every commit its statement could see (already under way; applyOne and the handlers
      // await it before they reach the outside).
      const { rows, more, durable } = await this.claim(kinds, opts.limit ?? 50)
      if (!rows.length) return { report: total, empty: true }
      const claimedAt = performance.now()
      total.claimed += rows.length
      const results = await Promise.all(rows.map((r) => this.applyOne(r, claimedAt, durable)))
      let settled = 0
      for (const s of results) {
        total[s]++
        if (s !== 'retrying') settled++
      }
      if (!settled) break
      // Nothing else was due when the rows were claimed (no row held behind them, none beyond the limit): a
      // claim more would find only rows committed since, and those wake the worker themselves (kick, NOTIFY).
      if (!more) return { report: total, empty: true }
    }
    return { report: total, empty: false }
  }

  /** Runs passes until nothing due is left or `timeoutMs` passed (the CLI after a change, tests). */
  async drain(timeoutMs = 10_000): Promise<RunReport> {
    const end = Date.now() + timeoutMs
    const total: RunReport = { claimed: 0, done: 0, conflict: 0, failed: 0, retrying: 0 }
    while (Date.now() < end) {
      const { report: r, empty } = await this.pass()
      for (const k of Object.keys(total) as (keyof RunReport)[]) total[k] += r[k]
      // A pass that ended on an empty claim has left nothing due: no need for one more claim to learn that.
      if (empty || !r.claimed || r.retrying) break
    }
    return total
  }

  private async claim(kinds: string[], limit: number): Promise<{ rows: OutboxRow[]; more: boolean; durable: Promise<void> }> {
    // A flush this process has in flight (a local allocation about to be answered: its NOTIFY comes at its
    // commit, before that flush) is waited for first: it then covers the changes this claim will see, and
    // the claim needs no flush nor look of its own. (Claiming at once, to overlap that flush, measured slower
    // on two busy cores: the claim's position was past the flush most of the time, and the reads competed
    // with the allocation for the processors.)
    await flushesSettled(this.knex)
    this.claimSentAt = performance.now()
    // One statement, one round trip, committed without waiting for its WAL flush: a claim lost in a crash
    // lapses (the row is pending again and applied again, which handlers tolerate: they are idempotent).
    // What must be durable before a row is applied is the change that queued it (it may have committed with
    // synchronous_commit off, as allocations do, db/durable.ts). Every commit the statement can see ended in
    // the WAL before its snapshot, so before the insert position it reads (`at`, read first, as a one-time
    // filter of the row search: before the rows are locked, which writes WAL); when the flushed position
    // (`flushed`) has not reached it, the rows wait for a flush that does (awaitDurableAt: the flush in
    // flight, or a look at the flushed position after it). `more`: whether other rows were due (held behind these, or past the limit), so the pass knows
    // whether to claim again.
    const r = await this.knex.raw<{ rows: (DbRow & { at: string; flushed: string; more: boolean })[] }>(
      `with pos as materialized (select pg_current_wal_insert_lsn() as at, set_config('synchronous_commit', 'off', true) as v),
       claimed as (
         update outbox as o set claimed_until = now() + make_interval(secs => ?), claimed_by = ?, attempts = o.attempts + 1, updated_at = now()
           from pos
          where o.id in (
            select c.id from outbox c
             where (select p.at from pos p) is not null
               and ${DUE}
               and not exists (select 1 from outbox e where e.target = c.target and e.state = 'pending' and e.id < c.id)
             order by c.id limit ? for update skip locked)
          returning ${COLS.split(', ').map((c) => (c === 'id::text' ? 'o.id::text' : `o.${c}`)).join(', ')}, pos.at::text as at)
       select k.*, pg_current_wal_flush_lsn()::text as flushed,
              exists (select 1 from outbox c where ${DUE} and c.id not in (select id::bigint from claimed)) as more
         from claimed k`,
      [LEASE_SECONDS, this.workerId, kinds, limit, kinds]
    )
    const first = r.rows[0]
    if (!first) return { rows: [], more: false, durable: Promise.resolve() }
    const durable = lsnValue(first.flushed) < lsnValue(first.at) ? awaitDurableAt(this.knex, first.at) : Promise.resolve()
    // Awaited by each row's apply; a failure is theirs to report (as a retry), not an unhandled rejection.
    durable.catch(() => undefined)
    return { rows: r.rows.map(toOutboxRow).sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1)), more: first.more, durable }
  }

  private contextOf(row: OutboxRow): RequestContext {
    const source = SOURCES.includes(row.source as Source) ? (row.source as Source) : 'ui'
    return makeContext({ actor: row.actor ?? 'netkeeper (outbox)', roles: ['operator'], source, requestId: row.requestId ?? undefined })
  }

  private async applyOne(row: OutboxRow, claimedAt: number, durable: Promise<void>): Promise<'done' | 'conflict' | 'failed' | 'retrying'> {
    const handler = this.handlers.get(row.kind)
    let outcome: HandlerOutcome | undefined
    let error: string | undefined
    try {
      if (!handler) throw new Error(`no handler for outbox kind "${row.kind}" in this program`)
      if (!handler.readsFirst) await durable
      outcome = await handler.apply(row, { durable: () => durable })
    } catch (e) {
      error = (e as Error).message || String(e)
    }
    const appliedAt = performance.now()
    const ctx = this.contextOf(row)
    const resource = { resourceType: 'outbox', resourceId: row.id, resourceName: `${row.kind} ${row.target}` }
    const context = { kind: row.kind, target: row.target, subject: row.subject, attempts: row.attempts, worker: this.workerId }
    // The outcome and its audit row in one statement (one round trip, one implicit transaction: both or
    // neither), committed without waiting for the WAL flush (see claim()).
    let update: string
    let bindings: Knex.RawBinding[]
    let audit: AuditEntry | undefined
    if (outcome) {
      update = `update outbox set state = ?, outcome = ?::jsonb, last_error = ?, claimed_until = null, claimed_by = null, done_at = now(), updated_at = now() from cfg where id = ?`
      bindings = [outcome.state, JSON.stringify({ message: outcome.message, ...(outcome.detail ?? {}) }), outcome.state === 'done' ? null : outcome.message, row.id]
      audit = {
        action: 'update',
        ...resource,
        status: outcome.state === 'done' ? 'success' : outcome.state === 'conflict' ? 'warning' : 'failure',
        details: { after: { state: outcome.state, message: outcome.message, ...(outcome.detail ?? {}) }, context: { ...context, payload: row.payload } }
      }
    } else {
      const wait = backoffSeconds(row.attempts)
      update = `update outbox set last_error = ?, next_attempt_at = now() + make_interval(secs => ?), claimed_until = null, claimed_by = null, updated_at = now() from cfg where id = ?`
      bindings = [error!, wait, row.id]
      // A target that stays down would otherwise write a row per retry: the first failure and each new error only.
      if (error !== row.lastError) {
        audit = {
          action: 'update',
          ...resource,
          status: 'failure',
          details: { error: { code: 'UNAVAILABLE', message: error! }, after: { state: 'pending', retryInSeconds: wait }, context: { ...context, payload: row.payload } }
        }
      }
    }
    const also = outcome?.also ?? []
    const cfg = `with cfg as (select set_config('synchronous_commit', 'off', true) as v), settled as (${update} returning outbox.id)${also.map((x, i) => `, also${i} as (${x.cte})`).join('')}`
    bindings = [...bindings, ...also.flatMap((x) => x.bindings)]
    if (audit) {
      const call = auditAppendCall(ctx, [audit])
      // The data-modifying CTE runs whatever the outer query reads; reading it ties the audit row to it.
      await this.knex.raw(`${cfg} select a.id from (select count(*) as n from settled) s, ${call.sql} as a`, [...bindings, ...call.bindings])
    } else {
      await this.knex.raw(`${cfg} select count(*) from settled`, bindings)
    }
    const state = outcome ? outcome.state : 'retrying'
    const timing = { claimedAt, appliedAt, recordedAt: performance.now() }
    for (const fn of this.settledListeners) {
      try {
        fn(row, state, timing)
      } catch {
        // A listener's failure is its own.
      }
    }
    return outcome ? outcome.state : 'retrying'
  }

  // ---------------------------------------------------------------- reading and steering

  async status(): Promise<OutboxStatus> {
    const counts = Object.fromEntries(OUTBOX_STATES.map((s) => [s, 0])) as Record<OutboxState, number>
    const c = await this.knex.raw<{ rows: { state: OutboxState; n: number }[] }>(`select state, count(*)::int as n from outbox group by state`)
    for (const r of c.rows) counts[r.state] = r.n
    const retrying = await this.knex.raw<{ rows: DbRow[] }>(`select ${COLS} from outbox where state = 'pending' and last_error is not null order by id limit 50`)
    const attention = await this.knex.raw<{ rows: DbRow[] }>(`select ${COLS} from outbox where state in ('conflict', 'failed') order by id desc limit 50`)
    return { counts, retrying: retrying.rows.map(toOutboxRow), attention: attention.rows.map(toOutboxRow) }
  }

  async list(opts: { state?: OutboxState; subject?: string; limit?: number } = {}): Promise<OutboxRow[]> {
    const r = await this.knex.raw<{ rows: DbRow[] }>(
      `select ${COLS} from outbox where (?::text is null or state = ?) and (?::text is null or subject = ?) order by id desc limit ?`,
      [opts.state ?? null, opts.state ?? null, opts.subject ?? null, opts.subject ?? null, opts.limit ?? 100]
    )
    return r.rows.map(toOutboxRow)
  }

  /** The side effects of one resource, newest first (an allocation's DNS and DHCP state). */
  forSubjects(subjects: string[]): Promise<OutboxRow[]> {
    return this.knex
      .raw<{ rows: DbRow[] }>(`select ${COLS} from outbox where subject = any(?::text[]) order by id desc limit 200`, [subjects])
      .then((r) => r.rows.map(toOutboxRow))
  }

  /** Puts a conflicting or failed row back in the queue (or a pending one up for now), audited. */
  async retry(ctx: RequestContext, id: string): Promise<OutboxRow> {
    return this.setState(ctx, id, 'pending', ['pending', 'conflict', 'failed', 'ignored'])
  }

  /** Gives up on a row: it is never applied (audited). */
  async ignore(ctx: RequestContext, id: string): Promise<OutboxRow> {
    return this.setState(ctx, id, 'ignored', ['pending', 'conflict', 'failed'])
  }

  private async setState(ctx: RequestContext, id: string, state: 'pending' | 'ignored', from: OutboxState[]): Promise<OutboxRow> {
    requireRole(ctx, 'operator', state === 'pending' ? 'retrying a side effect' : 'ignoring a side effect')
    if (!/^\d+$/.test(String(id))) throw new AppError('VALIDATION', `id: "${id}" is not an outbox row number`, { field: 'id' })
    const row = await this.knex.transaction(async (trx) => {
      const cur = await trx.raw<{ rows: DbRow[] }>(`select ${COLS} from outbox where id = ? for update`, [id])
      const before = cur.rows[0]
      if (!before) throw new AppError('NOT_FOUND', `id: no outbox row ${id}`, { field: 'id' })
      if (!from.includes(before.state)) throw new AppError('CONFLICT', `id: outbox row ${id} is ${before.state}`, { field: 'id' })
      const upd = await trx.raw<{ rows: DbRow[] }>(
        `update outbox set state = ?, next_attempt_at = now(), claimed_until = null, done_at = case when ? = 'ignored' then now() else null end, updated_at = now()
          where id = ? returning ${COLS}`,
        [state, state, id]
      )
      await appendAudit(trx, ctx, {
        action: 'update',
        resourceType: 'outbox',
        resourceId: id,
        resourceName: `${before.kind} ${before.target}`,
        details: { before: { state: before.state }, after: { state }, context: { operation: state === 'pending' ? 'retry' : 'ignore', subject: before.subject } }
      })
      return toOutboxRow(upd.rows[0]!)
    })
    this.kick()
    return row
  }
}

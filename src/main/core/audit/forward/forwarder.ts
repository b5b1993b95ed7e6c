/**
 * The forwarder: follows the audit log in sequence order and sends each row to every enabled sink
 * (docs/audit.md#forwarding). The audit row is the outbox entry, committed with the change; the sink's
 * cursor records the outcome and moves only after the sink accepted a batch (transports.ts says what
 * "accepted" means per transport), through `audit_sink_advance`, which moves it only from the value read
 * and only while this forwarder holds the sink's lease. So:
 *
 * - in order: rows are read `seq > cursor` up to the chain head, ascending; rows become visible in seq
 *   order, because every append holds the chain head's row lock until its transaction commits;
 * - at-least-once: a batch that failed, or whose acceptance was not recorded (the process was killed
 *   between the two), is sent again from the cursor; a receiver drops repeats by seq;
 * - one forwarder per sink: a lease (host:pid:nonce, renewed while it works) keeps two from sending the
 *   same rows at once; a lease of a process that died on this machine is taken over at once, another
 *   machine's when it expires;
 * - a failed batch is retried after an exponential backoff with jitter (1 s, 2 s, 4 s … up to 5 minutes by
 *   default), and the error, the attempt count and the next retry are kept on the sink for `--status`.
 */
import crypto from 'node:crypto'
import os from 'node:os'
import type { Knex } from '@mikro-orm/postgresql'
import type { ForwardRunReport } from '../../../../shared/audit-forward'
import { chainId } from '../anchors'
import { exportLineSql } from '../export'
import type { Rows } from '../rows'
import { SinkStore, type SinkRow } from './sinks'
import { rowMessage, type ForwardRow } from './syslog'
import { postJson, sendStream, sendUdp } from './transports'
import { SIGNATURE_HEADER, webhookBody, webhookSignature } from './webhook'

export interface ForwarderOptions {
  /** The database's label, for webhook bodies. */
  database: string
  /** Rows per batch unless the sink says otherwise (syslog 1000, webhook 100). */
  batchSize?: number
  /** How often a follower looks for new rows. */
  pollMs?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  /** Only these sinks (by name). */
  only?: string[]
  version?: string
  log?: (line: string) => void
}

const LEASE_S = 30
const RENEW_BEFORE_MS = 20_000

interface SinkState {
  /** When this forwarder's lease runs out, as far as it knows. */
  leaseUntil: number
  /** Next attempt after a failure (local copy of next_retry_at). */
  retryAt: number
  /** The next batch, read while the current one was sent: the rows after `after`. */
  ahead?: { after: string; rows: Promise<ForwardRow[]> }
}

export class AuditForwarder {
  readonly holder = `${os.hostname()}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`
  private readonly sinks: SinkStore
  private readonly state = new Map<string, SinkState>()
  private chain: string | null = null
  private stopped = false
  private wake: (() => void) | null = null
  private running: Promise<void> | null = null

  constructor(
    private readonly knex: Knex,
    store: ConstructorParameters<typeof SinkStore>[1],
    private readonly opts: ForwarderOptions
  ) {
    this.sinks = new SinkStore(knex, store)
  }

  get isRunning(): boolean {
    return this.running !== null
  }

  private log(line: string): void {
    this.opts.log?.(line)
  }

  private backoff(attempts: number): number {
    const base = this.opts.backoffBaseMs ?? 1000
    const max = this.opts.backoffMaxMs ?? 300_000
    const d = Math.min(max, base * 2 ** Math.max(0, attempts - 1))
    return Math.round(d * (0.8 + Math.random() * 0.4))
  }

  /** Takes or renews the sink's lease; false when another live forwarder holds it. */
  private async claim(s: SinkRow): Promise<boolean> {
    const st = this.state.get(s.id)
    if (st && st.leaseUntil - Date.now() > RENEW_BEFORE_MS) return true
    // A lease of a process of this machine that is gone can be taken at once.
    let takeFrom: string | null = null
    const holder = s.lease_holder
    if (holder && holder !== this.holder && s.lease_until && new Date(s.lease_until).getTime() > Date.now()) {
      const [host, pid] = holder.split(':')
      if (host === os.hostname() && pid && Number(pid) !== process.pid && !alive(Number(pid))) takeFrom = holder
    }
    const got = (await this.knex.raw<Rows<{ h: string | null }>>(`select audit_sink_claim(?, ?, ?, ?) as h`, [s.id, this.holder, LEASE_S, takeFrom])).rows[0]!.h
    if (got !== this.holder) return false
    this.state.set(s.id, { leaseUntil: Date.now() + LEASE_S * 1000, retryAt: st?.retryAt ?? 0, ahead: st?.ahead })
    return true
  }

  /**
   * The rows after `cursor`, at most `limit`, in seq order, up to the chain head. Read as the range
   * cursor+1 .. cursor+limit (sequence numbers are gapless but for purged runs), so each batch touches only
   * its own rows: "seq > cursor order by seq limit n" let the planner fetch and sort every row above the
   * cursor for each batch. A purged run makes the range empty: the next row's seq is looked up and the
   * range starts there.
   */
  private async rowsAfter(cursor: string, limit: number): Promise<ForwardRow[]> {
    const read = (from: string) =>
      this.knex.raw<Rows<ForwardRow & { created_at: Date }>>(
        `select seq::text as seq, created_at, action, resource_type as "resourceType", resource_id as "resourceId", resource_name as "resourceName",
                user_id as "userId", db_user as "dbUser", host(user_ip) as "userIp", status, source, request_id as "requestId",
                prev_hash as "prevHash", row_hash as "rowHash", ${exportLineSql('jsonl')} as json
           from audit_logs
          where audit_logs.seq > ?::bigint and audit_logs.seq <= least(?::bigint + ?::bigint, (select last_seq from audit_chain_head where id = 1))
          order by audit_logs.seq`,
        [from, from, limit]
      )
    let rows = (await read(cursor)).rows
    if (!rows.length) {
      const next = (await this.knex.raw<Rows<{ s: string | null }>>(
        `select min(seq)::text as s from audit_logs where seq > ?::bigint and seq <= (select last_seq from audit_chain_head where id = 1)`,
        [cursor]
      )).rows[0]!.s
      if (next === null) return []
      rows = (await read((BigInt(next) - 1n).toString())).rows
    }
    return rows.map((r) => ({ ...r, createdAt: new Date(r.created_at).toISOString() }))
  }

  /**
   * One batch to one sink: read after its cursor, send, record. Returns the rows sent (0: nothing to send),
   * or throws what the delivery failed with (after recording it on the sink).
   */
  private async batch(s: SinkRow): Promise<number> {
    const limit = s.config.batchSize ?? this.opts.batchSize ?? (s.kind === 'webhook' ? 100 : 1000)
    const st = this.state.get(s.id)!
    // The batch read ahead while the previous one was being sent, if it starts where the cursor is now.
    const ahead = st.ahead?.after === s.cursor_seq ? st.ahead.rows : null
    st.ahead = undefined
    const rows = await (ahead ?? this.rowsAfter(s.cursor_seq, limit))
    if (!rows.length) return 0
    // A full batch: the next one is probably there too; read it while this one is sent.
    if (rows.length >= limit) {
      const after = rows[rows.length - 1]!.seq
      const next = this.rowsAfter(after, limit)
      next.catch(() => undefined)
      st.ahead = { after, rows: next }
    }
    this.chain ??= await chainId(this.knex)
    const first = rows[0]!.seq
    const last = rows[rows.length - 1]!.seq
    try {
      const { ep, hmacKey } = await this.sinks.endpoint(s)
      if (s.kind === 'webhook') {
        const body = webhookBody({ sink: s.name, chain: this.chain, database: this.opts.database, rowsJson: rows.map((r) => r.json), firstSeq: first, lastSeq: last })
        await postJson(ep, body, { [SIGNATURE_HEADER]: webhookSignature(hmacKey!, body), 'Idempotency-Key': `${this.chain}:${first}-${last}` })
      } else {
        const o = {
          format: s.config.format ?? 'rfc5424',
          facility: s.config.facility ?? 'local0',
          hostname: s.config.hostname ?? os.hostname(),
          appName: s.config.appName ?? 'netkeeper',
          procId: String(process.pid),
          chain: this.chain,
          version: this.opts.version ?? '0.1.0'
        } as const
        const messages = rows.map((r) => rowMessage(r, o))
        if (ep.transport === 'udp') await sendUdp(ep, messages)
        else await sendStream(ep, messages)
      }
    } catch (e) {
      const msg = (e as Error).message
      const attempts = s.attempts + 1
      const wait = this.backoff(attempts)
      const next = new Date(Date.now() + wait)
      await this.knex.raw(`select audit_sink_failed(?, ?, ?, ?)`, [s.id, this.holder, msg, next]).catch(() => undefined)
      this.state.get(s.id)!.retryAt = next.getTime()
      this.log(`[forward] ${s.name}: rows ${first} to ${last} not delivered (attempt ${attempts}; next try in ${(wait / 1000).toFixed(1)} s): ${msg}`)
      throw e
    }
    const moved = (await this.knex.raw<Rows<{ ok: boolean }>>(`select audit_sink_advance(?, ?, ?, ?, ?) as ok`, [s.id, this.holder, s.cursor_seq, last, rows.length])).rows[0]!.ok
    if (!moved) {
      // Another forwarder moved it (our lease had lapsed): read it again next time; what we sent is a repeat.
      this.state.delete(s.id)
      return 0
    }
    s.cursor_seq = last
    s.attempts = 0
    this.state.get(s.id)!.retryAt = 0
    return rows.length
  }

  private async enabledSinks(): Promise<SinkRow[]> {
    const all = await this.sinks.rows('enabled')
    return this.opts.only?.length ? all.filter((s) => this.opts.only!.includes(s.name)) : all
  }

  /**
   * Sends every enabled sink its backlog up to the head as it is now (`audit forward --once`). A sink that
   * fails is left at its cursor (with the error recorded) and named in the report; retry waits are ignored:
   * the person asked now.
   */
  async drain(): Promise<ForwardRunReport> {
    const t0 = Date.now()
    const report: ForwardRunReport = { sinks: [], seconds: 0 }
    const head = await this.sinks.headSeq()
    const sinks = await this.enabledSinks()
    if (this.opts.only?.length) {
      const missing = this.opts.only.filter((n) => !sinks.some((s) => s.name === n))
      for (const n of missing) report.sinks.push({ name: n, sent: 0, cursorSeq: '0', backlog: 0, error: null, skipped: 'no enabled sink of this name' })
    }
    for (const s of sinks) {
      let sent = 0
      let error: string | null = null
      let skipped: string | undefined
      try {
        if (!(await this.claim(s))) skipped = `another forwarder (${s.lease_holder}) is sending to it`
        else {
          for (;;) {
            if (BigInt(s.cursor_seq) >= BigInt(head)) break
            const n = await this.batch(s)
            if (!n) break
            sent += n
          }
        }
      } catch (e) {
        error = (e as Error).message
      } finally {
        if (!skipped) await this.release(s)
      }
      report.sinks.push({ name: s.name, sent, cursorSeq: s.cursor_seq, backlog: await this.sinks.backlog(s.cursor_seq, await this.sinks.headSeq()), error, ...(skipped ? { skipped } : {}) })
    }
    report.seconds = (Date.now() - t0) / 1000
    return report
  }

  private async release(s: SinkRow): Promise<void> {
    this.state.delete(s.id)
    await this.knex.raw(`select audit_sink_release(?, ?)`, [s.id, this.holder]).catch(() => undefined)
  }

  /** One pass of the follower over every enabled sink; true when some sink still has rows ready to send now. */
  private async pass(): Promise<boolean> {
    let more = false
    const sinks = await this.enabledSinks()
    const ids = new Set(sinks.map((s) => s.id))
    for (const id of [...this.state.keys()]) if (!ids.has(id)) this.state.delete(id)
    for (const s of sinks) {
      if (this.stopped) break
      const retryAt = Math.max(this.state.get(s.id)?.retryAt ?? 0, s.lease_holder === this.holder && s.next_retry_at ? new Date(s.next_retry_at).getTime() : 0)
      if (retryAt > Date.now()) continue
      try {
        if (!(await this.claim(s))) continue
        const n = await this.batch(s)
        if (n && n >= (s.config.batchSize ?? this.opts.batchSize ?? (s.kind === 'webhook' ? 100 : 1000))) more = true
      } catch {
        /* recorded on the sink by batch() */
      }
    }
    return more
  }

  /** Follows the log until stop(): sends new rows as they commit (polled every pollMs), retrying failures with backoff. */
  follow(): Promise<void> {
    if (this.running) return this.running
    this.stopped = false
    this.running = (async () => {
      // A database that is away fails every pass: say so once, not every second.
      let lastError = ''
      while (!this.stopped) {
        let more = false
        try {
          more = await this.pass()
          lastError = ''
        } catch (e) {
          const m = (e as Error).message
          if (m !== lastError) this.log(`[forward] ${m}`)
          lastError = m
        }
        if (more || this.stopped) continue
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.opts.pollMs ?? 1000)
          this.wake = () => {
            clearTimeout(t)
            resolve()
          }
        })
        this.wake = null
      }
      for (const id of [...this.state.keys()]) await this.knex.raw(`select audit_sink_release(?, ?)`, [id, this.holder]).catch(() => undefined)
      this.state.clear()
    })().finally(() => {
      this.running = null
    })
    return this.running
  }

  /** Looks for new rows now instead of at the next poll. */
  kick(): void {
    this.wake?.()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.wake?.()
    await this.running
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

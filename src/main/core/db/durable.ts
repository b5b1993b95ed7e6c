/**
 * Shared WAL flushes for changes committed without waiting for their own (synchronous_commit off).
 *
 * A commit that waits for its WAL flush holds every row lock of its transaction until the flush is on disk.
 * Next-free allocation locks the pool's row and the audit chain's head, so with a durable commit per
 * allocation those locks pass from one transaction to the next at most once per disk flush, however many
 * callers wait (measured: one WAL flush per allocation, the waiting backends queued on those two row locks,
 * bench/ipam-concurrent.ts). Such a change instead commits with synchronous_commit off, which releases its
 * locks as soon as the commit record is in the WAL buffers, and its caller waits here for a flush that
 * covers it before being answered: the caller still hears back only once its own commit is durable, while
 * the locks are held for no disk flush at all, and one flush covers every commit made before it.
 *
 * The flush: a transaction that writes WAL and commits with the session's synchronous_commit setting flushes
 * the WAL up to its own commit record, so up to every commit before it (the WAL is one sequence). A
 * transactional logical message (pg_logical_emit_message, executable by every login, any wal_level, no
 * table touched, no lock taken) is the smallest such write. Where the server itself runs with
 * synchronous_commit off, that flush does not wait either, as the change's own commit would not have.
 *
 * The chain stays whole through a server crash for the same reason: a later row's commit can only be on
 * disk if every earlier one is. A reader may see a change a little before it is durable (as with any
 * asynchronous commit); nothing that reader then commits durably can be on disk without it.
 *
 * Per database handle, one flush is in flight; callers that arrive meanwhile share the next one, which
 * starts after all of them have committed (a flush only covers commits made before it started).
 *
 * A reader that knows the WAL position it needs on disk (the outbox claim: the insert position read after
 * its snapshot, past every commit it can see) waits with awaitDurableAt instead: satisfied by the flush in
 * flight when that one's message lies past the position, else by one look at the flushed position (a flush
 * writes out all the WAL inserted when it starts, so it often covers more than its own message), and only
 * then by a flush of its own, which a local change committing meanwhile shares.
 */
import type { Knex } from '@mikro-orm/postgresql'

/**
 * The flush: a transactional logical message, whose commit (with the session's synchronous_commit) waits
 * for the WAL up to it to be on disk. Its value is the message's WAL position. Also sent by the batched
 * next-free query at the end of its own round trip (ipam/next-free.ts).
 */
export const FLUSH_SQL = `select pg_logical_emit_message(true, 'netkeeper', 'durable')`

interface Waiter {
  resolve: () => void
  reject: (e: unknown) => void
  /** Satisfied by any flush known to reach this WAL position (awaitDurableAt); without it, by the next flush. */
  lsn?: bigint
}

/** A pg_lsn as text ('16/B374D848') as one number, to compare positions. */
export function lsnValue(text: string): bigint {
  const [hi, lo] = text.split('/')
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)
}

class FlushGroup {
  private queue: Waiter[] = []
  private busy = false
  /** The flush in flight (resolved when it comes back), for settled(). */
  private inFlight?: Promise<void>

  constructor(private readonly knex: Knex) {}

  wait(lsn?: bigint): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject, lsn })
      if (!this.busy) void this.drain()
    })
  }

  /** Resolves once the flush in flight and those already asked for have come back (never rejects). */
  settled(): Promise<void> {
    if (this.queue.length) return this.wait().catch(() => undefined)
    return this.inFlight ?? Promise.resolve()
  }

  /** Resolves the waiters for a position up to `at` (a position the server answering now has on disk). */
  private settle(at: bigint): void {
    this.queue = this.queue.filter((w) => {
      if (w.lsn === undefined || w.lsn > at) return true
      w.resolve()
      return false
    })
  }

  private async drain(): Promise<void> {
    this.busy = true
    try {
      while (this.queue.length) {
        // Only waiters for a position: a flush writes out all the WAL inserted when it starts, not just up to
        // its own message, so the last one (or the server's own WAL writer) may well have covered them. One
        // look at the flushed position (no write, no disk wait) is cheaper than a flush; and a local change
        // that committed meanwhile has the time to ask too, so that one flush serves both.
        if (this.queue.every((w) => w.lsn !== undefined)) {
          try {
            const f = await this.knex.raw<{ rows: { lsn: string }[] }>(`select pg_current_wal_flush_lsn()::text as lsn`)
            this.settle(lsnValue(f.rows[0]!.lsn))
          } catch {
            // The flush below says what is wrong.
          }
          if (!this.queue.length) break
        }
        // Everyone queued so far committed before this flush is sent.
        const group = this.queue.splice(0)
        let done!: () => void
        this.inFlight = new Promise<void>((r) => (done = r))
        try {
          // The message's own end in the WAL: its commit comes after it, so once the commit's flush is waited
          // for, everything up to there is on disk.
          const r = await this.knex.raw<{ rows: { lsn: string }[] }>(`${FLUSH_SQL}::text as lsn`)
          for (const w of group) w.resolve()
          // Waiters that came meanwhile for a position this flush reached need no flush of their own. (Only
          // this flush's answer counts, not an older one: after a failover the server answering now may be
          // behind a position the old one had flushed.)
          this.settle(lsnValue(r.rows[0]!.lsn))
        } catch (e) {
          for (const w of group) w.reject(e)
        } finally {
          this.inFlight = undefined
          done()
        }
      }
    } finally {
      this.busy = false
    }
  }
}

const groups = new WeakMap<Knex, FlushGroup>()

function groupOf(knex: Knex): FlushGroup {
  let g = groups.get(knex)
  if (!g) groups.set(knex, (g = new FlushGroup(knex)))
  return g
}

/**
 * Resolves once every commit this process made on `knex` before the call is durable (as durable as a commit
 * with the session's synchronous_commit setting). Call it after a change committed with
 * synchronous_commit off, before answering its caller.
 */
export function awaitDurable(knex: Knex): Promise<void> {
  return groupOf(knex).wait()
}

/**
 * Resolves once the WAL is durable up to `lsn` (a pg_lsn as text, read on the server answering now): with the
 * flush in flight when that one reaches it, else with the next (shared as awaitDurable's are).
 */
export function awaitDurableAt(knex: Knex, lsn: string): Promise<void> {
  return groupOf(knex).wait(lsnValue(lsn))
}

/**
 * Resolves once the shared flushes this process has in flight or asked for on `knex` have come back (at once
 * when there are none); never rejects. The outbox claim waits for them first: the flush a local change is
 * already paying for then covers the rows it claims, with no flush or look of its own.
 */
export function flushesSettled(knex: Knex): Promise<void> {
  return groups.get(knex)?.settled() ?? Promise.resolve()
}

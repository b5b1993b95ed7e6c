/**
 * The text-search index of audit rows written by an import, built after the import commits.
 *
 * Trigram-indexing an audit row's details costs some 45 to 85 µs (one GIN entry per distinct trigram), which
 * for an import of 200,000 addresses was more than all the rest of the import. So rows with source 'import'
 * are left out of audit_logs_details_trgm_idx (a partial index), and a statement trigger records their
 * sequence numbers in audit_import_search_backlog in the importing transaction. This indexer copies their
 * details text into audit_import_search (trigram-indexed too) in small transactions and shrinks the backlog
 * as it goes. Until it has caught up, a search tests the rows still in the backlog directly
 * (AuditService.where), so what a search finds never depends on how far the indexer got; only its speed does.
 *
 * Several processes may run it at once (the app, the CLI): each step takes its backlog entry with
 * FOR UPDATE SKIP LOCKED. The retention purge takes SEARCH_LOCK exclusively while it deletes rows and their
 * copies; a step holds it shared, so no copy outlives its row.
 */
import type { Knex } from '@mikro-orm/postgresql'

type Rows<T> = { rows: T[] }

/** The advisory lock shared by indexer steps and taken exclusively by the retention purge. */
export const SEARCH_LOCK_SQL = `hashtext('netkeeper:audit-import-search')`

/** Audit rows per indexer transaction: a few hundred milliseconds of work, so a stop is quick. */
const STEP_ROWS = 5_000

export interface IndexerProgress {
  /** Rows copied into the search index so far by this drain. */
  indexed: number
  /** Sequence numbers still in the backlog (an upper bound on rows: the ranges may hold non-import rows). */
  remaining: number
}

export interface DrainReport {
  indexed: number
  ms: number
  /** False when stopped (close) before the backlog was empty. */
  complete: boolean
}

/** The backlog as ranges, adjacent ones joined (an import leaves one entry per statement). */
export async function backlogRanges(knex: Knex): Promise<Array<[string, string]>> {
  const r = await knex.raw<Rows<{ first_seq: string; last_seq: string }>>(
    `select first_seq::text as first_seq, last_seq::text as last_seq from audit_import_search_backlog b order by b.first_seq`
  )
  const out: Array<[string, string]> = []
  for (const row of r.rows) {
    const last = out[out.length - 1]
    if (last && BigInt(last[1]) + 1n >= BigInt(row.first_seq)) {
      if (BigInt(row.last_seq) > BigInt(last[1])) last[1] = row.last_seq
    } else out.push([row.first_seq, row.last_seq])
  }
  return out
}

export class ImportSearchIndexer {
  private running: Promise<DrainReport> | null = null
  private again = false
  private stopped = false
  /** When false, kick() does nothing: the owner drains when it chooses (the CLI, after printing its result). */
  background = true

  constructor(private readonly knex: Knex) {}

  /** Sequence numbers waiting to be indexed. */
  async remaining(): Promise<number> {
    const r = await this.knex.raw<Rows<{ n: string | null }>>(`select sum(last_seq - first_seq + 1)::text as n from audit_import_search_backlog`)
    return Number(r.rows[0]?.n ?? 0)
  }

  /**
   * Works the backlog off until it is empty (or close() is called). Joins a drain already running in this
   * process. Errors reject; the backlog keeps what was not done, for the next drain.
   */
  drain(onProgress?: (p: IndexerProgress) => void): Promise<DrainReport> {
    if (this.running) {
      this.again = true
      return this.running
    }
    this.stopped = false
    this.running = this.loop(onProgress).finally(() => {
      this.running = null
    })
    return this.running
  }

  /** Starts a drain in the background (after an import commits, when a long-running host starts). */
  kick(): void {
    if (this.stopped || !this.background) return
    // Quiet when it works (a CLI's standard output is its result); a failure is logged and the backlog kept.
    this.drain().catch((e: Error) => console.error('[audit] indexing imported audit rows for text search failed (kept for the next try):', e.message))
  }

  /** Stops a running drain after its current step (what is done stays done). */
  async close(): Promise<void> {
    this.stopped = true
    await this.running?.catch(() => undefined)
  }

  private async loop(onProgress?: (p: IndexerProgress) => void): Promise<DrainReport> {
    const started = performance.now()
    let indexed = 0
    for (;;) {
      if (this.stopped) return { indexed, ms: performance.now() - started, complete: false }
      const step = await this.step()
      if (step === null) {
        // Nothing left that this process can take. An import that committed meanwhile asked for another look.
        if (this.again) {
          this.again = false
          continue
        }
        return { indexed, ms: performance.now() - started, complete: true }
      }
      indexed += step
      if (onProgress) onProgress({ indexed, remaining: await this.remaining() })
    }
  }

  /** One transaction: the lowest backlog entry's first STEP_ROWS sequence numbers. Null when none is free. */
  private async step(): Promise<number | null> {
    return this.knex.transaction(async (trx) => {
      await trx.raw(`select pg_advisory_xact_lock_shared(${SEARCH_LOCK_SQL})`)
      const r = await trx.raw<Rows<{ first_seq: string; last_seq: string }>>(
        `select b.first_seq::text as first_seq, b.last_seq::text as last_seq from audit_import_search_backlog b
          order by b.first_seq limit 1 for update skip locked`
      )
      const entry = r.rows[0]
      if (!entry) return null
      const upto = BigInt(entry.first_seq) + BigInt(STEP_ROWS) - 1n
      const end = upto < BigInt(entry.last_seq) ? upto.toString() : entry.last_seq
      const copied = await trx.raw<Rows<{ n: number }>>(
        `with ins as (
           insert into audit_import_search (seq, doc)
           select seq, details::text from audit_logs where seq between ?::bigint and ?::bigint and source = 'import'
           on conflict (seq) do nothing
           returning 1
         ) select count(*)::int as n from ins`,
        [entry.first_seq, end]
      )
      if (end === entry.last_seq) await trx.raw(`delete from audit_import_search_backlog where first_seq = ?::bigint`, [entry.first_seq])
      else await trx.raw(`update audit_import_search_backlog set first_seq = ?::bigint + 1 where first_seq = ?::bigint`, [end, entry.first_seq])
      return copied.rows[0]!.n
    })
  }
}

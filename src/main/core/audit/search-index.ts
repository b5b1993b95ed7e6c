/**
 * The text-search index of audit rows written by an import, built after the import commits.
 *
 * Trigram-indexing an audit row's details costs some 45 to 85 µs (one GIN entry per distinct trigram), which
 * for an import of 200,000 addresses was more than all the rest of the import. So rows with source 'import'
 * are left out of audit_logs_details_trgm_idx (a partial index). This indexer copies their details text into
 * audit_import_search (trigram-indexed too) in sequence order, in small transactions, and records how far it
 * got in audit_import_search_state. The import rows above that point are found through
 * audit_logs_import_seq_idx, and a search tests them directly (AuditService.where), so what a search finds
 * never depends on how far the indexer got; only its speed does.
 *
 * Sequence numbers are given out under the chain head's lock, which the appending transaction holds until it
 * ends, so every committed row sits below every row still being written: the point only ever passes rows
 * that are there for good. Several processes may run the indexer (the app, the CLI); a step locks the state
 * row, so they take turns. The retention purge takes SEARCH_LOCK exclusively while it deletes rows and their
 * copies; a step holds it shared, so no copy outlives its row.
 */
import type { Knex } from '@mikro-orm/postgresql'

type Rows<T> = { rows: T[] }

/** The advisory lock shared by indexer steps and taken exclusively by the retention purge. */
export const SEARCH_LOCK_SQL = `hashtext('netkeeper:audit-import-search')`

/** Audit rows per indexer transaction: a few hundred milliseconds of work, so a stop is quick. */
const STEP_ROWS = 5_000

export interface DrainReport {
  indexed: number
  ms: number
  /** False when stopped (close) before every import row was indexed. */
  complete: boolean
}

/** The sequence number up to which import rows are indexed for search. */
export async function indexedUpTo(knex: Knex): Promise<string> {
  const r = await knex.raw<Rows<{ last_seq: string }>>(`select last_seq::text as last_seq from audit_import_search_state where id = 1`)
  return r.rows[0]?.last_seq ?? '0'
}

export class ImportSearchIndexer {
  private running: Promise<DrainReport> | null = null
  private again = false
  private stopped = false
  /** When false, kick() does nothing: the owner drains when it chooses (the CLI, after printing its result). */
  background = true

  constructor(private readonly knex: Knex) {}

  /** Import rows waiting to be indexed. */
  async remaining(): Promise<number> {
    const r = await this.knex.raw<Rows<{ n: string }>>(
      `select count(*)::text as n from audit_logs where source = 'import' and seq > (select last_seq from audit_import_search_state where id = 1)`
    )
    return Number(r.rows[0]?.n ?? 0)
  }

  /**
   * Indexes until every committed import row is (or close() is called). Joins a drain already running in
   * this process. Errors reject; what was not done waits for the next drain.
   */
  drain(): Promise<DrainReport> {
    if (this.running) {
      this.again = true
      return this.running
    }
    this.stopped = false
    this.running = this.loop().finally(() => {
      this.running = null
    })
    return this.running
  }

  /** Starts a drain in the background (after an import commits, when a long-running host starts). */
  kick(): void {
    if (this.stopped || !this.background) return
    // Quiet when it works (a CLI's standard output is its result); a failure is logged, the rows wait.
    this.drain().catch((e: Error) => console.error('[audit] indexing imported audit rows for text search failed (kept for the next try):', e.message))
  }

  /** Stops a running drain after its current step (what is done stays done). */
  async close(): Promise<void> {
    this.stopped = true
    await this.running?.catch(() => undefined)
  }

  private async loop(): Promise<DrainReport> {
    const started = performance.now()
    let indexed = 0
    for (;;) {
      if (this.stopped) return { indexed, ms: performance.now() - started, complete: false }
      const step = await this.step()
      if (step === null) {
        // Nothing left. An import that committed meanwhile asked for another look.
        if (this.again) {
          this.again = false
          continue
        }
        return { indexed, ms: performance.now() - started, complete: true }
      }
      indexed += step
    }
  }

  /**
   * One transaction: the next STEP_ROWS import rows above the point copied, and the point moved past them
   * (audit_import_search_step, owned by netkeeper_owner, so no role needs to write the search tables). Null
   * when none is left.
   */
  private async step(): Promise<number | null> {
    const r = await this.knex.raw<Rows<{ n: number; last: string | null }>>(`select n, last::text as last from audit_import_search_step(${STEP_ROWS})`)
    const { n, last } = r.rows[0]!
    if (!n || last === null) return null
    return n
  }
}

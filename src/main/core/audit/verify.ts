/**
 * Verification of the hash chain: every row's hash recomputed in Node through a server-side cursor, runs
 * removed by a purge bridged by their checkpoints, and each checkpoint checked against the purge record
 * that lists it.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { VerifyProblem, VerifyReport } from '../../../shared/audit'
import { canonicalBody, GENESIS_HASH, rowHash } from './canonical'
import type { AuditRow, Rows } from './rows'

/**
 * What verify reads: the hashed fields, with the time already in the writer's ISO form (parsing a million
 * timestamps into Dates and back costs more than hashing them).
 */
const VERIFY_COLUMNS = `seq::text as seq, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at, action,
  resource_type, resource_id, resource_name, db_user, user_id, host(user_ip) as user_ip, user_agent, status, details, request_id, source,
  prev_hash, row_hash`

/** A row as verify reads it (VERIFY_COLUMNS): the time already in ISO form. */
type VerifyRow = Omit<AuditRow, 'created_at'> & { created_at: string }

/** The canonical body of a stored row, exactly as the writer serialised it. */
function bodyOf(r: VerifyRow): string {
  return canonicalBody({
    createdAt: r.created_at,
    // Rows written before the server stamped the login have no dbUser key in their body.
    dbUser: r.db_user ?? undefined,
    action: r.action,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    resourceName: r.resource_name,
    userId: r.user_id,
    userIp: r.user_ip,
    userAgent: r.user_agent,
    status: r.status,
    details: r.details,
    requestId: r.request_id,
    source: r.source
  })
}

/**
 * Walks the chain in sequence order through a server-side cursor and reports the first row that was
 * altered, is missing or is out of order. Runs of rows removed by a purge are bridged by their checkpoints.
 */
export async function verify(knex: Knex, onProgress?: (checked: number) => void): Promise<VerifyReport> {
  const started = performance.now()
  const head = (await knex.raw<Rows<{ last_seq: string; last_hash: string }>>(`select last_seq::text, last_hash from audit_chain_head where id = 1`)).rows[0]!
  const cps = (
    await knex.raw<Rows<{ first_seq: string; last_seq: string; last_hash: string; purge_seq: string | null }>>(
      `select first_seq::text, last_seq::text, last_hash, purge_seq::text from audit_checkpoints order by first_seq`
    )
  ).rows
  const byFirst = new Map(cps.map((c) => [BigInt(c.first_seq), c]))
  const purgeRuns = new Map<string, Set<string>>()
  let problem: VerifyProblem | null = null
  let checked = 0
  let firstSeq: string | null = null
  let lastSeq: string | null = null
  let expectedSeq = 1n
  let expectedPrev = GENESIS_HASH

  /** Bridges a gap [expectedSeq, upTo] with checkpoints; returns false when some part is not covered. */
  const bridge = (upTo: bigint): boolean => {
    while (expectedSeq <= upTo) {
      const cp = byFirst.get(expectedSeq)
      if (!cp || BigInt(cp.last_seq) > upTo) return false
      expectedPrev = cp.last_hash
      expectedSeq = BigInt(cp.last_seq) + 1n
    }
    return true
  }

  await knex.transaction(async (trx) => {
    await trx.raw(`declare audit_verify no scroll cursor for select ${VERIFY_COLUMNS} from audit_logs order by audit_logs.seq`)
    const fetchNext = () => trx.raw<Rows<VerifyRow>>(`fetch 10000 from audit_verify`).then((r) => r.rows)
    // Ask for the next batch before hashing this one, so the server reads while this process hashes.
    let pending = fetchNext()
    scan: for (;;) {
      const batch = await pending
      if (!batch.length) break
      pending = fetchNext()
      for (const r of batch) {
        const seq = BigInt(r.seq)
        if (firstSeq === null) firstSeq = r.seq
        if (seq !== expectedSeq) {
          const gapStart = expectedSeq
          if (seq < expectedSeq || !bridge(seq - 1n)) {
            problem = {
              seq: gapStart.toString(),
              kind: 'missing',
              message: seq - 1n === gapStart ? `row ${gapStart} is missing` : `rows ${gapStart} to ${seq - 1n} are missing`
            }
            break scan
          }
        }
        if (r.prev_hash !== expectedPrev) {
          problem = {
            seq: r.seq,
            kind: 'reordered',
            message: `row ${r.seq} does not follow row ${seq - 1n}: its previous-row hash does not match (rows reordered, or one replaced)`
          }
          break scan
        }
        const computed = rowHash(r.prev_hash, r.seq, bodyOf(r))
        if (computed !== r.row_hash) {
          problem = { seq: r.seq, kind: 'altered', message: `row ${r.seq} was altered: its contents no longer match its hash` }
          break scan
        }
        // Purge records list the runs they removed; collected to cross-check the checkpoints.
        if (r.resource_type === 'audit_log' && r.details?.context && Array.isArray((r.details.context as { runs?: unknown }).runs)) {
          const runs = (r.details.context as { runs: [string, string, string][] }).runs
          purgeRuns.set(r.seq, new Set(runs.map((x) => x.join(':'))))
        }
        expectedPrev = r.row_hash
        expectedSeq = seq + 1n
        lastSeq = r.seq
        checked++
      }
      onProgress?.(checked)
    }
    // Let a fetch still in flight finish before the cursor closes.
    await pending.catch(() => undefined)
    await trx.raw(`close audit_verify`)
  })

  if (!problem && expectedSeq <= BigInt(head.last_seq)) {
    const gapStart = expectedSeq
    if (!bridge(BigInt(head.last_seq)) || expectedPrev !== head.last_hash) {
      problem = { seq: gapStart.toString(), kind: 'missing', message: `rows ${gapStart} to ${head.last_seq} (the newest) are missing` }
    }
  } else if (!problem && lastSeq !== null && expectedPrev !== head.last_hash) {
    problem = { seq: lastSeq, kind: 'altered', message: `the newest row ${lastSeq} does not match the chain head` }
  }
  if (!problem) {
    // Every checkpoint must be listed by the purge record that made it, so none can be forged afterwards.
    for (const cp of cps) {
      const runs = cp.purge_seq ? purgeRuns.get(cp.purge_seq) : undefined
      if (!runs || !runs.has(`${cp.first_seq}:${cp.last_seq}:${cp.last_hash}`)) {
        problem = { seq: cp.first_seq, kind: 'checkpoint', message: `checkpoint for rows ${cp.first_seq} to ${cp.last_seq} is not backed by a purge record` }
        break
      }
    }
  }
  return {
    ok: problem === null,
    checked,
    firstSeq,
    lastSeq,
    headSeq: head.last_seq,
    checkpoints: cps.length,
    problem,
    seconds: Math.round((performance.now() - started) / 10) / 100
  }
}

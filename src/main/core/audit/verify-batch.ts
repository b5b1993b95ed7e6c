/**
 * The part of verification that is the same for every row and needs no other row than the one before it:
 * decode the row, rebuild its canonical body, hash it. It runs in worker threads (verify-worker.ts) while
 * the main thread reads the next rows, or in the main thread where no worker can be started; verify.ts
 * then walks the batches in order and makes every decision about the chain.
 *
 * A row arrives as the text of one JSON array built by PostgreSQL (ROW_JSON below), so decoding it is one
 * native JSON.parse instead of the driver building an object of sixteen typed columns. The values are the
 * ones verify always read: text exactly as stored (PostgreSQL's JSON escaping round-trips every string),
 * the time in the writer's ISO form, and details as the jsonb's own JSON text parsed by JSON.parse, as the
 * driver parses jsonb.
 */
import { canonicalBody, canonicalJson, jsonString, rowHash } from './canonical'

/** One audit row as a JSON array, in the order decode() reads it. */
export const ROW_JSON = `json_build_array(seq::text, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), action, resource_type,
  resource_id, resource_name, db_user, user_id, host(user_ip), user_agent, status, details, request_id, source, prev_hash, row_hash)::text`

/** What the chain walk needs of a row. */
export interface RowFacts {
  seq: string
  /** The stored previous-row hash. */
  prev: string
  /** The stored hash of this row. */
  hash: string
  /** Whether the hash recomputed from the row's contents equals the stored one. */
  ok: boolean
}

/** A batch of consecutive rows (in sequence order), summarised for the chain walk. */
export interface BatchSummary {
  count: number
  first: RowFacts
  last: { seq: string; hash: string }
  /**
   * Every row after the first that does not simply continue the row before it (its sequence number one
   * more, its previous-row hash that row's hash, its own hash recomputed equal), with the row before it.
   * Rows not listed pass every check the walk makes, given the row before them.
   */
  breaks: { index: number; row: RowFacts; before: { seq: string; hash: string } }[]
  /** Purge records (resource type audit_log) and the runs they list, each run as "first:last:hash". */
  purgeRuns: [seq: string, runs: string[]][]
  /**
   * The archive each of those purge records names (`details.context.archive`, as stored), for the ones
   * that name one: what `verify --archives` holds each purge archive to.
   */
  purgeArchives: [seq: string, archive: unknown][]
  /**
   * The rows whose seq was asked for (hashBatch's `want`), in order: `verify --archives` needs the chain's
   * hash at the edges of each copy archive's runs, wherever they fall inside a batch.
   */
  marks: [index: number, seq: string, prev: string, hash: string][]
}

export type RowArray = [
  seq: string,
  createdAt: string,
  action: string,
  resourceType: string,
  resourceId: string | null,
  resourceName: string | null,
  dbUser: string | null,
  userId: string | null,
  userIp: string | null,
  userAgent: string | null,
  status: string,
  details: { context?: { runs?: unknown } } | null,
  requestId: string | null,
  source: string,
  prevHash: string,
  rowHash: string
]

// JSON text of a field that repeats row after row (kept by jsonString), and of one that rarely does.
const str = (v: string | null): string => (v === null ? 'null' : jsonString(v))
const text = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v))

/**
 * The canonical body of a stored row, exactly as the writer serialised it: canonicalBody() of its fields
 * (tests/unit/audit-canonical.test.ts holds the two equal). Every field but details is text or null, so
 * the top level is written in its sorted key order directly; details goes through canonicalJson.
 */
export function storedBody(r: RowArray): string {
  for (let i = 1; i < 16; i++) {
    const v = r[i]
    if (i !== 11 && v !== null && typeof v !== 'string') return generalBody(r)
  }
  return (
    '{"action":' +
    jsonString(r[2]) +
    ',"createdAt":' +
    JSON.stringify(r[1]) +
    // Rows written before the server stamped the login have no dbUser key in their body.
    (r[6] === null ? '' : ',"dbUser":' + jsonString(r[6])) +
    ',"details":' +
    canonicalJson(r[11]) +
    ',"requestId":' +
    text(r[12]) +
    ',"resourceId":' +
    text(r[4]) +
    ',"resourceName":' +
    text(r[5]) +
    ',"resourceType":' +
    jsonString(r[3]) +
    ',"source":' +
    jsonString(r[13]) +
    ',"status":' +
    jsonString(r[10]) +
    ',"userAgent":' +
    str(r[9]) +
    ',"userId":' +
    str(r[7]) +
    ',"userIp":' +
    text(r[8]) +
    '}'
  )
}

/** The same through the general definition (for a row whose fields are not all text). */
function generalBody(r: RowArray): string {
  return canonicalBody({
    createdAt: r[1],
    dbUser: r[6] ?? undefined,
    action: r[2],
    resourceType: r[3],
    resourceId: r[4],
    resourceName: r[5],
    userId: r[7],
    userIp: r[8],
    userAgent: r[9],
    status: r[10],
    details: r[11],
    requestId: r[12],
    source: r[13]
  })
}

/**
 * Decodes and hashes `rows` (ROW_JSON texts, consecutive in sequence order). `want`: the seqs whose rows
 * are to be listed in `marks` whatever they hold.
 */
export function hashBatch(rows: string[], want?: ReadonlySet<string>): BatchSummary {
  if (!rows.length) throw new Error('hashBatch: an empty batch')
  const breaks: BatchSummary['breaks'] = []
  const purgeRuns: BatchSummary['purgeRuns'] = []
  const purgeArchives: BatchSummary['purgeArchives'] = []
  const marks: BatchSummary['marks'] = []
  const watching = want !== undefined && want.size > 0
  let first: RowFacts | null = null
  // The row before, kept in locals: an object per row is only made for the rows the walk must see.
  let beforeSeq = ''
  let beforeSeqN = 0n
  let beforeHash = ''
  for (let i = 0; i < rows.length; i++) {
    const r = JSON.parse(rows[i]!) as RowArray
    const seq = r[0]
    const prev = r[14]
    const hash = r[15]
    const details = r[11]
    const ok = rowHash(prev, seq, storedBody(r)) === hash
    const seqN = BigInt(seq)
    if (i === 0) first = { seq, prev, hash, ok }
    else if (!(ok && seqN === beforeSeqN + 1n && prev === beforeHash)) breaks.push({ index: i, row: { seq, prev, hash, ok }, before: { seq: beforeSeq, hash: beforeHash } })
    // Purge records list the runs they removed; collected to cross-check the checkpoints.
    if (r[3] === 'audit_log' && details?.context && Array.isArray(details.context.runs)) {
      purgeRuns.push([seq, (details.context.runs as [string, string, string][]).map((x) => x.join(':'))])
      const archive = (details.context as { archive?: unknown }).archive
      if (archive !== undefined) purgeArchives.push([seq, archive])
    }
    if (watching && want.has(seq)) marks.push([i, seq, prev, hash])
    beforeSeq = seq
    beforeSeqN = seqN
    beforeHash = hash
  }
  return { count: rows.length, first: first!, last: { seq: beforeSeq, hash: beforeHash }, breaks, purgeRuns, purgeArchives, marks }
}

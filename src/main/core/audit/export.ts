/**
 * Streaming export of the rows matching the viewer's filters as CSV, JSON or JSON Lines, in constant
 * memory, each line formatted by PostgreSQL. The report carries what the signed manifest states (see
 * export-manifest.ts): the SHA-256 of the bytes written, the sequence range and the chain head of the same
 * snapshot as the rows.
 */
import type { Writable } from 'node:stream'
import type { Knex } from '@mikro-orm/postgresql'
import type { z } from 'zod'
import { AUDIT_CSV_COLUMNS, auditFilterSchema, type AuditFilter, type ExportFormat, type ExportReport } from '../../../shared/audit'
import { csvCellSql, csvGuardedSql, TextOut } from '../db/text-export'
import { timeClause, type Where } from './filters'
import { parse, type Rows } from './rows'

export const CSV_COLUMNS = AUDIT_CSV_COLUMNS

/**
 * Streams the rows matching the filters (newest first) to `out` through a server-side cursor, in
 * constant memory: CSV (RFC 4180, header row, formulas neutralised), one JSON array, or JSON Lines.
 * PostgreSQL formats each row (exportLineSql), so the client only moves text, and while one batch is
 * written the server already formats the next.
 */
export async function exportRows(
  knex: Knex,
  where: (f: z.output<typeof auditFilterSchema>) => Promise<Where>,
  out: Writable,
  format: ExportFormat,
  input: AuditFilter = {},
  onProgress?: (done: number, total: number) => void
): Promise<ExportReport> {
  const f = parse(auditFilterSchema, input)
  const w = await where(f)
  let rows = 0
  const text = new TextOut(out)
  let firstSeq: string | null = null
  let lastSeq: string | null = null
  let head = { seq: '0', hash: '' }
  const total = onProgress ? (await knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from ${w.from} where ${w.sql}`, w.bindings)).rows[0]!.n : 0
  // The cursor walks the rows newest first by seq. With a time filter it would go on past the oldest match
  // to the first row, testing each one; the lowest matching seq (found through the time index) ends it there.
  // The bound only restates the filter, so the rows are the same.
  const time = timeClause(f)
  const bound = time ? { sql: ` and audit_logs.seq >= (select min(seq + 0) from audit_logs where ${time.sql})`, bindings: time.bindings } : { sql: '', bindings: [] }
  await knex.transaction(async (trx) => {
    // One snapshot for the head and the rows, so the manifest's head is the chain the rows were read from.
    await trx.raw(`set transaction isolation level repeatable read`)
    const h = (await trx.raw<Rows<{ seq: string; hash: string }>>(`select last_seq::text as seq, last_hash as hash from audit_chain_head where id = 1`)).rows[0]
    if (h) head = h
    await trx.raw(
      `declare audit_export no scroll cursor for select audit_logs.seq::text as seq, ${exportLineSql(format)} as line from ${w.from} where ${w.sql}${bound.sql} order by audit_logs.seq desc`,
      [...w.bindings, ...bound.bindings]
    )
    const fetchNext = () => trx.raw<Rows<{ seq: string; line: string }>>(`fetch ${EXPORT_BATCH} from audit_export`).then((r) => r.rows)
    if (format === 'csv') await text.write(CSV_COLUMNS.join(',') + '\r\n')
    if (format === 'json') await text.write('[')
    let pending = fetchNext()
    try {
      for (;;) {
        const batch = await pending
        if (!batch.length) break
        pending = fetchNext()
        // Newest first: the first row is the highest sequence number, the last the lowest.
        lastSeq ??= batch[0]!.seq
        firstSeq = batch[batch.length - 1]!.seq
        const lines = batch.map((r) => r.line)
        if (format === 'csv') await text.lines(lines, '\r\n', '', '\r\n')
        else if (format === 'jsonl') await text.lines(lines, '\n', '', '\n')
        else await text.lines(lines, ',\n', rows === 0 ? '\n' : ',\n', '')
        rows += batch.length
        onProgress?.(rows, total)
      }
    } finally {
      // A fetch still in flight (after a failed write) must finish before the transaction ends.
      await pending.catch(() => undefined)
    }
    await trx.raw(`close audit_export`)
  })
  if (format === 'json') await text.write(rows ? '\n]\n' : ']\n')
  return { format, rows, bytes: text.bytes, sha256: text.sha256(), firstSeq, lastSeq, head }
}

/** Rows per fetch of the export cursor: about 1 MB of CSV; two batches are in memory at most. */
const EXPORT_BATCH = 2000

/** The SQL expression, per column, giving the value exported for it (as text; null for SQL NULL). */
const EXPORT_VALUE: Record<(typeof CSV_COLUMNS)[number], string> = {
  seq: `seq::text`,
  createdAt: `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  action: `action`,
  resourceType: `resource_type`,
  resourceId: `resource_id`,
  resourceName: `resource_name`,
  dbUser: `db_user`,
  userId: `user_id`,
  userIp: `host(user_ip)`,
  userAgent: `user_agent`,
  status: `status`,
  source: `source`,
  requestId: `request_id`,
  details: `details::text`,
  prevHash: `prev_hash`,
  rowHash: `row_hash`,
  id: `id::text`
}

/** Columns whose stored values can never need quoting or a formula guard (CHECK constraints, types). */
const CSV_PLAIN = new Set<(typeof CSV_COLUMNS)[number]>(['seq', 'createdAt', 'action', 'status', 'source', 'userIp', 'id'])

/**
 * One exported row as text, built by PostgreSQL. CSV: a cell that starts with = + - @ tab or CR gets a
 * leading apostrophe so a spreadsheet does not run it as a formula, then a cell holding a comma, quote or
 * line break is quoted with doubled quotes (RFC 4180); `details` is always quoted (JSON text is full of
 * quotes). Each value is tested once on the common path (one regular expression); only a value that needs
 * a guard or quotes takes the longer one. JSON and JSON Lines: the same object the viewer gets.
 */
export function exportLineSql(format: ExportFormat): string {
  if (format === 'csv') {
    return CSV_COLUMNS.map((c) => {
      const e = EXPORT_VALUE[c]
      if (CSV_PLAIN.has(c)) return `coalesce(${e}, '')`
      // A jsonb number may start with '-'; any other jsonb text starts with { [ " t f or n.
      if (c === 'details') return `(case when jsonb_typeof(details) = 'number' then ${csvGuardedSql(e)} else '"' || replace(${e}, '"', '""') || '"' end)`
      return csvCellSql(e)
    }).join(` || ',' || `)
  }
  // The object written out by concatenation, each value through to_json (which escapes it) except those
  // whose text can only be JSON-safe (digits, the fixed time format, a uuid; details is jsonb's own text):
  // the same object as json_build_object's, in a third of the server's time (docs/audit.md#export-formats).
  const raw = new Set<string>(['seq', 'createdAt', 'id'])
  return (
    `('{' || ` +
    CSV_COLUMNS.map((c, i) => {
      const key = `'${i ? ',' : ''}"${c}":'`
      if (c === 'details') return `${key} || details::text`
      if (raw.has(c)) return `${key} || '"' || ${EXPORT_VALUE[c]} || '"'`
      return `${key} || coalesce(to_json(${EXPORT_VALUE[c]})::text, 'null')`
    }).join(' || ') +
    ` || '}')`
  )
}

/** The report of an import or a dry run, and its downloadable forms (JSON, CSV). */
import { stringify } from 'csv-stringify/sync'
import type { ImportProblem, ImportReport, PoolOutcome, ReportFile, ReportFormat, SkippedRow } from '../../../shared/importer'
import type { Plan } from './plan'

/** One entry per skipped row: the first reason, then the kinds of every other. */
export function skippedRows(problems: ImportProblem[]): SkippedRow[] {
  const out: SkippedRow[] = []
  const byRow = new Map<string, SkippedRow>()
  for (const p of problems) {
    if (p.severity !== 'error' || (p.outcome !== 'skipped' && p.outcome !== 'refused')) continue
    const key = `${p.table}\u0000${p.row}`
    const seen = byRow.get(key)
    if (seen) {
      if (seen.kind !== p.kind && !seen.also.includes(p.kind)) seen.also.push(p.kind)
      continue
    }
    const row: SkippedRow = { table: p.table, legacyId: p.legacyId, row: p.row, pool: p.pool ?? null, value: null, kind: p.kind, reason: p.message, also: [] }
    byRow.set(key, row)
    out.push(row)
  }
  return out
}

export function poolOutcomes(plan: Plan, poolIds?: Map<Plan['pools'][number], number>): PoolOutcome[] {
  return plan.pools.map((p) => ({
    legacyId: p.legacyId,
    row: p.src.row,
    name: p.legacyName,
    network: p.net?.text ?? p.src.network,
    action: p.action,
    targetId: p.action === 'create' || p.action === 'rename' ? (poolIds?.get(p) ?? null) : p.action === 'skip' ? null : p.targetId,
    targetName: p.action === 'skip' ? null : p.action === 'merge' ? (p.mergeTargets[0]?.name ?? null) : p.name,
    allocations: p.allocations
  }))
}

/** Fills the `value` column of skipped rows (network or address as found in the file). */
export function withValues(rows: SkippedRow[], plan: Plan, allocValue: (row: number) => string | null): SkippedRow[] {
  const poolByRow = new Map(plan.pools.map((p) => [p.src.row, p.src.network]))
  for (const r of rows) r.value = r.table === 'ip_pools' ? (poolByRow.get(r.row) ?? null) : allocValue(r.row)
  return rows
}

/** A spreadsheet runs a cell that starts with = + - @ (or a tab or CR) as a formula: prefix it with ' (as the audit export does). */
function neutraliseFormula(v: string): string {
  return /^[=+\-@\t\r]/.test(v) ? `'${v}` : v
}

export const CSV_COLUMNS = ['table', 'legacy_id', 'row', 'pool', 'value', 'kind', 'reason', 'also'] as const

/** The report as a file: JSON (the whole report) or CSV (the skipped rows, one per line, formulas neutralised). */
export function formatReport(report: ImportReport, format: ReportFormat): ReportFile {
  const stamp = report.finishedAt.replace(/[:.]/g, '-')
  const base = `netkeeper-import-${report.outcome}-${stamp}`
  if (format === 'json') {
    return { fileName: `${base}.json`, mimeType: 'application/json', content: JSON.stringify(report, null, 2) + '\n' }
  }
  const cell = (v: unknown): string => neutraliseFormula(v === null || v === undefined ? '' : String(v))
  const rows = report.skipped.map((s) => [s.table, s.legacyId, s.row, s.pool, s.value, s.kind, s.reason, s.also.join(';')].map(cell))
  return {
    fileName: `${base}.csv`,
    mimeType: 'text/csv',
    content: stringify([[...CSV_COLUMNS], ...rows], { record_delimiter: '\r\n' })
  }
}

/** The format a report file name asks for: .csv is CSV, anything else JSON. */
export function formatFor(file: string): ReportFormat {
  return /\.csv$/i.test(file) ? 'csv' : 'json'
}

/**
 * Client-side export of the audit entries the viewer's filters match, while the core has no export
 * channel (the CLI streams from the core instead: `netkeeper audit export`). Pages through audit:list with
 * the keyset cursor, newest first, and turns each page into CSV or JSON text at once, so only text is kept,
 * never the whole list of objects. Stops at a cap and says so. No DOM, no vue: unit-tested.
 */
import { AUDIT_CSV_COLUMNS, type AuditEntryDto, type AuditPage } from '../../../shared/audit'
import { csvRecord } from './csv'

/** The most rows one export collects in the window; beyond it the CLI is the tool. */
export const EXPORT_CAP = 100_000
export const EXPORT_PAGE_SIZE = 1000

/** The same columns, in the same order, as the core's streaming CSV export (one list, in shared). */
export { AUDIT_CSV_COLUMNS }

export type ClientExportFormat = 'csv' | 'json'

export function auditCsvRecord(e: AuditEntryDto): string {
  return csvRecord(AUDIT_CSV_COLUMNS.map((c) => (c === 'details' ? JSON.stringify(e.details) : e[c])))
}

export interface ExportResult {
  /** Text parts for a Blob, in order. */
  parts: string[]
  rows: number
  /** More rows matched than the cap allowed. */
  truncated: boolean
  cancelled: boolean
}

export interface ExportOptions {
  cap?: number
  pageSize?: number
  onProgress?: (rows: number) => void
  signal?: AbortSignal
}

/**
 * Collects every matching row (up to the cap) through `fetchPage`, which asks audit:list for the page
 * older than `before` (undefined for the newest page) with `limit` rows.
 */
export async function exportAudit(
  format: ClientExportFormat,
  fetchPage: (before: string | undefined, limit: number) => Promise<AuditPage>,
  opts: ExportOptions = {}
): Promise<ExportResult> {
  const cap = opts.cap ?? EXPORT_CAP
  const pageSize = opts.pageSize ?? EXPORT_PAGE_SIZE
  const parts: string[] = format === 'csv' ? [csvRecord(AUDIT_CSV_COLUMNS)] : ['[']
  let rows = 0
  let before: string | undefined
  let truncated = false
  let cancelled = false
  for (;;) {
    if (opts.signal?.aborted) {
      cancelled = true
      break
    }
    const want = Math.min(pageSize, cap - rows)
    // Ask for one more than fits under the cap, to know whether anything was left out.
    const page = await fetchPage(before, want < pageSize ? want + 1 : want)
    let items = page.items
    if (items.length > want) {
      items = items.slice(0, want)
      truncated = true
    }
    if (format === 'csv') parts.push(items.map(auditCsvRecord).join(''))
    else parts.push(items.map((e, i) => (rows + i === 0 ? '\n' : ',\n') + JSON.stringify(e)).join(''))
    rows += items.length
    opts.onProgress?.(rows)
    if (truncated) break
    if (!page.nextCursor || !page.items.length) break
    if (rows >= cap) {
      truncated = true
      break
    }
    before = page.nextCursor
  }
  if (format === 'json') parts.push(rows ? '\n]\n' : ']\n')
  return { parts, rows, truncated, cancelled }
}

/** netkeeper-audit-20261127-1405.csv, in local time. */
export function exportFileName(format: ClientExportFormat, now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0')
  return `netkeeper-audit-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}.${format}`
}

/**
 * CSV writing for exports made in the renderer (RFC 4180): fields separated by commas, records by CRLF,
 * a field quoted when it holds a comma, a double quote, CR or LF (inner quotes doubled). Spreadsheets run
 * a cell that starts with = + - @, a tab or a CR as a formula, so such cells get a leading apostrophe
 * (the same rule the core's streaming export applies). No DOM, no node: unit-tested in tests/unit/csv.test.ts.
 */

export const CSV_RECORD_DELIMITER = '\r\n'

/** A spreadsheet runs a cell that starts with = + - @ (or a tab or CR) as a formula: prefix it with '. */
export function neutraliseFormula(v: string): string {
  return /^[=+\-@\t\r]/.test(v) ? `'${v}` : v
}

/** Text for one cell: null and undefined are empty, objects are JSON, everything else String(). */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

/** One field, neutralised and quoted as RFC 4180 requires. */
export function csvField(v: unknown): string {
  const s = neutraliseFormula(cellText(v))
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** One record, with its CRLF. */
export function csvRecord(values: readonly unknown[]): string {
  return values.map(csvField).join(',') + CSV_RECORD_DELIMITER
}

/** A whole document: a header record, then one record per row (each row gives its values in column order). */
export function toCsv(header: readonly string[], rows: Iterable<readonly unknown[]>): string {
  let out = csvRecord(header)
  for (const r of rows) out += csvRecord(r)
  return out
}

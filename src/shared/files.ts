/**
 * Files the desktop app reads or writes on the person's behalf: the audit export to a file chosen in a
 * native save dialog (with progress and a cancel), and a native "choose a file" for the import wizard.
 * Shared by the handler table, the Electron shell, the browser harness and the renderer. No node,
 * electron or vue imports.
 */
import { z } from 'zod'
import { auditFilterSchema, EXPORT_FORMATS, type ExportFormat } from './audit'

const runId = z.string().uuid('must be a UUID')

export const auditExportSchema = z
  .object({
    /** Chosen by the caller so it can ask for progress (audit:export:progress) and cancel while the export runs. */
    runId,
    format: z.enum(EXPORT_FORMATS),
    /** The audit viewer's filters; the export holds every matching entry, newest first. */
    filter: auditFilterSchema.default({})
  })
  .strict()
export type AuditExportInput = z.input<typeof auditExportSchema>

export const exportRunRefSchema = z.object({ runId }).strict()

/** choosing: the save dialog is open; writing: rows are being streamed to the file. */
export type AuditExportPhase = 'choosing' | 'writing'

export interface AuditExportProgress {
  runId: string
  phase: AuditExportPhase
  format: ExportFormat
  /** Rows written so far. */
  rows: number
  /** Rows matching the filters; null until counted. */
  total: number | null
  /** True once a cancel was asked for (the export stops at its next batch). */
  cancelling: boolean
}

export interface AuditExportResult {
  /** saved: the file is complete; dismissed: the save dialog was closed; cancelled: stopped, nothing left behind. */
  outcome: 'saved' | 'dismissed' | 'cancelled'
  format: ExportFormat
  rows: number
  bytes: number
  /** The file written (the desktop app: the path chosen in the save dialog). */
  file?: string
  /**
   * Where no native dialog exists (the browser harness), the file is written to a temporary folder and
   * offered through this one-time link, which the page turns into a download named `name`.
   */
  download?: { url: string; name: string }
  /** The signed manifest written beside the file (`<file>.manifest.json`), and in the harness its own link. */
  manifest?: string
  manifestDownload?: { url: string; name: string }
  /** Why the manifest is not signed, when it is not (no key could be had from the OS keychain). */
  unsigned?: string
}

/** What a native open dialog is for; each purpose has its own title and file-type filters. */
export const OPEN_FILE_PURPOSES = ['legacy-import', 'ca-certificate', 'ipam-csv'] as const
export type OpenFilePurpose = (typeof OPEN_FILE_PURPOSES)[number]

export const openFileSchema = z.object({ purpose: z.enum(OPEN_FILE_PURPOSES) }).strict()

export interface OpenFileResult {
  /** The chosen file, or null when the dialog was closed without a choice. */
  file: string | null
}

/** A file-type filter of a native dialog ("*" matches every extension). */
export interface FileFilter {
  name: string
  extensions: string[]
}

export const OPEN_FILE_DIALOGS: Record<OpenFilePurpose, { title: string; filters: FileFilter[] }> = {
  'legacy-import': {
    title: 'Choose the LDAP Web Manager IPAM database',
    filters: [
      { name: 'SQLite databases (.sqlite, .db)', extensions: ['sqlite', 'sqlite3', 'db'] },
      { name: 'All files', extensions: ['*'] }
    ]
  },
  'ca-certificate': {
    title: 'Choose the CA certificate that signed the database server’s certificate',
    filters: [
      { name: 'PEM certificates (.pem, .crt, .cer)', extensions: ['pem', 'crt', 'cer'] },
      { name: 'All files', extensions: ['*'] }
    ]
  },
  'ipam-csv': {
    title: 'Choose the CSV file of pools or addresses',
    filters: [
      { name: 'CSV files (.csv)', extensions: ['csv'] },
      { name: 'All files', extensions: ['*'] }
    ]
  }
}

export const EXPORT_FILTERS: Record<ExportFormat, FileFilter> = {
  csv: { name: 'CSV (comma-separated values)', extensions: ['csv'] },
  json: { name: 'JSON', extensions: ['json'] },
  jsonl: { name: 'JSON Lines', extensions: ['jsonl'] }
}

/** netkeeper-audit-20261127-140512.csv, in local time. */
export function auditExportFileName(format: ExportFormat, now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0')
  return `netkeeper-audit-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}.${format}`
}

/**
 * The audit export as the app runs it: ask the shell where to save (a native save dialog in Electron, a
 * temporary file offered as a download in the browser harness), then stream the core's export
 * (AuditService.export: a server-side cursor, constant memory) into `<file>.<pid>.partial` and rename it
 * into place once complete, so a failed or cancelled export never leaves a truncated file behind. Then
 * its signed manifest goes beside it (`<file>.manifest.json`, AuditService.signExport).
 * Progress and cancel are keyed by a run id the caller picks, as for the import (import:progress).
 *
 * No Electron import: the dialogs come in through `FileDialogs`.
 */
import fs from 'node:fs'
import { Writable } from 'node:stream'
import type { Core } from '../core'
import type { RequestContext } from '../core/context'
import { AppError } from '../../shared/errors'
import type { AuditFilter, ExportFormat } from '../../shared/audit'
import type { CsvExportFileResult, CsvExportOptions, CsvExportProgress, CsvKind } from '../../shared/ipam-csv'
import { EXPORT_MANIFEST_SUFFIX } from '../core/audit/export-manifest'
import {
  auditExportFileName,
  EXPORT_FILTERS,
  OPEN_FILE_DIALOGS,
  type AuditExportProgress,
  type AuditExportResult,
  type FileFilter,
  type OpenFilePurpose
} from '../../shared/files'

/** Where a chosen file goes; `download` only where the page must fetch the file itself (the harness). */
export interface SaveTarget {
  file: string
  download?: { url: string; name: string }
}

/** What the shell offers for choosing files. Electron: src/main/shell/dialogs.ts; the harness: src/main/web. */
export interface FileDialogs {
  /** Asks where to save; null when the person closed the dialog. */
  chooseSaveFile(req: { title: string; defaultName: string; filters: FileFilter[] }): Promise<SaveTarget | null>
  /** Asks for a file to open; null when the person closed the dialog. */
  chooseOpenFile(req: { title: string; filters: FileFilter[] }): Promise<string | null>
  /** Called once a saved file is complete (the harness then lets its download link serve it). */
  saved?(target: SaveTarget): void
  /**
   * Where a file that belongs beside a saved one goes (the export's manifest): `<file><suffix>`, and in
   * the harness a download link of its own. Without it, `<file><suffix>` beside the file.
   */
  beside?(target: SaveTarget, suffix: string): SaveTarget
}

/** Refuses, naming why: used where no shell provides dialogs (tests calling the table directly). */
export const noFileDialogs: FileDialogs = {
  chooseSaveFile: async () => {
    throw new AppError('UNAVAILABLE', 'file: there is no save dialog here; use `netkeeper audit export --out FILE` on the command line')
  },
  chooseOpenFile: async () => {
    throw new AppError('UNAVAILABLE', 'file: there is no file chooser here; type the path of the file instead')
  }
}

export async function chooseOpenFile(dialogs: FileDialogs, purpose: OpenFilePurpose): Promise<{ file: string | null }> {
  return { file: await dialogs.chooseOpenFile(OPEN_FILE_DIALOGS[purpose]) }
}

class Cancelled extends Error {}

type CsvExportOptionsFilter = Omit<CsvExportOptions, 'kind'>

/**
 * A file sink that never blocks the export on a failed disk: after a write error it swallows further
 * writes and remembers the error, which the export's progress callback then throws (the core's writer
 * waits for 'drain' without listening for errors, and must not be left waiting forever).
 */
class FileSink extends Writable {
  failure?: Error

  private constructor(private readonly fh: fs.promises.FileHandle) {
    super({ highWaterMark: 256 * 1024 })
  }

  static async open(file: string): Promise<FileSink> {
    return new FileSink(await fs.promises.open(file, 'wx', 0o600))
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.failure) return cb()
    this.fh.write(chunk).then(
      () => cb(),
      (e: Error) => {
        this.failure = e
        cb()
      }
    )
  }

  /** Waits for every queued write, then syncs and closes the file; throws the first write error. */
  async finish(): Promise<void> {
    await new Promise<void>((resolve) => this.end(() => resolve()))
    if (!this.failure) await this.fh.sync().catch((e: Error) => (this.failure = e))
    await this.fh.close()
    if (this.failure) throw this.failure
  }

  async abort(): Promise<void> {
    this.destroy()
    await this.fh.close().catch(() => undefined)
  }
}

interface Job {
  progress: AuditExportProgress
  actor: string
}

export class AuditExports {
  private readonly jobs = new Map<string, Job>()

  constructor(
    private readonly core: Core,
    private readonly dialogs: FileDialogs
  ) {}

  async run(ctx: RequestContext, input: { runId: string; format: ExportFormat; filter: AuditFilter }): Promise<AuditExportResult> {
    const { runId, format, filter } = input
    if (this.jobs.has(runId)) throw new AppError('CONFLICT', `runId: an export with this id is already running`, { field: 'runId' })
    const job: Job = { actor: ctx.actor, progress: { runId, phase: 'choosing', format, rows: 0, total: null, cancelling: false } }
    this.jobs.set(runId, job)
    const empty = { format, rows: 0, bytes: 0 }
    try {
      const target = await this.dialogs.chooseSaveFile({
        title: `Export the audit log as ${format === 'jsonl' ? 'JSON Lines' : format.toUpperCase()}`,
        defaultName: auditExportFileName(format),
        filters: [EXPORT_FILTERS[format]]
      })
      if (!target) return { outcome: 'dismissed', ...empty }
      if (job.progress.cancelling) return { outcome: 'cancelled', ...empty }
      job.progress.phase = 'writing'
      const partial = `${target.file}.${process.pid}.partial`
      let sink: FileSink
      try {
        sink = await FileSink.open(partial)
      } catch (e) {
        throw new AppError('VALIDATION', `file: cannot write ${target.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { field: 'file' })
      }
      try {
        const r = await this.core.audit.export(ctx, sink, format, filter, (done, total) => {
          job.progress.rows = done
          job.progress.total = total
          if (sink.failure) throw sink.failure
          if (job.progress.cancelling) throw new Cancelled()
        })
        await sink.finish()
        await fs.promises.rename(partial, target.file)
        this.dialogs.saved?.(target)
        const side = this.dialogs.beside?.(target, EXPORT_MANIFEST_SUFFIX) ?? { file: target.file + EXPORT_MANIFEST_SUFFIX }
        const m = await this.core.audit.signExport(ctx, target.file, r, filter, side.file)
        this.dialogs.saved?.(side)
        return {
          outcome: 'saved',
          format,
          rows: r.rows,
          bytes: r.bytes,
          file: target.file,
          manifest: m.manifest,
          ...(m.unsigned ? { unsigned: m.unsigned } : {}),
          ...(target.download ? { download: target.download } : {}),
          ...(side.download ? { manifestDownload: side.download } : {})
        }
      } catch (e) {
        await sink.abort()
        await fs.promises.rm(partial, { force: true })
        if (e instanceof Cancelled) return { outcome: 'cancelled', ...empty, rows: job.progress.rows }
        if (sink.failure && e === sink.failure) {
          throw new AppError('UNAVAILABLE', `file: writing ${target.file} failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { field: 'file' })
        }
        throw e
      }
    } finally {
      this.jobs.delete(runId)
    }
  }

  progress(_ctx: RequestContext, runId: string): AuditExportProgress | null {
    const job = this.jobs.get(runId)
    return job ? { ...job.progress } : null
  }

  /** Asks a running export to stop; it removes its partial file. False when no such export is running. */
  cancel(_ctx: RequestContext, runId: string): { cancelled: boolean } {
    const job = this.jobs.get(runId)
    if (!job) return { cancelled: false }
    job.progress.cancelling = true
    return { cancelled: true }
  }
}

/**
 * The IPAM CSV export as the app runs it (the Pools screen and a pool's allocations): the same save dialog,
 * partial file and rename as the audit export, streaming IpamCsvService.export (a server-side cursor).
 */
export class IpamCsvExports {
  private readonly jobs = new Map<string, CsvExportProgress>()

  constructor(
    private readonly core: Core,
    private readonly dialogs: FileDialogs
  ) {}

  async run(ctx: RequestContext, input: { runId: string; kind: CsvKind; filter: CsvExportOptionsFilter }): Promise<CsvExportFileResult> {
    const { runId, kind, filter } = input
    if (this.jobs.has(runId)) throw new AppError('CONFLICT', `runId: an export with this id is already running`, { field: 'runId' })
    const job: CsvExportProgress = { runId, phase: 'choosing', rows: 0, cancelling: false }
    this.jobs.set(runId, job)
    const empty = { kind, rows: 0, bytes: 0 }
    try {
      const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')
      const target = await this.dialogs.chooseSaveFile({
        title: `Export ${kind} as CSV`,
        defaultName: `netkeeper-${kind}-${stamp}.csv`,
        filters: [{ name: 'CSV files (.csv)', extensions: ['csv'] }]
      })
      if (!target) return { outcome: 'dismissed', ...empty }
      if (job.cancelling) return { outcome: 'cancelled', ...empty }
      job.phase = 'writing'
      const partial = `${target.file}.${process.pid}.partial`
      let sink: FileSink
      try {
        sink = await FileSink.open(partial)
      } catch (e) {
        throw new AppError('VALIDATION', `file: cannot write ${target.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { field: 'file' })
      }
      try {
        const r = await this.core.ipamCsv.export(ctx, { kind, ...filter }, sink, (rows) => {
          job.rows = rows
          if (sink.failure) throw sink.failure
          if (job.cancelling) throw new Cancelled()
        })
        await sink.finish()
        await fs.promises.rename(partial, target.file)
        this.dialogs.saved?.(target)
        return { outcome: 'saved', kind, rows: r.rows, bytes: r.bytes, file: target.file, ...(target.download ? { download: target.download } : {}) }
      } catch (e) {
        await sink.abort()
        await fs.promises.rm(partial, { force: true })
        if (e instanceof Cancelled) return { outcome: 'cancelled', ...empty, rows: job.rows }
        throw e
      }
    } finally {
      this.jobs.delete(runId)
    }
  }

  progress(_ctx: RequestContext, runId: string): CsvExportProgress | null {
    const job = this.jobs.get(runId)
    return job ? { ...job } : null
  }

  cancel(_ctx: RequestContext, runId: string): { cancelled: boolean } {
    const job = this.jobs.get(runId)
    if (!job) return { cancelled: false }
    job.cancelling = true
    return { cancelled: true }
  }
}

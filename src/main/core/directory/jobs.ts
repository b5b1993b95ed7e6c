/**
 * Long directory work started from the app (CSV import, LDIF import, bulk actions on users or groups),
 * registered under a run id the window picks, so it can poll the progress and ask for a cancel while the
 * request is pending (directory:job:progress, directory:job:cancel), as the legacy import does.
 *
 * A cancel is honoured before the next entry: LDAP has no transactions, so what was applied before it stays
 * applied and the report says exactly which entries that was. Only the person who started a run can see or
 * cancel it. The CLI passes its own progress callback and SIGINT flag to the services and does not come here.
 */
import { randomUUID } from 'node:crypto'
import type { DirectoryJobProgress } from '../../../shared/directory-admin'
import { AppError } from '../../../shared/errors'
import type { RequestContext } from '../context'

export interface JobHooks {
  /** Reports done of total (and the entry in hand). */
  progress: (done: number, total: number, current?: string | null) => void
  /** True once a cancel was asked for. */
  cancelled: () => boolean
}

export class DirectoryJobs {
  private readonly jobs = new Map<string, { actor: string; progress: DirectoryJobProgress }>()

  async track<T>(ctx: RequestContext, runId: string | undefined, kind: DirectoryJobProgress['kind'], work: (hooks: JobHooks) => Promise<T>): Promise<T> {
    const id = runId ?? randomUUID()
    if (this.jobs.has(id)) throw new AppError('CONFLICT', `runId: a directory run with id ${id} is already running`, { field: 'runId' })
    const job = { actor: ctx.actor, progress: { runId: id, kind, done: 0, total: 0, current: null, cancelling: false } as DirectoryJobProgress }
    this.jobs.set(id, job)
    try {
      return await work({
        progress: (done, total, current) => {
          job.progress.done = done
          job.progress.total = total
          job.progress.current = current ?? null
        },
        cancelled: () => job.progress.cancelling
      })
    } finally {
      this.jobs.delete(id)
    }
  }

  progress(ctx: RequestContext, runId: string): DirectoryJobProgress | null {
    const job = this.jobs.get(runId)
    return job && job.actor === ctx.actor ? { ...job.progress } : null
  }

  /** Asks a run to stop before its next entry; false when no run of this person has that id. */
  cancel(ctx: RequestContext, runId: string): { cancelled: boolean } {
    const job = this.jobs.get(runId)
    if (!job || job.actor !== ctx.actor) return { cancelled: false }
    job.progress.cancelling = true
    return { cancelled: true }
  }
}

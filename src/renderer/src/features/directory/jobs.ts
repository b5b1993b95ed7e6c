/**
 * Progress and cancel of directory runs started from this window (CSV import, LDIF import, bulk actions):
 * the request carries a run id; these poll directory:job:progress and call directory:job:cancel with it.
 */
import { api } from '@renderer/api'

export interface RunProgress {
  done: number
  total: number
  label: string | null
}

export async function jobProgress(runId: string): Promise<RunProgress | null> {
  const p = await api['directory:job:progress']({ runId })
  return p && { done: p.done, total: p.total, label: p.current }
}

export async function jobCancel(runId: string): Promise<boolean> {
  return (await api['directory:job:cancel']({ runId })).cancelled
}

/** What a bulk action on users or groups reports, as the panels show it. */
export interface BulkOutcome {
  action: string
  requestId: string
  done: string[]
  unchanged: string[]
  failed: { name: string; message: string }[]
  cancelled: boolean
  notAttempted: string[]
}

/** One line for the notice after a bulk action: changed, already so, failed, and what a cancel left out. */
export function bulkSummary(r: BulkOutcome): string {
  const parts = [`${r.action}: ${r.done.length} changed`]
  if (r.unchanged.length) parts.push(`${r.unchanged.length} already so`)
  if (r.failed.length) parts.push(`${r.failed.length} failed (${r.failed.map((f) => f.name).join(', ')})`)
  if (r.cancelled) parts.push(`cancelled before ${r.notAttempted.join(', ')} (not attempted)`)
  return `${parts.join(', ')}.`
}

/**
 * Export CSV from the Pools screen and a pool's allocations (ipam:csv:export): a save dialog, then the rows
 * matching the current filters streamed to it in the main process; in the browser harness a download.
 */
import { ref } from 'vue'
import type { CsvExportInput, CsvKind } from '@shared/ipam-csv'
import { api } from '@renderer/api'
import { userMessage } from '@renderer/lib/errors'
import { useNoticesStore } from '@renderer/features/shell'

export const csvExporting = ref<CsvKind | null>(null)

function offerDownload(url: string, name: string): void {
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.style.display = 'none'
  document.body.append(a)
  a.click()
  a.remove()
}

export async function exportCsv(kind: CsvKind, filter: NonNullable<CsvExportInput['filter']>): Promise<void> {
  if (csvExporting.value) return
  const notices = useNoticesStore()
  csvExporting.value = kind
  try {
    const r = await api['ipam:csv:export']({ runId: crypto.randomUUID(), kind, filter })
    if (r.outcome === 'dismissed') return
    if (r.outcome === 'cancelled') {
      notices.notify('Export stopped; nothing was saved.', 'warn')
      return
    }
    if (r.download) offerDownload(r.download.url, r.download.name)
    notices.notify(`Saved ${r.rows.toLocaleString('en-US')} ${kind === 'pools' ? 'pool' : 'allocation'}${r.rows === 1 ? '' : 's'} to ${r.download?.name ?? r.file}.`, 'ok')
  } catch (e) {
    notices.notify(`Export failed: ${userMessage(e)}`, 'bad')
  } finally {
    csvExporting.value = null
  }
}

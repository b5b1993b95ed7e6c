/**
 * What a dialog or a panel does when its edit came back queued instead of done (the database or the
 * directory was unreachable, so the edit waits in the offline queue): tell the offline store, which says so
 * in a toast and refreshes the queue count, then close (when there is something to close).
 *
 *   const queued = useQueuedEdit(() => emit('close'))
 *   const r = await api['ipam:pool:create'](values)
 *   if (queued(r)) return
 *   emit('saved', r) // r is the pool here
 */
import { isQueued } from '@shared/queued'
import type { OrQueued, QueuedEdit } from '@shared/offline'
import { useOfflineStore } from './offlineStore'

export function useQueuedEdit(close?: () => void): <T>(result: OrQueued<T>) => result is QueuedEdit {
  const offline = useOfflineStore()
  return <T>(result: OrQueued<T>): result is QueuedEdit => {
    if (!isQueued(result)) return false
    offline.queuedNotice(result)
    close?.()
    return true
  }
}

/**
 * The offline state the shell shows at all times: is the database answering, how many edits are queued
 * (not done) or in conflict, and the last replay. Polled every 5 s while the window is visible, and at
 * once after an edit was queued. The queue drawer's list and actions live here too.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { OfflineStateDto, QueuedEdit, QueueEntryDto, ReplayReport } from '@shared/offline'
import { api, errorMessage } from '@renderer/api'
import { useAppStore, useNoticesStore } from '@renderer/features/shell'

export const OFFLINE_POLL_MS = 5_000

export const useOfflineStore = defineStore('offline', () => {
  const state = ref<OfflineStateDto>()
  const error = ref<string>()
  const drawerOpen = ref(false)
  const entries = ref<QueueEntryDto[]>([])
  const listError = ref<string>()
  const busy = ref(false)

  const offline = computed(() => state.value?.database.online === false)
  const queued = computed(() => state.value?.queue.queued ?? 0)
  const conflicts = computed(() => state.value?.queue.conflict ?? 0)
  const replaying = computed(() => state.value?.replaying === true)

  let lastApplied: string | undefined
  async function refresh(): Promise<void> {
    try {
      const s = await api['offline:state']({})
      const before = state.value
      state.value = s
      error.value = undefined
      // The monitor saw the database go or come back before the 15 s health poll: refresh that report too,
      // so the header and the status bar never say "connected" while edits are being queued.
      if (before && before.database.online !== s.database.online) void useAppStore().checkHealth()
      // A replay the app ran on its own (the database came back): say what it did, once.
      const r = s.lastReplay
      if (r && r.at !== lastApplied) {
        const first = lastApplied === undefined && before === undefined
        lastApplied = r.at
        if (!first && r.trigger !== 'manual' && (r.applied || r.conflicts)) announce(r)
      }
      if (drawerOpen.value) await loadEntries()
    } catch (e) {
      error.value = errorMessage(e)
    }
  }

  function announce(r: ReplayReport): void {
    const notices = useNoticesStore()
    const parts = [`Applied ${r.applied} queued edit(s)`]
    if (r.conflicts) parts.push(`${r.conflicts} conflict(s) need a decision (open the queue)`)
    if (r.stopped) parts.push(`stopped: ${r.stopped}`)
    notices.notify(`${parts.join('; ')}.`, r.conflicts || r.stopped ? 'warn' : 'ok')
  }

  async function loadEntries(): Promise<void> {
    try {
      const all = await api['offline:queue:list']({ limit: 500 })
      // Newest first for people; conflicts and queued edits before the applied history.
      const rank = { conflict: 0, queued: 1, applied: 2, cancelled: 3 } as const
      entries.value = all.sort((a, b) => rank[a.state] - rank[b.state] || b.id - a.id)
      listError.value = undefined
    } catch (e) {
      listError.value = errorMessage(e)
    }
  }

  async function open(): Promise<void> {
    drawerOpen.value = true
    await loadEntries()
  }

  /** Runs an action on the queue, then refreshes the state (and the list, the drawer being open). Errors become a toast. */
  async function act<T>(fn: () => Promise<T>, ok: (r: T) => string): Promise<void> {
    busy.value = true
    const notices = useNoticesStore()
    try {
      const r = await fn()
      notices.notify(ok(r))
    } catch (e) {
      notices.notify(errorMessage(e), 'bad')
    } finally {
      busy.value = false
      await refresh()
    }
  }

  const replay = (): Promise<void> =>
    act(
      () => api['offline:queue:replay']({}),
      (r) =>
        [`Applied ${r.applied} queued edit(s)`, r.conflicts ? `${r.conflicts} conflict(s)` : '', r.stopped ? `stopped: ${r.stopped}` : '', r.remaining ? `${r.remaining} still queued` : '']
          .filter(Boolean)
          .join('; ') + '.'
    )
  const cancel = (id: number): Promise<void> => act(() => api['offline:queue:cancel']({ id }), (e) => `Cancelled queued edit #${e.id}; it will never be applied.`)
  const retry = (id: number, args?: Record<string, unknown>): Promise<void> =>
    act(() => api['offline:queue:retry']({ id, ...(args ? { args } : {}) }), (e) => `Edit #${e.id} is queued again.`)

  /** What a dialog calls when its edit came back queued instead of done. */
  function queuedNotice(r: QueuedEdit): void {
    useNoticesStore().notify(r.message, 'warn')
    void refresh()
  }

  let timer: ReturnType<typeof setInterval> | undefined
  function startPolling(intervalMs = OFFLINE_POLL_MS): void {
    stopPolling()
    void refresh()
    timer = setInterval(() => {
      if (document.visibilityState === 'visible') void refresh()
    }, intervalMs)
  }
  function stopPolling(): void {
    if (timer) clearInterval(timer)
    timer = undefined
  }

  return {
    state,
    error,
    drawerOpen,
    entries,
    listError,
    busy,
    offline,
    queued,
    conflicts,
    replaying,
    refresh,
    open,
    loadEntries,
    replay,
    cancel,
    retry,
    queuedNotice,
    startPolling,
    stopPolling
  }
})

/**
 * Short confirmations ("Allocated 10.1.2.5 to web01") shown as toasts and announced to screen readers.
 * The stacking rules (merge identical messages, cap, lifetimes) live in lib/toasts.ts; this store owns
 * the timers, which wait while the pointer or keyboard focus is on the stack so a toast is not pulled
 * away mid-read.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { NOTICE_MS, pushNotice, type Notice, type NoticeTone } from '@renderer/lib/toasts'

export type { Notice }

export const useNoticesStore = defineStore('notices', () => {
  const items = ref<Notice[]>([])
  const timers = new Map<number, ReturnType<typeof setTimeout>>()
  let held = false
  let next = 1

  function clearTimer(id: number): void {
    clearTimeout(timers.get(id))
    timers.delete(id)
  }

  function schedule(n: Notice, ms = NOTICE_MS[n.tone]): void {
    clearTimer(n.id)
    timers.set(
      n.id,
      setTimeout(() => {
        timers.delete(n.id)
        if (held) schedule(n, 2000)
        else dismiss(n.id)
      }, ms)
    )
  }

  function dismiss(id: number): void {
    clearTimer(id)
    items.value = items.value.filter((n) => n.id !== id)
  }

  function notify(text: string, tone: NoticeTone = 'ok'): void {
    const r = pushNotice(items.value, text, tone, next)
    if (r.notice.id === next) next++
    for (const d of r.dropped) clearTimer(d.id)
    items.value = r.items
    schedule(r.notice)
  }

  /** While true (pointer over the stack, or focus inside it), lapsed toasts wait. */
  function hold(on: boolean): void {
    held = on
  }

  /** What a copy button or a context menu's Copy says: the value copied (shortened), or that the clipboard refused. */
  function notifyCopied(ok: boolean, value: string): void {
    notify(ok ? `Copied ${value.length > 60 ? `${value.slice(0, 58)}…` : value}` : 'Could not copy: the clipboard refused the text', ok ? 'ok' : 'bad')
  }

  return { items, notify, notifyCopied, dismiss, hold }
})

/** Short confirmations ("Allocated 10.1.2.5 to web01") shown as toasts and announced to screen readers. */
import { defineStore } from 'pinia'
import { ref } from 'vue'

export interface Notice {
  id: number
  text: string
  tone: 'ok' | 'bad' | 'warn'
}

export const NOTICE_MS = 6000

export const useNoticesStore = defineStore('notices', () => {
  const items = ref<Notice[]>([])
  let next = 1

  function dismiss(id: number): void {
    items.value = items.value.filter((n) => n.id !== id)
  }

  function notify(text: string, tone: Notice['tone'] = 'ok'): void {
    const id = next++
    items.value = [...items.value.slice(-2), { id, text, tone }]
    // Errors stay until dismissed: they usually say what to do.
    if (tone !== 'bad') setTimeout(() => dismiss(id), NOTICE_MS)
  }

  return { items, notify, dismiss }
})

/**
 * The command palette's state: open or not, what is typed, the mode (search everything, or choose the pool
 * to allocate in), and the latest answer of palette:search.
 *
 * No typing debounce: the first keystroke searches at once, and a pause would be added to every answer
 * (90 ms alone was most of the 100 ms budget of bench/palette.ts). Instead at most one search is in flight:
 * keys typed while it runs only mark the query as changed, and when it answers the newest query is sent
 * straight away, so a fast typist costs the main process one search per answer, not one per key, and the
 * words typed in between are never searched (stale requests are never sent rather than cancelled). An
 * answer is shown only if no newer search has been sent since (the list never goes back in time); while
 * the newest is on its way the list keeps the previous answer and says it is busy.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { PaletteResults } from '@shared/palette'
import { api } from '@renderer/api'
import { userMessage } from '@renderer/lib/errors'

export type PaletteMode = 'search' | 'allocate'

export const usePaletteStore = defineStore('palette', () => {
  const isOpen = ref(false)
  const mode = ref<PaletteMode>('search')
  const query = ref('')
  const results = ref<PaletteResults | null>(null)
  const loading = ref(false)
  const error = ref<string>()

  /** Numbers the searches sent; an answer is for the newest one only if its number is still the last. */
  let seq = 0
  let inFlight = false
  /** The query changed while a search was in flight: send the newest when it answers. */
  let pending = false

  function open(m: PaletteMode = 'search'): void {
    mode.value = m
    query.value = ''
    results.value = null
    error.value = undefined
    pending = false
    isOpen.value = true
  }

  function close(): void {
    seq++
    pending = false
    isOpen.value = false
    loading.value = false
  }

  /** Called on every keystroke: searches at once, or after the search in flight; an empty box clears at once. */
  function input(text: string): void {
    query.value = text
    if (!text.trim()) {
      seq++
      pending = false
      results.value = null
      loading.value = false
      error.value = undefined
      return
    }
    loading.value = true
    if (inFlight) pending = true
    else void run()
  }

  async function run(): Promise<void> {
    const q = query.value.trim()
    if (!q) return
    const mine = ++seq
    inFlight = true
    pending = false
    loading.value = true
    try {
      const r = await api['palette:search']({ query: q, limit: mode.value === 'allocate' ? 10 : 5 })
      if (mine !== seq) return
      results.value = r
      error.value = undefined
    } catch (e) {
      if (mine !== seq) return
      results.value = null
      error.value = userMessage(e)
    } finally {
      inFlight = false
      if (pending && isOpen.value && query.value.trim()) void run()
      else if (mine === seq) loading.value = false
    }
  }

  return { isOpen, mode, query, results, loading, error, open, close, input }
})

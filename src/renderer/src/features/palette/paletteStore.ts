/**
 * The command palette's state: open or not, what is typed, the mode (search everything, or choose the pool
 * to allocate in), and the latest answer of palette:search. Typing is debounced; an answer to an older
 * query than the newest sent is dropped, so the list never goes back in time.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { PaletteResults } from '@shared/palette'
import { api } from '@renderer/api'
import { userMessage } from '@renderer/lib/errors'

/** Long enough to skip the middle of a word typed fast, short enough to feel instant. */
export const PALETTE_DEBOUNCE_MS = 90

export type PaletteMode = 'search' | 'allocate'

export const usePaletteStore = defineStore('palette', () => {
  const isOpen = ref(false)
  const mode = ref<PaletteMode>('search')
  const query = ref('')
  const results = ref<PaletteResults | null>(null)
  const loading = ref(false)
  const error = ref<string>()

  let timer: ReturnType<typeof setTimeout> | undefined
  let seq = 0

  function open(m: PaletteMode = 'search'): void {
    mode.value = m
    query.value = ''
    results.value = null
    error.value = undefined
    isOpen.value = true
  }

  function close(): void {
    clearTimeout(timer)
    seq++
    isOpen.value = false
    loading.value = false
  }

  /** Called on every keystroke: searches after a short pause; an empty box clears at once. */
  function input(text: string): void {
    query.value = text
    clearTimeout(timer)
    if (!text.trim()) {
      seq++
      results.value = null
      loading.value = false
      error.value = undefined
      return
    }
    timer = setTimeout(() => void run(), PALETTE_DEBOUNCE_MS)
  }

  async function run(): Promise<void> {
    const q = query.value.trim()
    if (!q) return
    const mine = ++seq
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
      if (mine === seq) loading.value = false
    }
  }

  return { isOpen, mode, query, results, loading, error, open, close, input }
})

/**
 * The command palette's state: open or not, what is typed, the mode (search everything, or choose the pool
 * to allocate in), and the latest answer of each source.
 *
 * Each source (pools, addresses, users, groups, audit) is asked in a palette:search call of its own, so a
 * group is painted as soon as its source answers: the pools and addresses (a few milliseconds) never wait
 * for the directory.
 *
 * No typing debounce: the first keystroke searches at once, and a pause would be added to every answer.
 * Instead at most one search per source is in flight: keys typed while it runs only mark the query as
 * changed, and when it answers the newest query is sent to that source straight away, so a fast typist
 * costs each source one search per answer, not one per key, and the words typed in between are never
 * searched (superseded searches are never sent, rather than sent and cancelled; the one in flight is a
 * size-limited look-up that ends in milliseconds). An answer is shown only if no newer search has been sent
 * to its source since, and not after the box was emptied or the palette closed (`seq`), so a stale answer
 * never paints over a newer one; while the newest is on its way the group keeps its previous answer and
 * the list says it is busy.
 */
import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import type { PaletteGroup, PaletteResults } from '@shared/palette'
import { PALETTE_KINDS, paletteSourceApplies, type PaletteKind } from '@shared/palette-kinds'
import { api } from '@renderer/api'
import { userMessage } from '@renderer/lib/errors'

export type PaletteMode = 'search' | 'allocate'

interface Answer {
  query: string
  group: PaletteGroup | null
}

interface SourceState {
  /** Numbers the searches sent to this source; an answer is shown only if its number is still the last. */
  seq: number
  inFlight: boolean
  /** The query changed while a search was in flight: send the newest when it answers. */
  pending: boolean
}

export const usePaletteStore = defineStore('palette', () => {
  const isOpen = ref(false)
  const mode = ref<PaletteMode>('search')
  const query = ref('')
  const answers = reactive<Partial<Record<PaletteKind, Answer>>>({})
  const error = ref<string>()
  const state = reactive(Object.fromEntries(PALETTE_KINDS.map((k) => [k, { seq: 0, inFlight: false, pending: false }])) as Record<PaletteKind, SourceState>)

  const sources = computed<readonly PaletteKind[]>(() => (mode.value === 'allocate' ? ['pool'] : PALETTE_KINDS))

  /** The groups to show, always in the same order (pools, addresses, users, groups, audit). */
  const results = computed<PaletteResults | null>(() => {
    const got = sources.value.map((k) => answers[k]).filter((a): a is Answer => a !== undefined)
    if (!got.length) return null
    const groups = got.map((a) => a.group).filter((g): g is PaletteGroup => g !== null && (g.items.length > 0 || !!g.note))
    // The query every source has answered, or '' while they answer different ones.
    const q = got.length === sources.value.length && got.every((a) => a.query === got[0]!.query) ? got[0]!.query : ''
    return { query: q, groups, tookMs: Math.max(0, ...groups.map((g) => g.tookMs ?? 0)) }
  })

  /** Some source has not yet answered what is typed now. */
  const loading = computed(() => {
    const q = query.value.trim()
    if (!q) return false
    return sources.value.some((k) => state[k].inFlight || state[k].pending || answers[k]?.query !== q)
  })

  function forget(): void {
    for (const k of PALETTE_KINDS) {
      state[k].seq++
      state[k].pending = false
      delete answers[k]
    }
    error.value = undefined
  }

  function open(m: PaletteMode = 'search'): void {
    mode.value = m
    query.value = ''
    forget()
    isOpen.value = true
  }

  function close(): void {
    forget()
    isOpen.value = false
  }

  /** Called on every keystroke: every source searches at once, or after its search in flight; an empty box clears at once. */
  function input(text: string): void {
    query.value = text
    if (!text.trim()) {
      forget()
      return
    }
    for (const k of sources.value) {
      if (state[k].inFlight) state[k].pending = true
      else void run(k)
    }
  }

  async function run(kind: PaletteKind): Promise<void> {
    const q = query.value.trim()
    if (!q) return
    const s = state[kind]
    const mine = ++s.seq
    s.pending = false
    // A source that cannot answer this query (an audit entry needs a request id or a number) is not asked.
    if (!paletteSourceApplies(kind, q)) {
      answers[kind] = { query: q, group: null }
      return
    }
    s.inFlight = true
    try {
      const r = await api['palette:search']({ query: q, limit: mode.value === 'allocate' ? 10 : 5, sources: [kind] })
      if (mine !== s.seq) return
      answers[kind] = { query: r.query, group: r.groups.find((g) => g.kind === kind) ?? null }
      error.value = undefined
    } catch (e) {
      if (mine !== s.seq) return
      answers[kind] = { query: q, group: null }
      error.value = userMessage(e)
    } finally {
      s.inFlight = false
      if (s.pending && isOpen.value && query.value.trim() && sources.value.includes(kind)) void run(kind)
    }
  }

  return { isOpen, mode, query, results, loading, error, open, close, input }
})

/**
 * Walks a directory listing one page at a time with the core's cursors (RFC 2696 underneath). A cursor
 * only goes forward, so pages already seen are kept (only those: the listing is never loaded whole) and
 * "Previous" shows them again; a new search or page size starts a new listing and closes the old cursor.
 */
import { computed, ref, shallowRef } from 'vue'
import type { DirectoryPage, ListInput } from '@shared/directory'
import { api } from '@renderer/api'

export function useCursorPager<T>(fetch: (args: ListInput) => Promise<DirectoryPage<T>>) {
  const pages = shallowRef<T[][]>([])
  const index = ref(0)
  const nextCursor = ref<string | null>(null)
  const loading = ref(false)
  const error = ref<unknown>()
  const search = ref('')
  const pageSize = ref(25)
  let run = 0

  const items = computed(() => pages.value[index.value] ?? [])
  const hasNext = computed(() => index.value < pages.value.length - 1 || nextCursor.value !== null)
  const hasPrevious = computed(() => index.value > 0)
  const first = computed(() => index.value * pageSize.value + (items.value.length ? 1 : 0))
  const last = computed(() => index.value * pageSize.value + items.value.length)

  function closeCursor(): void {
    const c = nextCursor.value
    nextCursor.value = null
    // Best effort: an idle cursor is closed by the core after five minutes anyway.
    if (c) void api['directory:cursor:close']({ cursor: c }).catch(() => undefined)
  }

  /** Starts the listing again from its first page (after a search, a page size change or an edit). */
  async function reload(): Promise<void> {
    closeCursor()
    const mine = ++run
    loading.value = true
    error.value = undefined
    try {
      const page = await fetch({ search: search.value.trim() || undefined, pageSize: pageSize.value })
      if (mine !== run) return
      pages.value = [page.items]
      index.value = 0
      nextCursor.value = page.nextCursor
    } catch (e) {
      if (mine !== run) return
      pages.value = []
      index.value = 0
      error.value = e
    } finally {
      if (mine === run) loading.value = false
    }
  }

  async function next(): Promise<void> {
    if (index.value < pages.value.length - 1) {
      index.value++
      return
    }
    const cursor = nextCursor.value
    if (!cursor || loading.value) return
    const mine = run
    loading.value = true
    error.value = undefined
    try {
      const page = await fetch({ cursor, pageSize: pageSize.value })
      if (mine !== run) return
      pages.value = [...pages.value, page.items]
      index.value = pages.value.length - 1
      nextCursor.value = page.nextCursor
    } catch (e) {
      if (mine === run) error.value = e
    } finally {
      if (mine === run) loading.value = false
    }
  }

  function previous(): void {
    if (index.value > 0) index.value--
  }

  /** Replaces one item on the page shown (after an edit), without reloading. */
  function replace(match: (item: T) => boolean, item: T | null): void {
    pages.value = pages.value.map((p, i) => (i === index.value ? (item ? p.map((x) => (match(x) ? item : x)) : p.filter((x) => !match(x))) : p))
  }

  function reset(): void {
    closeCursor()
    run++
    pages.value = []
    index.value = 0
    loading.value = false
    error.value = undefined
  }

  return { items, index, loading, error, search, pageSize, hasNext, hasPrevious, first, last, reload, next, previous, replace, reset }
}

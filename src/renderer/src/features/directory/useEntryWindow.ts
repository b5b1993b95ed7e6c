/**
 * The users and groups tables as a bounded, virtual list: rows are read a page at a time with the core's
 * cursors (RFC 2696 underneath) as the rows in sight near the end of what is loaded, and only the rows in
 * sight are in the DOM (@tanstack/vue-virtual, as the audit viewer does).
 *
 * The loaded rows form a window of at most ENTRY_WINDOW: reading on past it lets go of the rows at the top.
 * A cursor only goes forward, so rows let go of cannot be read back one page at a time as the audit viewer
 * does: their places stay in the list (the scroll position does not jump) as placeholders offering to start
 * the listing again from the top. Memory and DOM size therefore stay flat however far one scrolls.
 *
 * Keyboard: a row takes focus (Tab reaches the first one); Arrow Up/Down, Page Up/Down, Home and End move
 * between rows (scrolling them into sight), Space toggles the focused row's selection.
 */
import { computed, nextTick, onBeforeUnmount, ref, shallowRef, watch, type Ref } from 'vue'
import { useVirtualizer } from '@tanstack/vue-virtual'
import type { DirectoryPage, ListInput } from '@shared/directory'
import { api } from '@renderer/api'
import { appendWithin } from '@renderer/lib/window'

/** Rows kept loaded at most (the DOM holds only the rows in sight, about 20). */
export const ENTRY_WINDOW = 1000
/** Rows per request. */
export const ENTRY_PAGE = 100
/** A row's height before it is measured (one line of text with small buttons). */
const ROW_HEIGHT = 41
/** Rows from the end of the loaded window at which the next page is asked for. */
const NEAR = 20

export function useEntryWindow<T>(fetch: (args: ListInput) => Promise<DirectoryPage<T>>, keyOf: (item: T) => string) {
  const rowsLoaded = shallowRef<T[]>([])
  /** Rows let go of above the window. */
  const offset = ref(0)
  const nextCursor = ref<string | null>(null)
  const loading = ref(false)
  const error = ref<unknown>()
  const search = ref('')
  /** At least one page has arrived for the current search. */
  const loaded = ref(false)
  let run = 0

  const items = computed(() => rowsLoaded.value)
  const done = computed(() => loaded.value && nextCursor.value === null)
  const total = computed(() => offset.value + rowsLoaded.value.length)

  function closeCursor(): void {
    const c = nextCursor.value
    nextCursor.value = null
    // Best effort: an idle cursor is closed by the core after five minutes anyway.
    if (c) void api['directory:cursor:close']({ cursor: c }).catch(() => undefined)
  }

  /** Starts the listing again from its first row (a search, an edit, "Back to the start"). */
  async function reload(): Promise<void> {
    closeCursor()
    const mine = ++run
    loading.value = true
    error.value = undefined
    try {
      const page = await fetch({ search: search.value.trim() || undefined, pageSize: ENTRY_PAGE })
      if (mine !== run) return
      rowsLoaded.value = page.items
      offset.value = 0
      nextCursor.value = page.nextCursor
      loaded.value = true
      scroller.value?.scrollTo({ top: 0 })
    } catch (e) {
      if (mine !== run) return
      rowsLoaded.value = []
      offset.value = 0
      loaded.value = true
      error.value = e
    } finally {
      if (mine === run) loading.value = false
    }
  }

  /** The next page, appended; past ENTRY_WINDOW the top rows of the window are let go of. */
  async function loadMore(): Promise<void> {
    const cursor = nextCursor.value
    if (!cursor || loading.value) return
    const mine = run
    loading.value = true
    error.value = undefined
    try {
      const page = await fetch({ cursor, pageSize: ENTRY_PAGE })
      if (mine !== run) return
      const { rows, dropped } = appendWithin(rowsLoaded.value, page.items, ENTRY_WINDOW)
      offset.value += dropped
      rowsLoaded.value = rows
      nextCursor.value = page.nextCursor
    } catch (e) {
      if (mine === run) error.value = e
    } finally {
      if (mine === run) loading.value = false
    }
  }

  /** Replaces (or, with null, removes) loaded rows after an edit, without reloading. */
  function replace(match: (item: T) => boolean, item: T | null): void {
    rowsLoaded.value = item ? rowsLoaded.value.map((x) => (match(x) ? item : x)) : rowsLoaded.value.filter((x) => !match(x))
  }

  function reset(): void {
    closeCursor()
    run++
    rowsLoaded.value = []
    offset.value = 0
    loading.value = false
    loaded.value = false
    error.value = undefined
  }

  // ---------------------------------------------------------------- virtual list

  /** The table's scrolling box (bound with ref="..." in the template). */
  const scroller = ref<HTMLElement>()
  const virtualizer = useVirtualizer(
    computed(() => ({
      count: total.value,
      getScrollElement: () => scroller.value ?? null,
      estimateSize: () => ROW_HEIGHT,
      overscan: 6,
      getItemKey: (i: number) => (i < offset.value ? `gone-${i}` : keyOf(rowsLoaded.value[i - offset.value]!))
    }))
  )
  const virtualRows = computed(() => virtualizer.value.getVirtualItems())
  /** The rows in sight: `item` null for a row let go of (a placeholder). */
  const visible = computed(() => virtualRows.value.map((v) => ({ index: v.index, key: String(v.key), item: v.index < offset.value ? null : (rowsLoaded.value[v.index - offset.value] ?? null) })))
  const padTop = computed(() => (virtualRows.value.length ? virtualRows.value[0]!.start : 0))
  const padBottom = computed(() => (virtualRows.value.length ? virtualizer.value.getTotalSize() - virtualRows.value[virtualRows.value.length - 1]!.end : 0))

  function measure(el: unknown): void {
    if (el instanceof Element) virtualizer.value.measureElement(el)
  }

  function maybeLoad(): void {
    const r = virtualRows.value
    if (!r.length || loading.value || error.value || !nextCursor.value) return
    if (r[r.length - 1]!.index >= total.value - NEAR) void loadMore()
  }
  watch(virtualRows, maybeLoad)
  watch(loading, async (busy) => {
    if (busy) return
    await nextTick()
    maybeLoad()
  })

  // ---------------------------------------------------------------- keyboard

  /** The row that takes Tab focus (roving tabindex), as an index into the whole list. */
  const active = ref(0)
  watch(offset, (o) => {
    if (active.value < o) active.value = o
  })
  watch(
    () => rowsLoaded.value.length,
    () => {
      if (active.value >= total.value) active.value = Math.max(0, total.value - 1)
    }
  )

  async function focusRow(index: number): Promise<void> {
    const i = Math.max(offset.value, Math.min(total.value - 1, index))
    if (i < 0) return
    active.value = i
    virtualizer.value.scrollToIndex(i, { align: 'auto' })
    await nextTick()
    // The row may be drawn a frame later, after the virtualizer has seen the scroll.
    for (let tries = 0; tries < 5; tries++) {
      const el = scroller.value?.querySelector<HTMLElement>(`tr[data-index="${i}"]`)
      if (el) {
        el.focus({ preventScroll: true })
        return
      }
      await new Promise((r) => requestAnimationFrame(() => r(undefined)))
    }
  }

  /** keydown on a row: moves between rows; Space calls `toggle` with the row's item. */
  function onRowKeydown(e: KeyboardEvent, index: number, toggle?: (item: T) => void): void {
    if (e.target !== e.currentTarget) return // keys typed in the row's checkbox or buttons are theirs
    const page = Math.max(1, Math.floor((scroller.value?.clientHeight ?? 400) / ROW_HEIGHT) - 1)
    const to: Record<string, number> = { ArrowDown: index + 1, ArrowUp: index - 1, PageDown: index + page, PageUp: index - page, Home: offset.value, End: total.value - 1 }
    if (e.key in to) {
      e.preventDefault()
      void focusRow(to[e.key]!)
    } else if (e.key === ' ' && toggle) {
      e.preventDefault()
      const item = rowsLoaded.value[index - offset.value]
      if (item) toggle(item)
    }
  }

  onBeforeUnmount(reset)

  return {
    items,
    offset,
    loading,
    error,
    search,
    loaded,
    done,
    total,
    reload,
    loadMore,
    replace,
    reset,
    scroller,
    visible,
    padTop,
    padBottom,
    measure,
    active,
    onRowKeydown
  }
}

export type EntryWindow<T> = ReturnType<typeof useEntryWindow<T>>

/** Keeps `selected` to keys still somewhere in the listing's reach: cleared when the search changes. */
export function clearOnSearch(search: Ref<string>, selected: Ref<Set<string>>): void {
  watch(search, () => {
    selected.value = new Set()
  })
}

/**
 * Which screen is showing, and the trail of places visited for Back and Forward (Alt+Left/Right, the
 * mouse's back and forward buttons, the header's arrows). No router: a place is a screen plus what a room
 * says it shows there (`detail`, such as "pool:12"). Rooms describe where they are (describe) so a visit
 * records it, mark a move inside their screen (mark: opening a pool), and restore a place when Back or
 * Forward returns to it (watching `place`).
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef, watch } from 'vue'
import { VIEWS, viewLabel, type ViewId } from '@shared/navigation'

export interface Place {
  view: ViewId
  /** The room's own description of what it shows (undefined: whatever it shows). */
  detail?: string
}

/** Enough for a day's wandering; the oldest places go first. */
export const HISTORY_LIMIT = 100

export const useNavigationStore = defineStore('navigation', () => {
  const entries = shallowRef<Place[]>([{ view: 'dashboard' }])
  const index = ref(0)
  const place = computed<Place>(() => entries.value[index.value]!)
  const current = computed<ViewId>(() => place.value.view)
  const title = computed(() => viewLabel(current.value))
  const canGoBack = computed(() => index.value > 0)
  const canGoForward = computed(() => index.value < entries.value.length - 1)
  /** Bumped on every Back/Forward, so a room can tell a restore from its own move. */
  const restores = ref(0)

  const describers = new Map<ViewId, () => string | undefined>()

  function push(p: Place): void {
    const here = place.value
    if (here.view === p.view && here.detail === p.detail) return
    const next = entries.value.slice(0, index.value + 1).concat(p)
    const drop = Math.max(0, next.length - HISTORY_LIMIT)
    entries.value = next.slice(drop)
    index.value = entries.value.length - 1
  }

  /** Shows a screen (as the rooms left it), recorded in the trail. */
  function go(view: ViewId): void {
    push({ view, detail: describers.get(view)?.() })
  }

  /** A room's way of saying what it can tell about itself when a visit is recorded. */
  function describe(view: ViewId, fn: () => string | undefined): void {
    describers.set(view, fn)
  }

  /** A room moved inside its own screen (opened a pool, went back to the list): a new place in the trail. */
  function mark(view: ViewId, detail: string | undefined): void {
    if (current.value !== view) push({ view, detail })
    else if (place.value.detail !== detail) {
      // The first description of a screen reached without one replaces it rather than adding a step.
      if (place.value.detail === undefined) {
        const copy = entries.value.slice()
        copy[index.value] = { view, detail }
        entries.value = copy
      } else push({ view, detail })
    }
  }

  function back(): boolean {
    if (!canGoBack.value) return false
    index.value--
    restores.value++
    return true
  }

  function forward(): boolean {
    if (!canGoForward.value) return false
    index.value++
    restores.value++
    return true
  }

  // The window title follows the screen (Electron shows the page title in the title bar).
  watch(title, (t) => (document.title = `${t} – Netkeeper`), { immediate: true })

  return { current, place, title, views: VIEWS, canGoBack, canGoForward, restores, go, describe, mark, back, forward }
})

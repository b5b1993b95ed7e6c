/**
 * The app's own context menu (Electron shows none): a screen builds the items for what was right-clicked
 * (an address, a prefix, a host, a MAC, a DN, a hash, a row) and calls showContextMenu; ContextMenuHost,
 * mounted once by App.vue, draws it. Part of the ui kit: it knows no room, no store and no api; the items
 * carry their own actions. Copy actions use copyText (clipboard.ts).
 */
import { shallowRef } from 'vue'
import { copyText } from './clipboard'

export interface MenuItem {
  label: string
  action: () => void | Promise<void>
  /** A short value shown dimmed after the label (what will be copied). */
  hint?: string
  disabled?: boolean
  /** Draws a line above this item. */
  separator?: boolean
}

export interface OpenMenu {
  x: number
  y: number
  items: MenuItem[]
  /** Where focus returns when the menu closes. */
  returnTo: HTMLElement | null
  label: string
}

export const openMenu = shallowRef<OpenMenu | null>(null)

/**
 * Shows a menu at the pointer (or under the focused element for the keyboard's context-menu key) and
 * keeps the browser's and Electron's own menu away.
 */
export function showContextMenu(e: MouseEvent | KeyboardEvent, items: MenuItem[], label = 'Actions'): void {
  if (!items.length) return
  e.preventDefault()
  e.stopPropagation()
  const target = e.currentTarget instanceof HTMLElement ? e.currentTarget : e.target instanceof HTMLElement ? e.target : null
  let x = 0
  let y = 0
  if (e instanceof MouseEvent && (e.clientX || e.clientY)) {
    x = e.clientX
    y = e.clientY
  } else if (target) {
    const r = target.getBoundingClientRect()
    x = r.left + 8
    y = r.bottom
  }
  openMenu.value = { x, y, items, returnTo: document.activeElement instanceof HTMLElement ? document.activeElement : target, label }
}

export function closeContextMenu(): void {
  const m = openMenu.value
  openMenu.value = null
  if (m?.returnTo?.isConnected) m.returnTo.focus({ preventScroll: true })
}

/** The usual "Copy <what>" item. */
export function copyItem(what: string, value: string | null | undefined, copied?: (ok: boolean, value: string) => void): MenuItem | null {
  if (!value) return null
  return {
    label: `Copy ${what}`,
    hint: value.length > 40 ? `${value.slice(0, 38)}…` : value,
    action: async () => {
      const ok = await copyText(value)
      copied?.(ok, value)
    }
  }
}

/** Drops the nulls of items that do not apply. */
export function menu(...items: (MenuItem | null | undefined | false)[]): MenuItem[] {
  return items.filter((i): i is MenuItem => !!i)
}

/**
 * The app's screens, and the one event main pushes to the renderer outside the request/response IPC
 * contract: "show this screen", sent by the native menu's Ctrl/Cmd+1..6 shortcuts.
 *
 * The list lives here so the native menu (main), the side navigation (renderer) and the preload's payload
 * check agree on one set of ids and labels. (Named navigation.ts, not events.ts: the lint rule that keeps
 * node's `events` module out of the renderer matches any module named "events".) Imports nothing from
 * node, electron or vue.
 */

/** The channel main uses with `webContents.send` for menu navigation. */
export const NAVIGATE_EVENT = 'menu:navigate'

/** A `netkeeper://` link to open (a second launch, the OS handing over a link); payload: the link text. */
export const OPEN_LINK_EVENT = 'app:open-link'

/** Back or Forward from the shell (mouse buttons, the app-command of the window, the menu). */
export const HISTORY_EVENT = 'app:history'
export type HistoryStep = 'back' | 'forward'
export function isHistoryStep(v: unknown): v is HistoryStep {
  return v === 'back' || v === 'forward'
}

export const VIEWS = [
  { id: 'dashboard', label: 'Dashboard' },
  { id: 'ipam', label: 'IPAM' },
  { id: 'directory', label: 'Directory' },
  { id: 'audit', label: 'Audit' },
  { id: 'settings', label: 'Settings' },
  { id: 'dns', label: 'DNS & DHCP' }
] as const

export type ViewId = (typeof VIEWS)[number]['id']

export const VIEW_IDS: readonly ViewId[] = VIEWS.map((v) => v.id)

export function isViewId(v: unknown): v is ViewId {
  return typeof v === 'string' && (VIEW_IDS as readonly string[]).includes(v)
}

export function viewLabel(id: ViewId): string {
  return VIEWS.find((v) => v.id === id)?.label ?? id
}

/**
 * Events main pushes to the renderer that are not request/response calls, and so are not part of the IPC
 * contract: today only "go to this screen", sent by the native menu's keyboard shortcuts.
 *
 * The list of screens lives here so the native menu (main), the side navigation (renderer) and the
 * preload's payload check all agree on one set of ids and labels. Imports nothing from node, electron or vue.
 */

/** The channel main uses with `webContents.send` for menu navigation. */
export const NAVIGATE_EVENT = 'menu:navigate'

export const VIEWS = [
  { id: 'dashboard', label: 'Dashboard' },
  { id: 'ipam', label: 'IPAM' },
  { id: 'directory', label: 'Directory' },
  { id: 'audit', label: 'Audit' },
  { id: 'settings', label: 'Settings' }
] as const

export type ViewId = (typeof VIEWS)[number]['id']

export const VIEW_IDS: readonly ViewId[] = VIEWS.map((v) => v.id)

export function isViewId(v: unknown): v is ViewId {
  return typeof v === 'string' && (VIEW_IDS as readonly string[]).includes(v)
}

export function viewLabel(id: ViewId): string {
  return VIEWS.find((v) => v.id === id)?.label ?? id
}

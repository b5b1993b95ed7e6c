/**
 * Remembers the main window's bounds and maximized state in `window-state.json` in the userData folder.
 * A saved position that no longer lands on any display (a monitor was unplugged) is dropped, so the window
 * never opens off-screen.
 */
import fs from 'node:fs'
import path from 'node:path'
import { screen, type BrowserWindow, type Rectangle } from 'electron'

export interface WindowState {
  x?: number
  y?: number
  width: number
  height: number
  maximized: boolean
}

export const DEFAULT_WINDOW_STATE: WindowState = { width: 1280, height: 800, maximized: false }
const MIN_WIDTH = 900
const MIN_HEIGHT = 600

export const windowStateFile = (userData: string): string => path.join(userData, 'window-state.json')

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** At least 100 x 50 pixels of the window's top edge must be on some display's work area. */
function visibleOnSomeDisplay(r: Rectangle): boolean {
  return screen.getAllDisplays().some(({ workArea: a }) => {
    const w = Math.min(r.x + r.width, a.x + a.width) - Math.max(r.x, a.x)
    const h = Math.min(r.y + 50, a.y + a.height) - Math.max(r.y, a.y)
    return w >= 100 && h >= 50
  })
}

export function loadWindowState(file: string): WindowState {
  let raw: unknown
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return { ...DEFAULT_WINDOW_STATE } // first run, or a damaged file: start fresh
  }
  const s = (raw ?? {}) as Partial<Record<keyof WindowState, unknown>>
  const state: WindowState = {
    width: finite(s.width) ? Math.max(MIN_WIDTH, Math.round(s.width)) : DEFAULT_WINDOW_STATE.width,
    height: finite(s.height) ? Math.max(MIN_HEIGHT, Math.round(s.height)) : DEFAULT_WINDOW_STATE.height,
    maximized: s.maximized === true
  }
  if (finite(s.x) && finite(s.y)) {
    const rect = { x: Math.round(s.x), y: Math.round(s.y), width: state.width, height: state.height }
    if (visibleOnSomeDisplay(rect)) Object.assign(state, { x: rect.x, y: rect.y })
  }
  return state
}

function saveWindowState(file: string, win: BrowserWindow): void {
  // Normal bounds: what the window returns to when un-maximized, which is what the next start should use.
  const b = win.getNormalBounds()
  const state: WindowState = { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() }
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const tmp = `${file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(state, null, 2))
    fs.renameSync(tmp, file) // atomic: a crash mid-write never leaves half a file
  } catch (e) {
    console.warn(`[window] could not save the window state to ${file}: ${(e as Error).message}`)
  }
}

/** Saves on close, and shortly after each move or resize so a crash keeps the last layout. */
export function trackWindowState(win: BrowserWindow, file: string): void {
  let timer: NodeJS.Timeout | undefined
  const later = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      if (!win.isDestroyed()) saveWindowState(file, win)
    }, 500)
  }
  win.on('resize', later)
  win.on('move', later)
  win.on('maximize', later)
  win.on('unmaximize', later)
  win.on('close', () => {
    clearTimeout(timer)
    saveWindowState(file, win)
  })
}

export { MIN_HEIGHT, MIN_WIDTH }

/**
 * Electron bootstrap: one instance, one locked-down window, the native menu, the log, and one IPC handler
 * per contract channel that checks the sender and then dispatches into the core. Everything the app can do
 * lives in src/main/core; nothing here knows about IP pools or LDAP.
 */
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { app, BrowserWindow, ipcMain, Menu, nativeTheme, Notification, session, type WebContents } from 'electron'
import { channels, type Envelope } from '../shared/contract'
import { HISTORY_EVENT } from '../shared/navigation'
import { formatLink } from '../shared/palette'
import type { PoolLevel, UsageAlerts } from '../shared/usage'
import { AppError } from '../shared/errors'
import { makeContext, type RequestContext } from './core/context'
import { toAppError } from './core/db/errors'
import { captureConsole, logDir, openLog } from './core/log'
import { resolveDataDir } from './core/paths'
import { CoreHost } from './ipc/degraded'
import { dispatch } from './ipc/handlers'
import { nativeFileDialogs } from './shell/dialogs'
import { installEditMenu } from './shell/context-menu'
import { cliArguments, runCliMode } from './shell/cli-mode'
import { LinkHandOver } from './shell/links'
import { buildAppMenu } from './shell/menu'
import { guardWebContents, isAppUrl, isTrustedSender, lockDownSession, secureWebPreferences, type RendererLocation } from './shell/security'
import { loadWindowState, MIN_HEIGHT, MIN_WIDTH, trackWindowState, windowStateFile } from './shell/window-state'

declare const __APP_VERSION__: string

const here = path.dirname(fileURLToPath(import.meta.url))
const preloadPath = path.join(here, '../preload/index.cjs')
const renderer: RendererLocation = {
  // Set by `electron-vite dev`; never honoured in a packaged build.
  devUrl: !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined,
  indexHtml: path.join(here, '../renderer/index.html')
}

/** Background colours matching the renderer's --bg, so the window does not flash white while loading. */
const BACKGROUND = { light: '#f4f5f7', dark: '#16181d' }

/** webContents of the windows this app created: the only senders IPC answers. */
const ownWindows = new Set<WebContents>()
let mainWindow: BrowserWindow | undefined
let host: CoreHost | undefined
/** Links from outside (a second launch, the OS) go to the main window's page. */
const links = new LinkHandOver(() => focusMainWindow())

function currentUser(): string {
  try {
    return os.userInfo().username
  } catch {
    // No passwd entry (some containers): fall back to the environment.
    return process.env.USER ?? process.env.USERNAME ?? 'unknown'
  }
}

/** Until sign-in exists, the person at the desktop is the admin. */
function uiContext(): RequestContext {
  return makeContext({ actor: currentUser(), roles: ['admin'], source: 'ui' })
}

function registerIpc(coreHost: CoreHost): void {
  for (const channel of channels) {
    ipcMain.handle(channel, async (event, rawArgs: unknown): Promise<Envelope<unknown>> => {
      if (!isTrustedSender(event, ownWindows, renderer)) {
        console.warn(`[ipc] refused ${channel} from ${event.senderFrame?.url ?? 'a destroyed frame'}`)
        return { ok: false, error: { code: 'FORBIDDEN', message: 'this window may not call Netkeeper' } }
      }
      try {
        const reply = await dispatch(await coreHost.handlers(), channel, rawArgs, uiContext())
        if (channel === 'ipam:usage:alerts' && reply.ok) notifyCrossings((reply.value as UsageAlerts).crossed)
        return reply
      } catch (e) {
        // handlers() throws only while shutting down; dispatch never throws.
        return { ok: false, error: toAppError(e).toPayload() }
      }
    })
  }
}

/** A pool that went up a utilization level: one desktop notification; a click opens the pool. */
function notifyCrossings(crossed: PoolLevel[]): void {
  if (!Notification.isSupported()) return
  for (const l of crossed) {
    const limit = l.level === 'critical' ? l.thresholds.criticalPercent : l.thresholds.warnPercent
    const n = new Notification({
      title: `Netkeeper: pool ${l.pool} ${l.level === 'critical' ? 'critical' : 'filling up'}`,
      body: `${l.pool} is ${l.percent} % full, at or above its ${l.level === 'critical' ? 'critical' : 'warning'} level of ${limit} %.`
    })
    n.on('click', () => links.open(formatLink({ kind: 'pool', name: l.pool })))
    n.show()
  }
}

function createWindow(): BrowserWindow {
  const stateFile = windowStateFile(app.getPath('userData'))
  const state = loadWindowState(stateFile)
  const win = new BrowserWindow({
    title: 'Netkeeper',
    x: state.x,
    y: state.y,
    width: state.width,
    height: state.height,
    minWidth: MIN_WIDTH,
    minHeight: MIN_HEIGHT,
    show: false,
    backgroundColor: nativeTheme.shouldUseDarkColors ? BACKGROUND.dark : BACKGROUND.light,
    autoHideMenuBar: false,
    webPreferences: secureWebPreferences(preloadPath)
  })
  const contents = win.webContents
  ownWindows.add(contents)
  win.on('closed', () => {
    ownWindows.delete(contents)
    if (mainWindow === win) mainWindow = undefined
  })
  trackWindowState(win, stateFile)
  links.attach(win)
  installEditMenu(win)
  // The mouse's back and forward buttons arrive as app commands on Windows (the page sees them elsewhere).
  win.on('app-command', (_event, command) => {
    if (command === 'browser-backward') contents.send(HISTORY_EVENT, 'back')
    else if (command === 'browser-forward') contents.send(HISTORY_EVENT, 'forward')
  })

  win.once('ready-to-show', () => {
    if (state.maximized) win.maximize()
    win.show()
  })

  if (renderer.devUrl) void win.loadURL(renderer.devUrl)
  else void win.loadFile(renderer.indexHtml)
  return win
}

function focusMainWindow(): void {
  if (!mainWindow) return
  if (mainWindow.isMinimized()) mainWindow.restore()
  mainWindow.show()
  mainWindow.focus()
}

async function shutdown(): Promise<void> {
  const h = host
  host = undefined
  try {
    await h?.close()
  } catch (e) {
    console.error('[core] error while closing the database:', e)
  }
}

function main(): void {
  // A second copy would fight over the embedded database: hand over to the running one instead.
  if (!app.requestSingleInstanceLock()) {
    app.quit()
    return
  }
  // A second launch with a netkeeper:// link (the OS opening one, or a person) hands it to this window.
  app.on('second-instance', (_event, argv) => {
    focusMainWindow()
    links.fromArgv(argv)
  })
  // macOS delivers links as open-url, before ready for a link that started the app.
  app.on('open-url', (event, url) => {
    event.preventDefault()
    links.open(url)
  })

  // The log in the data folder, with everything the main process prints (core/log.ts).
  const dataDir = resolveDataDir(app.getPath('userData'))
  const log = openLog({ dir: logDir(dataDir), file: 'netkeeper.log' })
  captureConsole(log)
  log.info('main', `Netkeeper ${__APP_VERSION__} starting (Electron ${process.versions.electron ?? '?'}, ${process.platform}); data folder ${dataDir}`)

  // This app opens netkeeper:// links; one may have started it.
  if (!LinkHandOver.register(app)) console.warn('[links] could not register as the handler of netkeeper:// links')
  links.fromArgv(process.argv)

  // Sandbox every renderer, whatever a window's own preferences say.
  app.enableSandbox()
  // The app's own page in a window it made: only it may hand an http(s) link to the system browser by window.open.
  const isOwnPage = (c: Electron.WebContents | null): boolean => !!c && !c.isDestroyed() && ownWindows.has(c) && isAppUrl(c.getURL(), renderer)
  app.on('web-contents-created', (_event, contents) => guardWebContents(contents, isOwnPage))
  nativeTheme.themeSource = 'system'
  app.setAboutPanelOptions({ applicationName: 'Netkeeper', applicationVersion: __APP_VERSION__ })

  // Start opening the database now; the window opens at once and shows progress, then health or the error.
  const dialogs = nativeFileDialogs(() => BrowserWindow.getFocusedWindow() ?? mainWindow)
  const coreHost = CoreHost.start({ dataDir, migrate: true }, dialogs)
  host = coreHost
  registerIpc(coreHost)

  void app.whenReady().then(() => {
    lockDownSession(session.defaultSession, {
      sendCspHeader: !renderer.devUrl,
      isOwnPage
    })
    Menu.setApplicationMenu(
      buildAppMenu({
        currentWindow: () => BrowserWindow.getFocusedWindow() ?? mainWindow ?? undefined,
        dev: !app.isPackaged,
        logFolder: log.dir
      })
    )
    mainWindow = createWindow()
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow()
    })
  })

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit()
  })

  // Close the database cleanly (PGlite flushes, server connections end) before the process exits.
  let closed = false
  app.on('will-quit', (event) => {
    if (closed) return
    event.preventDefault()
    void shutdown().finally(() => {
      closed = true
      log.info('main', 'closed')
      app.quit()
    })
  })

  // Ctrl-C in the terminal that started it, or SIGTERM from a session manager: quit the normal way (the
  // database closes above); a second signal ends the process at once.
  let signalled = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (signalled) app.exit(signal === 'SIGINT' ? 130 : 143)
      signalled = true
      log.info('main', `${signal}: quitting`)
      app.quit()
    })
  }
}

process.on('unhandledRejection', (reason) => {
  console.error('[main] unhandled rejection:', reason instanceof AppError ? reason.message : reason)
})

// `Netkeeper --netkeeper-cli ...` (the `netkeeper` command the packages install) runs the CLI in this process
// and never starts the GUI (src/main/shell/cli-mode.ts).
const cliArgs = cliArguments({ argv: process.argv, defaultApp: process.defaultApp === true, env: process.env })
if (cliArgs) void runCliMode(app, cliArgs)
else main()

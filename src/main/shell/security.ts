/**
 * The window's lock-down, following Electron's security checklist: one set of WebPreferences, every
 * navigation and window.open refused (a navigation to an allow-listed https link, or a window.open of an http(s)
 * link without credentials from the app's own page, goes to the system browser instead),
 * every permission request denied, webviews refused, the CSP sent as a header, and IPC accepted only from
 * the app's own page in a window the app created.
 */
import { pathToFileURL } from 'node:url'
import { app, shell, type IpcMainInvokeEvent, type Session, type WebContents, type WebPreferences } from 'electron'
import { RESPONSE_CSP } from '../../shared/csp'

/** Hosts whose https links may be opened in the system browser. Anything else is refused and logged. */
export const EXTERNAL_LINK_HOSTS: readonly string[] = ['www.postgresql.org', 'www.openldap.org', 'www.electronjs.org']

export function secureWebPreferences(preload: string): WebPreferences {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
    safeDialogs: true,
    devTools: !app.isPackaged
  }
}

/** Where the app's own page lives: the dev server in `electron-vite dev`, else the built index.html. */
export interface RendererLocation {
  devUrl?: string
  indexHtml: string
}

export function isAppUrl(raw: string, where: RendererLocation): boolean {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    return false
  }
  if (where.devUrl) return u.origin === new URL(where.devUrl).origin
  // Host and path, not the #fragment or ?query: those on our own page are still our page. The host counts:
  // file://some.host/<our path> is another machine's file (a UNC share on Windows), not ours.
  const own = pathToFileURL(where.indexHtml)
  return u.protocol === 'file:' && u.host === own.host && u.pathname === own.pathname
}

export function isAllowedExternalLink(raw: string): boolean {
  try {
    const u = new URL(raw)
    return u.protocol === 'https:' && !u.username && !u.password && EXTERNAL_LINK_HOSTS.includes(u.hostname)
  } catch {
    return false
  }
}

/**
 * A link the app's own page (in a window the app made) opens in a new window on purpose (`window.open`, `target="_blank"`): any http(s) address
 * without a user name or password goes to the system browser (the URL custom fields of IPAM tables link to
 * wikis, tickets and monitoring of the reader's own choosing; the database checked they are http(s)). Never
 * a window of the app, and never a navigation of the app's own window, which stays on the allow-list.
 */
export function isOpenableLink(raw: string): boolean {
  try {
    const u = new URL(raw)
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password && u.hostname !== ''
  } catch {
    return false
  }
}

function openExternally(url: string, check: (raw: string) => boolean = isAllowedExternalLink): void {
  if (check(url)) {
    void shell.openExternal(url)
  } else {
    console.warn(`[security] refused to open ${url}: not a link the system browser may be given`)
  }
}

/** Applied to every webContents the app ever creates, before any of them loads anything. */
export function guardWebContents(contents: WebContents, isOwnPage?: (contents: WebContents | null) => boolean): void {
  contents.on('will-navigate', (event, url) => {
    event.preventDefault()
    openExternally(url)
  })
  contents.on('will-redirect', (event) => event.preventDefault())
  contents.on('will-attach-webview', (event) => event.preventDefault())
  contents.setWindowOpenHandler(({ url }) => {
    openExternally(url, isOwnPage?.(contents) ? isOpenableLink : isAllowedExternalLink)
    return { action: 'deny' }
  })
}

/**
 * Every permission is denied, but one: writing text to the clipboard (Chromium's sanitized write, what
 * navigator.clipboard.writeText asks for), and only for the app's own page (`isOwnPage`), so the copy
 * buttons and context menus work. Reading the clipboard stays denied.
 */
export function lockDownSession(ses: Session, opts: { sendCspHeader: boolean; isOwnPage?: (contents: WebContents | null) => boolean }): void {
  const allowed = (contents: WebContents | null, permission: string): boolean => permission === 'clipboard-sanitized-write' && opts.isOwnPage?.(contents) === true
  ses.setPermissionRequestHandler((contents, permission, callback) => callback(allowed(contents, permission)))
  ses.setPermissionCheckHandler((contents, permission) => allowed(contents, permission))
  if (opts.sendCspHeader) {
    // The meta tag already applies; the header adds frame-ancestors and covers any response served over a
    // protocol that has headers. Not in dev, where Vite's client needs its own connections.
    ses.webRequest.onHeadersReceived((details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [RESPONSE_CSP] } })
    })
  }
}

/**
 * IPC is answered only for the main frame of a window the app created, showing the app's own page: a
 * frame that navigated away (it cannot, but defence in depth) or a foreign window gets nothing.
 */
export function isTrustedSender(event: IpcMainInvokeEvent, ownWindows: ReadonlySet<WebContents>, where: RendererLocation): boolean {
  const frame = event.senderFrame
  if (!frame || !ownWindows.has(event.sender)) return false
  if (frame !== event.sender.mainFrame) return false
  return isAppUrl(frame.url, where)
}

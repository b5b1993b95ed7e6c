/**
 * The built main bundle (out/main/index.js, what an installed app runs first) started in a child Node
 * process against the stand-in Electron (tests/support/electron-stand-in, which explains how `electron`
 * resolves to it). Runs wherever Node does, so the shell's start, its security rules, menu, dialogs, window
 * state and single-instance hand-over are exercised in every CI run; tests/e2e/electron.test.ts drives the
 * real Electron where its binary exists.
 *
 * One app (A) runs on the embedded store in a temporary userData folder for most tests; the others start
 * short-lived apps pointed at an unreachable server, so their core gives up at once (degraded start).
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import vm from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { channels } from '../../src/shared/contract'
import { RESPONSE_CSP } from '../../src/shared/csp'
import { NAVIGATE_EVENT, OPEN_LINK_EVENT, VIEWS } from '../../src/shared/navigation'
import type { AppInfo, HealthReport } from '../../src/shared/types'
import { BUILT, ensureBuilt } from '../support/build'
import { APP_URL, root, startBuiltApp, type BuiltApp, type Display, type Records, type Sender, type WindowRecord } from '../support/electron-stand-in/app'
import { createRendererElectron, loadPreload } from '../support/electron-stand-in/renderer'
import { until } from '../support/until'

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string; productName: string }
/** Nothing listens there: a core pointed at it gives up at once and the app starts degraded. */
const UNREACHABLE = 'postgres://netkeeper@127.0.0.1:1/netkeeper'

const PRIMARY: Display = { id: 1, bounds: { x: 0, y: 0, width: 1920, height: 1080 }, workArea: { x: 0, y: 0, width: 1920, height: 1040 } }
const SECOND: Display = { id: 2, bounds: { x: 1920, y: 0, width: 1920, height: 1080 }, workArea: { x: 1920, y: 0, width: 1920, height: 1080 } }

/** Every permission name Electron's permission request handler documents. */
const PERMISSIONS = [
  'clipboard-read', 'clipboard-sanitized-write', 'display-capture', 'fullscreen', 'geolocation', 'idle-detection',
  'media', 'mediaKeySystem', 'midi', 'midiSysex', 'notifications', 'pointerLock', 'keyboardLock', 'openExternal',
  'speaker-selection', 'storage-access', 'top-level-storage-access', 'window-management', 'unknown', 'fileSystem',
  'hid', 'serial', 'usb'
]

const windowState = (userData: string): unknown => JSON.parse(fs.readFileSync(path.join(userData, 'window-state.json'), 'utf8'))

function viewMenu(r: Records): NonNullable<Records['menu']>[number] | undefined {
  return r.menu?.find((m) => m.label.replace('&', '') === 'View')
}

describe('the built main bundle on the stand-in Electron', () => {
  let tmp: string
  let userData: string
  let downloads: string
  let lockDir: string
  let app: BuiltApp
  let beforeReady: Records
  let win: WindowRecord
  let main: Sender
  const others: BuiltApp[] = []

  beforeAll(async () => {
    await ensureBuilt()
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-main-bundle-'))
    userData = path.join(tmp, 'userData')
    downloads = path.join(tmp, 'Downloads')
    lockDir = path.join(tmp, 'single-instance')
    fs.mkdirSync(downloads)
    app = await startBuiltApp({
      userData,
      downloads,
      home: path.join(tmp, 'home'),
      name: pkg.productName,
      version: pkg.version,
      displays: [PRIMARY, SECOND],
      singleInstanceDir: lockDir
    })
    beforeReady = await app.records()
    win = await app.ready()
    main = { contentsId: win.contentsId }
  })

  afterAll(async () => {
    for (const a of [app, ...others]) await a?.kill()
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('takes the single-instance lock first and sandboxes every renderer before ready', () => {
    expect(beforeReady.ready).toBe(false)
    expect(beforeReady.calls[0]?.api).toBe('app.requestSingleInstanceLock')
    expect(beforeReady.singleInstanceLock).toMatchObject({ requested: true, held: true })
    expect(beforeReady.sandboxEnabled).toBe(true)
    expect(beforeReady.windows).toEqual([])
    expect(beforeReady.appListeners).toMatchObject({ 'second-instance': 1, 'web-contents-created': 1, 'window-all-closed': 1, 'will-quit': 1 })
  })

  it('registers one IPC handler for every contract channel, and nothing else', () => {
    const registered = beforeReady.calls.filter((c) => c.api === 'ipcMain.handle').map((c) => c.args[0] as string)
    expect([...registered].sort()).toEqual([...channels].sort())
    expect(new Set(registered).size).toBe(registered.length)
    // No fire-and-forget listeners: every message from the page is a contract invocation.
    expect(beforeReady.ipcListeners).toEqual([])
  })

  it('opens one window with context isolation and sandbox on, Node off, and a CommonJS preload that exists', async () => {
    const r = await app.records()
    expect(r.windows).toHaveLength(1)
    const prefs = r.windows[0]!.options.webPreferences ?? {}
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false
    })
    const preload = prefs.preload as string
    expect(path.isAbsolute(preload)).toBe(true)
    expect(fs.existsSync(preload), `preload ${preload}`).toBe(true)
    expect(fs.realpathSync(preload)).toBe(fs.realpathSync(BUILT.preload))
    // package.json says "type": "module", so only a .cjs file is CommonJS; and it must compile as a function body.
    expect(path.extname(preload)).toBe('.cjs')
    expect(() => vm.compileFunction(fs.readFileSync(preload, 'utf8'), ['exports', 'require', 'module'])).not.toThrow()
    // It shows the built page, loaded from disk.
    expect(r.windows[0]!.url).toBe(APP_URL)
    expect(r.contents.find((c) => c.id === main.contentsId)?.loads).toEqual([{ file: BUILT.renderer, url: APP_URL }])
    expect(r.windows[0]).toMatchObject({ shown: true, focused: true })
  })

  it('sends the Content-Security-Policy header with every response', async () => {
    for (const url of [APP_URL, 'https://example.com/script.js']) {
      const r = await app.request<{ responseHeaders: Record<string, string[]>; listener: boolean }>('headers', {
        url,
        responseHeaders: { 'Content-Type': ['text/html'] }
      })
      expect(r.listener).toBe(true)
      expect(r.responseHeaders).toEqual({ 'Content-Type': ['text/html'], 'Content-Security-Policy': [RESPONSE_CSP] })
    }
  })

  it('opens the core on the embedded store in its data folder and answers app:info and db:health', async () => {
    const info = await app.call<AppInfo>(main, 'app:info')
    expect(info).toMatchObject({ version: pkg.version, platform: process.platform, dataDir: userData })
    expect(info.target).toMatchObject({ kind: 'embedded', origin: 'embedded' })
    expect(info.target.label).toContain(userData)
    const health = await app.call<HealthReport>(main, 'db:health')
    expect(health, app.log()).toMatchObject({ reachable: true, target: { kind: 'embedded' } })
    expect(health.serverVersion).toMatch(/^\d+\.\d+/)
    expect(health.migrations?.pending).toEqual([])
    expect(fs.readdirSync(userData)).toContain('pgdata')
  })

  it('answers every contract channel over IPC with an envelope, none an internal error', async () => {
    const internal: string[] = []
    for (const channel of channels) {
      const reply = await app.invoke(main, channel, {})
      expect(typeof reply.ok, channel).toBe('boolean')
      if (!reply.ok && reply.error.code === 'INTERNAL') internal.push(channel)
    }
    expect(internal).toEqual([])
  })

  it('refuses IPC from a subframe, from a window it did not create, and from a page not at its URL', async () => {
    const refused = { ok: false, error: { code: 'FORBIDDEN', message: 'this window may not call Netkeeper' } }
    expect((await app.invoke(main, 'app:info')).ok).toBe(true)
    expect(await app.invoke({ ...main, frame: 'sub' }, 'app:info')).toEqual(refused)
    expect(await app.invoke({ ...main, frame: 'sub', url: 'https://example.com/' }, 'app:info')).toEqual(refused)
    expect(await app.invoke({ ...main, frame: 'none' }, 'app:info')).toEqual(refused)

    // A window the app did not create, showing the app's own page.
    const foreign = await app.request<{ windowId: number; contentsId: number }>('foreign-window', { url: APP_URL })
    expect(await app.invoke({ contentsId: foreign.contentsId }, 'app:info')).toEqual(refused)
    await app.request('window', { windowId: foreign.windowId, action: 'close' })

    // The app's own window, its main frame somewhere else.
    const elsewhere = [
      'https://example.com/',
      'file:///etc/passwd',
      new URL('other.html', APP_URL).href,
      // Same path on another host: a file URL's host is part of where the page comes from.
      APP_URL.replace('file:///', 'file://attacker.example/'),
      'about:blank',
      'data:text/html,<p>hi</p>'
    ]
    try {
      for (const url of elsewhere) {
        await app.request('set-frame-url', { contentsId: main.contentsId, url })
        expect(await app.invoke(main, 'app:info'), url).toEqual(refused)
      }
      // Its own page with a fragment or query is still its own page.
      for (const url of [`${APP_URL}#/settings`, `${APP_URL}?view=audit`]) {
        await app.request('set-frame-url', { contentsId: main.contentsId, url })
        expect((await app.invoke(main, 'app:info')).ok, url).toBe(true)
      }
    } finally {
      await app.request('set-frame-url', { contentsId: main.contentsId, url: APP_URL })
    }
    expect(app.log()).toContain('[ipc] refused app:info from https://example.com/')
  })

  it('refuses navigation and window.open; an allow-listed https link, or an http(s) link the app page opens in a new window, goes to the system browser', async () => {
    const before = (await app.records()).openedExternally.length
    const allowed = ['https://www.postgresql.org/docs/current/', 'https://www.openldap.org/doc/admin26/']
    // A navigation of the app's window to these is refused; the app's own page may window.open them (a URL
    // custom field's link in an IPAM table), which hands them to the system browser, never to a window of ours.
    const openable = ['https://example.com/', 'http://www.postgresql.org/docs/', 'https://www.postgresql.org.example.com/']
    const refused = ['https://user:secret@www.postgresql.org/', 'file:///etc/passwd', 'javascript:alert(1)', APP_URL]
    for (const url of [...allowed, ...openable, ...refused]) {
      expect(await app.navigate(main.contentsId, url), url).toEqual({ prevented: true, url: APP_URL })
      expect(await app.windowOpen(main.contentsId, url), url).toEqual({ result: { action: 'deny' }, createdWindowId: null })
    }
    expect(await app.navigate(main.contentsId, 'https://example.com/', 'will-redirect')).toEqual({ prevented: true, url: APP_URL })
    expect(await app.request('attach-webview', { contentsId: main.contentsId, src: 'https://example.com/' })).toMatchObject({ prevented: true })

    const r = await app.records()
    expect(r.openedExternally.slice(before)).toEqual([...allowed.flatMap((u) => [u, u]), ...openable])
    expect(r.windows.filter((w) => !w.destroyed)).toHaveLength(1)

    // Every webContents gets the guards when it is created, not only the app's window.
    const foreign = await app.request<{ windowId: number; contentsId: number }>('foreign-window', { url: 'https://example.com/' })
    expect(await app.navigate(foreign.contentsId, 'https://example.org/')).toMatchObject({ prevented: true })
    expect(await app.windowOpen(foreign.contentsId, 'https://example.org/')).toEqual({ result: { action: 'deny' }, createdWindowId: null })
    // A page that is not the app's own may not hand links to the system browser.
    expect((await app.records()).openedExternally).not.toContain('https://example.org/')
    await app.request('window', { windowId: foreign.windowId, action: 'close' })
  })

  it('denies every permission request and every permission check but writing text to the clipboard from its own page', async () => {
    for (const permission of PERMISSIONS) {
      const granted = permission === 'clipboard-sanitized-write'
      expect(await app.request('permission', { contentsId: main.contentsId, permission }), permission).toEqual({ granted, handler: true })
      expect(await app.request('permission-check', { contentsId: main.contentsId, permission }), permission).toEqual({ granted, handler: true })
    }
  })

  it('sends menu:navigate with the right view for each View accelerator, and the built preload passes it on', async () => {
    const view = viewMenu(await app.records())
    expect(view?.submenu?.filter((i) => i.accelerator?.startsWith('CmdOrCtrl+')).map((i) => [i.label, i.accelerator])).toEqual(
      VIEWS.map((v, i) => [v.label, `CmdOrCtrl+${i + 1}`])
    )
    // Not packaged: Reload and the developer tools are there.
    expect(view?.submenu?.map((i) => i.role)).toEqual(expect.arrayContaining(['reload', 'toggleDevTools']))

    // The page's side: the built preload, fed what main sends to this window.
    const renderer = createRendererElectron()
    loadPreload(BUILT.preload, renderer)
    const bridge = renderer.exposed[0]!.api as { onNavigate(cb: (view: string) => void): () => void }
    const shown: string[] = []
    bridge.onNavigate((v) => shown.push(v))
    const stop = app.onSend((s) => {
      if (s.contentsId === main.contentsId) renderer.deliver(s.channel, ...s.args)
    })
    try {
      for (const [i, v] of VIEWS.entries()) {
        await app.request('menu-click', { accelerator: `CmdOrCtrl+${i + 1}` })
        const sent = (await app.records()).contents.find((c) => c.id === main.contentsId)!.sent
        expect(sent.at(-1)).toEqual([NAVIGATE_EVENT, v.id])
      }
      // With no window focused (the app in the background), the main window still gets it.
      await app.request('window', { windowId: win.id, action: 'blur' })
      await app.request('menu-click', { labels: ['View', 'Settings'] })
      expect((await app.records()).contents.find((c) => c.id === main.contentsId)!.sent.at(-1)).toEqual([NAVIGATE_EVENT, 'settings'])
      await app.request('window', { windowId: win.id, action: 'focus' })
    } finally {
      stop()
    }
    expect(shown).toEqual([...VIEWS.map((v) => v.id), 'settings'])
  })

  it('the built preload reaches the built main: its invoke is answered by the registered handler', async () => {
    const renderer = createRendererElectron({
      invoke: (channel, ...args) => app.invoke(main, channel, args[0])
    })
    loadPreload(BUILT.preload, renderer)
    const bridge = renderer.exposed[0]!.api as { invoke(channel: string, args?: unknown): Promise<{ ok: boolean; value?: AppInfo }> }
    const reply = await bridge.invoke('app:info')
    expect(reply.ok).toBe(true)
    expect(reply.value).toEqual(await app.call(main, 'app:info'))
    expect(await bridge.invoke('db:status', { unexpected: 1 })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } })
  })

  it('keeps a log in the data folder, every line with the request id of its work, and Help › Open Log Folder shows it', async () => {
    const logs = path.join(userData, 'logs')
    const logFile = path.join(logs, 'netkeeper.log')
    expect(await app.invoke(main, 'ipam:pool:get', { pool: 'no-such-pool' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } })
    const lines = await until('the refusal in the log', async () => {
      const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''
      return /\[ipc\] ipam:pool:get: NOT_FOUND/.test(text) && text.trimEnd().split('\n')
    }, 10_000)
    expect(lines[0]).toMatch(new RegExp(`^\\S+Z INFO  req=- \\[main\\] Netkeeper ${pkg.version.replace(/\./g, '\\.')} starting .*; data folder ${userData.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`))
    expect(lines.find((l) => l.includes('[ipc] ipam:pool:get: NOT_FOUND'))).toMatch(/ INFO {2}req=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} \[ipc\] ipam:pool:get: NOT_FOUND /)
    // Every line carries a req= field (the continuation lines of a multi-line entry are indented).
    expect(lines.filter((l) => !l.startsWith(' ')).every((l) => / (DEBUG|INFO|WARN|ERROR) +req=\S+ /.test(l))).toBe(true)
    expect(fs.statSync(logFile).mode & 0o777).toBe(0o600)
    expect(fs.statSync(logs).mode & 0o777).toBe(0o700)

    const help = (await app.records()).menu?.find((m) => m.role === 'help')
    expect(help?.submenu?.map((i) => i.label)).toEqual(['Open &Log Folder', '', 'About Netkeeper'])
    await app.request('menu-click', { labels: ['Help', 'Open Log Folder'] })
    expect((await app.records()).calls.filter((c) => c.api === 'shell.openPath').map((c) => c.args[0])).toEqual([logs])
  })

  it('shows native file dialogs modal to its window and hands the choice to the core', async () => {
    const legacy = path.join(tmp, 'legacy.sqlite')
    await app.request('dialog-answers', { open: [{ canceled: false, filePaths: [legacy] }, { canceled: true, filePaths: [] }] })
    expect(await app.call(main, 'dialog:open-file', { purpose: 'legacy-import' })).toEqual({ file: legacy })
    expect(await app.call(main, 'dialog:open-file', { purpose: 'legacy-import' })).toEqual({ file: null })

    const target = path.join(tmp, 'chosen', 'audit.csv')
    fs.mkdirSync(path.dirname(target))
    await app.request('dialog-answers', { save: [{ canceled: false, filePath: target }] })
    const exported = await app.call<{ outcome: string; file?: string; rows: number }>(main, 'audit:export', { runId: randomUUID(), format: 'csv' })
    expect(exported).toMatchObject({ outcome: 'saved', file: target })
    expect(fs.readFileSync(target, 'utf8').split('\n')[0]).toMatch(/^seq,/)

    const [open, cancelled, save] = (await app.records()).dialogs.slice(-3)
    expect(open).toMatchObject({ kind: 'showOpenDialog', parent: win.id, options: { properties: ['openFile'] } })
    expect(cancelled).toMatchObject({ kind: 'showOpenDialog', parent: win.id })
    expect(save).toMatchObject({ kind: 'showSaveDialog', parent: win.id })
    expect(path.dirname(save!.options.defaultPath as string)).toBe(downloads)
  })

  it('a second instance hands its arguments to the first and quits without opening anything', async () => {
    await app.request('window', { windowId: win.id, action: 'minimize' })
    const args = ['--profile=lab', 'netkeeper://ip/10.0.0.7']
    const second = await startBuiltApp({ userData, downloads, name: pkg.productName, displays: [PRIMARY, SECOND], singleInstanceDir: lockDir, args })
    others.push(second)
    const exit = await second.waitForExit(30_000)
    expect(exit.code, second.log()).toBe(0)
    expect(exit.records?.singleInstanceLock).toMatchObject({ requested: true, held: false, handedOver: { to: app.pid } })
    expect(exit.records?.windows).toEqual([])
    expect(exit.records?.handlers).toEqual([])
    expect(exit.records?.calls.map((c) => c.api).filter((api) => !api.startsWith('event '))).toEqual(['app.requestSingleInstanceLock', 'app.quit', 'app.exit'])

    const first = await until('the first instance to hear from the second', async () => {
      const r = await app.records()
      return r.secondInstances.length > 0 && r
    }, 10_000)
    expect(first.secondInstances[0]!.argv.slice(-2)).toEqual(args)
    expect(first.secondInstances[0]!.listeners).toBeGreaterThan(0)
    // ...and brings its window back to the front.
    expect(first.windows.find((w) => w.id === win.id)).toMatchObject({ minimized: false, shown: true, focused: true })
    // The link goes to the page of the window that has loaded (src/main/shell/links.ts), once.
    const sent = first.contents.find((c) => c.id === main.contentsId)!.sent
    expect(sent.filter((m: unknown[]) => m[0] === OPEN_LINK_EVENT)).toEqual([[OPEN_LINK_EVENT, 'netkeeper://ip/10.0.0.7']])
  })

  it('registers as the handler of netkeeper:// links, and a second launch with something that is not a link sends nothing', async () => {
    const r = await app.records()
    expect(r.calls.filter((c) => c.api === 'app.setAsDefaultProtocolClient').map((c) => c.args[0])).toEqual(['netkeeper'])
    const before = r.contents.find((c) => c.id === main.contentsId)!.sent.length
    const second = await startBuiltApp({ userData, downloads, name: pkg.productName, displays: [PRIMARY, SECOND], singleInstanceDir: lockDir, args: ['netkeeper://ip/not;an address', 'netkeeper://nothing/x'] })
    others.push(second)
    expect((await second.waitForExit(30_000)).code).toBe(0)
    await until('the first instance to hear from the second', async () => (await app.records()).secondInstances.length > 1, 10_000)
    const sent = (await app.records()).contents.find((c) => c.id === main.contentsId)!.sent.slice(before)
    expect(sent.filter((m: unknown[]) => m[0] === OPEN_LINK_EVENT)).toEqual([])
  })

  it('shows one desktop notification when a pool crosses a utilization level, from its answer to ipam:usage:alerts', async () => {
    const shown = async (): Promise<unknown[]> => (await app.records()).calls.filter((c) => c.api === 'Notification.show').map((c) => c.args[0])
    expect(await app.invoke(main, 'ipam:pool:create', { name: 'notify-lan', network: '10.66.0.0/29' })).toMatchObject({ ok: true })
    expect(await app.invoke(main, 'ipam:usage:thresholds:set', { pool: 'notify-lan', warnPercent: 30, criticalPercent: 90 })).toMatchObject({ ok: true })
    expect(await app.invoke(main, 'ipam:usage:alerts', {})).toMatchObject({ ok: true, value: { crossed: [] } })
    expect(await shown()).toEqual([])
    // 2 of 6 usable: 33.33 %, over the 30 % warning.
    expect(await app.invoke(main, 'ipam:allocate', { pool: 'notify-lan', count: 2, next: true })).toMatchObject({ ok: true })
    expect(await app.invoke(main, 'ipam:usage:alerts', {})).toMatchObject({ ok: true, value: { crossed: [{ pool: 'notify-lan', level: 'warn' }] } })
    expect(await shown()).toEqual([{ title: 'Netkeeper: pool notify-lan filling up', body: 'notify-lan is 33.33 % full, at or above its warning level of 30 %.' }])
    // Once: asking again shows nothing new.
    await app.invoke(main, 'ipam:usage:alerts', {})
    expect(await shown()).toHaveLength(1)
  })

  it('saves the window bounds and maximized state shortly after a move', async () => {
    const bounds = { x: 2000, y: 100, width: 1100, height: 700 }
    await app.request('window', { windowId: win.id, action: 'setBounds', bounds })
    await app.request('window', { windowId: win.id, action: 'maximize' })
    await until('window-state.json', async () => fs.existsSync(path.join(userData, 'window-state.json')), 5_000)
    await until('the saved state', async () => JSON.stringify(windowState(userData)) === JSON.stringify({ ...bounds, maximized: true }), 5_000)
  })

  it('quits cleanly: saves the window state on close and closes the database before exiting', async () => {
    // Changed just before quitting, so only the save on close can have written it.
    await app.request('window', { windowId: win.id, action: 'unmaximize' })
    const last = { x: 2100, y: 150, width: 1200, height: 750 }
    await app.request('window', { windowId: win.id, action: 'setBounds', bounds: last })
    const exit = await app.quit()
    expect(exit.code, app.log()).toBe(0)
    expect(windowState(userData)).toEqual({ ...last, maximized: false })
    // will-quit was held once for the database to close, then let through.
    const willQuit = exit.records!.calls.filter((c) => c.api === 'event app will-quit').map((c) => c.args[0])
    expect(willQuit).toEqual([{ defaultPrevented: true }, { defaultPrevented: false }])
    expect(app.log()).not.toMatch(/error while closing the database|unhandled rejection/)
    expect(fs.existsSync(path.join(lockDir, 'owner'))).toBe(false)
  })

  it('restores the saved bounds and maximized state at the next start', async () => {
    const state = { x: 2100, y: 150, width: 1200, height: 750, maximized: true }
    const dir = path.join(tmp, 'restore')
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'window-state.json'), JSON.stringify(state))
    const next = await startBuiltApp({ userData: dir, displays: [PRIMARY, SECOND], env: { NETKEEPER_DATABASE_URL: UNREACHABLE } })
    others.push(next)
    const shown = await next.ready()
    expect(shown.options).toMatchObject({ x: 2100, y: 150, width: 1200, height: 750 })
    expect(shown.maximized).toBe(true)
    expect((await next.quit()).code).toBe(0)
  })

  it('drops a saved position that is on no display any more, keeping the size', async () => {
    const dir = path.join(tmp, 'unplugged')
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'window-state.json'), JSON.stringify({ x: 2100, y: 150, width: 1200, height: 750, maximized: false }))
    // The second monitor is gone.
    const next = await startBuiltApp({ userData: dir, displays: [PRIMARY], env: { NETKEEPER_DATABASE_URL: UNREACHABLE } })
    others.push(next)
    const shown = await next.ready()
    expect(shown.options).toMatchObject({ width: 1200, height: 750 })
    expect(shown.options.x).toBeUndefined()
    expect(shown.options.y).toBeUndefined()
    expect(shown.bounds.x).toBeGreaterThanOrEqual(0)
    expect(shown.bounds.x + shown.bounds.width).toBeLessThanOrEqual(1920)
    expect((await next.quit()).code).toBe(0)
  })

  it('a packaged build ignores ELECTRON_RENDERER_URL, has no DevTools or Reload, and starts degraded when the server is down', async () => {
    const dir = path.join(tmp, 'packaged')
    const packaged = await startBuiltApp({
      userData: dir,
      isPackaged: true,
      version: pkg.version,
      env: { NETKEEPER_DATABASE_URL: UNREACHABLE, ELECTRON_RENDERER_URL: 'http://127.0.0.1:5173/' }
    })
    others.push(packaged)
    const shown = await packaged.ready()
    expect(shown.url).toBe(APP_URL)
    expect(shown.options.webPreferences).toMatchObject({ devTools: false, sandbox: true, contextIsolation: true })
    const r = await packaged.records()
    expect(viewMenu(r)?.submenu?.map((i) => i.role)).not.toEqual(expect.arrayContaining(['reload']))
    expect(viewMenu(r)?.submenu?.map((i) => i.role)).not.toEqual(expect.arrayContaining(['toggleDevTools']))
    const headers = await packaged.request<{ responseHeaders: Record<string, string[]> }>('headers', { url: APP_URL })
    expect(headers.responseHeaders['Content-Security-Policy']).toEqual([RESPONSE_CSP])
    // The dev server's page may not call it.
    const sender = { contentsId: shown.contentsId }
    await packaged.request('set-frame-url', { contentsId: shown.contentsId, url: 'http://127.0.0.1:5173/' })
    expect(await packaged.invoke(sender, 'app:info')).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    await packaged.request('set-frame-url', { contentsId: shown.contentsId, url: APP_URL })
    // The window opens anyway and says why the database is not there.
    expect(await packaged.call<AppInfo>(sender, 'app:info')).toMatchObject({ version: pkg.version, dataDir: dir, target: { kind: 'postgresql', origin: 'env' } })
    const health = await packaged.call<HealthReport>(sender, 'db:health')
    expect(health.reachable).toBe(false)
    expect(health.error).toMatch(/ECONNREFUSED|unreachable/)
    expect((await packaged.quit()).code).toBe(0)
  })

  it('in development it loads the dev server, answers only that origin and leaves the CSP header to Vite', async () => {
    const dev = await startBuiltApp({
      userData: path.join(tmp, 'dev'),
      env: { NETKEEPER_DATABASE_URL: UNREACHABLE, ELECTRON_RENDERER_URL: 'http://127.0.0.1:5173/' }
    })
    others.push(dev)
    const shown = await dev.ready()
    expect(shown.url).toBe('http://127.0.0.1:5173/')
    const sender = { contentsId: shown.contentsId }
    expect((await dev.invoke(sender, 'app:info')).ok).toBe(true)
    await dev.request('set-frame-url', { contentsId: shown.contentsId, url: 'http://127.0.0.1:5174/' })
    expect(await dev.invoke(sender, 'app:info')).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } })
    expect(await dev.request('headers', { url: 'http://127.0.0.1:5173/' })).toMatchObject({ listener: false })
    expect((await dev.quit()).code).toBe(0)
  })
})

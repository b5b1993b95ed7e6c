/**
 * A STAND-IN for Electron's main-process API, for tests on machines where Electron's binary cannot be
 * downloaded (CI here). It is not Electron: there is no Chromium, no window, no renderer. It offers what
 * our main process imports from `electron` (app, BrowserWindow, ipcMain, session, Menu, dialog, shell,
 * protocol, screen, nativeTheme), records every call, and lets a test fire the events Electron would
 * (ready, second-instance, web-contents-created, will-navigate, window.open, permission requests, IPC
 * invocations with a chosen sender and frame...). The sandboxed renderer's side (contextBridge,
 * ipcRenderer) is in renderer.ts; tests/e2e/electron.test.ts still drives the real Electron wherever its
 * binary exists.
 *
 * How the built bundle gets it instead of the real thing. out/main/index.js is an ES module that does
 * `import { app, ... } from "electron"`. In plain Node that specifier finds node_modules/electron, the npm
 * package, whose index.js only exports the path of a binary that is not there. So the test starts the
 * bundle in a child Node process:
 *
 *     node --import tests/support/electron-stand-in/register.mjs out/main/index.js
 *
 * register.mjs registers a module resolve hook (hooks.mjs, through `module.register`) that answers the bare
 * specifier `electron` with this file, and patches CommonJS resolution to the same file for `require`.
 * Chosen over the alternatives because it is Node's supported hook and touches nothing on disk:
 * NODE_PATH is ignored by ES modules; a fake node_modules/electron would shadow the real package for every
 * other tool; bundling the stand-in into a test build would test a different bundle than the one shipped.
 * The bundle itself runs unmodified, with its real imports from node_modules. If the bundle starts to use
 * an Electron API this file lacks, loading fails with Node's "does not provide an export named X": add it
 * here, as small as the code needs.
 *
 * Configuration comes from the ELECTRON_STAND_IN environment variable (JSON; see readConfig below). When
 * started with an IPC channel (child_process.fork), the test drives it with messages {id, op, ...}; each
 * gets one reply {type: 'reply', id, ok, value | error}. Unsolicited messages: {type: 'send'} for each
 * webContents.send (so a test can feed the preload), and {type: 'exit', code, records} when the app exits.
 * tests/support/electron-stand-in/app.ts is the typed client.
 *
 * Where Electron enforces a rule our code could break, so does this file, with Electron's message:
 * BrowserWindow, screen and session.defaultSession only after `ready`, app.enableSandbox() only before it,
 * one ipcMain.handle per channel, nothing on a destroyed window, 'second-instance' only after `ready`.
 * Where Electron's default is permissive (no permission handler: granted; no window-open handler: a new
 * window), so is this file, so a missing guard shows.
 */
import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

// ---------------------------------------------------------------------------------------------------------
// Configuration and the call record

/**
 * ELECTRON_STAND_IN (JSON), every field optional:
 *   userData, downloads, home: folders app.getPath answers (default: under a fresh temporary folder)
 *   isPackaged (false), name ('Electron'), version ('0.0.0'), darkColors (false)
 *   displays: [{ id, bounds: {x,y,width,height}, workArea: {...}, scaleFactor }] (default: one 1920x1080)
 *   singleInstanceDir: a folder shared by the instances that compete for app.requestSingleInstanceLock();
 *     without it the lock is always granted (there is no other instance)
 */
function readConfig() {
  const c = process.env.ELECTRON_STAND_IN ? JSON.parse(process.env.ELECTRON_STAND_IN) : {}
  // Not created here: only what the app itself writes to appears on disk.
  const base = c.home ?? path.join(os.tmpdir(), `electron-stand-in-${process.pid}`)
  const primary = { id: 1, bounds: { x: 0, y: 0, width: 1920, height: 1080 }, workArea: { x: 0, y: 0, width: 1920, height: 1040 }, scaleFactor: 1 }
  return {
    isPackaged: c.isPackaged === true,
    name: c.name ?? 'Electron',
    version: c.version ?? '0.0.0',
    darkColors: c.darkColors === true,
    displays: c.displays ?? [primary],
    singleInstanceDir: c.singleInstanceDir,
    paths: {
      home: base,
      appData: path.join(base, 'appData'),
      userData: c.userData ?? path.join(base, 'appData', c.name ?? 'Electron'),
      sessionData: c.userData ?? path.join(base, 'appData', c.name ?? 'Electron'),
      temp: os.tmpdir(),
      downloads: c.downloads ?? path.join(base, 'Downloads'),
      documents: path.join(base, 'Documents'),
      desktop: path.join(base, 'Desktop'),
      logs: path.join(base, 'logs'),
      crashDumps: path.join(base, 'crashDumps'),
      exe: process.execPath,
      module: process.execPath
    }
  }
}
const config = readConfig()

/**
 * process.argv and process.defaultApp as Electron sets them: a packaged app is started as the binary itself
 * ([binary, ...args]), a development run as `electron <app path> ...args` with process.defaultApp true. This
 * Node process was started as `node out/main/index.js ...args`, the development shape; packaged, the script
 * slot is taken out, so code that finds its arguments by Electron's rules finds them here too.
 */
if (config.isPackaged) process.argv.splice(1, 1)
else process.defaultApp = true

/** Every API call, in order: { seq, api, args } with the arguments described as plain data. */
const calls = []
function record(api, args = []) {
  calls.push({ seq: calls.length + 1, api, args: args.map((a) => describe(a)) })
}

/** A plain-data picture of a value for the record: objects of this file by id, functions by name. */
function describe(value, depth = 0, seen = new WeakSet()) {
  if (value === null || value === undefined) return value ?? null
  if (typeof value === 'function') return { function: value.name || 'anonymous' }
  if (typeof value !== 'object') return typeof value === 'bigint' ? String(value) : value
  if (value instanceof BrowserWindow) return { window: value.id }
  if (value instanceof WebContents) return { webContents: value.id }
  if (value instanceof WebFrameMain) return { frame: value.routingId, url: value.url }
  if (value instanceof Menu) return { menu: describeMenu(value) }
  if (value instanceof Session) return { session: value.partition }
  if (seen.has(value)) return '[cycle]'
  if (depth > 8) return '[deep]'
  seen.add(value)
  if (Array.isArray(value)) return value.map((v) => describe(v, depth + 1, seen))
  // Like JSON: a property whose value is undefined is left out, so a test can tell "not given" from null.
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, describe(v, depth + 1, seen)])
  )
}

/** The event object Electron passes first to most listeners. */
function makeEvent(extra = {}) {
  const event = {
    defaultPrevented: false,
    preventDefault() {
      event.defaultPrevented = true
    },
    ...extra
  }
  return event
}

const tick = () => new Promise((r) => setImmediate(r))

// ---------------------------------------------------------------------------------------------------------
// app

const lock = { requested: false, held: false, handedOver: null }
const secondInstances = []
let sandboxEnabled = false
let aboutPanel = null

class App extends EventEmitter {
  #ready = false
  #resolveReady
  #readyPromise = new Promise((r) => (this.#resolveReady = r))
  #quitting = false
  #exiting = false
  commandLine = {
    appendSwitch: (...a) => record('app.commandLine.appendSwitch', a),
    appendArgument: (...a) => record('app.commandLine.appendArgument', a),
    hasSwitch: () => false,
    getSwitchValue: () => ''
  }

  get isPackaged() {
    return config.isPackaged
  }
  get name() {
    return config.name
  }
  getName() {
    return config.name
  }
  getVersion() {
    return config.version
  }
  getAppPath() {
    return process.cwd()
  }
  getPath(name) {
    record('app.getPath', [name])
    const p = config.paths[name]
    if (!p) throw new Error(`Failed to get '${name}' path`)
    return p
  }
  setPath(name, value) {
    record('app.setPath', [name, value])
    config.paths[name] = value
  }
  getLocale() {
    return 'en-US'
  }
  isReady() {
    return this.#ready
  }
  whenReady() {
    return this.#readyPromise
  }
  /** Fired by the test (op emit-app 'ready'), as Electron fires it once Chromium has started. */
  _becomeReady() {
    if (this.#ready) return
    this.#ready = true
    this.emit('ready', makeEvent(), {})
    this.#resolveReady()
  }
  disableHardwareAcceleration() {
    record('app.disableHardwareAcceleration')
    if (this.#ready) throw new Error('app.disableHardwareAcceleration() can only be called before app is ready')
  }
  enableSandbox() {
    record('app.enableSandbox')
    if (this.#ready) throw new Error('app.enableSandbox() can only be called before app is ready')
    sandboxEnabled = true
  }
  setAboutPanelOptions(options) {
    record('app.setAboutPanelOptions', [options])
    aboutPanel = options
  }
  showAboutPanel() {
    record('app.showAboutPanel')
  }
  focus(options) {
    record('app.focus', [options])
  }
  setAsDefaultProtocolClient(protocol, execPath, args) {
    record('app.setAsDefaultProtocolClient', [protocol, execPath, args])
    defaultProtocols.add(protocol)
    return true
  }
  isDefaultProtocolClient(protocol) {
    return defaultProtocols.has(protocol)
  }
  requestSingleInstanceLock(additionalData) {
    record('app.requestSingleInstanceLock', [additionalData])
    lock.requested = true
    lock.held = acquireSingleInstanceLock(additionalData)
    return lock.held
  }
  hasSingleInstanceLock() {
    return lock.held
  }
  releaseSingleInstanceLock() {
    record('app.releaseSingleInstanceLock')
    releaseSingleInstanceLock()
  }
  /** Electron's order: before-quit, every window closed (each may refuse), will-quit, quit, exit. */
  quit() {
    record('app.quit')
    if (this.#quitting || this.#exiting) return
    this.#quitting = true
    setImmediate(() => {
      this.#quitting = false
      const before = makeEvent()
      this.emit('before-quit', before)
      if (before.defaultPrevented) return
      for (const win of BrowserWindow.getAllWindows()) {
        if (!win._close({ quitting: true })) return // a window refused to close: the quit is cancelled
      }
      const willQuit = makeEvent()
      this.emit('will-quit', willQuit)
      record('event app will-quit', [{ defaultPrevented: willQuit.defaultPrevented }])
      if (willQuit.defaultPrevented) return
      this.emit('quit', makeEvent(), 0)
      this.exit(0)
    })
  }
  exit(code = 0) {
    record('app.exit', [code])
    if (this.#exiting) return
    this.#exiting = true
    finish(code)
  }
  relaunch(options) {
    record('app.relaunch', [options])
  }
  _isQuitting() {
    return this.#quitting
  }
}
const defaultProtocols = new Set()
const app = new App()

/**
 * The single-instance lock across processes: the first instance creates `owner` (with its pid) in the
 * shared folder; a later one finds it, leaves its argv, working directory and additionalData in `inbox/`
 * and is refused. The owner turns each inbox file into a 'second-instance' event (after `ready`, as
 * Electron guarantees). A lock whose owner process is gone is taken over.
 */
function acquireSingleInstanceLock(additionalData) {
  const dir = config.singleInstanceDir
  if (!dir) return true
  const inbox = path.join(dir, 'inbox')
  fs.mkdirSync(inbox, { recursive: true })
  const owner = path.join(dir, 'owner')
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(owner, String(process.pid), { flag: 'wx' })
      process.on('exit', releaseSingleInstanceLock)
      const timer = setInterval(() => deliverSecondInstances(inbox), 50)
      timer.unref()
      return true
    } catch (e) {
      if (e.code !== 'EEXIST') throw e
    }
    const pid = Number(fs.readFileSync(owner, 'utf8'))
    if (pid && processAlive(pid)) {
      const message = { argv: process.argv, workingDirectory: process.cwd(), additionalData: additionalData ?? null }
      const file = path.join(inbox, `${process.pid}-${Date.now()}.json`)
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(message))
      fs.renameSync(`${file}.tmp`, file)
      lock.handedOver = { to: pid, argv: message.argv }
      return false
    }
    fs.rmSync(owner, { force: true }) // its process is gone
  }
  return false
}

function releaseSingleInstanceLock() {
  if (!lock.held || !config.singleInstanceDir) return
  lock.held = false
  try {
    const owner = path.join(config.singleInstanceDir, 'owner')
    if (fs.readFileSync(owner, 'utf8') === String(process.pid)) fs.rmSync(owner, { force: true })
  } catch {
    /* already gone */
  }
}

function processAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === 'EPERM'
  }
}

function deliverSecondInstances(inbox) {
  if (!app.isReady()) return
  let names
  try {
    names = fs.readdirSync(inbox).filter((n) => n.endsWith('.json')).sort()
  } catch {
    return
  }
  for (const name of names) {
    const file = path.join(inbox, name)
    let message
    try {
      message = JSON.parse(fs.readFileSync(file, 'utf8'))
      fs.rmSync(file)
    } catch {
      continue
    }
    secondInstances.push({ ...message, listeners: app.listenerCount('second-instance') })
    record('event app second-instance', [message.argv, message.workingDirectory, message.additionalData])
    app.emit('second-instance', makeEvent(), message.argv, message.workingDirectory, message.additionalData)
  }
}

// ---------------------------------------------------------------------------------------------------------
// screen and nativeTheme

function requireReady(what) {
  if (!app.isReady()) throw new Error(`The '${what}' module can't be used before the app 'ready' event`)
}

class Screen extends EventEmitter {
  getAllDisplays() {
    requireReady('screen')
    record('screen.getAllDisplays')
    return config.displays.map((d) => structuredClone(d))
  }
  getPrimaryDisplay() {
    requireReady('screen')
    return structuredClone(config.displays[0])
  }
  getDisplayNearestPoint(point) {
    requireReady('screen')
    const inside = config.displays.find(
      ({ bounds: b }) => point.x >= b.x && point.x < b.x + b.width && point.y >= b.y && point.y < b.y + b.height
    )
    return structuredClone(inside ?? config.displays[0])
  }
  getDisplayMatching(rect) {
    return this.getDisplayNearestPoint({ x: rect.x + rect.width / 2, y: rect.y + rect.height / 2 })
  }
  getCursorScreenPoint() {
    requireReady('screen')
    return { x: 0, y: 0 }
  }
}
const screen = new Screen()

class NativeTheme extends EventEmitter {
  #source = 'system'
  get shouldUseDarkColors() {
    return config.darkColors
  }
  get themeSource() {
    return this.#source
  }
  set themeSource(value) {
    record('nativeTheme.themeSource=', [value])
    this.#source = value
  }
}
const nativeTheme = new NativeTheme()

// ---------------------------------------------------------------------------------------------------------
// Frames, webContents and windows

let nextRoutingId = 1
/** A frame of a page. A test may add subframes and move a frame to another URL (ops below). */
class WebFrameMain {
  constructor(contents, parent, url) {
    this.contents = contents
    this.parent = parent
    this.url = url
    this.routingId = nextRoutingId++
    this.processId = contents.id + 1000
    this.frames = []
  }
  get top() {
    return this.parent ? this.parent.top : this
  }
  get origin() {
    try {
      const u = new URL(this.url)
      return u.protocol === 'file:' ? 'file://' : u.origin
    } catch {
      return ''
    }
  }
  addChild(url) {
    const child = new WebFrameMain(this.contents, this, url)
    this.frames.push(child)
    return child
  }
  isDestroyed() {
    return this.contents.isDestroyed()
  }
}

let nextContentsId = 1
const allContents = new Map()

class WebContents extends EventEmitter {
  #destroyed = false
  constructor({ window, webPreferences }) {
    super()
    this.id = nextContentsId++
    this.window = window
    this.webPreferences = webPreferences ?? {}
    this.url = ''
    this.mainFrame = new WebFrameMain(this, null, '')
    this.sent = []
    this.windowOpenHandler = null
    this.loads = []
    allContents.set(this.id, this)
  }
  get session() {
    return session.defaultSession
  }
  #alive(what) {
    if (this.#destroyed) throw new Error(`Object has been destroyed (webContents.${what})`)
  }
  getURL() {
    this.#alive('getURL')
    return this.url
  }
  getTitle() {
    return 'Netkeeper'
  }
  /** Shows `url` in the main frame (no will-navigate: a load the app asked for). */
  _show(url) {
    this.url = url
    this.mainFrame = new WebFrameMain(this, null, url)
  }
  loadURL(url, options) {
    this.#alive('loadURL')
    record('webContents.loadURL', [this, url, options])
    this.loads.push({ url })
    this._show(url)
    return this._finishLoad()
  }
  loadFile(file, options) {
    this.#alive('loadFile')
    record('webContents.loadFile', [this, file, options])
    if (!fs.existsSync(file)) {
      this.loads.push({ file, error: 'ERR_FILE_NOT_FOUND' })
      setImmediate(() => this.emit('did-fail-load', makeEvent(), -6, 'ERR_FILE_NOT_FOUND', pathToFileURL(file).href, true))
      return Promise.reject(new Error(`ERR_FILE_NOT_FOUND (-6) loading '${pathToFileURL(file).href}'`))
    }
    const url = pathToFileURL(path.resolve(file))
    if (options?.hash) url.hash = options.hash
    if (options?.search) url.search = options.search
    this.loads.push({ file, url: url.href })
    this._show(url.href)
    return this._finishLoad()
  }
  _finishLoad() {
    return new Promise((resolve) =>
      setImmediate(() => {
        if (this.#destroyed) return resolve()
        this.emit('dom-ready', makeEvent())
        this.emit('did-finish-load', makeEvent())
        this.window?._loaded()
        resolve()
      })
    )
  }
  send(channel, ...args) {
    this.#alive('send')
    record('webContents.send', [this, channel, ...args])
    this.sent.push([channel, ...args])
    notify({ type: 'send', contentsId: this.id, channel, args })
  }
  setWindowOpenHandler(handler) {
    this.#alive('setWindowOpenHandler')
    record('webContents.setWindowOpenHandler', [this, handler])
    this.windowOpenHandler = handler
  }
  openDevTools(options) {
    record('webContents.openDevTools', [this, options])
  }
  isDevToolsOpened() {
    return false
  }
  reload() {
    record('webContents.reload', [this])
  }
  focus() {
    record('webContents.focus', [this])
  }
  isDestroyed() {
    return this.#destroyed
  }
  close() {
    this._destroy()
  }
  _destroy() {
    if (this.#destroyed) return
    this.#destroyed = true
    this.emit('destroyed', makeEvent())
  }
  _describe() {
    return {
      id: this.id,
      windowId: this.window?.id ?? null,
      url: this.url,
      destroyed: this.#destroyed,
      webPreferences: describe(this.webPreferences),
      sent: describe(this.sent),
      loads: this.loads,
      windowOpenHandler: this.windowOpenHandler !== null,
      listeners: Object.fromEntries(this.eventNames().map((n) => [n, this.listenerCount(n)]))
    }
  }
}

let nextWindowId = 1
const openWindows = []
const everyWindow = []
/** The focused window (a holder, so a window can put itself here). */
const focus = { window: null }

class BrowserWindow extends EventEmitter {
  #destroyed = false
  #shown = false
  #maximized = false
  #minimized = false
  #bounds
  #normalBounds
  #readyToShowSent = false

  constructor(options = {}) {
    super()
    if (!app.isReady()) throw new Error('Cannot create BrowserWindow before app is ready')
    record('new BrowserWindow', [options])
    this.id = nextWindowId++
    this.options = options
    const area = screen.getPrimaryDisplay().workArea
    const width = options.width ?? 800
    const height = options.height ?? 600
    const x = options.x ?? Math.round(area.x + (area.width - width) / 2)
    const y = options.y ?? Math.round(area.y + (area.height - height) / 2)
    this.#bounds = { x, y, width, height }
    this.#normalBounds = { ...this.#bounds }
    this.webContents = new WebContents({ window: this, webPreferences: options.webPreferences })
    openWindows.push(this)
    everyWindow.push(this)
    // Electron emits these while the constructor runs, so a web-contents-created listener sees the
    // webContents before anything can load in it.
    app.emit('web-contents-created', makeEvent(), this.webContents)
    app.emit('browser-window-created', makeEvent(), this)
    if (options.show !== false) this.show()
  }

  static getAllWindows() {
    return [...openWindows]
  }
  static getFocusedWindow() {
    return focus.window && !focus.window.isDestroyed() ? focus.window : null
  }
  static fromWebContents(contents) {
    return openWindows.find((w) => w.webContents === contents) ?? null
  }
  static fromId(id) {
    return openWindows.find((w) => w.id === id) ?? null
  }

  #alive(what) {
    if (this.#destroyed) throw new Error(`Object has been destroyed (BrowserWindow.${what})`)
  }
  _loaded() {
    if (this.#readyToShowSent || this.#destroyed) return
    this.#readyToShowSent = true
    this.emit('ready-to-show', makeEvent())
  }
  loadURL(url, options) {
    this.#alive('loadURL')
    return this.webContents.loadURL(url, options)
  }
  loadFile(file, options) {
    this.#alive('loadFile')
    return this.webContents.loadFile(file, options)
  }
  show() {
    this.#alive('show')
    record('BrowserWindow.show', [this])
    const wasShown = this.#shown
    this.#shown = true
    this.#minimized = false
    if (!wasShown) this.emit('show', makeEvent())
    this.focus()
  }
  hide() {
    this.#alive('hide')
    record('BrowserWindow.hide', [this])
    this.#shown = false
    this.emit('hide', makeEvent())
    if (focus.window === this) this.blur()
  }
  isVisible() {
    this.#alive('isVisible')
    return this.#shown && !this.#minimized
  }
  focus() {
    this.#alive('focus')
    record('BrowserWindow.focus', [this])
    if (focus.window === this) return
    focus.window?.emit('blur', makeEvent())
    focus.window = this
    this.emit('focus', makeEvent())
    app.emit('browser-window-focus', makeEvent(), this)
  }
  blur() {
    this.#alive('blur')
    record('BrowserWindow.blur', [this])
    if (focus.window !== this) return
    focus.window = null
    this.emit('blur', makeEvent())
  }
  isFocused() {
    return focus.window === this
  }
  getBounds() {
    this.#alive('getBounds')
    return { ...this.#bounds }
  }
  getNormalBounds() {
    this.#alive('getNormalBounds')
    return { ...this.#normalBounds }
  }
  setBounds(bounds) {
    this.#alive('setBounds')
    record('BrowserWindow.setBounds', [this, bounds])
    const next = { ...this.#bounds, ...bounds }
    const moved = next.x !== this.#bounds.x || next.y !== this.#bounds.y
    const resized = next.width !== this.#bounds.width || next.height !== this.#bounds.height
    this.#bounds = next
    if (!this.#maximized) this.#normalBounds = { ...next }
    if (moved) this.emit('move', makeEvent())
    if (resized) this.emit('resize', makeEvent())
    if (moved) this.emit('moved', makeEvent())
    if (resized) this.emit('resized', makeEvent())
  }
  maximize() {
    this.#alive('maximize')
    record('BrowserWindow.maximize', [this])
    if (!this.#shown) this.#shown = true // Electron shows a hidden window it maximizes
    if (this.#maximized) return
    this.#maximized = true
    const display = screen.getDisplayMatching(this.#bounds)
    this.#bounds = { ...display.workArea }
    this.emit('maximize', makeEvent())
    this.emit('resize', makeEvent())
  }
  unmaximize() {
    this.#alive('unmaximize')
    record('BrowserWindow.unmaximize', [this])
    if (!this.#maximized) return
    this.#maximized = false
    this.#bounds = { ...this.#normalBounds }
    this.emit('unmaximize', makeEvent())
    this.emit('resize', makeEvent())
  }
  isMaximized() {
    this.#alive('isMaximized')
    return this.#maximized
  }
  minimize() {
    this.#alive('minimize')
    record('BrowserWindow.minimize', [this])
    this.#minimized = true
    this.emit('minimize', makeEvent())
    if (focus.window === this) this.blur()
  }
  isMinimized() {
    this.#alive('isMinimized')
    return this.#minimized
  }
  restore() {
    this.#alive('restore')
    record('BrowserWindow.restore', [this])
    if (!this.#minimized) return
    this.#minimized = false
    this.emit('restore', makeEvent())
  }
  isFullScreen() {
    return false
  }
  setMenuBarVisibility(visible) {
    record('BrowserWindow.setMenuBarVisibility', [this, visible])
  }
  setTitle(title) {
    record('BrowserWindow.setTitle', [this, title])
  }
  close() {
    this.#alive('close')
    record('BrowserWindow.close', [this])
    this._close({ quitting: false })
  }
  destroy() {
    record('BrowserWindow.destroy', [this])
    this._destroy({ quitting: false })
  }
  isDestroyed() {
    return this.#destroyed
  }
  /** 'close' may be prevented; returns whether the window is gone. */
  _close({ quitting }) {
    if (this.#destroyed) return true
    const event = makeEvent()
    this.emit('close', event)
    if (event.defaultPrevented) return false
    this._destroy({ quitting })
    return true
  }
  _destroy({ quitting }) {
    if (this.#destroyed) return
    this.#destroyed = true
    openWindows.splice(openWindows.indexOf(this), 1)
    if (focus.window === this) focus.window = null
    this.webContents._destroy()
    this.emit('closed')
    // Not while quitting (Electron's rule); with no listener Electron quits by itself.
    if (!quitting && !app._isQuitting() && openWindows.length === 0) {
      if (app.listenerCount('window-all-closed') > 0) app.emit('window-all-closed')
      else app.quit()
    }
  }
  _describe() {
    const alive = !this.#destroyed
    return {
      id: this.id,
      contentsId: this.webContents.id,
      options: describe(this.options),
      destroyed: this.#destroyed,
      shown: this.#shown,
      focused: focus.window === this,
      maximized: this.#maximized,
      minimized: this.#minimized,
      bounds: { ...this.#bounds },
      normalBounds: { ...this.#normalBounds },
      url: alive ? this.webContents.url : null,
      listeners: Object.fromEntries(this.eventNames().map((n) => [n, this.listenerCount(n)]))
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// ipcMain

class IpcMain extends EventEmitter {
  handlers = new Map()
  handle(channel, listener) {
    record('ipcMain.handle', [channel, listener])
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`)
    this.handlers.set(channel, listener)
  }
  handleOnce(channel, listener) {
    record('ipcMain.handleOnce', [channel, listener])
    this.handle(channel, async (...args) => {
      this.handlers.delete(channel)
      return listener(...args)
    })
  }
  removeHandler(channel) {
    record('ipcMain.removeHandler', [channel])
    this.handlers.delete(channel)
  }
}
const ipcMain = new IpcMain()

// ---------------------------------------------------------------------------------------------------------
// session

class WebRequest {
  listeners = {}
  #set(name, filterOrListener, maybeListener) {
    const listener = typeof filterOrListener === 'function' ? filterOrListener : maybeListener
    const filter = typeof filterOrListener === 'function' ? null : filterOrListener
    record(`session.webRequest.${name}`, [filter, listener])
    this.listeners[name] = listener ? { filter, listener } : undefined
  }
  onBeforeRequest(f, l) {
    this.#set('onBeforeRequest', f, l)
  }
  onBeforeSendHeaders(f, l) {
    this.#set('onBeforeSendHeaders', f, l)
  }
  onHeadersReceived(f, l) {
    this.#set('onHeadersReceived', f, l)
  }
}

class Session extends EventEmitter {
  constructor(partition) {
    super()
    this.partition = partition
    this.webRequest = new WebRequest()
    this.permissionRequestHandler = null
    this.permissionCheckHandler = null
    this.devicePermissionHandler = null
    this.displayMediaRequestHandler = null
  }
  setPermissionRequestHandler(handler) {
    record('session.setPermissionRequestHandler', [this, handler])
    this.permissionRequestHandler = handler
  }
  setPermissionCheckHandler(handler) {
    record('session.setPermissionCheckHandler', [this, handler])
    this.permissionCheckHandler = handler
  }
  setDevicePermissionHandler(handler) {
    record('session.setDevicePermissionHandler', [this, handler])
    this.devicePermissionHandler = handler
  }
  setDisplayMediaRequestHandler(handler) {
    record('session.setDisplayMediaRequestHandler', [this, handler])
    this.displayMediaRequestHandler = handler
  }
  setSpellCheckerEnabled(enabled) {
    record('session.setSpellCheckerEnabled', [this, enabled])
  }
  _describe() {
    return {
      partition: this.partition,
      permissionRequestHandler: this.permissionRequestHandler !== null,
      permissionCheckHandler: this.permissionCheckHandler !== null,
      webRequest: Object.keys(this.webRequest.listeners).filter((k) => this.webRequest.listeners[k])
    }
  }
}
const sessions = new Map()
function sessionFor(partition) {
  if (!app.isReady()) throw new Error('Session can only be received when app is ready')
  if (!sessions.has(partition)) sessions.set(partition, new Session(partition))
  return sessions.get(partition)
}
const session = {
  get defaultSession() {
    return sessionFor('')
  },
  fromPartition(partition) {
    record('session.fromPartition', [partition])
    return sessionFor(partition)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Menu

const ROLE_LABELS = {
  appMenu: config.name, fileMenu: 'File', editMenu: 'Edit', viewMenu: 'View', windowMenu: 'Window', help: 'Help',
  quit: 'Quit', close: 'Close Window', about: 'About', undo: 'Undo', redo: 'Redo', cut: 'Cut', copy: 'Copy',
  paste: 'Paste', selectAll: 'Select All', reload: 'Reload', toggleDevTools: 'Toggle Developer Tools',
  resetZoom: 'Actual Size', zoomIn: 'Zoom In', zoomOut: 'Zoom Out', togglefullscreen: 'Toggle Full Screen',
  minimize: 'Minimize'
}

class MenuItem {
  constructor(options) {
    if (typeof options !== 'object' || options === null) throw new TypeError('Invalid template for MenuItem')
    if (!options.label && !options.role && !options.type && !options.submenu) {
      throw new TypeError('Invalid template for MenuItem: must have at least one of label, role or type')
    }
    this.role = options.role ?? null
    this.type = options.type ?? (options.submenu ? 'submenu' : 'normal')
    this.label = options.label ?? ROLE_LABELS[this.role] ?? ''
    this.accelerator = options.accelerator ?? null
    this.enabled = options.enabled ?? true
    this.visible = options.visible ?? true
    this.id = options.id ?? null
    this.clickHandler = typeof options.click === 'function' ? options.click : null
    this.submenu = options.submenu ? (options.submenu instanceof Menu ? options.submenu : Menu.buildFromTemplate(options.submenu)) : null
  }
}

let applicationMenu = null
class Menu {
  constructor() {
    this.items = []
  }
  static buildFromTemplate(template) {
    if (!Array.isArray(template)) throw new TypeError('Invalid template for Menu: Menu template must be an array')
    const menu = new Menu()
    menu.items = template.map((t) => new MenuItem(t))
    return menu
  }
  static setApplicationMenu(menu) {
    record('Menu.setApplicationMenu', [menu])
    applicationMenu = menu
  }
  static getApplicationMenu() {
    return applicationMenu
  }
}

function describeMenu(menu) {
  return menu.items.map((i) => ({
    label: i.label,
    role: i.role,
    type: i.type,
    accelerator: i.accelerator,
    enabled: i.enabled,
    visible: i.visible,
    click: i.clickHandler !== null,
    ...(i.submenu ? { submenu: describeMenu(i.submenu) } : {})
  }))
}

/** What a click (or its accelerator) does: the template's click(menuItem, focusedWindow, event), or the role. */
function activateMenuItem(item, viaAccelerator) {
  const win = BrowserWindow.getFocusedWindow() ?? undefined
  record('menu.activate', [item.label, item.accelerator, item.role])
  if (!item.enabled || !item.visible) throw new Error(`menu item ${item.label} is not enabled and visible`)
  if (item.clickHandler) return item.clickHandler(item, win, { triggeredByAccelerator: viaAccelerator })
  if (item.role === 'quit') return app.quit()
  if (item.role === 'close') return win?.close()
  if (item.role === 'reload') return win?.webContents.reload()
  if (item.role === 'toggleDevTools') return win?.webContents.openDevTools()
  if (item.role === 'about') return app.showAboutPanel()
}

function findMenuItem(menu, match) {
  for (const item of menu?.items ?? []) {
    if (match(item)) return item
    const inner = findMenuItem(item.submenu, match)
    if (inner) return inner
  }
  return null
}

// ---------------------------------------------------------------------------------------------------------
// dialog, shell, protocol

const dialogAnswers = { open: [], save: [], messageBox: [] }
const dialogsShown = []

function dialogArgs(a, b) {
  return a instanceof BrowserWindow ? { parent: a, options: b ?? {} } : { parent: null, options: a ?? {} }
}
function showDialog(kind, a, b, fallback) {
  const { parent, options } = dialogArgs(a, b)
  if (parent?.isDestroyed()) throw new Error('Object has been destroyed')
  record(`dialog.${kind}`, [parent, options])
  const answer = dialogAnswers[kind === 'showOpenDialog' ? 'open' : kind === 'showSaveDialog' ? 'save' : 'messageBox'].shift() ?? fallback
  dialogsShown.push({ kind, parent: parent?.id ?? null, options: describe(options), answer })
  return answer
}
const dialog = {
  showOpenDialog: async (a, b) => showDialog('showOpenDialog', a, b, { canceled: true, filePaths: [] }),
  showSaveDialog: async (a, b) => showDialog('showSaveDialog', a, b, { canceled: true, filePath: '' }),
  showMessageBox: async (a, b) => showDialog('showMessageBox', a, b, { response: 0, checkboxChecked: false }),
  showOpenDialogSync: (a, b) => {
    const r = showDialog('showOpenDialog', a, b, { canceled: true, filePaths: [] })
    return r.canceled ? undefined : r.filePaths
  },
  showSaveDialogSync: (a, b) => {
    const r = showDialog('showSaveDialog', a, b, { canceled: true, filePath: '' })
    return r.canceled ? '' : r.filePath
  },
  showErrorBox: (title, content) => record('dialog.showErrorBox', [title, content])
}

const openedExternally = []
const shell = {
  openExternal: async (url, options) => {
    record('shell.openExternal', [url, options])
    openedExternally.push(url)
  },
  openPath: async (p) => {
    record('shell.openPath', [p])
    return ''
  },
  showItemInFolder: (p) => record('shell.showItemInFolder', [p]),
  trashItem: async (p) => record('shell.trashItem', [p]),
  beep: () => record('shell.beep')
}

const protocolHandlers = new Map()
const protocol = {
  registerSchemesAsPrivileged(schemes) {
    record('protocol.registerSchemesAsPrivileged', [schemes])
    if (app.isReady()) throw new Error('protocol.registerSchemesAsPrivileged should be called before app is ready')
  },
  handle(scheme, handler) {
    record('protocol.handle', [scheme, handler])
    if (protocolHandlers.has(scheme)) throw new Error(`Failed to register protocol: ${scheme}`)
    protocolHandlers.set(scheme, handler)
  },
  unhandle(scheme) {
    record('protocol.unhandle', [scheme])
    protocolHandlers.delete(scheme)
  },
  isProtocolHandled(scheme) {
    return protocolHandlers.has(scheme)
  }
}

// ---------------------------------------------------------------------------------------------------------
// The test's side: a snapshot of everything, and the operations that fire events

function snapshot() {
  return {
    ready: app.isReady(),
    isPackaged: config.isPackaged,
    paths: config.paths,
    calls,
    handlers: [...ipcMain.handlers.keys()],
    ipcListeners: ipcMain.eventNames().map(String),
    appListeners: Object.fromEntries(app.eventNames().map((n) => [String(n), app.listenerCount(n)])),
    windows: everyWindow.map((w) => w._describe()),
    contents: [...allContents.values()].map((c) => c._describe()),
    focusedWindow: BrowserWindow.getFocusedWindow()?.id ?? null,
    menu: applicationMenu ? describeMenu(applicationMenu) : null,
    sessions: [...sessions.values()].map((s) => s._describe()),
    sandboxEnabled,
    aboutPanel: describe(aboutPanel),
    singleInstanceLock: { ...lock },
    secondInstances,
    dialogs: dialogsShown,
    openedExternally,
    protocols: [...protocolHandlers.keys()],
    themeSource: nativeTheme.themeSource
  }
}

function contentsById(id) {
  const contents = allContents.get(id)
  if (!contents) throw new Error(`no webContents ${id}`)
  return contents
}
function windowById(id) {
  const win = everyWindow.find((w) => w.id === id)
  if (!win) throw new Error(`no window ${id}`)
  return win
}

const ops = {
  ping: () => 'pong',
  records: () => snapshot(),

  /** Fires an app event: 'ready' (also resolves whenReady), 'activate', 'second-instance', or any other. */
  'emit-app': ({ event, args = [] }) => {
    if (event === 'ready') return app._becomeReady()
    const e = makeEvent()
    record(`event app ${event}`, args)
    app.emit(event, e, ...args)
    return { defaultPrevented: e.defaultPrevented }
  },

  /**
   * An ipcRenderer.invoke arriving from `contentsId`: from its main frame, from a new subframe
   * (frame: 'sub', at `url` or the page's URL), or with no frame (frame: 'none': the frame navigated away
   * or was destroyed before the message arrived, where Electron passes senderFrame null).
   */
  invoke: async ({ channel, args = [], contentsId, frame = 'main', url }) => {
    const contents = contentsById(contentsId)
    const senderFrame = frame === 'none' ? null : frame === 'sub' ? contents.mainFrame.addChild(url ?? contents.url) : contents.mainFrame
    const handler = ipcMain.handlers.get(channel)
    record('ipcRenderer.invoke', [contents, senderFrame, channel, ...args])
    if (!handler) throw new Error(`Error invoking remote method '${channel}': Error: No handler registered for '${channel}'`)
    const event = { type: 'frame', sender: contents, senderFrame, frameId: senderFrame?.routingId ?? -1, processId: contents.id + 1000 }
    return await handler(event, ...args)
  },

  /** Moves a frame to another URL without any navigation event (what the shell's guards never see). */
  'set-frame-url': ({ contentsId, url }) => {
    const contents = contentsById(contentsId)
    contents.url = url
    contents.mainFrame.url = url
  },

  /** A navigation request: 'will-navigate' (default), 'will-redirect' or 'will-frame-navigate'. */
  navigate: ({ contentsId, url, event = 'will-navigate' }) => {
    const contents = contentsById(contentsId)
    const e = makeEvent({ url, isMainFrame: true, frame: contents.mainFrame, initiator: contents.mainFrame, isSameDocument: false })
    record(`event webContents ${event}`, [contents, url])
    contents.emit(event, e, url, false, true)
    // Not prevented: the page goes there, as it would in Electron.
    if (!e.defaultPrevented) contents._show(url)
    return { prevented: e.defaultPrevented, url: contents.url }
  },

  /** A <webview> about to be attached. */
  'attach-webview': ({ contentsId, src }) => {
    const contents = contentsById(contentsId)
    const e = makeEvent()
    const webPreferences = { preload: '/tmp/evil.js', nodeIntegration: true }
    contents.emit('will-attach-webview', e, webPreferences, { src })
    return { prevented: e.defaultPrevented, webPreferences }
  },

  /** window.open(url) or a target=_blank link; without a handler Electron opens a new window. */
  'window-open': ({ contentsId, url, frameName = '', features = '', disposition = 'new-window' }) => {
    const contents = contentsById(contentsId)
    const details = { url, frameName, features, disposition, referrer: { url: contents.url, policy: 'strict-origin-when-cross-origin' }, postBody: undefined }
    record('event webContents window-open', [contents, details])
    const result = contents.windowOpenHandler ? contents.windowOpenHandler(details) : { action: 'allow' }
    let createdWindowId = null
    if (result?.action === 'allow') {
      const win = new BrowserWindow({ ...(result.overrideBrowserWindowOptions ?? {}) })
      void win.loadURL(url)
      createdWindowId = win.id
    }
    return { result: describe(result), createdWindowId }
  },

  /** A permission request from a page; without a handler Electron grants it. */
  permission: async ({ contentsId, permission, details = {} }) => {
    const contents = contentsById(contentsId)
    const ses = session.defaultSession
    record('event session permission-request', [contents, permission, details])
    if (!ses.permissionRequestHandler) return { granted: true, handler: false }
    const granted = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the permission handler never answered for ${permission}`)), 5000)
      ses.permissionRequestHandler(contents, permission, (answer) => {
        clearTimeout(timer)
        resolve(answer)
      }, { requestingUrl: contents.url, isMainFrame: true, ...details })
    })
    return { granted, handler: true }
  },

  /** A permission check (navigator.permissions.query and friends); without a handler: granted. */
  'permission-check': ({ contentsId, permission, origin, details = {} }) => {
    const contents = contentsById(contentsId)
    const ses = session.defaultSession
    record('event session permission-check', [contents, permission, origin])
    if (!ses.permissionCheckHandler) return { granted: true, handler: false }
    return { granted: ses.permissionCheckHandler(contents, permission, origin ?? contents.mainFrame.origin, { requestingUrl: contents.url, isMainFrame: true, ...details }), handler: true }
  },

  /** A response arriving for `url`: the headers after the session's onHeadersReceived listener. */
  headers: async ({ url, responseHeaders = {}, resourceType = 'mainFrame' }) => {
    const entry = session.defaultSession.webRequest.listeners.onHeadersReceived
    if (!entry) return { responseHeaders, listener: false }
    const response = await new Promise((resolve) =>
      entry.listener({ id: 1, url, method: 'GET', resourceType, statusCode: 200, statusLine: 'HTTP/1.1 200 OK', responseHeaders }, resolve)
    )
    return { responseHeaders: response?.responseHeaders ?? responseHeaders, cancel: response?.cancel ?? false, listener: true }
  },

  /** Activates an application-menu item by its accelerator (as the key press would) or by its label path. */
  'menu-click': ({ accelerator, labels }) => {
    const item = accelerator
      ? findMenuItem(applicationMenu, (i) => i.accelerator === accelerator)
      : labels.reduce((menu, label, n) => {
          const found = menu?.items.find((i) => i.label.replace('&', '') === label)
          return n === labels.length - 1 ? found : found?.submenu
        }, applicationMenu)
    if (!item) throw new Error(`no menu item ${accelerator ?? labels.join(' > ')}`)
    activateMenuItem(item, !!accelerator)
  },

  /** What the person does to a window: setBounds, maximize, unmaximize, minimize, restore, focus, blur, close. */
  window: ({ windowId, action, bounds }) => {
    const win = windowById(windowId)
    if (action === 'setBounds') win.setBounds(bounds)
    else if (['maximize', 'unmaximize', 'minimize', 'restore', 'focus', 'blur', 'close'].includes(action)) win[action]()
    else throw new Error(`unknown window action ${action}`)
  },

  /** A window the app did not create (another module's, or one a page opened), showing `url`. */
  'foreign-window': ({ url }) => {
    const win = new BrowserWindow({ show: true, webPreferences: {} })
    void win.loadURL(url)
    return { windowId: win.id, contentsId: win.webContents.id }
  },

  /** Queues what the next dialogs answer: { open: [{canceled, filePaths}], save: [{canceled, filePath}] }. */
  'dialog-answers': ({ open = [], save = [], messageBox = [] }) => {
    dialogAnswers.open.push(...open)
    dialogAnswers.save.push(...save)
    dialogAnswers.messageBox.push(...messageBox)
  },

  quit: () => app.quit()
}

/** Sends to the test when there is one listening. */
function notify(message) {
  if (!process.send || !process.connected) return
  try {
    process.send(message)
  } catch (e) {
    process.send({ type: 'notify-failed', error: String(e) })
  }
}

/** The app is exiting: hand the test the final records, then go. */
function finish(code) {
  if (!process.send || !process.connected) process.exit(code)
  const fallback = setTimeout(() => process.exit(code), 2000)
  fallback.unref()
  process.send({ type: 'exit', code, records: snapshot() }, () => process.exit(code))
}

if (process.send) {
  process.on('message', async (message) => {
    if (!message || typeof message !== 'object' || typeof message.op !== 'string') return
    const { id, op, ...params } = message
    let reply
    try {
      const fn = ops[op]
      if (!fn) throw new Error(`unknown op ${op}`)
      const value = await fn(params)
      // Let what the op set off run (a whenReady continuation, a ready-to-show) before answering.
      await tick()
      await tick()
      reply = { type: 'reply', id, ok: true, value: value ?? null }
    } catch (e) {
      reply = { type: 'reply', id, ok: false, error: e instanceof Error ? e.message : String(e) }
    }
    try {
      process.send(reply)
    } catch (e) {
      // Electron refuses to pass what structured clone cannot copy; so does this channel.
      process.send({ type: 'reply', id, ok: false, error: `An object could not be cloned: ${e instanceof Error ? e.message : e}` })
    }
  })
  // The test went away: do not linger with an open database.
  process.on('disconnect', () => process.exit(1))
}

// ---------------------------------------------------------------------------------------------------------

/** Desktop notifications: recorded (title, body) when shown; a headless machine has no notification server. */
class Notification extends EventEmitter {
  static isSupported() {
    return true
  }
  constructor(options = {}) {
    super()
    this.options = options
  }
  show() {
    record('Notification.show', [{ title: this.options.title, body: this.options.body }])
  }
}

const electron = { app, BrowserWindow, ipcMain, session, Menu, MenuItem, dialog, shell, protocol, screen, nativeTheme, Notification }
export { app, BrowserWindow, ipcMain, session, Menu, MenuItem, dialog, shell, protocol, screen, nativeTheme, Notification }
export default electron

/**
 * The test's handle on the built main bundle (out/main/index.js) running against the stand-in Electron
 * (main.mjs, which explains how `electron` is redirected). Each start is a child Node process, so every
 * test gets a fresh app: module state, the single-instance lock and the database are the process's own.
 * The child's console output is kept for assertions and for the message when it dies.
 */
import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Envelope } from '../../../src/shared/contract'

const here = path.dirname(fileURLToPath(import.meta.url))
export const root = path.resolve(here, '../../..')
export const MAIN_BUNDLE = path.join(root, 'out/main/index.js')
export const RENDERER_INDEX = path.join(root, 'out/renderer/index.html')
/** The URL the app's own page has when loaded from the build. */
export const APP_URL = pathToFileURL(RENDERER_INDEX).href
const REGISTER = pathToFileURL(path.join(here, 'register.mjs')).href

export interface Rect {
  x: number
  y: number
  width: number
  height: number
}
export interface Display {
  id: number
  bounds: Rect
  workArea: Rect
  scaleFactor?: number
}

/** What the stand-in reads from ELECTRON_STAND_IN (see main.mjs). */
export interface StandInConfig {
  userData: string
  downloads?: string
  home?: string
  isPackaged?: boolean
  name?: string
  version?: string
  displays?: Display[]
  singleInstanceDir?: string
}

export interface StartOptions extends StandInConfig {
  /** Extra command-line arguments after out/main/index.js. */
  args?: string[]
  /** Environment overrides; undefined removes a variable. NETKEEPER_DATA_DIR/DATABASE_URL are cleared unless given. */
  env?: Record<string, string | undefined>
}

export interface RecordedCall {
  seq: number
  api: string
  args: unknown[]
}
export interface WindowRecord {
  id: number
  contentsId: number
  options: Record<string, unknown> & { webPreferences?: Record<string, unknown> }
  destroyed: boolean
  shown: boolean
  focused: boolean
  maximized: boolean
  minimized: boolean
  bounds: Rect
  normalBounds: Rect
  url: string | null
  listeners: Record<string, number>
}
export interface ContentsRecord {
  id: number
  windowId: number | null
  url: string
  destroyed: boolean
  webPreferences: Record<string, unknown>
  sent: unknown[][]
  loads: Array<{ url?: string; file?: string; error?: string }>
  windowOpenHandler: boolean
  listeners: Record<string, number>
}
export interface MenuItemRecord {
  label: string
  role: string | null
  type: string
  accelerator: string | null
  enabled: boolean
  visible: boolean
  click: boolean
  submenu?: MenuItemRecord[]
}
export interface Records {
  ready: boolean
  isPackaged: boolean
  paths: Record<string, string>
  calls: RecordedCall[]
  handlers: string[]
  ipcListeners: string[]
  appListeners: Record<string, number>
  windows: WindowRecord[]
  contents: ContentsRecord[]
  focusedWindow: number | null
  menu: MenuItemRecord[] | null
  sessions: Array<{ partition: string; permissionRequestHandler: boolean; permissionCheckHandler: boolean; webRequest: string[] }>
  sandboxEnabled: boolean
  aboutPanel: unknown
  singleInstanceLock: { requested: boolean; held: boolean; handedOver: { to: number; argv: string[] } | null }
  secondInstances: Array<{ argv: string[]; workingDirectory: string; additionalData: unknown; listeners: number }>
  dialogs: Array<{ kind: string; parent: number | null; options: Record<string, unknown>; answer: unknown }>
  openedExternally: string[]
  protocols: string[]
  themeSource: string
}

/** Who sends an IPC invocation: a webContents, from its main frame, a new subframe, or no frame at all. */
export interface Sender {
  contentsId: number
  frame?: 'main' | 'sub' | 'none'
  /** For frame 'sub': the subframe's URL (default: the page's). */
  url?: string
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  /** The stand-in's records at app.exit(); absent when the process died some other way. */
  records?: Records
}

type Reply = { type: 'reply'; id: number; ok: true; value: unknown } | { type: 'reply'; id: number; ok: false; error: string }
type Sent = { type: 'send'; contentsId: number; channel: string; args: unknown[] }

export class BuiltApp {
  readonly output: string[] = []
  readonly exited: Promise<Exit>
  private exit?: Exit
  private nextId = 1
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  private readonly sendListeners = new Set<(s: Sent) => void>()

  constructor(private readonly child: ChildProcess) {
    let finalRecords: Records | undefined
    child.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()))
    child.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()))
    child.on('message', (m: Reply | Sent | { type: 'exit'; records: Records }) => {
      if (m.type === 'reply') {
        const p = this.pending.get(m.id)
        this.pending.delete(m.id)
        if (m.ok) p?.resolve(m.value)
        else p?.reject(new Error(m.error))
      } else if (m.type === 'send') {
        for (const l of this.sendListeners) l(m)
      } else if (m.type === 'exit') {
        finalRecords = m.records
      }
    })
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { code, signal, records: finalRecords }
        for (const p of this.pending.values()) p.reject(new Error(`the app exited (${code ?? signal}) before answering:\n${this.log()}`))
        this.pending.clear()
        resolve(this.exit)
      })
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /** Everything the app printed so far. */
  log(): string {
    return this.output.join('')
  }

  request<T = unknown>(op: string, params: Record<string, unknown> = {}): Promise<T> {
    if (this.exit) return Promise.reject(new Error(`the app has exited (${this.exit.code ?? this.exit.signal}):\n${this.log()}`))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.child.send({ id, op, ...params })
    })
  }

  records(): Promise<Records> {
    return this.request<Records>('records')
  }

  /** Fires `ready` and waits until the app's first window is shown. */
  async ready(): Promise<WindowRecord> {
    await this.request('emit-app', { event: 'ready' })
    const end = Date.now() + 30_000
    for (;;) {
      const win = (await this.records()).windows.find((w) => w.shown && !w.destroyed)
      if (win) return win
      if (Date.now() > end) throw new Error(`no window was shown after ready:\n${this.log()}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  emitApp(event: string, ...args: unknown[]): Promise<{ defaultPrevented: boolean } | null> {
    return this.request('emit-app', { event, args })
  }

  /** ipcRenderer.invoke(channel, args) from `from`; resolves with what the handler returned. */
  invoke<T = unknown>(from: Sender, channel: string, args: unknown = {}): Promise<Envelope<T>> {
    return this.request<Envelope<T>>('invoke', { ...from, channel, args: [args] })
  }

  /** Like invoke, but unwraps the envelope and fails on an error reply. */
  async call<T = unknown>(from: Sender, channel: string, args: unknown = {}): Promise<T> {
    const r = await this.invoke<T>(from, channel, args)
    if (!r.ok) throw new Error(`${channel}: ${r.error.code} ${r.error.message}`)
    return r.value
  }

  navigate(contentsId: number, url: string, event: 'will-navigate' | 'will-redirect' | 'will-frame-navigate' = 'will-navigate'): Promise<{ prevented: boolean; url: string }> {
    return this.request('navigate', { contentsId, url, event })
  }

  windowOpen(contentsId: number, url: string): Promise<{ result: { action: string }; createdWindowId: number | null }> {
    return this.request('window-open', { contentsId, url })
  }

  onSend(listener: (s: Sent) => void): () => void {
    this.sendListeners.add(listener)
    return () => this.sendListeners.delete(listener)
  }

  /** Asks the app to quit (as the File menu's Quit would) and waits for the process to end. */
  async quit(ms = 60_000): Promise<Exit> {
    await this.request('quit').catch(() => undefined)
    return this.waitForExit(ms)
  }

  async waitForExit(ms = 60_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the app did not exit within ${ms} ms:\n${this.log()}`)), ms)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Last resort for afterAll: ends the process if it is still running. */
  async kill(): Promise<void> {
    if (this.exit) return
    this.child.kill('SIGKILL')
    await this.exited
  }
}

/** Starts out/main/index.js in a child Node process whose `electron` is the stand-in. */
export async function startBuiltApp(opts: StartOptions): Promise<BuiltApp> {
  const { args = [], env: overrides = {}, ...standIn } = opts
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
  // A clean slate: the data folder is Electron's userData unless a test says otherwise; no flags for Node
  // from the test runner; never run as plain Node through Electron's variable.
  for (const k of ['NETKEEPER_DATA_DIR', 'NETKEEPER_DATABASE_URL', 'ELECTRON_RUN_AS_NODE', 'ELECTRON_RENDERER_URL', 'NODE_OPTIONS']) delete env[k]
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  env.ELECTRON_STAND_IN = JSON.stringify(standIn)
  const child = fork(MAIN_BUNDLE, args, {
    cwd: root,
    env,
    execArgv: ['--import', REGISTER],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // Structured clone, like Electron's IPC: what it cannot copy fails here too.
    serialization: 'advanced'
  })
  const app = new BuiltApp(child)
  // Answered once the whole bundle has been evaluated (main() has run): a broken import fails here. An app
  // that quits at once (a second instance) may exit before answering; that is fine when it exits with 0.
  try {
    await app.request('ping')
  } catch (e) {
    const exit = await app.exited
    if (exit.code !== 0) throw e
  }
  return app
}

/**
 * The sandboxed renderer's side of the STAND-IN Electron (main.mjs is the main process's side): what a
 * preload gets from `require('electron')` (contextBridge, ipcRenderer), recording every call, and a loader
 * that runs a built preload bundle roughly as a sandboxed renderer does: in a V8 context of its own
 * (node:vm) whose only module is `electron`, with the web globals a page has and no Node. A preload that
 * needs anything else (a node_modules package it forgot to bundle, `fs`, an ES module) fails to load here
 * as it would in the app.
 *
 * Not modelled: the context bridge's copying of values between worlds. The test sees the very object the
 * preload handed to exposeInMainWorld, which is what it needs to check that object.
 */
import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import vm from 'node:vm'

export interface RendererCall {
  api: string
  args: unknown[]
}

export interface RendererElectronOptions {
  /** Where ipcRenderer.invoke goes (main's handler); default: an empty success. */
  invoke?: (channel: string, ...args: unknown[]) => Promise<unknown>
}

/** The event object ipcRenderer listeners get first: it carries `sender`, the ipcRenderer itself. */
export interface IpcRendererEvent {
  sender: unknown
  senderId: number
  ports: unknown[]
}

export function createRendererElectron(opts: RendererElectronOptions = {}) {
  const calls: RendererCall[] = []
  const exposed: Array<{ world: 'main' | number; key: string; api: unknown }> = []

  class IpcRenderer extends EventEmitter {
    invoke(channel: string, ...args: unknown[]): Promise<unknown> {
      calls.push({ api: 'ipcRenderer.invoke', args: [channel, ...args] })
      return opts.invoke ? opts.invoke(channel, ...args) : Promise.resolve({ ok: true, value: null })
    }
    send(channel: string, ...args: unknown[]): void {
      calls.push({ api: 'ipcRenderer.send', args: [channel, ...args] })
    }
    sendSync(channel: string, ...args: unknown[]): unknown {
      calls.push({ api: 'ipcRenderer.sendSync', args: [channel, ...args] })
      return undefined
    }
    postMessage(channel: string, ...args: unknown[]): void {
      calls.push({ api: 'ipcRenderer.postMessage', args: [channel, ...args] })
    }
  }
  const ipcRenderer = new IpcRenderer()

  const expose = (world: 'main' | number, key: string, api: unknown): void => {
    calls.push({ api: world === 'main' ? 'contextBridge.exposeInMainWorld' : 'contextBridge.exposeInIsolatedWorld', args: [key, api] })
    if (exposed.some((e) => e.world === world && e.key === key)) {
      throw new Error('Cannot bind an API on top of an existing property on the window object')
    }
    exposed.push({ world, key, api })
  }
  const contextBridge = {
    exposeInMainWorld: (key: string, api: unknown) => expose('main', key, api),
    exposeInIsolatedWorld: (worldId: number, key: string, api: unknown) => expose(worldId, key, api)
  }

  return {
    electron: { contextBridge, ipcRenderer },
    ipcRenderer,
    calls,
    exposed,
    /** What main's webContents.send(channel, ...args) does in this renderer. */
    deliver(channel: string, ...args: unknown[]): IpcRendererEvent {
      const event: IpcRendererEvent = { sender: ipcRenderer, senderId: 0, ports: [] }
      ipcRenderer.emit(channel, event, ...args)
      return event
    }
  }
}

export type RendererElectron = ReturnType<typeof createRendererElectron>

export interface LoadedPreload {
  /** Every module the preload asked require() for, in order. */
  required: string[]
  context: vm.Context
}

/** Runs a CommonJS preload bundle in a fresh context whose require() knows only `electron`. */
export function loadPreload(file: string, renderer: RendererElectron): LoadedPreload {
  const source = fs.readFileSync(file, 'utf8')
  const required: string[] = []
  const sandboxRequire = (id: string): unknown => {
    required.push(id)
    if (id === 'electron') return renderer.electron
    throw new Error(`Cannot find module '${id}' (a sandboxed preload can require only 'electron')`)
  }
  // The globals a page has, nothing of Node's.
  const context = vm.createContext({
    console,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    queueMicrotask,
    structuredClone,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    atob,
    btoa,
    crypto: globalThis.crypto
  })
  // Compiling as a function body fails on `import`/`export`: the file must be CommonJS.
  const run = vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file, parsingContext: context })
  const module = { exports: {} }
  run.call(module.exports, module.exports, sandboxRequire, module, file, path.dirname(file))
  return { required, context }
}

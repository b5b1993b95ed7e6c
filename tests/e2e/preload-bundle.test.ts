/**
 * The built preload (out/preload/index.cjs) loaded as a sandboxed renderer loads it: in a context of its own
 * whose require() knows only `electron`, here the stand-in's renderer side
 * (tests/support/electron-stand-in/renderer.ts). Checks what the page can reach through it: one frozen
 * object, the contract's channels and nothing else, never ipcRenderer or its event.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { channels } from '../../src/shared/contract'
import { HISTORY_EVENT, NAVIGATE_EVENT, OPEN_LINK_EVENT, VIEWS } from '../../src/shared/navigation'
import { BUILT, ensureBuilt } from '../support/build'
import { createRendererElectron, loadPreload, type RendererElectron } from '../support/electron-stand-in/renderer'

interface ExposedBridge {
  invoke(channel: string, args?: unknown): Promise<unknown>
  onNavigate(callback: (...args: unknown[]) => void): () => void
  onOpenLink(callback: (...args: unknown[]) => void): () => void
  onHistory(callback: (...args: unknown[]) => void): () => void
}

/** Every value reachable from `root` through own properties (functions included), with its path. */
function reachable(root: unknown): Array<{ path: string; value: unknown }> {
  const out: Array<{ path: string; value: unknown }> = []
  const seen = new Set<unknown>()
  const walk = (value: unknown, at: string): void => {
    out.push({ path: at, value })
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) return
    seen.add(value)
    for (const key of Reflect.ownKeys(value)) {
      const d = Object.getOwnPropertyDescriptor(value, key)
      if (d && 'value' in d) walk(d.value, `${at}.${String(key)}`)
    }
  }
  walk(root, 'netkeeper')
  return out
}

describe('the built preload in a sandboxed context', () => {
  let renderer: RendererElectron
  let required: string[]
  let bridge: ExposedBridge
  /** What the stand-in main side answers: the channel and argument echoed back. */
  const invoked: Array<{ channel: string; args: unknown[] }> = []

  beforeAll(async () => {
    await ensureBuilt()
    renderer = createRendererElectron({
      invoke: async (channel, ...args) => {
        invoked.push({ channel, args })
        return { ok: true, value: { echoed: channel } }
      }
    })
    required = loadPreload(BUILT.preload, renderer).required
    bridge = renderer.exposed[0]?.api as ExposedBridge
  })

  it('loads as CommonJS and requires nothing but electron', () => {
    expect(required).toEqual(['electron'])
  })

  it('exposes exactly one object, window.netkeeper, frozen, with invoke and the three push subscriptions', () => {
    expect(renderer.exposed.map((e) => [e.world, e.key])).toEqual([['main', 'netkeeper']])
    expect(Object.isFrozen(bridge)).toBe(true)
    expect(Reflect.ownKeys(bridge).sort()).toEqual(['invoke', 'nativeNotifications', 'onHistory', 'onNavigate', 'onOpenLink'])
    expect(typeof bridge.invoke).toBe('function')
    expect(typeof bridge.onNavigate).toBe('function')
  })

  it('passes every contract channel to ipcRenderer.invoke with its argument', async () => {
    invoked.length = 0
    for (const channel of channels) {
      expect(await bridge.invoke(channel, { probe: channel })).toEqual({ ok: true, value: { echoed: channel } })
    }
    expect(invoked).toEqual(channels.map((channel) => ({ channel, args: [{ probe: channel }] })))
    // No argument becomes an empty object, never undefined (the contract's schemas parse objects).
    await bridge.invoke('app:info')
    expect(invoked.at(-1)).toEqual({ channel: 'app:info', args: [{}] })
  })

  it('refuses a channel the contract does not list, without reaching ipcRenderer', async () => {
    invoked.length = 0
    for (const channel of ['shell:exec', 'app:info ', 'APP:INFO', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'menu:navigate']) {
      const reply = (await bridge.invoke(channel, {})) as { ok: boolean; error?: { code: string } }
      expect(reply.ok, channel).toBe(false)
      expect(reply.error?.code, channel).toBe('NOT_FOUND')
    }
    expect(invoked).toEqual([])
  })

  it('never hands the page ipcRenderer, its methods or the IPC event', () => {
    const ipcParts = new Set<unknown>([renderer.ipcRenderer, renderer.electron, renderer.electron.contextBridge])
    for (let o: object | null = renderer.ipcRenderer; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
      for (const key of Reflect.ownKeys(o)) {
        const v = Object.getOwnPropertyDescriptor(o, key)?.value
        if (typeof v === 'function') ipcParts.add(v)
      }
    }
    const leaks = reachable(bridge).filter(({ value }) => ipcParts.has(value))
    expect(leaks.map((l) => l.path)).toEqual([])

    // A menu shortcut's push reaches the callback as the view id alone; the event (with `sender`) stays behind.
    const got: unknown[][] = []
    const unsubscribe = bridge.onNavigate((...args) => got.push(args))
    expect(renderer.ipcRenderer.listenerCount(NAVIGATE_EVENT)).toBe(1)
    for (const view of VIEWS) renderer.deliver(NAVIGATE_EVENT, view.id)
    renderer.deliver(NAVIGATE_EVENT, 'not-a-view')
    renderer.deliver(NAVIGATE_EVENT, { sender: 'x' })
    expect(got).toEqual(VIEWS.map((v) => [v.id]))
    expect(reachable(unsubscribe).filter(({ value }) => ipcParts.has(value))).toEqual([])
    unsubscribe()
    expect(renderer.ipcRenderer.listenerCount(NAVIGATE_EVENT)).toBe(0)
    renderer.deliver(NAVIGATE_EVENT, 'settings')
    expect(got).toHaveLength(VIEWS.length)
  })

  it('passes on links as text and history steps as back/forward, and nothing else', () => {
    const links: unknown[][] = []
    const steps: unknown[][] = []
    const stopLinks = bridge.onOpenLink((...args) => links.push(args))
    const stopSteps = bridge.onHistory((...args) => steps.push(args))
    renderer.deliver(OPEN_LINK_EVENT, 'netkeeper://ip/10.0.0.1')
    renderer.deliver(OPEN_LINK_EVENT, { sender: 'x' })
    renderer.deliver(OPEN_LINK_EVENT, 'x'.repeat(5000))
    renderer.deliver(HISTORY_EVENT, 'back')
    renderer.deliver(HISTORY_EVENT, 'sideways')
    renderer.deliver(HISTORY_EVENT, 'forward')
    expect(links).toEqual([['netkeeper://ip/10.0.0.1']])
    expect(steps).toEqual([['back'], ['forward']])
    stopLinks()
    stopSteps()
    expect(renderer.ipcRenderer.listenerCount(OPEN_LINK_EVENT)).toBe(0)
    expect(renderer.ipcRenderer.listenerCount(HISTORY_EVENT)).toBe(0)
  })

  it('subscribes to nothing but the navigation event, and sends nothing on its own', () => {
    const fresh = createRendererElectron()
    loadPreload(BUILT.preload, fresh)
    expect(fresh.ipcRenderer.eventNames()).toEqual([])
    expect(fresh.calls.map((c) => c.api)).toEqual(['contextBridge.exposeInMainWorld'])
  })
})

/**
 * The object the renderer sees as `window.netkeeper`, built over a transport so it holds no Electron
 * import: the preload passes ipcRenderer, and the type of the object (index.d.ts) is derived from this
 * implementation instead of being written by hand.
 *
 * The browser test harness (src/main/web/server.ts) serves a fetch-based object of the same shape.
 */
import { channels, type ArgsOf, type Bridge, type Channel, type Envelope, type ResultOf } from '../shared/contract'
import { HISTORY_EVENT, NAVIGATE_EVENT, OPEN_LINK_EVENT, isHistoryStep, isViewId, type HistoryStep, type ViewId } from '../shared/navigation'

export interface IpcTransport {
  invoke(channel: Channel, args: unknown): Promise<unknown>
  /** Subscribes to a push event from main; returns the unsubscribe function. */
  on(event: string, listener: (payload: unknown) => void): () => void
}

export function createBridge(ipc: IpcTransport) {
  const known = new Set<string>(channels)
  const bridge = {
    /** The shell shows desktop notifications itself (Electron's, from main): the page does not. */
    nativeNotifications: true,
    invoke<C extends Channel>(channel: C, args: ArgsOf<C>): Promise<Envelope<ResultOf<C>>> {
      // Refuse here too, so a typo in the renderer fails fast and never reaches main.
      if (!known.has(channel)) {
        return Promise.resolve({ ok: false, error: { code: 'NOT_FOUND', message: `unknown channel "${String(channel)}"` } })
      }
      return ipc.invoke(channel, args ?? {}) as Promise<Envelope<ResultOf<C>>>
    },
    /** Menu shortcuts (Ctrl/Cmd+1..6) ask the renderer to show a screen. Returns the unsubscribe function. */
    onNavigate(callback: (view: ViewId) => void): () => void {
      return ipc.on(NAVIGATE_EVENT, (payload) => {
        if (isViewId(payload)) callback(payload)
      })
    },
    /** A `netkeeper://` link handed over by the shell (checked again by the renderer's parseLink). */
    onOpenLink(callback: (link: string) => void): () => void {
      return ipc.on(OPEN_LINK_EVENT, (payload) => {
        if (typeof payload === 'string' && payload.length <= 2048) callback(payload)
      })
    },
    /** Back/Forward asked by the shell (mouse buttons on Windows arrive as the window's app-command). */
    onHistory(callback: (step: HistoryStep) => void): () => void {
      return ipc.on(HISTORY_EVENT, (payload) => {
        if (isHistoryStep(payload)) callback(payload)
      })
    }
  }
  // The contract's Bridge is the part main and the harness must honour: fail the type check if it drifts.
  const checked: Bridge & typeof bridge = bridge
  return Object.freeze(checked)
}

export type NetkeeperBridge = ReturnType<typeof createBridge>

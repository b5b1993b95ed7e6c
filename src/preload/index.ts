/**
 * Preload (sandboxed, CommonJS): exposes exactly one object, `window.netkeeper`, to the renderer. No
 * ipcRenderer, no Node API and no generic send/on crosses the context bridge.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { createBridge } from './bridge'

const bridge = createBridge({
  invoke: (channel, args) => ipcRenderer.invoke(channel, args),
  on: (event, listener) => {
    // Drop the IpcRendererEvent: it carries `sender`, which must not reach the page.
    const wrapped = (_event: IpcRendererEvent, payload: unknown): void => listener(payload)
    ipcRenderer.on(event, wrapped)
    return () => {
      ipcRenderer.removeListener(event, wrapped)
    }
  }
})

contextBridge.exposeInMainWorld('netkeeper', bridge)

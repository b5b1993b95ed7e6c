/**
 * The renderer's view of the preload object, derived from its implementation (Heroic style) so the two
 * cannot drift. Type-only: included by tsconfig.web.json.
 */
import type { NetkeeperBridge } from './bridge'

declare global {
  interface Window {
    /** Absent when the page is opened outside Electron and outside the web harness. */
    readonly netkeeper?: NetkeeperBridge
  }
}

export {}

/**
 * Starting the page's app over, without loading the page again: after a switch of database connection
 * every screen and store must forget the previous database. main.ts unmounts the Vue app (its polls stop)
 * and mounts a fresh one with a fresh Pinia, then shows `view` and says `notice`. A page reload would do
 * the same in a browser, but the desktop shell refuses every navigation of its window, a reload included.
 */
import type { ViewId } from '../../../shared/navigation'

export interface RestartOptions {
  /** The screen the fresh app opens on. */
  view?: ViewId
  /** A toast it shows once. */
  notice?: string
}

let handler: ((o: RestartOptions) => void) | undefined

/** main.ts: how to start over. */
export function onRestart(fn: (o: RestartOptions) => void): void {
  handler = fn
}

/** Starts the app over (see above). */
export function restartUi(o: RestartOptions = {}): void {
  if (!handler) throw new Error('the app cannot be restarted: main.ts registered no handler')
  handler(o)
}

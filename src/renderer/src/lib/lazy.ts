/**
 * Screens load in chunks of their own (docs/architecture.md#renderer-bundle). `lazyLoader` memoises a
 * dynamic import so the shell can start loading a screen early (preloadScreens) and the async component
 * wrapping it then resolves from the same promise.
 */

export type ScreenLoader = () => Promise<unknown>

export function lazyLoader<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null
  return () =>
    (pending ??= load().catch((e: unknown) => {
      // A failed load (a chunk missing after an update) may be retried by the next navigation.
      pending = null
      throw e
    }))
}

/** Loads every screen's chunk once the browser is idle, so the first visit to each is instant. */
export function preloadScreens(loaders: ScreenLoader[]): void {
  const run = (): void => {
    for (const l of loaders) void l().catch(() => undefined)
  }
  const idle = (globalThis as { requestIdleCallback?: (cb: () => void, o?: { timeout: number }) => number }).requestIdleCallback
  if (idle) idle(run, { timeout: 2000 })
  else setTimeout(run, 200)
}

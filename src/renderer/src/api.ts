/**
 * The only module that touches `window.netkeeper`. It turns the preload's single `invoke` into one async
 * function per contract channel (made on first use, so a new channel needs no change here), unwraps the
 * envelope, and throws an AppError the views can show.
 */
import type { Api, ArgsOf, Channel, ResultOf } from '@shared/contract'
import { AppError, isErrorPayload } from '@shared/errors'
import type { HistoryStep, ViewId } from '@shared/navigation'

function bridge(): NonNullable<Window['netkeeper']> {
  const b = window.netkeeper
  if (!b) {
    throw new AppError('UNAVAILABLE', 'this page was opened outside Netkeeper: the bridge to the application is missing')
  }
  return b
}

/** Requests in flight, and who waits for there to be none (whenIdle). */
let inFlight = 0
let idleWaiters: (() => void)[] = []

/**
 * Resolves once no request has been in flight for `quietMs` (the first screen has its answers): work that
 * can wait, such as loading the other screens' code, goes after the first screen's requests, not among them.
 */
export function whenIdle(quietMs = 300): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (inFlight > 0) idleWaiters.push(check)
      else setTimeout(() => (inFlight > 0 ? idleWaiters.push(check) : resolve()), quietMs)
    }
    check()
  })
}

async function call<C extends Channel>(channel: C, args: ArgsOf<C>): Promise<ResultOf<C>> {
  let envelope
  inFlight++
  try {
    envelope = await bridge().invoke(channel, args)
  } catch (e) {
    if (e instanceof AppError) throw e
    // The transport itself failed (main process gone, harness stopped): not an answer from the core.
    throw new AppError('UNAVAILABLE', `${channel}: the application did not answer (${(e as Error)?.message ?? String(e)})`)
  } finally {
    if (--inFlight === 0 && idleWaiters.length) {
      const ws = idleWaiters
      idleWaiters = []
      for (const w of ws) w()
    }
  }
  if (envelope.ok) return envelope.value
  throw isErrorPayload(envelope.error)
    ? AppError.fromPayload(envelope.error)
    : new AppError('INTERNAL', `${channel}: the application sent a malformed error`)
}

/**
 * One function per channel, made on first use. A proxy rather than a table built from the contract's
 * channel list: the contract's runtime part is its zod schemas, which would put zod and every schema into
 * the first screen's chunk. Channel names all contain a colon; anything else (`then`, Vue's probes) is
 * undefined, so the object is not mistaken for a promise. The main process refuses unknown channels.
 */
const made = new Map<string, (args: unknown) => Promise<unknown>>()
export const api: Api = new Proxy(Object.freeze({}) as Api, {
  get(_target, name) {
    if (typeof name !== 'string' || !name.includes(':')) return undefined
    let fn = made.get(name)
    if (!fn) made.set(name, (fn = (args: unknown) => call(name as Channel, args as ArgsOf<Channel>)))
    return fn
  }
})

/** Menu shortcuts from the native menu. Returns the unsubscribe function; a no-op outside Electron. */
export function onNavigate(callback: (view: ViewId) => void): () => void {
  return window.netkeeper?.onNavigate(callback) ?? (() => undefined)
}

/** netkeeper:// links handed over by the shell (a second launch, the OS); the harness's #open= entry. */
export function onOpenLink(callback: (link: string) => void): () => void {
  return window.netkeeper?.onOpenLink(callback) ?? (() => undefined)
}

/** Back/Forward asked by the shell (the window's app-command: mouse buttons on Windows). */
export function onHistory(callback: (step: HistoryStep) => void): () => void {
  return window.netkeeper?.onHistory(callback) ?? (() => undefined)
}

/** A message fit for the UI from anything thrown. */
export function errorMessage(e: unknown): string {
  if (e instanceof AppError) return e.message
  if (e instanceof Error) return e.message
  return String(e)
}

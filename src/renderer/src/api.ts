/**
 * The only module that touches `window.netkeeper`. It turns the preload's single `invoke` into one async
 * function per contract channel (built from `channels`, so a new channel needs no change here), unwraps the
 * envelope, and throws an AppError the views can show.
 */
import { channels, type Api, type ArgsOf, type Channel, type ResultOf } from '@shared/contract'
import { AppError, isErrorPayload } from '@shared/errors'
import type { HistoryStep, ViewId } from '@shared/navigation'

function bridge(): NonNullable<Window['netkeeper']> {
  const b = window.netkeeper
  if (!b) {
    throw new AppError('UNAVAILABLE', 'this page was opened outside Netkeeper: the bridge to the application is missing')
  }
  return b
}

async function call<C extends Channel>(channel: C, args: ArgsOf<C>): Promise<ResultOf<C>> {
  let envelope
  try {
    envelope = await bridge().invoke(channel, args)
  } catch (e) {
    if (e instanceof AppError) throw e
    // The transport itself failed (main process gone, harness stopped): not an answer from the core.
    throw new AppError('UNAVAILABLE', `${channel}: the application did not answer (${(e as Error)?.message ?? String(e)})`)
  }
  if (envelope.ok) return envelope.value
  throw isErrorPayload(envelope.error)
    ? AppError.fromPayload(envelope.error)
    : new AppError('INTERNAL', `${channel}: the application sent a malformed error`)
}

export const api: Api = Object.freeze(
  Object.fromEntries(channels.map((channel) => [channel, (args: ArgsOf<typeof channel>) => call(channel, args)]))
) as Api

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

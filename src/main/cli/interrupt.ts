/**
 * Ctrl-C and SIGTERM while a command has the database open. The first signal rolls back what is in flight
 * and releases the store: a command that knows how to stop itself (the import rolls back its transaction)
 * is told to; otherwise every open core is interrupted (Core.interrupt: its sessions end, so the server, or
 * the embedded PostgreSQL, rolls back any open transaction, and the embedded store's lock is let go) and
 * the process exits 130 (SIGINT) or 143 (SIGTERM). A second signal exits at once: the operating system
 * closes the connections and drops the lock, and the database still never keeps half a transaction.
 *
 * Without an open core Node's default stands (the process ends at once): nothing is held then.
 */
import type { Core } from '../core'

const cores = new Set<Core>()
const stoppers: (() => void)[] = []
let signals = 0
let received: NodeJS.Signals | null = null
let installed = false

const exitCode = (signal: NodeJS.Signals): number => (signal === 'SIGTERM' ? 143 : 130)

function onSignal(signal: NodeJS.Signals): void {
  signals += 1
  if (signals > 1) {
    process.stderr.write(`\nnetkeeper: ${signal} again: stopping now\n`)
    process.exit(exitCode(signal))
  }
  const stop = stoppers[stoppers.length - 1]
  if (stop) {
    // The command winds down on its own and sets its own exit code.
    stop()
    return
  }
  received = signal
  process.stderr.write(`\nnetkeeper: ${signal}: rolling back and closing the database (${signal === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again forces)\n`)
  void Promise.allSettled([...cores].map((c) => c.interrupt())).then(() => process.exit(exitCode(signal)))
}

function install(): void {
  if (installed) return
  installed = true
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // The command may fail on its interrupted statement and the process end on its own before the
  // interrupt's own exit runs: it still exits as interrupted (130/143), not as failed (1).
  process.on('exit', () => {
    if (received) process.exitCode = exitCode(received)
  })
}

/** Registers an open core until the returned function is called (after the command closed it). */
export function trackCore(core: Core): () => void {
  install()
  cores.add(core)
  return () => void cores.delete(core)
}

/**
 * Lets a command handle the first signal itself (it must then wind down and close its core promptly);
 * a second signal still forces. Returns the function that unregisters it.
 */
export function onInterrupt(stop: () => void): () => void {
  install()
  stoppers.push(stop)
  return () => {
    const i = stoppers.lastIndexOf(stop)
    if (i >= 0) stoppers.splice(i, 1)
  }
}

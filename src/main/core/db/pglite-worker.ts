/**
 * The worker thread that runs the embedded store for a CLI command (pglite-remote.ts). At once it loads
 * PGlite and compiles its WebAssembly; once the main thread has taken the store's lock (the lock is the
 * process's: see embedded-lock.ts) it starts PGlite on the data folder given in `workerData`, then answers
 * the main thread's `query`, `exec` and `close` messages with PGlite's own results. Built as its own entry
 * (out/main/pglite-worker.js).
 */
import { setFlagsFromString } from 'node:v8'
import { parentPort, workerData } from 'node:worker_threads'
import type { PGlite } from '@electric-sql/pglite'
import { loadPGlite, startPGlite } from './pglite-start'
import { serializeThreadError, type ToWorker } from './pglite-thread'

const port = parentPort
if (!port) throw new Error('pglite-worker.ts runs as a worker thread of pglite-remote.ts')
const { pgDataDir, flags } = workerData as { pgDataDir: string; flags: string[] }
// Node's built-in modules PGlite loads, loaded before V8's flags change: Node compiles a built-in module from
// its code cache only while the flags are those the cache was made with (40 % of a built-in's load otherwise).
await Promise.all(['node:fs/promises', 'node:zlib', 'node:url', 'node:crypto'].map((m) => import(m)))
// The CLI's V8 flags, set here (after this thread's start, see startEarlyEmbedded) before PGlite compiles.
for (const flag of flags) setFlagsFromString(flag)
port.postMessage({ type: 'booted' })

// Loaded and compiled while the main thread takes the lock (startPGlite then finds them loaded).
void loadPGlite().catch(() => undefined)

let pglite: PGlite | undefined
let opening: Promise<void> | undefined

port.on('message', (m: ToWorker) => {
  if (m.op === 'open') {
    opening = startPGlite({ pgDataDir }).then((started) => {
      pglite = started
    })
    opening.then(
      () => port.postMessage({ type: 'ready' }),
      (e: unknown) => port.postMessage({ type: 'failed', error: serializeThreadError(e) })
    )
    return
  }
  void (async () => {
    try {
      await opening
      if (m.op === 'close') {
        await pglite?.close()
        port.postMessage({ id: m.id, result: null })
        return
      }
      if (!pglite) throw new Error('the embedded database was not opened')
      const result = m.op === 'query' ? await pglite.query(m.sql, m.params, m.options) : await pglite.exec(m.sql, m.options)
      port.postMessage({ id: m.id, result })
    } catch (e) {
      port.postMessage({ id: m.id, error: serializeThreadError(e) })
    }
  })()
})

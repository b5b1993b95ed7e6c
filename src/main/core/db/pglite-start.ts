/**
 * Starting PGlite on a data folder: its own module, so that the worker thread that starts it for the CLI
 * (pglite-worker.ts) loads this and pglite-wasm.ts, not the rest of the database layer (connect.ts).
 */
import fs from 'node:fs'
import type { PGlite } from '@electric-sql/pglite'
import { pgliteModule, sharedBuffersSetting } from './pglite-wasm'

/**
 * Starts PGlite on `pgDataDir` (created 0700 if missing), with smaller shared buffers than its built-in
 * 128MB (pglite-wasm.ts; NETKEEPER_PGLITE_SHARED_BUFFERS).
 */
export async function startPGlite(spec: { pgDataDir: string }): Promise<PGlite> {
  const [{ PGlite }, { pg_trgm }, wasmModule] = await loadPGlite()
  fs.mkdirSync(spec.pgDataDir, { recursive: true, mode: 0o700 })
  // pg_trgm backs the audit viewer's text search (see the ipam_audit migration).
  return PGlite.create({ dataDir: spec.pgDataDir, extensions: { pg_trgm }, ...(wasmModule ? { wasmModule } : {}) })
}

/**
 * What startPGlite starts PGlite with: its JavaScript, its pg_trgm extension and its module with this
 * process's shared buffers (pglite-wasm.ts). Each is loaded once per process, so calling this early (the
 * CLI's worker thread does, while the lock is taken) leaves startPGlite nothing of it to wait for.
 */
export function loadPGlite(setting: string = sharedBuffersSetting()) {
  return Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite/contrib/pg_trgm'), pgliteModule(setting)])
}

/**
 * PGlite's WebAssembly module with smaller shared buffers (docs/architecture.md, the database layer).
 *
 * PGlite 0.3.16 starts PostgreSQL 17 with `-c shared_buffers=128MB` and offers no option to change it: the
 * argument is one C string literal in the module's data segment, "shared_buffers=128MB", that its
 * `pg_main.c` puts in every argument list it starts PostgreSQL with (initdb's bootstrap run, the
 * single-user backend after a fresh initdb, and the backend that opens an existing store; the code section
 * holds exactly three references to the literal's address and none into its interior, checked on this
 * build). A setting on PostgreSQL's command line outranks postgresql.conf and ALTER SYSTEM, so neither can
 * shrink it; and PostgreSQL zero-fills its shared memory at start, so those 128 MB cost start-up time and
 * resident memory in every process that opens the store.
 *
 * Shared buffers are a cache, not part of the data folder's format: a store written with 128 MB opens with
 * fewer, and the other way round. So the module is read here, the literal replaced in memory by one of the
 * same length that asks for fewer buffers (padded with NUL bytes: the C string ends at the first), compiled,
 * and handed to PGlite as its `wasmModule`; nothing in node_modules changes. Where the literal is not found
 * exactly once (another PGlite build), PGlite loads its own module as before and the log says so.
 */
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { AppError } from '../../../shared/errors'
import { processLog } from '../log'

/** What PGlite 0.3.16 compiles in, NUL included: the literal must end exactly here. */
const BUILT_IN = 'shared_buffers=128MB\0'

/**
 * The size the embedded store starts with unless NETKEEPER_PGLITE_SHARED_BUFFERS says otherwise: chosen by
 * measuring the embedded benchmarks (docs/cli.md#start-up, round four).
 */
export const DEFAULT_SHARED_BUFFERS = '16MB'

/**
 * `NETKEEPER_PGLITE_SHARED_BUFFERS` (or the default) checked: PostgreSQL's own spelling of a size with a
 * unit (`kB` or `MB`) or a number of 8 kB pages, at least 128kB (16 pages, PostgreSQL's minimum) and at most
 * the built-in 128MB, in at most 5 characters (what the replaced literal has room for).
 */
export function sharedBuffersSetting(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.NETKEEPER_PGLITE_SHARED_BUFFERS?.trim()
  if (!raw) return DEFAULT_SHARED_BUFFERS
  const m = /^(\d{1,5})(kB|MB)?$/.exec(raw)
  const kB = m ? Number(m[1]) * (m[2] === 'MB' ? 1024 : m[2] === 'kB' ? 1 : 8) : NaN
  if (!m || raw.length > 5 || !(kB >= 128 && kB <= 128 * 1024)) {
    throw new AppError(
      'VALIDATION',
      `NETKEEPER_PGLITE_SHARED_BUFFERS: "${raw}" is not a size from 128kB to 128MB written as PostgreSQL does (e.g. 16MB, 512kB, or 2048 pages of 8 kB), in at most 5 characters`,
      { field: 'NETKEEPER_PGLITE_SHARED_BUFFERS' }
    )
  }
  return raw
}

/**
 * The module's bytes with `shared_buffers=<setting>` in place of the built-in literal (changed in place: no
 * second 9 MB copy in a process that should stay small), or why not (the bytes then untouched).
 */
export function patchSharedBuffers(bytes: Uint8Array, setting: string): { bytes: Uint8Array } | { skipped: string } {
  const wasm = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const needle = Buffer.from(BUILT_IN, 'latin1')
  const at = wasm.indexOf(needle)
  if (at < 0) return { skipped: `"${BUILT_IN.slice(0, -1)}" is not in this PGlite build` }
  if (wasm.indexOf(needle, at + 1) >= 0) return { skipped: `"${BUILT_IN.slice(0, -1)}" is in this PGlite build more than once` }
  const replacement = Buffer.alloc(needle.length) // zero-filled: the NUL padding
  const text = `shared_buffers=${setting}`
  if (text.length >= needle.length) return { skipped: `"${text}" is longer than the built-in literal` }
  replacement.write(text, 'latin1')
  replacement.copy(wasm, at)
  return { bytes }
}

/** Where PGlite's own module lives (beside its entry, in dist/). */
function pgliteWasmPath(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite')
  return path.join(path.dirname(entry), 'pglite.wasm')
}

/** The global WebAssembly object (Node's own; the node typings declare its types but not the value). */
const wasmApi = (): { compile(bytes: Uint8Array): Promise<WebAssembly.Module> } =>
  (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WebAssembly.Module> } }).WebAssembly

const compiled = new Map<string, Promise<WebAssembly.Module | undefined>>()

/** A note in the process's log (the console where none is open): the store still opens. */
function note(text: string): void {
  const log = processLog()
  if (log) log.warn('db', text)
  else console.warn(`[db] ${text}`)
}

/**
 * The compiled module for `setting` (kept for the process: the app reopens the store when the connection
 * changes, the test suite opens many), or undefined where PGlite should load its own: the setting is the
 * built-in one, or the literal was not found or the module could not be read or compiled here (a note in
 * the log, never an error: PGlite then starts as it always did). `wasmFile`: another build's module (tests).
 */
export function pgliteModule(setting: string = sharedBuffersSetting(), wasmFile?: string): Promise<WebAssembly.Module | undefined> {
  const key = `${setting}\0${wasmFile ?? ''}`
  let p = compiled.get(key)
  if (!p) {
    p = (async () => {
      if (setting === '128MB') return undefined
      let file = wasmFile ?? '@electric-sql/pglite'
      try {
        file = wasmFile ?? pgliteWasmPath()
        const patched = patchSharedBuffers(await fs.promises.readFile(file), setting)
        if ('skipped' in patched) {
          note(`PGlite starts with its built-in shared_buffers (128MB): ${patched.skipped} (${file})`)
          return undefined
        }
        return await wasmApi().compile(patched.bytes)
      } catch (e) {
        note(`PGlite starts with its built-in shared_buffers (128MB): its module could not be prepared (${file}): ${(e as Error).message}`)
        return undefined
      }
    })()
    compiled.set(key, p)
  }
  return p
}

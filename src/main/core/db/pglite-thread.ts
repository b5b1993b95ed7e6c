/**
 * What the CLI's main thread and the worker thread that runs PGlite for it (pglite-remote.ts,
 * pglite-worker.ts) send each other, and how an error crosses between them: a structured clone keeps an
 * Error's message but not its class or its own fields, and the callers read PostgreSQL's fields (`code`,
 * `detail`, `constraint`...) and AppError's code and details.
 */
import { AppError, type ErrorPayload } from '../../../shared/errors'

export type ToWorker =
  | { op: 'open' }
  | { id: number; op: 'query'; sql: string; params?: unknown[]; options?: Record<string, unknown> }
  | { id: number; op: 'exec'; sql: string; options?: Record<string, unknown> }
  | { id: number; op: 'close' }

export type FromWorker =
  | { type: 'booted' }
  | { type: 'ready' }
  | { type: 'failed'; error: ThreadError }
  | { id: number; result: unknown }
  | { id: number; error: ThreadError }

export type ThreadError = { app: ErrorPayload } | { name: string; message: string; stack?: string; fields: Record<string, string | number | boolean | null> }

/** An error as it can be posted: AppError's payload, or any other error's name, message and plain fields. */
export function serializeThreadError(e: unknown): ThreadError {
  if (e instanceof AppError) return { app: e.toPayload() }
  const err = e instanceof Error ? e : new Error(String(e))
  const fields: Record<string, string | number | boolean | null> = {}
  for (const [k, v] of Object.entries(err)) {
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) fields[k] = v as string | number | boolean | null
  }
  return { name: err.name, message: err.message, stack: err.stack, fields }
}

/** The error again, in this thread: an AppError as such, any other with its fields on an Error. */
export function threadError(t: ThreadError): Error {
  if ('app' in t) return AppError.fromPayload(t.app)
  const e = Object.assign(new Error(t.message), t.fields)
  e.name = t.name
  if (t.stack) e.stack = t.stack
  return e
}

/**
 * Turning what the core refuses into something a person can act on: the form field an error is about (so
 * the form shows it inline), the reason without the "field: " prefix, and for errors that are about no
 * field a sentence that says what to do next.
 */
import { AppError } from '../../../shared/errors'

/** The form field an error names. Pool updates arrive as `changes.network`; forms know `network`. */
export function fieldOf(e: unknown): string | undefined {
  if (!(e instanceof AppError)) return undefined
  const f = e.details?.field
  return typeof f === 'string' && f !== '(input)' ? f.replace(/^changes\./, '') : undefined
}

/** "network: 10.1.2.3/24 has host bits set" -> "10.1.2.3/24 has host bits set". */
export function reasonOf(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  const field = e instanceof AppError ? e.details?.field : undefined
  if (typeof field === 'string' && msg.startsWith(`${field}: `)) return msg.slice(field.length + 2)
  const m = /^[a-zA-Z][\w.]*: (.*)$/s.exec(msg)
  return m ? m[1]! : msg
}

/** "the database is not open: ..." -> "The database is not open: ...", for a message that becomes a sentence. */
const sentence = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

/** A message for a banner or a toast: the core's reason, plus what to do when the code says more. */
export function userMessage(e: unknown): string {
  if (!(e instanceof AppError)) return e instanceof Error ? e.message : String(e)
  switch (e.code) {
    case 'UNAVAILABLE':
      return `${sentence(e.message)}. Check the database connection (status bar, or Settings › Check connection) and try again.`
    case 'FORBIDDEN':
      return `${sentence(e.message)}. Ask an administrator for the role this needs.`
    case 'INTERNAL':
      // The message names the log file already (main's dispatch); Help › Open log folder shows it.
      return `${sentence(e.message)}. Try again; if it keeps happening, Help › Open Log Folder has the details.`
    default:
      return e.message
  }
}

/** The field's error from a validator that throws AppError (src/shared/net), or undefined when valid. */
export function check(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (e) {
    return reasonOf(e)
  }
}

/**
 * Typed error codes shared by the core, the IPC layer, the CLI and the renderer.
 * This module imports nothing from node, electron or vue.
 */
export const ERROR_CODES = ['VALIDATION', 'CONFLICT', 'NOT_FOUND', 'FORBIDDEN', 'UNAVAILABLE', 'INTERNAL'] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

export interface ErrorDetails {
  /** The input field the error is about, in dotted form (`gateway`, `network`, `items.3.mac`). */
  field?: string
  /** Anything else a caller can act on (the conflicting pool, the holder of an address...). */
  [key: string]: unknown
}

/** The serialisable shape of an error as it crosses IPC or is printed by the CLI as JSON. */
export interface ErrorPayload {
  code: ErrorCode
  message: string
  details?: ErrorDetails
}

export class AppError extends Error {
  readonly code: ErrorCode
  readonly details?: ErrorDetails

  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(message)
    this.name = 'AppError'
    this.code = code
    this.details = details
  }

  toPayload(): ErrorPayload {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message }
  }

  static fromPayload(p: ErrorPayload): AppError {
    return new AppError(p.code, p.message, p.details)
  }
}

export const validationError = (field: string, reason: string, extra?: Omit<ErrorDetails, 'field'>): AppError =>
  new AppError('VALIDATION', `${field}: ${reason}`, { field, ...extra })

export function isErrorPayload(v: unknown): v is ErrorPayload {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as ErrorPayload).code === 'string' &&
    (ERROR_CODES as readonly string[]).includes((v as ErrorPayload).code) &&
    typeof (v as ErrorPayload).message === 'string'
  )
}

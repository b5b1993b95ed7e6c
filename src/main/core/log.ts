/**
 * The log: one line per event in `<data dir>/logs/`, `netkeeper.log` for the app's main process and
 * `cli.log` for the command line (two processes never share a file, so neither renames the other's).
 *
 *   2026-12-03T10:15:02.113Z WARN  req=4b0c…  [ipc] ipam:allocate failed: … statement: select …
 *
 * - Levels debug < info < warn < error; NETKEEPER_LOG_LEVEL picks the lowest written (default info).
 * - Every line carries the request id of the work it belongs to: the IPC dispatch runs its work inside
 *   withRequest(), and AsyncLocalStorage carries the id through every await, so even a console.warn deep in
 *   the core is stamped; a CLI command, the one request of its process, sets it process-wide
 *   (withProcessRequest). Work outside any request (start-up, the menu) says `req=-`.
 * - No secrets: every line goes through redact() (passwords in URLs, `password=…`, `"secret": "…"` and
 *   the like, any key that names a password, secret, token or credential). Errors are written by their
 *   message, their SQL statement (never the values) and their stack.
 * - Rotation by size: past 5 MB the file becomes `.1`, `.1` becomes `.2` … and the oldest of 5 goes.
 * - Files 0600, the folder 0700. Writes are synchronous appends: a line is on disk before a crash that
 *   follows it, and a log line is rare enough that this costs nothing measurable.
 *
 * captureConsole() sends console.* there too (still printed as before), so the core's existing
 * `console.warn('[retention] …')` lines land in the log with their request id.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import fs from 'node:fs'
import path from 'node:path'
import { format } from 'node:util'
import { statementOf } from './db/errors'

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type Level = (typeof LEVELS)[number]

const requests = new AsyncLocalStorage<string>()
/** The request id of a process that serves one request at a time (a CLI command): see withProcessRequest. */
let processRequest: string | undefined

/** Runs `fn` with `requestId` stamped on every log line written while it (and what it awaits) runs. */
export function withRequest<T>(requestId: string, fn: () => T): T {
  return requests.run(requestId, fn)
}

/**
 * Runs `fn` as the one request of this process (a CLI command): `requestId` is the current one until `fn`
 * settles, for every line and context of the process, without AsyncLocalStorage. Once an
 * AsyncLocalStorage has run, Node 20 keeps a hook on every promise the process makes, which cost a CLI
 * read 10-20 ms of CPU here (docs/cli.md#start-up). A request run inside it (withRequest) still wins.
 */
export async function withProcessRequest<T>(requestId: string, fn: () => Promise<T>): Promise<T> {
  const outer = processRequest
  processRequest = requestId
  try {
    return await fn()
  } finally {
    processRequest = outer
  }
}

/** The request id of the work running now, if any. */
export function currentRequestId(): string | undefined {
  return requests.getStore() ?? processRequest
}

const SECRET_KEY = '(?:pass(?:word|wd|phrase)?|pwd|secret|token|credentials?|api[_-]?key|private[_-]?key|bind[_-]?secret)'
const REDACTIONS: [RegExp, string][] = [
  // scheme://user:password@host
  [/([a-z][\w+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi, '$1***@'],
  // "password": "x" (JSON)
  [new RegExp(`("[\\w-]*${SECRET_KEY}[\\w-]*"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi'), '$1"***"'],
  // password: 'x'  (util.inspect of an object)
  [new RegExp(`(\\b[\\w-]*${SECRET_KEY}[\\w-]*\\s*:\\s*)'(?:[^'\\\\]|\\\\.)*'`, 'gi'), "$1'***'"],
  // password=x, PGPASSWORD=x
  [new RegExp(`(\\b[\\w-]*${SECRET_KEY}[\\w-]*=)[^\\s&;,]+`, 'gi'), '$1***']
]

/** The text with every secret it is recognisably carrying replaced by ***. */
export function redact(text: string): string {
  return REDACTIONS.reduce((t, [re, to]) => t.replace(re, to), text)
}

/** An error as log text: its message, the SQL statement it came from (no values) and the stack. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return format('%O', e)
  const sql = statementOf(e)
  const cause = (e as { cause?: unknown }).cause
  const stack = (cause instanceof Error ? cause.stack : undefined) ?? e.stack ?? ''
  const code = (e as { code?: unknown }).code
  return [`${e.message}${typeof code === 'string' ? ` [${code}]` : ''}`, sql ? `statement: ${sql}` : '', stack.split('\n').slice(1).join('\n')].filter(Boolean).join('\n')
}

export interface LogOptions {
  dir: string
  /** netkeeper.log (the app) or cli.log. */
  file: string
  level?: Level
  maxBytes?: number
  keep?: number
}

export class Logger {
  readonly file: string
  private readonly min: number
  private readonly maxBytes: number
  private readonly keep: number
  private size = 0
  private broken = false

  constructor(readonly options: LogOptions) {
    this.file = path.join(options.dir, options.file)
    const fromEnv = process.env.NETKEEPER_LOG_LEVEL as Level | undefined
    this.min = LEVELS.indexOf(options.level ?? (fromEnv && LEVELS.includes(fromEnv) ? fromEnv : 'info'))
    this.maxBytes = options.maxBytes ?? 5 * 1024 * 1024
    this.keep = options.keep ?? 5
    try {
      fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 })
      this.size = fs.existsSync(this.file) ? fs.statSync(this.file).size : 0
    } catch {
      this.broken = true
    }
  }

  /** The folder Help › Open log folder shows. */
  get dir(): string {
    return this.options.dir
  }

  debug(scope: string, ...args: unknown[]): void {
    this.write('debug', scope, args)
  }
  info(scope: string, ...args: unknown[]): void {
    this.write('info', scope, args)
  }
  warn(scope: string, ...args: unknown[]): void {
    this.write('warn', scope, args)
  }
  error(scope: string, ...args: unknown[]): void {
    this.write('error', scope, args)
  }

  write(level: Level, scope: string, args: unknown[]): void {
    if (this.broken || LEVELS.indexOf(level) < this.min) return
    const text = args.map((a) => (a instanceof Error ? describeError(a) : typeof a === 'string' ? a : format('%O', a))).join(' ')
    const body = redact(text).replace(/\r?\n/g, '\n    ')
    const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} req=${currentRequestId() ?? '-'} ${scope ? `[${scope}] ` : ''}${body}\n`
    try {
      if (this.size + line.length > this.maxBytes && this.size > 0) this.rotate()
      fs.appendFileSync(this.file, line, { mode: 0o600 })
      this.size += Buffer.byteLength(line)
    } catch {
      // A full disk or a folder taken away must not take the app down with it: stop logging.
      this.broken = true
    }
  }

  private rotate(): void {
    const nth = (n: number): string => (n === 0 ? this.file : this.file.replace(/\.log$/, `.${n}.log`))
    fs.rmSync(nth(this.keep - 1), { force: true })
    for (let n = this.keep - 2; n >= 0; n--) if (fs.existsSync(nth(n))) fs.renameSync(nth(n), nth(n + 1))
    this.size = 0
  }
}

/** `<data dir>/logs`. */
export function logDir(dataDir: string): string {
  return path.join(dataDir, 'logs')
}

let current: Logger | undefined

/** Opens the process's log (once; later calls return the same). */
export function openLog(options: LogOptions): Logger {
  current ??= new Logger(options)
  return current
}

/** The process's log, when one was opened. */
export function processLog(): Logger | undefined {
  return current
}

/** "see the log: /path/to/netkeeper.log", or a plain "see the log" where none was opened. */
export function seeTheLog(): string {
  return current ? `see the log: ${current.file}` : 'see the log'
}

/**
 * console.debug/log/info/warn/error also go to `log`, at their level, with a `[scope]` prefix of the
 * message taken as the scope. What the console printed before it still prints. Returns the undo.
 */
export function captureConsole(log: Logger): () => void {
  const levels: [keyof Console & ('debug' | 'log' | 'info' | 'warn' | 'error'), Level][] = [
    ['debug', 'debug'],
    ['log', 'info'],
    ['info', 'info'],
    ['warn', 'warn'],
    ['error', 'error']
  ]
  const originals = levels.map(([method]) => [method, console[method]] as const)
  for (const [method, level] of levels) {
    const original = console[method].bind(console)
    console[method] = (...args: unknown[]) => {
      original(...args)
      const first = typeof args[0] === 'string' ? /^\[([\w:-]+)\]\s*(.*)$/s.exec(args[0]) : null
      if (first) log.write(level, first[1]!, [first[2]!, ...args.slice(1)].filter((a) => a !== ''))
      else log.write(level, '', args)
    }
  }
  return () => {
    for (const [method, original] of originals) console[method] = original
  }
}

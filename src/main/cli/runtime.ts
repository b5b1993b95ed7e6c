/**
 * What every CLI command shares: global options, opening the core, printing results as text or JSON,
 * and mapping errors to exit codes (0 done, 1 the operation failed, 2 usage).
 *
 * Only light modules are imported here at the top: the core (and with it the database drivers, zod and
 * the rest) is loaded when a command runs, never to parse arguments or print help (docs/cli.md#start-up).
 */
import os from 'node:os'
import type { Command } from 'commander'
import { AppError } from '../../shared/errors'
import type { Core } from '../core'
import { makeContext, type RequestContext } from '../core/context'
import { isUnreachable, toAppError } from '../core/db/errors'
import { resolveDataDir } from '../core/paths'
import type { OfflineQueue } from '../core/offline/queue'
import type { OfflineEdit, QueueEntryDto } from '../../shared/offline'

/** The core, loaded on first use. */
const openCore = async (opts: { databaseUrl?: string; dataDir: string; migrate: boolean }): Promise<Core> => (await import('../core')).Core.open(opts)

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

export interface GlobalOptions {
  databaseUrl?: string
  dataDir?: string
  json?: boolean
  /** false with --no-queue: an unreachable database fails the command instead of queueing the edit. */
  queue?: boolean
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions
}

export function cliContext(): RequestContext {
  // Until sign-in lands, the CLI acts as admin on the database it was pointed at (see docs/cli.md).
  return makeContext({ actor: `${os.userInfo().username}@cli`, roles: ['admin'], source: 'cli' })
}

export async function withCore<T>(cmd: Command, opts: { migrate: boolean }, fn: (core: Core) => Promise<T>): Promise<T> {
  const g = globals(cmd)
  if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
  const core = await openCore({ databaseUrl: g.databaseUrl, dataDir: resolveDataDir(), migrate: opts.migrate })
  try {
    return await fn(core)
  } finally {
    await core.close()
  }
}

/**
 * A read that falls back on the last-known snapshot when the database server is unreachable: `stale` gets
 * the queue file and the reason, and its answer carries `stale: { asOf, reason }` (docs/offline.md). Text
 * output says so on stderr first. Without a snapshot the original error stands.
 */
export async function withCoreOrStale(cmd: Command, fn: (core: Core) => Promise<void>, stale: (q: OfflineQueue, why: string) => void | Promise<void>): Promise<void> {
  const g = globals(cmd)
  if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
  let core: Core
  try {
    core = await openCore({ databaseUrl: g.databaseUrl, dataDir: resolveDataDir(), migrate: true })
  } catch (e) {
    if (!isUnreachable(e)) throw e
    const why = (e as Error).message
    await withQueue(cmd, async (q) => {
      const at = q.snapshotAt()
      if (!at) throw e
      if (!g.json) process.stderr.write(`Last-known data from ${at}: ${why}\n`)
      await stale(q, why)
    })
    return
  }
  try {
    await fn(core)
  } finally {
    await core.close()
  }
}

/** Runs `fn` with the offline queue of the data folder (opened without a Core: it works offline). */
export async function withQueue<T>(cmd: Command, fn: (queue: OfflineQueue) => Promise<T> | T): Promise<T> {
  const g = globals(cmd)
  if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
  const { OfflineQueue } = await import('../core/offline/queue')
  const queue = OfflineQueue.open(resolveDataDir())
  try {
    return await fn(queue)
  } finally {
    queue.close()
  }
}

/** The reply of a mutating command whose edit was queued: status "queued", and the entry. */
export interface QueuedReply {
  status: 'queued'
  id: number
  idempotencyKey: string
  operation: string
  args: unknown
  basedOn: QueueEntryDto['basedOn']
  target: string
  queuedAt: string
  reason: string
  note: string
}

/**
 * For mutating IPAM commands: opens the core and runs `fn`; when the database server cannot be reached
 * (connection refused, timeout, host down) the edit is queued in the data folder instead and the command
 * exits 0 saying "queued, not done" (JSON: status "queued"). --no-queue makes it fail UNAVAILABLE as before.
 * Only a failure to connect queues: an error half-way through a command is reported as is, because the
 * change may or may not have committed.
 */
export async function withCoreOrQueue(cmd: Command, edit: OfflineEdit, fn: (core: Core) => Promise<void>): Promise<void> {
  const g = globals(cmd)
  if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
  const dataDir = resolveDataDir()
  let core: Core
  try {
    core = await openCore({ databaseUrl: g.databaseUrl, dataDir, migrate: true })
  } catch (e) {
    if (g.queue === false || !isUnreachable(e)) throw e
    const { describeTarget, resolveConnection } = await import('../core/db/target')
    const target = describeTarget(await resolveConnection({ databaseUrl: g.databaseUrl, dataDir })).label
    const entry = await withQueue(cmd, (q) => q.enqueue(cliContext(), edit, target))
    const reply: QueuedReply = {
      status: 'queued',
      id: entry.id,
      idempotencyKey: entry.idempotencyKey,
      operation: entry.operation,
      args: entry.args,
      basedOn: entry.basedOn,
      target,
      queuedAt: entry.createdAt,
      reason: (e as Error).message,
      note: entry.note
    }
    emit(cmd, reply, () =>
      [
        `${entry.note}.`,
        `The database (${target}) is unreachable, so the edit was queued as #${entry.id} (key ${entry.idempotencyKey}).`,
        'Run `netkeeper queue replay` when it is back; `netkeeper queue list` shows what is waiting.'
      ].join('\n')
    )
    return
  }
  try {
    await fn(core)
  } finally {
    await core.close()
  }
}

/** Prints a result: JSON when --json was given, otherwise the text the command renders. */
export function emit(cmd: Command, value: unknown, text: () => string): void {
  if (globals(cmd).json) process.stdout.write(JSON.stringify(value, null, 2) + '\n')
  else process.stdout.write(text().replace(/\n?$/, '\n'))
}

export function fail(cmd: Command | undefined, e: unknown): number {
  const err = e instanceof AppError ? e : toAppError(e)
  const json = cmd ? globals(cmd).json : process.argv.includes('--json')
  if (err.code === 'INTERNAL' && process.env.NETKEEPER_DEBUG === '1') console.error(e)
  if (json) process.stdout.write(JSON.stringify({ error: err.toPayload() }, null, 2) + '\n')
  process.stderr.write(`netkeeper: ${err.code.toLowerCase()}: ${err.message}\n`)
  return EXIT_FAILED
}

/** A usage error raised by a command's own argument checks (exit 2, like commander's). */
export class UsageError extends Error {}

/** Wraps a command action: runs it, prints a failure, sets the exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command
    try {
      await fn(...args)
    } catch (e) {
      if (e instanceof UsageError) {
        process.stderr.write(`netkeeper: usage: ${e.message}\n`)
        process.exitCode = EXIT_USAGE
        return
      }
      process.exitCode = fail(cmd, e)
    }
  }
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (!rows.length) return '(none)'
  const cell = (v: unknown): string => (v === null || v === undefined ? '' : String(v))
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n')
}

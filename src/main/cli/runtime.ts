/**
 * What every CLI command shares: global options, opening the core, printing results as text or JSON,
 * and mapping errors to exit codes (0 done, 1 the operation failed, 2 usage).
 *
 * Only light modules are imported here at the top: the core (and with it the database drivers, zod and
 * the rest) is loaded when a command runs, never to parse arguments or print help (docs/cli.md#start-up).
 */
import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Command } from 'commander'
import { AppError } from '../../shared/errors'
import type { Core, Room } from '../core'
import { makeContext, type RequestContext } from '../core/context'
import { isUnreachable, statementOf, toAppError } from '../core/db/errors'
import { resolveDataDir } from '../core/paths'
import type { OfflineQueue, TargetSnapshot } from '../core/offline/queue'
import type { DatabaseTarget } from '../../shared/types'
import type { OfflineEdit, QueueEntryDto } from '../../shared/offline'
import { trackCore } from './interrupt'
import { currentRequestId, logDir, openLog, withProcessRequest } from '../core/log'
import { ConfirmationNeeded, Declined, TypingInterrupted } from './terminal'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

export interface GlobalOptions {
  databaseUrl?: string
  /** --db-profile NAME: a saved database connection, or `embedded` (see core/db/target.ts for the order). */
  dbProfile?: string
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
  // One request id per command: its audit rows and its log lines carry the same one.
  return makeContext({ actor: `${os.userInfo().username}@cli`, roles: ['admin'], source: 'cli', requestId: currentRequestId() ?? randomUUID() })
}

/** The commands whose own `--profile` names the database connection (not the LDAP profile). */
const connectionOptionOn = new WeakSet<Command>()

/**
 * Gives every command under `top` a `--profile <name>` for the saved database connection to use, except
 * `db profile ...`, which manages the connections themselves (names are its arguments there).
 */
export function addConnectionOption(top: Command): void {
  const leaves = (c: Command): Command[] => (c.name() === 'profile' && c.parent?.name() === 'db' ? [] : c.commands.length ? c.commands.flatMap(leaves) : [c])
  for (const c of leaves(top)) {
    c.option('--profile <name>', 'saved database connection to use, or "embedded" (after --database-url and NETKEEPER_DATABASE_URL; before NETKEEPER_PROFILE and the active connection)')
    connectionOptionOn.add(c)
  }
}

/** The saved connection this run was asked for: --db-profile, or --profile where it means the database. */
export function profileOption(cmd: Command): string | undefined {
  const own = connectionOptionOn.has(cmd) ? (cmd.opts() as { profile?: string }).profile : undefined
  return globals(cmd).dbProfile ?? own
}

/** Where this run connects, as resolution options (flags, then the environment, see core/db/target.ts). */
export function connectionOptions(cmd: Command): { databaseUrl?: string; profile?: string; dataDir: string } {
  const g = globals(cmd)
  if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
  return { databaseUrl: g.databaseUrl, profile: profileOption(cmd), dataDir: resolveDataDir() }
}

const warned = new WeakSet<Command>()

/**
 * A saved connection with a weak TLS mode is named with its warning, on stderr (stdout stays the result),
 * once per run; so is a --profile that a database URL outranks.
 */
export function warnAboutTarget(cmd: Command, target: DatabaseTarget): void {
  const root = rootOf(cmd)
  if (warned.has(root)) return
  warned.add(root)
  const asked = profileOption(cmd)
  if (asked && (target.origin === 'flag' || target.origin === 'env')) {
    process.stderr.write(`netkeeper: warning: --profile ${asked} is ignored: ${target.origin === 'flag' ? '--database-url' : 'NETKEEPER_DATABASE_URL'} comes first\n`)
  }
  if (target.tlsWarning) process.stderr.write(`netkeeper: warning: connection ${target.connection ?? target.label}: ${target.tlsWarning}\n`)
}

function rootOf(cmd: Command): Command {
  let c = cmd
  while (c.parent) c = c.parent
  return c
}

/**
 * The command groups that need only the IPAM room of the core (and the outbox): their commands open the core
 * without loading the other rooms (core/rooms.ts), which load on first use if a command reaches them (a side
 * effect applied after an edit, a pool map's DHCP leases) or when the command asks (`core.load('dns')`).
 * Every other group gets all the rooms, as the app does.
 */
const IPAM_ONLY = new Set(['pool', 'ip', 'ipam', 'space', 'range', 'vlan', 'site', 'tag', 'field'])

/** The rooms a command's core is opened with: none beyond IPAM for the IPAM groups, otherwise all. */
function roomsFor(cmd: Command): Room[] | undefined {
  let top = cmd
  while (top.parent?.parent) top = top.parent
  return IPAM_ONLY.has(top.name()) ? [] : undefined
}

/** Opens the core on this run's connection (and warns about it, see warnAboutTarget). */
export async function openCore(cmd: Command, opts: { migrate: boolean }): Promise<Core> {
  const { Core } = await import('../core')
  const core = await Core.open({ ...connectionOptions(cmd), migrate: opts.migrate, rooms: roomsFor(cmd) })
  warnAboutTarget(cmd, core.db.target)
  return core
}

/** This run's connection without its password: the offline queue's key for it, its label, its warning. */
export async function intendedTarget(cmd: Command): Promise<DatabaseTarget> {
  const { describeTarget, resolveConnection } = await import('../core/db/target')
  const target = describeTarget(await resolveConnection({ ...connectionOptions(cmd), labelOnly: true }))
  warnAboutTarget(cmd, target)
  return target
}

export async function withCore<T>(cmd: Command, opts: { migrate: boolean }, fn: (core: Core) => Promise<T>): Promise<T> {
  const core = await openCore(cmd, opts)
  const untrack = trackCore(core)
  try {
    return await fn(core)
  } finally {
    await core.close()
    untrack()
  }
}

/**
 * A read that falls back on the last-known snapshot when the database server is unreachable: `stale` gets
 * that database's snapshot and the reason, and its answer carries `stale: { asOf, reason }`
 * (docs/offline.md). Text output says so on stderr first. Without a snapshot the original error stands.
 */
export async function withCoreOrStale(cmd: Command, fn: (core: Core) => Promise<void>, stale: (snapshot: TargetSnapshot, why: string) => void | Promise<void>): Promise<void> {
  const g = globals(cmd)
  let core: Core
  try {
    core = await openCore(cmd, { migrate: true })
  } catch (e) {
    if (!isUnreachable(e)) throw e
    const why = (e as Error).message
    const target = (await intendedTarget(cmd)).label
    await withQueue(cmd, async (q) => {
      const snap = q.snapshot(target)
      const at = snap.at()
      if (!at) throw e
      if (!g.json) process.stderr.write(`Last-known data from ${at}: ${why}\n`)
      await stale(snap, why)
    })
    return
  }
  const untrack = trackCore(core)
  try {
    await fn(core)
  } finally {
    await core.close()
    untrack()
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

/** Beside the offline queue: what each database's last remembered read was (rememberRead). */
const REMEMBERED_FILE = 'offline-remembered.json'
/** How long an unchanged read is not written to the snapshot again (its "last known as of" may lag by this). */
const REMEMBER_AGAIN_MS = 10 * 60_000

/**
 * Remembers what a read on a reachable server returned in the last-known snapshot (docs/offline.md), for the
 * reads of a later run that finds the server down. Opening the offline queue's SQLite costs a native module
 * and a write on every read, so the snapshot is written only when the answer differs from the one this data
 * folder last remembered for that database (by a hash of the answer, kept in a small JSON file beside the
 * queue), or that one is older than ten minutes. A repeated `pool list` then opens no SQLite; its stale read
 * says "last known as of" the first of the identical answers. Best effort: a failure here is never the command's.
 */
export async function rememberRead(cmd: Command, target: string, what: string, answer: unknown, write: (q: OfflineQueue) => void): Promise<void> {
  try {
    const g = globals(cmd)
    if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
    const file = path.join(resolveDataDir(), REMEMBERED_FILE)
    const key = `${target}\n${what}`
    const hash = createHash('sha256').update(JSON.stringify(answer)).digest('base64url')
    let seen: Record<string, { hash: string; at: number }> = {}
    try {
      seen = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof seen
    } catch {
      /* none yet, or unreadable: remember */
    }
    const last = seen[key]
    if (last && last.hash === hash && Date.now() - last.at < REMEMBER_AGAIN_MS) return
    await withQueue(cmd, write)
    seen[key] = { hash, at: Date.now() }
    // Entries older than a day go: the file stays small.
    for (const [k, v] of Object.entries(seen)) if (Date.now() - v.at > 86_400_000) delete seen[k]
    const tmp = `${file}.${process.pid}`
    fs.writeFileSync(tmp, JSON.stringify(seen), { mode: 0o600 })
    fs.renameSync(tmp, file)
  } catch {
    /* the snapshot is a convenience: the command's answer stands */
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
 * change may or may not have committed. `beforeQueue` runs before an edit is queued (a confirmation).
 */
export async function withCoreOrQueue(cmd: Command, edit: OfflineEdit, fn: (core: Core) => Promise<void>, beforeQueue?: () => Promise<void>): Promise<void> {
  const g = globals(cmd)
  let core: Core
  try {
    core = await openCore(cmd, { migrate: true })
  } catch (e) {
    if (g.queue === false || !isUnreachable(e)) throw e
    const target = (await intendedTarget(cmd)).label
    // A destructive edit asks (or needs --yes) before it is queued too.
    await beforeQueue?.()
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
  const untrack = trackCore(core)
  try {
    await fn(core)
    await applySideEffects(core)
  } finally {
    await core.close()
    untrack()
  }
}

/**
 * After a change: applies the side effects it queued (DNS updates, DHCP reservations) before the command
 * exits, for a few seconds at most. What cannot be applied now stays queued (the app's worker or
 * `netkeeper outbox run` applies it later); stderr says so.
 */
export async function applySideEffects(core: Core, timeoutMs = 8000): Promise<void> {
  const r = await core.outbox.drain(timeoutMs).catch((e: unknown) => {
    process.stderr.write(`netkeeper: warning: side effects not applied now: ${(e as Error).message}\n`)
    return null
  })
  if (!r) return
  if (r.retrying || r.conflict || r.failed) {
    const parts = [r.retrying ? `${r.retrying} waiting to be retried` : '', r.conflict ? `${r.conflict} in conflict` : '', r.failed ? `${r.failed} refused` : ''].filter(Boolean)
    process.stderr.write(`netkeeper: note: side effects (DNS/DHCP): ${parts.join(', ')}; see \`netkeeper outbox status\`\n`)
  }
}

/** Prints a result: JSON when --json was given, otherwise the text the command renders. */
export function emit(cmd: Command, value: unknown, text: () => string): void {
  if (globals(cmd).json) process.stdout.write(JSON.stringify(value, null, 2) + '\n')
  else process.stdout.write(text().replace(/\n?$/, '\n'))
}

/** "ip search": the command's names below the program. */
function commandPath(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name())
  return names.join(' ') || 'netkeeper'
}

export function fail(cmd: Command | undefined, e: unknown): number {
  const err = e instanceof AppError ? e : toAppError(e)
  const json = cmd ? globals(cmd).json : process.argv.includes('--json')
  if (err.code === 'INTERNAL' && process.env.NETKEEPER_DEBUG === '1') {
    console.error(e)
    const sql = statementOf(e)
    if (sql) console.error(`statement: ${sql}`)
  }
  // An unexpected failure names the command that failed and where its details went (the log in the data
  // folder, with the statement and the stack); the statement never reaches the message.
  let message = err.message
  if (err.code === 'INTERNAL') {
    const what = cmd ? `${commandPath(cmd)} failed` : 'failed'
    message = `${what}: ${err.message}`
    try {
      const g = cmd ? globals(cmd) : {}
      if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
      const log = openLog({ dir: logDir(resolveDataDir()), file: 'cli.log' })
      log.error('cli', `${what}:`, e)
      message += `; details in the log: ${log.file}`
    } catch {
      /* no log to point at: the message stands alone */
    }
  }
  if (json) process.stdout.write(JSON.stringify({ error: { ...err.toPayload(), message } }, null, 2) + '\n')
  process.stderr.write(`netkeeper: ${err.code.toLowerCase()}: ${message}\n`)
  return EXIT_FAILED
}

/** A usage error raised by a command's own argument checks (exit 2, like commander's). */
export class UsageError extends Error {}

/**
 * Wraps a command action: runs it under a request id of its own (core/log.ts; process-wide, since a command
 * is its process's one request), prints a failure, sets the exit code.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return (...args: A) => withProcessRequest(randomUUID(), () => runAction(fn, args))
}

async function runAction<A extends unknown[]>(fn: (...args: A) => Promise<void>, args: A): Promise<void> {
  const cmd = args[args.length - 1] as Command
  try {
    await fn(...args)
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfirmationNeeded) {
      process.stderr.write(`netkeeper: usage: ${e.message}\n`)
      process.exitCode = EXIT_USAGE
      return
    }
    if (e instanceof Declined || e instanceof TypingInterrupted) {
      process.stderr.write(`netkeeper: cancelled: ${e.message}\n`)
      process.exitCode = e instanceof Declined ? EXIT_FAILED : 130
      return
    }
    process.exitCode = fail(cmd, e)
  }
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (!rows.length) return '(none)'
  const cell = (v: unknown): string => (v === null || v === undefined ? '' : String(v))
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n')
}

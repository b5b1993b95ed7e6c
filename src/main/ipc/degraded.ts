/**
 * When the core cannot open (server down, wrong password, a database newer than this build, the embedded
 * store locked by another process...), the window still opens and says why. This module supplies:
 *
 * - `createDegradedHandlers`: a handler table for every contract channel that answers `app:info` and
 *   `db:health` honestly (reachable: false, with the error), serves the database profile settings (so the
 *   connection can be fixed from the app) and refuses everything else as UNAVAILABLE;
 * - `CoreHost`: owns the core for a transport (Electron IPC or the browser harness), hands out the live or
 *   the degraded table, and retries opening the core when someone asks for `db:health` while degraded, so
 *   "Check connection" recovers once the server is back without restarting the app; and reopens the core
 *   on another saved connection when asked (`switchTo`, reached from the settings handlers through the
 *   HostControl it hands them), also without a restart.
 */
import { channels } from '../../shared/contract'
import { AppError } from '../../shared/errors'
import { EMBEDDED_CONNECTION } from '../../shared/schemas'
import type { DatabaseTarget, HealthReport, SwitchResult } from '../../shared/types'
import { Core, type CoreOptions } from '../core'
import { isUnreachable, toAppError } from '../core/db/errors'
import { connectionOverride, describeTarget, redactUrl, resolveConnection } from '../core/db/target'
import { savedDbPassword } from '../core/credentials/db-password'
import { keychain } from '../core/credentials/keychain'
import { resolveDataDir } from '../core/paths'
import { ConnectionService } from '../core/settings/connections'
import { chooseOpenFile, noFileDialogs, type FileDialogs } from './file-export'
import { createHandlers, degradedOfflineHandlers, offlineHandlers, offlineRuntime, type Handler, type HandlerTable } from './handlers'
import { settingsHandlers, type HostControl } from './settings'
import { FirstScreenGate } from './first-screen'

declare const __APP_VERSION__: string | undefined

/** Same rule as the live `app:info` handler: the version baked in at build time, else npm's. */
function appVersion(): string {
  return typeof __APP_VERSION__ === 'string' ? __APP_VERSION__ : (process.env.npm_package_version ?? '0.0.0')
}

export interface DegradedState {
  dataDir: string
  target: DatabaseTarget
  error: AppError
}

/** The health answer while degraded: unreachable, with the reason. */
export function unreachableReport(state: DegradedState): HealthReport {
  return { reachable: false, target: state.target, error: state.error.message, checkedAt: new Date().toISOString() }
}

/**
 * `retry` is tried on `db:health`: it returns the report to answer with (live once the core opened, or
 * unreachable with the latest error). `host` lets the Connections screen switch to another connection;
 * `dialogs` its "Choose…" for a CA file.
 */
export function createDegradedHandlers(state: DegradedState, retry?: () => Promise<HealthReport>, host?: HostControl, dialogs: FileDialogs = noFileDialogs): HandlerTable {
  const refuse: Handler<never> = async () => {
    throw new AppError('UNAVAILABLE', `the database is not open: ${state.error.message}`)
  }
  // Every channel the contract knows, so new channels are covered without touching this file.
  const table = Object.fromEntries(channels.map((c) => [c, refuse])) as unknown as HandlerTable
  return {
    ...table,
    ...settingsHandlers(state.dataDir, undefined, host),
    // Queued edits can be listed, cancelled and retried while the database is down (replay refuses).
    ...offlineHandlers(state.dataDir, undefined, { error: state.error.message, target: state.target.label }),
    // Unreachable (not refused, not misconfigured): IPAM edits queue for that database, reads show the
    // last-known data, marked stale.
    ...(isUnreachable(state.error) ? degradedOfflineHandlers(state.dataDir, state.target.label, state.error.message) : {}),
    'app:info': async () => ({ version: appVersion(), platform: process.platform, dataDir: state.dataDir, target: state.target }),
    'db:health': async () => (retry ? retry() : unreachableReport(state)),
    // A connection's CA file can be chosen while fixing it.
    'dialog:open-file': (a) => chooseOpenFile(dialogs, a.purpose)
  }
}

/** Best-effort description of where we tried to connect, for the degraded answers. Never throws. */
export async function describeIntendedTarget(opts: CoreOptions): Promise<DatabaseTarget> {
  const dataDir = opts.dataDir ?? resolveDataDir()
  try {
    return describeTarget(await resolveConnection({ databaseUrl: opts.databaseUrl, profile: opts.profile, dataDir, labelOnly: true }))
  } catch {
    // The settings themselves are broken (bad URL, unreadable profile): say where they came from.
    const url = opts.databaseUrl ?? process.env.NETKEEPER_DATABASE_URL
    if (url) return { kind: 'postgresql', origin: opts.databaseUrl ? 'flag' : 'env', label: redactUrl(url) }
    return { kind: 'postgresql', origin: 'profile', label: '(the saved connection profile could not be read)' }
  }
}

type HostState =
  | { kind: 'opening' }
  | { kind: 'open'; core: Core; table: HandlerTable }
  | { kind: 'degraded'; info: DegradedState; table: HandlerTable }

/**
 * Channels whose answer waits for the background work the gate holds back: counted, they would wait for
 * themselves (a replay asked from the queue drawer refreshes the snapshot, which steps aside while any
 * counted request is in flight).
 */
const UNTRACKED: ReadonlySet<string> = new Set(['offline:queue:replay'])

/** Every handler of `table`, counted by `gate` while it runs (the window's requests; see first-screen.ts). */
function tracked(table: HandlerTable, gate: FirstScreenGate): HandlerTable {
  const out = {} as Record<string, Handler<never>>
  for (const [channel, handler] of Object.entries(table) as [string, Handler<never>][]) {
    out[channel] = UNTRACKED.has(channel) ? handler : (args, ctx) => gate.track(() => handler(args, ctx))
  }
  return out as unknown as HandlerTable
}

export class CoreHost {
  private state: HostState = { kind: 'opening' }
  /** The window's requests go first: upkeep starts once the first screen has been served (first-screen.ts). */
  readonly gate = new FirstScreenGate()
  private attempt?: Promise<void>
  private switching?: Promise<SwitchResult>
  private closed = false
  /** Handed to the tables: what the settings handlers may ask of this host. */
  private readonly control: HostControl = {
    current: () => this.currentConnection(),
    pinnedBy: () => this.pinnedBy(),
    overriddenBy: () => this.pinnedBy() ?? (this.options.profile ? undefined : connectionOverride({})),
    switchTo: (name) => this.switchTo(name)
  }

  private constructor(
    private options: CoreOptions,
    /** False when the caller handed in its own core: it stays the caller's to close. */
    private owned: boolean,
    /** The shell's file dialogs, handed to the live table (see createHandlers). */
    private readonly dialogs?: FileDialogs
  ) {}

  /** Starts opening the core in the background; `handlers()` waits for the outcome. */
  static start(options: CoreOptions, dialogs?: FileDialogs): CoreHost {
    const host = new CoreHost(options, true, dialogs)
    host.attempt = host.tryOpen().finally(() => (host.attempt = undefined))
    return host
  }

  /** Serves an already open core (tests, the harness with an injected core). */
  static fromCore(core: Core, dialogs?: FileDialogs): CoreHost {
    const host = new CoreHost({ dataDir: core.dataDir, migrate: true }, false, dialogs)
    host.state = { kind: 'open', core, table: createHandlers(core, dialogs, host.control) }
    return host
  }

  /** Resolves once the first open attempt has finished, whatever its outcome. */
  async ready(): Promise<void> {
    if (this.state.kind === 'opening') await this.attempt
  }

  /** The table to dispatch to: the live one, or the degraded one when the core could not open. */
  async handlers(): Promise<HandlerTable> {
    await this.ready()
    if (this.closed) throw new AppError('UNAVAILABLE', 'the application is shutting down')
    if (this.state.kind === 'opening') throw new AppError('INTERNAL', 'the core was never opened')
    return this.state.table
  }

  /** Why the core is not open; undefined when it is open or still opening. */
  get failure(): AppError | undefined {
    return this.state.kind === 'degraded' ? this.state.info.error : undefined
  }

  /** The open core, if there is one (tests). */
  get core(): Core | undefined {
    return this.state.kind === 'open' ? this.state.core : undefined
  }

  private currentConnection(): string | undefined {
    const target = this.state.kind === 'open' ? this.state.core.db.target : this.state.kind === 'degraded' ? this.state.info.target : undefined
    return target?.connection
  }

  /** A URL decides where this host connects (flag or environment): saved connections do not. */
  private pinnedBy(): string | undefined {
    if (this.options.databaseUrl) return '--database-url'
    if (process.env.NETKEEPER_DATABASE_URL) return 'NETKEEPER_DATABASE_URL'
    return undefined
  }

  private async tryOpen(): Promise<void> {
    try {
      const core = await Core.open(this.options)
      if (this.closed) {
        await core.close()
        return
      }
      this.serve(core)
    } catch (e) {
      const error = toAppError(e)
      console.error(`[core] could not open the database: ${error.message}`)
      const info: DegradedState = {
        dataDir: this.options.dataDir ?? resolveDataDir(),
        target: await describeIntendedTarget(this.options),
        error
      }
      this.state = { kind: 'degraded', info, table: createDegradedHandlers(info, () => this.retry(), this.control, this.dialogs) }
    }
  }

  /**
   * Serves an open core: its live table, its upkeep and its offline runtime. The upkeep that reads much
   * (maintenance, the start-up replay and snapshot) waits until the window's first screen has been served,
   * and the snapshot steps aside for the window's requests (first-screen.ts); the outbox starts at once
   * (one query when nothing is pending, and a queued DNS update should not wait for a window).
   */
  private serve(core: Core): void {
    this.state = { kind: 'open', core, table: tracked(createHandlers(core, this.dialogs, this.control), this.gate) }
    // Side effects (DNS updates, DHCP reservations) queued in the outbox are applied in this process.
    core.startOutbox()
    // A long-running host keeps the audit log within its retention: a purge then and daily after. Until it
    // starts, Settings' outlook names the latest moment it will.
    core.planMaintenance(this.gate.latestOpenAt)
    void this.gate.firstScreen.then(() => {
      if (!this.closed && this.state.kind === 'open' && this.state.core === core) core.startMaintenance()
    })
    // ...and watches the database: edits queue while it is down, replay when it is back (and at start, for
    // edits queued by the CLI or while this window was degraded), reads fall back on the snapshot. Each
    // connection has its own queue entries and snapshot (keyed by its target label).
    offlineRuntime(core).start({ after: this.gate.firstScreen, idle: () => this.gate.idle() })
  }

  /** One reopen attempt at a time; every caller waiting on it gets the same outcome. */
  private async retry(): Promise<HealthReport> {
    if (!this.closed) {
      this.attempt ??= this.tryOpen().finally(() => (this.attempt = undefined))
      await this.attempt
    }
    const state = this.state
    if (state.kind === 'open') return state.core.db.health()
    if (state.kind === 'degraded') return unreachableReport(state.info)
    throw new AppError('INTERNAL', 'the core was never opened')
  }

  /**
   * Reopens the core on the saved connection `name` (or `embedded`) without restarting the app, and makes
   * it the active connection. The new one is opened (and migrated) before the current one closes: when it
   * cannot be opened the app stays where it was and the error says why. One switch at a time; requests
   * that arrive meanwhile are served by the current core until the new one takes over.
   */
  switchTo(name: string): Promise<SwitchResult> {
    const run = async (): Promise<SwitchResult> => {
      await this.ready()
      await this.attempt?.catch(() => undefined)
      if (this.closed) throw new AppError('UNAVAILABLE', 'the application is shutting down')
      const pinned = this.pinnedBy()
      if (pinned) {
        throw new AppError('CONFLICT', `this app was started with ${pinned}, which comes before saved connections; start it without ${pinned} to switch`, {
          pinnedBy: pinned
        })
      }
      const dataDir = this.options.dataDir ?? resolveDataDir()
      const connections = new ConnectionService(dataDir)
      // A name that is not saved is refused before anything is closed.
      const saved = name.toLowerCase() === EMBEDDED_CONNECTION ? undefined : (await connections.get(name)).profile
      const canonical = saved?.name ?? EMBEDDED_CONNECTION
      // A saved password that would not be sent (another endpoint, a weaker TLS mode) is said as such, before
      // anything connects: the person enters it again in the connection's form.
      if (saved && process.env.NETKEEPER_DB_PASSWORD === undefined) await savedDbPassword(keychain, saved, saved)
      const before = this.state
      if (before.kind === 'open' && before.core.db.target.connection === canonical) {
        connections.use(canonical)
        return { target: before.core.db.target, health: await before.core.db.health() }
      }
      const next: CoreOptions = { ...this.options, profile: canonical }
      const core = await Core.open(next)
      try {
        connections.use(canonical)
      } catch (e) {
        await core.close().catch(() => undefined)
        throw e
      }
      this.options = next
      const wasOwned = this.owned
      this.serve(core)
      this.owned = true
      console.info(`[core] switched to ${core.db.target.label}`)
      if (before.kind === 'open' && wasOwned) {
        await offlineRuntime(before.core)
          .close()
          .catch(() => undefined)
        await before.core.close().catch((e) => console.error('[core] closing the previous database failed:', toAppError(e).message))
      }
      return { target: core.db.target, health: await core.db.health() }
    }
    const p = (this.switching ?? Promise.resolve()).catch(() => undefined).then(run)
    this.switching = p
    void p.finally(() => {
      if (this.switching === p) this.switching = undefined
    }).catch(() => undefined)
    return p
  }

  async close(): Promise<void> {
    this.closed = true
    this.gate.close()
    await this.attempt?.catch(() => undefined)
    await this.switching?.catch(() => undefined)
    if (this.state.kind === 'open' && this.owned) {
      await offlineRuntime(this.state.core).close()
      await this.state.core.close()
    }
  }
}

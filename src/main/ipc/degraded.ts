/**
 * When the core cannot open (server down, wrong password, a database newer than this build, the embedded
 * store locked by another process...), the window still opens and says why. This module supplies:
 *
 * - `createDegradedHandlers`: a handler table for every contract channel that answers `app:info` and
 *   `db:health` honestly (reachable: false, with the error), serves the database profile settings (so the
 *   connection can be fixed from the app) and refuses everything else as UNAVAILABLE;
 * - `CoreHost`: owns the core for a transport (Electron IPC or the browser harness), hands out the live or
 *   the degraded table, and retries opening the core when someone asks for `db:health` while degraded, so
 *   "Check connection" recovers once the server is back without restarting the app.
 */
import { channels } from '../../shared/contract'
import { AppError } from '../../shared/errors'
import type { DatabaseTarget, HealthReport } from '../../shared/types'
import { Core, type CoreOptions } from '../core'
import { isUnreachable, toAppError } from '../core/db/errors'
import { describeTarget, redactUrl, resolveConnection } from '../core/db/target'
import { resolveDataDir } from '../core/paths'
import type { FileDialogs } from './file-export'
import { createHandlers, degradedOfflineHandlers, offlineHandlers, offlineRuntime, settingsHandlers, type Handler, type HandlerTable } from './handlers'

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
 * unreachable with the latest error).
 */
export function createDegradedHandlers(state: DegradedState, retry?: () => Promise<HealthReport>): HandlerTable {
  const refuse: Handler<never> = async () => {
    throw new AppError('UNAVAILABLE', `the database is not open: ${state.error.message}`)
  }
  // Every channel the contract knows, so new channels are covered without touching this file.
  const table = Object.fromEntries(channels.map((c) => [c, refuse])) as unknown as HandlerTable
  return {
    ...table,
    ...settingsHandlers(state.dataDir),
    // Queued edits can be listed, cancelled and retried while the database is down (replay refuses).
    ...offlineHandlers(state.dataDir, undefined, { error: state.error.message, target: state.target.label }),
    // Unreachable (not refused, not misconfigured): IPAM edits queue for that database, reads show the
    // last-known data, marked stale.
    ...(isUnreachable(state.error) ? degradedOfflineHandlers(state.dataDir, state.target.label, state.error.message) : {}),
    'app:info': async () => ({ version: appVersion(), platform: process.platform, dataDir: state.dataDir, target: state.target }),
    'db:health': async () => (retry ? retry() : unreachableReport(state))
  }
}

/** Best-effort description of where we tried to connect, for the degraded answers. Never throws. */
export async function describeIntendedTarget(opts: CoreOptions): Promise<DatabaseTarget> {
  const dataDir = opts.dataDir ?? resolveDataDir()
  try {
    return describeTarget(await resolveConnection({ databaseUrl: opts.databaseUrl, dataDir, labelOnly: true }))
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

export class CoreHost {
  private state: HostState = { kind: 'opening' }
  private attempt?: Promise<void>
  private closed = false

  private constructor(
    private readonly options: CoreOptions,
    /** False when the caller handed in its own core: it stays the caller's to close. */
    private readonly owned: boolean,
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
    const host = new CoreHost({ dataDir: core.dataDir }, false, dialogs)
    host.state = { kind: 'open', core, table: createHandlers(core, dialogs) }
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

  private async tryOpen(): Promise<void> {
    try {
      const core = await Core.open(this.options)
      if (this.closed) {
        await core.close()
        return
      }
      this.state = { kind: 'open', core, table: createHandlers(core, this.dialogs) }
      // A long-running host keeps the audit log within its retention: a purge now and then daily.
      core.startMaintenance()
      // ...and watches the database: edits queue while it is down, replay when it is back (and now, for
      // edits queued by the CLI or while this window was degraded), reads fall back on the snapshot.
      offlineRuntime(core).start()
    } catch (e) {
      const error = toAppError(e)
      console.error(`[core] could not open the database: ${error.message}`)
      const info: DegradedState = {
        dataDir: this.options.dataDir ?? resolveDataDir(),
        target: await describeIntendedTarget(this.options),
        error
      }
      this.state = { kind: 'degraded', info, table: createDegradedHandlers(info, () => this.retry()) }
    }
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

  async close(): Promise<void> {
    this.closed = true
    await this.attempt?.catch(() => undefined)
    if (this.state.kind === 'open' && this.owned) {
      await offlineRuntime(this.state.core).close()
      await this.state.core.close()
    }
  }
}

/**
 * The core: every capability of Netkeeper behind one object, with no Electron import. The Electron main
 * process, the CLI, the browser test bridge and the tests all build it the same way.
 */
import { Database, type ServerRole } from './db/database'
import { resolveConnection, type ConnectionSpec } from './db/target'
import { resolveDataDir } from './paths'
import { IpamService } from './ipam/service'
import type { ImportSearchIndexer } from './audit/search-index'
import type { AuditService } from './audit/service'
import type { SinkStore } from './audit/forward/sinks'
import type { AuditForwarder } from './audit/forward/forwarder'
import type { ForwardStatus } from '../../shared/audit-forward'
import { keychain, type SecretStore } from './credentials/keychain'
import type { PurgeOutlook } from '../../shared/audit'
import type { RequestContext } from './context'
import type { ImporterService } from './importer/service'
import type { IpamCsvService } from './ipam/csv-import'
import { makeContext } from './context'
import type { DirectoryService } from './directory/service'
import type { AuthService } from './auth/service'
import { withRequest } from './log'
import { Outbox, type OutboxHandler } from './outbox/outbox'
import type { DnsService } from './dns/service'
import type { DhcpService } from './dhcp/service'
import type { PeopleService } from './people'
import { ALL_ROOMS, ROOM_NEEDS, roomLoaders, type Room, type RoomModules } from './rooms'

export type { Room } from './rooms'

export interface CoreOptions {
  databaseUrl?: string
  /** A saved connection by name, or `embedded` (--profile; see db/target.ts for what outranks it). */
  profile?: string
  dataDir?: string
  /** Apply pending migrations on open (the app and most CLI commands do; `db status` does not). */
  migrate?: boolean
  /** Where TSIG secrets and Kea passwords are kept: the OS keychain unless given (benchmarks, automation). */
  secrets?: SecretStore
  /**
   * The rooms to load before the core is handed out (core/rooms.ts): all of them unless given. The CLI names
   * none for IPAM commands: a room is loaded later on first use through an async path, or by `load()`.
   */
  rooms?: readonly Room[]
}

export class Core {
  readonly ipam: IpamService
  /** Side effects outside the database (DNS, DHCP), applied by a worker (core/outbox). */
  readonly outbox: Outbox
  /** The app's forwarder, while forwarding in the app is on (settings.json audit.forwardInApp). */
  private forwarder: AuditForwarder | null = null
  private maintenance?: NodeJS.Timeout
  private anchoring?: NodeJS.Timeout
  /** When the background purge runs next (startMaintenance). */
  private nextPurgeAt: number | null = null
  /** Set by a host whose upkeep starts later (after its first screen): upkeep starts by then at the latest. */
  private maintenanceBy: number | null = null
  /** The rooms' modules loaded so far, and the loads in flight (load()). */
  private readonly mods: Partial<RoomModules> = {}
  private readonly loading = new Map<Room, Promise<void>>()
  /** The rooms' services, built on first access from their loaded modules. */
  private readonly built: {
    dns?: DnsService
    dhcp?: DhcpService
    audit?: AuditService
    sinks?: SinkStore
    auditSearch?: ImportSearchIndexer
    directory?: DirectoryService
    auth?: AuthService
    people?: PeopleService
    importer?: ImporterService
    ipamCsv?: IpamCsvService
  } = {}

  private constructor(
    readonly db: Database,
    readonly dataDir: string,
    /** What the server grants this login; the app's roles may narrow it, never widen it. */
    readonly serverRole: ServerRole | null,
    private readonly secrets: SecretStore = keychain
  ) {
    this.outbox = new Outbox(db.knex)
    // The DNS and DHCP handlers load their rooms when the worker first meets a row of theirs.
    // Both read from the database before they await the row's durability (OutboxHandler.readsFirst).
    const lazyHandler = (room: 'dns' | 'dhcp', handler: () => OutboxHandler): OutboxHandler => ({
      readsFirst: true,
      apply: async (row, ctx) => {
        await this.load(room)
        const h = handler()
        if (!h.readsFirst) await ctx.durable()
        return h.apply(row, ctx)
      }
    })
    this.outbox.register('dns', lazyHandler('dns', () => this.dnsHandler))
    this.outbox.register('dhcp', lazyHandler('dhcp', () => this.dhcp))
    this.ipam = new IpamService(
      db.knex,
      // An allocation's rows are written by triggers, which NOTIFY the listening worker on commit.
      () => this.outbox.kick({ notified: true }),
      async (poolId) => {
        await this.load('dhcp')
        return this.dhcp.mapLeases(poolId)
      }
    )
  }

  /**
   * Loads rooms (core/rooms.ts) and what they are built with; a room already loaded costs nothing. The
   * services of a room are there, as properties, once its load has resolved.
   */
  async load(...rooms: Room[]): Promise<void> {
    const one = (room: Room): Promise<void> => {
      let p = this.loading.get(room)
      if (!p) {
        p = Promise.all([roomLoaders[room](), ...ROOM_NEEDS[room].map(one)]).then(([mod]) => {
          ;(this.mods as Record<Room, unknown>)[room] = mod
        })
        this.loading.set(room, p)
        // A failed load (a missing file in a broken install) may be tried again.
        p.catch(() => this.loading.delete(room))
      }
      return p
    }
    await Promise.all(rooms.map(one))
  }

  /** A loaded room's modules; a room that was not loaded is a programming error (load() it first). */
  private mod<R extends Room>(room: R): RoomModules[R] {
    const m = this.mods[room]
    if (!m) throw new Error(`core: the ${room} room is not loaded (call core.load('${room}') or open the core with it)`)
    return m
  }

  private dnsHandlerBuilt?: OutboxHandler
  private get dnsHandler(): OutboxHandler {
    return (this.dnsHandlerBuilt ??= new (this.mod('dns').DnsOutboxHandler)(this.db.knex, this.dns.servers))
  }

  /** Name servers, zones, records following allocations, drift (core/dns). */
  get dns(): DnsService {
    return (this.built.dns ??= new (this.mod('dns').DnsService)(this.db.knex, this.secrets, () => this.ipam))
  }

  /** Kea host reservations following allocations, leases, drift (core/dhcp). */
  get dhcp(): DhcpService {
    return (this.built.dhcp ??= new (this.mod('dhcp').DhcpService)(this.db.knex, this.secrets, () => this.ipam))
  }

  /** The sinks the audit log is forwarded to (core/audit/forward). */
  get sinks(): SinkStore {
    return (this.built.sinks ??= new (this.mod('audit').SinkStore)(this.db.knex, keychain))
  }

  get audit(): AuditService {
    if (this.built.audit) return this.built.audit
    const m = this.mod('audit')
    const db = this.db
    const dataDir = this.dataDir
    return (this.built.audit = new m.AuditService(
      db.knex,
      () => m.archiveTarget(dataDir, db.target.label),
      new m.AuditSigningKeys(dataDir, keychain),
      () => m.anchorSettings(dataDir),
      (sink, a) => m.sendAnchorToSink(this.sinks, sink, a),
      () => db.reads()
    ))
  }

  /** Builds the text-search index of imported audit rows after each import commits (audit/search-index.ts). */
  get auditSearch(): ImportSearchIndexer {
    return (this.built.auditSearch ??= new (this.mod('audit').ImportSearchIndexer)(this.db.knex))
  }

  /** LDAP profiles, users and groups (core/directory). */
  get directory(): DirectoryService {
    return (this.built.directory ??= new (this.mod('directory').DirectoryService)(this.db.knex, this.dataDir))
  }

  /** Directory sign-in, sessions and command scopes (core/auth). */
  get auth(): AuthService {
    return (this.built.auth ??= new (this.mod('directory').AuthService)(this.db.knex, this.directory, this.serverRole))
  }

  /** Directory people and their addresses (core/people.ts). */
  get people(): PeopleService {
    return (this.built.people ??= new (this.mod('directory').PeopleService)(this.directory, this.ipam))
  }

  get importer(): ImporterService {
    return (this.built.importer ??= new (this.mod('importer').ImporterService)(this.db.knex, () => this.auditSearch.kick()))
  }

  /** IPAM CSV in and out (docs/ipam.md#csv-in-and-out). */
  get ipamCsv(): IpamCsvService {
    return (this.built.ipamCsv ??= new (this.mod('importer').IpamCsvService)(this.db.knex, () => this.auditSearch.kick()))
  }

  /** Purging is an admin's right on the server: other logins leave it to someone who has it. */
  private get runsPurges(): boolean {
    return this.serverRole === 'owner' || this.serverRole === 'admin'
  }

  /**
   * Background upkeep for long-running hosts (the app, the web harness): the audit log's monthly partitions
   * ahead of time, the daily utilization snapshot of
   * every pool and the audit retention purge, once at start and then daily, and the text-search index of imported audit rows left behind by another
   * process (a CLI import, say) at start. The purge removes only rows of types with an active retention
   * policy, and archives them first; without a policy it removes nothing. Errors are logged, never thrown:
   * upkeep must not take the app down.
   */
  /** Says that startMaintenance() will be called, at the latest at `by` (epoch ms): the purge outlook counts on it. */
  planMaintenance(by: number): void {
    if (!this.maintenance) this.maintenanceBy = by
  }

  startMaintenance(intervalMs = 24 * 3600_000): void {
    if (this.maintenance) return
    const run = async (): Promise<void> => {
      this.nextPurgeAt = Date.now() + intervalMs
      // The audit log's partitions for this month and the next two (a row of a month without one still goes
      // in, to the default partition, and moves to its month the next time this runs).
      try {
        const n = await this.audit.ensurePartitions()
        if (n) console.info(`[audit] created ${n} monthly partition(s) of the audit log`)
      } catch (e) {
        console.error('[audit] could not create the audit log\'s partitions ahead:', (e as Error).message)
      }
      // Today's utilization of every pool (any role may: the server function derives every number).
      try {
        const n = await this.ipam.snapshotUsage(makeContext({ actor: 'netkeeper (usage)', source: 'ui' }))
        if (n) console.info(`[usage] took today's utilization snapshot of ${n} pool(s)`)
      } catch (e) {
        console.error('[usage] the utilization snapshot failed:', (e as Error).message)
      }
      if (!this.runsPurges) return
      const ctx = makeContext({ actor: 'netkeeper (retention)', roles: ['admin'], source: 'ui' })
      // Its log lines carry the purge's request id, as its audit row does.
      await withRequest(ctx.requestId, async () => {
        try {
          const r = await this.audit.purge(ctx)
          if (r.rows) console.info(`[retention] purged ${r.rows} audit row(s) in ${r.ranges} run(s), archived first to ${r.archive?.file}`)
        } catch (e) {
          console.error('[retention] purge failed (nothing was removed):', (e as Error).message)
        }
      })
    }
    void run()
    this.auditSearch.kick()
    this.maintenance = setInterval(() => void run(), intervalMs)
    this.maintenance.unref()
    this.startAnchoring()
    if (this.forwardInApp) this.startForwarding()
  }

  /** Whether this installation's app forwards the audit log (settings.json `audit.forwardInApp`). */
  get forwardInApp(): boolean {
    try {
      return new (this.mod('audit').SettingsStore)(this.dataDir).read().audit?.forwardInApp === true
    } catch {
      return false
    }
  }

  /** A forwarder over this core's database (the CLI's `audit forward` makes its own with its options). */
  makeForwarder(opts: Partial<ConstructorParameters<typeof AuditForwarder>[2]> = {}): AuditForwarder {
    return new (this.mod('audit').AuditForwarder)(this.db.knex, keychain, { database: this.db.target.label, version: process.env.npm_package_version, log: (l) => console.warn(l), ...opts })
  }

  /** Starts the app's forwarder (a follower), when it is not running. */
  startForwarding(): void {
    if (this.forwarder) return
    const f = this.makeForwarder()
    this.forwarder = f
    f.follow().catch((e) => console.error('[forward] stopped:', (e as Error).message))
  }

  async stopForwarding(): Promise<void> {
    const f = this.forwarder
    this.forwarder = null
    await f?.stop()
  }

  /** Turns forwarding in this app on or off (saved in settings.json) and starts or stops it, when this host runs upkeep. */
  async setForwardInApp(enabled: boolean): Promise<ForwardStatus['inApp']> {
    const store = new (this.mod('audit').SettingsStore)(this.dataDir)
    const settings = store.read()
    store.write({ ...settings, audit: { ...settings.audit, forwardInApp: enabled } })
    if (!enabled) await this.stopForwarding()
    else if (this.maintenance) this.startForwarding()
    return { enabled, running: this.forwarder?.isRunning ?? false }
  }

  /** Each sink's cursor, backlog, last error and next retry, and whether this app forwards. */
  async forwardStatus(ctx: RequestContext): Promise<ForwardStatus> {
    return {
      headSeq: await this.sinks.headSeq(),
      sinks: await this.sinks.list(ctx),
      inApp: { enabled: this.forwardInApp, running: this.forwarder?.isRunning ?? false }
    }
  }

  /**
   * Anchors the chain head to the configured file (settings.json `audit.anchorFile`) now and every
   * `audit.anchorEveryMinutes` (10 by default), whenever it moved; purges anchor on their own.
   */
  private startAnchoring(): void {
    let settings: ReturnType<RoomModules['audit']['anchorSettings']>
    try {
      settings = this.mod('audit').anchorSettings(this.dataDir)
    } catch (e) {
      console.error('[anchor] cannot read the anchor settings:', (e as Error).message)
      return
    }
    if (!settings.file && !settings.sink) return
    let last: string | null = null
    const run = async (): Promise<void> => {
      try {
        const head = (await this.db.knex.raw<{ rows: { h: string }[] }>(`select last_seq::text || ':' || last_hash as h from audit_chain_head where id = 1`)).rows[0]!.h
        if (head === last) return
        const a = await this.audit.anchor(makeContext({ actor: 'netkeeper (anchor)', source: 'ui' }))
        last = `${a.seq}:${a.hash}`
      } catch (e) {
        console.error('[anchor] could not anchor the audit chain head:', (e as Error).message)
      }
    }
    void run()
    this.anchoring = setInterval(() => void run(), settings.everyMinutes * 60_000)
    this.anchoring.unref()
  }

  /** What this app's next background purge will remove, and when (Settings shows it before it happens). */
  async purgeOutlook(ctx: RequestContext): Promise<PurgeOutlook> {
    const archiveDir = this.audit.archiveFolder().dir
    // Upkeep planned but not started yet (the host waits for its first screen): its first purge runs when it
    // starts, at the latest at maintenanceBy.
    const planned = !this.maintenance && this.maintenanceBy !== null ? Math.max(Date.now(), this.maintenanceBy) : null
    const at = this.runsPurges ? (this.maintenance ? this.nextPurgeAt : planned) : null
    const report = await this.audit.previewPurge(ctx, at === null ? undefined : Math.max(0, at - Date.now()))
    if (at !== null) return { nextRunAt: new Date(at).toISOString(), archiveDir, report }
    const reason = !this.runsPurges
      ? `the database login has no admin right on the server, so this app purges nothing (an admin's app or \`netkeeper audit purge\` does)`
      : 'this program runs no scheduled purge (`netkeeper audit purge` runs one)'
    return { nextRunAt: null, reason, archiveDir, report }
  }

  static async open(opts: CoreOptions = {}): Promise<Core> {
    const dataDir = opts.dataDir ?? resolveDataDir()
    const spec: ConnectionSpec = await resolveConnection({ databaseUrl: opts.databaseUrl, profile: opts.profile, dataDir })
    const db = await Database.open(spec)
    let role: ServerRole | null
    try {
      // One round trip on a server for both questions; a migration (rare) may create the roles, so ask again after it.
      const opened = await db.stateAndRole()
      role = opened.role
      if (opts.migrate && opened.state.pending.length) {
        await db.migrate()
        role = await db.serverRole()
      }
    } catch (e) {
      await db.close()
      throw e
    }
    // The shared sign-in policy is read when a request first needs it (auth:session, a session-scoped
    // request), not here: the CLI, which it does not gate, opens a core for every command.
    const core = new Core(db, dataDir, role, opts.secrets)
    try {
      await core.load(...(opts.rooms ?? ALL_ROOMS))
    } catch (e) {
      await db.close()
      throw e
    }
    return core
  }

  /**
   * Starts the outbox worker in this process (the app, the web harness): only for logins that may write
   * addresses, since applying a side effect records its outcome.
   */
  startOutbox(intervalMs?: number): void {
    if (this.serverRole === 'viewer') return
    // On a server other programs (the CLI, a colleague's app) queue side effects too: hear them at once.
    this.outbox.start(intervalMs, { listen: this.db.spec.kind === 'postgresql' })
  }

  async close(): Promise<void> {
    await this.outbox.stop()
    await this.built.dhcp?.close()
    if (this.maintenance) clearInterval(this.maintenance)
    if (this.anchoring) clearInterval(this.anchoring)
    await this.stopForwarding()
    await this.built.auditSearch?.close()
    // Sign the directory session out (audited) while the audit store is still open.
    await this.built.auth?.close().catch((e) => console.error('[auth] closing the directory session failed:', (e as Error).message))
    await this.db.close()
  }

  /**
   * Stops at once on a signal (the CLI's Ctrl-C): no more upkeep, and every database session ended, so what
   * is in flight rolls back and the embedded store is released. The directory session is not signed out:
   * that would need the database this gives up.
   */
  async interrupt(): Promise<void> {
    if (this.maintenance) clearInterval(this.maintenance)
    void this.built.auditSearch?.close()
    await this.db.interrupt()
  }
}

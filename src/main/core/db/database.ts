/**
 * The database handle shared by the app, the CLI and the tests: a knex instance on either a PostgreSQL
 * server (pooled; a list of hosts tried in order) or the embedded PGlite store (one in-process connection,
 * under an OS lock), plus migrations, rollback with its audit guard, TLS and a health check.
 *
 * Every service works through knex alone (raw SQL), so opening a database builds knex directly (connect.ts)
 * and checks the schema with one query on mikro_orm_migrations against migrations/names.ts. MikroORM and
 * its migrator (with umzug and the schema tooling they bring) are loaded only when a migration is to be
 * applied or rolled back (withMigrator): importing and initialising them cost more than everything else a
 * CLI read does (docs/cli.md#start-up).
 */
import fs from 'node:fs'
import type { TLSSocket } from 'node:tls'
import type { MikroORM } from '@mikro-orm/core'
import type { Knex } from '@mikro-orm/postgresql'
import type { Migrator } from '@mikro-orm/migrations'
import type { PGlite } from '@electric-sql/pglite'
import { AppError } from '../../../shared/errors'
import type { HealthReport, MigrationState, TlsReport } from '../../../shared/types'
import { migrationNames } from '../../../../migrations/names'
import { describeTarget, type ConnectionSpec, type EmbeddedSpec, type ServerSpec } from './target'
import { acquireEmbeddedLock, holdPrivateUmask } from './embedded-lock'
import { isUnreachable, keepStatement, scrub, toAppError } from './errors'
import { embeddedKnex, MIGRATIONS_TABLE, migratorOptions, probeRole, serverKnex } from './connect'
import { startPGlite } from './pglite-start'
import { takeEarlyEmbedded, type RemotePGlite } from './pglite-remote'
import { pgliteModule } from './pglite-wasm'
import { PrimaryTracker, type FailoverState } from './failover'
import { endpointLabel, sameEndpoint, type DbEndpoint } from '../../../shared/db-hosts'
import type { ReplicaStatus } from '../../../shared/types'

export { MIGRATIONS_TABLE }

/**
 * Migrations whose down() loses audit data, and what it loses: rolling one back over a non-empty audit log
 * needs an archive of every row, or --discard-audit (docs/cli.md#db).
 */
export const AUDIT_LOSING_MIGRATIONS: Record<string, string> = {
  Migration20261127120000_initial: 'drops the audit log (audit_logs)',
  Migration20261127130000_ipam_audit: 'drops the chain head and the purge checkpoints',
  Migration20261203100000_server_roles: 'drops the database login (db_user) that the hashes of the rows written since cover'
}

/** What the server lets a login do in Netkeeper (docs/postgresql-setup.md#roles). */
export type ServerRole = 'owner' | 'admin' | 'operator' | 'viewer'
const knownMigrations = new Set(migrationNames)

/** Knex pool internals we read for the health report (tarn). */
interface TarnPool {
  numUsed(): number
  numFree(): number
  numPendingAcquires(): number
  numPendingCreates(): number
  max: number
}

/**
 * A failed statement's text stays out of the error's message (errors.ts), and never with its values in it:
 * knex is told not to write the values in, and the statement is moved to a property of its own.
 */
function statementsOutOfMessages(knex: Knex): void {
  const client = knex.client as Knex.Client & { config: { compileSqlOnError?: boolean } }
  client.config.compileSqlOnError = false
  client.on('query-error', (err: unknown, q: { sql?: string }) => {
    if (typeof q?.sql === 'string') keepStatement(err, q.sql)
  })
}

/** A certificate name object (`{ CN: 'db', O: 'Example' }`) as `CN=db, O=Example`. */
function dn(name: Record<string, string | string[]> | undefined): string | undefined {
  if (!name) return undefined
  const parts = Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
  return parts.length ? parts.join(', ') : undefined
}

/** The names of the migrations that have run, in the order they ran. */
const MIGRATIONS_SQL = `select name from public.${MIGRATIONS_TABLE} order by id`

function stateOf(applied: string[]): MigrationState {
  const appliedSet = new Set(applied)
  return {
    applied,
    pending: migrationNames.filter((n) => !appliedSet.has(n)),
    unknown: applied.filter((n) => !knownMigrations.has(n))
  }
}

/** Which Netkeeper group roles exist on the server and which of them this login holds (Database.serverRole). */
const ROLE_SQL = `select exists (select 1 from pg_roles where rolname = 'netkeeper_owner') as has_roles,
              case when to_regrole('netkeeper_owner') is not null then pg_has_role(current_user, 'netkeeper_owner', 'USAGE') end as owner,
              case when to_regrole('netkeeper_admin') is not null then pg_has_role(current_user, 'netkeeper_admin', 'USAGE') end as admin,
              case when to_regrole('netkeeper_operator') is not null then pg_has_role(current_user, 'netkeeper_operator', 'USAGE') end as operator,
              case when to_regrole('netkeeper_viewer') is not null then pg_has_role(current_user, 'netkeeper_viewer', 'USAGE') end as viewer`

interface RoleRow {
  owner: boolean | null
  admin: boolean | null
  operator: boolean | null
  viewer: boolean | null
  has_roles: boolean
}

function roleOf(g: RoleRow): ServerRole | null {
  if (!g.has_roles || g.owner) return 'owner'
  return g.admin ? 'admin' : g.operator ? 'operator' : g.viewer ? 'viewer' : null
}

export class Database {
  /** With several hosts: the one that answered at open, and those tried before it. */
  answeredHost?: string
  hostsSkipped: { host: string; error: string }[] = []
  /** With several hosts: follows the primary (failover.ts); every pooled connection is on it. */
  tracker?: PrimaryTracker
  /** The read-only standby's pool, when the connection names one (heavy reads only, never an edit). */
  private standbyKnex?: Knex
  /** Until when the standby is passed over after it failed (reads go to the primary meanwhile). */
  private standbyDownUntil = 0
  private standbyError: string | null = null

  private constructor(
    readonly spec: ConnectionSpec,
    readonly knex: Knex,
    private readonly cleanup: () => Promise<void>,
    /** Where the migrator connects: the same PGlite, or the server with the TLS this handle was made with. */
    private readonly via: { pglite: PGlite } | { ssl: ServerSpec['ssl']; host: string | undefined; endpoint?: DbEndpoint }
  ) {
    statementsOutOfMessages(knex)
  }

  static async open(spec: ConnectionSpec): Promise<Database> {
    if (spec.kind === 'embedded') {
      // Started on a worker thread while the CLI loaded the command (pglite-remote.ts): taken over here.
      const early = takeEarlyEmbedded(spec.pgDataDir)
      if (early) return Database.openRemote(spec, early.pglite, early.release)
      // PGlite's module is read and compiled (off this thread) while the lock is taken; startPGlite awaits it.
      void pgliteModule().catch(() => undefined)
      const unlock = await acquireEmbeddedLock(spec.pgDataDir)
      const widen = holdPrivateUmask()
      const release = (): void => {
        widen()
        unlock()
      }
      let pglite: PGlite | undefined
      try {
        pglite = await startPGlite(spec)
        return Database.onPGlite(spec, pglite, await embeddedKnex(pglite), release)
      } catch (e) {
        await pglite?.close().catch(() => undefined)
        release()
        throw toAppError(e, spec)
      }
    }
    const db = spec.endpoints && spec.endpoints.length > 1 ? await Database.openFollowing(spec) : await Database.openHosts(spec)
    if (spec.standby) db.openStandby(spec, spec.standby)
    return db
  }

  /**
   * The embedded store on a started PGlite (in this thread, or a worker's behind RemotePGlite): closing shuts
   * PGlite down, then runs `release` (the lock, the umask). Once: close() after an interrupt() (or the other
   * way round) finds the store already shut.
   */
  private static onPGlite(spec: EmbeddedSpec, pglite: PGlite, knex: Knex, release: () => void): Database {
    let closing: Promise<void> | undefined
    const cleanup = (): Promise<void> =>
      (closing ??= (async () => {
        try {
          await pglite.close()
        } finally {
          release()
        }
      })())
    return new Database(spec, knex, cleanup, { pglite })
  }

  /** The embedded store started on a worker thread (pglite-remote.ts), once PGlite has started there. */
  private static async openRemote(spec: EmbeddedSpec, remote: RemotePGlite, release: () => void): Promise<Database> {
    try {
      const pglite = remote as unknown as PGlite
      // knex loads here while PGlite starts there; its pool's one connection waits for PGlite (waitReady).
      const [knex] = await Promise.all([embeddedKnex(pglite), remote.waitReady])
      return Database.onPGlite(spec, pglite, knex, release)
    } catch (e) {
      await remote.close().catch(() => undefined)
      release()
      throw toAppError(e, spec)
    }
  }

  /**
   * Opens a pool on `route` and its first connection, so that a refused login or an unreachable host fails
   * here. No statement is sent for that (knex's pool hands out a connection that has completed its startup),
   * and sslmode=prefer falls back to plain text on that same connection when the server has no TLS
   * (netkeeperPgClient); the migrator, which connects on its own, is then told to connect without TLS.
   */
  private static async pool(spec: ServerSpec, route: Parameters<typeof serverKnex>[2] & { host?: string }): Promise<{ knex: Knex; ssl: ServerSpec['ssl'] }> {
    const knex = await serverKnex(spec, spec.ssl, route)
    const client = knex.client as { acquireConnection(): Promise<{ connection?: { stream?: { encrypted?: boolean } } }>; releaseConnection(c: unknown): Promise<unknown> }
    try {
      const conn = await client.acquireConnection()
      const plain = spec.ssl !== false && spec.ssl !== undefined && !conn.connection?.stream?.encrypted
      await client.releaseConnection(conn)
      return { knex, ssl: plain ? false : spec.ssl }
    } catch (e) {
      await knex.destroy().catch(() => undefined)
      throw e
    }
  }

  /**
   * Several host:port pairs: the primary is the first host that is not in recovery (libpq's
   * target_session_attrs=read-write), and the pool follows it when it changes (failover.ts): connections
   * on a primary that went away, or that turned read-only (SQLSTATE 25006), are dropped, the next primary
   * is looked for with backoff, and new connections open there, without a restart.
   */
  private static async openFollowing(spec: ServerSpec): Promise<Database> {
    const endpoints = spec.endpoints!
    const tracker = new PrimaryTracker(endpoints, { probe: (ep) => probeRole(spec, spec.ssl, ep), unreachable: isUnreachable, scrub })
    let first: DbEndpoint
    try {
      first = await tracker.find()
    } catch (e) {
      tracker.stop()
      throw toAppError(e, spec)
    }
    let opened: { knex: Knex; ssl: ServerSpec['ssl'] }
    try {
      opened = await Database.pool(spec, { tracker })
    } catch (e) {
      tracker.stop()
      const err = toAppError(e, spec)
      throw new AppError(err.code, `${err.message} (on ${endpointLabel(first)})`, err.details)
    }
    const db = new Database(spec, opened.knex, async () => tracker.stop(), { ssl: opened.ssl, host: first.host, endpoint: first })
    db.tracker = tracker
    db.answeredHost = endpointLabel(first)
    db.hostsSkipped = tracker.state().tried
    if (db.hostsSkipped.length) console.warn(`[db] ${db.answeredHost} is the primary for ${spec.label}; ${db.hostsSkipped.map((h) => `${h.host} (${h.error})`).join(', ')} not`)
    const knex = opened.knex
    // A connection error, or a statement refused because the server is now read-only: the primary may be
    // gone. Forget it (the tracker looks for the next), and drop every pooled connection on it.
    knex.client.on('query-error', (err: unknown) => {
      const code = (err as { code?: string })?.code
      if (code !== '25006' && !isUnreachable(err)) return
      if (/Timeout acquiring a connection/i.test((err as Error)?.message ?? '')) return
      const was = tracker.primaryNow
      tracker.lost((err as Error)?.message ?? String(err), was ?? undefined)
      if (was) db.disposeConnections((c) => c.host !== undefined && c.port !== undefined && sameEndpoint({ host: c.host, port: c.port }, was))
    })
    // A new connection that cannot be made on the primary (refused, timed out): it may be gone too.
    const client = knex.client as unknown as { acquireRawConnection(): Promise<unknown>; connectionSettings?: { host?: string; port?: number } }
    const acquireRaw = client.acquireRawConnection.bind(client)
    client.acquireRawConnection = async () => {
      const at = client.connectionSettings
      try {
        return await acquireRaw()
      } catch (e) {
        if (isUnreachable(e) && at?.host !== undefined && at.port !== undefined) tracker.lost((e as Error)?.message ?? String(e), { host: at.host, port: Number(at.port) })
        throw e
      }
    }
    tracker.onChange((s) => {
      if (s.host) {
        const now = tracker.primaryNow!
        db.disposeConnections((c) => c.host === undefined || c.port === undefined || !sameEndpoint({ host: c.host, port: c.port }, now))
        console.warn(`[db] now on the primary ${s.host} (${spec.label})`)
      } else console.warn(`[db] the primary went away (${s.lastError ?? 'no answer'}); looking for one among ${s.hosts.join(', ')}`)
    })
    return db
  }

  /** Marks pooled connections (idle or in use) for disposal: the pool drops them at their next acquire. */
  private disposeConnections(which: (c: { host?: string; port?: number }) => boolean): void {
    type Conn = { host?: string; port?: number; __knex__disposed?: unknown }
    const pool = (this.knex.client as { pool?: { used: { resource: Conn }[]; free: { resource: Conn }[] } }).pool
    for (const r of [...(pool?.used ?? []), ...(pool?.free ?? [])]) if (which(r.resource)) r.resource.__knex__disposed ??= 'the primary changed'
  }

  /**
   * One host, or a list tried in order as libpq does without target_session_attrs: the first that answers
   * is used for the life of this handle. Only a host that cannot be reached passes the turn: one that
   * answers and refuses the login or fails TLS verification stops here (an impostor is not a reason to try
   * the next one).
   */
  private static async openHosts(spec: ServerSpec): Promise<Database> {
    const hosts = spec.hosts && spec.hosts.length > 1 ? spec.hosts : [undefined]
    const skipped: { host: string; error: string }[] = []
    for (const [i, host] of hosts.entries()) {
      try {
        const { knex, ssl } = await Database.pool(spec, { host })
        const db = new Database(spec, knex, async () => undefined, { ssl, host })
        if (host !== undefined) {
          db.answeredHost = host
          db.hostsSkipped = skipped
          // stderr: the CLI's stdout is its result.
          if (skipped.length) console.warn(`[db] ${host} answered for ${spec.label}; ${skipped.map((h) => h.host).join(', ')} did not`)
        }
        return db
      } catch (e) {
        const err = toAppError(e, spec)
        if (host !== undefined && isUnreachable(e) && i < hosts.length - 1) {
          // The driver's own words (connect ECONNREFUSED ...): the host is named beside them.
          skipped.push({ host, error: scrub((e as Error)?.message ?? err.message) })
          continue
        }
        if (host === undefined || hosts.length < 2) throw err
        const tried = [...skipped.map((h) => `${h.host}: ${h.error}`), `${host}: ${scrub((e as Error)?.message ?? err.message)}`]
        throw new AppError(err.code, skipped.length === hosts.length - 1 && isUnreachable(e) ? `none of the hosts answered (${tried.join('; ')})` : `${err.message} (on ${host}, after ${skipped.map((h) => h.host).join(', ') || 'no other host'})`, err.details)
      }
    }
    throw new AppError('INTERNAL', 'no host to connect to')
  }

  /** The standby's own small pool, opened lazily (a standby that is down costs nothing until a read). */
  private openStandby(spec: ServerSpec, standby: DbEndpoint): void {
    const small: ServerSpec = { ...spec, pool: { ...spec.pool, max: Math.min(2, spec.pool.max) } }
    void serverKnex(small, (this.via as { ssl: ServerSpec['ssl'] }).ssl, { endpoint: standby }).then((k) => {
      statementsOutOfMessages(k)
      k.client.on('query-error', (err: unknown) => {
        if (!isUnreachable(err)) return
        // Passed over for a while: the heavy reads go to the primary meanwhile.
        this.standbyDownUntil = Date.now() + 30_000
        this.standbyError = scrub((err as Error)?.message ?? String(err))
      })
      this.standbyKnex = k
    })
  }

  /**
   * Where heavy reads go (the audit viewer, export, verify): the standby when the connection names one and
   * it answered lately, else the primary. Never used for an edit.
   */
  reads(): Knex {
    if (this.standbyKnex && Date.now() >= this.standbyDownUntil) return this.standbyKnex
    return this.knex
  }

  /** The primary this handle is on, and whether it is looking for one (several hosts only). */
  failover(): FailoverState | undefined {
    return this.tracker?.state()
  }

  /**
   * The read-only standby: whether it answers, and how far behind the primary it is (bytes of WAL not yet
   * replayed, and the age of the last transaction it replayed when it has not caught up).
   */
  async replica(): Promise<ReplicaStatus | undefined> {
    const spec = this.spec
    if (spec.kind !== 'postgresql' || !spec.standby) return undefined
    const host = endpointLabel(spec.standby)
    const k = this.standbyKnex
    if (!k) return { host, reachable: false, inUse: false, error: 'not connected yet' }
    try {
      const [p, r] = await Promise.all([
        this.knex.raw<{ rows: { lsn: string }[] }>(`select pg_current_wal_lsn()::text as lsn`),
        k.raw<{ rows: { rec: boolean; lsn: string | null; ts: string | null; age: number | null }[] }>(
          `select pg_is_in_recovery() as rec, pg_last_wal_replay_lsn()::text as lsn, pg_last_xact_replay_timestamp()::text as ts,
                  extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 as age`
        )
      ])
      const row = r.rows[0]!
      if (!row.rec) return { host, reachable: true, inUse: false, error: `${host} is not in recovery: it is a primary, so it is not used for reads (name a standby)` }
      const behind = row.lsn
        ? Number((await this.knex.raw<{ rows: { b: string }[] }>(`select greatest(0, pg_wal_lsn_diff(?::pg_lsn, ?::pg_lsn))::text as b`, [p.rows[0]!.lsn, row.lsn])).rows[0]!.b)
        : null
      this.standbyDownUntil = 0
      return {
        host,
        reachable: true,
        inUse: this.reads() === k,
        bytesBehind: behind,
        // Caught up: no lag, however long ago the last write was. Behind: the age of the last replayed one.
        lagSeconds: behind === 0 ? 0 : row.age === null ? null : Math.round(row.age * 1000) / 1000,
        lastReplayAt: row.ts
      }
    } catch (e) {
      return { host, reachable: false, inUse: false, error: scrub((e as Error)?.message ?? String(e)) }
    }
  }

  get target() {
    return describeTarget(this.spec)
  }

  /**
   * Runs `fn` with MikroORM's migrator on this database: loaded, initialised and closed around the call.
   * On the embedded store it borrows the same PGlite instance (closing the ORM leaves it open); on a server
   * it opens its own pool to the host this handle answered on, with the same TLS.
   */
  private async withMigrator<T>(fn: (migrator: Migrator) => Promise<T>): Promise<T> {
    const { MikroORM } = await import('@mikro-orm/core')
    const options =
      this.spec.kind === 'embedded'
        ? await migratorOptions({ spec: this.spec, pglite: (this.via as { pglite: PGlite }).pglite })
        : await migratorOptions({ spec: this.spec, ...(this.via as { ssl: ServerSpec['ssl']; host: string | undefined; endpoint?: DbEndpoint }), endpoint: this.tracker?.primaryNow ?? (this.via as { endpoint?: DbEndpoint }).endpoint })
    const orm: MikroORM = await MikroORM.init(options)
    // The migrator's own knex: a failed migration's statement stays out of its message too.
    statementsOutOfMessages((orm.em as unknown as { getKnex(): Knex }).getKnex())
    try {
      return await fn(orm.getMigrator() as Migrator)
    } finally {
      await orm.close(true)
    }
  }

  /**
   * Which migrations have run, from one query on the migrations table (a database that has never been
   * migrated has no such table: nothing has run), in the order they ran, with the names as the migrator
   * stores them.
   */
  async migrationState(): Promise<MigrationState> {
    let applied: string[]
    try {
      const r = await this.knex.raw<{ rows: { name: string }[] }>(MIGRATIONS_SQL)
      applied = r.rows.map((x) => x.name)
    } catch (e) {
      if ((e as { code?: string }).code !== '42P01') throw toAppError(e, this.spec)
      applied = []
    }
    return stateOf(applied)
  }

  /**
   * assertNotNewer() and serverRole() together, as every Core.open asks them: on a server in one message
   * (two statements, one round trip: the role first, so that a database never migrated, with no migrations
   * table, still answers it before the second statement fails; only then is the role asked on its own).
   */
  async stateAndRole(): Promise<{ state: MigrationState; role: ServerRole | null }> {
    if (this.spec.kind !== 'postgresql') {
      const state = await this.assertNotNewer()
      return { state, role: await this.serverRole() }
    }
    type Rows<T> = { rows: T[] }
    let both: [Rows<RoleRow>, Rows<{ name: string }>] | undefined
    try {
      both = (await this.knex.raw(`${ROLE_SQL};\n${MIGRATIONS_SQL}`)) as unknown as [Rows<RoleRow>, Rows<{ name: string }>]
    } catch (e) {
      if ((e as { code?: string }).code !== '42P01') throw toAppError(e, this.spec)
    }
    const state = this.refuseNewer(stateOf(both ? both[1].rows.map((x) => x.name) : []))
    return { state, role: both ? roleOf(both[0].rows[0]!) : await this.serverRole() }
  }

  /** Refuses to touch a database whose schema is newer than this build. */
  async assertNotNewer(): Promise<MigrationState> {
    return this.refuseNewer(await this.migrationState())
  }

  private refuseNewer(state: MigrationState): MigrationState {
    if (state.unknown.length) {
      throw new AppError(
        'UNAVAILABLE',
        `the database at ${this.target.label} has migrations this version of Netkeeper does not know ` +
          `(${state.unknown.join(', ')}): it was upgraded by a newer Netkeeper. Install that version or newer; ` +
          'this version will not change the database.',
        { unknownMigrations: state.unknown }
      )
    }
    return state
  }

  /**
   * The Netkeeper role the server grants this login (Migration20261203100000_server_roles): 'owner' for a
   * member of netkeeper_owner or a superuser (the embedded store's one local user), then admin, operator,
   * viewer; null when it grants none. Before that migration has run, every login that can reach the
   * tables counts as owner, as it always did.
   */
  async serverRole(): Promise<ServerRole | null> {
    // The embedded store has one login, PGlite's superuser: the owner, whether or not the roles exist. Not
    // asked: on PGlite the question was 10 ms of every command's start (a view over pg_authid, planned cold).
    if (this.spec.kind === 'embedded') return 'owner'
    const r = await this.knex.raw<{ rows: RoleRow[] }>(ROLE_SQL)
    return roleOf(r.rows[0]!)
  }

  /** Applies every pending migration in one transaction; returns the names applied. */
  async migrate(): Promise<string[]> {
    const state = await this.assertNotNewer()
    if (state.pending.length && (await this.serverRole()) !== 'owner') {
      // The schema belongs to netkeeper_owner: an application login may use it, never change it.
      const login = (await this.knex.raw<{ rows: { u: string }[] }>(`select session_user as u`)).rows[0]!.u
      throw new AppError(
        'UNAVAILABLE',
        `the database at ${this.target.label} needs ${state.pending.length} migration(s) (${state.pending.join(', ')}) that the login ` +
          `"${login}" may not run: a member of netkeeper_owner (the DBA) must run \`netkeeper db migrate\` first; see docs/postgresql-setup.md#roles`,
        { pendingMigrations: state.pending, login }
      )
    }
    if (!state.pending.length) return []
    try {
      const done = await this.withMigrator((m) => m.up())
      return done.map((m) => m.name)
    } catch (e) {
      throw toAppError(e, this.spec)
    }
  }

  /** The migrations rollback(to) would revert, newest first (for the CLI to name before it asks). */
  async rollbackPlan(to?: string | 0): Promise<string[]> {
    const { applied } = await this.assertNotNewer()
    if (typeof to === 'string' && !knownMigrations.has(to)) {
      throw new AppError('VALIDATION', `--to: unknown migration "${to}"; known: 0, ${[...knownMigrations].join(', ')}`, {
        field: 'to'
      })
    }
    if (typeof to === 'string' && !applied.includes(to)) {
      throw new AppError('VALIDATION', `--to: migration "${to}" is not applied here, so there is nothing to roll back down to`, { field: 'to' })
    }
    return this.reverting(applied, to)
  }

  /**
   * The plan, refused as rollback() would refuse it (audit history no archive holds): the CLI checks this
   * before it asks, so nobody confirms a rollback that is then refused.
   */
  async rollbackCheck(to?: string | 0, opts: { discardAudit?: boolean; archiveDir?: string } = {}): Promise<string[]> {
    const reverting = await this.rollbackPlan(to)
    if (reverting.length && !opts.discardAudit) await this.guardAuditLog(reverting, opts.archiveDir)
    return reverting
  }

  /**
   * Rolls back the last migration, or down to `to` (exclusive): `0` rolls back everything.
   * Returns the names rolled back, newest first. A rollback that would drop audit history no archive holds
   * is refused unless `discardAudit` is given.
   */
  async rollback(to?: string | 0, opts: { discardAudit?: boolean; archiveDir?: string } = {}): Promise<string[]> {
    const reverting = await this.rollbackCheck(to, opts)
    if (!reverting.length) return []
    try {
      // The migrator's `to` is inclusive; ours keeps `to` applied: down to the oldest one that goes.
      const done = await this.withMigrator((m) => m.down(to === undefined ? undefined : { to: to === 0 ? 0 : reverting[reverting.length - 1]! }))
      return done.map((m) => m.name)
    } catch (e) {
      throw toAppError(e, this.spec)
    }
  }

  /** The applied migrations a rollback to `to` would revert, newest first. */
  private reverting(applied: string[], to?: string | 0): string[] {
    const order: readonly string[] = migrationNames
    const sorted = [...applied].sort((a, b) => order.indexOf(a) - order.indexOf(b))
    if (to === undefined) return sorted.slice(-1)
    const keep = to === 0 ? -1 : order.indexOf(to)
    return sorted.filter((n) => order.indexOf(n) > keep).reverse()
  }

  /**
   * Refuses a rollback whose migrations would lose audit data while the log holds any (its head is past 0),
   * unless `archiveDir` holds an archive of every row up to the head, intact and linked from the first row.
   */
  private async guardAuditLog(reverting: string[], archiveDir?: string): Promise<void> {
    const losing = reverting.filter((n) => AUDIT_LOSING_MIGRATIONS[n])
    if (!losing.length) return
    const tables = (
      await this.knex.raw<{ rows: { log: boolean; head: boolean }[] }>(
        `select to_regclass('audit_logs') is not null as log, to_regclass('audit_chain_head') is not null as head`
      )
    ).rows[0]!
    if (!tables.log) return
    const rows = (await this.knex.raw<{ rows: { n: string }[] }>(`select count(*)::text as n from audit_logs`)).rows[0]!.n
    // The history's end: the chain head, or (once a rollback dropped it) the newest row left.
    const head = (
      await this.knex.raw<{ rows: { seq: string; hash: string }[] }>(
        tables.head
          ? `select last_seq::text as seq, last_hash as hash from audit_chain_head where id = 1`
          : `select seq::text as seq, row_hash as hash from audit_logs order by seq desc limit 1`
      )
    ).rows[0]
    if (!head || head.seq === '0') return
    let why = 'no archive folder was given'
    if (archiveDir) {
      // The archive reader loads here only: opening a database never needs it (docs/cli.md#start-up).
      const { coversHistory, readArchiveFolder } = await import('../audit/archive')
      const covered = fs.existsSync(archiveDir) ? coversHistory(await readArchiveFolder(archiveDir), head) : { ok: false as const, reason: `the archive folder ${archiveDir} does not exist` }
      if (covered.ok) return
      why = covered.reason
    }
    throw new AppError(
      'CONFLICT',
      `rolling back ${losing.join(', ')} ${losing.map((n) => AUDIT_LOSING_MIGRATIONS[n]).join('; ')}, and the audit log holds ${rows} row(s) ` +
        `(history up to seq ${head.seq}) that no archive holds in full (${why}). Archive every row first ` +
        `(\`netkeeper audit archive\` copies the rows still in the log${archiveDir ? ` to ${archiveDir}` : ''}), or pass --discard-audit to lose them.`,
      { field: 'discardAudit', rows: Number(rows), headSeq: head.seq, migrations: losing }
    )
  }

  poolStats(): HealthReport['pool'] {
    const pool = (this.knex.client as { pool?: TarnPool }).pool
    if (!pool) return undefined
    const used = pool.numUsed()
    const free = pool.numFree()
    return { size: used + free, used, free, pendingAcquires: pool.numPendingAcquires(), max: pool.max }
  }

  async health(): Promise<HealthReport> {
    const started = performance.now()
    const report: HealthReport = { reachable: false, target: this.target, checkedAt: new Date().toISOString() }
    // Said even when no host answers: which hosts it is trying, and that it is reconnecting.
    const following = this.failover()
    if (following) report.failover = following
    try {
      const res = await this.knex.raw<{ rows: { server_version: string }[] }>(`select current_setting('server_version') as server_version`)
      report.latencyMs = Math.round((performance.now() - started) * 1000) / 1000
      report.reachable = true
      report.serverVersion = res.rows[0]?.server_version
      report.pool = this.poolStats()
      report.migrations = await this.migrationState()
      report.login = (await this.knex.raw<{ rows: { u: string }[] }>(`select session_user as u`)).rows[0]!.u
      report.serverRole = await this.serverRole()
      if (this.spec.kind === 'postgresql') {
        report.tls = await this.tlsReport()
        const f = this.failover()
        if (f) {
          report.failover = f
          if (f.host) report.host = f.host
          if (f.tried.length) report.hostsSkipped = f.tried
        } else {
          if (this.answeredHost) report.host = this.answeredHost
          if (this.hostsSkipped.length) report.hostsSkipped = this.hostsSkipped
        }
        const replica = await this.replica()
        if (replica) report.replica = replica
      }
    } catch (e) {
      report.error = toAppError(e, this.spec).message
    }
    return report
  }

  /**
   * TLS as one pooled connection of this handle has it: whether it is encrypted, the server's certificate,
   * and what was verified (from the TLS mode and the socket's own verdict).
   */
  async tlsReport(): Promise<TlsReport | undefined> {
    const spec = this.spec
    if (spec.kind !== 'postgresql') return undefined
    const client = this.knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<unknown> }
    const conn = (await client.acquireConnection()) as { connection?: { stream?: unknown } }
    try {
      const stream = conn.connection?.stream as Partial<TLSSocket> | undefined
      const mode = spec.sslMode
      if (!stream?.encrypted || typeof stream.getPeerCertificate !== 'function') {
        return { inUse: false, ...(mode ? { sslMode: mode } : {}), verification: 'none: the connection is not encrypted' }
      }
      const cert = stream.getPeerCertificate()
      const host = this.answeredHost ?? spec.host ?? (spec.url ? new URL(spec.url).hostname : '')
      const against = spec.caFile ? `the CA file ${spec.caFile}` : 'the system CAs'
      const verification =
        mode === 'verify-full'
          ? `certificate chain verified against ${against}; host name ${host} matched`
          : mode === 'verify-ca'
            ? `certificate chain verified against ${against}; host name not checked (verify-ca)`
            : `none: the certificate was not checked (sslMode ${mode ?? 'require'}); encrypted, but the server's identity is not verified`
      const unverified = mode !== 'verify-full' && mode !== 'verify-ca' && !stream.authorized && stream.authorizationError
      return {
        inUse: true,
        ...(mode ? { sslMode: mode } : {}),
        protocol: stream.getProtocol?.() ?? undefined,
        cipher: stream.getCipher?.()?.name,
        subject: dn(cert?.subject as unknown as Record<string, string>),
        issuer: dn(cert?.issuer as unknown as Record<string, string>),
        ...(cert?.subjectaltname ? { subjectAltName: cert.subjectaltname } : {}),
        ...(cert?.valid_to ? { validTo: new Date(cert.valid_to).toISOString() } : {}),
        ...(cert?.fingerprint256 ? { fingerprint256: cert.fingerprint256 } : {}),
        verification,
        ...(unverified ? { unverifiedReason: String(unverified) } : {})
      }
    } finally {
      await client.releaseConnection(conn)
    }
  }

  async close(): Promise<void> {
    this.tracker?.stop()
    await this.standbyKnex?.destroy().catch(() => undefined)
    await this.knex.destroy()
    await this.cleanup()
  }

  /**
   * Ends every session now, without waiting for the work in flight (a signal, cli/interrupt.ts): closing a
   * session makes PostgreSQL roll back its open transaction. A server connection is ended whether in use or
   * idle; the embedded store is shut down directly (its one session ends) and its lock released. Knex's
   * own close would instead wait for the running transaction to finish, and commit it.
   */
  async interrupt(): Promise<void> {
    if (this.spec.kind === 'embedded') {
      await this.cleanup()
      return
    }
    type Conn = { end?: () => Promise<void>; _getActiveQuery?: () => unknown }
    const client = this.knex.client as { pool?: { used: { resource: Conn }[]; free: { resource: Conn }[] }; cancelQuery?: (c: Conn) => Promise<unknown> }
    const used = client.pool?.used.map((r) => r.resource) ?? []
    const free = client.pool?.free.map((r) => r.resource) ?? []
    const within = (ms: number, work: Promise<unknown>): Promise<unknown> => Promise.race([work, new Promise((r) => setTimeout(r, ms).unref())])
    // A statement waiting on a lock would not notice its client leave until the lock is granted: cancel it
    // first (pg_cancel_backend over a fresh connection), so its locks go now. Best effort, briefly.
    const busy = used.filter((c) => c._getActiveQuery?.())
    if (busy.length && client.cancelQuery) await within(1500, Promise.allSettled(busy.map((c) => client.cancelQuery!(c))))
    await within(1500, Promise.allSettled([...used, ...free].map((c) => c.end?.())))
  }
}

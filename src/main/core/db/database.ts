/**
 * The database handle shared by the app, the CLI and the tests: a MikroORM instance on either a
 * PostgreSQL server (pooled) or the embedded PGlite store (one in-process connection), plus migrations
 * and a health check.
 */
import fs from 'node:fs'
import { MikroORM, type Options } from '@mikro-orm/core'
import { PostgreSqlDriver, type EntityManager, type Knex } from '@mikro-orm/postgresql'
import { Migrator } from '@mikro-orm/migrations'
import { AppError } from '../../../shared/errors'
import type { HealthReport, MigrationState } from '../../../shared/types'
import { migrationsList } from '../../../../migrations'
import { entities } from './entities'
import { describeTarget, type ConnectionSpec, type EmbeddedSpec, type ServerSpec } from './target'
import { acquireEmbeddedLock, holdPrivateUmask } from './embedded-lock'
import { keepStatement, toAppError } from './errors'

export const MIGRATIONS_TABLE = 'mikro_orm_migrations'

/** What the server lets a login do in Netkeeper (docs/postgresql-setup.md#roles). */
export type ServerRole = 'owner' | 'admin' | 'operator' | 'viewer'
const knownMigrations = new Set(migrationsList.map((m) => m.name))

/** Knex pool internals we read for the health report (tarn). */
interface TarnPool {
  numUsed(): number
  numFree(): number
  numPendingAcquires(): number
  numPendingCreates(): number
  max: number
}

function baseOptions(): Options {
  return {
    entities,
    discovery: { disableDynamicFileAccess: true, warnWhenNoEntities: true },
    extensions: [Migrator],
    migrations: {
      migrationsList,
      tableName: MIGRATIONS_TABLE,
      transactional: true,
      allOrNothing: true,
      // The snapshot is written by `npm run db:snapshot` in a checkout, never by the installed app.
      snapshot: false,
      disableForeignKeys: false,
      silent: true
    },
    allowGlobalContext: false,
    debug: process.env.NETKEEPER_DEBUG_SQL === '1',
    ensureDatabase: false
  }
}

function serverOptions(spec: ServerSpec, ssl: ServerSpec['ssl']): Options {
  const lifetime = spec.pool.maxLifetimeMs
  return {
    ...baseOptions(),
    driver: PostgreSqlDriver,
    ...(spec.url
      ? { clientUrl: spec.url }
      : { host: spec.host, port: spec.port, dbName: spec.database, user: spec.user, password: spec.password }),
    pool: {
      min: 0,
      max: spec.pool.max,
      acquireTimeoutMillis: spec.pool.acquireTimeoutMs,
      idleTimeoutMillis: spec.pool.idleTimeoutMs,
      // tarn has no maximum lifetime: mark each connection disposed when its lifetime is up; knex's
      // validate() then refuses it at the next acquire and the pool opens a fresh one.
      afterCreate: (conn: { __knex__disposed?: unknown }, done: (err: Error | null, conn: unknown) => void) => {
        setTimeout(() => {
          conn.__knex__disposed = 'maximum connection lifetime reached'
        }, lifetime).unref()
        done(null, conn)
      }
    } as Options['pool'],
    driverOptions: {
      connection: {
        ...(ssl === undefined ? {} : { ssl }),
        connectionTimeoutMillis: spec.pool.acquireTimeoutMs,
        application_name: 'netkeeper'
      },
      // knex prints "Connection Error: ..." each time its pool drops a dead or expired connection (a server
      // restart, the lifetime above). That is routine here: the pool opens a fresh one, and reachability is
      // the health monitor's to report. Its other warnings still go to the log.
      log: {
        warn: (message: string) => {
          if (!/^Connection Error:/.test(message)) console.warn(`[knex] ${message}`)
        }
      }
    }
  }
}

async function embeddedOptions(spec: EmbeddedSpec): Promise<{ options: Options; close: () => Promise<void> }> {
  const [{ PGlite }, { PGliteDriver }, { pg_trgm }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('mikro-orm-pglite'),
    import('@electric-sql/pglite/contrib/pg_trgm')
  ])
  fs.mkdirSync(spec.pgDataDir, { recursive: true, mode: 0o700 })
  // pg_trgm backs the audit viewer's text search (see the ipam_audit migration).
  const pglite = await PGlite.create({ dataDir: spec.pgDataDir, extensions: { pg_trgm } })
  return {
    options: {
      ...baseOptions(),
      driver: PGliteDriver,
      dbName: 'postgres',
      // PGlite is one in-process connection: a pool of one serialises transactions instead of interleaving them.
      pool: { min: 1, max: 1 },
      driverOptions: { connection: { pglite: () => pglite } }
    },
    close: () => pglite.close()
  }
}

export class Database {
  private constructor(
    readonly orm: MikroORM,
    readonly spec: ConnectionSpec,
    private readonly cleanup: () => Promise<void>
  ) {
    // A failed statement's text stays out of the message (errors.ts), and never with its values in it.
    const client = this.knex.client as Knex.Client & { config: { compileSqlOnError?: boolean } }
    client.config.compileSqlOnError = false
    client.on('query-error', (err: unknown, q: { sql?: string }) => {
      if (typeof q?.sql === 'string') keepStatement(err, q.sql)
    })
  }

  static async open(spec: ConnectionSpec): Promise<Database> {
    if (spec.kind === 'embedded') {
      const unlock = await acquireEmbeddedLock(spec.pgDataDir)
      const widen = holdPrivateUmask()
      const release = (): void => {
        widen()
        unlock()
      }
      try {
        const { options, close } = await embeddedOptions(spec)
        const orm = await MikroORM.init(options)
        let closing: Promise<void> | undefined
        // Once: close() after an interrupt() (or the other way round) finds the store already shut.
        return new Database(orm, spec, () =>
          (closing ??= (async () => {
            try {
              await close()
            } finally {
              release()
            }
          })())
        )
      } catch (e) {
        release()
        throw toAppError(e, spec)
      }
    }
    const tryOpen = async (ssl: ServerSpec['ssl']): Promise<Database> => {
      const orm = await MikroORM.init(serverOptions(spec, ssl))
      const db = new Database(orm, spec, async () => undefined)
      try {
        await db.knex.raw('select 1')
      } catch (e) {
        await orm.close(true).catch(() => undefined)
        throw e
      }
      return db
    }
    try {
      return await tryOpen(spec.ssl)
    } catch (e) {
      if (spec.sslFallback && /does not support SSL/i.test((e as Error).message)) {
        return tryOpen(false).catch((e2) => {
          throw toAppError(e2, spec)
        })
      }
      throw toAppError(e, spec)
    }
  }

  get target() {
    return describeTarget(this.spec)
  }

  /** A fresh EntityManager for one unit of work. */
  em(): EntityManager {
    return this.orm.em.fork() as EntityManager
  }

  get knex(): Knex {
    return (this.orm.em as EntityManager).getKnex()
  }

  private get migrator(): Migrator {
    return this.orm.getMigrator() as Migrator
  }

  async migrationState(): Promise<MigrationState> {
    const executed = await this.migrator.getExecutedMigrations()
    const applied = executed.map((m) => m.name)
    const appliedSet = new Set(applied)
    return {
      applied,
      pending: migrationsList.map((m) => m.name).filter((n) => !appliedSet.has(n)),
      unknown: applied.filter((n) => !knownMigrations.has(n))
    }
  }

  /** Refuses to touch a database whose schema is newer than this build. */
  async assertNotNewer(): Promise<MigrationState> {
    const state = await this.migrationState()
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
    const r = await this.knex.raw<{ rows: { owner: boolean | null; admin: boolean | null; operator: boolean | null; viewer: boolean | null; has_roles: boolean }[] }>(
      `select exists (select 1 from pg_roles where rolname = 'netkeeper_owner') as has_roles,
              case when to_regrole('netkeeper_owner') is not null then pg_has_role(current_user, 'netkeeper_owner', 'USAGE') end as owner,
              case when to_regrole('netkeeper_admin') is not null then pg_has_role(current_user, 'netkeeper_admin', 'USAGE') end as admin,
              case when to_regrole('netkeeper_operator') is not null then pg_has_role(current_user, 'netkeeper_operator', 'USAGE') end as operator,
              case when to_regrole('netkeeper_viewer') is not null then pg_has_role(current_user, 'netkeeper_viewer', 'USAGE') end as viewer`
    )
    const g = r.rows[0]!
    if (!g.has_roles || g.owner) return 'owner'
    return g.admin ? 'admin' : g.operator ? 'operator' : g.viewer ? 'viewer' : null
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
    try {
      const done = await this.migrator.up()
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
    const after = to === undefined ? applied.slice(-1) : to === 0 ? applied : applied.slice(applied.indexOf(to) + 1)
    return [...after].reverse()
  }

  /**
   * Rolls back the last migration, or down to `to` (exclusive): `0` rolls back everything.
   * Returns the names rolled back, newest first.
   */
  async rollback(to?: string | 0): Promise<string[]> {
    await this.rollbackPlan(to)
    try {
      const done = await this.migrator.down(to === undefined ? undefined : { to })
      return done.map((m) => m.name)
    } catch (e) {
      throw toAppError(e, this.spec)
    }
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
    try {
      const res = await this.knex.raw<{ rows: { server_version: string }[] }>(`select current_setting('server_version') as server_version`)
      report.latencyMs = Math.round((performance.now() - started) * 1000) / 1000
      report.reachable = true
      report.serverVersion = res.rows[0]?.server_version
      report.pool = this.poolStats()
      report.migrations = await this.migrationState()
      report.login = (await this.knex.raw<{ rows: { u: string }[] }>(`select session_user as u`)).rows[0]!.u
      report.serverRole = await this.serverRole()
    } catch (e) {
      report.error = toAppError(e, this.spec).message
    }
    return report
  }

  async close(): Promise<void> {
    await this.orm.close(true)
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

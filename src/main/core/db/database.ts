/**
 * The database handle shared by the app, the CLI and the tests: a knex instance on either a PostgreSQL
 * server (pooled) or the embedded PGlite store (one in-process connection), plus migrations and a health
 * check.
 *
 * Every service works through knex alone (raw SQL), so opening a database builds knex directly and checks
 * the schema with one query on mikro_orm_migrations. MikroORM and its migrator (with umzug and the schema
 * tooling they bring) are loaded only when migrations are to be applied or rolled back: importing and
 * initialising them cost more than everything else a CLI read does (docs/cli.md#start-up).
 */
import fs from 'node:fs'
import type { MikroORM, Options } from '@mikro-orm/core'
import type { Knex } from '@mikro-orm/postgresql'
import type { Migrator } from '@mikro-orm/migrations'
import type { PGlite } from '@electric-sql/pglite'
import { AppError } from '../../../shared/errors'
import type { HealthReport, MigrationState } from '../../../shared/types'
import { migrationNames } from '../../../../migrations/names'
import { describeTarget, type ConnectionSpec, type EmbeddedSpec, type ServerSpec } from './target'
import { acquireEmbeddedLock } from './embedded-lock'
import { toAppError } from './errors'

export const MIGRATIONS_TABLE = 'mikro_orm_migrations'

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

const debugSql = (): boolean => process.env.NETKEEPER_DEBUG_SQL === '1'

/**
 * The connection settings MikroORM used to derive from a URL or a profile, kept exactly: host, port, user,
 * password and database from the URL (its query parameters are not read: TLS comes from `ssl`), the
 * same defaults for a profile's missing fields.
 */
function serverConnection(spec: ServerSpec): { host: string; port: number; user: string; password: string; database: string } {
  if (spec.url) {
    const url = new URL(spec.url)
    return {
      host: decodeURIComponent(url.hostname),
      port: +url.port,
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname).replace(/^\//, '')
    }
  }
  return { host: spec.host ?? '127.0.0.1', port: spec.port ?? 5432, user: spec.user ?? 'postgres', password: spec.password ?? '', database: spec.database ?? '' }
}

/**
 * Timestamps, dates and intervals come back as the server's text, not as Date objects (what the code has
 * always received on a server connection: MikroORM's PostgreSQL driver sets the same parsers).
 */
async function textDateTypes(): Promise<unknown> {
  const pg = (await import('pg')).default
  const types = new pg.TypeOverrides()
  const text = (s: string): string => s
  // date, timestamp, timestamptz, interval
  for (const oid of [1082, 1114, 1184, 1186]) types.setTypeParser(oid, text)
  // their arrays, as arrays of text (the text[] parser: elements as strings, NULL as null)
  const textArray = pg.types.getTypeParser(1009 as Parameters<typeof pg.types.getTypeParser>[0], 'text') as (s: string) => unknown
  for (const oid of [1182, 1115, 1185, 1187]) types.setTypeParser(oid, textArray)
  return types
}

function knexLog(): Knex.Config['log'] {
  // knex prints "Connection Error: ..." each time its pool drops a dead or expired connection (a server
  // restart, the lifetime above). That is routine here: the pool opens a fresh one, and reachability is
  // the health monitor's to report. Its other warnings still go to the log.
  return {
    warn: (message: string) => {
      if (!/^Connection Error:/.test(message)) console.warn(`[knex] ${message}`)
    }
  }
}

async function serverKnex(spec: ServerSpec, ssl: ServerSpec['ssl']): Promise<Knex> {
  const knex = (await import('knex')).default
  const lifetime = spec.pool.maxLifetimeMs
  return knex({
    client: 'pg',
    debug: debugSql(),
    connection: {
      ...serverConnection(spec),
      ...(ssl === undefined ? {} : { ssl }),
      connectionTimeoutMillis: spec.pool.acquireTimeoutMs,
      application_name: 'netkeeper',
      types: await textDateTypes()
    } as Knex.PgConnectionConfig,
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
    },
    log: knexLog()
  }) as unknown as Knex
}

async function startPGlite(spec: EmbeddedSpec): Promise<PGlite> {
  const [{ PGlite }, { pg_trgm }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite/contrib/pg_trgm')])
  fs.mkdirSync(spec.pgDataDir, { recursive: true, mode: 0o700 })
  // pg_trgm backs the audit viewer's text search (see the ipam_audit migration).
  return PGlite.create({ dataDir: spec.pgDataDir, extensions: { pg_trgm } })
}

async function embeddedKnex(pglite: PGlite): Promise<Knex> {
  const [knex, { PGliteDialect }] = await Promise.all([import('knex').then((m) => m.default), import('@harryplusplus/knex-pglite')])
  return knex({
    client: PGliteDialect,
    debug: debugSql(),
    connection: { pglite: () => pglite } as Knex.StaticConnectionConfig,
    // PGlite is one in-process connection: a pool of one serialises transactions instead of interleaving them.
    pool: { min: 1, max: 1 },
    log: knexLog()
  }) as unknown as Knex
}

/** MikroORM's options for running migrations on this database (loaded only when a migration is to run). */
async function migratorOptions(spec: ConnectionSpec, ssl: ServerSpec['ssl'], pglite: PGlite | undefined): Promise<Options> {
  const [{ Migrator }, { entities }, { migrationsList }] = await Promise.all([
    import('@mikro-orm/migrations'),
    import('./entities'),
    import('../../../../migrations')
  ])
  const base: Options = {
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
    debug: debugSql(),
    ensureDatabase: false
  }
  if (spec.kind === 'embedded') {
    const { PGliteDriver } = await import('mikro-orm-pglite')
    return { ...base, driver: PGliteDriver, dbName: 'postgres', pool: { min: 1, max: 1 }, driverOptions: { connection: { pglite: () => pglite } } }
  }
  const { PostgreSqlDriver } = await import('@mikro-orm/postgresql')
  const c = serverConnection(spec)
  return {
    ...base,
    driver: PostgreSqlDriver,
    host: c.host,
    port: c.port,
    user: c.user,
    password: c.password,
    dbName: c.database,
    pool: { min: 0, max: spec.pool.max, acquireTimeoutMillis: spec.pool.acquireTimeoutMs },
    driverOptions: {
      connection: { ...(ssl === undefined ? {} : { ssl }), connectionTimeoutMillis: spec.pool.acquireTimeoutMs, application_name: 'netkeeper' }
    }
  }
}

export class Database {
  private constructor(
    readonly spec: ConnectionSpec,
    readonly knex: Knex,
    private readonly cleanup: () => Promise<void>,
    /** The TLS setting the connection was made with (after an sslmode=prefer fallback), for the migrator. */
    private readonly ssl: ServerSpec['ssl'],
    private readonly pglite?: PGlite
  ) {}

  static async open(spec: ConnectionSpec): Promise<Database> {
    if (spec.kind === 'embedded') {
      const release = await acquireEmbeddedLock(spec.pgDataDir)
      let pglite: PGlite | undefined
      try {
        pglite = await startPGlite(spec)
        const knex = await embeddedKnex(pglite)
        const started = pglite
        return new Database(
          spec,
          knex,
          async () => {
            await started.close()
            release()
          },
          undefined,
          pglite
        )
      } catch (e) {
        await pglite?.close().catch(() => undefined)
        release()
        throw toAppError(e, spec)
      }
    }
    const tryOpen = async (ssl: ServerSpec['ssl']): Promise<Database> => {
      const knex = await serverKnex(spec, ssl)
      try {
        await knex.raw('select 1')
      } catch (e) {
        await knex.destroy().catch(() => undefined)
        throw e
      }
      return new Database(spec, knex, async () => undefined, ssl)
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

  /**
   * Runs `fn` with MikroORM's migrator on this database: loaded, initialised and closed around the call.
   * On the embedded store it borrows the same PGlite instance (closing the ORM leaves it open).
   */
  private async withMigrator<T>(fn: (migrator: Migrator) => Promise<T>): Promise<T> {
    const { MikroORM } = await import('@mikro-orm/core')
    const orm: MikroORM = await MikroORM.init(await migratorOptions(this.spec, this.ssl, this.pglite))
    try {
      return await fn(orm.getMigrator() as Migrator)
    } finally {
      await orm.close(true)
    }
  }

  /**
   * Which migrations have run, from one query on the migrations table (a database that has never been
   * migrated has no such table: nothing has run). Names are compared as the migrator stores them.
   */
  async migrationState(): Promise<MigrationState> {
    let applied: string[]
    try {
      const r = await this.knex.raw<{ rows: { name: string }[] }>(`select name from public.${MIGRATIONS_TABLE} order by id`)
      applied = r.rows.map((x) => x.name)
    } catch (e) {
      if ((e as { code?: string }).code !== '42P01') throw toAppError(e, this.spec)
      applied = []
    }
    const appliedSet = new Set(applied)
    return {
      applied,
      pending: migrationNames.filter((n) => !appliedSet.has(n)),
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
    if (!state.pending.length) return []
    try {
      const done = await this.withMigrator((m) => m.up())
      return done.map((m) => m.name)
    } catch (e) {
      throw toAppError(e, this.spec)
    }
  }

  /**
   * Rolls back the last migration, or down to `to` (exclusive): `0` rolls back everything.
   * Returns the names rolled back, newest first.
   */
  async rollback(to?: string | 0): Promise<string[]> {
    await this.assertNotNewer()
    if (typeof to === 'string' && !knownMigrations.has(to)) {
      throw new AppError('VALIDATION', `--to: unknown migration "${to}"; known: 0, ${[...knownMigrations].join(', ')}`, {
        field: 'to'
      })
    }
    try {
      const done = await this.withMigrator((m) => m.down(to === undefined ? undefined : { to }))
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
    await this.knex.destroy()
    await this.cleanup()
  }
}

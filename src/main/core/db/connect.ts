/**
 * Building the knex instance a Database works through, without MikroORM: knex's `pg` client for a
 * server, the knex-pglite dialect for the embedded store. Each keeps what MikroORM's drivers used to set
 * (the connection fields taken from a URL or a profile, timestamps as text, a statement without bindings
 * sent as written), so every service reads exactly what it read before. MikroORM and its migrator are
 * loaded only to run migrations (`migratorOptions`, used by Database.withMigrator), because importing and
 * initialising them cost more than everything else a CLI read does (docs/cli.md#start-up).
 */
import type { Options } from '@mikro-orm/core'
import type { Knex } from '@mikro-orm/postgresql'
import type { PGlite } from '@electric-sql/pglite'
import type { EmbeddedSpec, ServerSpec } from './target'
import type { DbEndpoint } from '../../../shared/db-hosts'
import type { HostRole, PrimaryTracker } from './failover'

export const MIGRATIONS_TABLE = 'mikro_orm_migrations'

type ClientClass = typeof Knex.Client

/**
 * The connection fields exactly as MikroORM's driver derived them: from a URL its host, port, user,
 * password and database (its query parameters are not read here: TLS comes from `ssl`, made from them in
 * target.ts); from a profile its fields, with MikroORM's defaults for what is missing. `host`: the one host
 * of a profile's list being tried.
 */
export function serverConnection(spec: ServerSpec, host?: string): { host: string; port: number; user: string; password: string; database: string } {
  if (spec.url) {
    const url = new URL(spec.url)
    return {
      host: decodeURIComponent(url.hostname),
      // No port in the URL gives 0, which node-postgres reads as its default, 5432 (as under MikroORM).
      port: +url.port,
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname).replace(/^\//, '')
    }
  }
  return {
    host: host ?? spec.host ?? '127.0.0.1',
    port: spec.port ?? 5432,
    user: spec.user ?? 'postgres',
    password: spec.password ?? '',
    database: spec.database ?? ''
  }
}

type Pg = typeof import('pg').default

/**
 * Dates, timestamps and intervals come back as the server's text, not as Date objects: what the code has
 * always received on a server connection (MikroORM's PostgreSQL driver sets the same parsers).
 */
function textDateTypes(pg: Pg): unknown {
  const types = new pg.TypeOverrides()
  const text = (s: string): string => s
  // date, timestamp, timestamptz, interval
  for (const oid of [1082, 1114, 1184, 1186]) types.setTypeParser(oid, text)
  // their arrays, as arrays of text (the text[] parser: elements as strings, NULL as null)
  const textArray = pg.types.getTypeParser(1009 as Parameters<typeof pg.types.getTypeParser>[0], 'text') as (s: string) => unknown
  for (const oid of [1182, 1115, 1185, 1187]) types.setTypeParser(oid, textArray)
  return types
}

/** What of node-postgres' connection (pg/lib/connection.js, not in its typings) the client below touches. */
interface PgConnection {
  stream: NodeJS.EventEmitter & { encrypted?: boolean }
  ssl: unknown
  connect(port: number | string, host?: string): void
  attachListeners(stream: unknown): void
  startup(conf: unknown): void
  on(event: 'parameterStatus', fn: (m: { parameterName: string; parameterValue: string }) => void): void
}

/**
 * node-postgres' Client as Netkeeper connects with it:
 * - `preferTls`: sslmode=prefer on one connection, as libpq does it. The client asks for TLS; when the
 *   server answers that it has none ('N'), the startup goes on in plain text on the same socket. On its
 *   own node-postgres ends the socket ("The server does not support SSL connections"), and a second
 *   connection used to be opened without TLS: two sockets and two server processes forked per command
 *   against such a server. A server that offers TLS still gets TLS ('S': node-postgres' own handshake).
 * - `serverVersion`: the version the server reports at startup (ParameterStatus server_version), so knex
 *   need not ask with `select version()` on the first connection (see `sendingUnboundAsWritten`).
 */
export function netkeeperPgClient(pg: Pg, preferTls: boolean): Pg['Client'] {
  return class NetkeeperPgClient extends pg.Client {
    serverVersion?: string

    constructor(config?: ConstructorParameters<Pg['Client']>[0]) {
      super(config)
      const self = this as unknown as { connection: PgConnection; ssl: unknown; getStartupConf(): unknown }
      const con = self.connection
      con.on('parameterStatus', (m) => {
        if (m.parameterName === 'server_version') this.serverVersion = m.parameterValue
      })
      if (!preferTls || !self.ssl) return
      const connect = con.connect.bind(con)
      con.connect = (port, host) => {
        connect(port, host)
        // node-postgres has just subscribed, once, to the server's one-byte answer to its SSLRequest: take
        // the 'N' case over and hand every other answer ('S', an error) to it unchanged.
        const stream = con.stream
        const answer = stream.listeners('data').at(-1) as ((b: Buffer) => void) | undefined
        if (!answer) return
        stream.removeListener('data', answer)
        stream.once('data', (b: Buffer) => {
          if (b.length !== 1 || b[0] !== 0x4e /* 'N' */) return answer.call(stream, b)
          con.ssl = false
          self.ssl = false
          con.attachListeners(stream)
          con.startup(self.getStartupConf())
        })
      }
    }
  } as unknown as Pg['Client']
}

/** Set while knex prepares a statement that has no bindings (synchronously, inside `query`). */
let unbound = 0

/**
 * `Base` sending a statement without bindings as written, as it went under MikroORM (whose knex patch does
 * the same): plain knex would turn every `?` in it into a placeholder ($1), so a literal question mark or
 * a jsonb `?` operator in such a statement would fail. A statement with bindings is knex's as always.
 * A subclass, not an instance patch: a transaction's client is made from the class's prototype.
 */
function sendingUnboundAsWritten(Base: ClientClass): ClientClass {
  const base = Base.prototype as unknown as {
    query(connection: unknown, obj: unknown): Promise<unknown>
    positionBindings(sql: string): string
    checkVersion(connection: unknown): Promise<string>
    _parseVersion(text: string): string
  }
  class Client extends (Base as unknown as new (config: Knex.Config) => object) {
    query(connection: unknown, obj: string | { sql: string; bindings?: unknown[] }): Promise<unknown> {
      const q = typeof obj === 'string' ? { sql: obj } : obj
      if (q.bindings?.length) return base.query.call(this, connection, q)
      unbound++
      try {
        return base.query.call(this, connection, q)
      } finally {
        unbound--
      }
    }

    positionBindings(sql: string): string {
      return unbound ? sql : base.positionBindings.call(this, sql)
    }

    // knex asks the first connection `select version()`; the server said it at startup (one round trip less).
    checkVersion(connection: { serverVersion?: string }): Promise<string> {
      if (connection.serverVersion) return Promise.resolve(base._parseVersion.call(this, `PostgreSQL ${connection.serverVersion}`))
      return base.checkVersion.call(this, connection)
    }
  }
  return Client as unknown as ClientClass
}

/**
 * knex prints "Connection Error: ..." each time its pool drops a dead or expired connection (a server
 * restart, the maximum lifetime). That is routine here: the pool opens a fresh one, and reachability is
 * the health monitor's to report. Its other warnings still go to the log.
 */
function knexLog(): Knex.Config['log'] {
  return {
    warn: (message: string) => {
      if (!/^Connection Error:/.test(message)) console.warn(`[knex] ${message}`)
    }
  }
}

/**
 * NETKEEPER_DEBUG_SQL=1: every statement's text and time on stderr (the CLI's stdout is its result), as
 * `[query] SQL [took N ms]`. Values are never printed: the bindings stay out, as in error messages.
 */
function logStatements(knex: Knex): void {
  if (process.env.NETKEEPER_DEBUG_SQL !== '1') return
  const started = new Map<string, number>()
  type Q = { sql?: string; __knexQueryUid?: string }
  const line = (q: Q, how: string): void => {
    const t0 = q.__knexQueryUid ? started.get(q.__knexQueryUid) : undefined
    if (q.__knexQueryUid) started.delete(q.__knexQueryUid)
    process.stderr.write(`[query] ${q.sql ?? ''} [${how}${t0 === undefined ? '' : ` ${Math.round(performance.now() - t0)} ms`}]\n`)
  }
  knex.client.on('query', (q: Q) => {
    if (q.__knexQueryUid) started.set(q.__knexQueryUid, performance.now())
  })
  knex.client.on('query-response', (_r: unknown, q: Q) => line(q, 'took'))
  knex.client.on('query-error', (_e: unknown, q: Q) => line(q, 'failed after'))
}

/** Where a server knex connects: one host (of a profile's list), a fixed endpoint (a standby), or the primary a tracker follows. */
export interface KnexRoute {
  host?: string
  endpoint?: DbEndpoint
  tracker?: PrimaryTracker
}

/** A thrown "this server is read-only" with the SQLSTATE a statement on a standby gets. */
function readOnlyError(at: string): Error {
  return Object.assign(new Error(`${at} is a read-only standby (in recovery), not the primary`), { code: '25006' })
}

/**
 * A pooled knex on a server. With a tracker, every new connection is opened on the primary it knows (or
 * waits for the next one, up to the acquire timeout) and is checked with pg_is_in_recovery() before the
 * pool hands it out, so no pooled connection is ever on a standby.
 */
export async function serverKnex(spec: ServerSpec, ssl: ServerSpec['ssl'], route: KnexRoute = {}): Promise<Knex> {
  const [knex, PgDialect, pg] = await Promise.all([
    import('knex').then((m) => m.default),
    import('knex/lib/dialects/postgres/index.js').then((m) => m.default),
    import('pg').then((m) => m.default)
  ])
  const types = textDateTypes(pg)
  // knex's pg dialect makes each connection with `new this.driver.Client(...)`: give it Netkeeper's client.
  const driver = Object.create(pg, { Client: { value: netkeeperPgClient(pg, ssl !== false && ssl !== undefined && spec.sslFallback === true) } }) as Pg
  class PgClient extends (PgDialect as unknown as new (config: Knex.Config) => object) {
    _driver(): Pg {
      return driver
    }
  }
  const lifetime = spec.pool.maxLifetimeMs
  const base = {
    ...serverConnection(spec, route.host),
    ...(route.endpoint ? { host: route.endpoint.host, port: route.endpoint.port } : {}),
    ...(ssl === undefined ? {} : { ssl }),
    connectionTimeoutMillis: spec.pool.acquireTimeoutMs,
    application_name: 'netkeeper',
    types
  }
  const tracker = route.tracker
  // knex asks a connection function again whenever its expirationChecker says so (before a new connection,
  // and when it validates one at acquire: a connection made under expired settings is dropped). Expired here
  // means the primary changed or is gone, so connections on a former primary leave the pool.
  const connection = tracker
    ? async () => {
        const ep = await tracker.primary(spec.pool.acquireTimeoutMs)
        const expirationChecker = (): boolean => {
          const now = tracker.primaryNow
          return !now || now !== ep
        }
        return { ...base, host: ep.host, port: ep.port, expirationChecker }
      }
    : base
  const db = knex({
    client: sendingUnboundAsWritten(PgClient as unknown as ClientClass),
    connection: connection as Knex.PgConnectionConfig,
    pool: {
      min: 0,
      max: spec.pool.max,
      acquireTimeoutMillis: spec.pool.acquireTimeoutMs,
      idleTimeoutMillis: spec.pool.idleTimeoutMs,
      // tarn has no maximum lifetime: mark each connection disposed when its lifetime is up; knex's
      // validate() then refuses it at the next acquire and the pool opens a fresh one.
      afterCreate: (
        conn: { __knex__disposed?: unknown; host?: string; port?: number; query(sql: string, cb: (err: Error | null, res: { rows: { r: boolean }[] }) => void): void },
        done: (err: Error | null, conn: unknown) => void
      ) => {
        setTimeout(() => {
          conn.__knex__disposed = 'maximum connection lifetime reached'
        }, lifetime).unref()
        if (!tracker) return done(null, conn)
        // target_session_attrs=read-write, per connection: a host demoted (or a stale primary) is refused.
        conn.query('select pg_is_in_recovery() as r', (err, res) => {
          if (err) return done(err, conn)
          if (res.rows[0]?.r) {
            const at = `${conn.host ?? '?'}:${conn.port ?? '?'}`
            tracker.lost(`${at} is in recovery`, conn.host !== undefined && conn.port !== undefined ? { host: conn.host, port: conn.port } : undefined)
            return done(readOnlyError(at), conn)
          }
          done(null, conn)
        })
      }
    },
    log: knexLog()
  } as Knex.Config) as unknown as Knex
  logStatements(db)
  return db
}

/**
 * Asks one host whether it is a primary or a standby, over a connection of its own (closed at once), with
 * the connection's credentials and TLS (plain on the same socket with sslmode=prefer when the server has no
 * TLS, as the pool's connections do).
 */
export async function probeRole(spec: ServerSpec, ssl: ServerSpec['ssl'], ep: DbEndpoint): Promise<HostRole> {
  const pg = (await import('pg')).default
  const client = new (netkeeperPgClient(pg, spec.sslFallback === true))({
    ...serverConnection(spec),
    host: ep.host,
    port: ep.port,
    ...(ssl === undefined ? {} : { ssl }),
    connectionTimeoutMillis: Math.min(spec.pool.acquireTimeoutMs, 5000),
    application_name: 'netkeeper (primary probe)'
  })
  client.on('error', () => undefined)
  try {
    await client.connect()
    const r = await client.query<{ r: boolean }>('select pg_is_in_recovery() as r')
    return r.rows[0]?.r ? 'standby' : 'primary'
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** knex on a running PGlite (borrowed: destroying the knex leaves PGlite open). */
export async function embeddedKnex(pglite: PGlite): Promise<Knex> {
  const [knex, { PGliteDialect }] = await Promise.all([import('knex').then((m) => m.default), import('@harryplusplus/knex-pglite')])
  const db = knex({
    client: sendingUnboundAsWritten(PGliteDialect as unknown as ClientClass),
    connection: { pglite: () => pglite } as Knex.StaticConnectionConfig,
    // PGlite is one in-process connection: a pool of one serialises transactions instead of interleaving them.
    pool: { min: 1, max: 1 },
    log: knexLog()
  } as Knex.Config) as unknown as Knex
  logStatements(db)
  return db
}

/**
 * MikroORM's options for running migrations on this database, loaded only when a migration is to run. On
 * a server it connects where the Database did (the host that answered, the TLS it was made with); on the
 * embedded store it borrows the same PGlite instance.
 */
export async function migratorOptions(
  on: { spec: EmbeddedSpec; pglite: PGlite } | { spec: ServerSpec; ssl: ServerSpec['ssl']; host: string | undefined; endpoint?: DbEndpoint }
): Promise<Options> {
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
    debug: process.env.NETKEEPER_DEBUG_SQL === '1',
    ensureDatabase: false
  }
  if (on.spec.kind === 'embedded') {
    const pglite = (on as { pglite: PGlite }).pglite
    const { PGliteDriver } = await import('mikro-orm-pglite')
    return { ...base, driver: PGliteDriver, dbName: 'postgres', pool: { min: 1, max: 1 }, driverOptions: { connection: { pglite: () => pglite } } }
  }
  const { spec, ssl, host, endpoint } = on as { spec: ServerSpec; ssl: ServerSpec['ssl']; host: string | undefined; endpoint?: DbEndpoint }
  const { PostgreSqlDriver } = await import('@mikro-orm/postgresql')
  const c = { ...serverConnection(spec, host), ...(endpoint ? { host: endpoint.host, port: endpoint.port } : {}) }
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
      connection: { ...(ssl === undefined ? {} : { ssl }), connectionTimeoutMillis: spec.pool.acquireTimeoutMs, application_name: 'netkeeper' },
      log: knexLog()
    }
  }
}

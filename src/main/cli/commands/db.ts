/** `netkeeper db ...`: migrations and health of the configured database, and the saved connections. */
import path from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { EMBEDDED_CONNECTION, GRANTABLE_ROLES, SSL_MODES } from '../../../shared/choices'
import type { DbProfile } from '../../../shared/schemas'
import type { ConnectionView, HealthReport, ServerConnectionView } from '../../../shared/types'
import type { ConnectionService } from '../../core/settings/connections'
import type { DbProfileService } from '../../core/settings/db-profile'
import type { Core } from '../../core'

// What the commands run on is loaded when they run: defining them (for --help) loads none of it.
const roles = () => import('../../core/db/roles')
const target = () => import('../../core/db/target')
import { action, cliContext, connectionOptions, emit, withCore, UsageError } from '../runtime'
import { confirmRemoval, readHidden } from '../terminal'

const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}

/**
 * Reads a secret from standard input (all of it, one trailing newline dropped); never echoed or logged.
 * On a terminal it asks for it with the echo off.
 */
export async function readStdinSecret(): Promise<string> {
  if (process.stdin.isTTY) {
    const typed = await readHidden('Password (not shown): ')
    if (!typed) throw new UsageError('--password-stdin: no password was typed')
    return typed
  }
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  const s = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (!s) throw new UsageError('--password-stdin: standard input was empty')
  return s
}

/**
 * What rolling back `plan` removes, for the confirmation. Reverting the first migration drops every table:
 * each is named with its row count. A partial rollback names the migrations (their tables, columns and
 * functions go with what they hold).
 */
async function describeRollback(core: Core, plan: string[]): Promise<string[]> {
  const lines = plan.map((m) => `migration ${m}`)
  const { applied } = await core.db.migrationState()
  if (!applied.length || !plan.includes(applied[0]!)) return [...lines, 'and whatever the tables, columns and functions these migrations created hold']
  const tables = await core.db.knex.raw<{ rows: { name: string }[] }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'p') and c.relname <> ? order by 1`,
    [(await import('../../core/db/database')).MIGRATIONS_TABLE]
  )
  const counts: string[] = []
  for (const { name } of tables.rows) {
    const n = (await core.db.knex.raw<{ rows: { n: string }[] }>(`select count(*)::text as n from ??`, [name])).rows[0]!.n
    counts.push(`table ${name} (${n} row${n === '1' ? '' : 's'})${name === 'audit_logs' ? ': the whole audit log' : ''}`)
  }
  return [...lines, 'every Netkeeper table, with its rows:', ...counts.map((c) => `  ${c}`)]
}

async function profileService(cmd: Command): Promise<DbProfileService> {
  const { DbProfileService } = await import('../../core/settings/db-profile')
  return new DbProfileService(connectionOptions(cmd).dataDir)
}

async function connectionService(cmd: Command): Promise<ConnectionService> {
  const { ConnectionService } = await import('../../core/settings/connections')
  return new ConnectionService(connectionOptions(cmd).dataDir)
}

/** The health report as text: `db health` and `db profile test`. */
export function healthText(h: HealthReport): string {
  const t = h.tls
  return [
    `database:   ${h.target.label}`,
    `reachable:  ${h.reachable ? 'yes' : 'no'}${h.error ? ` (${h.error})` : ''}`,
    h.failover && !h.failover.host ? `primary:    none yet, reconnecting (looking among ${h.failover.hosts.join(', ')}${h.failover.lastError ? `: ${h.failover.lastError}` : ''})` : '',
    h.host
      ? `host:       ${h.host} ${h.failover ? 'is the primary (accepts writes)' : 'answered'}${h.hostsSkipped?.length ? ` (not: ${h.hostsSkipped.map((s) => `${s.host}: ${s.error}`).join('; ')})` : ''}`
      : '',
    h.replica
      ? `standby:    ${h.replica.host}${h.replica.error || !h.replica.reachable ? `, not used for reads (${h.replica.error ?? 'no answer'})` : `, reads go there; ${h.replica.bytesBehind === 0 ? 'caught up' : `${h.replica.lagSeconds ?? '?'} s behind (${h.replica.bytesBehind ?? '?'} bytes of WAL)`}`}`
      : '',
    h.serverVersion ? `version:    PostgreSQL ${h.serverVersion}` : '',
    h.latencyMs !== undefined ? `latency:    ${h.latencyMs} ms` : '',
    t ? `tls:        ${t.inUse ? `yes, ${[t.protocol, t.cipher].filter(Boolean).join(' ')}` : 'no'}${t.sslMode ? ` (sslMode ${t.sslMode})` : ''}` : '',
    t?.subject ? `cert:       ${t.subject}${t.issuer ? `, issued by ${t.issuer}` : ''}${t.validTo ? `, valid to ${t.validTo}` : ''}` : '',
    t ? `verified:   ${t.verification}${t.unverifiedReason ? ` (it would not have verified: ${t.unverifiedReason})` : ''}` : '',
    h.pool ? `pool:       ${h.pool.used} used, ${h.pool.free} idle, max ${h.pool.max}` : '',
    h.migrations ? `migrations: ${h.migrations.applied.length} applied, ${h.migrations.pending.length} pending` : '',
    h.login ? `login:      ${h.login} (${h.serverRole ?? 'no Netkeeper role'})` : '',
    h.target.tlsWarning ? `warning:    ${h.target.tlsWarning}` : ''
  ]
    .filter(Boolean)
    .join('\n')
}

/** A saved connection in one line: `office: postgres://nk@db:5432/ipam sslmode=verify-full`. */
function connectionLine(p: DbProfile): string {
  return `postgres://${p.user}@${p.host}:${p.port}/${p.database} sslmode=${p.sslMode}${p.caFile ? ` ca=${p.caFile}` : ''}${p.standby ? ` standby=${p.standby}` : ''}`
}

function connectionText(v: ServerConnectionView): string {
  const p = v.profile
  return [
    `connection ${v.name}${v.active ? ' (active)' : ''}: ${connectionLine(p)}`,
    `password in keychain: ${v.passwordStored === null ? 'unknown (keychain unavailable)' : v.passwordStored ? 'yes' : 'no'}`,
    `pool: max ${p.pool.max}, acquire timeout ${p.pool.acquireTimeoutMs} ms, idle timeout ${p.pool.idleTimeoutMs} ms, lifetime ${p.pool.maxLifetimeMs} ms`,
    v.tlsWarning ? `warning: ${v.tlsWarning}` : ''
  ]
    .filter(Boolean)
    .join('\n')
}

export function dbCommand(): Command {
  const db = new Command('db').description('database migrations and health')

  db.command('migrate')
    .description('apply every pending migration (in one transaction)')
    .action(
      action(async (_opts: object, cmd: Command) => {
        await withCore(cmd, { migrate: false }, async (core) => {
          const applied = await core.db.migrate()
          const state = await core.db.migrationState()
          emit(cmd, { target: core.db.target, applied, state }, () =>
            applied.length ? `applied ${applied.length} migration(s) on ${core.db.target.label}:\n  ${applied.join('\n  ')}` : `nothing to apply on ${core.db.target.label}: the schema is current`
          )
        })
      })
    )

  db.command('rollback')
    .description('roll back the last migration, or every migration after --to (0 rolls back all)')
    .option('--to <migration>', 'roll back down to this migration (exclusive); 0 for all')
    .option('--archive-dir <dir>', 'the archive folder that must hold every audit row before the log is dropped (default: the configured one)')
    .option('--discard-audit', 'drop a non-empty audit log even though no archive holds every row')
    .option('-y, --yes', 'do not ask before dropping tables and their data (needed without a terminal)')
    .action(
      action(async (opts: { to?: string; archiveDir?: string; discardAudit?: boolean; yes?: boolean }, cmd: Command) => {
        if (opts.to !== undefined && !opts.to.trim()) throw new UsageError('--to needs a migration name or 0')
        const to = opts.to === undefined ? undefined : opts.to === '0' ? 0 : opts.to
        await withCore(cmd, { migrate: false }, async (core) => {
          const guard = { discardAudit: opts.discardAudit, archiveDir: core.audit.archiveFolder(opts.archiveDir).dir }
          const plan = await core.db.rollbackCheck(to, guard)
          if (plan.length) await confirmRemoval(`db rollback on ${core.db.target.label}`, await describeRollback(core, plan), opts.yes)
          const reverted = await core.db.rollback(to, guard)
          const state = await core.db.migrationState()
          emit(cmd, { target: core.db.target, reverted, state }, () =>
            reverted.length ? `rolled back ${reverted.length} migration(s):\n  ${reverted.join('\n  ')}` : 'nothing to roll back'
          )
        })
      })
    )

  db.command('status')
    .description('list applied and pending migrations')
    .action(
      action(async (_opts: object, cmd: Command) => {
        await withCore(cmd, { migrate: false }, async (core) => {
          const state = await core.db.migrationState()
          emit(cmd, { target: core.db.target, ...state }, () =>
            [
              `database: ${core.db.target.label}`,
              `applied (${state.applied.length}):${state.applied.map((n) => `\n  ${n}`).join('')}`,
              `pending (${state.pending.length}):${state.pending.map((n) => `\n  ${n}`).join('')}`
            ].join('\n')
          )
        })
      })
    )

  db.command('health')
    .description('server version, latency, pool use and migration state')
    .action(
      action(async (_opts: object, cmd: Command) => {
        await withCore(cmd, { migrate: false }, async (core) => {
          const h = await core.db.health()
          emit(cmd, h, () => healthText(h))
          if (!h.reachable) process.exitCode = 1
        })
      })
    )
  // Roles the server enforces (docs/postgresql-setup.md#roles): owner only.
  db.command('grant')
    .description('give a login one Netkeeper role on this server (viewer, operator or admin); owner only')
    .requiredOption('--login <name>', 'the PostgreSQL login of a person')
    .addOption(new Option('--role <role>', 'the role to give').choices([...GRANTABLE_ROLES]).makeOptionMandatory())
    .action(
      action(async (o: { login: string; role: string }, cmd: Command) => {
        await withCore(cmd, { migrate: false }, async (core) => {
          const r = await (await roles()).grantRole(core.db, cliContext(), o.login, o.role)
          emit(cmd, r, () => (r.before === r.after ? `${r.login} already has ${r.after}` : `${r.login}: ${r.before ?? 'no role'} -> ${r.after}`))
        })
      })
    )
  db.command('revoke')
    .description('take every Netkeeper role a login holds on this server; owner only')
    .requiredOption('--login <name>', 'the PostgreSQL login of a person')
    .action(
      action(async (o: { login: string }, cmd: Command) => {
        await withCore(cmd, { migrate: false }, async (core) => {
          const r = await (await roles()).revokeRoles(core.db, cliContext(), o.login)
          emit(cmd, r, () => (r.before === r.after ? `${r.login} holds no Netkeeper role of its own${r.after ? ` (still ${r.after} through another role)` : ''}` : `${r.login}: ${r.before ?? 'no role'} -> ${r.after ?? 'no role'}`))
        })
      })
    )
  db.command('roles')
    .description('list the logins with a Netkeeper role on this server; owner only')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: false }, async (core) => {
          const rows = await (await roles()).listRoles(core.db)
          emit(cmd, rows, () => (rows.length ? rows.map((r) => `${r.login.padEnd(24)} ${r.role ?? '-'}${r.canLogin ? '' : ' (cannot log in)'}`).join('\n') : 'no login holds a Netkeeper role'))
        })
      })
    )
  db.command('require-sign-in')
    .description('show, or set with yes|no, whether the app requires a directory sign-in on this database (admin)')
    .argument('[yes|no]', 'yes to require a sign-in, no to stop requiring one; nothing to show the setting')
    .action(
      action(async (value: string | undefined, _o: object, cmd: Command) => {
        if (value !== undefined && value !== 'yes' && value !== 'no') throw new UsageError(`require-sign-in: "${value}" is not yes or no`)
        await withCore(cmd, { migrate: false }, async (core) => {
          const r = value === undefined ? await core.auth.refreshPolicy(true) : await core.auth.setSignInPolicy(cliContext(), { requireSignIn: value === 'yes' })
          emit(cmd, r, () => `directory sign-in ${r.requireSignIn ? 'required' : 'not required'} on ${core.db.target.label}`)
        })
      })
    )
  const profile = db
    .command('profile')
    .description('the saved connections to PostgreSQL servers (passwords in the OS keychain) and which one is used')

  profile
    .command('list')
    .description('the embedded store and every saved connection; * marks the active one, > the one this run uses')
    .action(
      action(async (_o: object, cmd: Command) => {
        const opts = connectionOptions(cmd)
        const { connectionOverride, describeTarget, resolveConnection } = await target()
        const inUse = await resolveConnection({ ...opts, labelOnly: true }).then(
          (spec) => describeTarget(spec).connection,
          () => undefined
        )
        const r = await (await connectionService(cmd)).list({ inUse, overriddenBy: connectionOverride(opts) })
        const row = (c: ConnectionView): string => {
          const mark = `${c.active ? '*' : ' '}${c.inUse ? '>' : ' '}`
          if (c.kind === 'embedded') return `${mark} ${c.name.padEnd(16)} ${c.label}`
          const pw = c.passwordStored === null ? 'keychain unavailable' : c.passwordStored ? 'password saved' : 'no password saved'
          return `${mark} ${c.name.padEnd(16)} ${connectionLine(c.profile)}  (${pw})${c.tlsWarning ? `\n     warning: ${c.tlsWarning}` : ''}`
        }
        emit(cmd, r, () =>
          [
            ...r.connections.map(row),
            r.overriddenBy && r.connections.some((c) => c.active && !c.inUse) ? `(${r.overriddenBy} decides this run instead of the active connection)` : ''
          ]
            .filter(Boolean)
            .join('\n')
        )
      })
    )

  profile
    .command('show')
    .description('show a saved connection (default: the active one), never its password')
    .argument('[name]', 'connection name')
    .action(
      action(async (name: string | undefined, _o: object, cmd: Command) => {
        if (name === undefined) {
          // As before connections: the active one, or null (JSON) when the embedded store is active.
          const v = await (await profileService(cmd)).get()
          const full = v ? await (await connectionService(cmd)).get(v.profile.name) : null
          emit(cmd, full, () => (full ? connectionText(full) : 'no saved connection is active: the embedded database is used unless NETKEEPER_DATABASE_URL or --database-url is given'))
          return
        }
        const v = await (await connectionService(cmd)).get(name)
        emit(cmd, v, () => connectionText(v))
      })
    )

  const withProfileOptions = (c: Command): Command =>
    c
      .option('--name <name>', 'connection name (or give it as the argument)')
      .option('--host <host>', 'host name or address (HOST or HOST:PORT); several, comma-separated: the one that accepts writes is used, and a failover is followed')
      .option('--standby <host>', 'a read-only standby (HOST or HOST:PORT) for the audit viewer, export and verify; edits never go to it ("" removes it)')
      .option('--port <port>', 'port (default 5432)', int('--port'))
      .option('--database <name>', 'database name (required)')
      .option('--user <user>', 'login, a PostgreSQL role that can log in (required)')
      .addOption(new Option('--ssl-mode <mode>', 'TLS mode (default verify-full; prefer, require and disable must be chosen and are warned about)').choices([...SSL_MODES]))
      .option('--ca-file <file>', 'CA certificate for verify-ca / verify-full (PEM)')
      .option('--pool-max <n>', 'connections at most (default 4)', int('--pool-max'))
      .option('--pool-acquire-timeout-ms <ms>', 'wait at most this long for a connection, also the connect timeout (default 10000)', int('--pool-acquire-timeout-ms'))
      .option('--pool-idle-timeout-ms <ms>', 'close a connection idle this long (default 30000)', int('--pool-idle-timeout-ms'))
      .option('--pool-max-lifetime-ms <ms>', 'replace a connection after this long (default 1800000)', int('--pool-max-lifetime-ms'))
      .option('--password-stdin', 'read the password from standard input, or ask for it unechoed on a terminal (`add` and `set` store it in the OS keychain; `test` only uses it)')
  interface ProfileOpts {
    name?: string
    host?: string
    port?: number
    database?: string
    user?: string
    sslMode?: string
    caFile?: string
    standby?: string
    poolMax?: number
    poolAcquireTimeoutMs?: number
    poolIdleTimeoutMs?: number
    poolMaxLifetimeMs?: number
    passwordStdin?: boolean
  }
  const toProfile = (o: ProfileOpts, name: string | undefined) => {
    for (const f of ['host', 'database', 'user'] as const) if (!o[f]) throw new UsageError(`--${f} is required`)
    if (name !== undefined && o.name !== undefined && name !== o.name) throw new UsageError(`the name is given twice (${name} and --name ${o.name})`)
    return {
      name: name ?? o.name ?? 'default',
      host: o.host,
      ...(o.port !== undefined ? { port: o.port } : {}),
      database: o.database,
      user: o.user,
      ...(o.sslMode !== undefined ? { sslMode: o.sslMode } : {}),
      // The app reads the file later, from another folder: keep where it is, not where this shell is.
      ...(o.caFile !== undefined ? { caFile: path.resolve(o.caFile) } : {}),
      ...(o.standby ? { standby: o.standby } : {}),
      pool: {
        max: o.poolMax ?? 4,
        acquireTimeoutMs: o.poolAcquireTimeoutMs ?? 10_000,
        idleTimeoutMs: o.poolIdleTimeoutMs ?? 30_000,
        maxLifetimeMs: o.poolMaxLifetimeMs ?? 1_800_000
      }
    }
  }
  const password = async (o: ProfileOpts): Promise<string | undefined> => (o.passwordStdin ? readStdinSecret() : process.env.NETKEEPER_DB_PASSWORD || undefined)
  const savedText = (v: ServerConnectionView, verb: string, tail: string): string =>
    `${verb} connection ${v.name} (postgres://${v.profile.user}@${v.profile.host}:${v.profile.port}/${v.profile.database}, sslmode=${v.profile.sslMode})${tail}` +
    (v.tlsWarning ? `\nwarning: ${v.tlsWarning}` : '')

  withProfileOptions(profile.command('test').description('try a connection without saving it: the options, or a saved connection by name'))
    .argument('[name]', 'a saved connection (without --host), or the name of the one whose saved password may be used')
    .action(
      action(async (name: string | undefined, o: ProfileOpts, cmd: Command) => {
        const pw = await password(o)
        let h: HealthReport
        if (o.host === undefined && name !== undefined) {
          const svc = await connectionService(cmd)
          h = await svc.test((await svc.get(name)).profile, pw)
        } else {
          h = await (await profileService(cmd)).test(toProfile(o, name), pw)
        }
        emit(cmd, h, () => (h.reachable ? healthText(h) : `unreachable: ${h.error}`))
        if (!h.reachable) process.exitCode = 1
      })
    )

  withProfileOptions(profile.command('add').description('test, then save a connection (or replace the one of that name); the password goes to the OS keychain'))
    .argument('[name]', 'connection name (default: --name, else "default")')
    .option('--skip-test', 'save without connecting first')
    .action(
      action(async (name: string | undefined, o: ProfileOpts & { skipTest?: boolean }, cmd: Command) => {
        const v = await (await connectionService(cmd)).save(cliContext(), toProfile(o, name), await password(o), { skipTest: o.skipTest })
        emit(cmd, v, () => savedText(v, 'saved', v.active ? '; it is the active connection' : `; use it with --profile ${v.name} or \`netkeeper db profile use ${v.name}\``))
      })
    )

  withProfileOptions(profile.command('set').description('test, then save a connection and make it the active one (add + use)'))
    .argument('[name]', 'connection name (default: --name, else "default")')
    .option('--skip-test', 'save without connecting first')
    .action(
      action(async (name: string | undefined, o: ProfileOpts & { skipTest?: boolean }, cmd: Command) => {
        const svc = await profileService(cmd)
        const r = await svc.save(cliContext(), toProfile(o, name), await password(o), { skipTest: o.skipTest })
        const v = await svc.connections.get(r.profile.name)
        emit(cmd, v, () => savedText(v, 'saved', '; it is the active connection, used from the next start'))
      })
    )

  profile
    .command('use')
    .description('make a saved connection, or "embedded", the active one (opened by the app and the CLI from now on)')
    .argument('<name>', `connection name, or ${EMBEDDED_CONNECTION}`)
    .action(
      action(async (name: string, _o: object, cmd: Command) => {
        const svc = await connectionService(cmd)
        const r = svc.use(name)
        const v = r.active === EMBEDDED_CONNECTION ? undefined : await svc.get(r.active)
        const warning = v ? (await import('../../../shared/schemas')).sslWarning(v.profile.sslMode) : null
        emit(cmd, { ...r, ...(warning ? { tlsWarning: warning } : {}) }, () =>
          `the active connection is now ${r.active}${v ? ` (${connectionLine(v.profile)})` : ' (the embedded database)'}${warning ? `\nwarning: ${warning}` : ''}`
        )
      })
    )

  profile
    .command('remove')
    .description('remove a saved connection and its password (the embedded store becomes active if it was); asks first on a terminal')
    .argument('<name>', 'connection name')
    .option('-y, --yes', 'do not ask first (needed without a terminal)')
    .action(
      action(async (name: string, o: { yes?: boolean }, cmd: Command) => {
        const svc = await connectionService(cmd)
        // "embedded" is refused by remove() itself, with its reason; there is nothing to ask about.
        const v = name === EMBEDDED_CONNECTION ? undefined : await svc.get(name)
        if (v) await confirmRemoval('db profile remove', [`the saved connection ${v.name} (${connectionLine(v.profile)})${v.active ? ', the active one' : ''}`, ...(v.passwordStored === false ? [] : ['its password in the OS keychain'])], o.yes)
        const r = await svc.remove(name)
        emit(cmd, r, () => `removed connection ${name}${r.secretRemoved ? ' and its password' : ''}${r.wasActive ? '; the embedded database is active now' : ''}`)
      })
    )

  profile
    .command('clear')
    .description('remove the active connection and its password (back to the embedded database); asks first on a terminal')
    .option('-y, --yes', 'do not ask first (needed without a terminal)')
    .action(
      action(async (o: { yes?: boolean }, cmd: Command) => {
        const service = await profileService(cmd)
        const saved = await service.get()
        if (saved) {
          const p = saved.profile
          await confirmRemoval('db profile clear', [`the saved connection ${p.name} (postgres://${p.user}@${p.host}:${p.port}/${p.database})`, ...(saved.passwordStored === false ? [] : ['its password in the OS keychain'])], o.yes)
        }
        const r = await service.clear()
        emit(cmd, r, () => (r.removed ? 'removed the active connection: the embedded database is used from now on' : 'no saved connection was active'))
      })
    )
  return db
}

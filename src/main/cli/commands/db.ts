/** `netkeeper db ...`: migrations and health of the configured database. */
import { Command, InvalidArgumentError, Option } from 'commander'
import { GRANTABLE_ROLES, SSL_MODES } from '../../../shared/choices'
import { resolveDataDir } from '../../core/paths'
import type { DbProfileService } from '../../core/settings/db-profile'

/** Role grants, loaded when a roles command runs. */
const roles = () => import('../../core/db/roles')
import { action, cliContext, emit, globals, withCore, UsageError } from '../runtime'

const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}

/** Reads a secret from standard input (all of it, one trailing newline dropped); never echoed or logged. */
export async function readStdinSecret(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  const s = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (!s) throw new UsageError('--password-stdin: standard input was empty')
  return s
}

async function profileService(cmd: Command): Promise<DbProfileService> {
  const g = globals(cmd)
  if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
  const { DbProfileService } = await import('../../core/settings/db-profile')
  return new DbProfileService(resolveDataDir())
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
    .action(
      action(async (opts: { to?: string }, cmd: Command) => {
        if (opts.to !== undefined && !opts.to.trim()) throw new UsageError('--to needs a migration name or 0')
        const to = opts.to === undefined ? undefined : opts.to === '0' ? 0 : opts.to
        await withCore(cmd, { migrate: false }, async (core) => {
          const reverted = await core.db.rollback(to)
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
          emit(cmd, h, () =>
            [
              `database:   ${h.target.label}`,
              `reachable:  ${h.reachable ? 'yes' : 'no'}${h.error ? ` (${h.error})` : ''}`,
              h.serverVersion ? `version:    PostgreSQL ${h.serverVersion}` : '',
              h.latencyMs !== undefined ? `latency:    ${h.latencyMs} ms` : '',
              h.pool ? `pool:       ${h.pool.used} used, ${h.pool.free} idle, max ${h.pool.max}` : '',
              h.migrations ? `migrations: ${h.migrations.applied.length} applied, ${h.migrations.pending.length} pending` : '',
              h.login ? `login:      ${h.login} (${h.serverRole ?? 'no Netkeeper role'})` : ''
            ]
              .filter(Boolean)
              .join('\n')
          )
          if (!h.reachable) process.exitCode = 1
        })
      })
    )
  // Roles the server enforces (docs/postgresql-setup.md#roles): owner only.
  db.command('grant')
    .description('give a login one Netkeeper role on this server (viewer, operator or admin); owner only')
    .requiredOption('--login <name>', 'the PostgreSQL login of a person')
    .addOption(new Option('--role <role>').choices([...GRANTABLE_ROLES]).makeOptionMandatory())
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
    .argument('[yes|no]')
    .action(
      action(async (value: string | undefined, _o: object, cmd: Command) => {
        if (value !== undefined && value !== 'yes' && value !== 'no') throw new UsageError(`require-sign-in: "${value}" is not yes or no`)
        await withCore(cmd, { migrate: false }, async (core) => {
          const r = value === undefined ? await core.auth.refreshPolicy(true) : await core.auth.setSignInPolicy(cliContext(), { requireSignIn: value === 'yes' })
          emit(cmd, r, () => `directory sign-in ${r.requireSignIn ? 'required' : 'not required'} on ${core.db.target.label}`)
        })
      })
    )
  const profile = db.command('profile').description('the saved connection to a shared PostgreSQL server (password in the OS keychain)')
  profile
    .command('show')
    .description('show the saved profile (never the password)')
    .action(
      action(async (_o: object, cmd: Command) => {
        const v = await (await profileService(cmd)).get()
        emit(cmd, v, () =>
          v
            ? `profile ${v.profile.name}: postgres://${v.profile.user}@${v.profile.host}:${v.profile.port}/${v.profile.database} sslmode=${v.profile.sslMode}` +
              `${v.profile.caFile ? ` ca=${v.profile.caFile}` : ''}\npassword in keychain: ${v.passwordStored === null ? 'unknown (keychain unavailable)' : v.passwordStored ? 'yes' : 'no'}` +
              `\npool: max ${v.profile.pool.max}, acquire timeout ${v.profile.pool.acquireTimeoutMs} ms, idle timeout ${v.profile.pool.idleTimeoutMs} ms, lifetime ${v.profile.pool.maxLifetimeMs} ms`
            : 'no saved profile: the embedded database is used unless NETKEEPER_DATABASE_URL or --database-url is given'
        )
      })
    )
  const withProfileOptions = (c: Command): Command =>
    c
      .option('--name <name>', 'profile name', 'default')
      .requiredOption('--host <host>')
      .option('--port <port>', 'port', int('--port'), 5432)
      .requiredOption('--database <name>')
      .requiredOption('--user <user>')
      .addOption(new Option('--ssl-mode <mode>').choices([...SSL_MODES]).default('prefer'))
      .option('--ca-file <file>', 'CA certificate for verify-ca / verify-full')
      .option('--pool-max <n>', 'connections at most', int('--pool-max'), 4)
      .option('--password-stdin', 'read the password from standard input (`set` stores it in the OS keychain; `test` only uses it)')
  interface ProfileOpts {
    name: string
    host: string
    port: number
    database: string
    user: string
    sslMode: string
    caFile?: string
    poolMax: number
    passwordStdin?: boolean
  }
  const toProfile = (o: ProfileOpts) => ({
    name: o.name,
    host: o.host,
    port: o.port,
    database: o.database,
    user: o.user,
    sslMode: o.sslMode,
    caFile: o.caFile,
    pool: { max: o.poolMax, acquireTimeoutMs: 10_000, idleTimeoutMs: 30_000, maxLifetimeMs: 1_800_000 }
  })
  withProfileOptions(profile.command('test').description('try a connection without saving it')).action(
    action(async (o: ProfileOpts, cmd: Command) => {
      const password = o.passwordStdin ? await readStdinSecret() : process.env.NETKEEPER_DB_PASSWORD
      const h = await (await profileService(cmd)).test(toProfile(o), password)
      emit(cmd, h, () => (h.reachable ? `reachable: PostgreSQL ${h.serverVersion}, ${h.latencyMs} ms` : `unreachable: ${h.error}`))
      if (!h.reachable) process.exitCode = 1
    })
  )
  withProfileOptions(profile.command('set').description('test, then save the profile; the password goes to the OS keychain'))
    .option('--skip-test', 'save without connecting first')
    .action(
      action(async (o: ProfileOpts & { skipTest?: boolean }, cmd: Command) => {
        const password = o.passwordStdin ? await readStdinSecret() : process.env.NETKEEPER_DB_PASSWORD
        const v = await (await profileService(cmd)).save(cliContext(), toProfile(o), password, { skipTest: o.skipTest })
        emit(cmd, v, () => `saved profile ${v.profile.name} (postgres://${v.profile.user}@${v.profile.host}:${v.profile.port}/${v.profile.database}); it is used from the next start`)
      })
    )
  profile
    .command('clear')
    .description('remove the saved profile and its password (back to the embedded database)')
    .action(
      action(async (_o: object, cmd: Command) => {
        const r = await (await profileService(cmd)).clear()
        emit(cmd, r, () => (r.removed ? 'removed the saved profile' : 'there was no saved profile'))
      })
    )
  return db
}

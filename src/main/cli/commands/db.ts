/** `netkeeper db ...`: migrations and health of the configured database. */
import { Command } from 'commander'
import { action, emit, withCore, UsageError } from '../runtime'

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
              h.migrations ? `migrations: ${h.migrations.applied.length} applied, ${h.migrations.pending.length} pending` : ''
            ]
              .filter(Boolean)
              .join('\n')
          )
          if (!h.reachable) process.exitCode = 1
        })
      })
    )
  return db
}

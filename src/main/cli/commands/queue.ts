/** `netkeeper queue ...`: the offline queue of edits made while the database server was unreachable. */
import { Command, InvalidArgumentError, Option } from 'commander'
import { QUEUE_STATES } from '../../../shared/choices'
import type { QueueEntryDto, QueueState } from '../../../shared/offline'
import { action, cliContext, emit, intendedTarget, table, UsageError, withCore, withQueue } from '../runtime'
import { confirmRemoval } from '../terminal'

const positive = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive whole number`)
  return Number(v)
}

function line(e: QueueEntryDto): Record<string, unknown> {
  return {
    id: e.id,
    state: e.state,
    queued: e.createdAt,
    actor: e.actor,
    edit: e.note.replace(/^(queued, not done|applied|cancelled, never applied|conflict, not applied): /, ''),
    basis: e.basedOn.version !== undefined ? `v${e.basedOn.version}` : e.basedOn.poolUpdatedAt ? `pool@${e.basedOn.poolUpdatedAt}` : '-'
  }
}
const cols = ['id', 'state', 'queued', 'actor', 'edit', 'basis']

function conflictText(e: QueueEntryDto): string {
  const c = e.conflict
  return [
    `#${e.id} ${e.operation} by ${e.actor}, queued ${e.createdAt} (key ${e.idempotencyKey})`,
    `  refused: ${c?.code.toLowerCase()}: ${c?.message}`,
    `  queued:  ${JSON.stringify(c?.queued ?? e.args)}`,
    `  server:  ${c?.server === null || c?.server === undefined ? '(nothing there now)' : JSON.stringify(c.server)}`,
    `  then: netkeeper queue retry ${e.id} [--ip IP | --if-version N | --pool POOL]   or   netkeeper queue cancel ${e.id}`
  ].join('\n')
}

export function queueCommand(): Command {
  const queue = new Command('queue').description('edits queued while the database server was unreachable: list, replay, conflicts, retry, cancel')

  queue
    .command('list')
    .description('queued edits, oldest first (every state unless --state)')
    .addOption(new Option('--state <state>', 'only edits in this state').choices([...QUEUE_STATES]))
    .option('--limit <n>', 'at most this many', positive('--limit'), 1000)
    .action(
      action(async (o: { state?: QueueState; limit: number }, cmd: Command) => {
        // The snapshot of the database this run points at (each connection has its own); none when the settings cannot say.
        const target = await intendedTarget(cmd).then(
          (t) => t.label,
          () => undefined
        )
        await withQueue(cmd, (q) => {
          const items = q.list({ state: o.state, limit: o.limit })
          const counts = q.counts()
          emit(cmd, { items, counts, snapshotAt: target === undefined ? null : q.snapshot(target).at() }, () =>
            `${table(items.map(line), cols)}\n(${counts.queued} queued, not done; ${counts.conflict} conflict(s); ${counts.applied} applied; ${counts.cancelled} cancelled)`
          )
        })
      })
    )

  queue
    .command('conflicts')
    .description('edits the server refused at replay, each with what was queued and what the server has now')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withQueue(cmd, (q) => {
          const items = q.conflicts()
          emit(cmd, { items }, () => (items.length ? items.map(conflictText).join('\n\n') : '(no conflicts)'))
        })
      })
    )

  queue
    .command('cancel <id>')
    .description('discard a queued or conflicting edit (it is never applied); asks first on a terminal')
    .option('-y, --yes', 'do not ask first (needed without a terminal)')
    .action(
      action(async (id: string, o: { yes?: boolean }, cmd: Command) => {
        const n = positive('id')(id)
        await withQueue(cmd, async (q) => {
          const before = q.get(n)
          if (before.state === 'queued' || before.state === 'conflict') {
            await confirmRemoval('queue cancel', [`the ${before.state} edit #${before.id} by ${before.actor} from ${before.createdAt}: ${before.note.replace(/^[^:]*: /, '')}`], o.yes)
          }
          const e = q.cancel(n)
          emit(cmd, e, () => `cancelled #${e.id}: ${e.note.replace(/^cancelled, never applied: /, '')}`)
        })
      })
    )

  queue
    .command('retry <id>')
    .description('put a conflicting edit back in the queue, as it was or re-targeted (another address, version or pool); it then replays as you')
    .option('--ip <ip>', 're-target an explicit allocation to this address')
    .option('--pool <pool>', 're-target to this pool')
    .option('--if-version <n>', 'make an update or release against this version (e.g. the server\'s current one)', positive('--if-version'))
    .option('--any-version', 'drop the version check (applies to whatever the address holds then)')
    .action(
      action(async (id: string, o: { ip?: string; pool?: string; ifVersion?: number; anyVersion?: boolean }, cmd: Command) => {
        const n = positive('id')(id)
        if (o.ifVersion !== undefined && o.anyVersion) throw new UsageError('give --if-version or --any-version, not both')
        const changes: Record<string, unknown> = {
          ...(o.ip !== undefined ? { ip: o.ip } : {}),
          ...(o.pool !== undefined ? { pool: o.pool } : {}),
          ...(o.ifVersion !== undefined ? { version: o.ifVersion } : {}),
          ...(o.anyVersion ? { version: null } : {})
        }
        await withQueue(cmd, (q) => {
          const e = q.retry(n, cliContext(), Object.keys(changes).length ? changes : undefined)
          emit(cmd, e, () => `#${e.id} is queued again: ${e.note}`)
        })
      })
    )

  queue
    .command('replay')
    .description('apply the queued edits to the database, oldest first, each exactly once')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          await withQueue(cmd, async (q) => {
            const { replayQueue } = await import('../../core/offline/replay')
            const r = await replayQueue(core, q, { replayer: cliContext() })
            emit(cmd, r, () =>
              [
                `applied ${r.applied} edit(s)${r.alreadyApplied ? ` (${r.alreadyApplied} had already been applied by an interrupted replay)` : ''} in ${r.ms} ms`,
                r.conflicts ? `${r.conflicts} conflict(s), not applied: see \`netkeeper queue conflicts\`` : '',
                r.otherTarget ? `${r.otherTarget} edit(s) are for another database and were left in the queue` : '',
                r.waiting
                  ? `${r.waiting} directory edit(s) wait in the queue: they are applied by the app, under the directory session of the person who made them, once the directory answers`
                  : '',
                r.heldForRole ? `${r.heldForRole} edit(s) need a role you do not have and wait in the queue for a replay by someone who has it` : '',
                r.stopped ? `stopped: ${r.stopped}; ${r.remaining} edit(s) still queued` : ''
              ]
                .filter(Boolean)
                .join('\n')
            )
            if (r.stopped) process.exitCode = 1
          })
        })
      })
    )
  return queue
}

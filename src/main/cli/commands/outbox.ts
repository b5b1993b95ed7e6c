/** `netkeeper outbox ...`: the side effects waiting to be applied (DNS updates, DHCP reservations), and their worker. */
import { Command, InvalidArgumentError, Option } from 'commander'
import { OUTBOX_STATES } from '../../../shared/choices'
import type { OutboxRow, OutboxState } from '../../core/outbox/outbox'
import { action, cliContext, emit, table, withCore } from '../runtime'

const seconds = (v: string): number => {
  if (!/^\d+(\.\d+)?$/.test(v.trim())) throw new InvalidArgumentError('must be a number of seconds')
  return Number(v)
}

function line(r: OutboxRow): Record<string, unknown> {
  return {
    id: r.id,
    kind: r.kind,
    target: r.target,
    subject: r.subject ?? '',
    state: r.state,
    attempts: r.attempts,
    note: r.state === 'done' ? String(r.outcome?.message ?? '') : (r.lastError ?? (r.state === 'pending' ? `due ${r.nextAttemptAt}` : ''))
  }
}
const cols = ['id', 'kind', 'target', 'subject', 'state', 'attempts', 'note']

export function outboxCommand(): Command {
  const outbox = new Command('outbox').description('side effects outside the database (DNS updates, DHCP reservations): status, run the worker, retry, ignore')

  outbox
    .command('status')
    .description('how many side effects are pending, done or need a person; the ones retrying and refused')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const s = await core.outbox.status()
          emit(cmd, s, () =>
            [
              OUTBOX_STATES.map((k) => `${k}: ${s.counts[k]}`).join(', '),
              s.retrying.length ? `\nretrying:\n${table(s.retrying.map(line), cols)}` : '',
              s.attention.length ? `\nneeds a person (netkeeper outbox retry|ignore ID):\n${table(s.attention.map(line), cols)}` : ''
            ].join('\n')
          )
        })
      })
    )

  outbox
    .command('list')
    .description('side effects, newest first')
    .addOption(new Option('--state <state>', 'only side effects in this state').choices([...OUTBOX_STATES]))
    .option('--subject <subject>', 'of one resource, e.g. ip_allocation:42')
    .option('--limit <n>', 'at most this many', (v) => Number(v), 100)
    .action(
      action(async (o: { state?: OutboxState; subject?: string; limit: number }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const items = await core.outbox.list(o)
          emit(cmd, { items }, () => table(items.map(line), cols))
        })
      })
    )

  outbox
    .command('run')
    .description('apply the side effects that are due, then exit (or keep going with --watch)')
    .option('--watch', 'keep running, a pass every --interval seconds, until interrupted')
    .option('--interval <seconds>', 'with --watch: seconds between passes', seconds, 2)
    .option('--timeout <seconds>', 'without --watch: stop after this long', seconds, 60)
    .action(
      action(async (o: { watch?: boolean; interval: number; timeout: number }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          if (!o.watch) {
            const r = await core.outbox.drain(o.timeout * 1000)
            emit(cmd, r, () => `claimed ${r.claimed}: ${r.done} done, ${r.conflict} conflict(s), ${r.failed} failed, ${r.retrying} to retry later`)
            return
          }
          process.stderr.write(`outbox worker ${core.outbox.workerId}: a pass every ${o.interval} s; Ctrl+C stops\n`)
          core.startOutbox(o.interval * 1000)
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve)
            process.once('SIGTERM', resolve)
          })
        })
      })
    )

  for (const [name, what] of [
    ['retry', 'put a conflicting or failed side effect back in the queue (after fixing its cause)'],
    ['ignore', 'give up on a side effect: it is never applied']
  ] as const) {
    outbox
      .command(`${name} <id>`)
      .description(what)
      .action(
        action(async (id: string, _o: object, cmd: Command) => {
          await withCore(cmd, { migrate: true }, async (core) => {
            const ctx = cliContext()
            const r = name === 'retry' ? await core.outbox.retry(ctx, id) : await core.outbox.ignore(ctx, id)
            if (name === 'retry') await core.outbox.drain(10_000)
            const [now] = await core.outbox.list({}).then((l) => l.filter((x) => x.id === r.id))
            emit(cmd, now ?? r, () => table([line(now ?? r)], cols))
          })
        })
      )
  }
  return outbox
}

/** `netkeeper audit ...`: list, export, verify, purge and retention policies. */
import fs from 'node:fs'
import path from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { AUDIT_ACTIONS, AUDIT_SOURCES, AUDIT_STATUSES, EXPORT_FORMATS } from '../../../shared/choices'
import type { AuditEntryDto, AuditFilter, ExportFormat } from '../../../shared/audit'
import { action, cliContext, emit, table, UsageError, withCore } from '../runtime'

const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}

interface FilterOpts {
  from?: string
  to?: string
  action?: string[]
  resourceType?: string
  resource?: string
  actor?: string
  ip?: string
  status?: 'success'
  source?: 'ui'
  requestId?: string
  text?: string
}

function addFilters(c: Command): Command {
  return c
    .option('--from <time>', 'from this time (ISO-8601, inclusive)')
    .option('--to <time>', 'up to this time (ISO-8601, exclusive)')
    .addOption(new Option('--action <action...>', 'one or more actions').choices([...AUDIT_ACTIONS]))
    .option('--resource-type <type>', 'ip_pool, ip_allocation, audit_log, ...')
    .option('--resource <id-or-name>', 'resource id, or name prefix')
    .option('--actor <user>', 'who did it')
    .option('--ip <ip-or-cidr>', "the actor's address, or every address inside a CIDR")
    .addOption(new Option('--status <status>').choices([...AUDIT_STATUSES]))
    .addOption(new Option('--source <source>').choices([...AUDIT_SOURCES]))
    .option('--request-id <id>')
    .option('--text <text>', 'text anywhere in the details')
}

const filters = (o: FilterOpts): AuditFilter => ({
  from: o.from,
  to: o.to,
  action: o.action as AuditFilter['action'],
  resourceType: o.resourceType,
  resource: o.resource,
  actor: o.actor,
  ip: o.ip,
  status: o.status,
  source: o.source,
  requestId: o.requestId,
  text: o.text
})

const line = (e: AuditEntryDto): Record<string, unknown> => ({
  seq: e.seq,
  time: e.createdAt,
  action: e.action,
  status: e.status,
  type: e.resourceType,
  resource: e.resourceName ?? e.resourceId ?? '',
  actor: e.userId ?? '',
  source: e.source
})

export function auditCommand(): Command {
  const audit = new Command('audit').description('the tamper-evident audit trail')

  addFilters(audit.command('list').description('list entries, newest first'))
    .option('--limit <n>', 'entries per page (max 1000)', int('--limit'), 50)
    .option('--before <seq>', 'continue below this sequence number (keyset pagination)')
    .action(
      action(async (o: FilterOpts & { limit: number; before?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const page = await core.audit.list(cliContext(), { ...filters(o), limit: o.limit, before: o.before })
          emit(cmd, page, () =>
            `${table(page.items.map(line), ['seq', 'time', 'action', 'status', 'type', 'resource', 'actor', 'source'])}${page.nextCursor ? `\n(more: --before ${page.nextCursor})` : ''}`
          )
        })
      })
    )

  addFilters(audit.command('export').description('export entries as CSV, JSON or JSON Lines, streamed in constant memory'))
    .addOption(new Option('--format <format>').choices([...EXPORT_FORMATS]).makeOptionMandatory())
    .requiredOption('--out <file>', 'where to write ("-" for standard output)')
    .action(
      action(async (o: FilterOpts & { format: ExportFormat; out: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const toStdout = o.out === '-'
          const file = toStdout ? undefined : path.resolve(o.out)
          // Write to a temporary file and rename, so a failed export never leaves a truncated file behind.
          const tmp = file ? `${file}.${process.pid}.partial` : undefined
          const out = tmp ? fs.createWriteStream(tmp, { mode: 0o600 }) : process.stdout
          let lastShown = 0
          const progress = (done: number, total: number): void => {
            if (toStdout || !process.stderr.isTTY || Date.now() - lastShown < 200) return
            lastShown = Date.now()
            process.stderr.write(`\rexporting ${done}/${total}`)
          }
          try {
            const r = await core.audit.export(cliContext(), out, o.format, filters(o), progress)
            if (tmp && file) {
              await new Promise<void>((resolve, reject) => (out as fs.WriteStream).end((e?: Error | null) => (e ? reject(e) : resolve())))
              fs.renameSync(tmp, file)
            }
            if (!toStdout) {
              if (process.stderr.isTTY) process.stderr.write('\r')
              emit(cmd, { ...r, file }, () => `exported ${r.rows} entries (${r.bytes} bytes) to ${file}`)
            }
          } catch (e) {
            if (tmp) fs.rmSync(tmp, { force: true })
            throw e
          }
        })
      })
    )

  audit
    .command('verify')
    .description('walk the hash chain; exit 1 naming the first altered, missing or reordered entry')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.audit.verify(cliContext())
          emit(cmd, r, () =>
            r.ok
              ? `audit chain intact: ${r.checked} entries checked (seq ${r.firstSeq ?? '-'} to ${r.lastSeq ?? '-'}), ${r.checkpoints} purge checkpoint(s), ${r.seconds} s`
              : `AUDIT CHAIN BROKEN at seq ${r.problem!.seq} (${r.problem!.kind}): ${r.problem!.message}`
          )
          if (!r.ok) process.exitCode = 1
        })
      })
    )

  audit
    .command('purge')
    .description('remove entries older than their retention (365 days by default); the purge is audited')
    .option('--dry-run', 'only report what would be removed')
    .action(
      action(async (o: { dryRun?: boolean }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.audit.purge(cliContext(), { dryRun: o.dryRun })
          emit(cmd, r, () =>
            `${r.dryRun ? 'would remove' : 'removed'} ${r.rows} entr${r.rows === 1 ? 'y' : 'ies'} in ${r.ranges} run(s)` +
            Object.entries(r.byType)
              .map(([t, n]) => `\n  ${t}: ${n}`)
              .join('')
          )
        })
      })
    )

  const policy = audit.command('policy').description('retention policies per resource type')
  policy
    .command('list')
    .description('list policies (types without one keep 365 days)')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.audit.listPolicies(cliContext())
          emit(cmd, r, () => table(r.map((p) => ({ type: p.resourceType, days: p.retentionDays ?? 'forever', active: p.isActive ? 'yes' : 'no' })), ['type', 'days', 'active']))
        })
      })
    )
  policy
    .command('set <resource-type> <days>')
    .description('keep entries of this type for DAYS days, or "forever"')
    .option('--inactive', 'store it switched off')
    .action(
      action(async (type: string, days: string, o: { inactive?: boolean }, cmd: Command) => {
        const retentionDays = days === 'forever' ? null : /^\d+$/.test(days) ? Number(days) : undefined
        if (retentionDays === undefined) throw new UsageError('DAYS must be a whole number of days or "forever"')
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.audit.setPolicy(cliContext(), { resourceType: type, retentionDays, isActive: !o.inactive })
          emit(cmd, r, () => `${r.resourceType}: keep ${r.retentionDays === null ? 'forever' : `${r.retentionDays} days`}${r.isActive ? '' : ' (inactive)'}`)
        })
      })
    )
  policy
    .command('remove <resource-type>')
    .description('remove a policy (the type then keeps 365 days)')
    .action(
      action(async (type: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.audit.removePolicy(cliContext(), type)
          emit(cmd, r, () => (r.removed ? `removed the policy for ${type}` : `no policy for ${type}`))
          if (!r.removed) process.exitCode = 1
        })
      })
    )
  return audit
}

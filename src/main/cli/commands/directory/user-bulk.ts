/**
 * The bulk side of `netkeeper user`: import from CSV, bulk actions, expiry, the password policy and the
 * maintenance run that locks expired accounts. Added to the `user` command by user.ts, kept here so
 * user.ts stays the one-user commands.
 */
import fs from 'node:fs'
import { Argument, Command, Option } from 'commander'
import { ADDRESS_CHOICES, BULK_ACTIONS, ON_EXISTING } from '../../../../shared/choices'
import type { AddressChoice, BulkAction, UserImportReport } from '../../../../shared/directory-admin'
import { action, emit, globals, table, UsageError } from '../../runtime'
import { collect, interruptFlag, withDirectory, withDirOptions, type DirOpts } from './scope'

function importText(r: UserImportReport): string {
  const lines: string[] = []
  for (const row of r.rows) {
    if (row.action === 'skip') lines.push(`line ${row.line}: ${row.uid ?? '(no uid)'} skipped: ${row.reason}`)
    else if (row.error) lines.push(`line ${row.line}: ${row.uid} FAILED: ${row.error}`)
    else if (row.action === 'update') lines.push(`line ${row.line}: ${row.uid} ${r.dryRun ? 'would update' : 'updated'}: ${(row.changes ?? []).map((c) => `${c.attribute} ${c.before.join('|') || '-'} -> ${c.after.join('|')}`).join('; ')}`)
  }
  const verb = r.dryRun ? 'dry run: would create' : 'created'
  lines.push(`${verb} ${r.created}, ${r.dryRun ? 'update' : 'updated'} ${r.updated}, unchanged ${r.unchanged}, skipped ${r.skipped}, failed ${r.failed}${r.cancelled ? ' (cancelled)' : ''}${r.dryRun ? '; nothing was written' : ` (request ${r.requestId})`}`)
  return lines.join('\n')
}

export function addUserBulkCommands(user: Command): void {
  withDirOptions(user.command('import'))
    .description("create users from a CSV file with a header row (the profile's template applied); --dry-run analyses every row and writes nothing")
    .argument('<file>', 'CSV file')
    .option('--dry-run', 'analyse and report every row, write nothing')
    .addOption(new Option('--on-existing <mode>', 'a uid that exists already: skip it, or update its mapped attributes').choices([...ON_EXISTING]).default('skip'))
    .option('--map <column=attribute>', 'map a CSV column to an attribute (password, groups, or empty to ignore); repeatable', collect)
    .addOption(new Option('--delimiter <c>', 'field delimiter (default: guessed from the header)').choices([',', ';', 'tab']))
    .action(
      action(async (file: string, o: DirOpts & { dryRun?: boolean; onExisting: 'skip' | 'update'; map?: string[]; delimiter?: string }, cmd: Command) => {
        let text: string
        try {
          text = fs.readFileSync(file, 'utf8')
        } catch (e) {
          throw new UsageError(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
        }
        const mapping: Record<string, string> = {}
        for (const m of o.map ?? []) {
          const i = m.indexOf('=')
          if (i <= 0) throw new UsageError(`--map ${m}: expected column=attribute`)
          mapping[m.slice(0, i)] = m.slice(i + 1)
        }
        const delimiter = o.delimiter === 'tab' ? '\t' : (o.delimiter as ',' | ';' | undefined)
        await withDirectory(cmd, o, async (core, s) => {
          const json = globals(cmd).json
          const interrupt = interruptFlag()
          const r = await core.directory.userImport
            .run(
              s,
              { text, mapping, onExisting: o.onExisting, dryRun: o.dryRun, ...(delimiter ? { delimiter } : {}) },
              (done, total) => {
                if (!json && process.stderr.isTTY) process.stderr.write(`\r${done}/${total}\u001b[K`)
              },
              interrupt.stopped
            )
            .finally(interrupt.release)
          if (!json && process.stderr.isTTY) process.stderr.write('\r\u001b[K')
          emit(cmd, r, () => importText(r))
          if (r.failed || r.cancelled) process.exitCode = 1
        })
      })
    )

  withDirOptions(user.command('expire'))
    .description('set the date an account stops working (shadowExpire, and pwdEndTime where the server has it); --never removes it')
    .argument('<uid>')
    .option('--on <date>', 'YYYY-MM-DD')
    .option('--never', 'remove the expiry')
    .action(
      action(async (uid: string, o: DirOpts & { on?: string; never?: boolean }, cmd: Command) => {
        if (Boolean(o.on) === Boolean(o.never)) throw new UsageError('user expire needs exactly one of --on DATE and --never')
        await withDirectory(cmd, o, async (core, s) => {
          const r = await core.directory.expiry.set(s, { uid, on: o.never ? null : o.on! })
          emit(cmd, r, () => `${r.uid}: ${r.expires ? `expires on ${r.expires}` : 'never expires'}${r.changed ? '' : ' (unchanged)'}`)
        })
      })
    )

  withDirOptions(user.command('expiring'))
    .description('accounts and passwords that expire within a number of days (already expired ones included)')
    .option('--within <days>', 'e.g. 30d or 30', '30d')
    .action(
      action(async (o: DirOpts & { within: string }, cmd: Command) => {
        const m = /^(\d+)d?$/.exec(o.within.trim())
        if (!m) throw new UsageError('--within takes a number of days, e.g. 30d')
        await withDirectory(cmd, o, async (core, s) => {
          const list = await core.directory.expiry.expiring(s, { withinDays: Number(m[1]) })
          emit(cmd, list, () => table(list.map((a) => ({ ...a, locked: a.locked ? 'yes' : '' })), ['uid', 'what', 'on', 'daysLeft', 'locked']))
        })
      })
    )

  withDirOptions(user.command('policy'))
    .description('the password policy that applies to a user (pwdPolicySubentry, or the default policy)')
    .argument('<uid>')
    .action(
      action(async (uid: string, o: DirOpts, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const p = await core.directory.expiry.policy(s, uid)
          emit(cmd, p, () =>
            p.dn
              ? [`policy ${p.dn} (${p.source === 'entry' ? "the entry's pwdPolicySubentry" : 'the default policy'})`, `  min length: ${p.minLength ?? '-'}`, `  max length: ${p.maxLength ?? '-'}`, `  quality check: ${p.checkQuality ?? '-'}`, `  max age: ${p.maxAgeSeconds ? `${Math.round(p.maxAgeSeconds / 86400)} days` : '-'}`, `  history: ${p.inHistory ?? '-'}`].join('\n')
              : 'no password policy applies'
          )
        })
      })
    )

  withDirOptions(user.command('lock-expired'))
    .description('maintenance: lock every account whose expiry has passed (audited; runs only when asked)')
    .option('--dry-run', 'list what would be locked')
    .action(
      action(async (o: DirOpts & { dryRun?: boolean }, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const r = await core.directory.expiry.lockExpired(s, { dryRun: o.dryRun })
          emit(cmd, r, () => `${r.dryRun ? 'would lock' : 'locked'}: ${r.locked.join(', ') || 'none'}; already locked: ${r.alreadyLocked}${r.failed.length ? `\nFAILED: ${r.failed.map((f) => `${f.uid} (${f.message})`).join('; ')}` : ''}`)
          if (r.failed.length) process.exitCode = 1
        })
      })
    )

  withDirOptions(user.command('bulk'))
    .description('one action on several users, as one audited request: lock, unlock, addToGroup, removeFromGroup, setExpiry, delete')
    .addArgument(new Argument('<action>').choices([...BULK_ACTIONS]))
    .argument('<uids...>')
    .option('--group <cn>', 'the group (addToGroup, removeFromGroup)')
    .option('--expires <date>', 'YYYY-MM-DD, or "never" (setExpiry)')
    .action(
      action(async (bulkAction: BulkAction, uids: string[], o: DirOpts & { group?: string; expires?: string }, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const interrupt = interruptFlag()
          const r = await core.directory.bulk
            .run(s, { action: bulkAction, uids, group: o.group, ...(o.expires !== undefined ? { expires: o.expires === 'never' ? null : o.expires } : {}) }, undefined, interrupt.stopped)
            .finally(interrupt.release)
          emit(
            cmd,
            r,
            () =>
              `${r.action}: done ${r.done.join(', ') || '-'}; unchanged ${r.unchanged.join(', ') || '-'}${r.failed.length ? `\nFAILED: ${r.failed.map((f) => `${f.uid} (${f.message})`).join('; ')}` : ''}${r.cancelled ? `\ncancelled: not attempted ${r.notAttempted.join(', ')}` : ''}\n(request ${r.requestId})`
          )
          if (r.failed.length || r.cancelled) process.exitCode = 1
        })
      })
    )

  withDirOptions(user.command('addresses'))
    .description('the IP addresses a person holds (allocations whose owner is their DN)')
    .argument('<uid>')
    .action(
      action(async (uid: string, o: DirOpts, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const p = await core.people.addresses(s, uid)
          emit(cmd, p, () => `${p.cn} (${p.dn})\n${table(p.allocations.map((a) => ({ ...a, pool: a.poolName })), ['ip', 'pool', 'hostname', 'status', 'owner'])}`)
        })
      })
    )

  withDirOptions(user.command('retire'))
    .description("delete or lock a person and release, hand over or keep their addresses, as one audited request")
    .argument('<uid>')
    .addOption(new Option('--action <action>', 'what happens to the account').choices(['delete', 'lock']).makeOptionMandatory())
    .addOption(new Option('--addresses <choice>', 'what happens to their addresses').choices([...ADDRESS_CHOICES]).makeOptionMandatory())
    .option('--to <uid>', 'handover: the person who gets the addresses')
    .action(
      action(async (uid: string, o: DirOpts & { action: 'delete' | 'lock'; addresses: AddressChoice; to?: string }, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const r = await core.people.retire(s, { uid, action: o.action, addresses: o.addresses, to: o.to })
          emit(cmd, r, () =>
            [
              `${r.action === 'delete' ? 'deleted' : 'locked'} ${r.uid} (${r.dn})`,
              r.released.length ? `released: ${r.released.join(', ')}` : '',
              r.handedOver.length ? `handed over to ${r.to?.uid}: ${r.handedOver.join(', ')}` : '',
              r.errors.length ? `NOT done: ${r.errors.map((e) => `${e.ip} (${e.message})`).join('; ')}` : '',
              `(request ${r.requestId})`
            ]
              .filter(Boolean)
              .join('\n')
          )
          if (r.errors.length) process.exitCode = 1
        })
      })
    )
}

/**
 * The bulk side of `netkeeper user`: import from CSV. Added to the `user` command by user.ts, kept here so
 * user.ts stays the one-user commands.
 */
import fs from 'node:fs'
import { Command, Option } from 'commander'
import { ON_EXISTING, type UserImportReport } from '../../../../shared/directory-admin'
import { action, emit, globals, UsageError } from '../../runtime'
import { collect, withDirectory, withDirOptions, type DirOpts } from './scope'

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
          const r = await core.directory.userImport.run(s, { text, mapping, onExisting: o.onExisting, dryRun: o.dryRun, ...(delimiter ? { delimiter } : {}) }, (done, total) => {
            if (!json && process.stderr.isTTY) process.stderr.write(`\r${done}/${total}\u001b[K`)
          })
          if (!json && process.stderr.isTTY) process.stderr.write('\r\u001b[K')
          emit(cmd, r, () => importText(r))
          if (r.failed) process.exitCode = 1
        })
      })
    )
}

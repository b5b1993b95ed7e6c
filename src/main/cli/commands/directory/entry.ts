/**
 * `netkeeper entry ...`: any entry under the profile's base, every attribute, checked against the server's
 * schema before anything is sent; the tree one level at a time.
 */
import fs from 'node:fs'
import { Command } from 'commander'
import type { EntryDetail } from '../../../../shared/directory-admin'
import { action, emit, UsageError } from '../../runtime'
import { collect, int, printListing, withDirectory, withDirOptions, type DirOpts } from './scope'

function entryText(d: EntryDetail): string {
  const width = Math.max(...d.attributes.map((a) => a.info.name.length), 12)
  const lines = [`dn: ${d.dn}`, `  classes: ${d.objectClasses.map((c) => `${c.name}${c.kind ? ` (${c.kind.toLowerCase()})` : ''}`).join(', ')}`]
  for (const a of d.attributes) {
    const flags = [a.required ? 'MUST' : '', a.info.singleValue ? 'single' : '', a.info.operational ? 'operational' : '', a.info.syntaxName ?? ''].filter(Boolean).join(', ')
    a.values.forEach((v, i) => lines.push(`  ${(i ? '' : a.info.name).padEnd(width)}  ${v}${i === 0 && flags ? `   [${flags}]` : ''}`))
  }
  if (d.allowed.length) lines.push(`  may add: ${d.allowed.map((a) => a.name).join(', ')}`)
  return lines.join('\n')
}

export function entryCommand(): Command {
  const entry = new Command('entry').description('any directory entry: every attribute, driven by the server schema')

  withDirOptions(entry.command('show'))
    .description('show an entry with every attribute (MUST, single-valued, syntax; binary values as their size)')
    .argument('<dn>')
    .option('--all', 'every attribute, operational ones included (the default; kept for clarity)')
    .action(
      action(async (dn: string, o: DirOpts, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const d = await core.directory.entries.show(s, { dn })
          emit(cmd, d, () => entryText(d))
        })
      })
    )

  withDirOptions(entry.command('set'))
    .description('set an attribute to exactly the values given (--clear removes it); checked against the schema first')
    .argument('<dn>')
    .argument('<attribute>')
    .argument('[values...]')
    .option('--clear', 'remove the attribute')
    .option('--if-values <json>', 'refuse when the current values differ from this JSON array (from show --json)')
    .action(
      action(async (dn: string, attribute: string, values: string[], o: DirOpts & { clear?: boolean; ifValues?: string }, cmd: Command) => {
        if (!values.length && !o.clear) throw new UsageError('entry set needs values, or --clear to remove the attribute')
        if (values.length && o.clear) throw new UsageError('entry set takes values or --clear, not both')
        let expected: string[] | undefined
        if (o.ifValues) {
          try {
            expected = JSON.parse(o.ifValues) as string[]
          } catch {
            throw new UsageError('--if-values must be a JSON array of strings')
          }
        }
        await withDirectory(cmd, o, async (core, s) => {
          const d = await core.directory.entries.set(s, { dn, attribute, values, ...(expected ? { expected } : {}) })
          emit(cmd, d, () => `${o.clear ? 'removed' : 'set'} ${attribute} of ${d.dn}`)
        })
      })
    )

  withDirOptions(entry.command('class'))
    .description('add or remove object classes (values for what an added class requires with --value)')
    .argument('<dn>')
    .option('--add <class>', 'object class to add (repeatable)', collect)
    .option('--remove <class>', 'object class to remove (repeatable)', collect)
    .option('--value <attr=value>', 'a value for an attribute an added class requires (repeatable)', collect)
    .action(
      action(async (dn: string, o: DirOpts & { add?: string[]; remove?: string[]; value?: string[] }, cmd: Command) => {
        if (!o.add?.length && !o.remove?.length) throw new UsageError('entry class needs --add or --remove')
        const values: Record<string, string[]> = {}
        for (const v of o.value ?? []) {
          const i = v.indexOf('=')
          if (i <= 0) throw new UsageError(`--value ${v}: expected attr=value`)
          ;(values[v.slice(0, i)] ??= []).push(v.slice(i + 1))
        }
        await withDirectory(cmd, o, async (core, s) => {
          const d = await core.directory.entries.classes(s, { dn, add: o.add ?? [], remove: o.remove ?? [], values })
          emit(cmd, d, () => `object classes of ${d.dn}: ${d.objectClasses.map((c) => c.name).join(', ')}`)
        })
      })
    )

  withDirOptions(entry.command('value'))
    .description('write one value of an attribute (a photo, a certificate) to a file')
    .argument('<dn>')
    .argument('<attribute>')
    .option('--index <n>', 'which value (0 = the first)', int('--index'), 0)
    .requiredOption('--out <file>', 'output file')
    .action(
      action(async (dn: string, attribute: string, o: DirOpts & { index: number; out: string }, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const buf = await core.directory.entries.value(s, dn, attribute, o.index)
          fs.writeFileSync(o.out, buf, { mode: 0o600 })
          emit(cmd, { dn, attribute, index: o.index, bytes: buf.length, file: o.out }, () => `wrote ${buf.length} bytes to ${o.out}`)
        })
      })
    )

  withDirOptions(entry.command('tree'))
    .description('the children of an entry (default: the base entry itself), a page at a time')
    .argument('[dn]')
    .option('--limit <n>', 'page size (1-1000)', int('--limit'), 100)
    .option('--all', 'every child, page by page')
    .action(
      action(async (dn: string | undefined, o: DirOpts & { limit: number; all?: boolean }, cmd: Command) => {
        await withDirectory(cmd, o, (core, s) =>
          printListing(
            cmd,
            o,
            () => core.directory.entries.tree(s, { dn, pageSize: o.limit }),
            async function* () {
              let page = await core.directory.entries.tree(s, { dn, pageSize: Math.max(o.limit, 500) })
              yield page.items
              while (page.nextCursor) {
                page = await core.directory.entries.tree(s, { cursor: page.nextCursor })
                yield page.items
              }
            },
            (n) => ({ ...n, children: n.hasChildren ? '+' : '', classes: n.objectClasses.join(',') }),
            ['children', 'dn', 'classes']
          )
        )
      })
    )
  return entry
}

/**
 * `netkeeper ldif export|import`: LDIF (RFC 2849) out of any search under the profile's base, and in with
 * add, modify, delete and modrdn records (a preview first; --dry-run stops there).
 */
import fs from 'node:fs'
import { once } from 'node:events'
import { Command, Option } from 'commander'
import { LDIF_SCOPES } from '../../../../shared/choices'
import type { LdifImportReport } from '../../../../shared/directory-admin'
import { action, emit, globals, UsageError } from '../../runtime'
import { collect, int, interruptFlag, withDirectory, withDirOptions, type DirOpts } from './scope'

function reportText(r: LdifImportReport, verbose: boolean): string {
  const lines: string[] = []
  for (const p of r.preview) {
    if (!verbose && !p.problem && r.dryRun === false) continue
    lines.push(`line ${p.line}: ${p.kind} ${p.dn}${p.newDn ? ` -> ${p.newDn}` : ''}${p.problem ? `  REFUSED: ${p.problem}` : ''}`)
    if (verbose) {
      for (const c of p.changes) {
        for (const v of c.before) if (!c.after.includes(v)) lines.push(`  - ${c.attribute}: ${v}`)
        for (const v of c.after) if (!c.before.includes(v)) lines.push(`  + ${c.attribute}: ${v}`)
      }
    }
  }
  if (r.dryRun) lines.push(`dry run: ${r.records} records, ${r.preview.filter((p) => p.problem).length} would be refused; nothing was written`)
  else {
    for (const f of r.failed) lines.push(`line ${f.line}: ${f.kind} ${f.dn} FAILED (${f.code}${f.ldapCode !== undefined ? `, LDAP result ${f.ldapCode}` : ''}): ${f.message}`)
    lines.push(`applied ${r.applied} of ${r.records} records; ${r.failed.length} refused; ${r.notAttempted} not attempted${r.cancelled ? ' (cancelled)' : ''} (request ${r.requestId})`)
  }
  return lines.join('\n')
}

export function ldifCommand(): Command {
  const ldif = new Command('ldif').description('LDIF (RFC 2849) export and import')

  withDirOptions(ldif.command('export'))
    .description('write the entries of a search as LDIF, streamed page by page')
    .requiredOption('--base <dn>', 'search base (under the profile base DN)')
    .option('--filter <filter>', 'RFC 4515 filter', '(objectClass=*)')
    .addOption(new Option('--scope <scope>', 'search scope').choices([...LDIF_SCOPES]).default('sub'))
    .option('--attr <name>', 'attribute to write (repeatable; default all user attributes)', collect)
    .option('--operational', 'also write operational attributes (not re-importable as they are)')
    .option('--page-size <n>', 'paged-search page size', int('--page-size'), 500)
    .requiredOption('--out <file>', 'output file ("-" for standard output)')
    .action(
      action(async (o: DirOpts & { base: string; filter: string; scope: 'base' | 'one' | 'sub'; attr?: string[]; operational?: boolean; pageSize: number; out: string }, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const toStdout = o.out === '-'
          const tmp = toStdout ? null : `${o.out}.${process.pid}.part`
          const out = toStdout ? process.stdout : fs.createWriteStream(tmp!, { mode: 0o600 })
          const write = async (chunk: string): Promise<void> => {
            if (!out.write(chunk)) await once(out, 'drain')
          }
          try {
            const r = await core.directory.ldif.export(s, { base: o.base, filter: o.filter, scope: o.scope, attributes: o.attr, operational: o.operational, pageSize: o.pageSize }, write)
            if (!toStdout) {
              await new Promise<void>((resolve, reject) => (out as fs.WriteStream).end((e?: Error | null) => (e ? reject(e) : resolve())))
              fs.renameSync(tmp!, o.out)
              emit(cmd, { ...r, file: o.out }, () => `wrote ${r.entries} entries (${r.bytes} bytes) under ${r.base} to ${o.out}`)
            } else if (globals(cmd).json) process.stderr.write(JSON.stringify(r) + '\n')
          } catch (e) {
            if (tmp) {
              ;(out as fs.WriteStream).destroy()
              fs.rmSync(tmp, { force: true })
            }
            throw e
          }
        })
      })
    )

  withDirOptions(ldif.command('import'))
    .description('apply an LDIF file (add, modify, delete, modrdn) in order, after a preview')
    .argument('<file>', 'LDIF file ("-" for standard input)')
    .option('--dry-run', 'preview every change against the live entries and write nothing')
    .option('--continue-on-error', 'skip a refused record and go on (default: stop at the first refusal)')
    .option('--verbose', 'print every change as a diff')
    .action(
      action(async (file: string, o: DirOpts & { dryRun?: boolean; continueOnError?: boolean; verbose?: boolean }, cmd: Command) => {
        if (file === '-' && o.passwordStdin) throw new UsageError('ldif import - reads the LDIF from standard input; pass the bind secret through NETKEEPER_LDAP_PASSWORD or the keychain')
        if (file !== '-' && !fs.existsSync(file)) throw new UsageError(`${file}: no such file`)
        await withDirectory(cmd, o, async (core, s) => {
          const source = file === '-' ? process.stdin : fs.createReadStream(file)
          const json = globals(cmd).json
          const interrupt = interruptFlag()
          const r = await core.directory.ldif
            .import(
              s,
              { source, dryRun: o.dryRun, continueOnError: o.continueOnError },
              (p) => {
                if (!json && process.stderr.isTTY) process.stderr.write(`\r${p.done}/${p.total} ${p.dn.slice(0, 60)}\u001b[K`)
              },
              interrupt.stopped
            )
            .finally(interrupt.release)
          if (!json && process.stderr.isTTY) process.stderr.write('\r\u001b[K')
          emit(cmd, r, () => reportText(r, Boolean(o.verbose || o.dryRun)))
          if (r.failed.length || r.cancelled) process.exitCode = 1
        })
      })
    )
  return ldif
}

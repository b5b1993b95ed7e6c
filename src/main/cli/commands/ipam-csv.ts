/**
 * `netkeeper ipam export --kind pools|allocations --format csv --out FILE` and
 * `netkeeper import csv FILE --kind pools|allocations ...` (docs/ipam.md#csv-in-and-out), over the same core
 * as the app's Export CSV buttons and CSV wizard.
 */
import fs from 'node:fs'
import path from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { CSV_KINDS, CSV_ON_EXISTING, CSV_PRESETS } from '../../../shared/choices'
import type { CsvImportReport, CsvKind, CsvOnExisting, CsvPreset, CsvProgress } from '../../../shared/ipam-csv'
import { action, cliContext, emit, globals, table, withCore } from '../runtime'
import { onInterrupt } from '../interrupt'
import { collectField } from './objects'

const SHOWN = 50

function mapping(v: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = v.lastIndexOf('=')
  if (i <= 0 || i === v.length - 1) throw new InvalidArgumentError(`"${v}": write COLUMN=FIELD, e.g. "Subnet=network" or "Custom 1=ignore"`)
  return { ...previous, [v.slice(0, i).trim()]: v.slice(i + 1).trim() }
}

export function ipamExportCommand(): Command {
  return new Command('export')
    .description('export pools or allocations as CSV (the columns the netkeeper preset of `import csv` reads), streamed in constant memory')
    .addOption(new Option('--kind <kind>', 'what to export').choices([...CSV_KINDS]).makeOptionMandatory())
    .addOption(new Option('--format <format>', 'file format').choices(['csv']).default('csv'))
    .requiredOption('--out <file>', 'where to write ("-" for standard output)')
    .option('--space <space>', 'only this address space')
    .option('--pool <pool>', 'allocations: only this pool (name or id)')
    .addOption(new Option('--status <status>', 'allocations: only this status').choices(['allocated', 'reserved', 'blocked', 'lapsed']))
    .option('--search <text>', 'the lists\' search: name, description, site or network (pools); host name, owner, purpose, description, MAC or address prefix (allocations)')
    .option('--field <name=value>', 'only rows whose custom field holds this value, as the lists filter (repeatable: all of them)', collectField)
    .option('--vlan-group <group>', 'pools: only pools on a VLAN of this group (name or id), as the Pools list filters')
    .option('--tag <name>', 'pools: only pools carrying this tag (repeatable: all of them)', (v: string, prev: string[] = []) => [...prev, v])
    .action(
      action(async (o: { kind: CsvKind; out: string; space?: string; pool?: string; status?: 'allocated' | 'reserved' | 'blocked' | 'lapsed'; search?: string; field?: Record<string, string | null>; vlanGroup?: string; tag?: string[] }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          await core.load('importer')
          const toStdout = o.out === '-'
          const file = toStdout ? undefined : path.resolve(o.out)
          // A temporary file renamed at the end: a failed export never leaves a truncated file behind.
          const tmp = file ? `${file}.${process.pid}.partial` : undefined
          const out = tmp ? fs.createWriteStream(tmp, { mode: 0o600 }) : process.stdout
          try {
            const fields = o.field ? Object.fromEntries(Object.entries(o.field).map(([k, v]) => [k, v ?? ''])) : undefined
            const r = await core.ipamCsv.export(cliContext(), { kind: o.kind, space: o.space, pool: o.pool, status: o.status, search: o.search, fields, vlanGroup: o.vlanGroup, tags: o.tag }, out)
            if (tmp && file) {
              await new Promise<void>((resolve, reject) => (out as fs.WriteStream).end((e?: Error | null) => (e ? reject(e) : resolve())))
              fs.renameSync(tmp, file)
              emit(cmd, { ...r, file }, () => `exported ${r.rows} ${o.kind} (${r.bytes} bytes) to ${file}`)
            }
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
}

function summary(r: CsvImportReport, dryRun: boolean): string {
  const c = r.counts
  const head =
    r.outcome === 'dry-run'
      ? `dry run of ${r.file.name} (${r.kind}, preset ${r.preset}): nothing was written`
      : r.outcome === 'cancelled'
        ? `${dryRun ? 'dry run' : 'import'} of ${r.file.name} cancelled: nothing was written`
        : `imported ${r.file.name} (${r.kind}, import ${r.importId})`
  const lines = [
    head,
    `  rows: ${c.rows}: ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged, ${c.skipped} skipped`,
    `  columns: ${r.columns.map((x) => `${x.column}=${x.field || '?'}`).join(', ')}`
  ]
  if (r.newTags.length) lines.push(`  new tags${r.outcome === 'imported' ? '' : ' (would be created)'}: ${r.newTags.join(', ')}`)
  if (r.refusal) lines.push(`  REFUSED: ${r.refusal.message}`)
  const rows = r.problems.filter((p) => p.outcome === 'skipped')
  if (rows.length) {
    lines.push('', `skipped rows (${rows.length}):`)
    lines.push(table(rows.slice(0, SHOWN).map((p) => ({ line: p.line, kind: p.kind, value: p.value ?? '', reason: p.reason })), ['line', 'kind', 'value', 'reason']))
    if (rows.length > SHOWN) lines.push(`... and ${rows.length - SHOWN} more: see --report FILE or --json`)
  }
  return lines.join('\n')
}

export function csvImportCommand(): Command {
  return new Command('csv')
    .description('import pools or allocations from CSV (Netkeeper, phpIPAM or NetBox exports): every row analysed, then one transaction; Ctrl-C rolls back')
    .argument('<file>', 'the CSV file (UTF-8)')
    .addOption(new Option('--kind <kind>', 'what the file holds').choices([...CSV_KINDS]).makeOptionMandatory())
    .addOption(new Option('--preset <preset>', 'whose export the columns come from').choices([...CSV_PRESETS]).default('netkeeper'))
    .option('--map <column=field>', 'map a column to a field, or to ignore (repeatable; overrides the preset)', mapping)
    .option('--space <space>', 'the address space of rows that name none (a space/vrf cell in the file wins; --map COLUMN=ignore to put every row here); default: the default space, or the one space holding the pool a row names')
    .addOption(new Option('--on-existing <mode>', 'when the key (space + network, space + address) exists already').choices([...CSV_ON_EXISTING]).default('skip'))
    .option('--create-tags', 'create the tags the tags column names that do not exist yet (admin); without it such rows are skipped')
    .option('--dry-run', 'analyse every row and report what would happen; write nothing')
    .option('--report <file>', 'also write the whole report to FILE as JSON')
    .action(
      action(
        async (
          file: string,
          o: { kind: CsvKind; preset: CsvPreset; map?: Record<string, string>; space?: string; onExisting: CsvOnExisting; createTags?: boolean; dryRun?: boolean; report?: string },
          cmd: Command
        ) => {
          await withCore(cmd, { migrate: true }, async (core) => {
            await core.load('importer')
            core.auditSearch.background = false
            const input = { file, kind: o.kind, preset: o.preset, map: o.map ?? {}, space: o.space, onExisting: o.onExisting, createTags: o.createTags === true }
            const tty = process.stderr.isTTY && !globals(cmd).json
            let shown = 0
            const onProgress = (p: CsvProgress): void => {
              if (!tty || (Date.now() - shown < 200 && p.phase !== 'done')) return
              shown = Date.now()
              process.stderr.write(`\r${p.phase.padEnd(10)} ${String(p.done).padStart(7)}/${p.total}  ${p.percent.toFixed(0).padStart(3)}%   `)
            }
            // Ctrl-C (or SIGTERM) rolls the import back instead of killing it half-way; a second one forces.
            const controller = new AbortController()
            const off = onInterrupt(() => {
              process.stderr.write('\ncancelling: rolling back (Ctrl-C again forces)...\n')
              controller.abort()
            })
            let r: CsvImportReport
            try {
              r = o.dryRun
                ? await core.ipamCsv.dryRun(cliContext(), input, { onProgress, signal: controller.signal })
                : await core.ipamCsv.run(cliContext(), input, { onProgress, signal: controller.signal })
            } finally {
              off()
              if (tty) process.stderr.write('\r\x1b[K')
            }
            let reportFile: string | undefined
            if (o.report) {
              reportFile = path.resolve(o.report)
              const tmp = `${reportFile}.${process.pid}.partial`
              fs.writeFileSync(tmp, JSON.stringify(r, null, 2) + '\n', { mode: 0o600 })
              fs.renameSync(tmp, reportFile)
            }
            emit(cmd, reportFile ? { ...r, reportFile } : r, () => summary(r, !!o.dryRun) + (reportFile ? `\nreport written to ${reportFile}` : ''))
            if (r.outcome === 'cancelled' || r.refusal) process.exitCode = 1
          })
        }
      )
    )
}

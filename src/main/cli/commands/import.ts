/** `netkeeper import sqlite FILE`: the legacy IPAM import (docs/import.md), over the same core as the wizard. */
import fs from 'node:fs'
import path from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { CONFLICT_MODES, REPORT_FORMATS, TYPE_TARGETS } from '../../../shared/choices'
import type { ConflictMode, ImportProgress, ImportReport, ReportFormat, TypeTarget } from '../../../shared/importer'
import { action, cliContext, emit, globals, table, withCore } from '../runtime'
import type { Core } from '../../core'
import { onInterrupt } from '../interrupt'
import { csvImportCommand } from './ipam-csv'

const SHOWN = 50

function typeMapping(v: string, previous: Record<string, TypeTarget> = {}): Record<string, TypeTarget> {
  const m = /^\s*([^=]+?)\s*=\s*([a-z]+)\s*$/i.exec(v)
  if (!m || !(TYPE_TARGETS as readonly string[]).includes(m[2]!.toLowerCase())) {
    throw new InvalidArgumentError(`"${v}": write TYPE=STATUS with STATUS one of ${TYPE_TARGETS.join(', ')}, e.g. legacy-hold=reserved`)
  }
  return { ...previous, [m[1]!.toLowerCase()]: m[2]!.toLowerCase() as TypeTarget }
}

function summary(r: ImportReport, dryRun = false): string {
  const p = r.counts.pools
  const a = r.counts.allocations
  const head =
    r.outcome === 'dry-run'
      ? `dry run of ${r.file.name}: nothing was written`
      : r.outcome === 'cancelled'
        ? `${dryRun ? 'dry run' : 'import'} of ${r.file.name} cancelled: nothing was written`
        : `imported ${r.file.name} (import ${r.importId})`
  const lines = [
    head,
    `  file:        ${p.inFile} pools, ${a.inFile} allocations (sha256 ${r.file.sha256.slice(0, 16)}...)`,
    `  pools:       ${p.created} created, ${p.renamed} renamed, ${p.merged} merged, ${p.alreadyImported} already imported, ${p.skipped} skipped (${p.fixed} fixed)`,
    `  allocations: ${a.created} created, ${a.alreadyImported} already imported, ${a.skipped} skipped (${a.fixed} fixed)`
  ]
  if (r.missingColumns.length) lines.push(`  columns the file lacks (read as empty): ${r.missingColumns.join(', ')}`)
  if (r.warnings.length) lines.push(`  warnings:    ${r.warnings.length} (e.g. ${r.warnings[0]!.kind}: ${r.warnings[0]!.message})`)
  if (r.refusal) lines.push(`  a real run would be REFUSED: ${r.refusal.message}`)
  if (r.skipped.length) {
    lines.push('', `skipped rows (${r.skipped.length}):`)
    lines.push(
      table(
        r.skipped.slice(0, SHOWN).map((s) => ({ table: s.table, legacy_id: s.legacyId ?? `(row ${s.row})`, value: s.value ?? '', kind: s.kind, reason: s.reason })),
        ['table', 'legacy_id', 'value', 'kind', 'reason']
      )
    )
    if (r.skipped.length > SHOWN) lines.push(`... and ${r.skipped.length - SHOWN} more: see --report FILE or --json`)
  }
  return lines.join('\n')
}

/** Writes the report next to its final name first, so a failure never leaves half a file. */
async function writeReport(r: ImportReport, file: string, format?: ReportFormat): Promise<string> {
  const { formatFor, formatReport } = await import('../../core/importer/report')
  format ??= formatFor(file)
  const target = path.resolve(file)
  const tmp = `${target}.${process.pid}.partial`
  try {
    fs.writeFileSync(tmp, formatReport(r, format).content, { mode: 0o600 })
    fs.renameSync(tmp, target)
  } catch (e) {
    fs.rmSync(tmp, { force: true })
    throw e
  }
  return target
}

/**
 * After an import: builds the text-search index of its audit rows (audit/search-index.ts) before the process
 * ends, so the next search is fast. The import is committed and its rows are found by searches already;
 * Ctrl-C stops this, and the app finishes what is left when it next starts. Silent with --json.
 */
async function indexImported(core: Core, quiet: boolean): Promise<void> {
  const remaining = await core.auditSearch.remaining()
  if (!remaining) return
  const say = (m: string): void => void (quiet || process.stderr.write(m))
  say(`indexing ${remaining} imported audit row(s) for text search (Ctrl-C leaves the rest to the app)...\n`)
  const off = onInterrupt(() => void core.auditSearch.close())
  try {
    const d = await core.auditSearch.drain()
    say(d.complete ? `indexed ${d.indexed} row(s) in ${(d.ms / 1000).toFixed(1)} s\n` : `stopped after ${d.indexed} row(s); the app indexes the rest\n`)
  } finally {
    off()
  }
}

export function importCommand(): Command {
  const imp = new Command('import').description('bring data across from other tools')

  imp
    .command('sqlite')
    .description('import a LDAP Web Manager v2.0 IPAM file (SQLite), all or nothing; the file is opened read-only')
    .argument('<file>', 'the legacy .db file')
    .option('--dry-run', 'report what would be imported and skipped; write nothing')
    .addOption(new Option('--on-conflict <mode>', 'when a pool clashes with one already here (name or network)').choices([...CONFLICT_MODES]).default('skip'))
    .option('--space <space>', 'the address space the pools go into, by name or id (default: the default space); clashes are checked in it only')
    .option('--fix', 'apply the suggested fix where one exists (canonical network, drop a bad MAC, ...) instead of skipping the row')
    .option('--map-type <type=status>', `map a legacy allocation type to ${TYPE_TARGETS.join('|')} (repeatable)`, typeMapping)
    .option('--report <file>', 'also write the report to FILE (.csv: the skipped rows; otherwise the whole report as JSON)')
    .addOption(new Option('--report-format <format>', 'report format (default: from the file name)').choices([...REPORT_FORMATS]))
    .action(
      action(
        async (
          file: string,
          o: { dryRun?: boolean; onConflict: ConflictMode; space?: string; fix?: boolean; mapType?: Record<string, TypeTarget>; report?: string; reportFormat?: ReportFormat },
          cmd: Command
        ) => {
          await withCore(cmd, { migrate: true }, async (core) => {
            const input = { file, choices: { onConflict: o.onConflict, ...(o.space ? { space: o.space } : {}), fix: !!o.fix, typeMap: o.mapType ?? {} } }
            // The search index of the imported rows is built below, after the result is out.
            core.auditSearch.background = false
            const tty = process.stderr.isTTY && !globals(cmd).json
            let shown = 0
            const onProgress = (p: ImportProgress): void => {
              if (!tty || (Date.now() - shown < 200 && p.phase !== 'done')) return
              shown = Date.now()
              process.stderr.write(`\r${p.phase.padEnd(12)} ${String(p.done).padStart(7)}/${p.total}  ${p.percent.toFixed(0).padStart(3)}%   `)
            }
            // Ctrl-C (or SIGTERM) rolls the import back instead of killing it half-way; a second one forces.
            const controller = new AbortController()
            const off = onInterrupt(() => {
              process.stderr.write('\ncancelling: rolling back (Ctrl-C again forces)...\n')
              controller.abort()
            })
            let r: ImportReport
            try {
              r = o.dryRun
                ? await core.importer.dryRun(cliContext(), input, { onProgress, signal: controller.signal })
                : await core.importer.run(cliContext(), input, { onProgress, signal: controller.signal })
            } finally {
              off()
              if (tty) process.stderr.write('\r\x1b[K')
            }
            const reportPath = o.report ? await writeReport(r, o.report, o.reportFormat) : undefined
            emit(cmd, reportPath ? { ...r, reportFile: reportPath } : r, () => summary(r, !!o.dryRun) + (reportPath ? `\nreport written to ${reportPath}` : ''))
            if (r.outcome === 'cancelled') process.exitCode = 1
            if (r.outcome === 'imported') await indexImported(core, !!globals(cmd).json)
          })
        }
      )
    )
  imp.addCommand(csvImportCommand())
  return imp
}

/** `netkeeper audit ...`: list, export, verify, purge with its archives, and retention policies. */
import fs from 'node:fs'
import path from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { AUDIT_ACTIONS, AUDIT_SOURCES, AUDIT_STATUSES, EXPORT_FORMATS } from '../../../shared/choices'
import type { AuditEntryDto, AuditFilter, ExportFormat, ExportVerifyReport } from '../../../shared/audit'
import { AppError } from '../../../shared/errors'
import { resolveDataDir } from '../../core/paths'
import { action, cliContext, emit, globals, table, UsageError, withCore } from '../runtime'
import { confirmRemoval } from '../terminal'
import { addForwardCommands } from './audit-forward'

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
    .addOption(new Option('--status <status>', 'outcome').choices([...AUDIT_STATUSES]))
    .addOption(new Option('--source <source>', 'where the change came from').choices([...AUDIT_SOURCES]))
    .option('--request-id <id>', 'one request (every entry it wrote)')
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

  addFilters(audit.command('export').description('export entries as CSV, JSON or JSON Lines, streamed in constant memory, with a signed FILE.manifest.json'))
    .addOption(new Option('--format <format>', 'file format').choices([...EXPORT_FORMATS]).makeOptionMandatory())
    .requiredOption('--out <file>', 'where to write ("-" for standard output)')
    .option('--manifest <file>', 'where the manifest goes (default: FILE.manifest.json; with --out - none unless given)')
    .action(
      action(async (o: FilterOpts & { format: ExportFormat; out: string; manifest?: string }, cmd: Command) => {
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
          const ctx = cliContext()
          try {
            const r = await core.audit.export(ctx, out, o.format, filters(o), progress)
            if (tmp && file) {
              await new Promise<void>((resolve, reject) => (out as fs.WriteStream).end((e?: Error | null) => (e ? reject(e) : resolve())))
              fs.renameSync(tmp, file)
            }
            // The manifest states the file's SHA-256, so it is written once the file is complete.
            const m = file || o.manifest ? await core.audit.signExport(ctx, file ?? 'stdout', r, filters(o), o.manifest ? path.resolve(o.manifest) : undefined) : undefined
            if (m?.unsigned) process.stderr.write(`netkeeper: warning: the manifest is not signed: ${m.unsigned}\n`)
            if (!toStdout) {
              if (process.stderr.isTTY) process.stderr.write('\r')
              emit(cmd, { ...r, file, ...m }, () => `exported ${r.rows} entries (${r.bytes} bytes) to ${file}\nmanifest: ${m!.manifest}${m!.unsigned ? ' (unsigned)' : ''}`)
            }
          } catch (e) {
            if (tmp) fs.rmSync(tmp, { force: true })
            throw e
          }
        })
      })
    )

  audit
    .command('verify-export')
    .description('check an export against its manifest and signature, with no database; with --live also every row against the live chain')
    .argument('<file>', 'the exported file')
    .option('--public-key <pem-file>', "this installation's public key (`audit key show`); without it the key the manifest names is used")
    .option('--manifest <file>', 'the manifest (default: FILE.manifest.json)')
    .option('--live', 'also compare every row with the chain of the configured database')
    .action(
      action(async (file: string, o: { publicKey?: string; manifest?: string; live?: boolean }, cmd: Command) => {
        let publicKey: string | undefined
        if (o.publicKey) {
          try {
            publicKey = fs.readFileSync(o.publicKey, 'utf8')
          } catch (e) {
            throw new AppError('VALIDATION', `publicKey: cannot read ${o.publicKey} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { field: 'publicKey' })
          }
        }
        const show = (r: ExportVerifyReport): void => {
          emit(cmd, r, () =>
            r.ok
              ? `export verified: ${r.file}, ${r.rows} entries, SHA-256 as its manifest states, signed by key ${r.fingerprint} (${r.keySource === 'given' ? 'the key given' : 'the key the manifest names'})` +
                (r.live ? `; every row matches the live chain (${r.live.compared} compared, ${r.live.purged} purged since)` : '')
              : `EXPORT NOT VERIFIED: ${r.file}\n${r.problems.map((p) => `  ${p.kind}: ${p.message}`).join('\n')}`
          )
          if (!r.ok) process.exitCode = 1
        }
        if (o.live) {
          await withCore(cmd, { migrate: true }, async (core) => show(await core.audit.verifyExport(cliContext(), file, { manifest: o.manifest, publicKey, live: true })))
        } else {
          const { verifyExport } = await import('../../core/audit/export-manifest')
          show(await verifyExport(path.resolve(file), { manifest: o.manifest ? path.resolve(o.manifest) : undefined, publicKey }))
        }
      })
    )

  audit
    .command('anchor')
    .description('append the chain head to the anchor file now (for cron; the app does it every few minutes and after every purge)')
    .option('--file <file>', 'this file instead of the configured one')
    .action(
      action(async (o: { file?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const a = await core.audit.anchor(cliContext(), o.file)
          emit(cmd, a, () => `anchored seq ${a.seq} (${a.hash}) at ${a.at}${a.sink ? ` (also sent to syslog sink ${a.sink})` : ''}`)
        })
      })
    )

  audit
    .command('anchors')
    .description("show, or set, where this installation anchors the chain head and how often the app does")
    .option('--file <file>', 'an append-only file of anchors (created when missing)')
    .option('--off', 'stop anchoring to a file')
    .option('--sink <name>', 'also send each anchor to this syslog sink (`audit sink add`)')
    .option('--no-sink', 'stop anchoring to syslog')
    .option('--every <minutes>', 'minutes between the app\'s anchors (default 10)', int('--every'))
    .action(
      action(async (o: { file?: string; off?: boolean; sink?: string | false; every?: number }, cmd: Command) => {
        if (o.file && o.off) throw new UsageError('anchors: give --file or --off, not both')
        if (o.every !== undefined && (o.every < 1 || o.every > 1440)) throw new UsageError('--every must be 1 to 1440 minutes')
        const g = globals(cmd)
        if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
        const dataDir = resolveDataDir()
        if (typeof o.sink === 'string') {
          const name = o.sink
          // The sink is the database's: check that it is one, and a syslog sink, before saving its name.
          await withCore(cmd, { migrate: true }, async (core) => {
            const s = await core.sinks.row(name).catch(() => {
              throw new AppError('VALIDATION', `sink: no audit sink is called ${name} (\`netkeeper audit sink list\`)`, { field: 'sink' })
            })
            if (s.kind !== 'syslog') throw new AppError('VALIDATION', `sink: ${name} is a webhook; anchors go to a syslog sink`, { field: 'sink' })
          })
        }
        const { anchorSettings, setAnchorSettings } = await import('../../core/audit/anchors')
        const changing = o.file || o.off || o.every !== undefined || o.sink !== undefined
        const r = changing ? setAnchorSettings(dataDir, { file: o.off ? null : o.file, sink: o.sink === false ? null : o.sink, everyMinutes: o.every }) : anchorSettings(dataDir)
        const where = [r.file, r.sink ? `syslog sink ${r.sink}` : null].filter(Boolean).join(' and ')
        emit(cmd, r, () => (where ? `anchoring to ${where} every ${r.everyMinutes} minute(s) and after every purge` : 'no anchor file or sink is set'))
      })
    )

  const key = audit.command('key').description("this installation's Ed25519 key that signs exports (private key in the OS keychain)")
  key
    .command('show')
    .description('the public key (PEM) and its fingerprint; made and recorded in the audit log if there is none yet')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const k = await core.audit.ensureSigningKey(cliContext())
          emit(cmd, k, () => `fingerprint: ${k.fingerprint}\ncreated: ${k.createdAt}\ninstallation: ${k.installation}\n${k.publicKey.trimEnd()}`)
        })
      })
    )
  key
    .command('rotate')
    .description('replace the key; the new public key is recorded in the audit log (exports signed before still verify with the old one)')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.audit.rotateSigningKey(cliContext())
          emit(cmd, r, () => `${r.before ? `replaced key ${r.before.fingerprint}` : 'made a key'}; now ${r.after.fingerprint}\n${r.after.publicKey.trimEnd()}`)
        })
      })
    )

  audit
    .command('verify')
    .description('walk the hash chain; exit 1 naming the first altered, missing or reordered entry')
    .option('--archives <dir>', 'also prove the purged rows from the archives in this folder: the whole history from the first row')
    .option('--anchors <file>', 'also check the heads anchored in this file: catches removed newest rows')
    .action(
      action(async (o: { archives?: string; anchors?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.audit.verify(cliContext(), undefined, { archives: o.archives, anchors: o.anchors })
          const held =
            (r.archives ? `; ${r.archives.files} archive(s) in ${r.archives.dir} hold the ${r.archives.rows} purged row(s)` : '') +
            (r.anchors ? `; ${r.anchors.checked + r.anchors.purged} anchor(s) hold (${r.anchors.purged} of purged rows${r.anchors.otherDatabase ? `, ${r.anchors.otherDatabase} of other databases left aside` : ''})` : '')
          emit(cmd, r, () =>
            r.ok
              ? `audit chain intact: ${r.checked} entries checked (seq ${r.firstSeq ?? '-'} to ${r.lastSeq ?? '-'}), ${r.checkpoints} purge checkpoint(s)${held}, ${r.seconds} s`
              : `AUDIT CHAIN BROKEN at seq ${r.problem!.seq} (${r.problem!.kind}): ${r.problem!.message}`
          )
          if (!r.ok) process.exitCode = 1
        })
      })
    )

  audit
    .command('purge')
    .description('remove entries older than their type\'s retention policy (types without one are kept forever), archiving them first; the purge is audited; asks first on a terminal')
    .option('--dry-run', 'only report what would be removed')
    .option('--archive-dir <dir>', 'archive to this folder (it must exist) instead of the configured one')
    .option('-y, --yes', 'do not ask first (needed without a terminal)')
    .action(
      action(async (o: { dryRun?: boolean; archiveDir?: string; yes?: boolean }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          if (!o.dryRun) {
            const plan = await core.audit.purge(cliContext(), { dryRun: true })
            if (plan.rows) {
              await confirmRemoval('audit purge', [
                `${plan.rows} audit entr${plan.rows === 1 ? 'y' : 'ies'} past their retention policy, archived first (checkpoints keep the chain verifiable):`,
                ...Object.entries(plan.byType).map(([t, n]) => `  ${t}: ${n}, older than ${plan.cutoffs[t] ?? '(kept forever)'}`)
              ], o.yes)
            }
          }
          const r = await core.audit.purge(cliContext(), { dryRun: o.dryRun, archiveDir: o.archiveDir })
          emit(cmd, r, () =>
            `${r.dryRun ? 'would remove' : 'removed'} ${r.rows} entr${r.rows === 1 ? 'y' : 'ies'} in ${r.ranges} run(s)` +
            Object.entries(r.byType)
              .map(([t, n]) => `\n  ${t}: ${n}`)
              .join('') +
            (r.archive ? `\narchived first to ${r.archive.file} (SHA-256 ${r.archive.sha256}); purge record seq ${r.purgeSeq}` : '') +
            (r.anchor ? `\nanchored the head (seq ${r.anchor.seq})` : '') +
            (r.anchorError ? `\nwarning: the head was not anchored: ${r.anchorError}` : '') +
            (!r.rows && !Object.keys(r.cutoffs).length ? '\n(no retention policy is set: every entry is kept)' : '')
          )
        })
      })
    )

  audit
    .command('archive')
    .description('copy the entries still in the log that the archive folder does not hold yet into a new archive there (before a rollback, say)')
    .option('--archive-dir <dir>', 'this folder (it must exist) instead of the configured one')
    .action(
      action(async (o: { archiveDir?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.audit.archiveLiveRows(cliContext(), { archiveDir: o.archiveDir })
          emit(cmd, { archive: r }, () =>
            r ? `archived ${r.rows} entries (seq ${r.firstSeq} to ${r.lastSeq}) to ${r.file} (SHA-256 ${r.sha256})` : 'nothing to archive: the folder holds every entry already'
          )
        })
      })
    )

  audit
    .command('archive-dir')
    .description('show, or set, the folder purges archive to (this installation\'s setting)')
    .argument('[dir]', 'an existing folder to use from now on')
    .option('--default', 'go back to the default, <data folder>/audit-archive')
    .action(
      action(async (dir: string | undefined, o: { default?: boolean }, cmd: Command) => {
        if (dir && o.default) throw new UsageError('archive-dir: give a folder or --default, not both')
        const g = globals(cmd)
        if (g.dataDir) process.env.NETKEEPER_DATA_DIR = g.dataDir
        const dataDir = resolveDataDir()
        const { archiveSettings, setArchiveDir } = await import('../../core/audit/archive-settings')
        const r = dir || o.default ? setArchiveDir(dataDir, o.default ? null : dir!) : archiveSettings(dataDir)
        emit(cmd, r, () => `${r.archiveDir}${r.isDefault ? ' (the default)' : ''}`)
      })
    )

  const policy = audit.command('policy').description('retention policies per resource type')
  policy
    .command('list')
    .description('list policies (types without an active one are kept forever)')
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
          emit(cmd, r, () => `${r.resourceType}: keep ${r.retentionDays === null ? 'forever' : `${r.retentionDays} day${r.retentionDays === 1 ? '' : 's'}`}${r.isActive ? '' : ' (inactive)'}`)
        })
      })
    )
  policy
    .command('remove <resource-type>')
    .description('remove a policy (the type is then kept forever)')
    .action(
      action(async (type: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.audit.removePolicy(cliContext(), type)
          emit(cmd, r, () => (r.removed ? `removed the policy for ${type}` : `no policy for ${type}`))
          if (!r.removed) process.exitCode = 1
        })
      })
    )
  addForwardCommands(audit)
  return audit
}

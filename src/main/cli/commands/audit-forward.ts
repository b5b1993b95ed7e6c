/**
 * `netkeeper audit forward` (the forwarder: follow, --once, --status) and `netkeeper audit sink
 * add|list|remove|test|enable|disable` (docs/cli.md#audit-forward). Added to the `audit` group by
 * auditCommand; kept in its own module like every command group.
 */
import fs from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import { SYSLOG_FACILITIES, SYSLOG_FORMATS } from '../../../shared/choices'
import type { SinkAddInput, SinkDto } from '../../../shared/audit-forward'
import { AppError } from '../../../shared/errors'
import { action, cliContext, emit, table, UsageError, withCore } from '../runtime'
import { onInterrupt } from '../interrupt'

const int = (name: string, min: number, max: number) => (v: string): number => {
  if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`)
  return Number(v)
}

function readPem(file: string, field: string): string {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (e) {
    throw new AppError('VALIDATION', `${field}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { field })
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

const ago = (iso: string | null): string => (iso ? iso.replace(/\.\d+Z$/, 'Z') : '')

function statusTable(sinks: SinkDto[]): string {
  return table(
    sinks.map((s) => ({
      name: s.name,
      kind: s.kind === 'syslog' ? `syslog/${s.transport}${s.format === 'cef' ? '/cef' : ''}` : 'webhook',
      url: s.url,
      enabled: s.enabled ? 'yes' : 'no',
      cursor: s.cursorSeq,
      backlog: s.backlog,
      sent: s.sent,
      'last sent': ago(s.lastSentAt),
      'next retry': ago(s.nextRetryAt),
      forwarder: s.forwarder ?? '',
      'last error': s.lastError ? `${s.lastError} (${s.attempts} attempt(s))` : ''
    })),
    ['name', 'kind', 'url', 'enabled', 'cursor', 'backlog', 'sent', 'last sent', 'next retry', 'forwarder', 'last error']
  )
}

export function addForwardCommands(audit: Command): void {
  audit
    .command('forward')
    .description('send the audit log, in order, to every enabled sink: follows new rows until stopped (SIGINT/SIGTERM), or drains once')
    .option('--once', 'send each sink its backlog up to the head as it is now, then exit (1 when a sink failed)')
    .option('--status', "show each sink's cursor, backlog, last error and next retry, and exit")
    .option('--sink <name...>', 'only these sinks')
    .option('--interval <ms>', 'how often a follower looks for new rows (default 1000)', int('--interval', 50, 600_000))
    .option('--batch <rows>', "rows per batch unless the sink sets its own (default 1000 for syslog, 100 for webhooks)", int('--batch', 1, 5000))
    .option('--max-retry-delay <seconds>', 'the longest wait between retries of a failing sink (default 300)', int('--max-retry-delay', 1, 86_400))
    .action(
      action(async (o: { once?: boolean; status?: boolean; sink?: string[]; interval?: number; batch?: number; maxRetryDelay?: number }, cmd: Command) => {
        if (o.once && o.status) throw new UsageError('forward: give --once or --status, not both')
        await withCore(cmd, { migrate: true }, async (core) => {
          const ctx = cliContext()
          if (o.status) {
            const s = await core.forwardStatus(ctx)
            const sinks = o.sink?.length ? s.sinks.filter((x) => o.sink!.includes(x.name)) : s.sinks
            emit(cmd, { ...s, sinks }, () => `chain head: seq ${s.headSeq}; forwarding in the app: ${s.inApp.enabled ? 'on' : 'off'}\n${statusTable(sinks)}`)
            return
          }
          if (!(await core.sinks.rows('enabled')).length) throw new AppError('VALIDATION', 'sink: no enabled audit sink; add one with `netkeeper audit sink add NAME URL`', { field: 'sink' })
          const f = core.makeForwarder({ only: o.sink, pollMs: o.interval, batchSize: o.batch, backoffMaxMs: o.maxRetryDelay ? o.maxRetryDelay * 1000 : undefined, log: (l) => process.stderr.write(l + '\n') })
          if (o.once) {
            const r = await f.drain()
            emit(cmd, r, () =>
              r.sinks
                .map((s) => `${s.name}: ${s.skipped ? `skipped (${s.skipped})` : s.error ? `FAILED after ${s.sent} row(s), cursor ${s.cursorSeq}, backlog ${s.backlog}: ${s.error}` : `sent ${s.sent} row(s), cursor ${s.cursorSeq}, backlog ${s.backlog}`}`)
                .join('\n') + `\n${r.seconds.toFixed(2)} s`
            )
            if (r.sinks.some((s) => s.error || s.skipped)) process.exitCode = 1
            return
          }
          process.stderr.write(`forwarding the audit log as ${f.holder} (stop with Ctrl-C)\n`)
          // The first Ctrl-C or SIGTERM lets the batch in flight finish and gives the lease back (exit 0);
          // a second one forces (interrupt.ts).
          const release = onInterrupt(() => void f.stop())
          try {
            await f.follow()
          } finally {
            release()
          }
        })
      })
    )

  const sink = audit.command('sink').description('the syslog and webhook sinks the audit log is forwarded to (secrets in the OS keychain)')
  sink
    .command('add <name> <url>')
    .description('add a sink: udp://host:port, tcp://host:port, tls://host:port (syslog), or http(s)://… (webhook); it is tried first')
    .addOption(new Option('--format <format>', 'syslog: RFC 5424 with structured data, or CEF').choices([...SYSLOG_FORMATS]))
    .addOption(new Option('--facility <facility>', 'syslog facility (default local0)').choices(Object.keys(SYSLOG_FACILITIES)))
    .option('--hostname <name>', "syslog HOSTNAME (default: this machine's name)")
    .option('--app-name <name>', 'syslog APP-NAME (default netkeeper)')
    .option('--ca <file>', 'TLS/https: the CA certificate(s) to trust, PEM (default: the system store)')
    .option('--server-name <name>', "TLS/https: the name the server's certificate must carry, if not the URL's host")
    .option('--client-cert <file>', 'TLS/https: a client certificate, PEM')
    .option('--client-key <file>', 'TLS/https: its private key, PEM (saved in the OS keychain, not as a path)')
    .option('--secret-stdin', 'webhook: read the HMAC-SHA256 key from standard input (default: make one and print it once)')
    .option('--batch <rows>', 'rows per message batch (per connection or POST)', int('--batch', 1, 5000))
    .option('--start <where>', 'forward from the first row (default), from now, or after this seq', 'first')
    .option('--disabled', 'add it switched off')
    .option('--no-test', 'save it without trying it first (the receiver is not up yet)')
    .action(
      action(async (name: string, url: string, o: Record<string, string | boolean | number | undefined>, cmd: Command) => {
        const input: SinkAddInput = {
          name,
          url,
          ...(o.format ? { format: o.format as SinkAddInput['format'] } : {}),
          ...(o.facility ? { facility: o.facility as SinkAddInput['facility'] } : {}),
          ...(o.hostname ? { hostname: String(o.hostname) } : {}),
          ...(o.appName ? { appName: String(o.appName) } : {}),
          ...(o.ca ? { ca: readPem(String(o.ca), 'ca') } : {}),
          ...(o.serverName ? { serverName: String(o.serverName) } : {}),
          ...(o.clientCert ? { clientCert: readPem(String(o.clientCert), 'clientCert') } : {}),
          ...(o.clientKey ? { clientKey: readPem(String(o.clientKey), 'clientKey') } : {}),
          ...(o.secretStdin ? { secret: await readStdin() } : {}),
          ...(o.batch ? { batchSize: Number(o.batch) } : {}),
          start: String(o.start),
          enabled: !o.disabled,
          test: o.test !== false
        }
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.sinks.add(cliContext(), input)
          emit(cmd, r, () =>
            [
              `added ${r.sink.kind} sink ${r.sink.name} (${r.sink.url}), forwarding after seq ${r.sink.cursorSeq}; backlog ${r.sink.backlog} row(s)${r.sink.enabled ? '' : ' (disabled)'}`,
              r.test ? `test: ${r.test.message}` : r.sink.transport === 'udp' ? 'not tried (UDP has no answer)' : 'not tried (--no-test)',
              r.generatedSecret ? `HMAC-SHA256 key (shown once; give it to the receiver): ${r.generatedSecret}` : ''
            ]
              .filter(Boolean)
              .join('\n')
          )
        })
      })
    )
  sink
    .command('list')
    .description("the sinks, with each one's cursor, backlog and last error")
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.sinks.list(cliContext())
          emit(cmd, r, () => statusTable(r))
        })
      })
    )
  sink
    .command('remove <name>')
    .description('remove a sink (and its secret from this keychain); rows not yet sent to it are not sent')
    .action(
      action(async (name: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.sinks.remove(cliContext(), name)
          emit(cmd, r, () => `removed sink ${name}${r.backlog ? ` (${r.backlog} row(s) were not yet sent to it)` : ''}`)
        })
      })
    )
  sink
    .command('test <name>')
    .description('send a test message (not an audit row) and say what answered; exit 1 when it failed')
    .action(
      action(async (name: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.sinks.test(cliContext(), name)
          emit(cmd, r, () => `${r.ok ? 'ok' : 'FAILED'}: ${r.message} (${r.ms} ms)`)
          if (!r.ok) process.exitCode = 1
        })
      })
    )
  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    sink
      .command(`${verb} <name>`)
      .description(enabled ? 'forward to it again (from its cursor)' : 'stop forwarding to it; its cursor stays, so nothing is skipped when it is enabled again')
      .action(
        action(async (name: string, _o: object, cmd: Command) => {
          await withCore(cmd, { migrate: true }, async (core) => {
            const r = await core.sinks.setEnabled(cliContext(), name, enabled)
            emit(cmd, r, () => `${r.name}: ${r.enabled ? 'enabled' : 'disabled'}; cursor ${r.cursorSeq}, backlog ${r.backlog}`)
          })
        })
      )
  }
}

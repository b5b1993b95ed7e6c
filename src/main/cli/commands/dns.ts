/**
 * `netkeeper dns ...`: name servers (TSIG secret from standard input or NETKEEPER_TSIG_SECRET, kept in the
 * OS keychain), the zones Netkeeper manages on them, a pool's DNS settings, a zone's records, drift.
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { TSIG_ALGORITHMS } from '../../../shared/choices'
import type { DnsDriftItem, TsigAlgorithm } from '../../../shared/dns'
import { action, cliContext, emit, table, UsageError, withCore } from '../runtime'

const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}

/** The TSIG secret: standard input with --secret-stdin, else NETKEEPER_TSIG_SECRET; never an argument (it would show in `ps`). */
async function readSecret(o: { secretStdin?: boolean }): Promise<string> {
  if (o.secretStdin) {
    const chunks: Buffer[] = []
    for await (const c of process.stdin) chunks.push(c as Buffer)
    const s = Buffer.concat(chunks).toString('utf8').trim()
    if (!s) throw new UsageError('--secret-stdin: standard input was empty')
    return s
  }
  const env = process.env.NETKEEPER_TSIG_SECRET
  if (env) return env.trim()
  throw new UsageError('give the TSIG secret on standard input with --secret-stdin, or in NETKEEPER_TSIG_SECRET')
}

function driftLine(i: DnsDriftItem): Record<string, unknown> {
  return {
    id: i.id,
    kind: i.kind + (i.ignored ? ' (ignored)' : ''),
    name: `${i.name} ${i.type}`,
    zone: i.inZone.join(', ') || '-',
    ipam: i.expected.join(', ') || '-'
  }
}

export function dnsCommand(): Command {
  const dns = new Command('dns').description('DNS: name servers, zones, records that follow allocations, drift')

  // ---------------------------------------------------------------- servers
  const server = dns.command('server').description('primary name servers Netkeeper updates (RFC 2136, signed with TSIG)')
  server
    .command('add <name>')
    .description('add a name server; the TSIG secret goes to the OS keychain')
    .requiredOption('--address <ip>', 'the primary server address')
    .option('--port <n>', 'its DNS port', int('--port'), 53)
    .requiredOption('--key-name <name>', 'the TSIG key name (as in named.conf)')
    .addOption(new Option('--algorithm <alg>', 'the TSIG algorithm').choices([...TSIG_ALGORITHMS]).default('hmac-sha256'))
    .option('--secret-stdin', 'read the base64 secret from standard input (else NETKEEPER_TSIG_SECRET)')
    .action(
      action(async (name: string, o: { address: string; port: number; keyName: string; algorithm: TsigAlgorithm; secretStdin?: boolean }, cmd: Command) => {
        const secret = await readSecret(o)
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dns.addServer(cliContext(), { name, address: o.address, port: o.port, keyName: o.keyName, algorithm: o.algorithm, secret })
          emit(cmd, r, () => `added DNS server ${r.name} (${r.address} port ${r.port}, key ${r.keyName}, ${r.algorithm}); secret kept in the OS keychain`)
        })
      })
    )
  server
    .command('list')
    .description('the name servers')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const items = await core.dns.listServers()
          emit(cmd, { items }, () => table(items.map((s) => ({ name: s.name, address: s.address, port: s.port, key: s.keyName, algorithm: s.algorithm, zones: s.zones })), ['name', 'address', 'port', 'key', 'algorithm', 'zones']))
        })
      })
    )
  server
    .command('test <name>')
    .description("reach the server with its key: each zone's SOA, and whether the key may update it")
    .action(
      action(async (name: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dns.testServer(cliContext(), name)
          emit(cmd, r, () =>
            [
              `${r.server}: ${r.ok ? 'ok' : 'NOT OK'} (${r.ms} ms)${r.error ? `: ${r.error}` : ''}`,
              ...r.zones.map((z) => `  ${z.zone}: ${z.ok ? `serial ${z.serial}, updates allowed` : `not ok: ${z.error}`}`)
            ].join('\n')
          )
          if (!r.ok) process.exitCode = 1
        })
      })
    )
  server
    .command('set-secret <name>')
    .description("replace the server's TSIG secret in the keychain (changes waiting on it go out)")
    .option('--secret-stdin', 'read the base64 secret from standard input (else NETKEEPER_TSIG_SECRET)')
    .action(
      action(async (name: string, o: { secretStdin?: boolean }, cmd: Command) => {
        const secret = await readSecret(o)
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dns.setSecret(cliContext(), name, secret)
          const run = await core.outbox.drain(8000)
          emit(cmd, { server: r, applied: run }, () => `secret of ${r.name} replaced; ${run.done} waiting change(s) applied${run.retrying ? `, ${run.retrying} still failing` : ''}`)
        })
      })
    )
  server
    .command('remove <name>')
    .description('remove a name server (its zones first)')
    .action(
      action(async (name: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dns.removeServer(cliContext(), name)
          emit(cmd, r, () => `removed DNS server ${r.name}`)
        })
      })
    )

  // ---------------------------------------------------------------- zones
  const zone = dns.command('zone').description('zones Netkeeper manages: forward, in-addr.arpa (classless above /24), ip6.arpa')
  zone
    .command('add <zone>')
    .description('manage a zone on a server (the server is asked whether it serves it and lets the key update it)')
    .requiredOption('--server <name>', 'the name server')
    .option('--ttl <seconds>', 'TTL of the records Netkeeper writes', int('--ttl'), 3600)
    .option('--no-check', 'do not ask the server first')
    .option('--space <space>', 'reverse zones: the address space whose allocations get PTRs here (default: the default space)')
    .action(
      action(async (name: string, o: { server: string; ttl: number; check: boolean; space?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dns.addZone(cliContext(), { server: o.server, name, ttl: o.ttl, noCheck: !o.check, ...(o.space ? { space: o.space } : {}) })
          emit(cmd, r, () => `added ${r.kind} zone ${r.name} on ${r.server}${r.network ? ` (PTRs of ${r.network} in space ${r.space}${r.classless ? ', classless' : ''})` : ''}`)
        })
      })
    )
  zone
    .command('list')
    .description('the zones')
    .option('--server <name>', 'of one server')
    .action(
      action(async (o: { server?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const items = await core.dns.listZones(o)
          emit(cmd, { items }, () =>
            table(
              items.map((z) => ({ zone: z.name, kind: z.kind + (z.classless ? ' (classless)' : ''), network: z.network ?? '', space: z.network ? z.space : '', server: z.server, ttl: z.ttl, pools: z.pools.join(', ') })),
              ['zone', 'kind', 'network', 'space', 'server', 'ttl', 'pools']
            )
          )
        })
      })
    )
  zone
    .command('remove <zone>')
    .description('stop managing a zone (its records stay on the server; pools stop publishing in it)')
    .action(
      action(async (name: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dns.removeZone(cliContext(), name)
          emit(cmd, r, () => `removed zone ${r.name}${r.pools.length ? `; pools no longer publishing in it: ${r.pools.join(', ')}` : ''}`)
        })
      })
    )

  // ---------------------------------------------------------------- pools
  dns
    .command('pool <pool>')
    .description("a pool's DNS settings (forward zone, PTR on/off) and its reverse-zone coverage; changes them with --zone/--no-zone, --ptr/--no-ptr")
    .option('--zone <zone>', 'the forward zone its names go in')
    .option('--no-zone', 'stop publishing its names')
    .option('--ptr', 'write PTR records for its addresses')
    .option('--no-ptr', 'no PTR records')
    .option('--publish', "with a change: bring the records of the pool's existing allocations (DNS on) in line now, one outbox batch")
    .action(
      action(async (pool: string, o: { zone?: string | false; ptr?: boolean; publish?: boolean }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const change = o.zone !== undefined || o.ptr !== undefined
          const r = change ? await core.dns.setPoolDns(cliContext(), { pool, zone: o.zone === false ? null : o.zone, ptr: o.ptr, publish: o.publish }) : await core.dns.poolDns(pool)
          // What the publish queued is applied before the command exits (what cannot be now stays queued).
          const run = r.published?.rows ? await core.outbox.drain(30_000) : undefined
          emit(cmd, run ? { ...r, applied: run } : r, () =>
            [
              ...(r.published ? [`published ${r.published.allocations} allocation(s) in ${r.published.rows} outbox row(s)${run ? `: ${run.done} applied${run.retrying ? `, ${run.retrying} waiting to be retried` : ''}` : ''}`] : []),
              `pool ${r.pool} (${r.network})`,
              `  forward zone: ${r.zone ?? '-'}`,
              `  PTR records:  ${r.ptr ? 'on' : 'off'}`,
              `  reverse zones: ${r.reverseZones.map((z) => `${z.zone} (${z.network})`).join(', ') || '-'}`,
              ...(r.uncovered && r.ptr ? [`  warning: no managed reverse zone covers all of ${r.network}; add ${r.suggestedReverseZone}`] : [])
            ].join('\n')
          )
        })
      })
    )

  // ---------------------------------------------------------------- records
  dns
    .command('record')
    .description("a zone's records")
    .command('list <zone>')
    .description('the records as the server has them now (AXFR), each with the allocation behind it')
    .option('--search <text>', 'names or data containing this')
    .option('--type <type>', 'only this type (A, AAAA, PTR, ...)')
    .option('--page <n>', 'page', int('--page'), 1)
    .option('--page-size <n>', 'rows per page (max 1000)', int('--page-size'), 100)
    .action(
      action(async (z: string, o: { search?: string; type?: string; page: number; pageSize: number }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dns.records(cliContext(), z, o)
          emit(cmd, r, () =>
            `${table(
              r.items.map((x) => ({ name: x.name, type: x.type, ttl: x.ttl, data: x.data, allocation: x.allocation ? `${x.allocation.ip} (${x.allocation.pool})` : '' })),
              ['name', 'type', 'ttl', 'data', 'allocation']
            )}\n(page ${r.page}, ${r.items.length} of ${r.total}; serial ${r.serial})`
          )
        })
      })
    )

  // ---------------------------------------------------------------- drift
  dns
    .command('drift')
    .description('where zones and allocations disagree; --repair fixes lines (towards the zone by default), --ignore hides one')
    .option('--zone <zone>', 'one zone (else every zone)')
    .addOption(new Option('--repair [direction]', 'repair every line not ignored (or those given with --id): "zone" makes the zone match the allocations, "ipam" the allocations match the zone').choices(['zone', 'ipam']).preset('zone'))
    .option('--id <id...>', 'with --repair: only these lines')
    .option('--ignore <id>', 'ignore a line (audited)')
    .option('--unignore <id>', 'stop ignoring a line')
    .action(
      action(async (o: { zone?: string; repair?: 'zone' | 'ipam'; id?: string[]; ignore?: string; unignore?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const ctx = cliContext()
          if (o.ignore || o.unignore) {
            await core.dns.drift.ignore(ctx, (o.ignore ?? o.unignore)!, !!o.unignore)
            emit(cmd, { id: o.ignore ?? o.unignore, ignored: !!o.ignore }, () => `${o.ignore ? 'ignoring' : 'no longer ignoring'} ${o.ignore ?? o.unignore}`)
            return
          }
          if (o.repair) {
            const results = await core.dns.drift.repair(ctx, { zone: o.zone, ids: o.id, direction: o.repair })
            await core.outbox.drain(8000)
            emit(cmd, { results }, () => (results.length ? results.map((x) => `${x.ok ? 'repaired' : 'FAILED'} ${x.id}: ${x.message}`).join('\n') : '(nothing to repair)'))
            if (results.some((x) => !x.ok)) process.exitCode = 1
            return
          }
          const r = await core.dns.drift.report(ctx, { zone: o.zone })
          emit(cmd, r, () =>
            [
              ...r.zones.map((z) => `${z.zone}: ${z.error ? `NOT READ: ${z.error}` : `${z.records} address record(s) compared (the apex and its name servers aside), serial ${z.serial}`}`),
              '',
              r.items.length ? table(r.items.map(driftLine), ['id', 'kind', 'name', 'zone', 'ipam']) : '(no drift)',
              r.items.length ? '\nrepair: netkeeper dns drift --repair [zone|ipam] [--id ID...]; ignore: --ignore ID' : ''
            ].join('\n')
          )
        })
      })
    )
  return dns
}

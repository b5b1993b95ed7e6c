/**
 * `netkeeper dhcp ...`: Kea databases, a pool's Kea subnet, its reservations and leases, the pool's Kea
 * subnet JSON, drift.
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import type { DhcpDriftItem } from '../../../shared/dhcp'
import { action, cliContext, emit, table, UsageError, withCore } from '../runtime'

const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}

async function readPassword(o: { passwordStdin?: boolean }): Promise<string | undefined> {
  if (!o.passwordStdin) return process.env.NETKEEPER_KEA_PASSWORD || undefined
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  const s = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (!s) throw new UsageError('--password-stdin: standard input was empty')
  return s
}

const driftLine = (i: DhcpDriftItem): Record<string, unknown> => ({ id: i.id, kind: i.kind + (i.ignored ? ' (ignored)' : ''), ip: i.ip, kea: i.inKea ?? '-', ipam: i.expected ?? '-' })

export function dhcpCommand(): Command {
  const dhcp = new Command('dhcp').description('DHCP: Kea host reservations that follow allocations, leases, drift')

  const server = dhcp.command('server').description("Kea servers: their PostgreSQL host and lease database (the schema `kea-admin db-init pgsql` creates)")
  server
    .command('add <name>')
    .description('add a Kea database; a password goes to the OS keychain')
    .requiredOption('--host <host>', 'database host, address or Unix socket folder')
    .option('--port <n>', 'database port', int('--port'), 5432)
    .requiredOption('--database <name>', 'database name')
    .requiredOption('--user <name>', 'database user')
    .option('--password-stdin', 'read the password from standard input (else NETKEEPER_KEA_PASSWORD; none for trust/peer)')
    .action(
      action(async (name: string, o: { host: string; port: number; database: string; user: string; passwordStdin?: boolean }, cmd: Command) => {
        const password = await readPassword(o)
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dhcp.addServer(cliContext(), { name, host: o.host, port: o.port, database: o.database, user: o.user, password })
          emit(cmd, r, () => `added DHCP server ${r.name} (Kea database ${r.database} on ${r.host} port ${r.port} as ${r.user})`)
        })
      })
    )
  server
    .command('list')
    .description('the Kea servers')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const items = await core.dhcp.listServers()
          emit(cmd, { items }, () => table(items.map((s) => ({ name: s.name, host: s.host, port: s.port, database: s.database, user: s.user, pools: s.pools.join(', ') })), ['name', 'host', 'port', 'database', 'user', 'pools']))
        })
      })
    )
  server
    .command('test <name>')
    .description("connect to the Kea database and read its schema version")
    .action(
      action(async (name: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dhcp.testServer(cliContext(), name)
          emit(cmd, r, () => (r.ok ? `${r.server}: ok (Kea schema ${r.schema}; ${r.hosts} reservation(s), ${r.leases} lease(s))` : `${r.server}: NOT OK: ${r.error}`))
          if (!r.ok) process.exitCode = 1
        })
      })
    )

  server
    .command('remove <name>')
    .description('remove a Kea server (once no pool maps to it); its reservations stay in Kea, its password leaves the keychain')
    .action(
      action(async (name: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dhcp.removeServer(cliContext(), name)
          emit(cmd, r, () => `removed DHCP server ${r.name}`)
        })
      })
    )

  dhcp
    .command('pool <pool>')
    .description('map a pool to a Kea server and subnet id')
    .option('--server <name>', 'the Kea server')
    .option('--no-server', 'stop managing reservations for it')
    .option('--subnet-id <n>', 'the id of its subnet4/subnet6 entry in Kea', int('--subnet-id'))
    .action(
      action(async (pool: string, o: { server?: string | false; subnetId?: number }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dhcp.setPoolDhcp(cliContext(), { pool, server: o.server === false ? null : o.server, subnetId: o.server === false ? null : o.subnetId })
          emit(cmd, r, () => (r.server ? `pool ${r.pool}: Kea server ${r.server}, subnet id ${r.subnetId}` : `pool ${r.pool}: no DHCP`))
        })
      })
    )

  dhcp
    .command('reservations')
    .description("the pool's host reservations in Kea, each with the allocation behind it")
    .requiredOption('--pool <pool>', 'pool name or id')
    .action(
      action(async (o: { pool: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const items = await core.dhcp.reservations(cliContext(), o.pool)
          emit(cmd, { items }, () =>
            table(
              items.map((r) => ({ ip: r.ip, mac: r.mac, hostname: r.hostname ?? '', subnet: r.subnetId, by: r.ours ? 'netkeeper' : 'someone else', allocation: r.allocation ? 'yes' : 'NO' })),
              ['ip', 'mac', 'hostname', 'subnet', 'by', 'allocation']
            )
          )
        })
      })
    )

  dhcp
    .command('leases')
    .description("the pool's active leases, from Kea's lease database")
    .requiredOption('--pool <pool>', 'pool name or id')
    .action(
      action(async (o: { pool: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const items = await core.dhcp.leases(cliContext(), o.pool)
          emit(cmd, { items }, () => table(items.map((l) => ({ ip: l.ip, mac: l.mac ?? '', hostname: l.hostname ?? '', expires: l.expires ?? '' })), ['ip', 'mac', 'hostname', 'expires']))
        })
      })
    )

  dhcp
    .command('kea-config')
    .description("print the pool's subnet4/subnet6 entry for the Kea configuration (its \"pools\" are the pool's DHCP ranges)")
    .requiredOption('--pool <pool>', 'pool name or id')
    .action(
      action(async (o: { pool: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.dhcp.keaConfig(cliContext(), o.pool)
          // JSON either way: it is meant to be pasted into kea-dhcp4.conf.
          emit(cmd, r, () => JSON.stringify(r, null, 2))
        })
      })
    )

  dhcp
    .command('drift')
    .description('where Kea and the allocations disagree; --repair fixes lines (towards Kea by default), --ignore hides one')
    .option('--pool <pool>', 'one pool (else every pool mapped to Kea)')
    .addOption(new Option('--repair [direction]', '"dhcp" makes Kea match the allocations, "ipam" the allocations match Kea').choices(['dhcp', 'ipam']).preset('dhcp'))
    .option('--id <id...>', 'with --repair: only these lines')
    .option('--ignore <id>', 'ignore a line (audited)')
    .option('--unignore <id>', 'stop ignoring a line')
    .action(
      action(async (o: { pool?: string; repair?: 'dhcp' | 'ipam'; id?: string[]; ignore?: string; unignore?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const ctx = cliContext()
          if (o.ignore || o.unignore) {
            await core.dhcp.ignore(ctx, (o.ignore ?? o.unignore)!, !!o.unignore)
            emit(cmd, { id: o.ignore ?? o.unignore, ignored: !!o.ignore }, () => `${o.ignore ? 'ignoring' : 'no longer ignoring'} ${o.ignore ?? o.unignore}`)
            return
          }
          if (o.repair) {
            const results = await core.dhcp.repair(ctx, { pool: o.pool, ids: o.id, direction: o.repair })
            await core.outbox.drain(8000)
            emit(cmd, { results }, () => (results.length ? results.map((x) => `${x.ok ? 'repaired' : 'FAILED'} ${x.id}: ${x.message}`).join('\n') : '(nothing to repair)'))
            if (results.some((x) => !x.ok)) process.exitCode = 1
            return
          }
          const r = await core.dhcp.drift(ctx, { pool: o.pool })
          emit(cmd, r, () =>
            [
              ...r.pools.filter((p) => p.error).map((p) => `${p.pool}: NOT READ: ${p.error}`),
              r.items.length ? table(r.items.map(driftLine), ['id', 'kind', 'ip', 'kea', 'ipam']) : '(no drift)'
            ].join('\n')
          )
        })
      })
    )
  return dhcp
}

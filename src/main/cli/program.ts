/**
 * The `netkeeper` command tree (commander) and its runner; started by index.ts.
 * Exit codes: 0 done, 1 the operation failed (validation, conflict, unavailable...), 2 usage.
 *
 * Defining the commands loads only commander and light modules (option choices, the runtime helpers):
 * each command loads the core when it runs, so `--help` never loads a database driver (docs/cli.md#start-up).
 */
import { Command, CommanderError } from 'commander'
import { dbCommand } from './commands/db'
import { ipamCommand, ipCommand, poolCommand } from './commands/ipam'
import { auditCommand } from './commands/audit'
import { entryCommand, groupCommand, ldifCommand, profileCommand, templateCommand, userCommand } from './commands/directory'
import { importCommand } from './commands/import'
import { queueCommand } from './commands/queue'
import { completionCommand } from './commands/completion'
import { outboxCommand } from './commands/outbox'
import { rangeCommand } from './commands/range'
import { spaceCommand } from './commands/space'
import { dnsCommand } from './commands/dns'
import { dhcpCommand } from './commands/dhcp'
import { fieldCommand, siteCommand, tagCommand, vlanCommand } from './commands/objects'
import { addConnectionOption, EXIT_USAGE } from './runtime'
import { cliVersion } from './version'

/**
 * The top-level commands in the order --help lists them, each with the description its group gives itself
 * (a test checks they agree) and the function that builds the group with every subcommand and option.
 */
const GROUPS: { name: string; description: string; build: () => Command }[] = [
  { name: 'db', description: 'database migrations and health', build: dbCommand },
  { name: 'pool', description: 'IP pools', build: poolCommand },
  { name: 'ip', description: 'addresses: allocate, reserve, block, update, release, show, search', build: ipCommand },
  { name: 'ipam', description: 'IPAM overview', build: ipamCommand },
  { name: 'space', description: 'address spaces (VRFs): the same prefix may exist once in each', build: spaceCommand },
  { name: 'range', description: 'ranges inside a pool: next free skips dhcp and reserved ones; an address in a dhcp range needs --force', build: rangeCommand },
  { name: 'vlan', description: 'VLANs (VID 1-4094, unique within a VLAN group) that pools point at', build: vlanCommand },
  { name: 'site', description: 'sites that pools point at', build: siteCommand },
  { name: 'tag', description: 'tags (name, colour) on pools and allocations', build: tagCommand },
  { name: 'field', description: 'custom fields on pools and allocations, checked by the database server', build: fieldCommand },
  { name: 'audit', description: 'the tamper-evident audit trail', build: auditCommand },
  { name: 'profile', description: 'LDAP connection profiles (secrets in the OS keychain, never on disk)', build: profileCommand },
  { name: 'user', description: 'LDAP users (inetOrgPerson + posixAccount + shadowAccount)', build: userCommand },
  { name: 'group', description: 'LDAP groups (posixGroup, groupOfNames, rfc2307bis)', build: groupCommand },
  { name: 'ldif', description: 'LDIF (RFC 2849) export and import', build: ldifCommand },
  { name: 'template', description: "the LDAP profile's template for new users (UI, user create, user import)", build: templateCommand },
  { name: 'entry', description: 'any directory entry: every attribute, driven by the server schema', build: entryCommand },
  { name: 'import', description: 'bring data across from other tools', build: importCommand },
  { name: 'queue', description: 'edits queued while the database server was unreachable: list, replay, conflicts, retry, cancel', build: queueCommand },
  { name: 'outbox', description: 'side effects outside the database (DNS updates, DHCP reservations): status, run the worker, retry, ignore', build: outboxCommand },
  { name: 'dns', description: 'DNS: name servers, zones, records that follow allocations, drift', build: dnsCommand },
  { name: 'dhcp', description: 'DHCP: Kea host reservations that follow allocations, leases, drift', build: dhcpCommand },
  { name: 'completion', description: 'print a shell completion script (bash, zsh or fish); see docs/cli.md#completion', build: completionCommand }
]

/**
 * The command tree. Given the arguments of a run, only the group they name is built in full: the other
 * groups are their name and description, which is all that `netkeeper --help` or "unknown command" shows.
 * Building all ~300 commands cost more than the rest of --help in a fresh process (V8 compiles each group's
 * code the first time it runs). Without arguments (completion, the tests) the whole tree is built, and so it
 * is for `completion`, whose script lists every command.
 */
export function buildProgram(args?: string[]): Command {
  const program = new Command('netkeeper')
    .description('Netkeeper: IP address management, LDAP directory and audit trail, from the command line')
    .version(cliVersion())
    .option('--database-url <url>', 'PostgreSQL URL (overrides NETKEEPER_DATABASE_URL, the saved connections and the embedded default)')
    .option('--db-profile <name>', 'saved database connection to use, or "embedded" (as --profile; the spelling that also works with user and group, whose --profile is the LDAP profile)')
    .option('--data-dir <dir>', 'data folder (overrides NETKEEPER_DATA_DIR)')
    .option('--json', 'machine-readable output')
    .option('--no-queue', 'fail instead of queueing an edit when the database server is unreachable (see `netkeeper queue`)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
  const wanted = args ? commandNamed(args) : undefined
  const full = !args || wanted === 'completion'
  const stubs = new Set<Command>()
  for (const g of GROUPS) {
    if (full || g.name === wanted) program.addCommand(g.build())
    else stubs.add(program.command(g.name === 'completion' ? 'completion <shell>' : g.name).description(g.description))
  }
  // Every subcommand inherits the usage-error handling.
  const walk = (c: Command): void => {
    c.exitOverride()
    c.commands.forEach(walk)
  }
  walk(program)
  // `--profile NAME` picks the saved database connection before the command (see hoistProfile) and after
  // it on every command that runs on the database, except under `user`, `group` and `profile`, where
  // --profile has long named the LDAP profile (--db-profile or NETKEEPER_PROFILE work there).
  const LDAP = new Set(['user', 'group', 'profile', 'ldif', 'template', 'entry'])
  for (const top of program.commands) if (!stubs.has(top) && !LDAP.has(top.name()) && top.name() !== 'help' && top.name() !== 'completion') addConnectionOption(top)
  return program
}

/** The top-level command the arguments run (`help pool` asks for pool's), or undefined. */
function commandNamed(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (VALUE_OPTIONS.has(a)) i++
    else if (a === '--') return args[i + 1]
    else if (!a.startsWith('-')) return a === 'help' ? commandNamed(args.slice(i + 1)) : a
  }
  return undefined
}

/** Program options that take a value (to find where the command starts). */
const VALUE_OPTIONS = new Set(['--database-url', '--data-dir', '--db-profile', '--profile'])

/**
 * `--profile NAME` before the command is the global choice of database connection: it is passed on as
 * --db-profile, so that after `user` or `group` a --profile keeps naming the LDAP profile.
 */
export function hoistProfile(args: string[]): string[] {
  const out = [...args]
  for (let i = 0; i < out.length; i++) {
    const a = out[i]!
    if (a === '--profile') out[i] = '--db-profile'
    else if (a.startsWith('--profile=')) out[i] = `--db-profile=${a.slice('--profile='.length)}`
    if (VALUE_OPTIONS.has(out[i]!)) i++
    else if (!a.startsWith('-')) break
  }
  return out
}

export async function main(argv = process.argv): Promise<number> {
  const args = hoistProfile(argv.slice(2))
  const program = buildProgram(args)
  try {
    // Always Node's shape ([runtime, script, ...args]): inside Electron's main process (the packaged app's CLI
    // mode) commander would otherwise guess Electron's own argv layout and read the script slot as an argument.
    await program.parseAsync([...argv.slice(0, 2), ...args], { from: 'node' })
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit through here with code 0.
      if (e.exitCode === 0) return 0
      return EXIT_USAGE
    }
    throw e
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0
}

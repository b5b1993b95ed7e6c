/**
 * The `netkeeper` command tree (commander) and its runner; started by index.ts.
 * Exit codes: 0 done, 1 the operation failed (validation, conflict, unavailable...), 2 usage.
 *
 * Defining the commands loads only commander and light modules (option choices, the runtime helpers):
 * each command loads the core when it runs, so `--help` never loads a database driver (docs/cli.md#start-up).
 * Each group's module (commands/*.ts) is a dynamic import, a chunk of its own in the build: a run loads the
 * group it names, `--help` none.
 */
import { Command, CommanderError } from 'commander'
import { addConnectionOption, EXIT_USAGE } from './runtime'
import { cliVersion } from './version'

/**
 * The top-level commands in the order --help lists them, each with the description its group gives itself
 * (a test checks they agree) and the function that builds the group with every subcommand and option.
 */
const GROUPS: { name: string; description: string; build: () => Promise<Command> }[] = [
  { name: 'db', description: 'database migrations and health', build: () => import('./commands/db').then((m) => m.dbCommand()) },
  { name: 'pool', description: 'IP pools', build: () => import('./commands/ipam').then((m) => m.poolCommand()) },
  { name: 'ip', description: 'addresses: allocate, reserve, block, update, release, show, search', build: () => import('./commands/ipam').then((m) => m.ipCommand()) },
  { name: 'ipam', description: 'IPAM overview', build: () => import('./commands/ipam').then((m) => m.ipamCommand()) },
  { name: 'space', description: 'address spaces (VRFs): the same prefix may exist once in each', build: () => import('./commands/space').then((m) => m.spaceCommand()) },
  { name: 'range', description: 'ranges inside a pool: next free skips dhcp and reserved ones; an address in a dhcp range needs --force', build: () => import('./commands/range').then((m) => m.rangeCommand()) },
  { name: 'vlan', description: 'VLANs (VID 1-4094, unique within a VLAN group) that pools point at', build: () => import('./commands/objects').then((m) => m.vlanCommand()) },
  { name: 'site', description: 'sites that pools point at', build: () => import('./commands/objects').then((m) => m.siteCommand()) },
  { name: 'tag', description: 'tags (name, colour) on pools and allocations', build: () => import('./commands/objects').then((m) => m.tagCommand()) },
  { name: 'field', description: 'custom fields on pools and allocations, checked by the database server', build: () => import('./commands/objects').then((m) => m.fieldCommand()) },
  { name: 'audit', description: 'the tamper-evident audit trail', build: () => import('./commands/audit').then((m) => m.auditCommand()) },
  { name: 'profile', description: 'LDAP connection profiles (secrets in the OS keychain, never on disk)', build: () => import('./commands/directory/profile').then((m) => m.profileCommand()) },
  { name: 'user', description: 'LDAP users (inetOrgPerson + posixAccount + shadowAccount)', build: () => import('./commands/directory/user').then((m) => m.userCommand()) },
  { name: 'group', description: 'LDAP groups (posixGroup, groupOfNames, rfc2307bis)', build: () => import('./commands/directory/group').then((m) => m.groupCommand()) },
  { name: 'ldif', description: 'LDIF (RFC 2849) export and import', build: () => import('./commands/directory/ldif').then((m) => m.ldifCommand()) },
  { name: 'template', description: "the LDAP profile's template for new users (UI, user create, user import)", build: () => import('./commands/directory/template').then((m) => m.templateCommand()) },
  { name: 'entry', description: 'any directory entry: every attribute, driven by the server schema', build: () => import('./commands/directory/entry').then((m) => m.entryCommand()) },
  { name: 'import', description: 'bring data across from other tools', build: () => import('./commands/import').then((m) => m.importCommand()) },
  { name: 'queue', description: 'edits queued while the database server was unreachable: list, replay, conflicts, retry, cancel', build: () => import('./commands/queue').then((m) => m.queueCommand()) },
  { name: 'outbox', description: 'side effects outside the database (DNS updates, DHCP reservations): status, run the worker, retry, ignore', build: () => import('./commands/outbox').then((m) => m.outboxCommand()) },
  { name: 'dns', description: 'DNS: name servers, zones, records that follow allocations, drift', build: () => import('./commands/dns').then((m) => m.dnsCommand()) },
  { name: 'dhcp', description: 'DHCP: Kea host reservations that follow allocations, leases, drift', build: () => import('./commands/dhcp').then((m) => m.dhcpCommand()) },
  { name: 'completion', description: 'print a shell completion script (bash, zsh or fish); see docs/cli.md#completion', build: () => import('./commands/completion').then((m) => m.completionCommand()) }
]

/**
 * The command tree. Given the arguments of a run, only the group they name is built in full: the other
 * groups are their name and description, which is all that `netkeeper --help` or "unknown command" shows.
 * Loading and building all ~300 commands cost more than the rest of --help in a fresh process (V8 parses
 * and compiles each group's code the first time it runs). Without arguments (completion, the tests) the whole tree is built, and so it
 * is for `completion`, whose script lists every command.
 */
export async function buildProgram(args?: string[]): Promise<Command> {
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
  const built = await Promise.all(GROUPS.map((g) => (full || g.name === wanted ? g.build() : null)))
  GROUPS.forEach((g, i) => {
    const group = built[i]
    if (group) program.addCommand(group)
    else stubs.add(program.command(g.name === 'completion' ? 'completion <shell>' : g.name).description(g.description))
  })
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
  const program = await buildProgram(args)
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

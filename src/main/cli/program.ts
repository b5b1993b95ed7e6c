/**
 * The `netkeeper` command tree (commander) and its runner; started by index.ts.
 * Exit codes: 0 done, 1 the operation failed (validation, conflict, unavailable...), 2 usage.
 *
 * Defining the commands loads only commander and light modules (option choices, the runtime helpers):
 * each command loads the core when it runs, so `--help` never loads a database driver (docs/cli.md#start-up).
 * Each group's module (commands/*.ts) is a dynamic import, a chunk of its own in the build: a run loads the
 * group it names, `netkeeper pool --help` that group, and the top-level `--help` none (run.ts answers it
 * from top.ts through help.ts without this module).
 */
import nodeModule from 'node:module'
import path from 'node:path'
import { Command, CommanderError } from 'commander'
import { platformCacheDir } from '../core/paths'
import { addConnectionOption, EXIT_USAGE } from './runtime'
import { VALUE_OPTIONS } from './run'
import { cliVersion } from './version'
import { PROGRAM_DESCRIPTION, PROGRAM_NAME, PROGRAM_OPTIONS, TOP_COMMANDS } from './top'

/**
 * How each top-level group (top.ts, in the order --help lists them) is built with every subcommand and option:
 * a dynamic import of its module, a chunk of its own.
 */
const BUILDERS: Record<string, () => Promise<Command>> = {
  db: () => import('./commands/db').then((m) => m.dbCommand()),
  pool: () => import('./commands/ipam').then((m) => m.poolCommand()),
  ip: () => import('./commands/ipam').then((m) => m.ipCommand()),
  ipam: () => import('./commands/ipam').then((m) => m.ipamCommand()),
  space: () => import('./commands/space').then((m) => m.spaceCommand()),
  range: () => import('./commands/range').then((m) => m.rangeCommand()),
  vlan: () => import('./commands/objects').then((m) => m.vlanCommand()),
  site: () => import('./commands/objects').then((m) => m.siteCommand()),
  tag: () => import('./commands/objects').then((m) => m.tagCommand()),
  field: () => import('./commands/objects').then((m) => m.fieldCommand()),
  audit: () => import('./commands/audit').then((m) => m.auditCommand()),
  profile: () => import('./commands/directory/profile').then((m) => m.profileCommand()),
  user: () => import('./commands/directory/user').then((m) => m.userCommand()),
  group: () => import('./commands/directory/group').then((m) => m.groupCommand()),
  ldif: () => import('./commands/directory/ldif').then((m) => m.ldifCommand()),
  template: () => import('./commands/directory/template').then((m) => m.templateCommand()),
  entry: () => import('./commands/directory/entry').then((m) => m.entryCommand()),
  import: () => import('./commands/import').then((m) => m.importCommand()),
  queue: () => import('./commands/queue').then((m) => m.queueCommand()),
  outbox: () => import('./commands/outbox').then((m) => m.outboxCommand()),
  dns: () => import('./commands/dns').then((m) => m.dnsCommand()),
  dhcp: () => import('./commands/dhcp').then((m) => m.dhcpCommand()),
  completion: () => import('./commands/completion').then((m) => m.completionCommand())
}

const GROUPS = TOP_COMMANDS.map((c) => {
  const build = BUILDERS[c.name]
  if (!build) throw new Error(`cli: no builder for the top-level command ${c.name}`)
  return { ...c, build }
})

/**
 * The command tree. Given the arguments of a run, only the group they name is built in full: the other
 * groups are their name and description, which is all that `netkeeper --help` or "unknown command" shows.
 * Loading and building all ~300 commands cost more than the rest of --help in a fresh process (V8 parses
 * and compiles each group's code the first time it runs). Without arguments (completion, the tests) the whole tree is built, and so it
 * is for `completion`, whose script lists every command.
 */
export async function buildProgram(args?: string[]): Promise<Command> {
  const program = new Command(PROGRAM_NAME).description(PROGRAM_DESCRIPTION).version(cliVersion())
  for (const o of PROGRAM_OPTIONS) program.option(o.flags, o.description)
  program.showHelpAfterError('(run with --help for usage)').exitOverride()
  const wanted = args ? commandNamed(args) : undefined
  const full = !args || wanted === 'completion'
  const stubs = new Set<Command>()
  const built = await Promise.all(GROUPS.map((g) => (full || g.name === wanted ? g.build() : null)))
  GROUPS.forEach((g, i) => {
    const group = built[i]
    if (group) program.addCommand(group)
    else stubs.add(program.command(g.args ? `${g.name} ${g.args}` : g.name).description(g.description))
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

/** Node's `module.enableCompileCache` (Node 22.1 and later, so Electron's Node too); absent in Node 20. */
type EnableCompileCache = (dir?: string) => { status: number; message?: string; directory?: string }

/**
 * Keeps V8's compiled code of the modules a command loads from here on (the core, knex, pg, zod) in the
 * per-user cache folder, so the next run reads it instead of compiling again, where the runtime can: Node
 * 22.1 and later have `module.enableCompileCache`, Node 20 does nothing here. Measured on this machine with
 * Node 22.23: a server `pool list` took 12% less CPU with the cache than without (median of 15 pairs;
 * docs/cli.md#start-up). NODE_COMPILE_CACHE,
 * when set, is the user's own choice (Node applies it at start) and is left alone; NETKEEPER_COMPILE_CACHE=0
 * turns the cache off. A cache that cannot be written costs nothing but the cache.
 */
export function enableCompileCache(mod: { enableCompileCache?: EnableCompileCache } = nodeModule as { enableCompileCache?: EnableCompileCache }, env = process.env): string | null {
  if (typeof mod.enableCompileCache !== 'function' || env.NODE_COMPILE_CACHE !== undefined || env.NETKEEPER_COMPILE_CACHE === '0') return null
  try {
    const r = mod.enableCompileCache(path.join(platformCacheDir(), 'compile-cache'))
    return r.directory ?? null
  } catch {
    return null
  }
}

export async function main(argv = process.argv): Promise<number> {
  enableCompileCache()
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

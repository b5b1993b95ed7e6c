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

export function buildProgram(): Command {
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
  program.addCommand(dbCommand())
  program.addCommand(poolCommand())
  program.addCommand(ipCommand())
  program.addCommand(ipamCommand())
  program.addCommand(spaceCommand())
  program.addCommand(rangeCommand())
  program.addCommand(vlanCommand())
  program.addCommand(siteCommand())
  program.addCommand(tagCommand())
  program.addCommand(fieldCommand())
  program.addCommand(auditCommand())
  program.addCommand(profileCommand())
  program.addCommand(userCommand())
  program.addCommand(groupCommand())
  program.addCommand(ldifCommand())
  program.addCommand(templateCommand())
  program.addCommand(entryCommand())
  program.addCommand(importCommand())
  program.addCommand(queueCommand())
  program.addCommand(outboxCommand())
  program.addCommand(dnsCommand())
  program.addCommand(dhcpCommand())
  program.addCommand(completionCommand())
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
  for (const top of program.commands) if (!LDAP.has(top.name()) && top.name() !== 'help' && top.name() !== 'completion') addConnectionOption(top)
  return program
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
  const program = buildProgram()
  try {
    // Always Node's shape ([runtime, script, ...args]): inside Electron's main process (the packaged app's CLI
    // mode) commander would otherwise guess Electron's own argv layout and read the script slot as an argument.
    await program.parseAsync([...argv.slice(0, 2), ...hoistProfile(argv.slice(2))], { from: 'node' })
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

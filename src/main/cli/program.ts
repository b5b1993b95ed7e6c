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
import { groupCommand, profileCommand, userCommand } from './commands/directory'
import { importCommand } from './commands/import'
import { queueCommand } from './commands/queue'
import { EXIT_USAGE } from './runtime'

import { cliVersion } from './version'

export function buildProgram(): Command {
  const program = new Command('netkeeper')
    .description('Netkeeper: IP address management, LDAP directory and audit trail, from the command line')
    .version(cliVersion())
    .option('--database-url <url>', 'PostgreSQL URL (overrides NETKEEPER_DATABASE_URL, the saved profile and the embedded default)')
    .option('--data-dir <dir>', 'data folder (overrides NETKEEPER_DATA_DIR)')
    .option('--json', 'machine-readable output')
    .option('--no-queue', 'fail instead of queueing an edit when the database server is unreachable (see `netkeeper queue`)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
  program.addCommand(dbCommand())
  program.addCommand(poolCommand())
  program.addCommand(ipCommand())
  program.addCommand(ipamCommand())
  program.addCommand(auditCommand())
  program.addCommand(profileCommand())
  program.addCommand(userCommand())
  program.addCommand(groupCommand())
  program.addCommand(importCommand())
  program.addCommand(queueCommand())
  // Every subcommand inherits the usage-error handling.
  const walk = (c: Command): void => {
    c.exitOverride()
    c.commands.forEach(walk)
  }
  walk(program)
  return program
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
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

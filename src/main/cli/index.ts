#!/usr/bin/env node
/**
 * `netkeeper`: the command line over the same core as the app.
 * Exit codes: 0 done, 1 the operation failed (validation, conflict, unavailable...), 2 usage.
 */
import { Command, CommanderError } from 'commander'
import { dbCommand } from './commands/db'
import { ipamCommand, ipCommand, poolCommand } from './commands/ipam'
import { auditCommand } from './commands/audit'
import { groupCommand, profileCommand, userCommand } from './commands/directory'
import { importCommand } from './commands/import'
import { queueCommand } from './commands/queue'
import { completionCommand } from './commands/completion'
import { EXIT_USAGE } from './runtime'

declare const __APP_VERSION__: string | undefined

export function buildProgram(): Command {
  const program = new Command('netkeeper')
    .description('Netkeeper: IP address management, LDAP directory and audit trail, from the command line')
    .version(typeof __APP_VERSION__ === 'string' ? __APP_VERSION__ : (process.env.npm_package_version ?? '0.1.0'))
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
  program.addCommand(completionCommand())
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

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error('netkeeper: internal error:', e)
    process.exit(1)
  }
)

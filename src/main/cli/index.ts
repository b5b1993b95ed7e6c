#!/usr/bin/env node
/**
 * `netkeeper`: the command line over the same core as the app, in a plain Node process (bin/netkeeper.js).
 * Exit codes: 0 done, 1 the operation failed (validation, conflict, unavailable...), 2 usage, 130/143
 * interrupted. The packaged app runs the same code through src/main/shell/cli-mode.ts (docs/cli.md).
 */
import { runCli } from './run'

/**
 * Exits once what was written to standard output has been handed over: process.exit does not wait for a
 * pipe that is full, so a large --json report (a 10,000-row `user import`) read by another program was cut
 * short.
 */
function exitAfterOutput(code: number): void {
  process.stdout.write('', () => process.exit(code))
}

runCli(process.argv).then(
  (code) => exitAfterOutput(code),
  (e) => {
    console.error('netkeeper: internal error:', e)
    process.exit(1)
  }
)

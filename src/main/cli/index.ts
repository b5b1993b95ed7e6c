#!/usr/bin/env node
/**
 * `netkeeper`: the command line over the same core as the app, in a plain Node process (bin/netkeeper.js).
 * Exit codes: 0 done, 1 the operation failed (validation, conflict, unavailable...), 2 usage, 130/143
 * interrupted. The packaged app runs the same code through src/main/shell/cli-mode.ts (docs/cli.md).
 */
import { outputDrained, runCli } from './run'

runCli(process.argv).then(
  async (code) => {
    await outputDrained(process.stdout, process.stderr)
    process.exit(code)
  },
  (e) => {
    console.error('netkeeper: internal error:', e)
    process.exit(1)
  }
)

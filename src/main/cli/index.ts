#!/usr/bin/env node
/**
 * `netkeeper`: the command line over the same core as the app.
 * Exit codes: 0 done, 1 the operation failed (validation, conflict, unavailable...), 2 usage.
 *
 * Start-up is kept to what the command needs (docs/cli.md#start-up): `netkeeper --version` alone is
 * answered here before anything else loads; every other command loads the command tree (commander and
 * light modules only), and a command's action then loads the core and its database driver.
 */
import v8 from 'node:v8'
import { cliVersion } from './version'

/**
 * The embedded store is PostgreSQL compiled to WebAssembly. By default V8 recompiles every function that
 * runs a little with its optimising compiler, in background threads: starting PGlite then cost 2.2 s of
 * CPU and 390 MB at peak here, against 0.9 s and 240 MB when functions stay with the baseline compiler
 * (measured on PGlite start plus one query). A CLI command is over before the optimised code would pay
 * off, so the budget a function must spend before it is recompiled is raised a thousandfold: a long
 * command (an import, a verify on the embedded store) still gets its hottest loops optimised. Set before
 * anything compiles WebAssembly; the app keeps V8's default.
 */
v8.setFlagsFromString('--wasm-tiering-budget=1800000000')

async function run(argv: string[]): Promise<number> {
  const args = argv.slice(2)
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    // What commander prints for the same flag.
    process.stdout.write(`${cliVersion()}\n`)
    return 0
  }
  const { main } = await import('./program')
  return main(argv)
}

run(process.argv).then(
  (code) => process.exit(code),
  (e) => {
    console.error('netkeeper: internal error:', e)
    process.exit(1)
  }
)

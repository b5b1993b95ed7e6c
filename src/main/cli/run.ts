/**
 * The command line's one entry function, shared by the two ways it starts: `node bin/netkeeper.js`
 * (src/main/cli/index.ts, a plain Node process) and the packaged app's CLI mode (src/main/shell/cli-mode.ts,
 * inside Electron's main process, with the app's own Electron-built native modules). It returns the exit
 * code; the caller ends its process with it.
 *
 * Start-up is kept to what the command needs (docs/cli.md#start-up): `netkeeper --version` alone is
 * answered here before anything else loads, and the top-level `--help` from help.ts (data and a formatter,
 * no commander); every other command loads the command tree (commander and light modules only), and a
 * command's action then loads the core and its database driver.
 */
import fs from 'node:fs'
import path from 'node:path'
import { cliVersion } from './version'

/**
 * The embedded store is PostgreSQL compiled to WebAssembly. By default V8 recompiles every function that
 * runs a little with its optimising compiler, in background threads: starting PGlite then cost 2.2 s of
 * CPU and 390 MB at peak here, against 0.9 s and 240 MB when functions stay with the baseline compiler
 * (measured on PGlite start plus one query). A CLI command is over before the optimised code would pay
 * off, so the budget a function must spend before it is recompiled is raised a thousandfold: a long
 * command (an import, a verify on the embedded store) still gets its hottest loops optimised. Set before
 * anything compiles WebAssembly; the app's GUI keeps V8's default. These are the flags for the command
 * `args`; tuneV8 sets them in this process.
 */
export function v8Flags(args: readonly string[]): string[] {
  const flags = [
    '--wasm-tiering-budget=1800000000',
    // PGlite's 8.9 MB module was compiled whole at every start; lazily, a function is compiled when it first
    // runs, and a command runs a small part of PostgreSQL: 70-120 ms less CPU for PGlite's start here (Node 20
    // cannot keep a compiled WebAssembly module between runs, so each run compiles again).
    '--wasm-lazy-compilation',
    // And validated lazily, with the same function: compiling the module then took 15 ms of CPU instead of 45
    // here. The module is PGlite's own, shipped with the app (pglite-wasm.ts patches one string in its data).
    '--wasm-lazy-validation',
    // The same for JavaScript. With V8's default budget (67,584 bytes of bytecode run per function) a short
    // command reached the point where V8 hands functions to its optimising compiler, which compiles them on
    // background threads, while it was still loading: for a server `pool list` that was about a quarter of
    // the process's CPU (0.76 of it with --no-opt) and, on two cores, of its wall time. At 250,000 (about 4
    // times) `pool list` took the same 0.76 of the CPU; a CPU-bound command of a second (a 30,000-row CSV
    // import analysed with --dry-run) the same CPU within the noise (0.97), while at 2,000,000 it took 1.06:
    // its hot loops were optimised later. See docs/cli.md, round five.
    `--interrupt-budget=${JS_INTERRUPT_BUDGET}`
  ]
  // No optimising compiler for a command whose work is a few statements (see boundedCommand). In this
  // order: dynamic tiering off with tier-up still on would compile every function with TurboFan at once.
  if (boundedCommand(args)) flags.push('--no-wasm-tier-up', '--no-wasm-dynamic-tiering')
  return flags
}

async function tuneV8(flags: readonly string[]): Promise<void> {
  // node:v8 loads Node's stream modules with it: imported here, after --version and --help are answered.
  const v8 = await import('node:v8')
  for (const flag of flags) v8.setFlagsFromString(flag)
}

/** The program options that take a value: where a command's words start (here and in program.ts). */
export const VALUE_OPTIONS: ReadonlySet<string> = new Set(['--database-url', '--data-dir', '--db-profile', '--profile'])

/**
 * A command line as the program reads it, up to `--`: the command's words, and each option by name with its
 * value (from `--name=value`, or the next argument for VALUE_OPTIONS; null for a flag, or for a value
 * option given last without one). The last of an option given twice counts.
 */
function readArgs(args: readonly string[]): { words: string[]; options: Map<string, string | null> } {
  const words: string[] = []
  const options = new Map<string, string | null>()
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--') break
    if (!a.startsWith('-')) {
      words.push(a)
      continue
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1
    if (eq > 0) options.set(a.slice(0, eq), a.slice(eq + 1))
    else options.set(a, VALUE_OPTIONS.has(a) ? (args[++i] ?? null) : null)
  }
  return { words, options }
}

/**
 * The commands whose database work is a few statements on a few rows whatever the store holds: one address
 * (or one call's block of at most 1,024) changed or shown, one pool changed. For these the CLI keeps
 * PostgreSQL's WebAssembly on the baseline compiler (Liftoff) and never recompiles a function with the
 * optimising one (TurboFan). Even with the tiering budget above (and with the largest V8 accepts, checked),
 * an `ip allocate --next` sent two of PostgreSQL's largest functions (bodies of 104 KB and 38 KB, whose
 * own CPU time in the profile is a few milliseconds: V8's budget is a rough count of bytes executed, which
 * such bodies use up fast) to TurboFan in the background: 170-250 ms of CPU and 35 MB at peak, for code
 * that never ran, since the compilations finished after the answer, while the process waited for them to
 * exit (docs/cli.md, round five). Commands that may run long (imports, verify, range and bulk edits,
 * searches, lists) keep V8's tiering: on seconds of work inside PostgreSQL, optimised code is about 1.5
 * times as fast (measured on a 3-million-row scan).
 */
export function boundedCommand(args: readonly string[]): boolean {
  const [group, command] = readArgs(args).words
  if (group === 'ip') return ['allocate', 'reserve', 'block', 'update', 'tag', 'untag', 'release', 'show'].includes(command ?? '')
  if (group === 'pool') return ['create', 'update', 'delete', 'tag', 'untag'].includes(command ?? '')
  return false
}

/** V8's JavaScript tiering budget for CLI commands (see tuneV8); V8's own default is 67,584. */
export const JS_INTERRUPT_BUDGET = 250_000

/**
 * The command groups whose commands all open the store, and do so for a few statements or pages of rows
 * (not `ipam`, whose CSV import and export move whole tables): a command in one of them starts the
 * embedded store on a worker thread at once (see earlyEmbeddedStore).
 */
const EARLY_STORE_GROUPS = new Set(['pool', 'ip', 'space', 'range', 'vlan', 'site', 'tag', 'field'])

/**
 * The embedded store's data folder (`<data dir>/pgdata`) when this command will surely open it, so that it
 * can be started on a worker thread while the command loads (core/db/pglite-remote.ts; docs/cli.md, round
 * six); otherwise null, and the command opens its database as before. Surely means: a command of
 * EARLY_STORE_GROUPS, no help asked for, no database URL or connection named (flags or environment), no
 * saved server connection active in settings.json, and a store that exists (a first run creates it
 * in-process: initdb is never left to a thread that might be stopped). The command still resolves its
 * connection as always; Database.open takes the started store only when it is the same folder.
 * NETKEEPER_EMBEDDED_THREAD=0 turns this off; the packaged app's CLI mode (Electron) does not use it.
 */
export function earlyEmbeddedStore(args: readonly string[], platformDataDir: () => string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.NETKEEPER_EMBEDDED_THREAD === '0' || process.versions.electron) return null
  if (env.NETKEEPER_DATABASE_URL || env.NETKEEPER_PROFILE) return null
  const { words, options } = readArgs(args)
  if (['--help', '-h', '--database-url', '--db-profile', '--profile'].some((o) => options.has(o)) || words.slice(0, 2).includes('help')) return null
  if (!EARLY_STORE_GROUPS.has(words[0] ?? '') || words.length < 2) return null
  const dataDir = options.has('--data-dir') ? options.get('--data-dir') : env.NETKEEPER_DATA_DIR?.trim() ? env.NETKEEPER_DATA_DIR : undefined
  if (dataDir === null) return null
  const dir = path.resolve(dataDir ?? platformDataDir())
  try {
    const settings = JSON.parse(fs.readFileSync(path.join(dir, 'settings.json'), 'utf8')) as { activeConnection?: unknown; database?: unknown }
    if (settings.database !== undefined) return null
    if (typeof settings.activeConnection === 'string' && settings.activeConnection.trim().toLowerCase() !== 'embedded') return null
  } catch (e) {
    // No settings yet: the embedded store. A file that cannot be read or parsed: the command reports it.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return null
  }
  const pgDataDir = path.join(dir, 'pgdata')
  return fs.existsSync(path.join(pgDataDir, 'PG_VERSION')) ? pgDataDir : null
}

/**
 * Node 20 has no global `navigator` (Node 21 added one). The pg driver, when it loads, tells a Cloudflare
 * Worker from Node by `navigator.userAgent` and, without a navigator, by constructing a `Response`: that
 * first touch of the fetch globals loads Node's bundled undici, 20-60 ms of CPU for a command that never
 * fetches. The CLI gives Node 20 the navigator later versions have (only its userAgent, as Node 21 spells
 * it); where Node or Electron already has one, it is left alone.
 */
function nodeNavigator(): void {
  if (typeof (globalThis as { navigator?: unknown }).navigator !== 'undefined') return
  Object.defineProperty(globalThis, 'navigator', {
    value: Object.freeze({ userAgent: `Node.js/${process.versions.node.split('.')[0]}` }),
    configurable: true,
    writable: true
  })
}

/**
 * Resolves once what was written to each stream so far has been handed to the OS. Both ways the CLI starts
 * end through here before they exit: process.exit (and Electron's app.exit) does not wait for a pipe that
 * is full, so a large --json report (a 10,000-row `user import`) read by another program was cut short;
 * and on Windows a pipe is asynchronous. A stream already closed (its reader gone) resolves at once.
 */
export function outputDrained(...streams: NodeJS.WriteStream[]): Promise<void> {
  return Promise.all(
    streams.map(
      (stream) =>
        new Promise<void>((resolve) => {
          if (stream.destroyed || !stream.writable) resolve()
          else stream.write('', () => resolve())
        })
    )
  ).then(() => undefined)
}

/**
 * The arguments that ask for the top-level help, and where it goes: stdout for --help, -h and `help` (exit
 * 0), stderr for no arguments at all (exit 2, a usage error), as commander does.
 */
export function topHelpRequest(args: readonly string[]): 'stdout' | 'stderr' | null {
  if (args.length === 0) return 'stderr'
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h' || args[0] === 'help')) return 'stdout'
  return null
}

/** `argv` is Node's shape: [runtime, script, ...the user's arguments]. */
export async function runCli(argv: string[]): Promise<number> {
  const args = argv.slice(2)
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    // What commander prints for the same flag.
    process.stdout.write(`${cliVersion()}\n`)
    return 0
  }
  const where = topHelpRequest(args)
  if (where) {
    const help = await import('./help')
    // What commander prints and how it exits: --help, -h and `help` on stdout (0); no command at all on stderr (usage, 2).
    const stream = where === 'stdout' ? process.stdout : process.stderr
    stream.write(help.topHelp(help.helpWidthOf(stream)))
    return where === 'stdout' ? 0 : 2
  }
  const store = earlyEmbeddedStore(args, (await import('../core/paths')).platformDataDir)
  const flags = v8Flags(args)
  const early = store ? await import('../core/db/pglite-remote') : null
  // The worker thread is made before V8's flags change and sets them itself (see startEarlyEmbedded); this
  // thread takes the store's lock while it starts.
  if (store) await early?.startEarlyEmbedded(store, flags)
  await tuneV8(flags)
  nodeNavigator()
  try {
    const { main } = await import('./program')
    return await main(argv)
  } finally {
    await early?.endEarlyEmbedded()
  }
}

/**
 * The packaged app's command-line mode: `Netkeeper --netkeeper-cli pool list` (what the `netkeeper` wrapper
 * the packages install runs; see resources/cli/ and docs/packaging.md) runs the `netkeeper` CLI inside the
 * app's own main process, so it uses the app's modules from its asar and the native modules electron-builder
 * rebuilt for Electron (keytar, better-sqlite3). No system Node is needed, and `ELECTRON_RUN_AS_NODE` is not
 * used: the runAsNode fuse is off in the packages.
 *
 * In this mode the app opens no window, takes no single-instance lock (a command must work while the GUI
 * is open, and must not hand its arguments to the GUI), registers no protocol handler, installs no menu and
 * no IPC handler, and does not wait for Chromium's `ready`. It writes to stdout/stderr and exits with the
 * CLI's code: 0, 1 failed, 2 usage, 130 Ctrl-C, 143 SIGTERM.
 */
import type { App } from 'electron'
import { outputDrained, runCli } from '../cli/run'

/** The switch that selects the mode; it must come before the CLI's own arguments. */
export const CLI_FLAG = '--netkeeper-cli'

/** Names of the binary (or of a link to it) that select the mode by themselves. */
const CLI_NAMES = new Set(['netkeeper-cli'])

export interface Launch {
  /** process.argv: [binary, ...args] in a package; [electron, appPath, ...args] in development. */
  argv: readonly string[]
  /** Electron's process.defaultApp: true when started as `electron <path>` (development). */
  defaultApp: boolean
  env: Readonly<Record<string, string | undefined>>
}

const baseName = (p: string): string => (p.split(/[\\/]/).pop() ?? '').replace(/\.exe$/i, '').toLowerCase()

/** Is this a Chromium or Electron switch (placed by a wrapper or the OS before our flag)? */
const isSwitch = (a: string): boolean => a.startsWith('-') && a !== CLI_FLAG && a !== '-' && a !== '--'

/**
 * The CLI's arguments when this launch asks for the command line, or null for the GUI.
 *
 * - `--netkeeper-cli` as the first argument that is not a Chromium switch (the Linux wrapper puts
 *   `--ozone-platform=headless --disable-gpu` before it, and an AppImage may add `--no-sandbox`):
 *   everything after it goes to the CLI, untouched.
 * - Started under the name `netkeeper-cli` (a link to the binary), or through an AppImage link named
 *   `netkeeper` or `netkeeper-cli` (the AppImage runtime passes the name it was started by in ARGV0): every
 *   argument goes to the CLI.
 */
export function cliArguments(launch: Launch): string[] | null {
  const first = launch.defaultApp ? 2 : 1
  const args = launch.argv.slice(first)
  const viaAppImage = !!launch.env.APPIMAGE && !!launch.env.ARGV0
  const name = baseName(viaAppImage ? launch.env.ARGV0! : (launch.argv[0] ?? ''))
  if (CLI_NAMES.has(name) || (viaAppImage && name === 'netkeeper')) {
    return args[0] === CLI_FLAG ? args.slice(1) : args
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === CLI_FLAG) return args.slice(i + 1)
    if (!isSwitch(a)) return null
  }
  return null
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const

/**
 * Runs the CLI with `args` in this (Electron main) process and exits with its code. Called instead of the
 * GUI's main(), before `ready`; never returns.
 */
export async function runCliMode(app: App, args: string[]): Promise<void> {
  // Nothing is drawn: no GPU process; on Linux, no display is needed (the wrapper also passes
  // --ozone-platform=headless on the command line, where Chromium reads it before any of this runs).
  app.disableHardwareAcceleration()
  if (process.platform === 'linux') app.commandLine.appendSwitch('ozone-platform', 'headless')
  // macOS: a command in a terminal must not bounce an icon in the Dock.
  app.dock?.hide()

  // Until a command opens the database (the CLI then handles signals itself: src/main/cli/interrupt.ts),
  // Ctrl-C and SIGTERM end the command with the shell's codes, not through Chromium's graceful quit.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const own = (): void => {
      if (process.listeners(signal).some((l) => l !== own)) return
      app.exit(SIGNAL_EXIT[signal])
    }
    process.on(signal, own)
  }

  // The CLI reads process.argv in Node's shape: [runtime, script, ...arguments].
  process.argv = [process.execPath, 'netkeeper', ...args]
  let code: number
  try {
    code = await runCli(process.argv)
  } catch (e) {
    console.error('netkeeper: internal error:', e)
    code = 1
  }
  await outputDrained(process.stdout, process.stderr)
  app.exit(code)
}

/**
 * Runs the real `netkeeper` CLI in a child process, the way a script would: the built bundle
 * (out/main/cli.js) when it is newer than every source file, otherwise the TypeScript source through tsx's loader.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

export const root = path.resolve(import.meta.dirname, '..', '..')
const tsxLoader = pathToFileURL(path.join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href
const source = path.join(root, 'src', 'main', 'cli', 'index.ts')
const built = path.join(root, 'out', 'main', 'cli.js')

function newestSource(dir: string): number {
  let newest = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p))
    else if (/\.(ts|vue)$/.test(e.name)) newest = Math.max(newest, fs.statSync(p).mtimeMs)
  }
  return newest
}

let command: { file: string; args: string[] } | undefined
/** The program and leading arguments that run the CLI (for tests that start it another way, e.g. pty.ts). */
export function cliInvocation(): { file: string; args: string[] } {
  if (command) return command
  const fresh = fs.existsSync(built) && fs.statSync(built).mtimeMs > Math.max(newestSource(path.join(root, 'src')), newestSource(path.join(root, 'migrations')))
  // tsx's loader inside the one node process (not the tsx command, which wraps a second process and
  // relays signals with a 30 ms patience, SIGKILLing a child that is slow to answer): signals reach the CLI
  // as they do the installed command.
  command = fresh ? { file: process.execPath, args: [built] } : { file: process.execPath, args: ['--import', tsxLoader, source] }
  return command
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  json: () => any // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<CliResult> {
  const { file, args: pre } = cliInvocation()
  return new Promise((resolve) => {
    const child = execFile(
      file,
      [...pre, ...args],
      { cwd: root, env: { ...process.env, NETKEEPER_DATABASE_URL: '', ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) })
      }
    )
    if (input !== undefined) child.stdin?.end(input)
    else child.stdin?.end()
  })
}

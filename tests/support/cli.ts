/** Runs the real `netkeeper` CLI in a child process, the way a script would. */
import { execFile } from 'node:child_process'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..', '..')
const tsx = path.join(root, 'node_modules', '.bin', 'tsx')
const entry = path.join(root, 'src', 'main', 'cli', 'index.ts')

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  json: () => any // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      tsx,
      [entry, ...args],
      { cwd: root, env: { ...process.env, NETKEEPER_DATABASE_URL: '', ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) })
      }
    )
    if (input !== undefined) child.stdin?.end(input)
  })
}

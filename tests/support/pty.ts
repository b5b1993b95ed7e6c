/**
 * Runs the real `netkeeper` CLI on a pseudo-terminal, the way a person at a terminal would: python3's pty
 * module gives the child a controlling terminal (stdin, stdout and stderr all TTYs), then a script of
 * steps waits for text and types an answer. The result is everything the terminal showed (what the CLI
 * wrote and what the terminal echoed) and the exit code (128 + N when a signal N ended it).
 */
import { execFile } from 'node:child_process'
import path from 'node:path'
import { cliInvocation, root } from './cli'

export interface PtyStep {
  /** Wait until the screen shows this (the output so far is searched). */
  expect: string
  /** Then type this ("\r" is Enter, "\u0003" Ctrl-C). */
  send: string
}

export interface PtyResult {
  code: number
  screen: string
}

const DRIVER = String.raw`
import json, os, pty, select, sys, time
spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execve(spec['file'], [spec['file']] + spec['args'], spec['env'])
screen = b''
def read_some(timeout):
    global screen
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return False
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        return None
    if not chunk:
        return None
    screen += chunk
    return True
deadline = time.time() + spec['timeout']
for step in spec['steps']:
    want = step['expect'].encode()
    while want not in screen:
        if time.time() > deadline or read_some(0.2) is None:
            print(json.dumps({'code': -1, 'screen': screen.decode(errors='replace') + '\n[pty: gave up waiting for ' + step['expect'] + ']'}))
            os.kill(pid, 9)
            sys.exit(0)
    os.write(fd, step['send'].encode())
while time.time() < deadline and read_some(0.2) is not None:
    pass
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
print(json.dumps({'code': code if code >= 0 else 128 - code, 'screen': screen.decode(errors='replace')}))
`

export function cliOnTerminal(args: string[], steps: PtyStep[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<PtyResult> {
  const { file, args: pre } = cliInvocation()
  const spec = {
    file: path.isAbsolute(file) ? file : path.resolve(file),
    args: [...pre, ...args],
    env: Object.fromEntries(Object.entries({ ...process.env, NETKEEPER_DATABASE_URL: '', TERM: 'dumb', ...env }).filter(([, v]) => v !== undefined)),
    steps,
    timeout: timeoutMs / 1000
  }
  return new Promise((resolve, reject) =>
    execFile('python3', ['-c', DRIVER, JSON.stringify(spec)], { cwd: root, maxBuffer: 16 * 1024 * 1024, timeout: timeoutMs + 10_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`pty driver failed: ${err.message}\n${stderr}`))
      resolve(JSON.parse(stdout) as PtyResult)
    })
  )
}

/**
 * The packaged app's command-line mode (src/main/shell/cli-mode.ts): the built main bundle
 * (out/main/index.js, what an installed app runs) started with `--netkeeper-cli ...` on the stand-in
 * Electron (tests/support/electron-stand-in), as the `netkeeper` wrapper of the packages starts the real
 * binary. It must run the CLI with the rest of the arguments, print on stdout/stderr, exit with the CLI's
 * code (130/143 on signals), and never open a window, take the single-instance lock, register the link
 * handler, install a menu or an IPC handler. The real Electron binary cannot be fetched here (see
 * docs/packaging.md): what Chromium itself does in this mode (no display on Linux) is not covered.
 */
import { fork } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../support/build'
import { freshDatabase } from '../support/db'
import { MAIN_BUNDLE, root, type Records } from '../support/electron-stand-in/app'
import { until } from '../support/until'

const here = path.dirname(fileURLToPath(import.meta.url))
const REGISTER = pathToFileURL(path.join(here, '../support/electron-stand-in/register.mjs')).href
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string; productName: string }

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** The stand-in's record of every Electron API call, handed over at app.exit(). */
  records?: Records
}

interface Started {
  child: ReturnType<typeof fork>
  done: Promise<Run>
}

/** Starts the built bundle as the packaged binary would be started by the wrapper: [binary, ...args]. */
function start(args: string[], env: Record<string, string>, standIn: Record<string, unknown> = {}): Started {
  const childEnv: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) childEnv[k] = v
  for (const k of ['NETKEEPER_DATA_DIR', 'NETKEEPER_DATABASE_URL', 'NETKEEPER_PROFILE', 'ELECTRON_RUN_AS_NODE', 'NODE_OPTIONS', 'APPIMAGE', 'ARGV0']) delete childEnv[k]
  Object.assign(childEnv, env)
  childEnv.ELECTRON_STAND_IN = JSON.stringify({ isPackaged: true, name: pkg.productName, version: pkg.version, ...standIn })
  const child = fork(MAIN_BUNDLE, args, {
    cwd: root,
    env: childEnv,
    execArgv: ['--import', REGISTER],
    stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced'
  })
  child.stdin?.end()
  let stdout = ''
  let stderr = ''
  let records: Records | undefined
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  child.on('message', (m: { type?: string; records?: Records }) => {
    if (m?.type === 'exit') records = m.records
  })
  const done = new Promise<Run>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr, records })))
  return { child, done }
}

async function run(args: string[], env: Record<string, string>, standIn?: Record<string, unknown>): Promise<Run> {
  return start(args, env, standIn).done
}

/** The mode's promise: nothing of the GUI happened. */
function expectNoGui(r: Run): void {
  expect(r.records, `no records: the process did not end through app.exit()\n${r.stderr}`).toBeDefined()
  const rec = r.records!
  expect(rec.windows).toEqual([])
  expect(rec.handlers).toEqual([])
  expect(rec.menu).toBeNull()
  expect(rec.singleInstanceLock.requested).toBe(false)
  expect(rec.protocols).toEqual([])
  expect(rec.sandboxEnabled).toBe(false)
  const apis = rec.calls.map((c) => c.api)
  expect(apis).not.toContain('app.requestSingleInstanceLock')
  expect(apis).not.toContain('app.setAsDefaultProtocolClient')
  expect(apis).toContain('app.disableHardwareAcceleration')
  expect(apis.at(-1)).toBe('app.exit')
}

describe('the packaged app in command-line mode (built main bundle, stand-in Electron)', () => {
  let tmp: string
  let dataDir: string
  let url: string
  let lockDir: string

  beforeAll(async () => {
    await ensureBuilt()
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-cli-mode-'))
    dataDir = path.join(tmp, 'data')
    lockDir = path.join(tmp, 'single-instance')
    url = await freshDatabase('climode')
  })

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('--netkeeper-cli --version prints the version and exits 0 without any GUI', async () => {
    const r = await run(['--netkeeper-cli', '--version'], { NETKEEPER_DATA_DIR: dataDir }, { singleInstanceDir: lockDir })
    expect(r.stderr).toBe('')
    expect(r.stdout).toBe(`${pkg.version}\n`)
    expect(r.code).toBe(0)
    expectNoGui(r)
    // The GUI's single-instance lock was never taken: nothing in its folder; no data folder made either.
    expect(fs.existsSync(path.join(lockDir, 'owner'))).toBe(false)
    expect(fs.existsSync(dataDir)).toBe(false)
    // On Linux the headless display platform is asked for too (the wrapper also passes it on the command line).
    const linux = process.platform === 'linux'
    expect(r.records!.calls.map((c) => c.api)).toEqual(['app.disableHardwareAcceleration', ...(linux ? ['app.commandLine.appendSwitch'] : []), 'app.exit'])
    if (linux) expect(r.records!.calls[1]!.args).toEqual(['ozone-platform', 'headless'])
    expect(r.records!.calls.at(-1)!.args).toEqual([0])
  })

  it('runs commands on a PostgreSQL server: migrate, create a pool, list it as JSON', async () => {
    const migrate = await run(['--ozone-platform=headless', '--disable-gpu', '--netkeeper-cli', '--database-url', url, 'db', 'migrate', '--json'], {})
    expect(migrate.code, migrate.stderr).toBe(0)
    expect(JSON.parse(migrate.stdout).applied.length).toBeGreaterThan(0)
    expectNoGui(migrate)

    const env = { NETKEEPER_DATABASE_URL: url }
    const create = await run(['--netkeeper-cli', 'pool', 'create', '--name', 'cli-mode-lan', '--network', '10.77.0.0/24', '--json'], env)
    expect(create.code, create.stderr).toBe(0)
    const list = await run(['--netkeeper-cli', 'pool', 'list', '--json'], env)
    expect(list.code, list.stderr).toBe(0)
    expect(list.stderr).toBe('')
    const body = JSON.parse(list.stdout) as { items: Array<{ name: string; network: string }>; total: number }
    expect(body.total).toBe(1)
    expect(body.items[0]).toMatchObject({ name: 'cli-mode-lan', network: '10.77.0.0/24' })
    expectNoGui(list)
  })

  it('a failing command prints its error on stderr and exits 1; a usage error exits 2', async () => {
    const env = { NETKEEPER_DATABASE_URL: url }
    const missing = await run(['--netkeeper-cli', 'pool', 'show', 'no-such-pool', '--json'], env)
    expect(missing.code).toBe(1)
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'NOT_FOUND' } })
    expect(missing.stderr).toMatch(/no-such-pool/)
    expectNoGui(missing)

    const usage = await run(['--netkeeper-cli', 'pool', 'frobnicate'], env)
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain("unknown command 'frobnicate'")
    expect(usage.stdout).toBe('')
    expectNoGui(usage)
  })

  it('passes the arguments after the flag on untouched, the flag itself included once more', async () => {
    // `--netkeeper-cli` after the flag is the CLI's to judge (an unknown option), not a second mode switch.
    const r = await run(['--netkeeper-cli', 'pool', '--netkeeper-cli'], {})
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("unknown option '--netkeeper-cli'")
  })

  it('opens the embedded store in the data folder (the default when no server is configured)', async () => {
    const r = await run(['--netkeeper-cli', 'pool', 'list', '--json'], { NETKEEPER_DATA_DIR: dataDir })
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ items: [], total: 0 })
    expect(fs.existsSync(path.join(dataDir, 'pgdata', 'PG_VERSION'))).toBe(true)
    expectNoGui(r)
  }, 240_000)

  it('exits 130 on SIGINT and 143 on SIGTERM while a command waits for its database', async () => {
    // A "server" that accepts connections and never answers: the command waits on it.
    const held: net.Socket[] = []
    const server = net.createServer((s) => held.push(s))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as net.AddressInfo).port
    try {
      for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
        const before = held.length
        const s = start(['--netkeeper-cli', 'pool', 'list', '--json'], { NETKEEPER_DATABASE_URL: `postgres://nk@127.0.0.1:${port}/nk` })
        await until(`the command to connect (${signal})`, async () => held.length > before, 60_000)
        s.child.kill(signal)
        const r = await s.done
        expect(r.code, `${signal}: ${r.stderr}`).toBe(code)
        expect(r.records?.windows ?? []).toEqual([])
      }
    } finally {
      for (const s of held) s.destroy()
      server.close()
    }
  })

  it('without the flag the same bundle starts the GUI: the lock first, no CLI output', async () => {
    const s = start([], { NETKEEPER_DATABASE_URL: 'postgres://netkeeper@127.0.0.1:1/netkeeper' }, { singleInstanceDir: lockDir })
    try {
      await until('the GUI to take the single-instance lock', async () => fs.existsSync(path.join(lockDir, 'owner')), 30_000)
    } finally {
      s.child.kill('SIGKILL')
    }
    const r = await s.done
    expect(r.stdout).not.toContain(pkg.version)
  })
})

/**
 * Which CLI commands keep PostgreSQL's WebAssembly on V8's baseline compiler (run.ts, boundedCommand), and
 * that the built CLI's `ip allocate --next` on the embedded store then sends no function to the optimising
 * compiler (TurboFan), while still answering. Before this, the first allocation on a fresh store had two of
 * PostgreSQL's largest functions compiled by TurboFan in the background, after the answer, while the
 * process waited to exit (docs/cli.md#start-up, round five). V8 says what it compiled with
 * `--trace-wasm-compilation-times` (one line per function, on stdout).
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../support/build'
import { boundedCommand } from '../../src/main/cli/run'

const root = path.resolve(import.meta.dirname, '../..')
const BIN = path.join(root, 'bin/netkeeper.js')

describe('boundedCommand', () => {
  it('names the one-address and one-pool edits and shows', () => {
    for (const args of [
      ['ip', 'allocate', '--pool', 'p', '--next'],
      ['ip', 'allocate', '--pool', 'p', '--next', '--count', '1024'],
      ['ip', 'release', '10.0.0.5'],
      ['ip', 'show', '10.0.0.5'],
      ['--json', 'ip', 'reserve', '--pool', 'p', '--ip', '10.0.0.6'],
      ['--database-url', 'postgres://h/db', '--data-dir', '/tmp/x', 'ip', 'update', '10.0.0.5'],
      ['--profile', 'ip', 'ip', 'block', '--pool', 'p', '--ip', '10.0.0.7'],
      ['pool', 'create', '--name', 'p', '--network', '10.0.0.0/24'],
      ['pool', 'delete', 'p', '--yes']
    ]) {
      expect(boundedCommand(args), args.join(' ')).toBe(true)
    }
  })

  it('leaves V8 its tiering for work that grows with the store, and for everything else', () => {
    for (const args of [
      ['pool', 'list'],
      ['pool', 'show', 'p'],
      ['pool', 'split', 'p', '--prefix', '26'],
      ['ip', 'search', '10.0.0.0/8'],
      ['ip', 'release-range', '--pool', 'p', '--first', '10.0.0.1', '--last', '10.0.255.254'],
      ['ip', 'bulk-edit', '--pool', 'p'],
      ['audit', 'verify'],
      ['import', 'legacy', 'file.db'],
      ['--database-url', 'ip', 'pool', 'list'],
      ['--', 'ip', 'allocate'],
      ['ip'],
      []
    ]) {
      expect(boundedCommand(args), args.join(' ')).toBe(false)
    }
  })
})

describe('ip allocate --next on the embedded store', () => {
  let dataDir: string
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, NETKEEPER_DATA_DIR: dataDir, NETKEEPER_DATABASE_URL: '' })
  const run = (args: string[], nodeFlags: string[] = []) => spawnSync(process.execPath, [...nodeFlags, BIN, ...args], { cwd: root, env: env(), encoding: 'utf8', timeout: 60_000 })

  beforeAll(async () => {
    await ensureBuilt('app')
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-wasm-tiering-'))
    const created = run(['pool', 'create', '--name', 'tiering', '--network', '10.77.0.0/24'])
    expect(created.status, created.stderr).toBe(0)
  }, 300_000)

  afterAll(() => {
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })

  it('compiles no function with TurboFan, and allocates', () => {
    const r = run(['--json', 'ip', 'allocate', '--pool', 'tiering', '--next'], ['--trace-wasm-compilation-times'])
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stdout.split('\n')
    // V8 traces every function it compiled: the baseline compiler's lines prove the trace is on.
    expect(lines.filter((l) => /using Liftoff/.test(l)).length).toBeGreaterThan(100)
    expect(lines.filter((l) => /using TurboFan/.test(l))).toEqual([])
    const json = JSON.parse(lines.filter((l) => !/^Compiled /.test(l)).join('\n')) as { ip: string; poolName: string }[]
    expect(json).toHaveLength(1)
    expect(json[0]).toMatchObject({ ip: '10.77.0.1', poolName: 'tiering' })
    // Committed before the answer: a second process sees the address taken.
    const shown = run(['--json', 'ip', 'show', '10.77.0.1'])
    expect(shown.status, shown.stderr).toBe(0)
    expect(JSON.parse(shown.stdout)).toMatchObject({ ip: '10.77.0.1', status: 'allocated' })
  }, 120_000)
})

/**
 * A CLI command on the embedded store starts PGlite on a worker thread while it loads (cli/run.ts's
 * earlyEmbeddedStore, core/db/pglite-remote.ts): which commands do, and that the command then behaves as it
 * does with the store in its own thread: answers, errors with their fields, the lock held by another
 * process, a command that ends before it opens the store. Node's own debug log (NODE_DEBUG=worker) shows
 * whether a worker was made.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../support/build'
import { earlyEmbeddedStore } from '../../src/main/cli/run'
import { acquireEmbeddedLock } from '../../src/main/core/db/embedded-lock'

const root = path.resolve(import.meta.dirname, '../..')
const BIN = path.join(root, 'bin/netkeeper.js')

describe('earlyEmbeddedStore', () => {
  let dir: string
  let other: string
  const platform = (): string => dir
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...extra })

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-early-'))
    other = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-early-other-'))
    for (const d of [dir, other]) {
      fs.mkdirSync(path.join(d, 'pgdata'))
      fs.writeFileSync(path.join(d, 'pgdata', 'PG_VERSION'), '17\n')
    }
  })
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(other, { recursive: true, force: true })
  })

  it('names the store for the IPAM commands that surely open it', () => {
    const pg = path.join(dir, 'pgdata')
    for (const args of [
      ['ip', 'allocate', '--pool', 'p', '--next'],
      ['pool', 'list'],
      ['--json', 'ip', 'show', '10.0.0.5'],
      ['space', 'list'],
      ['vlan', 'list'],
      ['range', 'list', 'p']
    ]) {
      expect(earlyEmbeddedStore(args, platform, env()), args.join(' ')).toBe(pg)
    }
    // The data folder from --data-dir (both spellings) or NETKEEPER_DATA_DIR, as the command resolves it.
    expect(earlyEmbeddedStore(['--data-dir', other, 'pool', 'list'], platform, env())).toBe(path.join(other, 'pgdata'))
    expect(earlyEmbeddedStore([`--data-dir=${other}`, 'pool', 'list'], platform, env())).toBe(path.join(other, 'pgdata'))
    expect(earlyEmbeddedStore(['pool', 'list'], platform, env({ NETKEEPER_DATA_DIR: other }))).toBe(path.join(other, 'pgdata'))
  })

  it('starts nothing where the command may not open that store', () => {
    for (const [args, e] of [
      [['ip', 'allocate', '--help'], {}],
      [['pool', 'list', '-h'], {}],
      [['help', 'pool'], {}],
      [['ip'], {}],
      [['audit', 'verify'], {}],
      [['ipam', 'export', '--kind', 'pools'], {}],
      [['--database-url', 'postgres://h/db', 'pool', 'list'], {}],
      [['--database-url=postgres://h/db', 'pool', 'list'], {}],
      [['pool', 'list', '--profile', 'office'], {}],
      [['--db-profile', 'embedded', 'pool', 'list'], {}],
      [['pool', 'list'], { NETKEEPER_DATABASE_URL: 'postgres://h/db' }],
      [['pool', 'list'], { NETKEEPER_PROFILE: 'office' }],
      [['pool', 'list'], { NETKEEPER_EMBEDDED_THREAD: '0' }]
    ] as [string[], NodeJS.ProcessEnv][]) {
      expect(earlyEmbeddedStore(args, platform, env(e)), `${args.join(' ')} ${JSON.stringify(e)}`).toBeNull()
    }
  })

  it('reads settings.json: an active server connection, or a file it cannot read, starts nothing', () => {
    const settings = path.join(dir, 'settings.json')
    try {
      fs.writeFileSync(settings, JSON.stringify({ connections: [], activeConnection: 'Embedded' }))
      expect(earlyEmbeddedStore(['pool', 'list'], platform, env())).toBe(path.join(dir, 'pgdata'))
      fs.writeFileSync(settings, JSON.stringify({ connections: [{ name: 'office' }], activeConnection: 'office' }))
      expect(earlyEmbeddedStore(['pool', 'list'], platform, env())).toBeNull()
      fs.writeFileSync(settings, JSON.stringify({ database: { host: 'db' } }))
      expect(earlyEmbeddedStore(['pool', 'list'], platform, env())).toBeNull()
      fs.writeFileSync(settings, '{ not json')
      expect(earlyEmbeddedStore(['pool', 'list'], platform, env())).toBeNull()
    } finally {
      fs.rmSync(settings, { force: true })
    }
  })

  it('leaves a store that does not exist yet to the command (initdb stays in its thread)', () => {
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-early-fresh-'))
    try {
      expect(earlyEmbeddedStore(['--data-dir', fresh, 'pool', 'list'], platform, env())).toBeNull()
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true })
    }
  })
})

describe('the embedded store on a worker thread (built CLI)', () => {
  let dataDir: string
  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [BIN, ...args], {
      cwd: root,
      env: { ...process.env, NETKEEPER_DATA_DIR: dataDir, NETKEEPER_DATABASE_URL: '', NETKEEPER_PROFILE: '', ...extra },
      encoding: 'utf8',
      timeout: 60_000
    })
  const madeWorker = (stderr: string): boolean => /create new worker URL[\s\S]*pglite-worker\.js/.test(stderr)

  beforeAll(async () => {
    await ensureBuilt('app')
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-early-cli-'))
    // The first command creates the store in its own thread (there is none to start early).
    const created = run(['pool', 'create', '--name', 'early', '--network', '10.78.0.0/24'], { NODE_DEBUG: 'worker' })
    expect(created.status, created.stderr).toBe(0)
    expect(madeWorker(created.stderr), 'no worker for a store that does not exist yet').toBe(false)
  }, 300_000)
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }))

  it('allocates through the worker, and the same with the thread turned off', () => {
    const a = run(['--json', 'ip', 'allocate', '--pool', 'early', '--next', '--hostname', 'one'], { NODE_DEBUG: 'worker' })
    expect(a.status, a.stderr).toBe(0)
    expect(madeWorker(a.stderr)).toBe(true)
    expect(JSON.parse(a.stdout)).toMatchObject([{ ip: '10.78.0.1', hostname: 'one', status: 'allocated' }])

    const b = run(['--json', 'ip', 'allocate', '--pool', 'early', '--next', '--hostname', 'two'], { NODE_DEBUG: 'worker', NETKEEPER_EMBEDDED_THREAD: '0' })
    expect(b.status, b.stderr).toBe(0)
    expect(madeWorker(b.stderr)).toBe(false)
    expect(JSON.parse(b.stdout)).toMatchObject([{ ip: '10.78.0.2', hostname: 'two' }])

    // Reads see both, with the types PGlite parsed (dates, numbers) intact across the thread.
    const shown = run(['--json', 'ip', 'show', '10.78.0.1'])
    expect(shown.status, shown.stderr).toBe(0)
    const rec = JSON.parse(shown.stdout)
    expect(rec).toMatchObject({ ip: '10.78.0.1', hostname: 'one', version: 1 })
    expect(Number.isNaN(Date.parse(rec.createdAt))).toBe(false)
    const list = run(['--json', 'pool', 'list'])
    expect(list.status, list.stderr).toBe(0)
    expect(JSON.parse(list.stdout).items).toEqual([expect.objectContaining({ name: 'early', network: '10.78.0.0/24' })])
  })

  it("keeps PostgreSQL's error fields across the thread: a conflict names the field and the holder", () => {
    const again = run(['--json', 'ip', 'allocate', '--pool', 'early', '--ip', '10.78.0.1'])
    expect(again.status).toBe(1)
    expect(JSON.parse(again.stdout).error).toMatchObject({ code: 'CONFLICT', details: { field: 'ip', holder: { hostname: 'one' } } })
    const missing = run(['--json', 'ip', 'allocate', '--pool', 'nowhere', '--next'])
    expect(missing.status).toBe(1)
    expect(JSON.parse(missing.stdout).error).toMatchObject({ code: 'NOT_FOUND', details: { field: 'pool' } })
  })

  it('shuts the early store down cleanly when the command ends before opening it', () => {
    const usage = run(['ip', 'allocate', '--pool', 'early'], { NODE_DEBUG: 'worker' })
    expect(usage.status).toBe(2)
    expect(usage.stderr).toMatch(/give --ip IP or --next/)
    expect(madeWorker(usage.stderr)).toBe(true)
    // PostgreSQL was shut down, not left as a crash: pg_control's state (after the system identifier, the
    // control file's version and the catalog version) is DB_SHUTDOWNED (1), not DB_IN_PRODUCTION (6).
    expect(fs.readFileSync(path.join(dataDir, 'pgdata', 'global', 'pg_control')).readUInt32LE(16)).toBe(1)
    // And the lock was given back: the next command opens the store at once.
    const next = run(['--json', 'ip', 'allocate', '--pool', 'early', '--next'], { NETKEEPER_LOCK_WAIT_MS: '0' })
    expect(next.status, next.stderr).toBe(0)
    expect(JSON.parse(next.stdout)).toMatchObject([{ ip: '10.78.0.3' }])
  })

  it('waits for, then names, another process holding the store, as the command does without the thread', async () => {
    const pgDataDir = path.join(dataDir, 'pgdata')
    // This test's own process holds the store's lock (an OS lock: the CLI's process sees it held).
    const unlock = await acquireEmbeddedLock(pgDataDir)
    try {
      for (const thread of ['1', '0']) {
        const started = Date.now()
        const r = run(['--json', 'pool', 'list'], { NETKEEPER_LOCK_WAIT_MS: '400', NETKEEPER_EMBEDDED_THREAD: thread })
        expect(r.status, `thread ${thread}: ${r.stderr}`).toBe(1)
        expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'UNAVAILABLE', details: { reason: 'locked' } })
        expect(JSON.parse(r.stdout).error.message).toMatch(/in use by another Netkeeper process \(most likely pid \d+/)
        expect(Date.now() - started).toBeGreaterThanOrEqual(400)
      }
    } finally {
      unlock()
    }
    const after = run(['--json', 'pool', 'list'], { NETKEEPER_LOCK_WAIT_MS: '0' })
    expect(after.status, after.stderr).toBe(0)
  })
})

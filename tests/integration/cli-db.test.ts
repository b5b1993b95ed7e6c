/** `netkeeper db ...` end to end, on a PostgreSQL server and on the embedded default. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { cli } from '../support/cli'
import { freshDatabase, withClient } from '../support/db'
import { migrationsList } from '../../migrations'

const ALL = migrationsList.map((m) => m.name)

describe('netkeeper db on a PostgreSQL server', () => {
  it('migrate, status, rollback --to 0, migrate again, health', async () => {
    const url = await freshDatabase('clidb')
    const up = await cli(['--database-url', url, 'db', 'migrate', '--json'])
    expect(up.code).toBe(0)
    expect(up.json().applied).toEqual(ALL)

    const status = await cli(['db', 'status', '--json'], { NETKEEPER_DATABASE_URL: url })
    expect(status.code).toBe(0)
    expect(status.json()).toMatchObject({ pending: [], applied: ALL, target: { kind: 'postgresql', origin: 'env' } })

    const down = await cli(['--database-url', url, 'db', 'rollback', '--to', '0', '--yes', '--json'])
    expect(down.code).toBe(0)
    expect(down.json().reverted).toEqual([...ALL].reverse())
    const left = await withClient(url, async (c) => (await c.query(`select table_name from information_schema.tables where table_schema = 'public'`)).rows.map((r) => r.table_name))
    expect(left).toEqual(['mikro_orm_migrations'])

    expect((await cli(['--database-url', url, 'db', 'migrate'])).stdout).toContain(`applied ${ALL.length} migration(s)`)

    const health = await cli(['--database-url', url, 'db', 'health', '--json'])
    expect(health.code).toBe(0)
    const h = health.json()
    expect(h.reachable).toBe(true)
    expect(h.serverVersion).toMatch(/^15\./)
    expect(typeof h.latencyMs).toBe('number')
  })

  it('exits 1 with a clear message when the server is unreachable, 2 on usage errors', async () => {
    const r = await cli(['--database-url', 'postgres://nk:pw@127.0.0.1:1/x', 'db', 'status', '--json'], { NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS: '1500' })
    expect(r.code).toBe(1)
    expect(r.json().error.code).toBe('UNAVAILABLE')
    expect(r.stderr).toContain('database unreachable')
    expect(r.stderr + r.stdout).not.toContain(':pw@')

    expect((await cli(['db', 'frobnicate'])).code).toBe(2)
    expect((await cli(['--no-such-flag', 'db', 'status'])).code).toBe(2)
    const help = await cli(['db', 'rollback', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--to <migration>')
  })
})

describe('the netkeeper bin', () => {
  it('runs (built bundle or, in an unbuilt checkout, the source)', async () => {
    const { execFile } = await import('node:child_process')
    const out = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(process.execPath, [path.resolve(import.meta.dirname, '../../bin/netkeeper.js'), '--help'], (err, stdout) => resolve({ code: err ? 1 : 0, stdout }))
    )
    expect(out.code).toBe(0)
    expect(out.stdout).toContain('Usage: netkeeper')
    expect(out.stdout).toMatch(/db\s/)
  })
})

describe('netkeeper db on the embedded default', () => {
  it('keeps its state between runs in NETKEEPER_DATA_DIR', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-cli-embedded-'))
    try {
      const env = { NETKEEPER_DATA_DIR: dataDir }
      const up = await cli(['db', 'migrate', '--json'], env)
      expect(up.code).toBe(0)
      expect(up.json().target.kind).toBe('embedded')
      expect((await cli(['db', 'status', '--json'], env)).json().pending).toEqual([])
      expect((await cli(['db', 'rollback', '--to', '0', '--yes', '--json'], env)).json().state.applied).toEqual([])
      expect((await cli(['db', 'status', '--json'], env)).json().pending).toEqual(ALL)
      expect((await cli(['db', 'migrate', '--json'], env)).json().applied).toEqual(ALL)
      const h = (await cli(['db', 'health', '--json'], env)).json()
      expect(h).toMatchObject({ reachable: true, target: { kind: 'embedded' } })
      expect(fs.existsSync(path.join(dataDir, 'pgdata', 'PG_VERSION'))).toBe(true)
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

/**
 * The `netkeeper dns` commands end to end against the suite's named: the walk-through a person follows
 * (server add, zone add, pool settings, allocate → dig, rename → dig, release → dig), every listing with
 * --json, drift and its repair, and `outbox status`.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { cli } from '../support/cli'
import { freshDatabase } from '../support/db'
import { dig, nsupdate } from '../support/named'

const named = inject('named')
const skip = !named.available
if (skip) console.warn(`[dns-cli.test] skipped: named is not available (${named.reason})`)
const Z = named.zones

let env: NodeJS.ProcessEnv
let dataDir: string
beforeAll(async () => {
  if (skip) return
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-dnscli-'))
  env = { NETKEEPER_DATABASE_URL: await freshDatabase('dnscli'), NETKEEPER_DATA_DIR: dataDir }
})
afterAll(() => {
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
})

const ok = async (args: string[], input?: string): Promise<ReturnType<Awaited<ReturnType<typeof cli>>['json']>> => {
  const r = await cli(['--json', ...args], env, input)
  if (r.code !== 0) throw new Error(`netkeeper ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`)
  return r.json()
}

describe.skipIf(skip)('netkeeper dns', () => {
  it('walks through: server, zones, pool, allocate/rename/release with dig answering', { timeout: 300_000 }, async () => {
    const srv = await ok(['dns', 'server', 'add', 'ns1', '--address', '127.0.0.1', '--port', String(named.port), '--key-name', named.keyName, '--secret-stdin'], named.secret)
    expect(srv).toMatchObject({ name: 'ns1', port: named.port, keyName: named.keyName, algorithm: 'hmac-sha256' })
    expect(JSON.stringify(srv)).not.toContain(named.secret)
    await ok(['dns', 'zone', 'add', Z.cliForward, '--server', 'ns1', '--ttl', '120'])
    await ok(['dns', 'zone', 'add', Z.cliReverse, '--server', 'ns1'])
    const refused = await cli(['dns', 'zone', 'add', 'nope.example', '--server', 'ns1'], env)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/validation: name: ns1 .* refuses zone nope\.example/)
    const zones = await ok(['dns', 'zone', 'list'])
    expect(zones.items.map((z: { name: string }) => z.name)).toEqual([Z.cliForward, Z.cliReverse])
    const test = await ok(['dns', 'server', 'test', 'ns1'])
    expect(test).toMatchObject({ ok: true })
    expect(test.zones).toHaveLength(2)
    expect((await ok(['dns', 'server', 'list'])).items[0]).toMatchObject({ name: 'ns1', zones: 2 })

    await ok(['pool', 'create', '--name', 'cli-net', '--network', '203.0.113.0/24'])
    const pool = await ok(['dns', 'pool', 'cli-net', '--zone', Z.cliForward, '--ptr'])
    expect(pool).toMatchObject({ zone: Z.cliForward, ptr: true, uncovered: false })

    await ok(['ip', 'allocate', '--pool', 'cli-net', '--ip', '203.0.113.10', '--hostname', 'app', '--dns-managed'])
    expect(dig(named, `app.${Z.cliForward}`)).toEqual(['203.0.113.10'])
    expect(dig(named, '203.0.113.10', 'PTR')).toEqual([`app.${Z.cliForward}.`])
    const shown = await ok(['ip', 'show', '203.0.113.10'])
    expect(shown.dns).toMatchObject({ names: [`app.${Z.cliForward}`], effects: [{ state: 'done' }] })

    await ok(['ip', 'update', '203.0.113.10', '--hostname', 'app2'])
    expect(dig(named, `app.${Z.cliForward}`)).toEqual([])
    expect(dig(named, `app2.${Z.cliForward}`)).toEqual(['203.0.113.10'])

    const records = await ok(['dns', 'record', 'list', Z.cliForward, '--search', 'app2'])
    expect(records.items).toEqual([{ name: `app2.${Z.cliForward}`, type: 'A', ttl: 120, data: '203.0.113.10', allocation: { ip: '203.0.113.10', hostname: 'app2', pool: 'cli-net' } }])

    await ok(['ip', 'release', '203.0.113.10'])
    expect(dig(named, `app2.${Z.cliForward}`)).toEqual([])
    expect(dig(named, '203.0.113.10', 'PTR')).toEqual([])

    // The text a person reads: the verb once, and that the records follow.
    const text = await cli(['ip', 'allocate', '--pool', 'cli-net', '--ip', '203.0.113.11', '--hostname', 'txt', '--dns-managed'], env)
    expect(text.code).toBe(0)
    expect(text.stdout.split('\n')[0]).toBe('allocated 203.0.113.11 in pool cli-net')
    expect(text.stdout).toContain('  follows:     DNS (`netkeeper ip show 203.0.113.11`')
    await ok(['ip', 'release', '203.0.113.11'])

    const status = await ok(['outbox', 'status'])
    expect(status.counts).toMatchObject({ pending: 0, conflict: 0, failed: 0 })
    expect(status.counts.done).toBeGreaterThanOrEqual(3)
  })

  it('drift: a record added by hand is found and repaired towards the zone', { timeout: 150_000 }, async () => {
    nsupdate(named, [`update add manual.${Z.cliForward} 300 A 203.0.113.200`])
    const report = await ok(['dns', 'drift', '--zone', Z.cliForward])
    const line = report.items.find((i: { name: string }) => i.name === `manual.${Z.cliForward}`)
    expect(line).toMatchObject({ kind: 'record-without-allocation', inZone: ['203.0.113.200'] })
    const repaired = await ok(['dns', 'drift', '--zone', Z.cliForward, '--repair', 'zone', '--id', line.id])
    expect(repaired.results).toEqual([expect.objectContaining({ id: line.id, ok: true })])
    expect(dig(named, `manual.${Z.cliForward}`)).toEqual([])
    expect((await ok(['dns', 'drift', '--zone', Z.cliForward])).items).toEqual([])
  })
})

/**
 * SQL that holds on any server setting: the whole schema is migrated, and IPAM search, the pool list's search
 * and the audit viewer's filters run, on a database whose sessions have standard_conforming_strings off
 * (backslashes in plain string literals start escapes there, as on PostgreSQL before 9.1 or a server
 * configured that way). Values with %, _, \ and ! are found literally. An unexpected database error says
 * what failed in words, and keeps its statement out of the message (for the log).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { AuditService } from '../../src/main/core/audit/service'
import { appendAudits } from '../../src/main/core/audit/writer'
import { makeContext } from '../../src/main/core/context'
import { listRoles } from '../../src/main/core/db/roles'
import { statementOf, toAppError } from '../../src/main/core/db/errors'
import { cli } from '../support/cli'
import { ctxAs } from '../support/core'
import { freshDatabase, withClient } from '../support/db'

let core: Core
let url: string
const admin = ctxAs('admin', 'alice')

beforeAll(async () => {
  url = await freshDatabase('scsoff')
  const name = new URL(url).pathname.slice(1)
  // Every session of this database starts with it off, migrations included.
  await withClient(url, (c) => c.query(`alter database "${name}" set standard_conforming_strings = off`))
  core = await Core.open({ databaseUrl: url, dataDir: '/nonexistent-netkeeper-test', migrate: true })
})
afterAll(async () => {
  await core?.close()
})

describe('with standard_conforming_strings off', () => {
  it('is really off in the core’s sessions', async () => {
    const r = await core.db.knex.raw<{ rows: { s: string }[] }>(`select current_setting('standard_conforming_strings') as s`)
    expect(r.rows[0]!.s).toBe('off')
  })

  it('searches addresses by address, CIDR, MAC, hostname prefix and owner, taking %, _, \\ and ! literally', async () => {
    await core.ipam.createPool(admin, { name: 'srch', network: '10.88.0.0/24', description: 'sale: 50%_off\\now!' })
    await core.ipam.allocate(admin, { pool: 'srch', ip: '10.88.0.10', hostname: 'db-primary', owner: 'Carol', mac: '00:11:22:33:44:55' })
    await core.ipam.allocate(admin, { pool: 'srch', ip: '10.88.0.11', hostname: 'DB-replica', owner: 'carol' })
    await core.ipam.allocate(admin, { pool: 'srch', ip: '10.88.0.12', hostname: 'cache1', owner: 'o%_\\!x' })
    await core.ipam.allocate(admin, { pool: 'srch', ip: '10.88.0.13', hostname: 'cache2', owner: 'oZZZ!x' })
    const ips = async (query: string, kind?: 'owner'): Promise<string[]> => (await core.ipam.search(admin, { query, ...(kind ? { kind } : {}) })).items.map((a) => a.ip)
    expect(await ips('10.88.0.10')).toEqual(['10.88.0.10'])
    expect(await ips('10.88.0.8/30')).toEqual(['10.88.0.10', '10.88.0.11'])
    expect(await ips('0011.2233.4455')).toEqual(['10.88.0.10'])
    expect(await ips('DB-')).toEqual(['10.88.0.10', '10.88.0.11'])
    expect(await ips('CAROL', 'owner')).toEqual(['10.88.0.10', '10.88.0.11'])
    expect(await ips('o%_\\!', 'owner')).toEqual(['10.88.0.12'])
    expect(await ips('o%', 'owner')).toEqual(['10.88.0.12'])
    expect(await ips('o_', 'owner')).toEqual([])
    expect(await ips('o%_\\')).toEqual(['10.88.0.12'])
    expect(await ips('100%_')).toEqual([])
  })

  it('searches the pool list literally', async () => {
    const names = async (search: string): Promise<string[]> => (await core.ipam.listPools(admin, { search })).items.map((p) => p.name)
    expect(await names('50%_off\\now!')).toEqual(['srch'])
    expect(await names('5_%')).toEqual([])
    expect(await names('10.88.0.9')).toEqual(['srch'])
  })

  it('filters the audit log by resource prefix and by text, through both text paths', async () => {
    const ctx = makeContext({ actor: 'seeder', roles: ['admin'], source: 'cli' })
    await core.db.knex.transaction((trx) =>
      appendAudits(trx, ctx, [
        { action: 'update', resourceType: 'odd_names', resourceId: 'a', resourceName: 'it\\em_%!-1', details: { after: { note: 'sale 50%_off\\path!' } } },
        { action: 'update', resourceType: 'odd_names', resourceId: 'b', resourceName: 'itXem-2', details: { after: { note: 'sale 50 off path' } } }
      ])
    )
    const ids = async (f: object): Promise<string[]> => (await core.audit.list(admin, { resourceType: 'odd_names', limit: 100, ...f })).items.map((e) => e.resourceId!).sort()
    expect(await ids({ resource: 'it\\em_%!' })).toEqual(['a'])
    expect(await ids({ resource: 'it_' })).toEqual([])
    expect(await ids({ text: '50%_off\\\\path!' })).toEqual(['a'])
    expect(await ids({ text: '%' })).toEqual(['a'])
    expect(await ids({ text: '_off' })).toEqual(['a'])
    expect((await core.audit.counts(admin, { resourceType: 'odd_names', text: 'sale' })).total).toBe(2)

    // The path that gives the trigram index only the rare words of the text.
    await core.db.knex.transaction((trx) =>
      appendAudits(trx, ctx, Array.from({ length: 300 }, (_, i) => ({ action: 'update' as const, resourceType: 'text_search', resourceId: i, details: { after: { hostname: `Web-${i}` } } })))
    )
    await core.db.knex.raw('analyze audit_logs')
    const fresh = new AuditService(core.db.knex, () => core.audit.archiveFolder(), core.audit.keys)
    expect((await fresh.list(admin, { resourceType: 'text_search', text: 'WEB-123', limit: 100 })).items.map((e) => e.resourceId)).toEqual(['123'])
    expect((await fresh.counts(admin, { resourceType: 'text_search', text: 'web-1' })).total).toBe(111)
  })

  it('lists the logins with a Netkeeper role, leaving out pg_ roles', async () => {
    const rows = await listRoles(core.db)
    expect(rows.map((r) => r.login)).not.toContain('pg_read_all_data')
    expect(rows.some((r) => r.login === 'postgres')).toBe(true)
  })

  it('searches from the CLI', async () => {
    const r = await cli(['--database-url', url, 'ip', 'search', 'o%', '--kind', 'owner', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json().items.map((a: { ip: string }) => a.ip)).toEqual(['10.88.0.12'])
  })
})

describe('an unexpected database error', () => {
  it('says what failed in words and keeps the statement apart, for the log', async () => {
    const sql = 'select no_such_column_here from ip_pools'
    const e = await core.db.knex.raw(sql).catch((x: unknown) => x)
    const err = toAppError(e)
    expect(err.code).toBe('INTERNAL')
    expect(err.message).toBe('the database could not run a statement: column "no_such_column_here" does not exist (SQLSTATE 42703)')
    expect(statementOf(err)).toBe(sql)
    expect(JSON.stringify(err.toPayload())).not.toContain('select')
  })

  it('reaches the CLI as a sentence naming the log, which keeps the statement and the request id, never the password', async () => {
    await withClient(url, (c) => c.query('alter table ip_allocations rename column owner to owner_gone'))
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-scs-'))
    try {
      // The test server trusts local logins: the password in the URL is carried along, and must go nowhere.
      const withPassword = url.replace('postgres@', 'postgres:not-for-the-log-42@')
      const r = await cli(['--database-url', withPassword, '--data-dir', dataDir, 'ip', 'search', 'carol', '--kind', 'owner'])
      expect(r.code).toBe(1)
      const logFile = path.join(dataDir, 'logs', 'cli.log')
      expect(r.stderr).toBe(`netkeeper: internal: ip search failed: the database could not run a statement: column a.owner does not exist (SQLSTATE 42703); details in the log: ${logFile}\n`)
      const log = fs.readFileSync(logFile, 'utf8')
      expect(log).toMatch(/^\S+Z ERROR req=[0-9a-f-]{36} \[cli\] ip search failed: column a\.owner does not exist \[42703\]\n {4}statement: select count\(\*\)::int as n from ip_allocations a where lower\(a\.owner\) like \$1 escape '!'\n/)
      expect(log).not.toContain('not-for-the-log-42')
      expect(log).not.toContain('carol')
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

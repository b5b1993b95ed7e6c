/**
 * IPAM CSV in and out (issue 16 item 7) against a real PostgreSQL server: the round trip (an export imported
 * again changes nothing; imported into an empty database it exports to the same bytes), the phpIPAM and
 * NetBox presets on files written from their documented columns, a damaged file reported row by row with
 * nothing written, a cancel in the middle of the write leaving nothing, and the CLI over the same core.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import type { CsvImportOptions } from '../../src/shared/ipam-csv'
import { cli } from '../support/cli'
import { auditRows, ctxAs, lastSeq, openCore, perObject } from '../support/core'

const fixtures = path.resolve(import.meta.dirname, '..', 'fixtures', 'ipam-csv')
const fx = (name: string): string => path.join(fixtures, name)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-ipam-csv-'))
process.once('exit', () => fs.rmSync(tmp, { recursive: true, force: true }))

let core: Core
let url: string
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')

beforeAll(async () => {
  ;({ core, url } = await openCore('ipamcsv'))
})
afterAll(async () => {
  await core?.close()
})

async function exportText(c: Core, kind: 'pools' | 'allocations', filters: Record<string, unknown> = {}): Promise<string> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (b: Buffer) => chunks.push(b))
  await c.ipamCsv.export(op, { kind, ...filters }, out)
  out.end()
  return Buffer.concat(chunks).toString('utf8')
}

function write(name: string, text: string): string {
  const p = path.join(tmp, name)
  fs.writeFileSync(p, text)
  return p
}

async function count(c: Core, table: 'ip_pools' | 'ip_allocations'): Promise<number> {
  const r = await c.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ${table}`)
  return r.rows[0]!.n
}

describe('export', () => {
  it('streams pools and allocations with the lists filters, RFC 4180 quoting and formula guards', async () => {
    await core.ipam.createSpace(admin, { name: 'cust-a' })
    await core.ipam.createPool(admin, { name: 'campus', network: '10.0.0.0/16', site: 'HQ', environment: 'prod', vlanId: 10 })
    await core.ipam.createPool(admin, { name: 'office', network: '10.0.1.0/24', parent: 'campus', gateway: '10.0.1.1', dnsServers: ['10.0.0.53', '10.0.0.54'], description: 'Office, 1st "floor"' })
    await core.ipam.createPool(admin, { name: 'a-lan', network: '10.0.1.0/24', space: 'cust-a' })
    await core.ipam.allocate(op, { pool: 'office', ip: '10.0.1.10', hostname: 'pc10', mac: '00:11:22:33:44:55', owner: 'Bob', description: '=SUM(A1:A9)' })
    await core.ipam.allocate(op, { pool: 'office', ip: '10.0.1.11', status: 'reserved', until: '2030-01-02T03:04:05Z', purpose: '-minus, comma' })
    await core.ipam.allocate(op, { pool: 'office', ip: '10.0.1.12', status: 'blocked', mac: '00:11:22:33:44:66', dhcpManaged: true, dnsManaged: true })
    await core.ipam.allocate(op, { pool: 'a-lan', ip: '10.0.1.10', hostname: 'a-host' })
    // An inactive pool keeps its addresses; the export and the import carry them.
    await core.ipam.updatePool(admin, 'a-lan', { isActive: false })
    const pools = await exportText(core, 'pools')
    expect(pools.split('\r\n')).toEqual([
      'space,network,name,gateway,vlan,site,environment,description,dns_servers,active,tags',
      'cust-a,10.0.1.0/24,a-lan,,,,,,,false,',
      'default,10.0.0.0/16,campus,,10,HQ,prod,,,true,',
      'default,10.0.1.0/24,office,10.0.1.1,,,,"Office, 1st ""floor""",10.0.0.53 10.0.0.54,true,',
      ''
    ])
    const allocs = await exportText(core, 'allocations')
    expect(allocs.split('\r\n')).toEqual([
      'space,ip,pool,status,hostname,mac,owner,owner_dn,purpose,description,reserved_until,dns_managed,dhcp_managed,tags',
      'default,10.0.1.10,office,allocated,pc10,00:11:22:33:44:55,Bob,,,\'=SUM(A1:A9),,false,false,',
      'cust-a,10.0.1.10,a-lan,allocated,a-host,,,,,,,false,false,',
      'default,10.0.1.11,office,reserved,,,,,"\'-minus, comma",,2030-01-02T03:04:05Z,false,false,',
      'default,10.0.1.12,office,blocked,,00:11:22:33:44:66,,,,,,true,true,',
      ''
    ])
    // The list filters: space, pool, status, search.
    expect((await exportText(core, 'allocations', { space: 'cust-a' })).split('\r\n')).toHaveLength(3)
    expect((await exportText(core, 'allocations', { pool: 'office', status: 'reserved' })).split('\r\n')[1]).toContain('10.0.1.11')
    expect((await exportText(core, 'allocations', { search: 'pc1' })).split('\r\n').slice(1, -1)).toHaveLength(1)
    expect((await exportText(core, 'pools', { search: 'campus' })).split('\r\n').slice(1, -1)).toEqual(['default,10.0.0.0/16,campus,,10,HQ,prod,,,true,'])
    expect(await core.ipamCsv.export(op, { kind: 'pools', status: 'allocated' }, new PassThrough()).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'status' } })
  })
})

describe('round trip', () => {
  it('re-importing an export changes nothing, and an empty database takes it back byte for byte', async () => {
    const pools = write('pools.csv', await exportText(core, 'pools'))
    const allocs = write('allocations.csv', await exportText(core, 'allocations'))
    const before = await lastSeq(core)
    for (const onExisting of ['skip', 'update'] as const) {
      for (const [kind, file] of [
        ['pools', pools],
        ['allocations', allocs]
      ] as const) {
        const r = await core.ipamCsv.run(op, { file, kind, onExisting })
        expect(r.outcome).toBe('imported')
        expect(r.problems).toEqual([])
        expect(r.counts).toMatchObject({ created: 0, updated: 0, skipped: 0, unchanged: kind === 'pools' ? 3 : 4 })
      }
    }
    // Only the four imports' own audit rows: nothing else was written.
    const rows = await auditRows(core, before)
    expect(rows.map((r) => r.resource_type)).toEqual(['import', 'import', 'import', 'import'])
    expect(rows[0]!.details.context).toMatchObject({ operation: 'csv-import', kind: 'pools', counts: { unchanged: 3 } })

    const other = (await openCore('ipamcsv2')).core
    try {
      await other.ipam.createSpace(admin, { name: 'cust-a' })
      const p = await other.ipamCsv.run(ctxAs('operator', 'olga'), { file: pools, kind: 'pools' })
      expect(p.counts).toMatchObject({ rows: 3, created: 3, skipped: 0 })
      const a = await other.ipamCsv.run(ctxAs('operator', 'olga'), { file: allocs, kind: 'allocations' })
      expect(a.counts).toMatchObject({ rows: 4, created: 4, skipped: 0 })
      expect(await exportText(other, 'pools')).toBe(fs.readFileSync(pools, 'utf8'))
      expect(await exportText(other, 'allocations')).toBe(fs.readFileSync(allocs, 'utf8'))
      // The tree came back: office under campus.
      expect((await other.ipam.getPool(op, 'office')).parentName).toBe('campus')
      // One audit row per object, one for the import, all under one request id.
      // The allocations are audited in one batch row (details.rows: each one's id, line and after).
      const audit = await auditRows(other, '0')
      const requestId = audit.find((x) => x.resource_type === 'import' && (x.details.context as { kind?: string }).kind === 'allocations')!.request_id
      expect(audit.filter((r) => r.request_id === requestId).map((r) => r.resource_type)).toEqual(['ip_allocation', 'import'])
      const mine = perObject(audit).filter((r) => r.request_id === requestId)
      expect(mine.map((r) => r.resource_type)).toEqual(['ip_allocation', 'ip_allocation', 'ip_allocation', 'ip_allocation', 'import'])
      expect(mine[0]!.source).toBe('import')
      expect(mine.find((r) => r.resource_name === '10.0.1.11')!.details.after).toMatchObject({ status: 'reserved', purpose: '-minus, comma', reservedUntil: '2030-01-02T03:04:05Z' })
    } finally {
      await other.close()
    }
  })

  it('updates an existing key only with --on-existing update, with exact before and after', async () => {
    const file = write('upd.csv', 'space,ip,hostname\r\ndefault,10.0.1.10,pc10-renamed\r\n')
    const skipped = await core.ipamCsv.run(op, { file, kind: 'allocations' })
    expect(skipped.counts).toMatchObject({ updated: 0, skipped: 1 })
    expect(skipped.problems[0]).toMatchObject({ line: 2, kind: 'exists' })
    const seq = await lastSeq(core)
    const r = await core.ipamCsv.run(op, { file, kind: 'allocations', onExisting: 'update' })
    expect(r.counts).toMatchObject({ updated: 1, skipped: 0 })
    const a = await core.ipam.getAllocation(op, '10.0.1.10', 'default')
    // Only the mapped column changed.
    expect([a.hostname, a.mac, a.owner]).toEqual(['pc10-renamed', '00:11:22:33:44:55', 'Bob'])
    const rows = perObject(await auditRows(core, seq))
    expect(rows[0]).toMatchObject({ action: 'update', resource_type: 'ip_allocation', details: { before: { hostname: 'pc10' }, after: { hostname: 'pc10-renamed' } } })
  })
})

describe('presets', () => {
  it('reads phpIPAM subnet and address exports', async () => {
    const p = await core.ipamCsv.run(op, { file: fx('phpipam-subnets.csv'), kind: 'pools', preset: 'phpipam' })
    expect(p.problems).toEqual([])
    expect(p.counts).toMatchObject({ rows: 4, created: 4 })
    const lab = await core.ipam.getPool(op, '10.20.2.0/24')
    expect([lab.network, lab.vlanId, lab.description, lab.parentName]).toEqual(['10.20.2.0/24', 120, 'Lab', '10.20.0.0/16'])
    const a = await core.ipamCsv.run(op, { file: fx('phpipam-addresses.csv'), kind: 'allocations', preset: 'phpipam' })
    expect(a.problems).toEqual([])
    expect(a.counts.created).toBe(4)
    const printer = await core.ipam.getAllocation(op, '10.20.1.10', 'default')
    expect([printer.hostname, printer.mac, printer.owner, printer.purpose, printer.status]).toEqual(['printer1.example.org', '00:11:22:33:44:55', 'facilities', 'toner low', 'allocated'])
    expect((await core.ipam.getAllocation(op, '10.20.1.11', 'default')).status).toBe('reserved')
    // phpIPAM's DHCP tag is a dynamic lease: allocated, purpose dhcp (no host reservation without a MAC).
    expect(await core.ipam.getAllocation(op, '10.20.2.50', 'default')).toMatchObject({ status: 'allocated', dhcpManaged: false, purpose: 'dhcp' })
    expect((await core.ipam.getAllocation(op, '10.20.2.51', 'default')).status).toBe('blocked')
  })

  it('reads NetBox prefix and IP address exports', async () => {
    // NetBox's tags column names tags that do not exist here: those rows are skipped unless tags may be created.
    const dry = await core.ipamCsv.dryRun(op, { file: fx('netbox-prefixes.csv'), kind: 'pools', preset: 'netbox' })
    expect(dry.problems).toEqual([expect.objectContaining({ line: 3, kind: 'unknown_tag', column: 'tags', reason: expect.stringContaining('no tag named "prod", "web"') })])
    expect(await core.ipamCsv.run(op, { file: fx('netbox-prefixes.csv'), kind: 'pools', preset: 'netbox', createTags: true }).catch((e) => e)).toMatchObject({ code: 'FORBIDDEN' })
    const p = await core.ipamCsv.run(admin, { file: fx('netbox-prefixes.csv'), kind: 'pools', preset: 'netbox', createTags: true })
    expect(p.problems).toEqual([])
    expect(p.newTags).toEqual(['prod', 'web'])
    expect(p.counts.created).toBe(3)
    expect((await core.ipam.getPool(op, '172.16.10.0/24')).tags.map((t) => t.name)).toEqual(['prod', 'web'])
    const berlin = await core.ipam.getPool(op, '172.16.10.0/24')
    expect([berlin.vlanId, berlin.site, berlin.environment, berlin.description, berlin.isActive, berlin.parentName]).toEqual([210, 'Berlin', 'Production', 'Berlin servers', true, '172.16.0.0/12'])
    expect((await core.ipam.getPool(op, '172.16.11.0/24')).isActive).toBe(false)
    const a = await core.ipamCsv.run(op, { file: fx('netbox-addresses.csv'), kind: 'allocations', preset: 'netbox' })
    expect(a.problems).toEqual([])
    expect(a.counts.created).toBe(5)
    expect(await core.ipam.getAllocation(op, '172.16.10.5', 'default')).toMatchObject({ hostname: 'web01.example.net', description: 'Web server', status: 'allocated' })
    expect(await core.ipam.getAllocation(op, '172.16.10.6', 'default')).toMatchObject({ status: 'reserved', description: 'held for web02' })
    expect(await core.ipam.getAllocation(op, '172.16.10.7', 'default')).toMatchObject({ status: 'allocated', dhcpManaged: false, purpose: 'dhcp' })
    expect(await core.ipam.getAllocation(op, '172.16.10.8', 'default')).toMatchObject({ status: 'blocked' })
  })
})

describe('a damaged file', () => {
  it('is reported row by row, and nothing is written', async () => {
    const file = fx('damaged-pools.csv')
    const pools = await count(core, 'ip_pools')
    const seq = await lastSeq(core)
    const dry = await core.ipamCsv.dryRun(op, { file, kind: 'pools' })
    expect(dry.refusal?.message).toMatch(/column "extra" maps to no field of pools/)
    expect(dry.problems.map((p) => [p.line, p.kind])).toEqual([
      [1, 'unknown_column'],
      [3, 'bad_value'],
      [5, 'duplicate_key'],
      [6, 'formula'],
      [7, 'encoding'],
      [8, 'field_count'],
      [9, 'bad_value']
    ])
    expect(dry.problems.find((p) => p.line === 3)!.reason).toMatch(/network: "10.50.1.0\/33" is not a valid CIDR/)
    expect(dry.problems.find((p) => p.line === 5)!.reason).toMatch(/line 4 of the file has 10.50.2.0\/24/)
    expect(dry.problems.find((p) => p.line === 6)).toMatchObject({ column: 'description', value: '=HYPERLINK("http://evil")' })
    expect(dry.problems.find((p) => p.line === 7)!.reason).toMatch(/line 7 is not valid UTF-8/)
    expect(dry.problems.find((p) => p.line === 9)!.reason).toMatch(/has host bits set; did you mean 10.50.6.0\/24/)
    // The run refuses the unknown column: nothing written, a failure row in the audit log.
    const refused = await core.ipamCsv.run(op, { file, kind: 'pools' }).catch((e) => e)
    expect(refused).toMatchObject({ code: 'VALIDATION', details: { field: 'file' } })
    expect(await count(core, 'ip_pools')).toBe(pools)
    expect((await auditRows(core, seq)).map((r) => [r.resource_type, r.status])).toEqual([['import', 'failure']])
    // Told to ignore the column, the good rows go in and the guard apostrophe is stripped.
    const r = await core.ipamCsv.run(op, { file, kind: 'pools', map: { extra: 'ignore' } })
    expect(r.counts).toMatchObject({ rows: 9, created: 3, skipped: 6 })
    expect((await core.ipam.getPool(op, 'guarded')).description).toBe('-not a formula')
    expect(await count(core, 'ip_pools')).toBe(pools + 3)
  })

  it('names addresses outside any pool, outside the named pool, unusable, in a dhcp range or in an unknown space', async () => {
    await core.ipam.addRange(admin, { pool: 'office', first: '10.0.1.200', last: '10.0.1.220', purpose: 'dhcp' })
    const file = write(
      'bad-allocs.csv',
      ['space,ip,pool', ',192.0.2.9,', ',10.0.1.20,campus', ',10.0.1.255,', ',10.0.1.1,', ',10.0.1.210,', 'nowhere,10.0.1.30,', ',not-an-ip,', ',10.0.1.40,office'].join('\n') + '\n'
    )
    const dry = await core.ipamCsv.dryRun(op, { file, kind: 'allocations' })
    expect(dry.problems.map((p) => [p.line, p.kind])).toEqual([
      [2, 'outside_pools'],
      [3, 'outside_named_pool'],
      [4, 'unusable_address'],
      [5, 'unusable_address'],
      [6, 'in_dhcp_range'],
      [7, 'unknown_space'],
      [8, 'bad_value']
    ])
    expect(dry.counts).toMatchObject({ created: 1, skipped: 7 })
    expect(dry.problems[1]!.reason).toMatch(/lies in pool office \(10.0.1.0\/24\), not in "campus"/)
  })
})

describe('cancel', () => {
  it('in the middle of the write rolls everything back', async () => {
    await core.ipam.createPool(admin, { name: 'big', network: '10.99.0.0/16' })
    const lines = ['ip,hostname']
    for (let i = 1; i <= 8000; i++) lines.push(`10.99.${i >> 8}.${i & 255 || 1},h${i}`)
    // .0 addresses were turned into .1 above: keep the file free of duplicates by dropping them.
    const file = write('many.csv', [...new Set(lines)].join('\n') + '\n')
    const allocs = await count(core, 'ip_allocations')
    const seq = await lastSeq(core)
    const controller = new AbortController()
    let writing = 0
    const r = await core.ipamCsv.run(
      op,
      { file, kind: 'allocations' },
      {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'writing' && p.done > 0 && ++writing === 1) controller.abort()
        }
      }
    )
    expect(writing).toBeGreaterThan(0)
    expect(r.outcome).toBe('cancelled')
    expect(await count(core, 'ip_allocations')).toBe(allocs)
    expect(await auditRows(core, seq)).toEqual([])
  })
})

describe('CLI', () => {
  it('exports with ipam export and imports with import csv (dry run, report, JSON)', async () => {
    const out = path.join(tmp, 'cli-pools.csv')
    const e = await cli(['--database-url', url, '--json', 'ipam', 'export', '--kind', 'pools', '--format', 'csv', '--out', out, '--space', 'cust-a'])
    expect(e.code).toBe(0)
    expect(e.json()).toMatchObject({ kind: 'pools', rows: 1 })
    expect(fs.readFileSync(out, 'utf8')).toBe('space,network,name,gateway,vlan,site,environment,description,dns_servers,active,tags\r\ncust-a,10.0.1.0/24,a-lan,,,,,,,false,\r\n')
    const report = path.join(tmp, 'report.json')
    const d = await cli(['--database-url', url, 'import', 'csv', fx('damaged-pools.csv'), '--kind', 'pools', '--dry-run', '--map', 'extra=ignore', '--report', report])
    expect(d.code).toBe(0)
    expect(d.stdout).toMatch(/dry run of damaged-pools.csv .*nothing was written/)
    expect(d.stdout).toMatch(/rows: 9: 0 created, 0 updated, 3 unchanged, 6 skipped/)
    expect(JSON.parse(fs.readFileSync(report, 'utf8')).problems).toHaveLength(6)
    const u = await cli(['--database-url', url, 'import', 'csv', fx('damaged-pools.csv'), '--kind', 'pools', '--dry-run'])
    expect(u.code).toBe(1)
    expect(u.stdout).toMatch(/REFUSED: column "extra" maps to no field/)
    const bad = await cli(['--database-url', url, 'import', 'csv', fx('damaged-pools.csv'), '--kind', 'pools', '--map', 'extra=vlan_group'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/map: column "extra": "vlan_group" is not a field of pools/)
  })
})

export type { CsvImportOptions }

/**
 * The legacy SQLite import: every known bad row of the shared sample reported with its reason, clean rows
 * imported, all or nothing, idempotent, cancellable, clash handling, files that are not legacy IPAM
 * databases, generated files with other damage, the IPC channels and the CLI end to end.
 */
import { createHash, randomUUID } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { parse as parseCsv } from 'csv-parse/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { createHandlers, dispatch } from '../../src/main/ipc/handlers'
import type { ImportProblem, ImportProgress, ImportReport } from '../../src/shared/importer'
import { parseIp } from '../../src/shared/net'
import { cli } from '../support/cli'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'
import { tempDir, writeCleanLegacyFile, writeLegacyFile, type AllocRow, type PoolRow } from '../support/legacy'

const SAMPLE = path.resolve(import.meta.dirname, '..', 'fixtures', 'legacy-ipam-sample.db')
const EXPECTED = JSON.parse(fs.readFileSync(`${SAMPLE}.expected.json`, 'utf8')) as {
  pools: number
  allocations: number
  bad: ({ kind: string; id: string } | { kind: string; ip: string })[]
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const admin = ctxAs('admin', 'alice')
const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex')
const dir = tempDir()
const opened: Core[] = []

async function fresh(prefix: string): Promise<{ core: Core; url: string }> {
  const r = await openCore(prefix)
  opened.push(r.core)
  return r
}

afterAll(async () => {
  for (const c of opened) await c.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** Everything an import could touch, to prove a database was left as it was. */
async function snapshot(core: Core): Promise<Record<string, unknown>> {
  const r = await core.db.knex.raw<{ rows: Record<string, unknown>[] }>(
    `select (select count(*)::int from ip_pools) as pools,
            (select count(*)::int from ip_allocations) as allocations,
            (select count(*)::int from legacy_import_map) as mapped,
            (select md5(coalesce(string_agg(pool_id || ':' || first_ip || '-' || last_ip, ',' order by pool_id, first_ip), '')) from ip_free_ranges) as free,
            (select md5(coalesce(string_agg(id || name || network::text, ',' order by id), '')) from ip_pools) as pool_rows,
            (select coalesce(max(seq), 0)::text from audit_logs) as seq,
            (select last_seq::text || last_hash from audit_chain_head) as head`
  )
  return r.rows[0]!
}

/** The legacy ids of a file's rows, read straight from SQLite. */
function legacyIds(file: string, table: 'ip_pools' | 'ip_allocations'): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare(`select id from ${table}`).all() as { id: string }[]).map((r) => r.id)
  } finally {
    db.close()
  }
}

async function mapped(core: Core, table: 'ip_pools' | 'ip_allocations'): Promise<Map<string, number>> {
  const r = await core.db.knex.raw<{ rows: { legacy_id: string; target_id: number }[] }>(`select legacy_id, target_id from legacy_import_map where source_table = ?`, [table])
  return new Map(r.rows.map((x) => [x.legacy_id, x.target_id]))
}

function find(problems: ImportProblem[], legacyId: string | null, kind: string): ImportProblem | undefined {
  return problems.find((p) => p.legacyId === legacyId && p.kind === kind)
}

describe('the shared sample', () => {
  let core: Core
  let url: string
  const before = sha256(SAMPLE)

  beforeAll(async () => {
    ;({ core, url } = await fresh('imp_sample'))
  })

  it('recognises the file and reports every known bad row with the right reason', async () => {
    const a = await core.importer.analyse(admin, { file: SAMPLE })
    expect(a.file).toMatchObject({ name: 'legacy-ipam-sample.db', sha256: before, size: fs.statSync(SAMPLE).size })
    expect(a.source).toMatchObject({ pools: 15, allocations: 1246, missingColumns: [] })
    expect(a.source.types).toContainEqual({ type: 'legacy-hold', count: 1, mapsTo: null })
    expect(a.source.types).toContainEqual({ type: 'static', count: 381, mapsTo: 'allocated' })
    expect(EXPECTED.bad.length).toBeGreaterThan(0)
    for (const bad of EXPECTED.bad) {
      const hit =
        'id' in bad
          ? a.problems.find((p) => p.legacyId === bad.id && p.kind === bad.kind)
          : a.problems.find((p) => p.kind === bad.kind && p.value !== null && parseIp(p.value).text === bad.ip)
      expect(hit, `expected ${JSON.stringify(bad)} to be reported`).toBeDefined()
      expect(hit!.severity).toBe('error')
      expect(hit!.outcome).toBe('skipped')
      expect(hit!.message.length).toBeGreaterThan(10)
    }
    // Reasons that name what is wrong.
    expect(find(a.problems, 'hostbits', 'network_not_canonical')).toMatchObject({ table: 'ip_pools', field: 'network', fix: { value: '172.16.5.0/24' } })
    expect(find(a.problems, 'bad-outside', 'ip_outside_pool')!.message).toContain('192.0.2.77 is outside 10.0.0.0/22')
    expect(find(a.problems, 'netaddr', 'network_or_broadcast_address')!.message).toContain('network address of 10.100.1.0/24')
    expect(find(a.problems, 'dup-b', 'duplicate_ip')!.message).toContain('dup-a')
    expect(find(a.problems, 'dup-pool', 'overlapping_pool')!.message).toContain('pool-0000')
    expect(find(a.problems, 'orphan', 'orphan_allocation')!.message).toContain('no-such-pool')
    expect(find(a.problems, 'weird-type', 'unknown_allocation_type')!.message).toContain('legacy-hold')
    // No clean row (the generator's uuid rows) is flagged.
    expect(a.problems.filter((p) => p.severity === 'error' && p.legacyId && UUID.test(p.legacyId))).toEqual([])
    expect(a.counts.pools).toMatchObject({ inFile: 15, created: 13, skipped: 2 })
    expect(a.counts.allocations).toMatchObject({ inFile: 1246, created: 1238, skipped: 8 })
    expect(a.refusal).toBeNull()
  })

  it('a dry run writes nothing and reports what a run would do', async () => {
    const s0 = await snapshot(core)
    const r = await core.importer.dryRun(admin, { file: SAMPLE })
    expect(r.outcome).toBe('dry-run')
    expect(r.importId).toBeNull()
    expect(r.created).toEqual({ pools: 13, allocations: 1238 })
    expect(r.skipped.map((s) => s.legacyId).sort()).toEqual(['bad-ip', 'bad-mac', 'bad-outside', 'dup-b', 'dup-pool', 'hostbits', 'netaddr', 'orphan', 'weird-type', 'ws'])
    expect(r.skipped.length).toBe(r.counts.pools.skipped + r.counts.allocations.skipped)
    expect(r.skipped.find((s) => s.legacyId === 'dup-b')).toMatchObject({ table: 'ip_allocations', value: '10.0.3.253', also: ['duplicate_ip'] })
    expect(await snapshot(core)).toEqual(s0)
  })

  it('imports every clean row in one run, with one audit row per object and one for the import', async () => {
    const seq = await lastSeq(core)
    const phases: string[] = []
    const r = await core.importer.run(admin, { file: SAMPLE }, { onProgress: (p) => phases.push(p.phase) })
    expect(r.outcome).toBe('imported')
    expect(r.importId).toMatch(UUID)
    expect(r.created).toEqual({ pools: 13, allocations: 1238 })
    expect(phases).toEqual(expect.arrayContaining(['reading', 'checking', 'pools', 'allocations', 'free-space', 'audit', 'committing', 'done']))

    // Every clean row of the sample is in, none of the bad ones.
    const pools = await mapped(core, 'ip_pools')
    const allocs = await mapped(core, 'ip_allocations')
    const cleanPools = legacyIds(SAMPLE, 'ip_pools').filter((id) => UUID.test(id))
    const cleanAllocs = legacyIds(SAMPLE, 'ip_allocations').filter((id) => UUID.test(id))
    expect(cleanPools).toHaveLength(EXPECTED.pools)
    expect(cleanAllocs).toHaveLength(EXPECTED.allocations)
    for (const id of cleanPools) expect(pools.has(id), id).toBe(true)
    for (const id of cleanAllocs) expect(allocs.has(id), id).toBe(true)
    for (const bad of EXPECTED.bad) if ('id' in bad) expect(pools.has(bad.id) || allocs.has(bad.id), bad.id).toBe(false)
    expect(pools.size).toBe(13)
    expect(allocs.size).toBe(1238)

    // Values as the new model wants them.
    const one = async (ip: string) =>
      (
        await core.db.knex.raw<{ rows: Record<string, unknown>[] }>(
          `select host(a.ip_address) as ip, a.status, a.dhcp_managed, a.purpose, a.mac_address::text as mac, a.hostname, a.allocated_by, a.created_at, p.name as pool
             from ip_allocations a join ip_pools p on p.id = a.pool_id where a.ip_address = ?::inet`,
          [ip]
        )
      ).rows[0]
    expect(await one('10.0.0.122')).toMatchObject({ status: 'allocated', dhcp_managed: true, mac: '1e:dd:18:f2:3e:49', hostname: 'host-0-1.example.org', pool: 'pool-0000' })
    expect(await one('10.0.0.183')).toMatchObject({ status: 'reserved', dhcp_managed: false })
    expect(await one('10.0.1.135')).toMatchObject({ status: 'allocated', purpose: 'infrastructure' })
    const legacyTimes = await one('10.0.3.117')
    expect(legacyTimes).toMatchObject({ status: 'allocated', allocated_by: 'jdoe' })
    expect(new Date(legacyTimes!.created_at as string).toISOString()).toBe('2024-01-01T08:00:00.000Z')
    expect(await one('2001:db8:10::a')).toMatchObject({ hostname: 'v6host', pool: 'pool-v6' })
    expect(await one('10.0.3.253')).toMatchObject({ hostname: 'a', pool: 'pool-0000' })
    const dns = await core.db.knex.raw<{ rows: { dns: string[] }[] }>(`select array(select host(x) from unnest(dns_servers) x) as dns from ip_pools where name = 'pool-0001'`)
    expect(dns.rows[0]!.dns).toEqual(['10.100.1.2', '1.1.1.1'])
    const p1 = await core.ipam.getPool(admin, 'pool-0001')
    expect(p1).toMatchObject({ network: '10.100.1.0/24', gateway: '10.100.1.1', vlanId: 101 })
    expect(p1.utilization.allocated + p1.utilization.reserved).toBe(103)

    // Free space was rebuilt: next-free skips the gateway and every imported address.
    const next = await core.ipam.allocate(admin, { pool: 'pool-0001', next: true, count: 3 })
    const taken = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ip_allocations where pool_id = ?`, [p1.id])
    expect(taken.rows[0]!.n).toBe(106)
    for (const a of next) expect(a.ip).not.toBe('10.100.1.1')
    await core.ipam.release(admin, next[0]!.ip)
    await core.ipam.release(admin, next[1]!.ip)
    await core.ipam.release(admin, next[2]!.ip)

    // Audit: one row per created pool and allocation, then one for the import, all with source import.
    const rows = (await auditRows(core, seq)).filter((x) => x.request_id === admin.requestId && x.source === 'import')
    expect(rows.filter((x) => x.resource_type === 'ip_pool' && x.action === 'create')).toHaveLength(13)
    expect(rows.filter((x) => x.resource_type === 'ip_allocation' && x.action === 'create')).toHaveLength(1238)
    const imp = rows.filter((x) => x.resource_type === 'import')
    expect(imp).toHaveLength(1)
    expect(imp[0]).toMatchObject({ action: 'create', status: 'success', resource_id: r.importId, resource_name: 'legacy-ipam-sample.db', user_id: 'alice' })
    expect(imp[0]!.details.context).toMatchObject({
      file: { name: 'legacy-ipam-sample.db', sha256: before },
      choices: { onConflict: 'skip', fix: false },
      created: { pools: 13, allocations: 1238 },
      counts: { pools: { skipped: 2 }, allocations: { skipped: 8 } },
      skippedByKind: { overlapping_pool: 1, network_not_canonical: 1, ip_outside_pool: 1 }
    })
    const poolRow = rows.find((x) => x.resource_type === 'ip_pool' && x.resource_name === 'pool-0001')!
    expect(poolRow.resource_id).toBe(String(p1.id))
    expect(poolRow.details.after).toMatchObject({ name: 'pool-0001', network: '10.100.1.0/24', gateway: '10.100.1.1', vlanId: 101, dnsServers: ['10.100.1.2', '1.1.1.1'] })
    const allocRow = rows.find((x) => x.resource_type === 'ip_allocation' && x.resource_name === '10.0.0.122')!
    expect(allocRow.details.after).toEqual({ pool: 'pool-0000', ip: '10.0.0.122', status: 'allocated', hostname: 'host-0-1.example.org', mac: '1e:dd:18:f2:3e:49', dhcpManaged: true, allocatedBy: 'admin' })
    expect(allocRow.details.context).toEqual({ legacyId: 'bc333ff0-a477-41d4-aeb9-07252defcb3a', legacyType: 'dhcp' })
    // The rows of one import share its request id, so the import's own row finds them all.
    expect(new Set(rows.map((x) => x.request_id))).toEqual(new Set([imp[0]!.request_id]))
    expect(await core.audit.verify(admin)).toMatchObject({ ok: true })
    expect(sha256(SAMPLE)).toBe(before)
  })

  it('running the same file again imports nothing twice', async () => {
    const s0 = await snapshot(core)
    const seq = await lastSeq(core)
    const r = await core.importer.run(admin, { file: SAMPLE })
    expect(r.created).toEqual({ pools: 0, allocations: 0 })
    expect(r.counts.pools).toMatchObject({ alreadyImported: 13, created: 0 })
    expect(r.counts.allocations).toMatchObject({ alreadyImported: 1238, created: 0, skipped: 8 })
    const s1 = await snapshot(core)
    expect({ ...s1, seq: null, head: null }).toEqual({ ...s0, seq: null, head: null })
    // Only the import's own audit row.
    const rows = await auditRows(core, seq)
    expect(rows.map((x) => x.resource_type)).toEqual(['import'])
  })

  it('a later run with fixes brings what was skipped, once', async () => {
    const r = await core.importer.run(admin, { file: SAMPLE, choices: { fix: true, typeMap: { 'legacy-hold': 'reserved' } } })
    expect(r.created).toEqual({ pools: 1, allocations: 3 })
    expect(r.fixes.map((f) => `${f.legacyId}:${f.kind}`).sort()).toEqual(['bad-mac:invalid_mac', 'hostbits:invalid_dns_servers', 'hostbits:network_not_canonical'])
    expect(r.skipped.map((s) => s.legacyId).sort()).toEqual(['bad-ip', 'bad-outside', 'dup-b', 'dup-pool', 'netaddr', 'orphan'])
    const pool = await core.ipam.getPool(admin, 'pool-hostbits')
    expect(pool).toMatchObject({ network: '172.16.5.0/24', vlanId: 12 })
    const ws = await core.ipam.getAllocation(admin, '172.16.5.10')
    expect(ws).toMatchObject({ hostname: 'mixedcase.example.org', mac: 'aa:bb:cc:dd:ee:0f', status: 'allocated', description: 'line1\r\nline2, "quoted" =cmd' })
    expect(await core.ipam.getAllocation(admin, '10.0.3.254')).toMatchObject({ mac: null, hostname: 'x' })
    expect(await core.ipam.getAllocation(admin, '10.100.1.254')).toMatchObject({ status: 'reserved' })
    expect(r.warnings.map((w) => `${w.legacyId}:${w.kind}`)).toContain('ws:invalid_timestamp')
    const again = await core.importer.run(admin, { file: SAMPLE, choices: { fix: true, typeMap: { 'legacy-hold': 'reserved' } } })
    expect(again.created).toEqual({ pools: 0, allocations: 0 })
  })

  it('keeps a deleted object deleted when the file is imported again', async () => {
    await core.ipam.release(admin, '10.0.0.122')
    const r = await core.importer.run(admin, { file: SAMPLE })
    expect(r.created.allocations).toBe(0)
    await expect(core.ipam.getAllocation(admin, '10.0.0.122')).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('runs from the CLI with --json and --report, idempotently', async () => {
    const { url: u2 } = await fresh('imp_cli')
    const csv = path.join(dir, 'skipped.csv')
    const r = await cli(['--database-url', u2, 'import', 'sqlite', SAMPLE, '--report', csv, '--json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const out = r.json()
    expect(out).toMatchObject({ outcome: 'imported', created: { pools: 13, allocations: 1238 }, reportFile: csv })
    expect(out.skipped).toHaveLength(10)
    for (const s of out.skipped) {
      expect(typeof s.legacyId).toBe('string')
      expect(['ip_pools', 'ip_allocations']).toContain(s.table)
      expect(s.reason.length).toBeGreaterThan(10)
    }
    expect(out.skipped.find((s: { legacyId: string }) => s.legacyId === 'hostbits')).toMatchObject({ table: 'ip_pools', kind: 'network_not_canonical' })
    const lines = parseCsv(fs.readFileSync(csv, 'utf8'), { columns: true }) as Record<string, string>[]
    expect(lines).toHaveLength(10)
    expect(lines.find((l) => l.legacy_id === 'bad-mac')).toMatchObject({ table: 'ip_allocations', kind: 'invalid_mac', value: '10.0.3.254', pool: 'pool-0000' })

    const again = await cli(['--database-url', u2, 'import', 'sqlite', SAMPLE, '--json'])
    expect(again.code).toBe(0)
    expect(again.json()).toMatchObject({ created: { pools: 0, allocations: 0 }, counts: { allocations: { alreadyImported: 1238 } } })

    // Text output for people, and a JSON report file.
    const report = path.join(dir, 'report.json')
    const text = await cli(['--database-url', url, 'import', 'sqlite', SAMPLE, '--dry-run', '--on-conflict', 'merge', '--report', report])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('dry run of legacy-ipam-sample.db: nothing was written')
    expect(text.stdout).toContain('already imported')
    expect(JSON.parse(fs.readFileSync(report, 'utf8'))).toMatchObject({ outcome: 'dry-run', choices: { onConflict: 'merge' } })
    expect(sha256(SAMPLE)).toBe(before)
  })
})

describe('the embedded store', () => {
  it('imports the sample the same way into PGlite, once', async () => {
    const dataDir = tempDir('netkeeper-import-embedded-')
    const prev = process.env.NETKEEPER_DATABASE_URL
    delete process.env.NETKEEPER_DATABASE_URL
    const core = await Core.open({ dataDir, migrate: true })
    try {
      expect(core.db.target.kind).toBe('embedded')
      const r = await core.importer.run(admin, { file: SAMPLE })
      expect(r.created).toEqual({ pools: 13, allocations: 1238 })
      expect((await core.importer.run(admin, { file: SAMPLE })).created).toEqual({ pools: 0, allocations: 0 })
      expect(await core.audit.verify(admin)).toMatchObject({ ok: true })
    } finally {
      await core.close()
      if (prev !== undefined) process.env.NETKEEPER_DATABASE_URL = prev
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

describe('cancel', () => {
  it('a cancel at any phase leaves the target exactly as it was', async () => {
    const { core } = await fresh('imp_cancel')
    await core.ipam.createPool(admin, { name: 'existing', network: '192.168.0.0/24' })
    await core.ipam.allocate(admin, { pool: 'existing', next: true, count: 5 })
    const s0 = await snapshot(core)
    for (const phase of ['reading', 'checking', 'pools', 'allocations', 'free-space', 'audit']) {
      const controller = new AbortController()
      const r = await core.importer.run(admin, { file: SAMPLE }, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === phase) controller.abort()
        }
      })
      expect(r.outcome, phase).toBe('cancelled')
      expect(r.created).toEqual({ pools: 0, allocations: 0 })
      expect(await snapshot(core), phase).toEqual(s0)
    }
    // Half-way through the allocations, with a batch on its way to the server.
    const larger = writeCleanLegacyFile(path.join(dir, 'cancel.db'), 20, 250)
    const controller = new AbortController()
    let seen = 0
    const r = await core.importer.run(admin, { file: larger }, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'allocations' && p.done > 0) {
          seen = p.done
          controller.abort()
        }
      }
    })
    expect(r.outcome).toBe('cancelled')
    expect(seen).toBeGreaterThan(0)
    expect(seen).toBeLessThan(5000)
    expect(await snapshot(core)).toEqual(s0)
    // The same run without a cancel goes through.
    const ok = await core.importer.run(admin, { file: SAMPLE })
    expect(ok.created.allocations).toBe(1238)
  })

  it('over IPC: progress while it runs, cancel, then the report as CSV', async () => {
    const { core } = await fresh('imp_ipc')
    const file = writeCleanLegacyFile(path.join(dir, 'ipc.db'), 40, 250)
    const table = createHandlers(core)
    const s0 = await snapshot(core)
    const runId = randomUUID()
    const running = dispatch(table, 'import:run', { file, runId }, admin)
    let progress: ImportProgress | null = null
    for (let i = 0; i < 500 && !progress; i++) {
      const p = await dispatch(table, 'import:progress', { runId }, admin)
      if (p.ok) progress = p.value
      if (!progress) await new Promise((r) => setTimeout(r, 5))
    }
    expect(progress).toMatchObject({ runId, cancellable: true })
    const c = await dispatch(table, 'import:cancel', { runId }, admin)
    expect(c).toEqual({ ok: true, value: { cancelled: true } })
    const done = await running
    expect(done.ok).toBe(true)
    expect((done as { value: ImportReport }).value.outcome).toBe('cancelled')
    expect(await snapshot(core)).toEqual(s0)
    expect(await dispatch(table, 'import:progress', { runId }, admin)).toEqual({ ok: true, value: null })
    expect(await dispatch(table, 'import:cancel', { runId }, admin)).toEqual({ ok: true, value: { cancelled: false } })

    // The wizard's whole path: analyse, dry run, run, report download.
    const an = await dispatch(table, 'import:analyse', { file }, admin)
    expect(an).toMatchObject({ ok: true, value: { source: { pools: 40, allocations: 10_000 }, problems: [] } })
    const dry = await dispatch(table, 'import:dry-run', { file, choices: { onConflict: 'rename' } }, admin)
    expect(dry).toMatchObject({ ok: true, value: { outcome: 'dry-run', created: { pools: 40, allocations: 10_000 } } })
    const run = await dispatch(table, 'import:run', { file }, admin)
    expect(run).toMatchObject({ ok: true, value: { outcome: 'imported', created: { pools: 40, allocations: 10_000 } } })
    const reportId = (run as { value: ImportReport }).value.reportId
    const csv = await dispatch(table, 'import:report', { reportId, format: 'csv' }, admin)
    expect(csv).toMatchObject({ ok: true, value: { mimeType: 'text/csv', content: 'table,legacy_id,row,pool,value,kind,reason,also\r\n' } })
    const json = await dispatch(table, 'import:report', { reportId }, admin)
    expect(JSON.parse((json as { value: { content: string } }).value.content)).toMatchObject({ reportId, outcome: 'imported' })
    // Arguments are checked against the contract first.
    expect(await dispatch(table, 'import:analyse', {}, admin)).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { field: 'file' } } })
    expect(await dispatch(table, 'import:run', { file, choices: { onConflict: 'overwrite' } }, admin)).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION', details: { field: 'choices.onConflict' } }
    })
    expect(await dispatch(table, 'import:report', { reportId: randomUUID() }, admin)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } })
  })
})

describe('clashes with pools already in the target', () => {
  // The sample's pool-0001 is 10.100.1.0/24, pool-0002 10.100.2.0/24, pool-0004 10.100.4.0/24.
  async function target(prefix: string): Promise<Core> {
    const { core } = await fresh(prefix)
    await core.ipam.createPool(admin, { name: 'pool-0001', network: '10.200.1.0/24' }) // same name, other network
    await core.ipam.createPool(admin, { name: 'office', network: '10.100.2.0/24', gateway: '10.100.2.1' }) // same network, other name
    await core.ipam.createPool(admin, { name: 'wide', network: '10.100.4.0/23' }) // contains pool-0004
    await core.ipam.allocate(admin, { pool: 'office', ip: '10.100.2.50', hostname: 'already-here' })
    return core
  }
  const legacy = (name: string) => `${name}`

  it('skip: the clashing pools and their allocations are left out, with the reason', async () => {
    const core = await target('imp_skip')
    const r = await core.importer.run(admin, { file: SAMPLE, choices: { onConflict: 'skip' } })
    expect(r.created.pools).toBe(10)
    const byName = Object.fromEntries(r.pools.map((p) => [p.name, p]))
    expect(byName[legacy('pool-0001')]).toMatchObject({ action: 'skip', targetId: null })
    expect(byName['pool-0002']).toMatchObject({ action: 'skip' })
    expect(byName['pool-0004']).toMatchObject({ action: 'skip' })
    const reasons = r.skipped.filter((s) => s.table === 'ip_pools').map((s) => `${s.pool}:${s.kind}`)
    expect(reasons).toEqual(expect.arrayContaining(['pool-0001:name_clash', 'pool-0002:network_clash', 'pool-0004:network_clash']))
    expect(r.skipped.find((s) => s.pool === 'pool-0002' && s.table === 'ip_allocations')).toMatchObject({ kind: 'pool_skipped' })
    expect((await core.ipam.getPool(admin, 'pool-0001')).network).toBe('10.200.1.0/24')
    expect((await core.ipam.getPool(admin, 'office')).utilization.allocated).toBe(1)
  })

  it('into another space: clashes are checked in that space only, and the pools, addresses and names land there', async () => {
    const core = await target('imp_space')
    await core.ipam.createSpace(admin, { name: 'cust-b' })
    const dry = await core.importer.dryRun(admin, { file: SAMPLE, choices: { onConflict: 'fail', space: 'cust-b' } })
    expect(dry.skipped.filter((s) => s.kind === 'name_clash' || s.kind === 'network_clash')).toEqual([])
    const r = await core.importer.run(admin, { file: SAMPLE, choices: { onConflict: 'fail', space: 'cust-b' } })
    expect(r.created.pools).toBe(13)
    const spaces = await core.db.knex.raw<{ rows: { space: string; n: number }[] }>(
      `select s.name as space, count(*)::int n from ip_pools p join ip_spaces s on s.id = p.space_id group by s.name order by s.name`
    )
    expect(spaces.rows).toEqual([
      { space: 'cust-b', n: 13 },
      { space: 'default', n: 3 }
    ])
    const alloc = await core.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int n from ip_allocations a join ip_spaces s on s.id = a.space_id where s.name = 'cust-b'`)
    expect(alloc.rows[0]!.n).toBe(r.created.allocations)
    // "pool-0001" is now a name in two spaces: by name alone it is ambiguous, by id it is found.
    const amb = await core.ipam.getPool(admin, 'pool-0001').catch((e) => e)
    expect(amb).toMatchObject({ code: 'CONFLICT', details: { field: 'pool' } })
    expect(amb.message).toContain('"cust-b"')
    expect(amb.message).toContain('"default"')
    const ids = amb.details.pools as { id: number; space: string }[]
    expect((await core.ipam.getPool(admin, ids.find((x) => x.space === 'cust-b')!.id)).network).toBe('10.100.1.0/24')
    // The file's rows are imported once, whatever the space: a second run (into the default space) adds nothing.
    expect((await core.importer.run(admin, { file: SAMPLE, choices: { onConflict: 'skip' } })).created).toEqual({ pools: 0, allocations: 0 })
    // An unknown space is refused, naming the field.
    expect(await core.importer.dryRun(admin, { file: SAMPLE, choices: { space: 'nope' } }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'choices.space' } })
  })

  it('rename: a name clash is imported under a new name; an overlapping network cannot be renamed away', async () => {
    const core = await target('imp_rename')
    const r = await core.importer.run(admin, { file: SAMPLE, choices: { onConflict: 'rename' } })
    expect(r.counts.pools).toMatchObject({ created: 10, renamed: 1, skipped: 4 })
    const renamed = await core.ipam.getPool(admin, 'pool-0001-imported')
    expect(renamed).toMatchObject({ network: '10.100.1.0/24' })
    expect(renamed.utilization.allocated + renamed.utilization.reserved).toBe(103)
    expect(r.skipped.find((s) => s.pool === 'pool-0002' && s.table === 'ip_pools')!.reason).toContain('renaming cannot resolve')
    const audit = await core.audit.list(admin, { resourceType: 'ip_pool', resource: 'pool-0001-imported' })
    expect(audit.items[0]!.details.context).toMatchObject({ renamedFrom: 'pool-0001' })
  })

  it('merge: allocations join the existing pool; an address already held there is skipped', async () => {
    const core = await target('imp_merge')
    const seq = await lastSeq(core)
    const r = await core.importer.run(admin, { file: SAMPLE, choices: { onConflict: 'merge' } })
    expect(r.counts.pools).toMatchObject({ created: 10, merged: 3 })
    const office = await core.ipam.getPool(admin, 'office')
    const wide = await core.ipam.getPool(admin, 'wide')
    const inFile = (pool: string): number => {
      const db = new Database(SAMPLE, { readonly: true, fileMustExist: true })
      try {
        return (db.prepare(`select count(*) as n from ip_allocations a join ip_pools p on p.id = a.pool_id where p.name = ?`).get(pool) as { n: number }).n
      } finally {
        db.close()
      }
    }
    const officeTaken = r.skipped.filter((s) => s.pool === 'pool-0002' && s.kind === 'address_in_use')
    const gatewayHits = r.skipped.filter((s) => s.pool === 'pool-0002' && s.kind === 'gateway_address')
    expect(office.utilization.allocated + office.utilization.reserved).toBe(1 + inFile('pool-0002') - officeTaken.length - gatewayHits.length)
    expect(wide.utilization.allocated + wide.utilization.reserved).toBe(inFile('pool-0004'))
    // pool-0001 clashes by name only: its addresses lie outside the existing pool of that name.
    expect(r.skipped.filter((s) => s.pool === 'pool-0001' && s.kind === 'merge_outside').length).toBe(inFile('pool-0001') - 2)
    expect(await core.ipam.getAllocation(admin, '10.100.2.50')).toMatchObject({ hostname: 'already-here' })
    // Merged allocations are audited like any other created object; no pool is created for a merge.
    const rows = await auditRows(core, seq)
    expect(rows.filter((x) => x.resource_type === 'ip_pool').map((x) => x.resource_name)).not.toContain('pool-0002')
    expect(rows.filter((x) => x.resource_type === 'ip_allocation' && x.details.after?.pool === 'office').length).toBe(inFile('pool-0002') - officeTaken.length - gatewayHits.length)
    // Running again adds nothing: the merged pool and its rows are remembered.
    const again = await core.importer.run(admin, { file: SAMPLE, choices: { onConflict: 'merge' } })
    expect(again.created).toEqual({ pools: 0, allocations: 0 })
    expect(again.counts.pools.alreadyImported).toBe(13)
  })

  it('fail: the run is refused and nothing is written; the dry run says so in advance', async () => {
    const core = await target('imp_fail')
    const dry = await core.importer.dryRun(admin, { file: SAMPLE, choices: { onConflict: 'fail' } })
    expect(dry.refusal).toMatchObject({ code: 'CONFLICT' })
    expect(dry.refusal!.message).toContain('clash')
    const s0 = await snapshot(core)
    const err = await core.importer.run(admin, { file: SAMPLE, choices: { onConflict: 'fail' } }).catch((e) => e)
    expect(err).toMatchObject({ code: 'CONFLICT', details: { field: 'onConflict' } })
    expect(err.details.clashes.map((c: ImportProblem) => c.kind)).toEqual(expect.arrayContaining(['name_clash', 'network_clash']))
    const s1 = await snapshot(core)
    expect({ ...s1, seq: null, head: null }).toEqual({ ...s0, seq: null, head: null })
    // The refusal is audited, like every refused change.
    const rows = await auditRows(core, String(s0.seq))
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'create', resource_type: 'import', status: 'failure', resource_name: 'legacy-ipam-sample.db' })
    expect(rows[0]!.details.error?.code).toBe('CONFLICT')
  })

  it('fail from the CLI exits 1 with the error as JSON', async () => {
    const { core, url } = await fresh('imp_failcli')
    await core.ipam.createPool(admin, { name: 'pool-0003', network: '10.210.0.0/24' })
    const r = await cli(['--database-url', url, 'import', 'sqlite', SAMPLE, '--on-conflict', 'fail', '--json'])
    expect(r.code).toBe(1)
    expect(r.json().error).toMatchObject({ code: 'CONFLICT' })
    expect(r.stderr).toContain('pool-0003')
    expect((await core.ipam.listPools(admin, {})).total).toBe(1)
  })
})

describe('files that are not legacy IPAM databases', () => {
  it('refuses them with a reason that names the file, and audits the refusal', async () => {
    const { core, url } = await fresh('imp_refuse')
    const text = path.join(dir, 'notes.txt')
    fs.writeFileSync(text, 'pool,network\nx,10.0.0.0/24\n')
    const empty = path.join(dir, 'empty.db')
    fs.writeFileSync(empty, '')
    const other = path.join(dir, 'other.db')
    const db = new Database(other)
    db.exec('create table customers (id integer primary key, name text)')
    db.close()
    const halfway = path.join(dir, 'halfway.db')
    const h = new Database(halfway)
    h.exec('create table ip_pools (id text primary key, name text); create table ip_allocations (id text, pool_id text, ip_address text, allocation_type text)')
    h.close()
    const cases: [string, string][] = [
      [text, '"notes.txt" is not a SQLite database'],
      [empty, '"empty.db" is empty'],
      [other, '"other.db" is a SQLite database but not a legacy IPAM file: it has no ip_pools or ip_allocations table (tables found: customers'],
      [halfway, '"halfway.db" is not a legacy IPAM file: it lacks the column(s) ip_pools.network'],
      [path.join(dir, 'missing.db'), 'no such file'],
      [dir, 'is a folder']
    ]
    for (const [file, message] of cases) {
      const seq = await lastSeq(core)
      const err = await core.importer.analyse(admin, { file }).catch((e) => e)
      expect(err, file).toMatchObject({ code: 'VALIDATION', details: { field: 'file' } })
      expect(err.message).toContain(message)
      const run = await core.importer.run(admin, { file }).catch((e) => e)
      expect(run).toMatchObject({ code: 'VALIDATION' })
      const rows = await auditRows(core, seq)
      expect(rows.map((x) => `${x.resource_type}:${x.status}`)).toEqual(['import:failure'])
    }
    const r = await cli(['--database-url', url, 'import', 'sqlite', text])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('validation: file: "notes.txt" is not a SQLite database')
    const usage = await cli(['--database-url', url, 'import', 'sqlite', SAMPLE, '--on-conflict', 'overwrite'])
    expect(usage.code).toBe(2)
    expect((await core.ipam.listPools(admin, {})).total).toBe(0)
  })

  it('needs the admin role to import, and audits the refusal', async () => {
    const { core } = await fresh('imp_role')
    const op = ctxAs('operator', 'olga')
    const seq = await lastSeq(core)
    await expect(core.importer.run(op, { file: SAMPLE })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const rows = await auditRows(core, seq)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ action: 'authorize', resource_type: 'import', status: 'failure', user_id: 'olga' })
    // Looking is allowed.
    expect((await core.importer.analyse(op, { file: SAMPLE })).counts.allocations.created).toBe(1238)
  })
})

describe('generated files with other damage', () => {
  const pools: PoolRow[] = [
    { id: 'p-a', name: 'alpha', network: '10.1.0.0/24', gateway: '10.1.0.1', vlan_id: 10, dns_servers: '10.1.0.2, 10.1.0.3' },
    { id: 'p-b', name: 'beta', network: '10.2.0.0/24', gateway: '10.3.0.1', vlan_id: 0 },
    { id: 'p-c', name: ' alpha ', network: '10.4.0.0/24' },
    { id: null, name: 'noid', network: '10.5.0.0/24' },
    { id: 'p-v6', name: 'v6', network: '2001:DB8:1::/48', gateway: null },
    { id: 'p-bad', name: 'bad', network: 'banana' },
    { id: 'p-json', name: 'json', network: '10.6.0.0/24', dns_servers: '["10.6.0.2", "nope"]' },
    { id: 'p-ctl', name: 'ctl\u0007name', network: '10.7.0.0/24', vlan_id: 'abc' }
  ]
  const allocs: AllocRow[] = [
    { id: 'a1', pool_id: 'p-a', ip_address: '10.1.0.10', allocation_type: 'DHCP', mac_address: 'AABB.CCDD.EEFF', hostname: 'Web01' },
    { id: 'a2', pool_id: 'p-a', ip_address: ' 10.1.0.10 ', allocation_type: 'static' },
    { id: 'a3', pool_id: 'p-a', ip_address: '10.1.0.1', allocation_type: 'infrastructure', hostname: 'router' },
    { id: 'a4', pool_id: 'p-a', ip_address: '2001:db8:1::5', allocation_type: 'static' },
    { id: 'a5', pool_id: 'p-missing', ip_address: '10.1.0.20', allocation_type: 'static' },
    { id: 'a6', pool_id: 'p-a', ip_address: '10.1.0.21', allocation_type: 'legacy-hold' },
    { id: 'a7', pool_id: 'p-a', ip_address: '10.1.0.22', allocation_type: 'static', description: 'ok\u0000x', allocated_by: 'x'.repeat(300) },
    { id: 'a8', pool_id: 'p-a', ip_address: '10.1.0.23', allocation_type: 'reserved', created_at: '2024-03-01T10:00:00+02:00' },
    { id: null, pool_id: 'p-a', ip_address: '10.1.0.24', allocation_type: 'static' },
    { id: 'a10', pool_id: 'p-a', ip_address: Buffer.from([10, 1, 0, 26]), allocation_type: 'static' },
    { id: 'a11', pool_id: 'p-b', ip_address: '10.2.0.30', allocation_type: 'static' },
    { id: 'a12', pool_id: 'p-v6', ip_address: '2001:DB8:1::0', allocation_type: 'static' },
    { id: 'a13', pool_id: 'p-a', ip_address: '=HYPERLINK("http://x")', allocation_type: 'static' },
    { id: 'a14', pool_id: 'p-a', ip_address: '10.1.0.27', allocation_type: 'skipme' },
    { id: 'a15', pool_id: 'p-a', ip_address: '10.1.0.28', allocation_type: 'static' },
    { id: 'a16', pool_id: 'p-v6', ip_address: '2001:DB8:1::0A', allocation_type: 'static', hostname: 'v6-host' },
    { id: 'a17', pool_id: 'p-a', ip_address: '10.1.0.29', allocation_type: 'static', hostname: 'Web_01' }
  ]
  let file: string

  beforeAll(() => {
    // Files from older installs lack the modified_at columns.
    file = writeLegacyFile(path.join(dir, 'damaged.db'), pools, allocs, { omit: { ip_pools: ['modified_at'], ip_allocations: ['modified_at'] } })
  })

  it('reports each damage with its reason and suggested fix', async () => {
    const { core } = await fresh('imp_gen')
    const a = await core.importer.analyse(admin, { file, choices: { typeMap: { skipme: 'skip' } } })
    expect(a.source.missingColumns).toEqual(['ip_pools.modified_at', 'ip_allocations.modified_at'])
    const kinds = (id: string | null) => a.problems.filter((p) => p.legacyId === id).map((p) => p.kind)
    expect(kinds('p-b')).toEqual(['invalid_gateway', 'invalid_vlan'])
    expect(find(a.problems, 'p-b', 'invalid_gateway')).toMatchObject({ fix: { value: null }, message: expect.stringContaining('10.3.0.1 is outside 10.2.0.0/24') })
    expect(find(a.problems, 'p-c', 'duplicate_name')).toMatchObject({ fix: { value: 'alpha-imported' } })
    expect(kinds(null)).toEqual(['missing_id', 'missing_id'])
    expect(find(a.problems, 'p-bad', 'invalid_network')!.message).toContain('banana')
    expect(find(a.problems, 'p-json', 'invalid_dns_servers')).toMatchObject({ fix: { value: '["10.6.0.2"]' } })
    expect(find(a.problems, 'p-ctl', 'invalid_vlan')).toBeDefined()
    expect(find(a.problems, 'p-ctl', 'text_cleaned')).toMatchObject({ severity: 'warning' })
    expect(find(a.problems, 'a17', 'invalid_hostname')).toMatchObject({ fix: { value: null }, message: expect.stringContaining('Web_01') })
    expect(find(a.problems, 'a2', 'duplicate_ip')!.message).toContain('a1')
    expect(find(a.problems, 'a3', 'gateway_address')).toBeDefined()
    expect(find(a.problems, 'a4', 'ip_outside_pool')).toMatchObject({ fix: { value: 'v6' } })
    expect(find(a.problems, 'a5', 'orphan_allocation')).toMatchObject({ fix: { value: 'alpha' } })
    expect(find(a.problems, 'a6', 'unknown_allocation_type')).toBeDefined()
    expect(find(a.problems, 'a7', 'text_cleaned')).toMatchObject({ severity: 'warning', outcome: 'imported' })
    expect(find(a.problems, 'a10', 'invalid_ip')).toMatchObject({ value: "x'0a01001a'" })
    expect(find(a.problems, 'a11', 'pool_skipped')!.message).toContain('beta')
    expect(find(a.problems, 'a12', 'network_or_broadcast_address')!.message).toContain('subnet-router anycast')
    expect(find(a.problems, 'a13', 'invalid_ip')).toBeDefined()
    expect(find(a.problems, 'a14', 'type_skipped')).toBeDefined()
    expect(a.problems.filter((p) => p.legacyId === 'a8' || p.legacyId === 'a15' || p.legacyId === 'a16')).toEqual([])
  })

  it('imports with fixes, type mappings and per-row choices as asked', async () => {
    const { core, url } = await fresh('imp_gen2')
    const r = await core.importer.run(admin, {
      file,
      choices: {
        fix: true,
        typeMap: { 'legacy-hold': 'reserved', SKIPME: 'skip' },
        rows: [
          { table: 'ip_allocations', legacyId: 'a15', action: 'skip' },
          { table: 'ip_pools', legacyId: 'p-json', action: 'skip' }
        ]
      }
    })
    const names = (await core.ipam.listPools(admin, {})).items.map((p) => p.name).sort()
    expect(names).toEqual(['alpha', 'alpha-imported', 'beta', 'ctlname', 'v6'])
    expect(await core.ipam.getPool(admin, 'beta')).toMatchObject({ gateway: null, vlanId: null })
    expect(await core.ipam.getPool(admin, 'v6')).toMatchObject({ network: '2001:db8:1::/48' })
    const dns = await core.db.knex.raw<{ rows: { dns: string[] }[] }>(`select array(select host(x) from unnest(dns_servers) x) as dns from ip_pools where name = 'alpha'`)
    expect(dns.rows[0]!.dns).toEqual(['10.1.0.2', '10.1.0.3'])
    expect(await core.ipam.getAllocation(admin, '10.1.0.10')).toMatchObject({ hostname: 'web01', mac: 'aa:bb:cc:dd:ee:ff', dhcpManaged: true, status: 'allocated' })
    expect(await core.ipam.getAllocation(admin, '10.1.0.29')).toMatchObject({ hostname: null })
    expect(await core.ipam.getAllocation(admin, '2001:db8:1::5')).toMatchObject({ poolName: 'v6' })
    expect(await core.ipam.getAllocation(admin, '10.1.0.20')).toMatchObject({ poolName: 'alpha' })
    expect(await core.ipam.getAllocation(admin, '10.1.0.21')).toMatchObject({ status: 'reserved' })
    const a7 = await core.ipam.getAllocation(admin, '10.1.0.22')
    expect(a7.description).toBe('okx')
    expect(a7.allocatedBy).toHaveLength(255)
    expect((await core.ipam.getAllocation(admin, '10.1.0.23')).createdAt).toBe('2024-03-01T08:00:00.000Z')
    expect(await core.ipam.getAllocation(admin, '10.2.0.30')).toMatchObject({ poolName: 'beta' })
    expect(await core.ipam.getAllocation(admin, '2001:db8:1::a')).toMatchObject({ hostname: 'v6-host' })
    for (const gone of ['10.1.0.1', '10.1.0.24', '10.1.0.26', '2001:db8:1::', '10.1.0.27', '10.1.0.28']) {
      await expect(core.ipam.getAllocation(admin, gone), gone).rejects.toMatchObject({ code: 'NOT_FOUND' })
    }
    const why = Object.fromEntries(r.skipped.map((s) => [s.legacyId ?? `row ${s.row}`, s.kind]))
    expect(why).toMatchObject({
      'p-bad': 'invalid_network',
      'p-json': 'skipped_by_choice',
      a2: 'duplicate_ip',
      a3: 'gateway_address',
      a10: 'invalid_ip',
      a12: 'network_or_broadcast_address',
      a13: 'invalid_ip',
      a14: 'type_skipped',
      a15: 'skipped_by_choice'
    })
    expect(r.skipped.filter((s) => s.legacyId === null).map((s) => s.kind)).toEqual(['missing_id', 'missing_id'])
    expect(r.created).toEqual({ pools: 5, allocations: 9 })

    // The CSV report neutralises what a spreadsheet would run as a formula.
    const csv = path.join(dir, 'damaged.csv')
    const c = await cli(['--database-url', url, 'import', 'sqlite', file, '--dry-run', '--report', csv])
    expect(c.code).toBe(0)
    const lines = parseCsv(fs.readFileSync(csv, 'utf8'), { columns: true }) as Record<string, string>[]
    expect(lines.find((l) => l.legacy_id === 'a13')!.value).toBe(`'=HYPERLINK("http://x")`)
  })

  it('imports a clean generated file completely, and a dry run of it changes nothing', async () => {
    const { core } = await fresh('imp_clean')
    const clean = writeCleanLegacyFile(path.join(dir, 'clean.db'), 30, 100)
    const s0 = await snapshot(core)
    const dry = await core.importer.dryRun(admin, { file: clean })
    expect(dry).toMatchObject({ created: { pools: 30, allocations: 3000 }, skipped: [] })
    expect(await snapshot(core)).toEqual(s0)
    const r = await core.importer.run(admin, { file: clean })
    expect(r.created).toEqual({ pools: 30, allocations: 3000 })
    const counts = await core.db.knex.raw<{ rows: { status: string; dhcp: boolean; n: number }[] }>(
      `select status, dhcp_managed as dhcp, count(*)::int as n from ip_allocations group by 1, 2 order by 1, 2`
    )
    expect(counts.rows).toEqual([
      { status: 'allocated', dhcp: false, n: 1500 },
      { status: 'allocated', dhcp: true, n: 750 },
      { status: 'reserved', dhcp: false, n: 750 }
    ])
    expect(await core.audit.verify(admin)).toMatchObject({ ok: true })
  })
})

describe('text search of imported audit rows', () => {
  /** What a search must find: the rows whose details hold the text, by brute force. */
  const truth = async (core: Core, text: string): Promise<string[]> =>
    (
      await core.db.knex.raw<{ rows: { seq: string }[] }>(`select seq::text as seq from audit_logs where strpos(lower(details::text), lower(?)) > 0 order by audit_logs.seq desc`, [text])
    ).rows.map((r) => r.seq)
  const found = async (core: Core, text: string): Promise<string[]> => {
    const seqs: string[] = []
    let before: string | undefined
    for (;;) {
      const page = await core.audit.list(admin, { text, limit: 500, ...(before ? { before } : {}) })
      seqs.push(...page.items.map((e) => e.seq))
      if (!page.nextCursor) break
      before = page.nextCursor
    }
    expect((await core.audit.counts(admin, { text })).total).toBe(seqs.length)
    return seqs
  }
  // A hostname, a legacy id, a MAC, a key with its value, a word in every imported allocation row, a word
  // only outside the import, and a text found both in and outside it.
  const TEXTS = ['host-1007.example', 'alloc-33"', '02:9b:57', '"legacyType": "dhcp"', 'allocatedBy', 'not-imported-marker', 'import']

  it('finds the same rows before the background indexer has run, half-way and after (two at once); a purge takes the copies along', async () => {
    const { core } = await fresh('imp_search')
    await core.ipam.createPool(admin, { name: 'not-imported-marker', network: '192.168.77.0/24' })
    // Stopped first, so the import's rows wait above the indexed point and the first searches test them directly.
    await core.auditSearch.close()
    const file = writeCleanLegacyFile(path.join(dir, 'search.db'), 12, 100)
    const r = await core.importer.run(admin, { file })
    expect(r.created).toEqual({ pools: 12, allocations: 1200 })
    const imported = Number((await core.db.knex.raw<{ rows: { n: string }[] }>(`select count(*)::text as n from audit_logs where source = 'import'`)).rows[0]!.n)
    expect(imported).toBe(12 + 1200 + 1)
    expect(await core.auditSearch.remaining()).toBe(imported)
    for (const t of TEXTS) {
      const want = await truth(core, t)
      expect(want.length, t).toBeGreaterThan(0)
      expect(await found(core, t), t).toEqual(want)
    }

    // Two indexers at once (the app and a CLI, say) take turns without copying a row twice.
    const { ImportSearchIndexer } = await import('../../src/main/core/audit/search-index')
    const second = new ImportSearchIndexer(core.db.knex)
    const [a, b] = await Promise.all([core.auditSearch.drain(), second.drain()])
    expect(a.complete && b.complete).toBe(true)
    expect(a.indexed + b.indexed).toBe(imported)
    expect(await core.auditSearch.remaining()).toBe(0)
    const copies = (await core.db.knex.raw<{ rows: { n: string }[] }>(`select count(*)::text as n from audit_import_search`)).rows[0]!.n
    expect(Number(copies)).toBe(imported)
    for (const t of TEXTS) expect(await found(core, t), t).toEqual(await truth(core, t))
    // Half-way: the rows above the point are tested directly, those below through their copies, none twice
    // (copies above the point, as a step that has not committed its point would leave, are not counted).
    const mid = (await core.db.knex.raw<{ rows: { s: string }[] }>(`select (min(seq) + 600)::text as s from audit_logs where source = 'import'`)).rows[0]!.s
    await core.db.knex.raw(`update audit_import_search_state set last_seq = ?::bigint`, [mid])
    expect(await core.auditSearch.remaining()).toBeGreaterThan(500)
    for (const t of TEXTS) expect(await found(core, t), t).toEqual(await truth(core, t))
    expect((await core.auditSearch.drain()).indexed).toBe(imported - 601)
    expect(await core.auditSearch.remaining()).toBe(0)

    // Retention removes the copies of the rows it removes (a policy per type: without one nothing goes).
    const types = (await core.db.knex.raw<{ rows: { t: string }[] }>(`select distinct resource_type as t from audit_logs where resource_type <> 'audit_log'`)).rows
    for (const { t } of types) await core.audit.setPolicy(admin, { resourceType: t, retentionDays: 365 })
    const archiveDir = path.join(dir, 'search-archive')
    fs.mkdirSync(archiveDir)
    const purged = await core.audit.purge(admin, { now: new Date(Date.now() + 3 * 365 * 86400_000), archiveDir })
    expect(purged.rows).toBeGreaterThan(imported)
    expect(Number((await core.db.knex.raw<{ rows: { n: string }[] }>(`select count(*)::text as n from audit_import_search`)).rows[0]!.n)).toBe(0)
    expect(await found(core, 'host-1007.example')).toEqual([])
    expect(await core.audit.verify(admin)).toMatchObject({ ok: true })
  })
})

describe('text search of imported audit rows from the CLI', () => {
  it('the CLI builds the index before it exits (saying so on stderr, silent with --json)', async () => {
    const { core, url } = await fresh('imp_search_cli')
    const c = await cli(['--database-url', url, 'import', 'sqlite', writeCleanLegacyFile(path.join(dir, 'search-cli.db'), 2, 10)])
    expect(c.code).toBe(0)
    expect(c.stdout).toContain('imported')
    expect(c.stderr).toMatch(/^indexing 23 imported audit row\(s\) for text search .*\nindexed 23 row\(s\) in \d+\.\d s\n$/)
    expect(await core.auditSearch.remaining()).toBe(0)
    const j = await cli(['--database-url', url, '--json', 'import', 'sqlite', writeCleanLegacyFile(path.join(dir, 'search-cli2.db'), 3, 10)])
    expect(j.code).toBe(0)
    expect(j.stderr).toBe('')
    expect(j.json()).toMatchObject({ outcome: 'imported', created: { pools: 1, allocations: 10 } })
    expect(await core.auditSearch.remaining()).toBe(0)
    expect((await core.audit.list(admin, { text: 'alloc-7"' })).items.map((e) => e.resourceName)).toHaveLength(1)
  })
})

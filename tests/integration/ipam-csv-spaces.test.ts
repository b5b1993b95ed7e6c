/**
 * The CSV import and address spaces (issue 16 items 1 and 7) against a real PostgreSQL server:
 * - pool names are checked per space, as the database keys them ((space_id, name), migration
 *   20270106110000): a name held in another space is no clash, one held in the row's own space is;
 * - the import chooses a space: the picked space (the wizard's picker, `--space`) takes the rows that name
 *   none, a space cell in the file wins row by row, an unknown picked space refuses the file naming the field;
 * - an allocation row naming a pool that exists in two spaces, without saying which, is skipped naming the
 *   pool column and listing the spaces; a pool name held in one space only puts the row there;
 * - a file of several write batches (pipelined: the next batch is built and hashed while the previous is
 *   stored) audits every allocation in its batch's audit row, naming the allocation's own id, with tags linked, and the
 *   chain verifies; the embedded store (PGlite) imports the same file the same way;
 * - the audit chain verifies after each import.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { cli } from '../support/cli'
import { auditRows, ctxAs, lastSeq, openCore, perObject } from '../support/core'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-ipam-csv-spaces-'))
process.once('exit', () => fs.rmSync(tmp, { recursive: true, force: true }))

let core: Core
let url: string
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')

function write(name: string, text: string): string {
  const p = path.join(tmp, name)
  fs.writeFileSync(p, text)
  return p
}

async function holders(c: Core, ip: string): Promise<string[]> {
  const r = await c.db.knex.raw<{ rows: { space: string }[] }>(
    `select s.name as space from ip_allocations a join ip_spaces s on s.id = a.space_id where a.ip_address = ?::inet order by s.name`,
    [ip]
  )
  return r.rows.map((x) => x.space)
}

async function verified(c: Core): Promise<boolean> {
  const v = await c.audit.verify(admin)
  return v.ok
}

beforeAll(async () => {
  ;({ core, url } = await openCore('ipamcsvsp'))
  await core.ipam.createSpace(admin, { name: 'cust-a' })
  await core.ipam.createSpace(admin, { name: 'cust-b' })
  // The same name in two spaces ("lan"), a name in one space only ("only-b").
  await core.ipam.createPool(admin, { name: 'lan', network: '10.0.0.0/24', space: 'cust-a' })
  await core.ipam.createPool(admin, { name: 'lan', network: '10.0.0.0/24', space: 'cust-b' })
  await core.ipam.createPool(admin, { name: 'only-b', network: '10.5.0.0/24', space: 'cust-b' })
  await core.ipam.createPool(admin, { name: 'office', network: '10.1.0.0/24' })
  await core.ipam.createPool(admin, { name: 'single-b', network: '10.4.0.0/24', space: 'cust-b' })
})
afterAll(async () => {
  await core?.close()
})

describe('pool names per space', () => {
  it('a name held in another space is no clash; one held in the row\'s own space is, naming the space', async () => {
    const file = write(
      'pools.csv',
      ['space,network,name', 'cust-a,10.7.0.0/24,office', 'default,10.8.0.0/24,office', 'cust-b,10.9.0.0/24,only-b', 'cust-a,10.6.0.0/24,only-b'].join('\n') + '\n'
    )
    const dry = await core.ipamCsv.dryRun(admin, { file, kind: 'pools' })
    expect(dry.counts).toMatchObject({ rows: 4, created: 2, skipped: 2 })
    expect(dry.problems.map((p) => [p.line, p.kind, p.column, p.reason])).toEqual([
      [3, 'name_taken', 'name', 'name: another pool of space "default" is named "office"'],
      [4, 'name_taken', 'name', 'name: another pool of space "cust-b" is named "only-b"']
    ])
    const seq = await lastSeq(core)
    const r = await core.ipamCsv.run(admin, { file, kind: 'pools' })
    expect(r.counts).toMatchObject({ created: 2, skipped: 2 })
    const made = await core.db.knex.raw<{ rows: { space: string; network: string }[] }>(
      `select s.name as space, p.network::text as network from ip_pools p join ip_spaces s on s.id = p.space_id where p.name in ('office', 'only-b') order by 1, 2`
    )
    expect(made.rows).toEqual([
      { space: 'cust-a', network: '10.6.0.0/24' },
      { space: 'cust-a', network: '10.7.0.0/24' },
      { space: 'cust-b', network: '10.5.0.0/24' },
      { space: 'default', network: '10.1.0.0/24' }
    ])
    // One audit row per pool and the import's own row, and the chain verifies.
    expect((await auditRows(core, seq)).map((a) => a.resource_type)).toEqual(['ip_pool', 'ip_pool', 'import'])
    expect(await verified(core)).toBe(true)
  })

  it('renaming an existing pool to a name taken in another space only is allowed', async () => {
    await core.ipam.createPool(admin, { name: 'b-name', network: '10.3.0.0/24', space: 'cust-b' })
    const file = write('rename.csv', 'space,network,name\ncust-a,10.7.0.0/24,b-name\n')
    const r = await core.ipamCsv.run(admin, { file, kind: 'pools', onExisting: 'update' })
    expect(r.problems).toEqual([])
    expect(r.counts).toMatchObject({ updated: 1 })
  })
})

describe('the import chooses a space', () => {
  it('the picked space takes rows that name none; a space cell in the file wins row by row', async () => {
    const file = write('allocs.csv', ['space,ip,hostname', ',10.0.0.10,picked', 'cust-b,10.0.0.11,from-file', 'default,10.1.0.12,default-by-name'].join('\n') + '\n')
    const seq = await lastSeq(core)
    const r = await core.ipamCsv.run(op, { file, kind: 'allocations', space: 'cust-a' })
    expect(r.problems).toEqual([])
    expect(r.counts).toMatchObject({ rows: 3, created: 3 })
    expect(await holders(core, '10.0.0.10')).toEqual(['cust-a'])
    expect(await holders(core, '10.0.0.11')).toEqual(['cust-b'])
    expect(await holders(core, '10.1.0.12')).toEqual(['default'])
    const rows = perObject(await auditRows(core, seq))
    expect(rows.filter((a) => a.resource_type === 'ip_allocation').map((a) => a.details.after)).toEqual([
      expect.objectContaining({ ip: '10.0.0.10', pool: 'lan' }),
      expect.objectContaining({ ip: '10.0.0.11', pool: 'lan' }),
      expect.objectContaining({ ip: '10.1.0.12', pool: 'office' })
    ])
    expect(await verified(core)).toBe(true)
  })

  it('without a space column every row goes into the picked space; with the column ignored too', async () => {
    const a = write('nospace.csv', 'ip,hostname\n10.0.0.20,x\n')
    expect((await core.ipamCsv.run(op, { file: a, kind: 'allocations', space: 'cust-b' })).counts.created).toBe(1)
    expect(await holders(core, '10.0.0.20')).toEqual(['cust-b'])
    const b = write('ignored.csv', 'vrf,ip,hostname\ncust-b,10.0.0.21,y\n')
    const r = await core.ipamCsv.run(op, { file: b, kind: 'allocations', space: 'cust-a', map: { vrf: 'ignore' } })
    expect(r.counts.created).toBe(1)
    expect(await holders(core, '10.0.0.21')).toEqual(['cust-a'])
  })

  it('an unknown picked space refuses the file, naming the field', async () => {
    const file = write('unknown.csv', 'ip\n10.0.0.30\n')
    await expect(core.ipamCsv.dryRun(op, { file, kind: 'allocations', space: 'nowhere' })).rejects.toMatchObject({
      code: 'VALIDATION',
      message: expect.stringMatching(/^space: no address space is named "nowhere" \(there are: cust-a, cust-b, default\)/)
    })
  })

  it('a row naming a pool held in two spaces without saying which is skipped, listing them; one held in one space goes there', async () => {
    const file = write('pool-named.csv', ['space,ip,pool', ',10.0.0.40,lan', ',10.4.0.41,single-b', ',10.0.0.42,10.0.0.0/24', 'cust-a,10.0.0.43,lan'].join('\n') + '\n')
    const dry = await core.ipamCsv.dryRun(op, { file, kind: 'allocations' })
    expect(dry.problems.map((p) => [p.line, p.kind, p.column, p.value, p.reason])).toEqual([
      [2, 'ambiguous_pool', 'pool', 'lan', 'pool: "lan" exists in spaces "cust-a", "cust-b"; say which (a space column, or pick the space for the import)'],
      [4, 'ambiguous_pool', 'pool', '10.0.0.0/24', 'pool: "10.0.0.0/24" exists in spaces "cust-a", "cust-b"; say which (a space column, or pick the space for the import)']
    ])
    const r = await core.ipamCsv.run(op, { file, kind: 'allocations' })
    expect(r.counts).toMatchObject({ created: 2, skipped: 2 })
    expect(await holders(core, '10.4.0.41')).toEqual(['cust-b'])
    expect(await holders(core, '10.0.0.43')).toEqual(['cust-a'])
    // The picker says which.
    const picked = await core.ipamCsv.dryRun(op, { file, kind: 'allocations', space: 'cust-b' })
    expect(picked.problems).toEqual([])
    expect(picked.counts).toMatchObject({ created: 2, unchanged: 2 })
    expect(picked.preview.filter((p) => p.action === 'create').map((p) => [p.line, p.values.pool])).toEqual([
      [2, 'lan'],
      [4, 'lan']
    ])
  })

  it('import csv --space on the CLI', async () => {
    const file = write('cli.csv', 'space,ip,hostname\n,10.0.0.50,cli-picked\ncust-a,10.0.0.51,cli-file\n')
    const r = await cli(['--database-url', url, '--json', 'import', 'csv', file, '--kind', 'allocations', '--space', 'cust-b'])
    expect(r.code).toBe(0)
    expect(r.json()).toMatchObject({ outcome: 'imported', counts: { created: 2 } })
    expect(await holders(core, '10.0.0.50')).toEqual(['cust-b'])
    expect(await holders(core, '10.0.0.51')).toEqual(['cust-a'])
    const bad = await cli(['--database-url', url, 'import', 'csv', file, '--kind', 'allocations', '--space', 'nowhere', '--dry-run'])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toMatch(/space: no address space is named "nowhere"/)
    expect(await verified(core)).toBe(true)
  })
})

/** Rows over several write batches (500 each) in two spaces, some tagged. */
function manyRows(n: number): string {
  const lines = ['space,ip,hostname,tags']
  for (let i = 0; i < n; i++) lines.push(`${i % 3 === 0 ? 'cust-a' : ''},10.20.${i >> 8}.${(i & 255) + 0},h${i},${i % 5 === 0 ? 'web' : ''}`)
  return lines.filter((l) => !/\.0,h/.test(l)).join('\n') + '\n'
}

async function importMany(c: Core, file: string): Promise<void> {
  await c.ipam.createTag(admin, { name: 'web' })
  await c.ipam.createPool(admin, { name: 'many', network: '10.20.0.0/16' })
  await c.ipam.createPool(admin, { name: 'many', network: '10.20.0.0/16', space: 'cust-a' })
  const seq = await lastSeq(c)
  const r = await c.ipamCsv.run(admin, { file, kind: 'allocations', space: 'cust-b' })
  // cust-b holds no pool of 10.20/16: the rows naming no space are skipped there, the cust-a ones imported.
  expect(r.counts.skipped).toBe(r.counts.rows - r.counts.created)
  const r2 = await c.ipamCsv.run(admin, { file, kind: 'allocations' })
  expect(r2.counts.unchanged).toBe(r.counts.created)
  const total = r.counts.created + r2.counts.created
  expect(total).toBe(r.counts.rows)
  // Each allocation is in its batch's audit row (details.rows) under its own id and address, with the after values of its row.
  const rows = await c.db.knex.raw<{ rows: { n: number; bad: number }[] }>(
    `select count(*)::int as n,
            count(*) filter (where a.id is null or host(a.ip_address) <> e->'after'->>'ip' or a.hostname <> e->'after'->>'hostname')::int as bad
       from audit_logs l cross join jsonb_array_elements(l.details->'rows') e left join ip_allocations a on a.id = (e->>'id')::int
      where l.seq > ?::bigint and l.resource_type = 'ip_allocation'`,
    [seq]
  )
  expect(rows.rows[0]).toEqual({ n: total, bad: 0 })
  const tagged = await c.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ip_allocation_tags`)
  expect(tagged.rows[0]!.n).toBe(fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.endsWith(',web')).length)
  expect(await c.audit.verify(admin)).toMatchObject({ ok: true })
}

describe('a file of several write batches', () => {
  it('audits every allocation in its batch row with its own id, tags linked, and the chain verifies', async () => {
    await importMany(core, write('many.csv', manyRows(9000)))
  })

  it('imports the same way into the embedded store (PGlite)', async () => {
    const dataDir = fs.mkdtempSync(path.join(tmp, 'embedded-'))
    const prev = process.env.NETKEEPER_DATABASE_URL
    delete process.env.NETKEEPER_DATABASE_URL
    const c = await Core.open({ dataDir, migrate: true })
    try {
      expect(c.db.target.kind).toBe('embedded')
      await c.ipam.createSpace(admin, { name: 'cust-a' })
      await c.ipam.createSpace(admin, { name: 'cust-b' })
      await importMany(c, write('many-embedded.csv', manyRows(4500)))
    } finally {
      await c.close()
      if (prev !== undefined) process.env.NETKEEPER_DATABASE_URL = prev
    }
  })
})

/**
 * Tags and custom fields as CSV columns (issue 16, item 7 follow-up) against a real PostgreSQL server: the
 * export writes `tags` (names joined by commas) and one formula-safe `cf_<name>` column per custom field;
 * the import reads them back (round trip into an empty database gives the same bytes), checks custom field
 * values with the forms' rules naming the row, the column and the reason, refuses an unknown cf_ column,
 * skips rows naming unknown tags unless the admin chose to create them, and updates tags and fields of an
 * existing key with exact before/after.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { cli } from '../support/cli'
import { auditRows, ctxAs, lastSeq, openCore, perObject } from '../support/core'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-ipam-csv-extras-'))
process.once('exit', () => fs.rmSync(tmp, { recursive: true, force: true }))

let core: Core
let url: string
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')

async function exportText(c: Core, kind: 'pools' | 'allocations', fields?: Record<string, string>): Promise<string> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (b: Buffer) => chunks.push(b))
  await c.ipamCsv.export(op, { kind, ...(fields ? { fields } : {}) }, out)
  out.end()
  return Buffer.concat(chunks).toString('utf8')
}

function write(name: string, text: string): string {
  const p = path.join(tmp, name)
  fs.writeFileSync(p, text)
  return p
}

/** The same definitions and tags in any database. */
async function define(c: Core): Promise<void> {
  await c.ipam.createField(admin, { kind: 'pool', name: 'cost_centre', type: 'text' })
  await c.ipam.createField(admin, { kind: 'allocation', name: 'rack', type: 'integer' })
  await c.ipam.createField(admin, { kind: 'allocation', name: 'monitored', type: 'boolean' })
  await c.ipam.createField(admin, { kind: 'allocation', name: 'tier', type: 'choice', choices: ['gold', 'silver'] })
  await c.ipam.createField(admin, { kind: 'allocation', name: 'since', type: 'date' })
  await c.ipam.createField(admin, { kind: 'allocation', name: 'note', type: 'text' })
  for (const t of ['prod', 'web', 'lab']) await c.ipam.createTag(admin, { name: t })
}

beforeAll(async () => {
  ;({ core, url } = await openCore('ipamcsvx'))
  await define(core)
  await core.ipam.createPool(admin, { name: 'dc', network: '10.9.0.0/24', tags: ['prod'], customFields: { cost_centre: '=4711' } })
  await core.ipam.allocate(op, { pool: 'dc', ip: '10.9.0.10', hostname: 'web1' })
  await core.ipam.updateAllocation(op, { ip: '10.9.0.10', tags: ['web', 'prod'], customFields: { rack: 12, monitored: true, tier: 'gold', since: '2026-01-31', note: '+1, "quoted"' } })
  await core.ipam.allocate(op, { pool: 'dc', ip: '10.9.0.11', hostname: 'db1' })
  await core.ipam.updateAllocation(op, { ip: '10.9.0.11', customFields: { monitored: false } })
})
afterAll(async () => {
  await core?.close()
})

describe('export', () => {
  it('writes tags and one formula-safe cf_ column per custom field', async () => {
    expect((await exportText(core, 'pools')).split('\r\n')).toEqual([
      'space,network,name,gateway,vlan,site,environment,description,dns_servers,active,tags,cf_cost_centre',
      "default,10.9.0.0/24,dc,,,,,,,true,prod,'=4711",
      ''
    ])
    expect((await exportText(core, 'allocations')).split('\r\n')).toEqual([
      'space,ip,pool,status,hostname,mac,owner,owner_dn,purpose,description,reserved_until,dns_managed,dhcp_managed,tags,cf_monitored,cf_note,cf_rack,cf_since,cf_tier',
      'default,10.9.0.10,dc,allocated,web1,,,,,,,false,false,"prod,web",true,"\'+1, ""quoted""",12,2026-01-31,gold',
      'default,10.9.0.11,dc,allocated,db1,,,,,,,false,false,,false,,,,',
      ''
    ])
  })

  it("carries the lists' custom field filter, each value typed as its field (the app's table and the CLI alike)", async () => {
    const ips = async (fields: Record<string, string>): Promise<string[]> =>
      (await exportText(core, 'allocations', fields))
        .split('\r\n')
        .slice(1, -1)
        .map((l) => l.split(',')[1]!)
    expect(await ips({ tier: 'gold' })).toEqual(['10.9.0.10'])
    // Text typed as the field's type: "false" is the boolean, "12" the integer.
    expect(await ips({ monitored: 'false' })).toEqual(['10.9.0.11'])
    expect(await ips({ rack: '12', monitored: 'true' })).toEqual(['10.9.0.10'])
    expect(await ips({ rack: '13' })).toEqual([])
    expect((await exportText(core, 'pools', { cost_centre: '=4711' })).split('\r\n').slice(1, -1)).toEqual(["default,10.9.0.0/24,dc,,,,,,,true,prod,'=4711"])
    expect((await exportText(core, 'pools', { cost_centre: '4711' })).split('\r\n').slice(1, -1)).toEqual([])
    // A field that does not exist, or a value its type refuses: an error naming it, and nothing written.
    expect(await exportText(core, 'allocations', { nope: 'x' }).catch((e) => e)).toMatchObject({ code: 'VALIDATION', details: { field: 'fields.nope' } })
    expect(await exportText(core, 'allocations', { rack: 'twelve' }).catch((e) => e)).toMatchObject({ code: 'VALIDATION' })
    const out = path.join(tmp, 'cli-gold.csv')
    const r = await cli(['--database-url', url, '--json', 'ipam', 'export', '--kind', 'allocations', '--out', out, '--pool', 'dc', '--field', 'tier=gold'])
    expect(r.code).toBe(0)
    expect(r.json()).toMatchObject({ kind: 'allocations', rows: 1 })
    expect(fs.readFileSync(out, 'utf8').split('\r\n')[1]).toMatch(/^default,10\.9\.0\.10,dc,/)
    const bad = await cli(['--database-url', url, 'ipam', 'export', '--kind', 'allocations', '--out', path.join(tmp, 'bad.csv'), '--field', 'nope=1'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/fields\.nope/)
    expect(fs.existsSync(path.join(tmp, 'bad.csv'))).toBe(false)
  })
})

describe('round trip', () => {
  it('an export re-imported changes nothing; an empty database takes it back byte for byte, audited with tags and fields', async () => {
    const pools = write('pools.csv', await exportText(core, 'pools'))
    const allocs = write('allocations.csv', await exportText(core, 'allocations'))
    const before = await lastSeq(core)
    for (const [kind, file, n] of [
      ['pools', pools, 1],
      ['allocations', allocs, 2]
    ] as const) {
      const r = await core.ipamCsv.run(op, { file, kind, onExisting: 'update' })
      expect(r.problems).toEqual([])
      expect(r.counts).toMatchObject({ created: 0, updated: 0, unchanged: n })
    }
    expect((await auditRows(core, before)).map((r) => r.resource_type)).toEqual(['import', 'import'])

    const other = (await openCore('ipamcsvx2')).core
    try {
      await define(other)
      expect((await other.ipamCsv.run(op, { file: pools, kind: 'pools' })).counts).toMatchObject({ created: 1, skipped: 0 })
      const a = await other.ipamCsv.run(op, { file: allocs, kind: 'allocations' })
      expect(a.problems).toEqual([])
      expect(a.counts).toMatchObject({ created: 2, skipped: 0 })
      expect(await exportText(other, 'pools')).toBe(fs.readFileSync(pools, 'utf8'))
      expect(await exportText(other, 'allocations')).toBe(fs.readFileSync(allocs, 'utf8'))
      const web1 = await other.ipam.getAllocation(op, '10.9.0.10', 'default')
      expect(web1.tags).toEqual(['prod', 'web'])
      expect(web1.customFields).toEqual({ monitored: true, note: '+1, "quoted"', rack: 12, since: '2026-01-31', tier: 'gold' })
      const audit = perObject(await auditRows(other, '0')).filter((r) => r.resource_type === 'ip_allocation' && r.resource_name === '10.9.0.10')
      expect(audit).toHaveLength(1)
      expect(audit[0]!.details.after).toMatchObject({ tags: ['prod', 'web'], customFields: { monitored: true, rack: 12, tier: 'gold' } })
    } finally {
      await other.close()
    }
  })
})

describe('checks', () => {
  it('names the row, the column and the reason of a bad custom field value; refuses an unknown cf_ column; skips unknown tags', async () => {
    const file = write(
      'bad.csv',
      [
        'ip,pool,tags,cf_rack,cf_tier,cf_since,cf_monitored',
        '10.9.0.20,dc,web,x12,gold,2026-01-01,yes',
        '10.9.0.21,dc,,3,platinum,,',
        '10.9.0.22,dc,,,,2026-02-30,',
        '10.9.0.23,dc,,,,,maybe',
        '10.9.0.24,dc,"web,nosuch",,,,',
        '10.9.0.25,dc,"lab, web",7,silver,2026-03-01,no'
      ].join('\n') + '\n'
    )
    const r = await core.ipamCsv.dryRun(op, { file, kind: 'allocations' })
    expect(r.problems.map((p) => [p.line, p.kind, p.column])).toEqual([
      [2, 'bad_value', 'cf_rack'],
      [3, 'bad_value', 'cf_tier'],
      [4, 'bad_value', 'cf_since'],
      [5, 'bad_value', 'cf_monitored'],
      [6, 'unknown_tag', 'tags']
    ])
    expect(r.problems[0]!.reason).toBe('cf_rack (custom field rack, integer): must be a whole number, got "x12"')
    expect(r.problems[1]!.reason).toContain('"platinum" is not one of gold, silver')
    expect(r.problems[2]!.reason).toContain('"2026-02-30" is not a date (YYYY-MM-DD)')
    expect(r.problems[4]!.reason).toContain('no tag named "nosuch"')
    expect(r.counts).toMatchObject({ rows: 6, created: 1, skipped: 5 })
    expect(r.newTags).toEqual([])

    const unknown = write('unknown.csv', 'ip,pool,cf_colour\n10.9.0.30,dc,red\n')
    const u = await core.ipamCsv.dryRun(op, { file: unknown, kind: 'allocations' })
    expect(u.refusal?.message).toContain('column "cf_colour": no allocation custom field is named "colour"')
    expect(await core.ipamCsv.run(op, { file: unknown, kind: 'allocations' }).catch((e) => e)).toMatchObject({ code: 'VALIDATION' })
    // A pool field is not an allocation field.
    expect((await core.ipamCsv.dryRun(op, { file: write('pf.csv', 'ip,cf_cost_centre\n10.9.0.31,x\n'), kind: 'allocations' })).refusal).not.toBeNull()

    const seq = await lastSeq(core)
    const ok = await core.ipamCsv.run(op, { file, kind: 'allocations' })
    expect(ok.counts.created).toBe(1)
    const a = await core.ipam.getAllocation(op, '10.9.0.25', 'default')
    expect(a.tags).toEqual(['lab', 'web'])
    expect(a.customFields).toEqual({ monitored: false, rack: 7, since: '2026-03-01', tier: 'silver' })
    expect((await auditRows(core, seq)).map((x) => x.resource_type)).toEqual(['ip_allocation', 'import'])
  })

  it('creates missing tags only when asked, as an admin, each audited', async () => {
    const file = write('newtags.csv', 'ip,pool,tags\n10.9.0.40,dc,"edge,web"\n')
    expect((await core.ipamCsv.dryRun(op, { file, kind: 'allocations', createTags: true })).newTags).toEqual(['edge'])
    expect(await core.ipamCsv.run(op, { file, kind: 'allocations', createTags: true }).catch((e) => e)).toMatchObject({ code: 'FORBIDDEN' })
    expect((await core.ipam.listTags(op)).map((t) => t.name)).not.toContain('edge')
    const seq = await lastSeq(core)
    const r = await core.ipamCsv.run(admin, { file, kind: 'allocations', createTags: true })
    expect(r.newTags).toEqual(['edge'])
    expect((await core.ipam.getAllocation(op, '10.9.0.40', 'default')).tags).toEqual(['edge', 'web'])
    expect((await auditRows(core, seq)).map((x) => [x.resource_type, x.resource_name])).toEqual([
      ['ip_tag', 'edge'],
      ['ip_allocation', '10.9.0.40'],
      ['import', 'newtags.csv']
    ])
  })

  it('a required field: a new row takes its default or is skipped; an existing one cannot be emptied', async () => {
    await core.ipam.createField(admin, { kind: 'allocation', name: 'site_code', type: 'text', required: true, defaultValue: 'HQ' })
    const file = write('req.csv', 'ip,pool,cf_site_code\n10.9.0.50,dc,\n10.9.0.10,dc,\n')
    const r = await core.ipamCsv.run(op, { file, kind: 'allocations', onExisting: 'update' })
    expect(r.counts).toMatchObject({ created: 1, skipped: 1 })
    expect(r.problems[0]).toMatchObject({ line: 3, column: 'cf_site_code', reason: 'cf_site_code (custom field site_code): required: it cannot be cleared' })
    expect((await core.ipam.getAllocation(op, '10.9.0.50', 'default')).customFields).toMatchObject({ site_code: 'HQ' })
    await core.ipam.removeField(admin, { kind: 'allocation', name: 'site_code', force: true })
  })

  it('updates tags and custom fields of an existing key with exact before and after', async () => {
    const file = write('upd.csv', 'ip,pool,tags,cf_rack,cf_tier\n10.9.0.10,dc,lab,13,\n')
    const seq = await lastSeq(core)
    const r = await core.ipamCsv.run(op, { file, kind: 'allocations', onExisting: 'update' })
    expect(r.counts).toMatchObject({ updated: 1 })
    const a = await core.ipam.getAllocation(op, '10.9.0.10', 'default')
    expect(a.tags).toEqual(['lab'])
    // cf_tier emptied: removed; fields without a column kept.
    expect(a.customFields).toEqual({ monitored: true, note: '+1, "quoted"', rack: 13, since: '2026-01-31' })
    const row = perObject(await auditRows(core, seq)).find((x) => x.resource_type === 'ip_allocation')!
    expect(row.details.before).toMatchObject({ tags: ['prod', 'web'], customFields: { rack: 12, tier: 'gold' } })
    expect(row.details.after).toMatchObject({ tags: ['lab'], customFields: { rack: 13 } })
    expect((row.details.after as { customFields: Record<string, unknown> }).customFields.tier).toBeUndefined()
  })
})

describe('the database rules the import relies on (Migration20270105100000)', () => {
  it('a row inserted without custom field values still gets a required default, or is refused without one', async () => {
    const k = core.db.knex
    await core.ipam.createField(admin, { kind: 'allocation', name: 'owner_team', type: 'text', required: true, defaultValue: 'netops' })
    try {
      const pool = (await k.raw<{ rows: { id: number; space_id: number }[] }>(`select id, space_id from ip_pools where name = 'dc'`)).rows[0]!
      await k.raw(`insert into ip_allocations (pool_id, space_id, ip_address, status, allocated_by) values (?, ?, '10.9.0.60', 'allocated', 'sql')`, [pool.id, pool.space_id])
      const r = await k.raw<{ rows: { custom_fields: Record<string, unknown> }[] }>(`select custom_fields from ip_allocations where ip_address = '10.9.0.60'`)
      expect(r.rows[0]!.custom_fields).toMatchObject({ owner_team: 'netops' })
      // Values given are still checked per row.
      expect(
        await k.raw(`insert into ip_allocations (pool_id, space_id, ip_address, status, allocated_by, custom_fields) values (?, ?, '10.9.0.61', 'allocated', 'sql', '{"rack": "x"}')`, [pool.id, pool.space_id]).catch((e) => e)
      ).toMatchObject({ code: '23514', message: expect.stringContaining('custom field rack: must be a whole number') })
      await k.raw(`update ip_custom_fields set default_value = null where name = 'owner_team'`)
      expect(await k.raw(`insert into ip_allocations (pool_id, space_id, ip_address, status, allocated_by) values (?, ?, '10.9.0.62', 'allocated', 'sql')`, [pool.id, pool.space_id]).catch((e) => e)).toMatchObject({
        code: '23514',
        message: expect.stringContaining('custom field owner_team: required')
      })
      await k.raw(`delete from ip_allocations where ip_address = '10.9.0.60'`)
    } finally {
      await core.ipam.removeField(admin, { kind: 'allocation', name: 'owner_team', force: true })
    }
  })

  it('the outbox triggers fire only for DNS- or DHCP-managed rows', async () => {
    const r = await core.db.knex.raw<{ rows: { tgname: string; def: string }[] }>(
      `select tgname, pg_get_triggerdef(oid) as def from pg_trigger where tgrelid = 'ip_allocations'::regclass and tgname like 'ip_allocations_d%_outbox%' order by tgname`
    )
    expect(r.rows.map((x) => x.tgname)).toEqual([
      'ip_allocations_dhcp_outbox_del',
      'ip_allocations_dhcp_outbox_ins',
      'ip_allocations_dhcp_outbox_upd',
      'ip_allocations_dns_outbox_del',
      'ip_allocations_dns_outbox_ins',
      'ip_allocations_dns_outbox_upd'
    ])
    expect(r.rows.find((x) => x.tgname === 'ip_allocations_dns_outbox_upd')!.def).toContain('WHEN ((old.dns_managed OR new.dns_managed))')
  })
})

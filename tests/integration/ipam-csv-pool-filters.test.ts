/**
 * The pools CSV export takes the Pools list's VLAN-group and tag filters (issue 16, item 7: "with the
 * list's filters"), against a real PostgreSQL server: the exported pools are exactly those the list shows
 * for the same filters (the VLAN group alone, with a VID, tags all required), an unknown group or tag is
 * refused naming the field, and the filters are refused for allocations. The CLI's `ipam export --kind pools`
 * takes them as --vlan-group and --tag. The export's search is the list's too (tag names, an address inside
 * the network).
 */
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import type { CsvExportOptions } from '../../src/shared/ipam-csv'
import { ctxAs, openCore } from '../support/core'

let core: Core
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')

async function exported(filters: Omit<CsvExportOptions, 'kind'>, kind: CsvExportOptions['kind'] = 'pools'): Promise<string[]> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (b: Buffer) => chunks.push(b))
  await core.ipamCsv.export(op, { kind, ...filters }, out)
  out.end()
  // The pool names (third column) of the data lines.
  return Buffer.concat(chunks).toString('utf8').split('\r\n').slice(1, -1).map((l) => l.split(',')[2]!)
}

const listed = async (filters: Record<string, unknown>): Promise<string[]> =>
  (await core.ipam.listPools(op, { ...filters, pageSize: 100, sort: 'network', order: 'asc' } as never)).items.map((p) => p.name)

beforeAll(async () => {
  ;({ core } = await openCore('ipamcsvpoolfilters'))
  await core.ipam.createVlanGroup(admin, { name: 'campus' })
  await core.ipam.createVlanGroup(admin, { name: 'dc' })
  await core.ipam.createVlan(admin, { group: 'campus', vid: 10 })
  await core.ipam.createVlan(admin, { group: 'campus', vid: 20 })
  await core.ipam.createVlan(admin, { group: 'dc', vid: 10 })
  await core.ipam.createTag(admin, { name: 'prod' })
  await core.ipam.createTag(admin, { name: 'web' })
  await core.ipam.createPool(admin, { name: 'users', network: '10.1.0.0/24', vlan: 'campus/10', tags: ['prod', 'web'] })
  await core.ipam.createPool(admin, { name: 'voice', network: '10.1.1.0/24', vlan: 'campus/20', tags: ['prod'] })
  await core.ipam.createPool(admin, { name: 'servers', network: '10.2.0.0/24', vlan: 'dc/10', tags: ['web'] })
  await core.ipam.createPool(admin, { name: 'lab', network: '10.3.0.0/24' })
}, 120_000)
afterAll(async () => {
  await core?.close()
})

describe('the pools export with the Pools list filters', () => {
  it('VLAN group and tags give exactly the pools the list shows', async () => {
    for (const f of [{}, { vlanGroup: 'campus' }, { vlanGroup: 'dc' }, { vlanGroup: 'campus', vlanId: 10 }, { vlanId: 10 }, { tags: ['prod'] }, { tags: ['prod', 'web'] }, { tags: ['web'], vlanGroup: 'dc' }]) {
      expect(await exported(f)).toEqual(await listed(f))
    }
    expect(await exported({ vlanGroup: 'campus' })).toEqual(['users', 'voice'])
    expect(await exported({ vlanGroup: 'campus', vlanId: 10 })).toEqual(['users'])
    expect(await exported({ tags: ['prod', 'web'] })).toEqual(['users'])
    expect(await exported({ tags: ['web'] })).toEqual(['users', 'servers'])
  })

  it("searches as the list does: a tag's name and an address inside the network find the pool too", async () => {
    for (const search of ['prod', 'web', '10.1.1.5', '10.2.0', 'ser', 'nothing-like-this']) {
      expect(await exported({ search }), search).toEqual(await listed({ search }))
    }
    expect(await exported({ search: 'prod' })).toEqual(['users', 'voice'])
    expect(await exported({ search: '10.1.1.5' })).toEqual(['voice'])
    expect(await exported({ search: 'nothing-like-this' })).toEqual([])
    // With the other filters: a search inside the VLAN group.
    expect(await exported({ search: 'web', vlanGroup: 'dc' })).toEqual(['servers'])
  })

  it('refuses an unknown group or tag naming the field, and both filters for allocations', async () => {
    expect(await exported({ vlanGroup: 'nowhere' }).catch((e) => e)).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('vlanGroup') })
    expect(await exported({ tags: ['nope'] }).catch((e) => e)).toMatchObject({ code: 'NOT_FOUND', message: 'tags: no tag named "nope"; create it with `netkeeper tag add`' })
    expect(await exported({ vlanGroup: 'campus' }, 'allocations').catch((e) => e)).toMatchObject({ code: 'VALIDATION', message: 'vlanGroup: applies to pools only' })
    expect(await exported({ tags: ['prod'] }, 'allocations').catch((e) => e)).toMatchObject({ code: 'VALIDATION', message: 'tags: applies to pools only' })
  })
})

/**
 * The Pools screen's filter menus read the sites and environments pools name through ipam:pool:facets (two
 * distinct reads) instead of the dashboard's stats, which count every allocation: the same values, sorted,
 * without blanks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { ctxAs, openCore } from '../support/core'

let core: Core
const admin = ctxAs('admin', 'alice')
const viewer = ctxAs('viewer', 'vera')

beforeAll(async () => {
  ;({ core } = await openCore('pool_facets'))
})
afterAll(async () => {
  await core?.close()
})

describe('pool facets', () => {
  it('is empty with no pools', async () => {
    expect(await core.ipam.poolFacets(viewer)).toEqual({ sites: [], environments: [] })
  })

  it('lists each site and environment once, sorted, leaving out pools that name none', async () => {
    await core.ipam.createPool(admin, { name: 'f1', network: '10.61.1.0/24', site: 'rotterdam', environment: 'prod' })
    await core.ipam.createPool(admin, { name: 'f2', network: '10.61.2.0/24', site: 'amsterdam', environment: 'prod' })
    await core.ipam.createPool(admin, { name: 'f3', network: '10.61.3.0/24', site: 'rotterdam', environment: 'lab' })
    await core.ipam.createPool(admin, { name: 'f4', network: '10.61.4.0/24' })
    const facets = await core.ipam.poolFacets(viewer)
    expect(facets).toEqual({ sites: ['amsterdam', 'rotterdam'], environments: ['lab', 'prod'] })
    // The same values the stats give (what the menus offered before).
    const stats = await core.ipam.stats(viewer)
    expect(facets.sites).toEqual(stats.bySite.map((s) => s.site).filter(Boolean))
    expect(facets.environments).toEqual(stats.byEnvironment.map((s) => s.environment).filter(Boolean))
  })
})

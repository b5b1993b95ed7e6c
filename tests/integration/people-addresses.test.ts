/**
 * People and their addresses, against the real slapd and PostgreSQL: allocations owned by a directory
 * person (DN + display name; free text still allowed), a person's addresses, deletion with "release" as
 * one request id across the directory and IPAM audit rows with the addresses free afterwards, locking with
 * a hand-over, and IPAM following a rename of the DN.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandScope } from '../../src/main/core/auth/service'
import { auditRows, lastSeq } from '../support/core'
import { openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'

const skip = slapdMissing()
let fx: DirectoryFixture
let admin: CommandScope
const dnOf = (uid: string): string => `uid=${uid},${fx.usersDn}`

beforeAll(async () => {
  if (skip) return
  fx = await openDirectory('people')
  admin = await fx.admin()
  let n = 45000
  for (const [uid, given] of [['pat', 'Pat'], ['quinn', 'Quinn'], ['rene', 'René']]) await fx.core.directory.users.create(admin, { uid, sn: 'Person', givenName: given, uidNumber: n++ })
  await fx.core.ipam.createPool(fx.ctx, { name: 'people-net', network: '10.77.0.0/24' })
})
afterAll(async () => {
  await fx?.close()
})

describe.skipIf(skip)('people and their addresses', () => {
  it('allocates to a directory person (DN + name), lists the addresses on their page, keeps free text working', async () => {
    for (const ip of ['10.77.0.10', '10.77.0.11']) await fx.core.ipam.allocate(fx.ctx, { pool: 'people-net', ip, owner: 'Pat Person', ownerDn: dnOf('pat') })
    const [next] = await fx.core.ipam.allocate(fx.ctx, { pool: 'people-net', next: true, owner: 'Pat Person', ownerDn: dnOf('pat') })
    expect(next).toMatchObject({ owner: 'Pat Person', ownerDn: dnOf('pat') })
    const [free] = await fx.core.ipam.allocate(fx.ctx, { pool: 'people-net', ip: '10.77.0.50', owner: 'the lab printer' })
    expect(free).toMatchObject({ owner: 'the lab printer', ownerDn: null })
    await expect(fx.core.ipam.allocate(fx.ctx, { pool: 'people-net', ip: '10.77.0.51', ownerDn: 'not a dn' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'ownerDn' } })
    const page = await fx.core.people.addresses(admin, 'pat')
    expect(page).toMatchObject({ uid: 'pat', dn: dnOf('pat'), cn: 'Pat Person' })
    expect(page.allocations.map((a) => a.ip).sort()).toEqual(['10.77.0.1', '10.77.0.10', '10.77.0.11'].sort())
  })

  it('deletes a person with "release": one request id across the directory and IPAM audit rows, the addresses free', async () => {
    const seq = await lastSeq(fx.core)
    const r = await fx.core.people.retire(admin, { uid: 'pat', action: 'delete', addresses: 'release' })
    expect(r.released.sort()).toEqual(['10.77.0.1', '10.77.0.10', '10.77.0.11'].sort())
    expect(r.errors).toEqual([])
    const rows = await auditRows(fx.core, seq)
    const types = new Set(rows.filter((x) => x.status === 'success').map((x) => x.resource_type))
    expect(types).toEqual(new Set(['ldap_user', 'ip_allocation']))
    expect(new Set(rows.map((x) => x.request_id))).toEqual(new Set([admin.ctx.requestId]))
    expect(rows.filter((x) => x.resource_type === 'ip_allocation' && x.action === 'delete')).toHaveLength(3)
    for (const ip of r.released) await expect(fx.core.ipam.getAllocation(fx.ctx, ip)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect(await fx.core.ipam.ownedBy(dnOf('pat'))).toEqual([])
  })

  it('locks a person handing the addresses over to another, and IPAM follows a rename of the DN', async () => {
    await fx.core.ipam.allocate(fx.ctx, { pool: 'people-net', ip: '10.77.0.20', owner: 'Quinn Person', ownerDn: dnOf('quinn') })
    const r = await fx.core.people.retire(admin, { uid: 'quinn', action: 'lock', addresses: 'handover', to: 'rene' })
    expect(r).toMatchObject({ handedOver: ['10.77.0.20'], to: { uid: 'rene' }, errors: [] })
    expect(await fx.core.ipam.getAllocation(fx.ctx, '10.77.0.20')).toMatchObject({ owner: 'René Person', ownerDn: dnOf('rene') })
    await expect(fx.core.people.retire(admin, { uid: 'rene', action: 'lock', addresses: 'handover' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'to' } })

    const seq = await lastSeq(fx.core)
    await fx.core.directory.users.rename(admin, { uid: 'rene', newUid: 'renee' })
    expect(await fx.core.ipam.getAllocation(fx.ctx, '10.77.0.20')).toMatchObject({ owner: 'René Person', ownerDn: dnOf('renee') })
    const rows = (await auditRows(fx.core, seq)).filter((x) => x.resource_type === 'ip_allocation')
    expect(rows).toEqual([expect.objectContaining({ action: 'update', status: 'success', resource_name: '10.77.0.20', request_id: admin.ctx.requestId })])
    expect((await fx.core.people.addresses(admin, 'renee')).allocations.map((a) => a.ip)).toEqual(['10.77.0.20'])
  })
})

/**
 * DHCP leases on the subnet map, in real Chromium through the browser harness: a pool mapped to a Kea
 * database made by kea-admin on the suite's PostgreSQL, with leases as kea-dhcp4 writes them. The legend
 * lists the leased states, a leased allocated address shows its lease in the tooltip, and a lease on an
 * address IPAM calls free is its own colour, named as such. Screenshot: test-results/map-leased.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { freshDatabase, withClient } from '../support/db'
import { keaDatabase } from '../support/kea'
import { cellPoint, goTo, gridGeometry, hasChromium, openSession, shot, type Session } from './support'

const skip = !hasChromium
if (skip) console.warn('[e2e map-leased] skipped: no Chromium at /usr/bin/chromium')

let s: Session
let core: Core

beforeAll(async () => {
  if (skip) return
  const url = await freshDatabase('e2e_leased')
  s = await openSession(url, 'leased')
  core = await Core.open({ databaseUrl: url, dataDir: s.dataDir, migrate: true })
  const kea = await keaDatabase()
  const admin = makeContext({ actor: 'alice', roles: ['admin'], source: 'ui' })
  await core.dhcp.addServer(admin, { name: 'kea1', host: kea.host, port: kea.port, database: kea.database, user: 'postgres' })
  await core.ipam.createPool(admin, { name: 'office', network: '198.18.50.0/24', gateway: '198.18.50.1' })
  await core.dhcp.setPoolDhcp(admin, { pool: 'office', server: 'kea1', subnetId: 50 })
  await core.ipam.addRange(admin, { pool: 'office', first: '198.18.50.100', last: '198.18.50.199', purpose: 'dhcp' })
  for (let i = 10; i < 30; i++) await core.ipam.allocate(admin, { pool: 'office', ip: `198.18.50.${i}`, hostname: `pc-${i}`, mac: `02:00:00:00:50:${i}` })
  // Leases as kea-dhcp4 writes them: on some allocated addresses, many from the dhcp range, two on free addresses.
  const leased = [12, 13, 14, 20, 21, ...Array.from({ length: 40 }, (_, i) => 100 + i), 60, 61]
  await withClient(kea.url, async (c) => {
    for (const last of leased) {
      await c.query(
        `insert into lease4 (address, hwaddr, valid_lifetime, expire, subnet_id, fqdn_fwd, fqdn_rev, hostname, state)
         values ((198::bigint << 24) + (18 << 16) + (50 << 8) + $1, decode($2, 'hex'), 3600, now() + interval '1 hour', 50, false, false, $3, 0)`,
        [last, `0200000051${last.toString(16).padStart(2, '0')}`, last === 60 ? 'rogue-laptop' : `client-${last}`]
      )
    }
  })
}, 240_000)
afterAll(async () => {
  await core?.close()
  await s?.close()
})

describe.skipIf(skip)('subnet map: DHCP leases', () => {
  it('draws leased addresses in their own colours, with the legend and the lease in the tooltip', { timeout: 120_000 }, async () => {
    const { page } = s
    await goTo(page, 'IPAM')
    await page.getByTestId('pools-table').locator('tr[data-pool="office"]').click()
    await page.getByRole('heading', { level: 1, name: 'office' }).waitFor()
    const legend = page.getByRole('group', { name: 'Legend' })
    await legend.locator('[data-state="leased"]').waitFor()
    expect(await legend.locator('[data-state="leased"]').textContent()).toMatch(/Leased \(DHCP\)\s*5/)
    expect(await legend.locator('[data-state="leased-range"]').textContent()).toMatch(/Leased from a DHCP range\s*40/)
    expect(await legend.locator('[data-state="leased-free"]').textContent()).toMatch(/Leased, free in IPAM\s*2/)
    const tip = page.getByTestId('map-tooltip')
    // A leased allocation: its details and its lease.
    const p = await cellPoint(page, 12)
    await page.mouse.move(p.x, p.y)
    await tip.filter({ hasText: 'Host: pc-12' }).waitFor()
    expect(await tip.textContent()).toContain('Leased to 02:00:00:00:51:0c (client-12)')
    // A lease IPAM does not know about; the map and its legend in view for the picture.
    await legend.evaluate((el) => el.scrollIntoView({ block: 'end' }))
    const g = await gridGeometry(page)
    const box = (await g.canvas.boundingBox())!
    await page.mouse.move(box.x + (60 % g.cols) * g.pitch + g.cell / 2, box.y + Math.floor(60 / g.cols) * g.pitch + g.cell / 2)
    await tip.filter({ hasText: 'rogue-laptop' }).waitFor()
    const text = await tip.textContent()
    expect(text).toContain('Leased, free in IPAM')
    expect(text).toContain('IPAM calls this address free')
    await shot(page, 'map-leased')
    expect(s.problems).toEqual([])
  })
})

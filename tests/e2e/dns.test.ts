/**
 * The DNS screen in real Chromium through the browser harness, against the suite's named: the zones list,
 * a zone's record table (search, paging, the allocation behind each record) and the drift screen with a
 * repair. Screenshots go to test-results/ (dns-zones, dns-records, dns-drift).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { freshDatabase } from '../support/db'
import { nsupdate, dig } from '../support/named'
import { hasChromium, invoke, openSession, shot, type Session } from './support'

const named = inject('named')
const skip = !hasChromium || !named.available
if (skip) console.warn(`[e2e dns] skipped: ${!hasChromium ? 'no Chromium at /usr/bin/chromium' : `named is not available (${named.reason})`}`)

let s: Session
let core: Core
const Z = { forward: 'ui.test', reverse: '100.51.198.in-addr.arpa' }

beforeAll(async () => {
  if (skip) return
  const url = await freshDatabase('e2e_dns')
  s = await openSession(url, 'dns')
  core = await Core.open({ databaseUrl: url, dataDir: s.dataDir, migrate: true })
  const admin = makeContext({ actor: 'alice', roles: ['admin'], source: 'ui' })
  await core.dns.addServer(admin, { name: 'ns1', address: '127.0.0.1', port: named.port, keyName: named.keyName, secret: named.secret })
  await core.dns.addZone(admin, { server: 'ns1', name: Z.forward, ttl: 300 })
  await core.dns.addZone(admin, { server: 'ns1', name: Z.reverse, ttl: 300 })
  await core.ipam.createPool(admin, { name: 'ui-net', network: '198.51.100.128/25' })
  await core.dns.setPoolDns(admin, { pool: 'ui-net', zone: Z.forward, ptr: true })
  for (let i = 0; i < 60; i++) await core.ipam.allocate(admin, { pool: 'ui-net', ip: `198.51.100.${130 + i}`, hostname: `host-${String(i).padStart(2, '0')}`, dnsManaged: true })
  // The harness's own worker applies them too (the app runs one): wait until nothing is pending.
  for (let t = Date.now(); Date.now() - t < 120_000; ) {
    await core.outbox.drain(5000)
    if (!(await core.outbox.status()).counts.pending) break
    await new Promise((r) => setTimeout(r, 200))
  }
  nsupdate(named, [`update add printer.${Z.forward} 300 A 198.51.100.250`])
}, 240_000)
afterAll(async () => {
  await core?.close()
  await s?.close()
})

describe.skipIf(skip)('DNS screen', () => {
  it('lists the zones, opens a zone record table with search and paging', { timeout: 120_000 }, async () => {
    const { page } = s
    expect(dig(named, `host-07.${Z.forward}`)).toEqual(['198.51.100.137'])
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'DNS & DHCP', exact: true }).click()
    const zones = page.getByRole('table', { name: 'Zones' })
    await zones.getByRole('link', { name: Z.forward }).waitFor()
    await expect.poll(() => zones.getByRole('row').count()).toBe(3)
    await shot(page, 'dns-zones')
    await zones.getByRole('link', { name: Z.forward }).click()
    const records = page.getByRole('table', { name: 'Records' })
    await records.getByText(`host-00.${Z.forward}`).waitFor()
    await expect.poll(() => page.getByRole('navigation', { name: 'Record pages' }).textContent()).toContain('of 63')
    await shot(page, 'dns-records')
    await page.getByRole('searchbox', { name: 'Search records' }).fill('host-42')
    await expect.poll(() => records.getByRole('row').count()).toBe(2)
    expect(await records.getByRole('row').nth(1).textContent()).toMatch(/host-42\.ui\.test.*198\.51\.100\.172.*ui-net/)
  })

  it('shows drift and repairs a line towards the zone', { timeout: 120_000 }, async () => {
    const { page } = s
    await page.getByRole('tab', { name: 'Drift', exact: true }).click()
    await page.getByRole('button', { name: 'Check now' }).click()
    const table = page.getByRole('table', { name: 'Drift' })
    const row = table.getByRole('row', { name: new RegExp(`printer\\.${Z.forward.replace('.', '\\.')}`) })
    await row.waitFor()
    expect(await row.textContent()).toContain('Record without allocation')
    await shot(page, 'dns-drift')
    await row.getByRole('button', { name: 'Fix zone' }).click()
    await page.getByText('No drift: the zones hold what the allocations say.').waitFor()
    expect(dig(named, `printer.${Z.forward}`)).toEqual([])
    expect(s.problems).toEqual([])
  })

  it('shows the pool DNS zone and its reverse-zone coverage on the pool page', { timeout: 60_000 }, async () => {
    const { page } = s
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'IPAM', exact: true }).click()
    await page.getByTestId('pools-table').locator('tr[data-pool="ui-net"]').click()
    await page.getByRole('heading', { level: 1, name: 'ui-net' }).waitFor()
    const dd = page.getByTestId('pool-dns-records')
    await dd.waitFor()
    expect((await dd.textContent())!.replace(/\s+/g, ' ')).toContain(`names in ${Z.forward}; PTR on · reverse: ${Z.reverse}`)
    await shot(page, 'dns-pool')
  })

  it("gives the subnet map's tooltip the allocation's DNS name and state", async () => {
    const a = await invoke(s.harness, 'ipam:allocation:get', { ip: '198.51.100.137' })
    expect(a.sideEffects).toEqual({ dns: { names: ['host-07.ui.test'], ptr: 'host-07.ui.test', state: 'done', message: expect.stringContaining('host-07.ui.test A') }, dhcp: null })
  })
})

/**
 * Setting up DNS and DHCP in the app, in real Chromium through the browser harness, against the run's named
 * and a Kea database made by kea-admin: a name server added with its TSIG secret (typed once, never shown
 * again), tested; a Kea server added and tested; a zone added (a zone the server does not serve refused on
 * its field); a pool's zone and Kea subnet picked on its page, its existing allocations published; DHCP drift
 * shown and repaired. Screenshots: test-results/dns-setup.png, pool-dns-dhcp.png, dhcp-drift.png.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { freshDatabase, withClient } from '../support/db'
import { keaDatabase } from '../support/kea'
import { dig } from '../support/named'
import { goTo, hasChromium, openSession, shot, type Session } from './support'

const named = inject('named')
const skip = !hasChromium || !named.available
if (skip) console.warn(`[e2e dns-setup] skipped: ${!hasChromium ? 'no Chromium at /usr/bin/chromium' : `named is not available (${named.reason})`}`)

let s: Session
let core: Core
let kea: Awaited<ReturnType<typeof keaDatabase>>
const ZONE = named.zones.uiSetupForward

beforeAll(async () => {
  if (skip) return
  const url = await freshDatabase('e2e_dnssetup')
  s = await openSession(url, 'dnssetup')
  core = await Core.open({ databaseUrl: url, dataDir: s.dataDir, migrate: true })
  kea = await keaDatabase()
  const admin = makeContext({ actor: 'alice', roles: ['admin'], source: 'ui' })
  await core.ipam.createPool(admin, { name: 'branch', network: '198.18.60.0/24', gateway: '198.18.60.1' })
  for (const i of [10, 11]) await core.ipam.allocate(admin, { pool: 'branch', ip: `198.18.60.${i}`, hostname: `br${i}`, mac: `02:00:00:00:60:${i}`, dnsManaged: true, dhcpManaged: false })
  // A lease Kea handed out on an address IPAM calls free (subnet 60, inside the pool).
  await withClient(kea.url, (c) =>
    c.query(
      `insert into lease4 (address, hwaddr, valid_lifetime, expire, subnet_id, fqdn_fwd, fqdn_rev, hostname, state)
       values ((198::bigint << 24) + (18 << 16) + (60 << 8) + 77, decode('020000006077', 'hex'), 3600, now() + interval '1 hour', 60, false, false, 'laptop', 0)`
    )
  )
}, 240_000)
afterAll(async () => {
  await core?.close()
  await s?.close()
})

describe.skipIf(skip)('DNS & DHCP set-up', () => {
  it('adds and tests a name server and a Kea server; the secret is not shown again', { timeout: 120_000 }, async () => {
    const { page } = s
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'DNS & DHCP', exact: true }).click()
    await page.getByRole('tab', { name: 'Set-up' }).click()
    await page.getByRole('button', { name: 'Add name server' }).click()
    await page.locator('#dns-server-name').fill('ns1')
    await page.locator('#dns-server-address').fill('127.0.0.1')
    await page.locator('#dns-server-port').fill(String(named.port))
    await page.locator('#dns-server-key').fill(named.keyName)
    await page.locator('#dns-server-secret').fill(named.secret)
    await page.getByRole('button', { name: 'Add server' }).click()
    const servers = page.getByRole('table', { name: 'Name servers' })
    const row = servers.locator('tr[data-server="ns1"]')
    await row.waitFor()
    await expect.poll(() => row.getByTestId('dns-server-check').textContent(), { timeout: 20_000 }).toContain('reached')
    expect(await page.content()).not.toContain(named.secret)

    await page.getByRole('button', { name: 'Add Kea server' }).click()
    await page.locator('#dhcp-server-name').fill('kea1')
    await page.locator('#dhcp-server-host').fill(kea.host)
    await page.locator('#dhcp-server-port').fill(String(kea.port))
    await page.locator('#dhcp-server-database').fill(kea.database)
    await page.locator('#dhcp-server-user').fill('postgres')
    await page.getByRole('button', { name: 'Add server' }).click()
    const keaRow = page.getByRole('table', { name: 'Kea servers' }).locator('tr[data-server="kea1"]')
    await keaRow.waitFor()
    await expect.poll(() => keaRow.getByTestId('dhcp-server-check').textContent(), { timeout: 20_000 }).toMatch(/reached.*1 lease/)
    await shot(page, 'dns-setup')
  })

  it('adds a zone after the server check; a zone it does not serve is refused on its field', { timeout: 60_000 }, async () => {
    const { page } = s
    await page.getByRole('tab', { name: 'Zones' }).click()
    await page.getByRole('button', { name: 'Add zone' }).click()
    await page.locator('#dns-zone-name').fill('not-served.test')
    await page.getByRole('button', { name: 'Add zone' }).last().click()
    await expect.poll(() => page.locator('#dns-zone-name-err').textContent()).toMatch(/refuses zone not-served\.test/)
    await page.locator('#dns-zone-name').fill(ZONE)
    await page.getByRole('button', { name: 'Add zone' }).last().click()
    await page.getByRole('table', { name: 'Zones' }).getByRole('link', { name: ZONE }).waitFor()
    await shot(page, 'dns-zones-setup')
  })

  it("picks the pool's zone and Kea subnet on its page and publishes its allocations", { timeout: 120_000 }, async () => {
    const { page } = s
    expect(dig(named, `br10.${ZONE}`)).toEqual([])
    await goTo(page, 'IPAM')
    await page.getByTestId('pools-table').locator('tr[data-pool="branch"]').click()
    await page.getByRole('heading', { level: 1, name: 'branch' }).waitFor()
    await page.getByTestId('pool-dns-dhcp-edit').click()
    await page.locator('#pool-dns-zone').selectOption(ZONE)
    await page.getByTestId('pool-dns-publish').waitFor()
    expect(await page.getByTestId('pool-dns-publish').textContent()).toContain('Publish its 2 existing allocation(s)')
    await page.locator('#pool-dhcp-server').selectOption('kea1')
    // The picker offers subnet 60 (its lease is inside this pool) first, and picks it.
    await expect.poll(() => page.locator('#pool-dhcp-subnet').inputValue()).toBe('60')
    expect(await page.locator('#pool-dhcp-subnet option').first().textContent()).toContain('60 · 0 reservation(s), 1 lease(s), 1 in this pool')
    await shot(page, 'pool-dns-dhcp')
    await page.getByRole('button', { name: 'Save', exact: true }).click()
    await expect.poll(() => page.getByTestId('pool-dhcp').textContent()).toMatch(/Kea\s*kea1, subnet id 60/)
    expect((await page.getByTestId('pool-dns-records').textContent())!.replace(/\s+/g, ' ')).toContain(`names in ${ZONE}`)
    await expect.poll(() => dig(named, `br10.${ZONE}`), { timeout: 20_000 }).toEqual(['198.18.60.10'])
    expect(dig(named, `br11.${ZONE}`)).toEqual(['198.18.60.11'])
  })

  it('shows DHCP drift and repairs a line towards IPAM', { timeout: 60_000 }, async () => {
    const { page } = s
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'DNS & DHCP', exact: true }).click()
    await page.getByRole('tab', { name: 'DHCP drift' }).click()
    await page.getByRole('button', { name: 'Check now' }).click()
    const row = page.getByRole('table', { name: 'DHCP drift' }).locator('tr[data-ip="198.18.60.77"]')
    await row.waitFor()
    expect(await row.textContent()).toMatch(/Lease on a free address.*branch.*02:00:00:00:60:77 laptop/)
    await shot(page, 'dhcp-drift')
    await row.getByRole('button', { name: 'Fix IPAM' }).click()
    await page.getByText('No drift: Kea holds what the allocations say.').waitFor()
    expect((await core.ipam.getAllocation(makeContext({ actor: 't', roles: ['admin'], source: 'ui' }), '198.18.60.77')).mac).toBe('02:00:00:00:60:77')
    expect(s.problems).toEqual([])
  })
})

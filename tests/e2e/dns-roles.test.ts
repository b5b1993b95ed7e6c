/**
 * The DNS & DHCP screens by role, in real Chromium through the browser harness: the app runs as a database
 * login the server grants netkeeper_viewer, then one it grants netkeeper_operator (the role requests run
 * with when nobody is signed in to the directory). A viewer sees no Set-up tab, "Add zone", "Remove" and the
 * pool's "DNS & DHCP settings…" disabled with a tooltip saying who may, and the drift lines with their
 * repair and ignore buttons disabled; an operator may repair and ignore drift but still not set up.
 * Screenshots: test-results/dns-roles-viewer.png, dns-roles-viewer-drift.png, dns-roles-operator-drift.png.
 *
 * The drift line is an allocation with DNS on whose outbox row was set aside (ignored) before any worker
 * ran: the record is never written, so the shared zone of the run's named is only read, never changed.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { Core } from '../../src/main/core'
import { grantRole } from '../../src/main/core/db/roles'
import { ctxAs } from '../support/core'
import { freshDatabase, withClient } from '../support/db'
import { goTo, hasChromium, openSession, shot, type Session } from './support'

const named = inject('named')
const skip = !hasChromium || !named.available
if (skip) console.warn(`[e2e dns-roles] skipped: ${!hasChromium ? 'no Chromium at /usr/bin/chromium' : `named is not available (${named.reason})`}`)

const suffix = randomBytes(3).toString('hex')
const logins = { viewer: `nk_e2e_viewer_${suffix}`, operator: `nk_e2e_operator_${suffix}` }
const ZONE = named.zones.forward
const HOST = `roles-${suffix}`

let url: string
let owner: Core

function urlAs(login: string): string {
  const u = new URL(url)
  u.username = login
  u.password = ''
  return u.toString()
}

beforeAll(async () => {
  if (skip) return
  url = await freshDatabase('e2e_dnsroles')
  owner = await Core.open({ databaseUrl: url, dataDir: '/nonexistent-netkeeper-test', migrate: true })
  const admin = ctxAs('admin', 'alice')
  await owner.dns.addServer(admin, { name: 'ns1', address: '127.0.0.1', port: named.port, keyName: named.keyName, secret: named.secret })
  await owner.dns.addZone(admin, { server: 'ns1', name: ZONE, ttl: 300 })
  await owner.ipam.createPool(admin, { name: 'roles-net', network: '192.0.2.0/24' })
  await owner.dns.setPoolDns(admin, { pool: 'roles-net', zone: ZONE, ptr: false })
  await owner.ipam.allocate(admin, { pool: 'roles-net', ip: '192.0.2.77', hostname: HOST, dnsManaged: true })
  // No worker has run (this core's is not started): its record is set aside, so drift shows it missing.
  await withClient(url, (c) => c.query(`update outbox set state = 'ignored', done_at = now() where state = 'pending'`))
  await withClient(url, async (c) => {
    for (const l of Object.values(logins)) await c.query(`create role "${l}" login`)
  })
  for (const [role, login] of Object.entries(logins)) await grantRole(owner.db, ctxAs('admin', 'dba'), login, role as 'viewer' | 'operator')
}, 240_000)

afterAll(async () => {
  await owner?.close()
  // Roles are cluster-wide: drop the test's own.
  if (!skip) {
    await withClient(inject('pgUrl'), async (c) => {
      for (const l of Object.values(logins)) {
        await c.query(`drop owned by "${l}" cascade`).catch(() => undefined)
        await c.query(`drop role if exists "${l}"`).catch(() => undefined)
      }
    }).catch(() => undefined)
  }
})

async function openDns(s: Session): Promise<void> {
  await s.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'DNS & DHCP', exact: true }).click()
  await s.page.getByRole('table', { name: 'Zones' }).getByRole('link', { name: ZONE }).waitFor()
}

/** The drift screen checked for every zone, and the line of this test's allocation. */
async function driftLine(s: Session) {
  await s.page.getByRole('tab', { name: 'Drift', exact: true }).click()
  await s.page.getByRole('button', { name: 'Check now' }).click()
  const row = s.page.getByRole('table', { name: 'Drift' }).getByRole('row', { name: new RegExp(HOST) })
  await row.waitFor({ timeout: 30_000 })
  return row
}

describe.skipIf(skip)('DNS & DHCP screens by role', () => {
  it('a viewer sees no set-up, zone and pool settings disabled with who may, and drift it cannot repair', { timeout: 180_000 }, async () => {
    const s = await openSession(urlAs(logins.viewer), 'dnsroles-viewer')
    try {
      const { page } = s
      await openDns(s)
      expect(await page.getByRole('tab', { name: 'Set-up' }).count()).toBe(0)
      const add = page.getByRole('button', { name: 'Add zone' })
      expect(await add.isDisabled()).toBe(true)
      expect(await add.getAttribute('title')).toMatch(/Only an admin/)
      const remove = page.getByRole('button', { name: `Remove zone ${ZONE}` })
      expect(await remove.isDisabled()).toBe(true)
      expect(await remove.getAttribute('title')).toMatch(/Only an admin/)
      await shot(page, 'dns-roles-viewer')

      const row = await driftLine(s)
      expect(await row.textContent()).toContain('Allocation without record')
      for (const name of ['Fix zone', 'Ignore']) {
        const b = row.getByRole('button', { name })
        expect(await b.isDisabled()).toBe(true)
        expect(await b.getAttribute('title')).toMatch(/operator or admin/)
      }
      expect(await page.getByRole('button', { name: 'Repair all in the zones' }).isDisabled()).toBe(true)
      await shot(page, 'dns-roles-viewer-drift')

      await goTo(page, 'IPAM')
      await page.getByTestId('pools-table').locator('tr[data-pool="roles-net"]').click()
      const settings = page.getByTestId('pool-dns-dhcp-edit')
      await settings.waitFor()
      expect(await settings.isDisabled()).toBe(true)
      expect(await settings.getAttribute('title')).toMatch(/Only an admin/)
      expect(s.problems).toEqual([])
    } finally {
      await s.close()
    }
  })

  it('an operator may repair and ignore drift, but still not set up', { timeout: 180_000 }, async () => {
    const s = await openSession(urlAs(logins.operator), 'dnsroles-operator')
    try {
      const { page } = s
      await openDns(s)
      expect(await page.getByRole('tab', { name: 'Set-up' }).count()).toBe(0)
      expect(await page.getByRole('button', { name: 'Add zone' }).isDisabled()).toBe(true)
      expect(await page.getByRole('button', { name: `Remove zone ${ZONE}` }).isDisabled()).toBe(true)
      const row = await driftLine(s)
      for (const name of ['Fix zone', 'Ignore']) {
        const b = row.getByRole('button', { name })
        expect(await b.isDisabled()).toBe(false)
        expect((await b.getAttribute('title')) ?? '').not.toMatch(/operator or admin/)
      }
      await shot(page, 'dns-roles-operator-drift')
      // Ignoring is allowed (and changes nothing on the server): the line leaves the list of open ones.
      await row.getByRole('button', { name: 'Ignore' }).click()
      await expect.poll(() => row.count()).toBe(0)
      expect(s.problems).toEqual([])
    } finally {
      await s.close()
    }
  })
})

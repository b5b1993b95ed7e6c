/**
 * Offline work in a real Chromium over the web harness, on a PostgreSQL server of this file's own that the
 * test stops and starts: the pool stays readable (marked as last-known data), an allocation made on the map
 * is queued (the toast and the status bar say so, the queue drawer lists it), and once the server is back
 * the app replays it by itself and the address shows as allocated. Screenshots go to test-results/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPostgres, type PgServer } from '../support/postgres'
import { clickCell, goTo, hasChromium, invoke, openSession, shot, type Session } from './support'

if (!hasChromium) console.warn('[e2e] skipping the offline screen test: /usr/bin/chromium is not installed (apt-get install chromium)')

describe.skipIf(!hasChromium)('working offline in the app', () => {
  let srv: PgServer
  let s: Session

  beforeAll(async () => {
    process.env.NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS = '1500'
    srv = await startPostgres()
    s = await openSession(await srv.createDatabase('nk_e2e_offline'), 'offline')
  })

  afterAll(async () => {
    await s?.close()
    await srv?.stop()
    delete process.env.NETKEEPER_POOL_ACQUIRE_TIMEOUT_MS
  })

  it('queues a map allocation while the server is down and applies it when it is back', async () => {
    const { page, harness } = s
    await invoke(harness, 'ipam:pool:create', { name: 'field', network: '10.77.0.0/24', gateway: '10.77.0.1' })
    await invoke(harness, 'ipam:allocate', { pool: 'field', ip: '10.77.0.5', hostname: 'switch-a' })
    // An empty replay also saves the last-known snapshot (the app does this at start and every 10 minutes).
    await invoke(harness, 'offline:queue:replay', {})
    const indicator = page.getByTestId('offline-indicator')
    await indicator.filter({ hasText: 'No queued edits' }).waitFor()

    srv.pause!()
    await goTo(page, 'IPAM')
    await page.getByTestId('pools-table').locator('tr[data-pool="field"]').click()
    await page.getByRole('heading', { level: 1, name: 'field' }).waitFor()
    await page.getByTestId('stale-pool').waitFor()
    expect(await page.getByTestId('stale-pool').textContent()).toContain('Last-known data from')

    await clickCell(page, 20)
    const dialog = page.getByRole('dialog', { name: 'Allocate 10.77.0.20' })
    await dialog.getByLabel('Host name').fill('laptop-20')
    await dialog.getByRole('button', { name: 'Allocate', exact: true }).click()
    await page.getByTestId('toast').filter({ hasText: /Queued as #\d+, not done yet: allocate 10\.77\.0\.20 in pool field\. The database is unreachable/ }).waitFor()
    await indicator.filter({ hasText: 'Offline · 1 queued' }).waitFor({ timeout: 15_000 })
    await shot(page, 'offline-pool-stale')

    await indicator.click()
    const drawer = page.getByTestId('queue-drawer')
    await drawer.waitFor()
    const entry = drawer.locator('[data-state="queued"]')
    expect(await entry.count()).toBe(1)
    expect(await entry.textContent()).toContain('allocate 10.77.0.20 in pool field')
    expect(await page.getByTestId('queue-replay').isDisabled()).toBe(true)
    await shot(page, 'offline-queue')
    await page.keyboard.press('Escape')

    srv.resume!()
    // The app's monitor probes with backoff, sees the server, and replays the queue by itself.
    await page.getByTestId('toast').filter({ hasText: 'Applied 1 queued edit(s)' }).waitFor({ timeout: 60_000 })
    await indicator.filter({ hasText: 'No queued edits' }).waitFor({ timeout: 15_000 })
    const a = await invoke(harness, 'ipam:allocation:get', { ip: '10.77.0.20' })
    expect(a).toMatchObject({ hostname: 'laptop-20', status: 'allocated' })
    expect(a.stale).toBeUndefined()
    expect(s.problems.filter((p) => !/Failed to load resource/.test(p))).toEqual([])
  })
})

/**
 * The allocations table over a long page in a real Chromium over the web harness and a real PostgreSQL:
 * a page of 2,400 allocations draws only the rows in sight (a virtual list), the DOM stays the same size
 * after scrolling to the end, and the rows at the end are the page's last addresses, in order. A short
 * page is drawn whole.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDatabase } from '../support/db'
import { goTo, hasChromium, invoke, openSession, shot, type Session } from './support'

if (!hasChromium) console.warn('[e2e] skipping the allocations window test: /usr/bin/chromium is not installed (apt-get install chromium)')

describe.skipIf(!hasChromium)('the allocations table draws a window of rows', () => {
  let s: Session

  beforeAll(async () => {
    s = await openSession(await freshDatabase('nk_e2e_alloc_window'), 'alloc-window')
    await invoke(s.harness, 'ipam:pool:create', { name: 'window-net', network: '10.12.0.0/20' })
    for (let i = 0; i < 3; i++) await invoke(s.harness, 'ipam:allocate', { pool: 'window-net', next: true, count: 800, owner: 'bulk' })
    await invoke(s.harness, 'ipam:pool:create', { name: 'short-net', network: '10.13.0.0/24' })
    await invoke(s.harness, 'ipam:allocate', { pool: 'short-net', next: true, count: 30, owner: 'few' })
  })

  afterAll(async () => {
    await s?.close()
  })

  const table = (page: Page) => page.getByTestId('pool-allocations')
  const rows = (page: Page) => table(page).locator('tbody tr[data-ip]')
  const jump = (page: Page, to: 'top' | 'bottom') => page.locator('#main').evaluate((el, where) => el.scrollTo(0, where === 'top' ? 0 : el.scrollHeight), to)
  const ips = (page: Page) => rows(page).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-ip')!))
  const toNumber = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0)

  async function openPool(page: Page, name: string): Promise<void> {
    await goTo(page, 'IPAM')
    // From a pool's page, its breadcrumb leads back to the list.
    const back = page.getByRole('button', { name: 'Pools', exact: true })
    if (await back.isVisible()) await back.click()
    await page.getByTestId('pools-table').locator(`tr[data-pool="${name}"]`).click()
  }

  it('keeps the DOM bounded over a page of 2,400 rows, before and after scrolling to its end', async () => {
    const { page } = s
    await openPool(page, 'window-net')
    await rows(page).first().waitFor()
    await page.getByRole('navigation', { name: 'Allocation pages' }).locator('select').selectOption('5000')
    await expect.poll(() => table(page).getAttribute('data-rows')).toBe('2400')
    expect(await table(page).getAttribute('data-windowed')).toBe('yes')
    // The whole pool fits on one page now, and the pager stays to choose a shorter page again.
    expect(await page.getByRole('navigation', { name: 'Allocation pages' }).locator('select').inputValue()).toBe('5000')
    expect(await rows(page).first().getAttribute('data-ip')).toBe('10.12.0.1')
    const before = await page.locator('#main tbody tr').count()
    expect(before).toBeLessThan(80)

    // Scroll through the page in steps (each step asks the virtualizer for the rows in sight), then to its end.
    for (let y = 0; y < 20; y++) {
      await page.locator('#main').evaluate((el) => el.scrollBy(0, el.clientHeight * 3))
      await page.waitForTimeout(30)
    }
    await jump(page, 'bottom')
    await expect.poll(async () => (await ips(page)).includes('10.12.9.96')).toBe(true)
    const seen = await ips(page)
    // The last rows are the page's last addresses, in order (10.12.0.1 ... 10.12.9.96, 2,400 of them).
    expect(seen[seen.length - 1]).toBe('10.12.9.96')
    expect(seen.map(toNumber).every((n, i, all) => i === 0 || n === all[i - 1]! + 1)).toBe(true)
    expect(Number(await rows(page).last().getAttribute('aria-rowindex'))).toBe(2401)
    expect(await page.locator('#main tbody tr').count()).toBeLessThan(80)
    await shot(page, 'allocations-window-bottom')

    await jump(page, 'top')
    await expect.poll(() => rows(page).first().getAttribute('data-ip')).toBe('10.12.0.1')
    expect(await page.locator('#main tbody tr').count()).toBeLessThan(80)
    expect(s.problems).toEqual([])
  })

  it('draws a short page whole', async () => {
    const { page } = s
    await openPool(page, 'short-net')
    await expect.poll(() => rows(page).count()).toBe(30)
    expect(await table(page).getAttribute('data-windowed')).toBe('no')
    expect(await table(page).locator('tr.spacer').count()).toBe(0)
  })
})

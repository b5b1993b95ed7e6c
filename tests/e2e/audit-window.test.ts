/**
 * The audit viewer over more rows than its window (1,000) in a real Chromium over the web harness and a
 * real PostgreSQL: jumping to the end reads every page and lets the newest rows go (the window and the
 * DOM stay bounded), and jumping back to the top reads them back, newest first.
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDatabase } from '../support/db'
import { goTo, hasChromium, invoke, openSession, type Session } from './support'

if (!hasChromium) console.warn('[e2e] skipping the audit window test: /usr/bin/chromium is not installed (apt-get install chromium)')

describe.skipIf(!hasChromium)('the audit viewer keeps a bounded window of rows', () => {
  let s: Session
  let total: number

  beforeAll(async () => {
    s = await openSession(await freshDatabase('nk_e2e_audit_window'), 'audit-window')
    await invoke(s.harness, 'ipam:pool:create', { name: 'window-net', network: '10.11.0.0/20', site: 'lab' })
    // One audit row per address: 2,400 rows and the pool's own.
    for (let i = 0; i < 3; i++) await invoke(s.harness, 'ipam:allocate', { pool: 'window-net', next: true, count: 800, owner: 'bulk' })
    total = (await invoke(s.harness, 'audit:counts', {})).total
  })

  afterAll(async () => {
    await s?.close()
  })

  const table = (page: Page) => page.getByTestId('audit-table')
  const drawn = (page: Page) => table(page).locator('tbody tr[data-seq]')
  const attr = async (page: Page, name: string) => Number(await table(page).getAttribute(name))
  const jump = (page: Page, to: 'top' | 'bottom') => page.locator('#main').evaluate((el, where) => el.scrollTo(0, where === 'top' ? 0 : el.scrollHeight), to)

  it('lets rows go past its window while scrolling down, and reads them back on the way up', async () => {
    const { page } = s
    expect(total).toBeGreaterThan(2400)
    await goTo(page, 'Audit')
    await page.getByTestId('audit-summary').filter({ hasText: '100 newest entries loaded' }).waitFor()
    const newest = await drawn(page).first().getAttribute('data-seq')

    for (let i = 0; i < 60; i++) {
      if ((await page.getByTestId('audit-summary').textContent())?.startsWith('All ')) break
      await jump(page, 'bottom')
      await page.waitForTimeout(100)
    }
    await page.getByTestId('audit-summary').filter({ hasText: `All ${total.toLocaleString('en-US')} matching entries, newest first` }).waitFor()
    await jump(page, 'bottom')
    // The oldest row (the pool's creation) is drawn at the end; the window holds 1,000 rows, the rest are counted.
    await expect.poll(async () => (await drawn(page).last().textContent())?.includes('ip_pool')).toBe(true)
    expect(await attr(page, 'data-window')).toBe(1000)
    expect(await attr(page, 'data-offset')).toBe(total - 1000)
    expect(await drawn(page).count()).toBeLessThan(60)
    expect(await page.locator('#main tbody tr').count()).toBeLessThan(80)

    for (let i = 0; i < 80; i++) {
      if ((await attr(page, 'data-offset')) === 0) break
      await jump(page, 'top')
      await page.waitForTimeout(100)
    }
    expect(await attr(page, 'data-offset')).toBe(0)
    await jump(page, 'top')
    await expect.poll(() => drawn(page).first().getAttribute('data-seq')).toBe(newest)
    const seqs = (await drawn(page).evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))))) as number[]
    expect(seqs.every((v, i) => i === 0 || v === seqs[i - 1]! - 1)).toBe(true)
    expect(await attr(page, 'data-window')).toBeLessThanOrEqual(1000)
  })
})

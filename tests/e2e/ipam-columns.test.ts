/**
 * Custom fields as table columns (issue 16, item 6: "shown in forms and tables, filterable, searchable") in a
 * real Chromium over the web harness and a real PostgreSQL: the Columns menu of the Pools table and of a pool's
 * allocations table, values drawn by type, sorting and filtering by a custom field column, the choice kept
 * across a reload, and the windowed allocations table drawing the chosen columns. Screenshots go to
 * test-results/ (copied to docs/screenshots after looking at them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDatabase } from '../support/db'
import { goTo, hasChromium, invoke, openSession, shot, type Session } from './support'

if (!hasChromium) console.warn('[e2e] skipping the IPAM column tests: /usr/bin/chromium is not installed (apt-get install chromium)')

describe.skipIf(!hasChromium)('custom field columns', () => {
  let s: Session

  beforeAll(async () => {
    s = await openSession(await freshDatabase('nk_e2e_columns'), 'columns')
    const h = s.harness
    const field = (input: Record<string, unknown>) => invoke(h, 'ipam:object:edit', { action: 'field.add', input } as never)
    await field({ kind: 'pool', name: 'rack', type: 'integer', label: 'Rack' })
    await field({ kind: 'pool', name: 'monitored', type: 'boolean', label: 'Monitored' })
    await field({ kind: 'pool', name: 'wiki', type: 'url', label: 'Wiki' })
    await field({ kind: 'pool', name: 'commissioned', type: 'date', label: 'Commissioned' })
    await field({ kind: 'pool', name: 'tier', type: 'choice', choices: ['gold', 'silver'], label: 'Tier' })
    await field({ kind: 'allocation', name: 'asset', type: 'text', label: 'Asset tag' })
    await field({ kind: 'allocation', name: 'warranty', type: 'date', label: 'Warranty until' })
    const pools: [string, string, Record<string, string | number | boolean>][] = [
      ['core-ams', '10.40.0.0/22', { rack: 12, monitored: true, wiki: 'https://wiki.example.net/ipam/core-ams', commissioned: '2024-03-09', tier: 'gold' }],
      ['lab-fra', '10.41.0.0/24', { rack: 3, monitored: false, tier: 'silver' }],
      ['dmz-ams', '10.42.0.0/24', { rack: 40, monitored: true, commissioned: '2025-11-30', tier: 'gold' }],
      ['guest-wifi', '10.43.0.0/23', {}]
    ]
    for (const [name, network, customFields] of pools) await invoke(h, 'ipam:pool:create', { name, network, site: name.split('-')[1] ?? null, customFields })
    // 150 allocations: past the 100 rows from which the table draws only the rows in sight.
    const made = (await invoke(h, 'ipam:allocate', { pool: 'core-ams', next: true, count: 150, owner: 'noc' })) as { ip: string }[]
    await invoke(h, 'ipam:bulk-edit', { pool: 'core-ams', ips: made.map((a) => a.ip), set: { fields: { warranty: '2027-06-30' } } })
    for (const [i, tag] of [
      [0, 'AMS-0042'],
      [1, 'AMS-0007'],
      [2, 'AMS-0100']
    ] as const)
      await invoke(h, 'ipam:allocation:update', { ip: made[i]!.ip, customFields: { asset: tag } })
  })

  afterAll(async () => {
    await s?.close()
  })

  const header = (col: string) => s.page.locator(`[data-testid="pools-table"] th[data-column="${col}"]`)
  const poolOrder = () => s.page.locator('[data-testid="pools-table"] tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-pool')))

  it('shows pool custom fields as columns, drawn by type, sortable and filterable', async () => {
    const { page } = s
    await goTo(page, 'IPAM')
    await page.getByRole('button', { name: 'Table' }).click()
    await page.getByTestId('pools-table').waitFor()
    expect(await header('cf:rack').count()).toBe(0)
    await page.getByTestId('pools-columns').click()
    const panel = page.getByTestId('pools-columns-panel')
    for (const col of ['cf:rack', 'cf:monitored', 'cf:wiki', 'cf:commissioned', 'cf:tier']) await panel.locator(`input[data-column="${col}"]`).check()
    // Built-in columns taken away (no pool here has an environment or a VLAN).
    await panel.locator('input[data-column="environment"]').uncheck()
    await panel.locator('input[data-column="vlan"]').uncheck()
    await panel.getByRole('button', { name: 'Done' }).click()
    await header('cf:rack').waitFor()
    expect(await header('environment').count()).toBe(0)
    const row = page.locator('[data-testid="pools-table"] tr[data-pool="core-ams"]')
    expect(await row.locator('td[data-column="cf:monitored"] .bool').getAttribute('data-value')).toBe('true')
    expect((await row.locator('td[data-column="cf:monitored"]').textContent())?.trim()).toContain('✓')
    expect(await row.locator('td[data-column="cf:wiki"] a').getAttribute('href')).toBe('https://wiki.example.net/ipam/core-ams')
    expect(await row.locator('td[data-column="cf:wiki"] a').getAttribute('target')).toBe('_blank')
    // The date in the reader's locale (en-US in this browser), never shifted by the time zone.
    expect(await row.locator('td[data-column="cf:commissioned"] time').getAttribute('datetime')).toBe('2024-03-09')
    expect((await row.locator('td[data-column="cf:commissioned"]').textContent())?.trim()).toBe('Mar 9, 2024')
    expect((await row.locator('td[data-column="cf:tier"]').textContent())?.trim()).toBe('gold')
    expect((await page.locator('tr[data-pool="lab-fra"] td[data-column="cf:monitored"]').textContent())?.trim()).toBe('no')
    expect((await page.locator('tr[data-pool="guest-wifi"] td[data-column="cf:rack"]').textContent())?.trim()).toBe('–')

    // Sorting by the integer column: numerically, pools without a value last, then descending.
    await header('cf:rack').getByRole('button').click()
    await expect.poll(poolOrder).toEqual(['lab-fra', 'core-ams', 'dmz-ams', 'guest-wifi'])
    expect(await header('cf:rack').getAttribute('aria-sort')).toBe('ascending')
    await header('cf:rack').getByRole('button').click()
    await expect.poll(poolOrder).toEqual(['dmz-ams', 'core-ams', 'lab-fra', 'guest-wifi'])

    await shot(page, 'ipam-pools-custom-columns')

    // Filtering by a choice field.
    await page.getByTestId('pool-filter-field').selectOption('tier')
    await page.getByTestId('pool-filter-field-value').selectOption('gold')
    await expect.poll(poolOrder).toEqual(['dmz-ams', 'core-ams'])
    await page.getByRole('button', { name: 'Clear filters' }).click()
    await expect.poll(async () => (await poolOrder()).length).toBe(4)
  })

  it('keeps the chosen pool columns across a reload, per connection and login', async () => {
    const { page } = s
    const keys = await page.evaluate(() => Object.keys((globalThis as unknown as { localStorage: object }).localStorage).filter((k) => k.startsWith('netkeeper.columns.v1|')))
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatch(/\|pools$/)
    await page.reload()
    await goTo(page, 'IPAM')
    await page.getByRole('button', { name: 'Table' }).click()
    await header('cf:wiki').waitFor()
    for (const col of ['cf:rack', 'cf:monitored', 'cf:commissioned', 'cf:tier', 'site', 'utilization']) expect(await header(col).count(), col).toBe(1)
    expect(await header('environment').count()).toBe(0)
    expect(await header('vlan').count()).toBe(0)
  })

  it('shows allocation custom fields in the windowed allocations table, sorts by them, and keeps them across a reload', async () => {
    const { page } = s
    await page.getByRole('button', { name: 'core-ams', exact: true }).click()
    await page.getByRole('heading', { level: 1, name: 'core-ams' }).waitFor()
    const table = page.getByTestId('pool-allocations')
    await table.locator('tbody tr[data-ip]').first().waitFor()
    await page.getByTestId('allocations-columns').click()
    const panel = page.getByTestId('allocations-columns-panel')
    await panel.locator('input[data-column="cf:asset"]').check()
    await panel.locator('input[data-column="cf:warranty"]').check()
    await panel.locator('input[data-column="mac"]').uncheck()
    await page.keyboard.press('Escape')
    await panel.waitFor({ state: 'detached' })
    const head = (col: string) => table.locator(`th[data-column="${col}"]`)
    await head('cf:asset').waitFor()
    expect(await head('mac').count()).toBe(0)
    await page.getByRole('navigation', { name: 'Allocation pages' }).locator('select').selectOption('200')
    await expect.poll(() => table.getAttribute('data-windowed')).toBe('yes')
    const first = table.locator('tbody tr[data-ip]').first()
    expect((await first.locator('td[data-column="cf:asset"]').textContent())?.trim()).toBe('AMS-0042')
    expect((await first.locator('td[data-column="cf:warranty"]').textContent())?.trim()).toBe('Jun 30, 2027')
    // Sorted by the asset tag: the three tagged addresses first, in text order; the rest after them.
    await head('cf:asset').getByRole('button').click()
    const assets = () => table.locator('tbody tr[data-ip] td[data-column="cf:asset"]').evaluateAll((tds) => tds.slice(0, 4).map((t) => t.textContent?.trim()))
    await expect.poll(assets).toEqual(['AMS-0007', 'AMS-0042', 'AMS-0100', '–'])
    expect(await head('cf:asset').getAttribute('aria-sort')).toBe('ascending')
    // The window keeps drawing the chosen columns as it scrolls.
    await page.locator('.shell-main').evaluate((el) => el.scrollBy(0, 3000))
    await expect.poll(async () => Number(await table.locator('tbody tr[data-ip]').last().getAttribute('data-index'))).toBeGreaterThan(60)
    expect(await table.locator('tbody tr[data-ip]').last().locator('td[data-column="cf:warranty"] time').count()).toBe(1)
    await page.locator('.shell-main').evaluate((el) => el.scrollTo(0, 0))
    // Filtering by a custom field value.
    await page.getByTestId('alloc-filter-field').selectOption('asset')
    await page.getByTestId('alloc-filter-field-value').fill('AMS-0100')
    await expect.poll(() => table.locator('tbody tr[data-ip]').count()).toBe(1)
    await page.getByTestId('alloc-filter-field').selectOption('')
    await expect.poll(() => table.locator('tbody tr[data-ip]').count()).toBeGreaterThan(1)
    await expect.poll(assets).toEqual(['AMS-0007', 'AMS-0042', 'AMS-0100', '–'])
    // The allocations card at the top of the view: its toolbar, the headers and the first rows.
    await page.locator('#pool-allocations').evaluate((el) => el.scrollIntoView({ block: 'start' }))
    await shot(page, 'ipam-allocations-custom-columns')

    await page.reload()
    await goTo(page, 'IPAM')
    await page.getByRole('button', { name: 'Table' }).click()
    await page.getByRole('button', { name: 'core-ams', exact: true }).click()
    await page.getByRole('heading', { level: 1, name: 'core-ams' }).waitFor()
    await head('cf:asset').waitFor()
    expect(await head('cf:warranty').count()).toBe(1)
    expect(await head('mac').count()).toBe(0)
    expect(s.problems).toEqual([])
  })
})

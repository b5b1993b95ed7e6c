/**
 * The pool tree in a real Chromium over the web harness and a real PostgreSQL: build a tree (a container and a
 * child through the New pool dialog, with the CIDR calculator under the network), take the next free /26
 * from the tree, split a pool from its page, expand and collapse, the container's heat map, a dhcp range.
 * Screenshots go to test-results/ (copied to docs/screenshots by hand after looking at them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDatabase } from '../support/db'
import { goTo, hasChromium, invoke, openSession, shot, type Session } from './support'

if (!hasChromium) console.warn('[e2e] skipping the pool tree tests: /usr/bin/chromium is not installed (apt-get install chromium)')

describe.skipIf(!hasChromium)('the pool tree', () => {
  let s: Session

  beforeAll(async () => {
    s = await openSession(await freshDatabase('nk_e2e_tree'), 'tree')
  })

  afterAll(async () => {
    await s?.close()
  })

  const toast = (text: string | RegExp) => s.page.getByTestId('toast').filter({ hasText: text })

  it('builds a tree, takes the next free /26 and splits it', async () => {
    const { page } = s
    await goTo(page, 'IPAM')
    await page.getByRole('button', { name: 'Tree' }).click()
    await page.getByText('No pools in the default space yet.').waitFor()

    // A container, with the calculator under the network field.
    await page.getByRole('button', { name: 'New pool' }).click()
    let dialog = page.getByRole('dialog', { name: 'New pool' })
    await dialog.getByLabel('Name').fill('campus')
    await dialog.getByLabel('Network (CIDR)').fill('10.20.0.0/16')
    const calc = dialog.getByTestId('cidr-facts')
    await calc.waitFor()
    expect(await calc.textContent()).toContain('255.255.0.0')
    expect(await calc.textContent()).toContain('10.20.0.1 – 10.20.255.254')
    await shot(page, 'ipam-tree-calculator')
    await dialog.getByRole('button', { name: 'Create' }).click()
    await toast('Created pool campus').waitFor()
    // The dialog opened the new pool's page; back to the tree.
    await page.getByRole('button', { name: 'Pools', exact: true }).click()

    // A child typed into the dialog with its container.
    await page.getByRole('button', { name: 'New pool' }).click()
    dialog = page.getByRole('dialog', { name: 'New pool' })
    await dialog.getByLabel('Name').fill('campus-servers')
    await dialog.getByLabel('Network (CIDR)').fill('10.20.0.0/24')
    await dialog.getByTestId('pool-parent-input').fill('campus')
    await dialog.getByRole('button', { name: 'Create' }).click()
    await toast('Created pool campus-servers').waitFor()
    await page.getByTestId('pool-parent').waitFor()
    expect(await page.getByTestId('pool-parent').textContent()).toContain('in campus')
    await page.getByTestId('pool-parent').click()
    await page.getByRole('heading', { name: 'campus', exact: true }).waitFor()
    await page.getByRole('button', { name: 'Pools', exact: true }).click()

    // The tree: campus collapsed, then expanded.
    const tree = page.getByTestId('pool-tree')
    await tree.getByTestId('tree-row-10.20.0.0/16').waitFor()
    expect(await tree.getByTestId('tree-row-10.20.0.0/24').count()).toBe(0)
    await tree.getByRole('button', { name: 'Expand campus' }).click()
    await tree.getByTestId('tree-row-10.20.0.0/24').waitFor()
    expect(await tree.getByTestId('tree-row-10.20.0.0/16').getAttribute('aria-expanded')).toBe('true')

    // The next free /26 of campus: 10.20.0.0/24 is taken, so it is 10.20.1.0/26.
    await tree.getByRole('button', { name: 'Next free block in campus', exact: true }).click()
    const nb = page.getByRole('dialog', { name: 'Next free block in campus', exact: true })
    await nb.getByLabel('Prefix length').fill('26')
    await nb.getByText('Each /26 holds 64 addresses').waitFor()
    await nb.getByRole('button', { name: 'Create' }).click()
    await toast('Created 10.20.1.0/26 in campus').waitFor()
    await tree.getByTestId('tree-row-10.20.1.0/26').waitFor()
    await shot(page, 'ipam-tree')

    // Split the new /26 into /27s from its page.
    await tree.getByTestId('tree-row-10.20.1.0/26').getByRole('button', { name: 'campus 10.20.1.0/26', exact: true }).click()
    await page.getByRole('heading', { name: 'campus 10.20.1.0/26' }).waitFor()
    await page.getByRole('button', { name: 'Split…' }).click()
    const sp = page.getByRole('dialog', { name: 'Split campus 10.20.1.0/26' })
    await sp.getByLabel('Split into prefix length').fill('27')
    await sp.getByText('2 pools of /27').waitFor()
    await sp.getByRole('button', { name: 'Split' }).click()
    await toast('Split campus 10.20.1.0/26 into 2 pools').waitFor()
    const heat = page.getByTestId('children-heatmap')
    await heat.getByText('10.20.1.0/27').waitFor()
    await heat.getByText('10.20.1.32/27').waitFor()

    // The database agrees: two /27 children under the /26, under campus.
    const t = await invoke(s.harness, 'ipam:pool:tree', {})
    expect(t.nodes.map((n) => `${n.depth}:${n.pool.network}`)).toEqual(['0:10.20.0.0/16', '1:10.20.0.0/24', '1:10.20.1.0/26', '2:10.20.1.0/27', '2:10.20.1.32/27'])

    // The container page: a heat map of its children, with some addresses in use.
    await invoke(s.harness, 'ipam:allocate', { pool: 'campus-servers', next: true, count: 180 })
    await invoke(s.harness, 'ipam:allocate', { pool: 'campus 10.20.1.0/27', next: true, count: 20 })
    await page.getByRole('button', { name: 'Pools', exact: true }).click()
    await tree.getByRole('button', { name: 'campus', exact: true }).click()
    await page.getByRole('heading', { name: 'campus', exact: true }).waitFor()
    await page.getByTestId('children-heatmap').getByText('10.20.0.0/24').waitFor()
    await page.getByRole('heading', { name: 'Child pools' }).scrollIntoViewIfNeeded()
    await shot(page, 'ipam-container-heatmap')
    expect(s.problems).toEqual([])
  })

  it('adds a dhcp range in the range editor, and next free skips it', async () => {
    const { page } = s
    await page.getByRole('button', { name: 'Pools', exact: true }).click()
    const tree = page.getByTestId('pool-tree')
    await tree.getByRole('button', { name: 'Expand campus 10.20.1.0/26' }).click()
    await tree.getByRole('button', { name: 'campus 10.20.1.32/27', exact: true }).click()
    await page.getByRole('heading', { name: 'campus 10.20.1.32/27' }).waitFor()
    const ed = page.getByTestId('ranges-editor')
    await ed.getByLabel('First').fill('10.20.1.33')
    await ed.getByLabel('Last').fill('10.20.1.40')
    await ed.getByLabel('Description').fill('kea scope')
    await ed.getByRole('button', { name: 'Add range' }).click()
    await toast('Added dhcp range 10.20.1.33–10.20.1.40').waitFor()
    await ed.getByRole('cell', { name: 'kea scope' }).waitFor()
    const got = await invoke(s.harness, 'ipam:allocate', { pool: 'campus 10.20.1.32/27', next: true })
    expect('status' in got ? null : got[0]!.ip).toBe('10.20.1.41')
    // The subnet map draws the dhcp range (8 cells) apart from the free addresses.
    await page.locator('.legend-item[data-state="range"]').waitFor()
    expect(await page.locator('.legend-item[data-state="range"]').textContent()).toContain('8')
    await ed.scrollIntoViewIfNeeded()
    await shot(page, 'ipam-ranges')
    expect(s.problems).toEqual([])
  })

  it('filters, sorts and multi-selects allocations, releasing the selection in one request', async () => {
    const { page } = s
    const pool = 'campus 10.20.1.32/27'
    await invoke(s.harness, 'ipam:hold-range', { pool, first: '10.20.1.42', last: '10.20.1.45', status: 'reserved', owner: 'lab' })
    await invoke(s.harness, 'ipam:allocate', { pool, ip: '10.20.1.50', hostname: 'zeta' })
    await page.getByRole('button', { name: 'Pools', exact: true }).click()
    const tree = page.getByTestId('pool-tree')
    await tree.getByRole('button', { name: pool, exact: true }).click()
    const table = page.getByTestId('pool-allocations')
    await table.locator('tr[data-ip="10.20.1.50"]').waitFor()
    await page.locator('#alloc-status').selectOption('reserved')
    await table.locator('tr[data-ip="10.20.1.50"]').waitFor({ state: 'detached' })
    expect(await table.locator('tbody tr').count()).toBe(4)
    await page.locator('#alloc-status').selectOption('')
    await table.locator('tr[data-ip="10.20.1.50"]').waitFor()
    // Sort by host name: zeta first (the reservations have none, and sort last).
    await table.getByRole('button', { name: 'Host name' }).click()
    await expect.poll(() => table.locator('tbody tr').first().getAttribute('data-ip')).toBe('10.20.1.50')
    await page.locator('#alloc-search').fill('zeta')
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1)
    await page.locator('#alloc-search').fill('')
    await expect.poll(() => table.locator('tbody tr').count()).toBe(6)
    await table.getByLabel('Select 10.20.1.42').check()
    await table.getByLabel('Select 10.20.1.43').check()
    await page.getByText('2 selected').waitFor()
    await shot(page, 'ipam-allocations-bulk')
    await page.getByRole('button', { name: 'Release selected' }).click()
    await toast('Released 2 address(es)').waitFor()
    await table.locator('tr[data-ip="10.20.1.42"]').waitFor({ state: 'detached' })
    const left = await invoke(s.harness, 'ipam:pool:allocations', { pool })
    expect(left.items.map((a) => a.ip)).toEqual(['10.20.1.41', '10.20.1.44', '10.20.1.45', '10.20.1.50'])
    expect(s.problems).toEqual([])
  })
})

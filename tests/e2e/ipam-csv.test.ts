/**
 * The IPAM CSV wizard in a real Chromium over the web harness and a real PostgreSQL: a damaged file analysed
 * row by row (the unknown column refused until it is mapped to ignore in the mapping table), then imported
 * with the report; a phpIPAM export through its preset; the pools table's Export CSV offering the file.
 * The wizard's screenshot goes to docs/screenshots/ipam-csv-wizard.png.
 */
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDatabase } from '../support/db'
import { goTo, hasChromium, invoke, openSession, root, type Session } from './support'

if (!hasChromium) console.warn('[e2e] skipping the CSV wizard tests: /usr/bin/chromium is not installed')
const fixtures = path.join(root, 'tests', 'fixtures', 'ipam-csv')

describe.skipIf(!hasChromium)('the IPAM CSV wizard', () => {
  let s: Session

  beforeAll(async () => {
    s = await openSession(await freshDatabase('nk_e2e_ipamcsv'), 'ipamcsv')
  })
  afterAll(async () => {
    await s?.close()
  })

  it('analyses a damaged file row by row, maps the unknown column away, and imports', async () => {
    const { page } = s
    await goTo(page, 'IPAM')
    await page.getByTestId('pools-import-csv').click()
    const wizard = page.getByTestId('csv-wizard')
    await wizard.getByLabel('Path of the CSV file (UTF-8)').fill(path.join(fixtures, 'damaged-pools.csv'))
    await wizard.getByRole('button', { name: 'Analyse' }).click()
    await wizard.getByTestId('csv-refusal').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-refusal').textContent()).toContain('column "extra" maps to no field')
    const problems = wizard.getByTestId('csv-problems')
    const lines = await problems.locator('tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-line'))))
    expect(lines).toEqual([1, 3, 5, 6, 7, 8, 9])
    expect(await problems.locator('tr[data-line="7"]').textContent()).toContain('not valid UTF-8')
    expect(await wizard.getByTestId('csv-apply').isDisabled()).toBe(true)
    // Map the unknown column to ignore and analyse again.
    await wizard.getByLabel('Column extra becomes').selectOption('ignore')
    await wizard.getByRole('button', { name: 'Analyse again' }).click()
    await wizard.getByTestId('csv-refusal').waitFor({ state: 'detached' })
    expect(await wizard.getByTestId('csv-counts').textContent()).toMatch(/New\s*3/)
    await wizard.getByTestId('csv-problems').scrollIntoViewIfNeeded()
    await page.evaluate("document.getElementById('main')?.scrollTo(0, 0)")
    fs.mkdirSync(path.join(root, 'docs', 'screenshots'), { recursive: true })
    await page.screenshot({ path: path.join(root, 'docs', 'screenshots', 'ipam-csv-wizard.png'), fullPage: true })
    await wizard.getByTestId('csv-apply').click()
    await wizard.getByTestId('csv-report').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-created').textContent()).toBe('3')
    const pool = await invoke(s.harness, 'ipam:pool:get', { pool: 'guarded' })
    expect(pool.description).toBe('-not a formula')
  })

  it('imports a phpIPAM subnet export through its preset, and exports the pools table', async () => {
    const { page } = s
    const wizard = page.getByTestId('csv-wizard')
    await wizard.getByRole('button', { name: 'Import another file' }).click()
    await wizard.getByLabel('Path of the CSV file (UTF-8)').fill(path.join(fixtures, 'phpipam-subnets.csv'))
    await wizard.getByLabel('Columns from').selectOption('phpipam')
    await wizard.getByRole('button', { name: 'Analyse' }).click()
    await wizard.getByTestId('csv-mapping').waitFor({ timeout: 60_000 })
    expect(await wizard.getByLabel('Column Mask becomes').inputValue()).toBe('prefix_length')
    await wizard.getByTestId('csv-apply').click()
    await wizard.getByTestId('csv-report').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-created').textContent()).toBe('4')
    const lab = await invoke(s.harness, 'ipam:pool:get', { pool: '10.20.2.0/24' })
    expect([lab.vlanId, lab.parentName]).toEqual([120, '10.20.0.0/16'])
    // Export CSV on the pools table (its table view): the harness offers the file as a download.
    await page.getByRole('tab', { name: 'Pools' }).click()
    await page.getByRole('button', { name: 'Table' }).click()
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('pools-export-csv').click()])
    const text = fs.readFileSync((await download.path())!, 'utf8')
    expect(text.split('\r\n')[0]).toBe('space,network,name,gateway,vlan,site,environment,description,dns_servers,active')
    expect(text).toContain('default,10.20.2.0/24,10.20.2.0/24,,120,,,Lab,,true')
  })
})

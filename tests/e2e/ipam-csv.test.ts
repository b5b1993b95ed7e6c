/**
 * The IPAM CSV import on the shared import wizard in a real Chromium over the web harness and a real
 * PostgreSQL: a damaged file analysed row by row (the unknown column refused until it is mapped to ignore
 * in the mapping step), then dry run, import and report; an allocations file with tags and a custom field
 * column (the mapping step's screenshot: docs/screenshots/ipam-csv-wizard.png), imported creating its
 * missing tag; a phpIPAM export through its preset; the pools table's Export CSV offering the file; a
 * pool's Export CSV carrying the allocations table's custom field filter (its screenshot:
 * docs/screenshots/ipam-allocations-field-filter.png); the
 * space picker (its screenshot: docs/screenshots/ipam-csv-space-picker.png) taking the rows that name no
 * space while a space cell in the file wins.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli } from '../support/cli'
import { freshDatabase } from '../support/db'
import { goTo, hasChromium, invoke, openSession, root, type Session } from './support'

if (!hasChromium) console.warn('[e2e] skipping the CSV wizard tests: /usr/bin/chromium is not installed')
const fixtures = path.join(root, 'tests', 'fixtures', 'ipam-csv')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-e2e-ipamcsv-'))
process.once('exit', () => fs.rmSync(tmp, { recursive: true, force: true }))

describe.skipIf(!hasChromium)('the IPAM CSV wizard', () => {
  let s: Session
  let url: string

  beforeAll(async () => {
    url = await freshDatabase('nk_e2e_ipamcsv')
    s = await openSession(url, 'ipamcsv')
  })
  afterAll(async () => {
    await s?.close()
  })

  it('analyses a damaged file row by row, maps the unknown column away, and imports after a dry run', async () => {
    const { page } = s
    await goTo(page, 'IPAM')
    await page.getByTestId('pools-import-csv').click()
    const wizard = page.getByTestId('csv-wizard')
    const next = wizard.getByTestId('wizard-next')
    await wizard.getByLabel('Path of the CSV file (UTF-8)').fill(path.join(fixtures, 'damaged-pools.csv'))
    await next.click()
    // The mapping step: the header read, the unknown column marked.
    await wizard.getByTestId('csv-mapping').waitFor({ timeout: 60_000 })
    expect(await wizard.getByLabel('Column extra becomes').inputValue()).toBe('')
    await next.click()
    await wizard.getByTestId('csv-refusal').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-refusal').textContent()).toContain('column "extra" maps to no field')
    const problems = wizard.getByTestId('csv-problems')
    const lines = await problems.locator('tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-line'))))
    expect(lines).toEqual([1, 3, 5, 6, 7, 8, 9])
    expect(await problems.locator('tr[data-line="7"]').textContent()).toContain('not valid UTF-8')
    // Back to the mapping: the unknown column to ignore, analyse again.
    await wizard.getByRole('button', { name: 'Back' }).click()
    await wizard.getByLabel('Column extra becomes').selectOption('ignore')
    await next.click()
    await wizard.getByTestId('csv-counts').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-refusal').count()).toBe(0)
    expect(await wizard.getByTestId('csv-counts').textContent()).toMatch(/New\s*3/)
    await next.click() // dry run
    expect(await wizard.getByTestId('csv-dry-run-summary').textContent()).toContain('3 new')
    await next.click() // import
    await wizard.getByTestId('csv-report').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-created').textContent()).toBe('3')
    const pool = await invoke(s.harness, 'ipam:pool:get', { pool: 'guarded' })
    expect(pool.description).toBe('-not a formula')
  })

  it('maps tags and a custom field column, and creates the missing tag when asked', async () => {
    const { page } = s
    for (const args of [
      ['field', 'add', 'rack', '--kind', 'allocation', '--type', 'integer'],
      ['tag', 'add', 'web']
    ]) {
      const r = await cli(['--database-url', url, ...args])
      expect(r.code, r.stderr).toBe(0)
    }
    const file = path.join(tmp, 'addresses.csv')
    fs.writeFileSync(file, 'ip,pool,hostname,tags,cf_rack,Comment\n10.50.7.20,guarded,web20,"web,edge",12,first\n10.50.7.21,guarded,web21,web,x,second\n')
    const wizard = page.getByTestId('csv-wizard')
    const next = wizard.getByTestId('wizard-next')
    await wizard.getByRole('button', { name: 'Start over' }).click()
    await wizard.getByLabel('Path of the CSV file (UTF-8)').fill(file)
    await wizard.getByLabel('The file holds').selectOption('allocations')
    await next.click()
    await wizard.getByTestId('csv-mapping').waitFor({ timeout: 60_000 })
    expect(await wizard.getByLabel('Column tags becomes').inputValue()).toBe('tags')
    expect(await wizard.getByLabel('Column cf_rack becomes').inputValue()).toBe('cf_rack')
    await wizard.getByLabel('Column Comment becomes').selectOption('description')
    await wizard.getByLabel('Create missing tags (admin)').check()
    await page.evaluate("document.getElementById('main')?.scrollTo(0, 0)")
    fs.mkdirSync(path.join(root, 'docs', 'screenshots'), { recursive: true })
    await page.screenshot({ path: path.join(root, 'docs', 'screenshots', 'ipam-csv-wizard.png'), fullPage: true })
    await next.click()
    await wizard.getByTestId('csv-counts').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-counts').textContent()).toMatch(/New tags\s*edge/)
    expect(await wizard.getByTestId('csv-problems').locator('tr[data-line="3"]').textContent()).toContain('cf_rack (custom field rack, integer): must be a whole number')
    await next.click()
    await next.click()
    await wizard.getByTestId('csv-report').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-created').textContent()).toBe('1')
    const a = await invoke(s.harness, 'ipam:allocation:get', { ip: '10.50.7.20' })
    expect([a.tags, a.customFields, a.description]).toEqual([['edge', 'web'], { rack: 12 }, 'first'])
  })

  it('imports a phpIPAM subnet export through its preset, and exports the pools table', async () => {
    const { page } = s
    const wizard = page.getByTestId('csv-wizard')
    const next = wizard.getByTestId('wizard-next')
    await wizard.getByRole('button', { name: 'Start over' }).click()
    await wizard.getByLabel('Path of the CSV file (UTF-8)').fill(path.join(fixtures, 'phpipam-subnets.csv'))
    await wizard.getByLabel('The file holds').selectOption('pools')
    await wizard.getByLabel('Columns from').selectOption('phpipam')
    await next.click()
    await wizard.getByTestId('csv-mapping').waitFor({ timeout: 60_000 })
    expect(await wizard.getByLabel('Column Mask becomes').inputValue()).toBe('prefix_length')
    await next.click()
    await wizard.getByTestId('csv-counts').waitFor({ timeout: 60_000 })
    await next.click()
    await next.click()
    await wizard.getByTestId('csv-report').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-created').textContent()).toBe('4')
    const lab = await invoke(s.harness, 'ipam:pool:get', { pool: '10.20.2.0/24' })
    expect([lab.vlanId, lab.parentName]).toEqual([120, '10.20.0.0/16'])
    // Export CSV on the pools table (its table view): the harness offers the file as a download.
    await page.getByRole('tab', { name: 'Pools' }).click()
    await page.getByRole('button', { name: 'Table' }).click()
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('pools-export-csv').click()])
    const text = fs.readFileSync((await download.path())!, 'utf8')
    expect(text.split('\r\n')[0]).toBe('space,network,name,gateway,vlan,site,environment,description,dns_servers,active,tags')
    expect(text).toContain('default,10.20.2.0/24,10.20.2.0/24,,120,,,Lab,,true,')
  })

  it("a pool's Export CSV carries the allocations table's custom field filter", async () => {
    const { page } = s
    // Pool guarded holds 10.50.7.20 (rack 12, imported above); one more address without a rack beside it.
    const r = await cli(['--database-url', url, 'ip', 'allocate', '--pool', 'guarded', '--ip', '10.50.7.22', '--hostname', 'no-rack'])
    expect(r.code, r.stderr).toBe(0)
    await page.getByTestId('pools-table').locator('tr[data-pool="guarded"]').click()
    await page.getByTestId('alloc-filter-field').selectOption('rack')
    await page.getByTestId('alloc-filter-field-value').fill('12')
    await expect.poll(() => page.locator('tbody tr[data-ip]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-ip'))), { timeout: 30_000 }).toEqual(['10.50.7.20'])
    // The allocations table with its filters, at the end of the page (which scrolls inside #main).
    await page.evaluate("const m = document.getElementById('main'); m?.scrollTo(0, m.scrollHeight)")
    await page.screenshot({ path: path.join(root, 'docs', 'screenshots', 'ipam-allocations-field-filter.png') })
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('allocations-export-csv').click()])
    const lines = fs.readFileSync((await download.path())!, 'utf8').split('\r\n')
    expect(lines.slice(1, -1).map((l) => l.split(',')[1])).toEqual(['10.50.7.20'])
    expect(lines[0]).toMatch(/,tags,cf_rack$/)
    // Back to the pools table, where the next test starts.
    await page.getByRole('button', { name: 'Pools', exact: true }).click()
  })

  it('the space picker takes the rows that name no space; a space named in the file wins', async () => {
    const { page } = s
    for (const args of [
      ['space', 'create', '--name', 'lab'],
      ['pool', 'create', '--name', 'lab-lan', '--network', '10.60.0.0/24', '--space', 'lab'],
      ['pool', 'create', '--name', 'hq-lan', '--network', '10.60.0.0/24']
    ]) {
      const r = await cli(['--database-url', url, ...args])
      expect(r.code, r.stderr).toBe(0)
    }
    const file = path.join(tmp, 'spaces.csv')
    fs.writeFileSync(file, 'vrf,address,dns_name\n,10.60.0.10,picked.example.org\nGlobal,10.60.0.11,global.example.org\n')
    // The last test left the pools table on screen: open the wizard again.
    await page.getByTestId('pools-import-csv').click()
    const wizard = page.getByTestId('csv-wizard')
    const next = wizard.getByTestId('wizard-next')
    const over = wizard.getByRole('button', { name: 'Start over' })
    if (await over.count()) await over.click()
    await wizard.getByLabel('Path of the CSV file (UTF-8)').fill(file)
    await wizard.getByLabel('The file holds').selectOption('allocations')
    await wizard.getByLabel('Columns from').selectOption('netbox')
    await next.click()
    await wizard.getByTestId('csv-mapping').waitFor({ timeout: 60_000 })
    const picker = wizard.getByLabel('Address space')
    expect(await picker.locator('option').allTextContents()).toEqual(['default (the default space)', 'lab'])
    await picker.selectOption('lab')
    // The file has a space column (NetBox's vrf): the hint says it wins over the picker.
    expect(await wizard.locator('#csv-space-hint').textContent()).toMatch(/For rows whose vrf cell is empty: a space named in the file wins \(map vrf to ignore/)
    await page.evaluate("document.getElementById('main')?.scrollTo(0, 0)")
    await page.screenshot({ path: path.join(root, 'docs', 'screenshots', 'ipam-csv-space-picker.png'), fullPage: true })
    await next.click()
    await wizard.getByTestId('csv-counts').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-counts').textContent()).toMatch(/New\s*2/)
    await next.click()
    await next.click()
    await wizard.getByTestId('csv-report').waitFor({ timeout: 60_000 })
    expect(await wizard.getByTestId('csv-created').textContent()).toBe('2')
    const picked = await invoke(s.harness, 'ipam:allocation:get', { ip: '10.60.0.10', space: 'lab' })
    expect([picked.hostname, picked.poolName]).toEqual(['picked.example.org', 'lab-lan'])
    const global = await invoke(s.harness, 'ipam:allocation:get', { ip: '10.60.0.11', space: 'default' })
    expect([global.hostname, global.poolName]).toEqual(['global.example.org', 'hq-lan'])
  })
})

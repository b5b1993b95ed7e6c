/**
 * The audit viewer, the dashboard and the retention settings in a real Chromium over the web harness and a
 * real PostgreSQL: newest-first keyset infinite scroll, filters with inline errors, the before/after diff,
 * chain verification (intact, then after tampering), CSV and JSON export (streamed by the main process; the
 * harness hands the file and its signed manifest back as downloads) that parses back and verifies, the
 * activity chart, and retention policies with a purge preview. Screenshots go to test-results/.
 */
import fs from 'node:fs'
import path from 'node:path'
import { parse } from 'csv-parse/sync'
import type { Download, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditEntryDto } from '../../src/shared/audit'
import { freshDatabase, withClient } from '../support/db'
import { goTo, harnessFetch, hasChromium, invoke, openSession, resultsDir, shot, type Session } from './support'

if (!hasChromium) console.warn('[e2e] skipping the audit screen tests: /usr/bin/chromium is not installed (apt-get install chromium)')

// The columns as documented (docs/audit.md#export-formats), dbUser since the server stamps the login.
const CSV_COLUMNS = ['seq', 'createdAt', 'action', 'resourceType', 'resourceId', 'resourceName', 'dbUser', 'userId', 'userIp', 'userAgent', 'status', 'source', 'requestId', 'details', 'prevHash', 'rowHash', 'id']

describe.skipIf(!hasChromium)('the audit viewer, dashboard and retention settings', () => {
  let s: Session
  let url: string
  let total: number

  beforeAll(async () => {
    url = await freshDatabase('nk_e2e_audit')
    s = await openSession(url, 'audit')
    const h = s.harness
    await invoke(h, 'ipam:pool:create', { name: 'audit-net', network: '10.9.0.0/24', site: 'lab' })
    await invoke(h, 'ipam:allocate', { pool: 'audit-net', ip: '10.9.0.5', hostname: 'app01', owner: 'alice' })
    await invoke(h, 'ipam:allocation:update', { ip: '10.9.0.5', hostname: 'app02', owner: 'bob' })
    await invoke(h, 'ipam:allocate', { pool: 'audit-net', next: true, count: 150, owner: 'batch' })
    total = (await invoke(h, 'audit:counts', {})).total
  })

  afterAll(async () => {
    await s?.close()
  })

  const summary = (page: Page) => page.getByTestId('audit-summary')
  const rows = (page: Page) => page.getByTestId('audit-table').locator('tbody tr')

  it('shows the newest entries first and loads older ones as the list scrolls (keyset), drawing only the rows in sight', async () => {
    const { page } = s
    expect(total).toBeGreaterThan(150)
    await goTo(page, 'Audit')
    await summary(page).filter({ hasText: '100 newest entries loaded; scroll for older ones' }).waitFor()
    // A virtual list: only the rows in sight (and a few either side) are in the DOM.
    const drawn = () => page.getByTestId('audit-table').locator('tbody tr[data-seq]')
    expect(await drawn().count()).toBeGreaterThan(10)
    expect(await drawn().count()).toBeLessThan(60)
    await shot(page, 'audit-list')
    const seen = new Set<number>()
    for (let i = 0; i < 60 && !(seen.size === total); i++) {
      for (const v of (await drawn().evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))))) as number[]) seen.add(v)
      await page.locator('#main').evaluate((el) => el.scrollBy(0, el.clientHeight * 0.8))
      await page.waitForTimeout(50)
    }
    await summary(page).filter({ hasText: `All ${total} matching entries, newest first` }).waitFor()
    await page.getByText('The end of the log.').waitFor()
    const seqs = [...seen].sort((a, b) => b - a)
    expect(seqs).toHaveLength(total)
    const onScreen = (await drawn().evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq'))))) as number[]
    expect(onScreen.every((v, i) => i === 0 || v < onScreen[i - 1]!)).toBe(true)
    expect(onScreen).toContain(seqs[seqs.length - 1])
  })

  it('filters by action and shows an update as a field-by-field diff', async () => {
    const { page } = s
    await page.locator('#main').evaluate((el) => el.scrollTo(0, 0))
    await page.getByLabel('Action').selectOption('update')
    await summary(page).filter({ hasText: 'All 1 matching entry, newest first' }).waitFor()
    await rows(page).first().click()
    const drawer = page.getByTestId('audit-drawer')
    await drawer.waitFor()
    const diff = drawer.getByTestId('audit-diff')
    const host = diff.locator('tr[data-field="hostname"]')
    expect(await host.getAttribute('class')).toContain('changed')
    expect(await host.locator('td.before').textContent()).toContain('app01')
    expect(await host.locator('td.after').textContent()).toContain('app02')
    expect(await diff.locator('tr[data-field="owner"] td.after').textContent()).toContain('bob')
    await page.getByRole('dialog').getByText('update ip_allocation 10.9.0.5').waitFor()
    await shot(page, 'audit-drawer-diff')
    await page.keyboard.press('Escape')
    await drawer.waitFor({ state: 'detached' })
  })

  it('checks the address filter as it is applied and narrows by text', async () => {
    const { page } = s
    await page.getByRole('button', { name: 'Clear filters' }).click()
    await summary(page).filter({ hasText: '100 newest entries loaded' }).waitFor()
    const ip = page.getByLabel('From address')
    await ip.fill('10.0.0.300')
    await page.getByRole('button', { name: 'Apply' }).click()
    await page.getByText('"10.0.0.300" is not a valid IPv4 address').waitFor()
    expect(await ip.getAttribute('aria-invalid')).toBe('true')
    await ip.fill('127.0.0.0/8')
    await page.getByLabel('Text in details').fill('app02')
    await page.getByRole('button', { name: 'Apply' }).click()
    await summary(page).filter({ hasText: 'All 1 matching entry' }).waitFor()
    expect(await rows(page).first().textContent()).toContain('10.9.0.5')
    await page.getByLabel('Text in details').fill('no-such-text-anywhere')
    await page.getByRole('button', { name: 'Apply' }).click()
    await page.getByText('No entry matches these filters.').waitFor()
    await shot(page, 'audit-empty-filter')
    await page.getByRole('button', { name: 'Clear filters' }).first().click()
    await summary(page).filter({ hasText: '100 newest entries loaded' }).waitFor()
  })

  it('exports the filtered entries as CSV and JSON that parse back', async () => {
    const { page } = s
    await page.getByLabel('Resource type').fill('ip_allocation')
    await page.getByRole('button', { name: 'Apply' }).click()
    const expected = (await invoke(s.harness, 'audit:counts', { resourceType: 'ip_allocation' })).total
    await summary(page).filter({ hasText: '100 newest entries loaded' }).waitFor()

    /** Clicks an export button and takes both downloads it offers: the file, then its signed manifest. */
    const exportBoth = async (button: string, exact = false) => {
      const downloads: Download[] = []
      const both = new Promise<void>((resolve) => {
        const on = (d: Download): void => {
          downloads.push(d)
          if (downloads.length === 2) {
            page.off('download', on)
            resolve()
          }
        }
        page.on('download', on)
      })
      await page.getByRole('button', { name: button, exact }).click()
      await both
      const file = downloads.find((d) => !d.suggestedFilename().endsWith('.manifest.json'))!
      const manifest = downloads.find((d) => d.suggestedFilename().endsWith('.manifest.json'))!
      expect(manifest.suggestedFilename()).toBe(`${file.suggestedFilename()}.manifest.json`)
      return { file, manifest }
    }

    const csv = await exportBoth('Export CSV')
    expect(csv.file.suggestedFilename()).toMatch(/^netkeeper-audit-\d{8}-\d{6}\.csv$/)
    const csvFile = path.join(resultsDir, 'audit-export.csv')
    await csv.file.saveAs(csvFile)
    await csv.manifest.saveAs(`${csvFile}.manifest.json`)
    const records = parse(fs.readFileSync(csvFile, 'utf8'), { columns: true }) as Record<string, string>[]
    expect(records).toHaveLength(expected)
    expect(Object.keys(records[0]!)).toEqual(CSV_COLUMNS)
    expect(records.every((r) => r.resourceType === 'ip_allocation')).toBe(true)
    const update = records.find((r) => r.action === 'update')!
    expect(JSON.parse(update.details!)).toMatchObject({ before: { hostname: 'app01' }, after: { hostname: 'app02' } })
    await s.page.getByTestId('toast').filter({ hasText: `Saved ${expected} entries to` }).waitFor()
    // The manifest, saved beside it under its own name, proves the file (no database needed).
    const { verifyExport } = await import('../../src/main/core/audit/export-manifest')
    expect(await verifyExport(csvFile)).toMatchObject({ ok: true, rows: expected })
    expect(JSON.parse(fs.readFileSync(`${csvFile}.manifest.json`, 'utf8'))).toMatchObject({ format: 'csv', filters: { resourceType: 'ip_allocation' }, rows: expected })

    const json = await exportBoth('Export JSON', true)
    const jsonFile = path.join(resultsDir, 'audit-export.json')
    await json.file.saveAs(jsonFile)
    const entries = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as AuditEntryDto[]
    expect(entries).toHaveLength(expected)
    expect(entries.map((e) => e.seq)).toEqual(records.map((r) => r.seq))

    const jsonl = await exportBoth('Export JSON Lines')
    const jsonlDownload = jsonl.file
    expect(jsonlDownload.suggestedFilename()).toMatch(/^netkeeper-audit-\d{8}-\d{6}\.jsonl$/)
    const jsonlFile = path.join(resultsDir, 'audit-export.jsonl')
    await jsonlDownload.saveAs(jsonlFile)
    const lines = fs.readFileSync(jsonlFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEntryDto)
    expect(lines.map((e) => e.seq)).toEqual(records.map((r) => r.seq))
    // Each link works once: the harness removed the file after handing it over (and without the session
    // cookie nothing is served at all).
    expect((await harnessFetch(s.harness, jsonlDownload.url())).status).toBe(404)
    expect((await fetch(jsonlDownload.url())).status).toBe(401)
    await page.getByRole('button', { name: 'Clear filters' }).first().click()
  })

  it('opens the audit history of a pool from its page', async () => {
    const { page } = s
    await goTo(page, 'IPAM')
    await page.getByTestId('pools-table').locator('tr[data-pool="audit-net"]').click()
    await page.getByRole('button', { name: 'Audit history' }).click()
    await page.getByRole('heading', { level: 1, name: 'Audit' }).waitFor()
    await summary(page).filter({ hasText: 'All 1 matching entry' }).waitFor()
    expect(await page.getByLabel('Resource type').inputValue()).toBe('ip_pool')
    expect(await rows(page).first().textContent()).toMatch(/create.*ip_pool.*audit-net/s)
    await page.getByRole('button', { name: 'Clear filters' }).first().click()
  })

  it('manages retention policies and previews a purge in Settings', async () => {
    const { page } = s
    await goTo(page, 'Settings')
    const form = page.getByRole('form', { name: 'Retention policy' })
    await form.getByLabel('Resource type').fill('Bad-Type')
    await form.getByLabel('Days').fill('30')
    await form.getByRole('button', { name: 'Add policy' }).click()
    await page.getByText('Lower-case letters, digits and _ only').waitFor()
    await form.getByLabel('Resource type').fill('ip_allocation')
    await form.getByRole('button', { name: 'Add policy' }).click()
    const row = page.getByTestId('retention-policies').locator('tr[data-type="ip_allocation"]')
    await row.filter({ hasText: '30 days' }).waitFor()
    expect(await invoke(s.harness, 'audit:policy:list', {})).toMatchObject([{ resourceType: 'ip_allocation', retentionDays: 30, isActive: true }])
    // Before it happens: when the next scheduled purge runs and what it will remove (nothing is 30 days old yet).
    await page.getByTestId('purge-next').filter({ hasText: /Next purge \d{4}-\d{2}-\d{2} .*nothing will be removed/ }).waitFor()
    const next = await invoke(s.harness, 'audit:purge:next', {})
    expect(next).toMatchObject({ archiveDir: path.join(s.dataDir, 'audit-archive'), report: { rows: 0, cutoffs: { ip_allocation: expect.any(String) } } })
    expect(Date.parse(next.nextRunAt!)).toBeGreaterThan(Date.now())
    expect(await page.getByTestId('archive-dir').textContent()).toBe(path.join(s.dataDir, 'audit-archive'))
    // Another archive folder must exist: the error names the field's reason.
    await page.getByLabel('Another folder').fill(path.join(s.dataDir, 'no-such-folder'))
    await page.getByRole('button', { name: 'Use this folder' }).click()
    await page.getByTestId('archive-folder').getByRole('alert').filter({ hasText: 'does not exist' }).waitFor()
    fs.mkdirSync(path.join(s.dataDir, 'elsewhere'))
    await page.getByLabel('Another folder').fill(path.join(s.dataDir, 'elsewhere'))
    await page.getByRole('button', { name: 'Use this folder' }).click()
    await page.getByTestId('archive-dir').filter({ hasText: path.join(s.dataDir, 'elsewhere') }).waitFor()
    await page.getByRole('button', { name: 'Use the default' }).click()
    await page.getByTestId('archive-dir').filter({ hasText: 'audit-archive' }).waitFor()
    await page.getByRole('button', { name: 'Preview purge' }).click()
    await page.getByTestId('purge-preview').filter({ hasText: 'Nothing is old enough to remove' }).waitFor()
    await page.getByRole('button', { name: 'Edit the policy for ip_allocation' }).click()
    await form.getByLabel('Keep forever').check()
    await form.getByRole('button', { name: 'Save policy' }).click()
    await row.filter({ hasText: 'Forever' }).waitFor()
    await page.locator('#settings-retention').scrollIntoViewIfNeeded()
    await shot(page, 'settings-retention')
    await page.getByRole('button', { name: 'Remove the policy for ip_allocation' }).click()
    await row.waitFor({ state: 'detached' })
    expect(await invoke(s.harness, 'audit:policy:list', {})).toEqual([])
  })

  it('shows totals, the most utilized pools and the audit activity chart on the dashboard', async () => {
    const { page } = s
    await goTo(page, 'Dashboard')
    const totals = page.getByTestId('ipam-totals')
    await totals.filter({ hasText: 'Allocated151' }).waitFor()
    expect((await totals.textContent())?.replace(/\s+/g, ' ')).toContain('Pools1')
    await page.getByTestId('most-utilized').getByRole('button', { name: 'audit-net' }).waitFor()
    const chart = page.getByTestId('activity-chart')
    await chart.waitFor()
    const counts = await invoke(s.harness, 'audit:counts', { from: new Date(Date.now() - 29 * 86400e3).toISOString().slice(0, 10) })
    expect(await chart.getAttribute('aria-label')).toMatch(new RegExp(`${counts.total} entries`))
    expect(await chart.locator('rect[data-series]').count()).toBeGreaterThan(0)
    // The activity chart's own table (the usage chart beside it has one too).
    await page.locator('details', { has: page.getByTestId('activity-table') }).getByText('Show the numbers as a table').click()
    const table = page.getByTestId('activity-table')
    const today = new Date().toISOString().slice(0, 10)
    const todayTotal = counts.days.filter((d) => d.day === today).reduce((n, d) => n + d.count, 0)
    expect(await table.locator('tbody tr').filter({ hasText: today }).locator('td').last().textContent()).toBe(String(todayTotal))
    await page.locator('details', { has: table }).getByText('Show the numbers as a table').click()
    await shot(page, 'dashboard')
    await page.emulateMedia({ colorScheme: 'dark' })
    await shot(page, 'dashboard-dark')
    await page.emulateMedia({ colorScheme: 'light' })
  })

  it('verifies the chain, and points at the row someone altered behind Netkeeper’s back', async () => {
    const { page } = s
    await goTo(page, 'Audit')
    await page.getByRole('button', { name: 'Verify chain' }).click()
    const report = page.getByTestId('verify-report')
    await report.filter({ hasText: 'The chain is intact' }).waitFor()
    expect(await report.textContent()).toMatch(/Checked \d+ entries \(#1 to #\d+\)/)
    await shot(page, 'audit-verify-ok')
    // Tamper as a superuser would: with the append-only trigger switched off.
    const victim = (await invoke(s.harness, 'audit:list', { action: 'update', limit: 1 })).items[0]!.seq
    await withClient(url, async (c) => {
      await c.query('alter table audit_logs disable trigger audit_logs_no_update')
      try {
        await c.query(`update audit_logs set details = jsonb_set(details, '{after,hostname}', '"evil"') where seq = $1`, [victim])
      } finally {
        await c.query('alter table audit_logs enable trigger audit_logs_no_update')
      }
    })
    await page.getByRole('button', { name: 'Verify chain' }).click()
    await report.filter({ hasText: 'The chain is broken' }).waitFor()
    expect(await report.textContent()).toContain(`row ${victim} was altered`)
    await shot(page, 'audit-verify-broken')
    await report.getByRole('button', { name: `Show entry #${victim}` }).click()
    const drawer = page.getByTestId('audit-drawer')
    expect(await drawer.locator('tr[data-field="hostname"] td.after').textContent()).toContain('evil')
    await page.keyboard.press('Escape')
    await page.emulateMedia({ colorScheme: 'dark' })
    await shot(page, 'audit-dark')
    await page.emulateMedia({ colorScheme: 'light' })
    expect(s.problems).toEqual([])
  })
})

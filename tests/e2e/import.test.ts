/**
 * The legacy import wizard in a real Chromium over the web harness and a real PostgreSQL, on the shared
 * sample file (copied to a temporary folder first: the fixture is read-only): "Choose file…" explaining that
 * the harness has no file chooser, a wrong path refused on the field, the analysis with its problem rows, a choice applied, the dry run, the import with progress, and
 * the summary with the report downloaded as CSV and JSON. Screenshots go to test-results/.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'csv-parse/sync'
import { freshDatabase } from '../support/db'
import { goTo, hasChromium, invoke, openSession, root, shot, type Session } from './support'

// In CI the shared fixtures sit beside the repository; a copy may also be checked in under tests/fixtures.
const FIXTURE = [path.resolve(root, '..', 'shared', 'fixtures', 'legacy-ipam-sample.db'), path.join(root, 'tests', 'fixtures', 'legacy-ipam-sample.db')].find((f) => fs.existsSync(f))
if (!hasChromium) console.warn('[e2e] skipping the import wizard tests: /usr/bin/chromium is not installed')
if (!FIXTURE) console.warn('[e2e] skipping the import wizard tests: legacy-ipam-sample.db was not found in ../shared/fixtures or tests/fixtures')

describe.skipIf(!hasChromium || !FIXTURE)('the import wizard', () => {
  let s: Session
  let tmp: string
  let file: string

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-e2e-import-'))
    file = path.join(tmp, 'legacy-ipam-sample.db')
    fs.copyFileSync(FIXTURE!, file)
    fs.chmodSync(file, 0o644)
    s = await openSession(await freshDatabase('nk_e2e_import'), 'import')
  })

  afterAll(async () => {
    await s?.close()
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('refuses a path that is not there, on the field', async () => {
    const { page } = s
    await goTo(page, 'IPAM')
    await page.getByRole('tab', { name: 'Import', exact: true }).click()
    const wizard = page.getByTestId('import-wizard')
    // The browser harness has no native file chooser: the button says so and the path is typed instead.
    await wizard.getByRole('button', { name: 'Choose file…' }).click()
    await wizard.getByTestId('import-file-hint').filter({ hasText: 'has no file chooser' }).waitFor()
    expect(await wizard.getByTestId('import-file-hint').textContent()).toContain('type the path of the file instead')
    await wizard.getByRole('button', { name: 'Analyse' }).click()
    await wizard.getByText('Enter the path of the legacy SQLite file').waitFor()
    await wizard.getByLabel('Path of the legacy file').fill(path.join(tmp, 'missing.db'))
    await wizard.getByRole('button', { name: 'Analyse' }).click()
    await wizard.locator('#import-file-err').waitFor()
    expect(await wizard.getByLabel('Path of the legacy file').getAttribute('aria-invalid')).toBe('true')
  })

  it('analyses the sample: counts and problem rows with table, legacy id and reason', async () => {
    const { page } = s
    const wizard = page.getByTestId('import-wizard')
    await invoke(s.harness, 'ipam:space:create', { name: 'legacy-lab' })
    await wizard.getByLabel('Path of the legacy file').fill(file)
    await wizard.getByRole('button', { name: 'Analyse' }).click()
    await wizard.getByTestId('import-source').waitFor({ timeout: 60_000 })
    // The space picker lists the spaces (the one made after the wizard opened too); the default stays picked.
    const picker = wizard.getByTestId('import-space')
    await expect.poll(() => picker.locator('option').allTextContents()).toEqual(['default (the default space)', 'legacy-lab'])
    expect(await picker.inputValue()).toBe('')
    await picker.scrollIntoViewIfNeeded()
    await page.screenshot({ path: path.join(root, 'docs', 'screenshots', 'import-space-picker.png') })
    const analysis = await invoke(s.harness, 'import:analyse', { file })
    expect(await wizard.getByTestId('import-source').textContent()).toContain(`${analysis.source.pools} pools, ${analysis.source.allocations} allocations`)
    expect(analysis.problems.length).toBeGreaterThan(0)
    const table = wizard.getByTestId('problem-rows')
    const first = analysis.problems[0]!
    const row = table.locator('tbody tr').first()
    expect(await row.textContent()).toContain(first.table)
    expect(await row.textContent()).toContain(first.kind)
    expect(await wizard.getByRole('heading', { name: /^Problem rows/ }).textContent()).toContain(String(analysis.problems.length))
    await table.scrollIntoViewIfNeeded()
    await shot(page, 'import-analysis')
    // A choice re-analyses: applying every fix changes what is fixed.
    await wizard.getByLabel('Apply every suggested fix').check()
    await wizard.getByRole('button', { name: 'Apply choices' }).click()
    await wizard.getByTestId('import-counts').waitFor()
  })

  it('dry-runs, imports with progress, and shows the summary with downloadable reports', async () => {
    const { page } = s
    const wizard = page.getByTestId('import-wizard')
    await wizard.getByRole('button', { name: 'Dry run' }).click()
    const dry = wizard.getByTestId('import-dry-run')
    await dry.waitFor({ timeout: 60_000 })
    await shot(page, 'import-dry-run')
    const before = await invoke(s.harness, 'ipam:stats', {})
    await wizard.getByRole('button', { name: 'Import now' }).click()
    const summary = wizard.getByTestId('import-summary')
    await summary.waitFor({ timeout: 120_000 })
    expect(await summary.getByRole('heading', { level: 2 }).first().textContent()).toBe('Imported')
    await shot(page, 'import-summary')
    const after = await invoke(s.harness, 'ipam:stats', {})
    expect(JSON.stringify(after)).not.toBe(JSON.stringify(before))

    const [csvDownload] = await Promise.all([page.waitForEvent('download'), summary.getByRole('button', { name: 'Download CSV' }).click()])
    const csvPath = path.join(tmp, 'report.csv')
    await csvDownload.saveAs(csvPath)
    const rows = parse(fs.readFileSync(csvPath, 'utf8'), { columns: true }) as Record<string, string>[]
    expect(rows.length).toBeGreaterThan(0)
    const [jsonDownload] = await Promise.all([page.waitForEvent('download'), summary.getByRole('button', { name: 'Download JSON' }).click()])
    const jsonPath = path.join(tmp, 'report.json')
    await jsonDownload.saveAs(jsonPath)
    const report = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as { outcome: string }
    expect(report.outcome).toBe('imported')
    expect(s.problems).toEqual([])
  })
})

/**
 * The everyday desktop in a real Chromium over the web harness (issue 20): the command palette finds an
 * address and a user and opens them, Back and Forward return through the screens, a netkeeper:// link given
 * to the harness's link entry opens the right address. Real PostgreSQL and slapd. Screenshots go to
 * test-results/ (the ones worth keeping are copied to docs/screenshots/ by hand).
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDatabase, withClient } from '../support/db'
import { baseProfile, slapdInfo, slapdMissing } from '../support/directory'
import { SEED_PASSWORDS } from '../support/slapd'
import { cellPoint, goTo, hasChromium, invoke, openSession, resultsDir, shot, type Session } from './support'

const skip = !hasChromium || Boolean(slapdMissing())
if (!hasChromium) console.warn('[e2e] skipping the everyday desktop tests: /usr/bin/chromium is not installed')
else if (slapdMissing()) console.warn(`[e2e] skipping the everyday desktop tests: ${slapdMissing()}`)

describe.skipIf(skip)('the everyday desktop', () => {
  let s: Session
  let dbUrl = ''
  const tag = randomBytes(3).toString('hex')
  const poolName = `lab-${tag}`
  const host = `printer-${tag}`
  const profile = `pal-${tag}`
  const modK = process.platform === 'darwin' ? 'Meta+K' : 'Control+K'

  beforeAll(async () => {
    dbUrl = await freshDatabase('nk_e2e_everyday')
    s = await openSession(dbUrl, 'everyday')
    await invoke(s.harness, 'ipam:pool:create', { name: poolName, network: '10.77.1.0/24', gateway: '10.77.1.1', site: 'Lab' })
    await invoke(s.harness, 'ipam:pool:create', { name: `other-${tag}`, network: '10.77.2.0/24' })
    await invoke(s.harness, 'ipam:allocate', { pool: poolName, ip: '10.77.1.20', hostname: host, mac: '02:00:00:77:01:20', owner: 'alice' })
    await invoke(s.harness, 'ipam:allocate', { pool: poolName, ip: '10.77.1.21', hostname: `scanner-${tag}` })
    const info = slapdInfo()
    await invoke(s.harness, 'directory:profile:save', {
      profile: { ...baseProfile(info, { name: profile, usersDn: `ou=people,${info.baseDn}`, groupsDn: `ou=groups,${info.baseDn}` }), bindDn: undefined },
      replace: true
    } as never)
    await invoke(s.harness, 'auth:signin', { profile, user: 'alice', password: SEED_PASSWORDS.alice })
    await s.page.reload()
    await s.page.getByRole('contentinfo', { name: 'Status' }).getByText('Database reachable').waitFor()
  })

  afterAll(async () => {
    await s?.close()
  })

  it('the palette finds an address by host name and opens it in its pool', async () => {
    const { page } = s
    await page.keyboard.press(modK)
    const palette = page.getByTestId('palette')
    await palette.waitFor()
    // Empty: the commands.
    await palette.locator('[data-option="cmd-new-pool"]').waitFor()
    await page.getByTestId('palette-input').pressSequentially(host.slice(0, 10))
    const list = page.getByTestId('palette-list')
    await expect.poll(() => list.getAttribute('data-query')).toBe(host.slice(0, 10))
    const address = list.locator('[data-group="address"] [role="option"]')
    await expect.poll(() => address.count()).toBe(1)
    expect(await address.first().textContent()).toContain('10.77.1.20')
    expect(await address.first().textContent()).toContain(poolName)
    await shot(page, 'palette-address')
    // Arrow down to it (past any command that matches), Enter opens it.
    await page.getByTestId('palette-input').fill(host)
    await expect.poll(() => list.getAttribute('data-query')).toBe(host)
    await page.keyboard.press('Enter')
    await palette.waitFor({ state: 'detached' })
    await page.getByTestId('pool-detail').getByRole('heading', { name: poolName, level: 1 }).waitFor()
    await page.getByRole('dialog', { name: 'Address 10.77.1.20' }).waitFor()
    expect(await page.getByRole('dialog', { name: 'Address 10.77.1.20' }).getByLabel('Host name').inputValue()).toBe(host)
    await page.keyboard.press('Escape')
    await page.getByRole('dialog', { name: 'Address 10.77.1.20' }).waitFor({ state: 'detached' })
  })

  it('the palette finds a user in the directory and opens it; Back and Forward walk the screens', async () => {
    const { page } = s
    await page.getByTestId('open-palette').click()
    await page.getByTestId('palette-input').pressSequentially('alic')
    const list = page.getByTestId('palette-list')
    const user = list.locator('[data-group="user"] [data-option="user-alice"]')
    await user.waitFor()
    await shot(page, 'palette-user')
    await user.click()
    await page.getByRole('heading', { name: 'Directory', level: 1 }).waitFor()
    const row = page.getByTestId('users-panel').locator('tr[data-uid="alice"]')
    await row.waitFor()
    expect(await row.getAttribute('aria-current')).toBe('true')
    expect(await page.getByTestId('users-panel').getByLabel('Search users').inputValue()).toBe('alice')

    // Back returns to the pool that was open, Back again to the dashboard, Forward twice to the directory.
    await page.keyboard.press('Alt+ArrowLeft')
    await page.getByTestId('pool-detail').getByRole('heading', { name: poolName, level: 1 }).waitFor()
    await page.keyboard.press('Alt+ArrowLeft')
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor()
    expect(await page.getByRole('button', { name: 'Back', exact: true }).isDisabled()).toBe(true)
    await page.getByRole('button', { name: 'Forward', exact: true }).click()
    await page.getByTestId('pool-detail').waitFor()
    await page.keyboard.press('Alt+ArrowRight')
    await page.getByTestId('users-panel').locator('tr[data-uid="alice"]').waitFor()
    expect(await page.getByRole('button', { name: 'Forward', exact: true }).isDisabled()).toBe(true)

    // A new visit drops the forward trail: IPAM's list, then Back is the directory again.
    await goTo(page, 'IPAM')
    await page.getByTestId('pool-detail').waitFor()
    await page.getByTestId('pool-detail').getByRole('button', { name: 'Pools' }).click()
    await page.getByRole('heading', { name: 'IPAM', level: 1 }).waitFor()
    await page.keyboard.press('Alt+ArrowLeft')
    await page.getByTestId('pool-detail').waitFor()
    await page.keyboard.press('Alt+ArrowLeft')
    await page.getByTestId('users-panel').waitFor()
  })

  it('runs commands: allocate in a chosen pool, and new pool', async () => {
    const { page } = s
    await page.keyboard.press(modK)
    await page.getByTestId('palette-input').pressSequentially('alloc')
    await page.locator('[data-option="cmd-allocate"]').click()
    await page.getByTestId('palette-input').pressSequentially(`other-${tag}`)
    const pool = page.getByTestId('palette-list').locator('[role="option"]', { hasText: `other-${tag}` })
    await pool.waitFor()
    await page.keyboard.press('Enter')
    await page.getByRole('dialog', { name: `Allocate in other-${tag}` }).waitFor()
    await page.keyboard.press('Escape')
    await page.keyboard.press(modK)
    await page.getByTestId('palette-input').pressSequentially('new pool')
    await page.keyboard.press('Enter')
    await page.getByRole('dialog', { name: 'New pool' }).waitFor()
    await page.keyboard.press('Escape')
  })

  it('finds an audit entry by its request id', async () => {
    const { page } = s
    const entries = await invoke(s.harness, 'audit:list', { resource: '10.77.1.21', limit: 1 })
    const e = entries.items[0]!
    await page.keyboard.press(modK)
    await page.getByTestId('palette-input').fill(e.requestId!)
    const option = page.getByTestId('palette-list').locator(`[data-option="audit-${e.seq}"]`)
    await option.waitFor()
    await option.click()
    await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor()
    await page.getByRole('dialog').filter({ hasText: `#${e.seq}` }).first().waitFor()
  })

  it('paints each group as its source answers, and a late answer to an older query never paints over a newer one', async () => {
    const { page } = s
    const isSearch = (u: URL): boolean => u.pathname.endsWith('/invoke/palette%3Asearch')
    const body = (r: { postData(): string | null }): { query: string; sources?: string[] } => JSON.parse(r.postData() ?? '{}')
    // The directory answers late for the printer's name: the address group is painted before it, while the
    // list still says it is busy.
    await page.route(isSearch, async (route) => {
      const b = body(route.request())
      if (b.query.startsWith('printer-') && b.sources?.includes('user')) await new Promise((r) => setTimeout(r, 1500))
      await route.continue()
    })
    await page.keyboard.press(modK)
    const list = page.getByTestId('palette-list')
    await page.getByTestId('palette-input').fill(host)
    await list.locator('[data-group="address"] [data-option="address-10.77.1.20"]').waitFor()
    expect(await list.getAttribute('data-busy')).toBe('true')
    await expect.poll(() => list.getAttribute('data-busy'), { timeout: 10_000 }).toBe('false')
    expect(await list.getAttribute('data-query')).toBe(host)
    await page.unrouteAll()

    // Every source answers "alic" late; the box is emptied and a pool's name typed before those answers
    // come: they are dropped, and the user alice is never painted over the pool's results.
    await page.route(isSearch, async (route) => {
      if (body(route.request()).query === 'alic') await new Promise((r) => setTimeout(r, 1200))
      await route.continue()
    })
    await page.getByTestId('palette-input').fill('alic')
    await page.getByTestId('palette-input').fill('')
    await page.evaluate(`(() => {
      const l = document.querySelector('[data-testid="palette-list"]')
      window.__nkSeen = []
      new MutationObserver(() => l.querySelectorAll('[data-option]').forEach((o) => window.__nkSeen.push(o.getAttribute('data-option')))).observe(l, { subtree: true, childList: true, attributes: true })
    })()`)
    await page.getByTestId('palette-input').pressSequentially(poolName)
    await expect.poll(() => list.getAttribute('data-query'), { timeout: 10_000 }).toBe(poolName)
    await expect.poll(() => list.getAttribute('data-busy')).toBe('false')
    // Wait past the late answers, then look at everything the list ever showed.
    await page.waitForTimeout(1500)
    const seen = (await page.evaluate('window.__nkSeen')) as string[]
    expect(seen.filter((id) => id.startsWith('pool-')).length).toBeGreaterThan(0)
    expect(seen).not.toContain('user-alice')
    expect(await list.locator('[data-group="pool"] [role="option"]').first().textContent()).toContain(poolName)
    expect(await list.locator('[data-group="user"]').count()).toBe(0)
    await page.unrouteAll()

    // Several kinds for one word: a pool named after alice, her printer (by owner), alice herself.
    await invoke(s.harness, 'ipam:pool:create', { name: `alice-${tag}`, network: '10.77.3.0/24', site: 'Lab' })
    await page.getByTestId('palette-input').fill('alice')
    await expect.poll(() => list.getAttribute('data-query')).toBe('alice')
    await expect.poll(() => list.getAttribute('data-busy')).toBe('false')
    expect(await list.locator('[data-group]').evaluateAll((els) => els.map((e) => e.getAttribute('data-group')))).toEqual(['pool', 'address', 'user'])
    expect(await list.locator('[data-group="user"] [role="option"]').first().getAttribute('data-option')).toBe('user-alice')
    await page.keyboard.press('ArrowDown')
    await shot(page, 'palette')
    await page.keyboard.press('Escape')
    await page.getByTestId('palette').waitFor({ state: 'detached' })
    // The later tests count this file's pools.
    await invoke(s.harness, 'ipam:pool:delete', { pool: `alice-${tag}` })
  })

  it('a netkeeper://ip/ link through the harness link entry opens that address, on launch and while running', async () => {
    const { page } = s
    await page.goto(`${s.harness.url}#open=${encodeURIComponent('netkeeper://ip/10.77.1.21')}`)
    await page.getByRole('dialog', { name: 'Address 10.77.1.21' }).waitFor()
    expect(await page.getByRole('dialog', { name: 'Address 10.77.1.21' }).getByLabel('Host name').inputValue()).toBe(`scanner-${tag}`)
    expect(page.url()).toBe(s.harness.url)
    await page.keyboard.press('Escape')
    // A link handed to the running window (a second launch): a pool by name.
    await page.evaluate((l) => ((globalThis as unknown as { location: { hash: string } }).location.hash = `open=${encodeURIComponent(l)}`), `netkeeper://pool/other-${tag}`)
    await page.getByTestId('pool-detail').getByRole('heading', { name: `other-${tag}`, level: 1 }).waitFor()
    // A link to nothing says so.
    await page.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = `open=${encodeURIComponent('netkeeper://ip/10.99.99.99')}`))
    await page.getByTestId('toast').filter({ hasText: '10.99.99.99 is not allocated and lies in no pool' }).waitFor()
    expect(s.problems.filter((p) => !/404|Failed to load resource/.test(p))).toEqual([])
  })

  it('copies from the context menu of a row and of a map cell, and from a copy button', async () => {
    const { page } = s
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(s.harness.url).origin })
    const clipboard = (): Promise<string> => page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText())
    await page.evaluate((l) => ((globalThis as unknown as { location: { hash: string } }).location.hash = `open=${encodeURIComponent(l)}`), `netkeeper://pool/${poolName}`)
    await page.getByTestId('pool-detail').getByRole('heading', { name: poolName, level: 1 }).waitFor()

    // A row of the allocations table.
    await page.getByTestId('pool-allocations').locator('tr[data-ip="10.77.1.20"]').click({ button: 'right' })
    const menu = page.getByTestId('context-menu')
    await menu.waitFor()
    expect(await menu.getAttribute('role')).toBe('menu')
    expect(await menu.getByRole('menuitem').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining('Copy address'), expect.stringContaining('Copy MAC address'), expect.stringContaining('Show audit history')])
    )
    // Focus is in the menu: arrows and Enter work as well as the pointer.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } | null } }).document.activeElement?.getAttribute('role'))).toBe('menuitem')
    await menu.getByRole('menuitem', { name: /Copy MAC address/ }).click()
    await menu.waitFor({ state: 'detached' })
    expect(await clipboard()).toBe('02:00:00:77:01:20')
    await page.getByTestId('toast').filter({ hasText: 'Copied 02:00:00:77:01:20' }).first().waitFor()

    // A cell of the subnet map (canvas pixels: the menu knows which address it is).
    const p = await cellPoint(page, 21)
    await page.mouse.click(p.x, p.y, { button: 'right' })
    await menu.waitFor()
    await shot(page, 'context-menu')
    expect(await menu.getByRole('menuitem').first().textContent()).toContain('10.77.1.21')
    await page.keyboard.press('Enter')
    await menu.waitFor({ state: 'detached' })
    expect(await clipboard()).toBe('10.77.1.21')
    // A free cell offers "Allocate here…".
    const free = await cellPoint(page, 40)
    await page.mouse.click(free.x, free.y, { button: 'right' })
    await menu.getByRole('menuitem', { name: 'Allocate here…' }).click()
    await page.getByRole('dialog', { name: 'Allocate 10.77.1.40' }).waitFor()
    await page.keyboard.press('Escape')
    // Escape closes a menu without doing anything.
    await page.mouse.click(free.x, free.y, { button: 'right' })
    await menu.waitFor()
    await page.keyboard.press('Escape')
    await menu.waitFor({ state: 'detached' })

    // The copy button beside the prefix.
    await page.getByTestId('pool-detail').getByRole('button', { name: 'Copy prefix' }).click()
    expect(await clipboard()).toBe('10.77.1.0/24')
  })

  it('exports the subnet map as PNG and SVG', async () => {
    const { page } = s
    const [png] = await Promise.all([page.waitForEvent('download'), page.getByTestId('map-export-png').click()])
    expect(png.suggestedFilename()).toBe(`${poolName}_10.77.1.0-24.png`)
    const pngFile = path.join(resultsDir, 'map-export.png')
    await png.saveAs(pngFile)
    const bytes = fs.readFileSync(pngFile)
    expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a')
    // IHDR: width and height, big-endian, after the signature and the chunk header.
    const width = bytes.readUInt32BE(16)
    const height = bytes.readUInt32BE(20)
    expect(width).toBeGreaterThan(600)
    expect(height).toBeGreaterThan(200)

    const [svg] = await Promise.all([page.waitForEvent('download'), page.getByTestId('map-export-svg').click()])
    expect(svg.suggestedFilename()).toBe(`${poolName}_10.77.1.0-24.svg`)
    const svgFile = path.join(resultsDir, 'map-export.svg')
    await svg.saveAs(svgFile)
    const text = fs.readFileSync(svgFile, 'utf8')
    expect(text.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(text).toContain(`<title>${poolName} · 10.77.1.0/24</title>`)
    expect(text).toContain('>10.77.1.224<')
    expect(text).toContain('Allocated 2')
    expect(s.problems.filter((p) => !/404|Failed to load resource/.test(p))).toEqual([])
  })

  it('utilization over time: the chart on the pool page and the dashboard, the pool marked over its threshold, one notification per crossing', async () => {
    const { page } = s
    // Thirty days of history, as the daily maintenance would have written them, and today's snapshot.
    await withClient(dbUrl, (c) =>
      c.query(
        `insert into ip_pool_usage_daily (pool_id, day, usable, allocated, reserved, blocked, percent)
         select p.id, current_date - d, 253, (d % 7), 0, 0, trunc(100.0 * (30 - d) / 30 * 0.8, 2)
           from ip_pools p cross join generate_series(1, 30) d where p.name in ($1, $2)`,
        [poolName, `other-${tag}`]
      )
    )
    expect(await invoke(s.harness, 'ipam:usage:snapshot', {})).toEqual({ pools: 2 })
    // The lab pool at 1 % / 2 %: its 2 of 253 addresses (0.79 %) are under; two more (1.58 %) cross the warning.
    await invoke(s.harness, 'ipam:usage:thresholds:set', { pool: poolName, warnPercent: 1, criticalPercent: 2 })
    expect((await invoke(s.harness, 'ipam:usage:alerts', {})).crossed).toEqual([])
    await invoke(s.harness, 'ipam:allocate', { pool: poolName, count: 2, next: true })

    // The page's web Notification, recorded (headless Chromium has no notification server to show it on).
    await page.context().grantPermissions(['notifications'], { origin: new URL(s.harness.url).origin })
    await page.addInitScript(() => {
      const w = globalThis as unknown as { Notification: new (t: string, o?: object) => object; __notes: string[] }
      const Native = w.Notification
      w.__notes = []
      w.Notification = class extends (Native as unknown as { new (t: string, o?: object): object }) {
        constructor(title: string, options?: object) {
          super(title, options)
          w.__notes.push(title)
        }
      } as never
    })
    await page.goto(s.harness.url)
    const toast = page.getByTestId('toast').filter({ hasText: `${poolName} is 1.58 % full, at or above its warning level of 1 %` })
    await toast.waitFor()
    const notes = (): Promise<string[]> => page.evaluate(() => (globalThis as unknown as { __notes: string[] }).__notes)
    await expect.poll(notes).toEqual([`Netkeeper: pool ${poolName} filling up`])
    // Once: the next look reports nothing new.
    expect((await invoke(s.harness, 'ipam:usage:alerts', {})).crossed).toEqual([])

    // The dashboard's chart of every pool, and the pools over their thresholds.
    const dash = page.getByTestId('dashboard-usage')
    await dash.getByTestId('usage-chart').locator('canvas').first().waitFor()
    await dash.getByTestId('pools-over').getByRole('button', { name: poolName }).waitFor()
    await dash.scrollIntoViewIfNeeded()
    await shot(page, 'usage-dashboard')

    // The pool page: marked, its chart, its thresholds.
    await dash.getByTestId('pools-over').getByRole('button', { name: poolName }).click()
    const detail = page.getByTestId('pool-detail')
    await detail.getByTestId('pool-level').getByText('Warning: 1.58 % ≥ 1 %').waitFor()
    const card = detail.getByTestId('pool-usage')
    await card.getByTestId('usage-chart').locator('canvas').first().waitFor()
    await card.getByText('Show the numbers as a table').click()
    expect(await card.locator('tbody tr').count()).toBe(31)
    // Today's row is the snapshot taken before the two allocations.
    expect(await card.locator('tbody tr').last().textContent()).toContain('0.79 %')
    await card.getByText('Show the numbers as a table').click()
    await card.scrollIntoViewIfNeeded()
    await shot(page, 'usage-chart')
    expect(s.problems.filter((p) => !/404|Failed to load resource/.test(p))).toEqual([])

    // Thresholds through the dialog: a critical level below the warning is refused on its field.
    await card.getByRole('button', { name: /Thresholds: 1 % \/ 2 %/ }).click()
    const dialog = page.getByRole('dialog', { name: `Utilization thresholds of ${poolName}` })
    await dialog.getByLabel('Warning at (%)').fill('70')
    await dialog.getByLabel('Critical at (%)').fill('60')
    await dialog.getByRole('button', { name: 'Save thresholds' }).click()
    await dialog.getByText('must not be above the critical level').waitFor()
    await dialog.getByLabel('Critical at (%)').fill('90')
    await dialog.getByRole('button', { name: 'Save thresholds' }).click()
    await dialog.waitFor({ state: 'detached' })
    await card.getByRole('button', { name: /Thresholds: 70 % \/ 90 %/ }).waitFor()
    await detail.getByTestId('pool-level').waitFor({ state: 'detached' })
  })
})

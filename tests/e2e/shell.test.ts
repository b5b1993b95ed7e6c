/**
 * The renderer shell in a real Chromium (Debian's), served by the web harness over the real handler table
 * and a real embedded PostgreSQL (PGlite) in a throwaway data folder. Covers what the Electron shell shows
 * without needing Electron's binary; tests/e2e/electron.test.ts covers the shell itself where it exists.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { VIEWS } from '../../src/shared/navigation'
import { startWebHarness, type WebHarness } from '../../src/main/web/server'
import { createBridge } from '../../src/preload/bridge'
import { ensureRendererBuilt, invoke } from './support'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const resultsDir = path.join(root, 'test-results')
const CHROMIUM = '/usr/bin/chromium'
// As root Chromium needs --no-sandbox; without the networking flags it keeps dialling hosts this network refuses.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

const hasChromium = fs.existsSync(CHROMIUM)
if (!hasChromium) console.warn(`[e2e] skipping the renderer shell tests: ${CHROMIUM} is not installed (apt-get install chromium)`)


describe('the renderer shell in Chromium, over the web harness', () => {
  let harness: WebHarness
  let browser: Browser
  let page: Page
  let dataDir: string
  const saved = { dataDir: process.env.NETKEEPER_DATA_DIR, url: process.env.NETKEEPER_DATABASE_URL }
  /** Console errors and uncaught exceptions, CSP violations included: the shell must produce none. */
  const problems: string[] = []

  beforeAll(async () => {
    if (!hasChromium) return
    await ensureRendererBuilt()
    // The embedded default: a fresh data folder and no server URL, set before the core opens.
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-e2e-shell-'))
    process.env.NETKEEPER_DATA_DIR = dataDir
    delete process.env.NETKEEPER_DATABASE_URL
    harness = await startWebHarness({ port: 0 })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()} (${m.location().url})`)
    })
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
    // Signed in as a person would: the one-time URL sets the session cookie and lands on the clean URL.
    await page.goto(harness.loginUrl())
  })

  afterAll(async () => {
    await browser?.close()
    await harness?.close()
    if (saved.dataDir === undefined) delete process.env.NETKEEPER_DATA_DIR
    else process.env.NETKEEPER_DATA_DIR = saved.dataDir
    if (saved.url !== undefined) process.env.NETKEEPER_DATABASE_URL = saved.url
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })

  it.skipIf(!hasChromium)('shows the embedded database as reachable, with its server version, in the status bar', async () => {
    const status = page.getByRole('contentinfo', { name: 'Status' })
    await status.getByText('Database reachable').waitFor()
    const health = await invoke(harness, 'db:health', {})
    expect(health.reachable).toBe(true)
    expect(await status.getByTestId('db-kind').textContent()).toBe('Embedded PostgreSQL')
    expect(await status.getByTestId('db-label').textContent()).toContain(path.join(dataDir, 'pgdata'))
    expect((await status.getByTestId('db-version').textContent())?.trim()).toBe(`PostgreSQL ${health.serverVersion}`)
    expect(health.serverVersion).toMatch(/^\d+\.\d+/)
    expect((await status.getByTestId('db-latency').textContent())?.trim()).toMatch(/^\d+(\.\d)? ms$/)
    const info = await invoke(harness, 'app:info', {})
    expect((await status.getByTestId('app-version').textContent())?.trim()).toBe(`Netkeeper ${info.version}`)
  })

  it.skipIf(!hasChromium)('shows each screen from the side navigation and marks it as current', async () => {
    const nav = page.getByRole('navigation', { name: 'Main' })
    for (const view of VIEWS) {
      await nav.getByRole('link', { name: view.label, exact: true }).click()
      await page.getByRole('heading', { level: 1, name: view.label, exact: true }).waitFor()
      const current = await nav.locator('[aria-current="page"]').allTextContents()
      expect(current, `aria-current after clicking ${view.label}`).toHaveLength(1)
      expect(current[0]).toContain(view.label)
      expect(await page.title()).toBe(`${view.label} – Netkeeper`)
    }
    // A screen with nothing in it yet says so in words.
    await nav.getByRole('link', { name: 'IPAM', exact: true }).click()
    await page.getByText('No pools yet.').waitFor()
  })

  it.skipIf(!hasChromium)('switches screens with Ctrl+1..5 and moves focus to the new heading', async () => {
    await page.keyboard.press('Control+4')
    const heading = page.getByRole('heading', { level: 1, name: 'Audit', exact: true })
    await heading.waitFor()
    expect(await heading.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true)
    expect(await page.locator('[aria-current="page"]').getAttribute('data-view')).toBe('audit')
    await page.keyboard.press('Control+1')
    await page.getByRole('heading', { level: 1, name: 'Dashboard', exact: true }).waitFor()
  })

  it.skipIf(!hasChromium)('checks the connection from Settings and lists the applied migrations', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click()
    expect(await page.getByTestId('settings-data-dir').textContent()).toBe(dataDir)
    expect(await page.getByTestId('settings-kind').textContent()).toBe('Embedded PostgreSQL')

    const before = await invoke(harness, 'db:health', {})
    await page.getByRole('button', { name: 'Check connection' }).click()
    const result = page.getByTestId('check-result')
    await result.filter({ hasText: /Connected to PostgreSQL/ }).waitFor()
    expect(await result.textContent()).toContain(`PostgreSQL ${before.serverVersion}`)

    const state = await invoke(harness, 'db:status', {})
    expect(state.applied.length).toBeGreaterThan(0)
    await page.getByTestId('migrations-applied').waitFor()
    expect((await page.getByTestId('migrations-applied').locator('li').allTextContents()).map((t) => t.trim())).toEqual(state.applied)
    await page.getByText('None: the schema is up to date.').waitFor()
  })

  it.skipIf(!hasChromium)('renders cleanly in light and dark themes (screenshots in test-results/)', async () => {
    fs.mkdirSync(resultsDir, { recursive: true })
    await page.screenshot({ path: path.join(resultsDir, 'shell-settings.png') })
    await page.keyboard.press('Control+1')
    await page.getByRole('heading', { level: 1, name: 'Dashboard', exact: true }).waitFor()
    await page.getByRole('heading', { name: 'Migrations', exact: true }).waitFor()
    await page.getByRole('heading', { name: 'Most utilized pools' }).waitFor()
    await page.screenshot({ path: path.join(resultsDir, 'shell.png') })
    await page.emulateMedia({ colorScheme: 'dark' })
    await page.screenshot({ path: path.join(resultsDir, 'shell-dark.png') })
    await page.emulateMedia({ colorScheme: 'light' })
    expect(fs.statSync(path.join(resultsDir, 'shell.png')).size).toBeGreaterThan(10_000)
    expect(problems).toEqual([])
  })

  it.skipIf(!hasChromium)('gives the page the same bridge shape as the Electron preload', async () => {
    const preloadKeys = Object.keys(createBridge({ invoke: async () => undefined, on: () => () => undefined })).sort()
    const pageKeys = await page.evaluate(() => Object.keys((globalThis as unknown as { netkeeper: object }).netkeeper).sort())
    expect(pageKeys).toEqual(preloadKeys)
    // Unknown channels are refused in the page, before any request is made.
    const refused = await page.evaluate(() =>
      (globalThis as unknown as { netkeeper: { invoke(c: string, a: unknown): Promise<unknown> } }).netkeeper.invoke('no:such', {})
    )
    expect(refused).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } })
  })

  it.skipIf(!hasChromium)('keeps the page free of secrets: the session is an HttpOnly cookie the one-time URL set', async () => {
    expect(page.url()).toBe(harness.url)
    expect(await page.evaluate('document.cookie')).toBe('')
    const cookies = await page.context().cookies()
    expect(cookies).toMatchObject([{ name: harness.cookieName, httpOnly: true, sameSite: 'Strict', path: '/' }])
    const html = await page.content()
    expect(html).toContain('/__bridge/shim.js"')
    expect(html).not.toContain(cookies[0]!.value)
    expect(html).not.toMatch(/token=/)
  })

  it.skipIf(!hasChromium)('trades a one-time URL once for a cookie, and refuses requests without it, from another origin or another host name', async () => {
    const login = harness.loginUrl()
    const token = new URL(login).searchParams.get('token')!
    /** A request with the Host header we choose (fetch cannot set Host). */
    const raw = (pathAndQuery: string, headers: Record<string, string>): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = http.request(new URL(pathAndQuery, harness.url), { headers }, (res) => {
          let body = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => (body += c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        })
        req.on('error', reject)
        req.end()
      })
    const port = new URL(harness.url).port

    // The Host header is checked first, even on the sign-in URL: a foreign name or another port is refused
    // (421), and the token is not used up by it.
    expect((await raw(`/__bridge/login?token=${token}`, { host: 'evil.example' })).status).toBe(421)
    expect((await raw(`/__bridge/login?token=${token}`, { host: `127.0.0.1:${Number(port) + 1}` })).status).toBe(421)
    expect((await raw(`/__bridge/login?token=${token}`, { host: `evil.example:${port}` })).status).toBe(421)

    // Once: a 303 to the clean URL with the session cookie, HttpOnly and SameSite=Strict.
    const first = await fetch(login, { redirect: 'manual' })
    expect(first.status).toBe(303)
    expect(first.headers.get('location')).toBe('/')
    const setCookie = first.headers.get('set-cookie') ?? ''
    expect(setCookie).toMatch(new RegExp(`^${harness.cookieName}=[0-9a-f]{48}; Path=/; HttpOnly; SameSite=Strict$`))
    const cookie = setCookie.split(';')[0]!
    // Twice: refused, no cookie.
    const again = await fetch(login, { redirect: 'manual' })
    expect(again.status).toBe(403)
    expect(again.headers.get('set-cookie')).toBeNull()
    expect((await fetch(`${harness.url}__bridge/login?token=${'0'.repeat(48)}`, { redirect: 'manual' })).status).toBe(403)

    // The page and the shim hold no secret (neither the token nor the session).
    const html = await (await fetch(harness.url, { headers: { cookie } })).text()
    const shim = await (await fetch(`${harness.url}__bridge/shim.js`, { headers: { cookie } })).text()
    for (const body of [html, shim]) {
      expect(body).not.toContain(token)
      expect(body).not.toContain(cookie.split('=')[1]!)
    }
    expect(shim).not.toMatch(/token/i)

    // Without the cookie (or with a made-up one) nothing is served: the page, its assets, the shim, the bridge.
    const asset = /src="\.?(\/assets\/[^"]+\.js)"/.exec(html)?.[1]
    expect(asset).toBeTruthy()
    const invokeUrl = `${harness.url}__bridge/invoke/${encodeURIComponent('app:info')}`
    const post = (headers: Record<string, string>): Promise<Response> => fetch(invokeUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' })
    for (const headers of [{} as Record<string, string>, { cookie: `${harness.cookieName}=${'0'.repeat(48)}` }, { cookie: `netkeeper_harness_1=${cookie.split('=')[1]}` }]) {
      for (const url of [harness.url, `${harness.url}${asset!.slice(1)}`, `${harness.url}__bridge/shim.js`]) expect((await fetch(url, { headers })).status, url).toBe(401)
      expect((await post(headers)).status).toBe(401)
    }
    expect((await raw('/', {})).body).toContain('one-time sign-in URL')
    expect((await post({ cookie })).status).toBe(200)
    // With the cookie, still only from this server's own pages and under its own names.
    expect((await post({ cookie, origin: 'http://evil.example' })).status).toBe(403)
    expect((await raw('/', { cookie, host: `localhost:${port}` })).status).toBe(200)
    expect((await raw('/', { cookie, host: 'evil.example' })).status).toBe(421)
  })
})

describe('the renderer shell when the database is unreachable', () => {
  let harness: WebHarness
  let browser: Browser
  let dataDir: string
  const saved = { dataDir: process.env.NETKEEPER_DATA_DIR, url: process.env.NETKEEPER_DATABASE_URL }

  beforeAll(async () => {
    if (!hasChromium) return
    await ensureRendererBuilt()
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-e2e-down-'))
    process.env.NETKEEPER_DATA_DIR = dataDir
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    process.env.NETKEEPER_DATABASE_URL = 'postgres://netkeeper@127.0.0.1:1/netkeeper'
    harness = await startWebHarness({ port: 0 })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  })

  afterAll(async () => {
    await browser?.close()
    await harness?.close()
    for (const [name, value] of [
      ['NETKEEPER_DATA_DIR', saved.dataDir],
      ['NETKEEPER_DATABASE_URL', saved.url]
    ] as const) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })

  it.skipIf(!hasChromium)('still opens, and says the database is unreachable and why', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    await page.goto(harness.loginUrl())
    const status = page.getByRole('contentinfo', { name: 'Status' })
    await status.getByText('Database unreachable').waitFor()
    expect(await status.getByTestId('db-kind').textContent()).toBe('PostgreSQL server')
    expect(await status.getByTestId('db-label').textContent()).toContain('127.0.0.1:1/netkeeper')
    const alert = page.getByRole('alert')
    await alert.getByText('The database is unreachable').waitFor()
    expect(await alert.textContent()).toMatch(/ECONNREFUSED|unreachable/)
    // Screens that need the database refuse with UNAVAILABLE instead of failing silently.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click()
    await page.getByText('the NETKEEPER_DATABASE_URL environment variable', { exact: true }).waitFor()
    await page.getByText('Not known while the database is unreachable.').waitFor()
    // "Check connection" retries opening the core and reports the refusal.
    await page.getByRole('button', { name: 'Check connection' }).click()
    await page.getByTestId('check-result').filter({ hasText: /Could not connect: .*ECONNREFUSED/ }).waitFor()
    fs.mkdirSync(resultsDir, { recursive: true })
    await page.screenshot({ path: path.join(resultsDir, 'shell-unreachable.png') })
  })
})

/**
 * Shared set-up for the renderer's end-to-end tests: builds the renderer once (when a source file is newer
 * than the build, under a lock so two test files running at once do not build over each other), starts
 * the web harness on a database, and drives Debian's Chromium through playwright-core. The browser signs
 * in the way a person does, through a one-time sign-in URL; direct bridge calls use a session of their own,
 * got the same way (harnessCookie).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Locator, type Page } from 'playwright-core'
import type { ArgsOf, Channel, Envelope, ResultOf } from '../../src/shared/contract'
import { startWebHarness, type WebHarness } from '../../src/main/web/server'
import { ensureBuilt } from '../support/build'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const resultsDir = path.join(root, 'test-results')
export const CHROMIUM = '/usr/bin/chromium'
// As root Chromium needs --no-sandbox; without the networking flags it keeps dialling hosts this network refuses.
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
export const hasChromium = fs.existsSync(CHROMIUM)

/** Builds the renderer when its sources changed since the last build; one builder at a time (tests/support/build.ts). */
export const ensureRendererBuilt = (): Promise<void> => ensureBuilt('renderer')

const cookies = new WeakMap<WebHarness, Promise<string>>()

/** Trades a one-time sign-in URL for the session cookie, as a browser does; returns the Cookie header. */
export async function signInToHarness(h: WebHarness): Promise<string> {
  const res = await fetch(h.loginUrl(), { redirect: 'manual' })
  const set = res.headers.get('set-cookie') ?? ''
  if (res.status !== 303 || !set.startsWith(`${h.cookieName}=`)) throw new Error(`the harness sign-in answered ${res.status} ${set}`)
  return set.split(';')[0]!
}

/** A Cookie header of a session of this harness (one per harness, for direct calls from the tests). */
export function harnessCookie(h: WebHarness): Promise<string> {
  let c = cookies.get(h)
  if (!c) cookies.set(h, (c = signInToHarness(h)))
  return c
}

/** fetch with the tests' session cookie of the harness. */
export async function harnessFetch(h: WebHarness, url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), cookie: await harnessCookie(h) } })
}

/** Calls the harness bridge the way the page's shim does. */
export async function invoke<C extends Channel>(h: WebHarness, channel: C, args: ArgsOf<C>): Promise<ResultOf<C>> {
  const res = await harnessFetch(h, `${h.url}__bridge/invoke/${encodeURIComponent(channel)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(args)
  })
  const envelope = (await res.json()) as Envelope<ResultOf<C>>
  if (!envelope.ok) throw new Error(`${channel}: ${envelope.error.message}`)
  return envelope.value
}

export interface Session {
  harness: WebHarness
  browser: Browser
  page: Page
  dataDir: string
  /** Console errors and uncaught exceptions (CSP violations included). */
  problems: string[]
  close(): Promise<void>
}

/**
 * A harness on `databaseUrl` (with a throwaway data folder) and one Chromium page on it; without a URL the
 * harness opens what the data folder's settings say (the embedded store in a fresh one).
 */
export async function openSession(databaseUrl: string | undefined, prefix: string): Promise<Session> {
  await ensureRendererBuilt()
  const saved = process.env.NETKEEPER_DATA_DIR
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `netkeeper-e2e-${prefix}-`))
  process.env.NETKEEPER_DATA_DIR = dataDir
  const harness = await startWebHarness({ port: 0, databaseUrl })
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, acceptDownloads: true })
  // Fail a step in seconds, not half a minute: the harness answers locally.
  page.setDefaultTimeout(10_000)
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()} (${m.location().url})`)
  })
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  // The one-time URL sets the session cookie and lands on the clean URL; later page.goto(harness.url) works.
  await page.goto(harness.loginUrl())
  if (page.url() !== harness.url) throw new Error(`signing in to the harness ended at ${page.url()}, not ${harness.url}`)
  await page.getByRole('contentinfo', { name: 'Status' }).getByText('Database reachable').waitFor()
  return {
    harness,
    browser,
    page,
    dataDir,
    problems,
    async close() {
      await browser.close()
      await harness.close()
      if (saved === undefined) delete process.env.NETKEEPER_DATA_DIR
      else process.env.NETKEEPER_DATA_DIR = saved
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

export async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(resultsDir, { recursive: true })
  const file = path.join(resultsDir, `${name}.png`)
  await page.screenshot({ path: file })
  return file
}

export async function goTo(page: Page, label: 'Dashboard' | 'IPAM' | 'Directory' | 'Audit' | 'Settings'): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click()
}

/** The subnet map's grid and its geometry (from the data attributes CellGrid exposes). */
export async function gridGeometry(page: Page): Promise<{ grid: Locator; canvas: Locator; cols: number; pitch: number; cell: number; count: number }> {
  const grid = page.getByTestId('cell-grid')
  await grid.waitFor()
  const attr = async (n: string): Promise<number> => Number(await grid.getAttribute(`data-${n}`))
  return { grid, canvas: grid.locator('canvas.overlay'), cols: await attr('cols'), pitch: await attr('pitch'), cell: await attr('cell'), count: await attr('count') }
}

/** The viewport point at the middle of cell `i`. */
export async function cellPoint(page: Page, i: number): Promise<{ x: number; y: number }> {
  const g = await gridGeometry(page)
  await g.grid.scrollIntoViewIfNeeded()
  const box = await g.canvas.boundingBox()
  if (!box) throw new Error('the map canvas is not visible')
  return { x: box.x + (i % g.cols) * g.pitch + g.cell / 2, y: box.y + Math.floor(i / g.cols) * g.pitch + g.cell / 2 }
}

export async function clickCell(page: Page, i: number): Promise<void> {
  const p = await cellPoint(page, i)
  await page.mouse.click(p.x, p.y)
}

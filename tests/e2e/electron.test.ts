/**
 * The Electron shell itself, driven by Playwright's `_electron`: the built app (out/main/index.js) opens a
 * locked-down window that shows the embedded database in the status bar.
 *
 * Electron's binary comes from a download host CI cannot reach, so this file skips with a message where
 * the binary is missing (ELECTRON_SKIP_BINARY_DOWNLOAD=1 installs). On Linux without a display it starts
 * its own Xvfb on a free display number.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { _electron, type ElectronApplication, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const electronDir = path.join(root, 'node_modules', 'electron')

/**
 * Where the Electron binary would be, or why it is not there. Deliberately not `require('electron')`: when
 * the binary is missing, that starts a download.
 */
function findElectron(): { path: string } | { missing: string } {
  let rel: string
  try {
    rel = fs.readFileSync(path.join(electronDir, 'path.txt'), 'utf8').trim()
  } catch {
    return { missing: 'node_modules/electron/path.txt is absent (installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1?)' }
  }
  const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH ?? path.join(electronDir, 'dist')
  const bin = path.join(dist, rel)
  return fs.existsSync(bin) ? { path: bin } : { missing: `${bin} does not exist` }
}

const electron = findElectron()
const needsDisplay = process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY
const hasXvfb = spawnSync('sh', ['-c', 'command -v Xvfb'], { stdio: 'ignore' }).status === 0
const skipReason =
  'missing' in electron
    ? `the Electron binary is not installed: ${electron.missing}. Run \`npx install-electron\` where its download host is reachable.`
    : needsDisplay && !hasXvfb
      ? 'there is no display and Xvfb is not installed (apt-get install xvfb)'
      : undefined
if (skipReason) console.warn(`[e2e] skipping the Electron shell tests: ${skipReason}`)

/** Starts Xvfb on the first free display; it writes the number it picked to fd 3. */
async function startXvfb(): Promise<{ display: string; proc: ChildProcess }> {
  const proc = spawn('Xvfb', ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '1280x800x24'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe']
  })
  const display = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error('Xvfb did not start within 10 s')), 10_000)
    proc.stdio[3]!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) {
        clearTimeout(timer)
        resolve(`:${out.trim()}`)
      }
    })
    proc.once('exit', (code) => reject(new Error(`Xvfb exited with ${code}`)))
  })
  return { display, proc }
}

describe('the Electron shell', () => {
  let app: ElectronApplication
  let page: Page
  let xvfb: { display: string; proc: ChildProcess } | undefined
  let tmp: string

  beforeAll(async () => {
    if (skipReason || 'missing' in electron) return
    if (!fs.existsSync(path.join(root, 'out/main/index.js'))) {
      execFileSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: 'inherit' })
    }
    if (needsDisplay) xvfb = await startXvfb()
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-e2e-electron-'))
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
    delete env.NETKEEPER_DATABASE_URL
    delete env.ELECTRON_RUN_AS_NODE
    Object.assign(env, {
      // The embedded database and Electron's userData (window-state.json) both in the throwaway folder.
      NETKEEPER_DATA_DIR: path.join(tmp, 'data'),
      XDG_CONFIG_HOME: path.join(tmp, 'config'),
      ...(xvfb ? { DISPLAY: xvfb.display } : {})
    })
    // Chromium's own sandbox cannot run as root; the window's renderer sandbox (webPreferences) stays on.
    const args = [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), path.join(root, 'out/main/index.js')]
    app = await _electron.launch({ executablePath: electron.path, args, env, cwd: root, timeout: 60_000 })
    page = await app.firstWindow()
  })

  afterAll(async () => {
    await app?.close()
    xvfb?.proc.kill()
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  it.skipIf(!!skipReason)('opens one window titled Netkeeper that shows the embedded database as reachable', async () => {
    await page.getByRole('contentinfo', { name: 'Status' }).getByText('Database reachable').waitFor({ timeout: 60_000 })
    expect(await page.title()).toMatch(/Netkeeper/)
    expect(await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(1)
    expect(await page.getByTestId('db-kind').textContent()).toBe('Embedded PostgreSQL')
    expect(await page.getByTestId('db-version').textContent()).toMatch(/PostgreSQL \d+\.\d+/)
  })

  it.skipIf(!!skipReason)('is locked down: no Node in the page, one bridge object, no navigation or new windows', async () => {
    const globals = await page.evaluate(() => ({
      require: typeof (globalThis as { require?: unknown }).require,
      process: typeof (globalThis as { process?: unknown }).process,
      bridge: Object.keys((globalThis as unknown as { netkeeper: object }).netkeeper).sort()
    }))
    expect(globals).toEqual({ require: 'undefined', process: 'undefined', bridge: ['invoke', 'onNavigate'] })
    // window.open and navigation away are refused.
    await page.evaluate(() => {
      const w = globalThis as unknown as { open(url: string): unknown; location: { href: string } }
      w.open('https://example.com/')
      w.location.href = 'https://example.com/'
    })
    await new Promise((r) => setTimeout(r, 500))
    expect(await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(1)
    expect(page.url()).toMatch(/^file:.*\/out\/renderer\/index\.html/)
  })

  it.skipIf(!!skipReason)('switches screens from the View menu accelerators', async () => {
    await app.evaluate(({ Menu, BrowserWindow }) => {
      const item = Menu.getApplicationMenu()
        ?.items.find((i) => i.label.replace('&', '') === 'View')
        ?.submenu?.items.find((i) => i.label === 'Settings')
      item?.click(undefined, BrowserWindow.getAllWindows()[0], undefined as never)
    })
    await page.getByRole('heading', { level: 1, name: 'Settings', exact: true }).waitFor()
    expect(await page.locator('[aria-current="page"]').getAttribute('data-view')).toBe('settings')
  })
})

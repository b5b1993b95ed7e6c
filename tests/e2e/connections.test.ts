/**
 * Settings › Connections in a real Chromium over the web harness, started on the embedded store: add a
 * connection to the suite's PostgreSQL (it has no TLS, so `disable` is chosen explicitly and its warning
 * shows), test it (version, TLS, latency, migrations, role), save it (the password goes to the suite's
 * Secret Service), switch the running app to it and back to the embedded store, without a restart of the
 * app or a reload of the page. The screen is saved as test-results/settings-connections.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeBound } from '../../src/main/core/credentials/bound'
import { dbAccount, keychain } from '../../src/main/core/credentials/keychain'
import { freshDatabase } from '../support/db'
import { goTo, hasChromium, invoke, openSession, resultsDir, type Session } from './support'

const hasSecretService = Boolean(process.env.DBUS_SESSION_BUS_ADDRESS)
if (!hasChromium) console.warn('[e2e] skipping the connections screen test: /usr/bin/chromium is not installed (apt-get install chromium)')
if (!hasSecretService) console.warn('[e2e] skipping the connections screen test: no session D-Bus for the keychain (run through `npm test`)')

describe.skipIf(!hasChromium || !hasSecretService)('Settings › Connections', () => {
  let s: Session
  const saved = process.env.NETKEEPER_DATABASE_URL

  beforeAll(async () => {
    delete process.env.NETKEEPER_DATABASE_URL
    s = await openSession(undefined, 'connections')
  })

  afterAll(async () => {
    await s?.close()
    await keychain.delete(dbAccount('team')).catch(() => false)
    if (saved !== undefined) process.env.NETKEEPER_DATABASE_URL = saved
  })

  it('adds, tests and saves a server connection, switches to it and back to the embedded store', async () => {
    const { page, harness } = s
    const url = new URL(await freshDatabase('nk_e2e_conn'))
    const status = page.getByRole('contentinfo', { name: 'Status' })
    await status.getByTestId('db-label').filter({ hasText: 'embedded PostgreSQL' }).waitFor()
    await invoke(harness, 'ipam:pool:create', { name: 'on-embedded', network: '10.50.0.0/24' })

    await goTo(page, 'Settings')
    const card = page.getByTestId('connections')
    await card.locator('[data-connection="embedded"]').getByTestId('in-use').waitFor()

    await card.getByRole('button', { name: 'Add connection' }).click()
    const dialog = page.getByRole('dialog', { name: 'Add connection' })
    // A new connection verifies the server unless told otherwise.
    expect(await dialog.getByLabel('TLS mode').inputValue()).toBe('verify-full')
    expect(await dialog.getByTestId('tls-warning').count()).toBe(0)
    await dialog.getByLabel('Name').fill('team')
    await dialog.getByLabel('Host').fill(url.hostname)
    await dialog.getByLabel('Port').fill(url.port)
    await dialog.getByLabel('Database').fill(url.pathname.slice(1))
    await dialog.getByLabel('User').fill('postgres')
    await dialog.getByLabel('Password').fill('team-secret')
    // The suite's server has no TLS: disable, chosen explicitly, says what it gives up.
    await dialog.getByLabel('TLS mode').selectOption('disable')
    await dialog.getByTestId('tls-warning').filter({ hasText: 'TLS is off (sslMode disable): the password and all data cross the network in clear text' }).waitFor()

    await dialog.getByRole('button', { name: 'Test connection' }).click()
    const result = dialog.getByTestId('connection-test-result')
    await result.filter({ hasText: /Connected to PostgreSQL 15\.\d+.* in [\d.]+ ms/ }).waitFor()
    expect(await result.getByTestId('report-tls').textContent()).toContain('not in use')
    expect(await result.getByTestId('report-verification').textContent()).toContain('none: the connection is not encrypted')
    expect(await result.getByTestId('report-role').textContent()).toContain('postgres: owner')
    expect(await result.getByTestId('report-migrations').textContent()).toMatch(/\d+ pending, 0 applied/)
    await page.screenshot({ path: `${resultsDir}/settings-connection-dialog.png` })

    await dialog.getByRole('button', { name: 'Save connection' }).click()
    await dialog.waitFor({ state: 'detached' })
    await page.getByTestId('toast').filter({ hasText: 'Saved connection team (password in the OS keychain).' }).waitFor()
    expect(decodeBound((await keychain.get(dbAccount('team')))!)).toMatchObject({ secret: 'team-secret', endpoint: { sslMode: 'disable', port: Number(url.port) } })
    const team = card.locator('[data-connection="team"]')
    await team.getByTestId('tls-badge').filter({ hasText: 'no TLS' }).waitFor()
    expect(await team.getByTestId('tls-warning-text').textContent()).toContain('TLS is off')
    expect(await team.getByTestId('password-team').textContent()).toBe('saved in the keychain')

    // Test from the list too.
    await team.getByRole('button', { name: 'Test connection team' }).click()
    await team.getByTestId('report-team').filter({ hasText: 'Connected to PostgreSQL' }).waitFor()

    // Switch: the app reopens on the server (migrating it); the page's app starts over on Settings and says
    // so. The page itself is not loaded again (the desktop shell refuses navigations): a marker survives.
    await page.evaluate(() => Object.assign(globalThis, { beforeSwitch: true }))
    await team.getByRole('button', { name: 'Switch to team' }).click()
    const confirm = page.getByRole('dialog', { name: 'Switch to team?' })
    expect(await confirm.textContent()).toContain('TLS is off')
    await confirm.getByRole('button', { name: 'Switch', exact: true }).click()
    const switched = page.getByTestId('toast').filter({ hasText: /^Switched to connection team \(postgres@127\.0\.0\.1:\d+\/nk_e2e_conn_\w+\)\. Warning: TLS is off/ })
    await switched.waitFor({ timeout: 60_000 })
    await status.getByTestId('db-label').filter({ hasText: '(profile team)' }).waitFor()
    expect(await page.evaluate(() => (globalThis as { beforeSwitch?: boolean }).beforeSwitch)).toBe(true)
    await status.getByTestId('db-tls-warning').filter({ hasText: 'No TLS' }).waitFor()
    await page.getByTestId('settings-tls-warning').waitFor()
    await card.locator('[data-connection="team"]').getByTestId('in-use').waitFor()
    expect((await invoke(harness, 'ipam:pool:list', {})).items.map((p) => p.name)).toEqual([])
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor()
    await switched.getByRole('button', { name: 'Dismiss' }).click()
    await switched.waitFor({ state: 'detached' })
    // On the server now: its test from the list, for the picture too.
    const inUse = card.locator('[data-connection="team"]')
    await inUse.getByRole('button', { name: 'Test connection team' }).click()
    await inUse.getByTestId('report-team').filter({ hasText: 'Connected to PostgreSQL' }).waitFor()
    expect(await inUse.getByTestId('report-team').getByTestId('report-migrations').textContent()).toMatch(/^up to date \(\d+ applied\)$/)
    await card.evaluate((el) => el.scrollIntoView({ block: 'center' }))
    await page.screenshot({ path: `${resultsDir}/settings-connections.png` })

    // The connection in use cannot be removed, and has no Switch button; the embedded store has.
    expect(await card.locator('[data-connection="team"]').getByRole('button', { name: 'Remove connection team' }).count()).toBe(0)
    await card.locator('[data-connection="embedded"]').getByRole('button', { name: 'Switch to embedded' }).click()
    await page.getByRole('dialog', { name: 'Switch to embedded?' }).getByRole('button', { name: 'Switch', exact: true }).click()
    await page.getByTestId('toast').filter({ hasText: 'Switched to the embedded store' }).waitFor({ timeout: 60_000 })
    await status.getByTestId('db-label').filter({ hasText: 'embedded PostgreSQL' }).waitFor()
    expect(await status.getByTestId('db-tls-warning').count()).toBe(0)
    expect((await invoke(harness, 'ipam:pool:list', {})).items.map((p) => p.name)).toEqual(['on-embedded'])
    expect((await invoke(harness, 'settings:connection:list', {})).active).toBe('embedded')
    expect(s.problems.filter((p) => !/Failed to load resource/.test(p))).toEqual([])
  })
})

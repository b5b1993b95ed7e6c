/**
 * A directory sign-in required by the database, in a real Chromium over the web harness: an admin switches
 * it on in Settings › Security; signed out, the app shows nothing but the sign-in screen until someone
 * signs in; signing out of a viewer's session leaves a viewer's rights. Real slapd and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDatabase } from '../support/db'
import { baseProfile, slapdInfo, slapdMissing } from '../support/directory'
import { SEED_PASSWORDS } from '../support/slapd'
import { goTo, hasChromium, invoke, openSession, shot, type Session } from './support'

const skip = !hasChromium || Boolean(slapdMissing())
if (!hasChromium) console.warn('[e2e] skipping the sign-in gate tests: /usr/bin/chromium is not installed')

describe.skipIf(skip)('a sign-in required by the database', () => {
  let s: Session
  const profile = 'gate'

  beforeAll(async () => {
    s = await openSession(await freshDatabase('nk_e2e_gate'), 'gate')
    const info = slapdInfo()
    await invoke(s.harness, 'directory:profile:save', {
      profile: { ...baseProfile(info, { name: profile, usersDn: `ou=people,${info.baseDn}`, groupsDn: `ou=groups,${info.baseDn}` }), bindDn: undefined },
      replace: true
    } as never)
  })

  afterAll(async () => {
    await s?.close()
  })

  it('is switched on by a signed-in admin in Settings › Security', async () => {
    const { page } = s
    await invoke(s.harness, 'auth:signin', { profile, user: 'alice', password: SEED_PASSWORDS.alice })
    await page.reload()
    await goTo(page, 'Settings')
    const box = page.getByTestId('require-sign-in')
    await expect.poll(() => box.isEnabled()).toBe(true)
    expect(await box.isChecked()).toBe(false)
    await box.check()
    await page.getByTestId('toast').filter({ hasText: 'A directory sign-in is now required' }).waitFor()
    expect(await box.isChecked()).toBe(true)
    await shot(page, 'settings-security')
  })

  it('shows nothing but the sign-in screen until someone signs in', async () => {
    const { page } = s
    await page.getByRole('button', { name: 'Sign out' }).click()
    const gate = page.getByTestId('sign-in-gate')
    await gate.waitFor()
    expect(await page.getByRole('navigation', { name: 'Main' }).count()).toBe(0)
    // A request that goes around the screen is refused by the core too.
    await expect(invoke(s.harness, 'ipam:pool:list', {})).rejects.toThrow(/requires a directory sign-in/)
    await page.reload()
    await gate.waitFor()
    await shot(page, 'sign-in-gate')
    await gate.getByLabel('User name').fill('victor')
    await gate.getByLabel('Password').fill(SEED_PASSWORDS.victor)
    await gate.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('navigation', { name: 'Main' }).waitFor()
    expect(await gate.count()).toBe(0)
  })

  it("leaves a viewer's rights after the viewer signs out (and the gate again)", async () => {
    const { page } = s
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByTestId('sign-in-gate').waitFor()
    // The admin switches the requirement off from elsewhere (another desktop): this app lets the person in,
    // as a viewer, not as the desktop admin.
    await invoke(s.harness, 'auth:signin', { profile, user: 'alice', password: SEED_PASSWORDS.alice })
    await invoke(s.harness, 'settings:security:set', { requireSignIn: false })
    await invoke(s.harness, 'auth:signin', { profile, user: 'victor', password: SEED_PASSWORDS.victor })
    const out = await invoke(s.harness, 'auth:signout', {})
    expect(out).toMatchObject({ signedIn: false, signInRequired: false, roleWithoutSession: 'viewer' })
    await page.reload()
    await page.getByRole('navigation', { name: 'Main' }).waitFor()
    await expect(invoke(s.harness, 'ipam:pool:create', { name: 'by-viewer', network: '10.61.0.0/24' })).rejects.toThrow(/viewer/)
  })
})

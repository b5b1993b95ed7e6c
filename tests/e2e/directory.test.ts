/**
 * The directory screens in a real Chromium over the web harness, against the test slapd: an LDAP profile
 * added in Settings (bind password to the keychain), sign-in with a wrong and then the right password,
 * users as a bounded virtual list read with the core's cursors as it scrolls (1,230 people: the window lets
 * go of the first rows, the DOM holds only the rows in sight, the keyboard moves and selects), a user created through the form (with an inline validation error
 * first), added to a group with the member picker, locked and unlocked, the idle-lock screen, sign-out.
 * Each test file's users and groups live in containers of their own. Screenshots go to test-results/.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDatabase } from '../support/db'
import { hasSecretService, ldapadd, ldapsearch, ldifValues, makeContainers, slapdInfo, slapdMissing } from '../support/directory'
import { SEED_PASSWORDS } from '../support/slapd'
import { goTo, hasChromium, invoke, openSession, shot, type Session } from './support'

const skip = !hasChromium || Boolean(slapdMissing())
if (!hasChromium) console.warn('[e2e] skipping the directory screen tests: /usr/bin/chromium is not installed')

describe.skipIf(skip)('the directory screens', () => {
  let s: Session
  const tag = `e2e-${randomBytes(3).toString('hex')}`
  const profileName = tag
  let usersDn = ''
  let groupsDn = ''
  const PEOPLE = 1230
  const toast = (text: string | RegExp) => s.page.getByTestId('toast').filter({ hasText: text })

  beforeAll(async () => {
    const info = slapdInfo()
    ;({ usersDn, groupsDn } = makeContainers(tag, info))
    // 1,230 people (more than the table's window of 1,000 loaded rows) and one posixGroup for the member picker.
    let ldif = ''
    for (let i = 1; i <= PEOPLE; i++) {
      const uid = `p${String(i).padStart(4, '0')}-${tag}`
      ldif += `dn: uid=${uid},${usersDn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: ${uid}\ncn: Person ${i}\nsn: Person\nuidNumber: ${30000 + i}\ngidNumber: 2000\nhomeDirectory: /home/${uid}\n\n`
    }
    ldif += `dn: cn=team-${tag},${groupsDn}\nobjectClass: posixGroup\ncn: team-${tag}\ngidNumber: 39000\ndescription: The e2e team\n\n`
    ldapadd(ldif, info)
    s = await openSession(await freshDatabase('nk_e2e_directory'), 'directory')
  })

  afterAll(async () => {
    await s?.close()
  })

  it('adds an LDAP profile in Settings and tests its connection', async () => {
    const { page } = s
    const info = slapdInfo()
    await goTo(page, 'Settings')
    const card = page.getByTestId('ldap-profiles')
    await card.getByText('No profile yet').waitFor()
    await card.getByRole('button', { name: 'Add profile' }).click()
    const dialog = page.getByRole('dialog', { name: 'Add LDAP profile' })
    await dialog.getByRole('textbox', { name: 'Name', exact: true }).fill(profileName)
    await dialog.getByLabel('Server URL').fill(info.url)
    await dialog.getByLabel('Base DN').fill('not a dn')
    await dialog.getByRole('button', { name: 'Save profile' }).click()
    await dialog.getByText('is not a distinguished name').waitFor()
    await dialog.getByLabel('Base DN').fill(info.baseDn)
    await dialog.getByLabel('Users DN').fill(usersDn)
    await dialog.getByLabel('Groups DN').fill(groupsDn)
    await dialog.getByLabel('Default gidNumber of new users').fill('2000')
    if (hasSecretService) {
      await dialog.getByLabel('Bind DN', { exact: true }).fill(info.adminDn)
      await dialog.getByLabel('Bind password').fill(info.adminPassword)
    }
    await dialog.getByLabel('Admin bind DNs').fill(info.adminDn)
    await shot(page, 'settings-ldap-profile-dialog')
    await dialog.getByRole('button', { name: 'Save profile' }).click()
    await toast(`Saved LDAP profile ${profileName}`).waitFor()
    if (hasSecretService) {
      await card.getByTestId(`secret-${profileName}`).getByText('stored in the keychain').waitFor()
      // The password never comes back over the bridge.
      const listed = await invoke(s.harness, 'directory:profile:list', {})
      expect(JSON.stringify(listed)).not.toContain(info.adminPassword)
      await card.getByRole('button', { name: 'Test connection' }).click()
      await card.getByTestId(`test-${profileName}`).getByText('Connection works').waitFor()
      await card.getByTestId(`test-${profileName}`).scrollIntoViewIfNeeded()
    }
    await shot(page, 'settings-ldap-profiles')
  })

  it('refuses a wrong password with a clear message, then signs in', async () => {
    const { page } = s
    await goTo(page, 'Directory')
    const form = page.getByTestId('signin')
    await form.getByRole('button', { name: 'Sign in' }).click()
    await form.getByText('Enter your user name').waitFor()
    // Without a stored bind secret the login name cannot be looked up: use the full DN.
    const user = hasSecretService ? 'alice' : `uid=alice,ou=people,${slapdInfo().baseDn}`
    await form.getByLabel('User name').fill(user)
    await form.getByLabel('Password').fill('wrong-password')
    await form.getByRole('button', { name: 'Sign in' }).click()
    const err = page.getByTestId('signin-error')
    await err.waitFor()
    expect(await err.textContent()).toMatch(/user name or password is wrong/)
    await shot(page, 'directory-signin-error')
    await form.getByLabel('Password').fill(SEED_PASSWORDS.alice)
    await form.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('tab', { name: 'Users' }).waitFor()
    await page.getByTestId('session-menu').getByText('admin').waitFor()
  })

  it('lists users as a bounded virtual list: read on by cursor while scrolling, the top let go of past the window, only the rows in sight in the DOM, keyboard and search', async () => {
    const { page } = s
    const panel = page.getByTestId('users-panel')
    const scroller = panel.getByTestId('users-scroller')
    const table = panel.getByRole('table', { name: 'Users' })
    const drawn = panel.locator('tbody tr[data-index]')
    const status = panel.getByTestId('users-status')
    /** An attribute of the element that has the keyboard focus. */
    const focused = (attr: string): Promise<string | null | undefined> =>
      page.evaluate((a) => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } | null } }).document.activeElement?.getAttribute(a), attr)
    await panel.locator(`tr[data-uid="p0001-${tag}"]`).waitFor()
    await status.getByText(/^100 users so far/).waitFor()
    // Only the rows in sight (plus a few either side) are in the DOM, not the 100 loaded.
    expect(await drawn.count()).toBeLessThanOrEqual(40)
    await shot(page, 'directory-users')

    // Keyboard: the first row takes focus, Arrow Down moves, Space selects, End goes to the last loaded row.
    await panel.locator(`tr[data-uid="p0001-${tag}"]`).focus()
    await page.keyboard.press('ArrowDown')
    await expect.poll(() => focused('data-uid')).toBe(`p0002-${tag}`)
    await page.keyboard.press(' ')
    await panel.getByTestId('bulk-bar').getByText('1 selected').waitFor()
    expect(await panel.locator(`tr[data-uid="p0002-${tag}"]`).getAttribute('aria-selected')).toBe('true')
    await page.keyboard.press(' ')
    await panel.getByTestId('bulk-bar').waitFor({ state: 'detached' })
    await page.keyboard.press('End')
    await expect.poll(async () => Number(await focused('data-index'))).toBeGreaterThanOrEqual(99)

    // Scroll to the end: pages arrive as the end nears; past 1,000 loaded rows the first ones are let go of.
    await expect
      .poll(
        async () => {
          await scroller.evaluate((el) => el.scrollTo({ top: el.scrollHeight }))
          return (await status.textContent()) ?? ''
        },
        { timeout: 90_000, interval: 300 }
      )
      .toMatch(/^1[,.\u00a0\u202f ]?230 users · the first 230 let go of/)
    // The last page may have arrived after the last scroll: to the end once more, then the last person is drawn.
    await scroller.evaluate((el) => el.scrollTo({ top: el.scrollHeight }))
    await panel.locator(`tr[data-uid="p${String(PEOPLE).padStart(4, '0')}-${tag}"]`).waitFor({ state: 'attached' })
    expect(Number(await table.getAttribute('data-window'))).toBe(1000)
    expect(Number(await table.getAttribute('data-offset'))).toBe(230)
    expect(await drawn.count()).toBeLessThanOrEqual(40)
    const inDom = await panel.locator('tbody tr').count()
    expect(inDom).toBeLessThanOrEqual(42) // the drawn rows and the two spacers
    await shot(page, 'directory-users-scrolled')

    // Back at the top, the rows let go of are placeholders that start the listing again.
    await scroller.evaluate((el) => el.scrollTo({ top: 0 }))
    await panel.getByRole('button', { name: 'Back to the start' }).first().click()
    await panel.locator(`tr[data-uid="p0001-${tag}"]`).waitFor()
    expect(Number(await table.getAttribute('data-offset'))).toBe(0)

    await panel.getByLabel('Search users').fill(`p0007-${tag}`)
    await panel.locator(`tr[data-uid="p0007-${tag}"]`).waitFor()
    await expect.poll(() => panel.locator('tbody tr[data-uid]').count()).toBe(1)
    await status.getByText(/^1 user$/).waitFor()
  })

  it('creates a user through the form, with an inline validation error first', async () => {
    const { page } = s
    const panel = page.getByTestId('users-panel')
    await panel.getByRole('button', { name: 'New user' }).click()
    const dialog = page.getByRole('dialog', { name: 'New user' })
    await dialog.getByLabel('User name (uid)').fill('12345')
    await dialog.getByLabel('Surname').click()
    await dialog.getByTestId('user-uid-error').getByText('must not be all digits').waitFor()
    expect(await dialog.getByLabel('User name (uid)').getAttribute('aria-invalid')).toBe('true')
    await dialog.getByLabel('Mail').fill('not-mail')
    await dialog.getByLabel('Given name').click()
    await dialog.getByTestId('user-mail-error').getByText('is not a mail address').waitFor()
    await shot(page, 'directory-user-form-error')
    await dialog.getByLabel('User name (uid)').fill(`carol-${tag}`)
    await dialog.getByLabel('Given name').fill('Carol')
    await dialog.getByLabel('Surname').fill('Example')
    await dialog.getByLabel('Mail').fill('carol@example.test')
    await dialog.getByRole('button', { name: 'Create user' }).click()
    await toast(`Created user carol-${tag}`).waitFor()
    await panel.locator(`tr[data-uid="carol-${tag}"]`).getByText('Carol Example').waitFor()
    const ldif = ldapsearch(usersDn, `(uid=carol-${tag})`, ['cn', 'mail', 'gidNumber'])
    expect(ldifValues(ldif, 'cn')).toEqual(['Carol Example'])
    expect(ldifValues(ldif, 'gidNumber')).toEqual(['2000'])
  })

  it('locks and unlocks the user', async () => {
    const { page } = s
    const row = page.locator(`tr[data-uid="carol-${tag}"]`)
    await row.getByRole('button', { name: `Lock carol-${tag}` }).click()
    await row.getByText('Locked').waitFor()
    expect(ldifValues(ldapsearch(usersDn, `(uid=carol-${tag})`, ['pwdAccountLockedTime']), 'pwdAccountLockedTime')).toHaveLength(1)
    await row.getByRole('button', { name: `Unlock carol-${tag}` }).click()
    await row.getByText('Active').waitFor()
    expect(ldifValues(ldapsearch(usersDn, `(uid=carol-${tag})`, ['pwdAccountLockedTime']), 'pwdAccountLockedTime')).toHaveLength(0)
  })

  it('adds the user to a group with the member picker, and removes them again', async () => {
    const { page } = s
    await page.getByRole('tab', { name: 'Groups' }).click()
    const panel = page.getByTestId('groups-panel')
    await panel.getByRole('button', { name: `Members of team-${tag}` }).click()
    const drawer = page.getByRole('dialog', { name: `Group team-${tag}` })
    await drawer.getByText('No members yet.').waitFor()
    await drawer.getByLabel('Find users').fill('carol')
    const picker = drawer.getByTestId('member-picker')
    await picker.getByRole('button', { name: `Add carol-${tag}` }).click()
    await drawer.getByTestId('group-members').getByText(`carol-${tag}`).waitFor()
    await picker.getByText('member').waitFor()
    await shot(page, 'directory-group-members')
    expect(ldifValues(ldapsearch(groupsDn, `(cn=team-${tag})`, ['memberUid']), 'memberUid')).toEqual([`carol-${tag}`])
    await drawer.getByRole('button', { name: `Remove carol-${tag}` }).click()
    await drawer.getByText('No members yet.').waitFor()
    await drawer.getByRole('button', { name: 'Close' }).click()
    await panel.locator(`tr[data-cn="team-${tag}"] td.num`).last().getByText('0').waitFor()
  })

  it('locks the session, refuses a wrong unlock password, unlocks, and signs out', async () => {
    const { page } = s
    const menu = page.getByTestId('session-menu')
    await menu.getByRole('button', { name: 'Lock' }).click()
    const lock = page.getByTestId('lock-screen')
    await lock.waitFor()
    await lock.getByLabel('Password').fill('nope')
    await lock.getByRole('button', { name: 'Unlock' }).click()
    await lock.getByText('user name or password is wrong').waitFor()
    await shot(page, 'directory-lock-screen')
    await lock.getByLabel('Password').fill(SEED_PASSWORDS.alice)
    await lock.getByRole('button', { name: 'Unlock' }).click()
    await lock.waitFor({ state: 'detached' })
    await page.getByTestId('groups-panel').waitFor()
    await menu.getByRole('button', { name: 'Sign out' }).click()
    await page.getByTestId('signin').waitFor()
    await menu.getByRole('button', { name: 'Sign in to the directory' }).waitFor()
    expect((await invoke(s.harness, 'auth:session', {})).signedIn).toBe(false)
    expect(s.problems.filter((p) => !/status of 4\d\d/.test(p))).toEqual([])
  })
})

/**
 * The directory as admins run it, in a real Chromium over the web harness against the test slapd: a CSV
 * bulk import (preview with each skipped row's reason, then the import), a multi-select lock of two users
 * as one request, and the schema-driven All attributes panel (an attribute added, a syntax refusal shown,
 * MUST attributes without a Remove button), and a person's addresses with their release when the person is
 * deleted. Screenshots go to test-results/.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ProfileStore } from '../../src/main/core/directory/profiles'
import { ldapProfileSchema } from '../../src/shared/directory'
import { freshDatabase } from '../support/db'
import { baseProfile, ldapsearch, ldifValues, makeContainers, slapdInfo, slapdMissing } from '../support/directory'
import { SEED_PASSWORDS } from '../support/slapd'
import { goTo, hasChromium, invoke, openSession, shot, type Session } from './support'

const skip = !hasChromium || Boolean(slapdMissing())
if (!hasChromium) console.warn('[e2e] skipping the directory admin screen tests: /usr/bin/chromium is not installed')

describe.skipIf(skip)('the directory admin screens', () => {
  let s: Session
  const tag = `adm-${randomBytes(3).toString('hex')}`
  let usersDn = ''
  const toast = (text: string | RegExp) => s.page.getByTestId('toast').filter({ hasText: text })

  beforeAll(async () => {
    const info = slapdInfo()
    const c = makeContainers(tag, info)
    usersDn = c.usersDn
    s = await openSession(await freshDatabase('nk_e2e_diradmin'), 'diradmin')
    // The profile as Settings would save it (tests/e2e/directory.test.ts covers that form), without a bind secret.
    new ProfileStore(s.dataDir).write({ version: 1, defaultProfile: tag, profiles: [ldapProfileSchema.parse(baseProfile(info, { name: tag, usersDn: c.usersDn, groupsDn: c.groupsDn, bindDn: undefined }))] })
  })
  afterAll(async () => {
    await s?.close()
  })

  it('signs in', async () => {
    const { page } = s
    await goTo(page, 'Directory')
    const form = page.getByTestId('signin')
    await form.getByLabel('User name').fill(`uid=alice,ou=people,${slapdInfo().baseDn}`)
    await form.getByLabel('Password').fill(SEED_PASSWORDS.alice)
    await form.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('tab', { name: 'Import' }).waitFor()
  })

  it('imports users from CSV: the preview gives each skipped row its reason, then the import creates the clean rows', async () => {
    const { page } = s
    await page.getByRole('tab', { name: 'Import' }).click()
    const wiz = page.getByTestId('user-import')
    const csv = ['uid,givenName,sn,mail,telephoneNumber', `ia-${tag},Ida,Adams,ida@example.test,+1 555 0100`, `ib-${tag},Ivo,Brown,ivo@example.test,`, `ic-${tag},Ira,Clark,,`, 'bad uid,X,Y,,', `id-${tag},Ina,,ina@example.test,`, `ie-${tag},Ike,Evans,ike@exämple.test,`].join('\n')
    await wiz.getByLabel('CSV text').fill(csv)
    await wiz.getByRole('button', { name: 'Analyse (dry run)' }).click()
    await wiz.getByText('3 to create').waitFor()
    expect(await wiz.locator('tr[data-line="5"]').textContent()).toContain('bad uid "bad uid"')
    expect(await wiz.locator('tr[data-line="6"]').textContent()).toContain('sn is required')
    expect(await wiz.locator('tr[data-line="7"]').textContent()).toContain('must be ASCII')
    await shot(page, 'directory-csv-preview')
    expect(ldifValues(ldapsearch(usersDn, '(uid=*)', ['uid'], 'one'), 'uid')).toEqual([])
    await wiz.getByRole('button', { name: 'Import 3 user(s)' }).click()
    await wiz.getByTestId('import-summary').getByText('Created 3').waitFor()
    expect(ldifValues(ldapsearch(usersDn, '(uid=*)', ['uid'], 'one'), 'uid').sort()).toEqual([`ia-${tag}`, `ib-${tag}`, `ic-${tag}`])
  })

  it('locks two selected users in one bulk action, after a confirmation listing them', async () => {
    const { page } = s
    await page.getByRole('tab', { name: 'Users' }).click()
    const panel = page.getByTestId('users-panel')
    await panel.getByLabel('Search users').fill(tag)
    await panel.locator(`tr[data-uid="ic-${tag}"]`).waitFor()
    await panel.getByLabel(`Select ia-${tag}`).check()
    await panel.getByLabel(`Select ib-${tag}`).check()
    await panel.getByTestId('bulk-bar').getByText('2 selected').waitFor()
    await shot(page, 'directory-multi-select')
    await panel.getByTestId('bulk-bar').getByRole('button', { name: 'Lock', exact: true }).click()
    const dialog = page.getByRole('dialog', { name: 'Lock: 2 users' })
    expect(await dialog.getByTestId('bulk-entries').textContent()).toContain(`ib-${tag}`)
    await dialog.getByRole('button', { name: 'Lock', exact: true }).click()
    await toast('lock: 2 changed').waitFor()
    for (const u of ['ia', 'ib']) expect(ldifValues(ldapsearch(`uid=${u}-${tag},${usersDn}`, '(objectClass=*)', ['pwdAccountLockedTime'], 'base'), 'pwdAccountLockedTime')).toHaveLength(1)
    expect(ldifValues(ldapsearch(`uid=ic-${tag},${usersDn}`, '(objectClass=*)', ['pwdAccountLockedTime'], 'base'), 'pwdAccountLockedTime')).toHaveLength(0)
    await panel.locator(`tr[data-uid="ia-${tag}"]`).getByText('Locked').waitFor()
  })

  it('shows every attribute from the schema, adds one, and shows a syntax refusal before anything is sent', async () => {
    const { page } = s
    const panel = page.getByTestId('users-panel')
    await panel.getByRole('button', { name: `All attributes of ic-${tag}` }).click()
    const drawer = page.getByRole('dialog', { name: 'All attributes' })
    await drawer.locator('tr[data-attr="sn"]').getByText('MUST').waitFor()
    expect(await drawer.locator('tr[data-attr="sn"]').getByRole('button', { name: 'Remove sn' }).count()).toBe(0)
    await drawer.getByLabel('Attribute to add').selectOption('telephoneNumber')
    await drawer.getByLabel('Values of telephoneNumber, one per line').fill('call me #1')
    await drawer.getByRole('button', { name: 'Add', exact: true }).click()
    await drawer.getByRole('alert').getByText('may contain only').waitFor()
    await drawer.getByLabel('Values of telephoneNumber, one per line').fill('+1 555 0199')
    await drawer.getByRole('button', { name: 'Add', exact: true }).click()
    await drawer.locator('tr[data-attr="telephoneNumber"]').getByText('+1 555 0199').waitFor()
    await drawer.locator('tr[data-attr="entryUUID"]').waitFor()
    await drawer.getByTestId('entry-dn').scrollIntoViewIfNeeded()
    await shot(page, 'directory-all-attributes')
    expect(ldifValues(ldapsearch(`uid=ic-${tag},${usersDn}`, '(objectClass=*)', ['telephoneNumber'], 'base'), 'telephoneNumber')).toEqual(['+1 555 0199'])
    expect(s.problems).toEqual([])
  })

  it("lists a person's addresses, and deleting the person releases them in the same request", async () => {
    const { page } = s
    await page.keyboard.press('Escape')
    const dn = `uid=ib-${tag},${usersDn}`
    await invoke(s.harness, 'ipam:pool:create', { name: `net-${tag}`, network: '10.88.0.0/24' })
    for (const ip of ['10.88.0.5', '10.88.0.6', '10.88.0.7']) await invoke(s.harness, 'ipam:allocate', { pool: `net-${tag}`, ip, owner: 'Ivo Brown', ownerDn: dn, hostname: `ivo-${ip.split('.')[3]}` })
    const panel = page.getByTestId('users-panel')
    await panel.getByRole('button', { name: `Addresses of ib-${tag}` }).click()
    const drawer = page.getByRole('dialog', { name: `Addresses of ib-${tag}` })
    await drawer.locator('tr[data-ip="10.88.0.7"]').waitFor()
    expect(await drawer.getByTestId('person-addresses').locator('tbody tr').count()).toBe(3)
    await drawer.getByRole('button', { name: 'Lock or delete this person…' }).click()
    await drawer.getByLabel('Delete it').check()
    await drawer.getByLabel('Release them').check()
    await shot(page, 'directory-person-addresses')
    await drawer.getByRole('button', { name: `Delete ib-${tag}` }).click()
    await toast(`Deleted ib-${tag}; released`).waitFor()
    const left = await invoke(s.harness, 'ipam:pool:allocations', { pool: `net-${tag}` })
    expect(JSON.stringify(left)).not.toContain('10.88.0.5')
    expect(s.problems).toEqual([])
  })
})

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
import { baseProfile, ldapadd, ldapsearch, ldifValues, makeContainers, slapdInfo, slapdMissing } from '../support/directory'
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
    await page.getByRole('tab', { name: 'Import', exact: true }).waitFor()
  })

  it('imports users from CSV: the preview gives each skipped row its reason, then the import creates the clean rows', async () => {
    const { page } = s
    await page.getByRole('tab', { name: 'Import', exact: true }).click()
    const wiz = page.getByTestId('user-import')
    const csv = ['uid,givenName,sn,mail,telephoneNumber', `ia-${tag},Ida,Adams,ida@example.test,+1 555 0100`, `ib-${tag},Ivo,Brown,ivo@example.test,`, `ic-${tag},Ira,Clark,,`, 'bad uid,X,Y,,', `id-${tag},Ina,,ina@example.test,`, `ie-${tag},Ike,Evans,ike@exämple.test,`].join('\n')
    await wiz.getByLabel('CSV text').fill(csv)
    await wiz.getByRole('button', { name: 'Next' }).click()
    // Mapping: each column named like an attribute maps to it.
    expect(await wiz.getByLabel('Attribute for column telephoneNumber').inputValue()).toBe('telephoneNumber')
    await wiz.getByRole('button', { name: 'Analyse' }).click()
    await wiz.getByText('3 to create').waitFor()
    expect(await wiz.locator('tr[data-line="5"]').textContent()).toContain('bad uid "bad uid"')
    expect(await wiz.locator('tr[data-line="6"]').textContent()).toContain('sn is required')
    expect(await wiz.locator('tr[data-line="7"]').textContent()).toContain('must be ASCII')
    await shot(page, 'directory-csv-preview')
    await wiz.getByRole('button', { name: 'Dry run' }).click()
    await wiz.getByTestId('import-dry-run').getByText('3 user(s) would be created').waitFor()
    expect(ldifValues(ldapsearch(usersDn, '(uid=*)', ['uid'], 'one'), 'uid')).toEqual([])
    await wiz.getByRole('button', { name: 'Import 3 users' }).click()
    await wiz.getByTestId('import-summary').getByText('Created 3').waitFor()
    expect(ldifValues(ldapsearch(usersDn, '(uid=*)', ['uid'], 'one'), 'uid').sort()).toEqual([`ia-${tag}`, `ib-${tag}`, `ic-${tag}`])
  })

  it('cancels a running CSV import from the wizard: the report counts what was written before the cancel', async () => {
    const { page } = s
    const wiz = page.getByTestId('user-import')
    await wiz.getByRole('button', { name: 'Start over' }).click()
    const rows = Array.from({ length: 400 }, (_, i) => `k${i}-${tag},Kay,K${i}`)
    await wiz.getByLabel('CSV text').fill(['uid,givenName,sn', ...rows].join('\n'))
    await wiz.getByRole('button', { name: 'Next' }).click()
    await wiz.getByRole('button', { name: 'Analyse' }).click()
    await wiz.getByText('400 to create').waitFor()
    await wiz.getByRole('button', { name: 'Dry run' }).click()
    await wiz.getByRole('button', { name: 'Import 400 users' }).click()
    await wiz.getByTestId('wizard-progress').getByRole('progressbar').waitFor()
    await wiz.getByTestId('wizard-cancel').click()
    await wiz.getByTestId('import-cancelled').waitFor({ timeout: 60_000 })
    await shot(page, 'import-wizard')
    const written = ldifValues(ldapsearch(usersDn, '(uid=k*)', ['uid'], 'one'), 'uid')
    expect(written.length).toBeLessThan(400)
    const summary = (await wiz.getByTestId('import-summary').textContent())!
    expect(summary).toContain(`Created ${written.length},`)
    expect(summary).toContain(`not attempted ${400 - written.length}`)
  })

  it('adds members to two selected groups and deletes them, each as one bulk action listing the groups', async () => {
    const { page } = s
    const info = slapdInfo()
    const groupsDn = `ou=${tag},ou=groups,${info.baseDn}`
    for (const [cn, gid] of [
      [`ga-${tag}`, 46001],
      [`gb-${tag}`, 46002],
      [`gc-${tag}`, 46003]
    ] as const)
      ldapadd(`dn: cn=${cn},${groupsDn}\nobjectClass: posixGroup\ncn: ${cn}\ngidNumber: ${gid}\n`)
    await page.getByRole('tab', { name: 'Groups' }).click()
    const panel = page.getByTestId('groups-panel')
    await panel.getByLabel('Search groups').fill(tag)
    await panel.locator(`tr[data-cn="gc-${tag}"]`).waitFor()
    await panel.getByLabel(`Select group ga-${tag}`).check()
    await panel.getByLabel(`Select group gb-${tag}`).check()
    await panel.getByTestId('group-bulk-bar').getByText('2 selected').waitFor()
    await panel.getByTestId('group-bulk-bar').getByRole('button', { name: 'Add members' }).click()
    let dialog = page.getByRole('dialog', { name: 'Add members: 2 groups' })
    await dialog.getByLabel('Users').fill(`ia-${tag} ib-${tag}`)
    await shot(page, 'directory-groups-multi-select')
    await dialog.getByRole('button', { name: 'Add members', exact: true }).click()
    await toast('addMembers: 2 changed').waitFor()
    for (const g of ['ga', 'gb']) expect(ldifValues(ldapsearch(`cn=${g}-${tag},${groupsDn}`, '(objectClass=*)', ['memberUid'], 'base'), 'memberUid').sort()).toEqual([`ia-${tag}`, `ib-${tag}`])
    expect(ldifValues(ldapsearch(`cn=gc-${tag},${groupsDn}`, '(objectClass=*)', ['memberUid'], 'base'), 'memberUid')).toEqual([])

    await panel.getByLabel(`Select group gb-${tag}`).check()
    await panel.getByLabel(`Select group gc-${tag}`).check()
    await panel.getByTestId('group-bulk-bar').getByRole('button', { name: 'Delete' }).click()
    dialog = page.getByRole('dialog', { name: 'Delete: 2 groups' })
    const listed = (await dialog.getByTestId('bulk-entries').textContent())!
    expect(listed).toContain(`gb-${tag}`)
    expect(listed).toContain(`gc-${tag}`)
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click()
    await toast('delete: 2 changed').waitFor()
    expect(ldifValues(ldapsearch(groupsDn, '(objectClass=posixGroup)', ['cn'], 'one'), 'cn')).toEqual([`ga-${tag}`])
    await panel.locator(`tr[data-cn="gb-${tag}"]`).waitFor({ state: 'detached' })
  })

  it('imports LDIF through the same wizard: a refused record named with its reason in the analysis', async () => {
    const { page } = s
    await page.getByRole('tab', { name: 'Import', exact: true }).click()
    await page.getByLabel('LDIF (add, modify, delete, modrdn)').check()
    const wiz = page.getByTestId('ldif-import')
    const ldif = [`dn: uid=la-${tag},${usersDn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: la-${tag}\ncn: La\nsn: La\n`, `dn: uid=ia-${tag},${usersDn}\nchangetype: modify\nreplace: mail\nmail: ida.new@example.test\n`, `dn: uid=nobody-${tag},${usersDn}\nchangetype: delete\n`].join('\n')
    await wiz.getByLabel('LDIF text').fill(ldif)
    await wiz.getByRole('button', { name: 'Next' }).click()
    await wiz.getByLabel('Skip it and go on, and report it').check()
    await wiz.getByRole('button', { name: 'Analyse' }).click()
    await wiz.getByText('1 would be refused').waitFor()
    expect(await wiz.locator('tr.refused').textContent()).toContain(`nobody-${tag}`)
    await wiz.getByRole('button', { name: 'Dry run' }).click()
    await wiz.getByRole('button', { name: 'Apply 3 records' }).click()
    await wiz.getByTestId('ldif-summary').getByText('Applied 2 of 3 record(s); 1 refused').waitFor()
    expect(ldifValues(ldapsearch(`uid=ia-${tag},${usersDn}`, '(objectClass=*)', ['mail'], 'base'), 'mail')).toEqual(['ida.new@example.test'])
    expect(ldifValues(ldapsearch(usersDn, `(uid=la-${tag})`, ['uid'], 'one'), 'uid')).toEqual([`la-${tag}`])
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

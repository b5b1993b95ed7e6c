/**
 * `netkeeper profile|user|group` end to end: the real CLI in child processes against the real slapd, each
 * change checked with ldapsearch, binds visible in the audit log, secrets never on disk or in output.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli } from '../support/cli'
import { freshDatabase } from '../support/db'
import { hasSecretService, ldapsearch, ldifValues, makeContainers, slapdInfo, slapdMissing } from '../support/directory'

const skip = slapdMissing()

let dataDir: string
let dbUrl: string
let usersDn: string
let groupsDn: string
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ NETKEEPER_DATA_DIR: dataDir, NETKEEPER_DATABASE_URL: dbUrl, ...extra })
const withSecret = (extra: NodeJS.ProcessEnv = {}) => env({ NETKEEPER_LDAP_PASSWORD: slapdInfo().adminPassword, ...extra })

beforeAll(async () => {
  if (skip) return
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-dircli-'))
  dbUrl = await freshDatabase('dircli')
  ;({ usersDn, groupsDn } = makeContainers(`cli-${process.pid}`))
})
afterAll(() => {
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
})

describe.skipIf(skip)('netkeeper profile, user and group', () => {
  it('saves a profile without any secret on disk and tests it over StartTLS', async () => {
    const info = slapdInfo()
    const add = await cli(
      [
        'profile', 'add', 'lab', '--url', info.url, '--start-tls', '--ca-file', info.caFile, '--base-dn', info.baseDn, '--users-dn', usersDn, '--groups-dn', groupsDn,
        '--bind-dn', info.adminDn, '--admin-dn', info.adminDn, '--admin-group', 'netkeeper-admins', '--operator-group', 'netkeeper-operators', '--default-gid', '2000', '--json'
      ],
      env()
    )
    expect(add.code, add.stderr).toBe(0)
    expect(add.json()).toMatchObject({ name: 'lab', isDefault: true, startTls: true, usersDn })
    const test = await cli(['profile', 'test', '--json'], withSecret())
    expect(test.code, test.stdout + test.stderr).toBe(0)
    expect(test.json()).toMatchObject({ profile: 'lab', ok: true, tls: 'starttls', passwordModify: true, pagedResults: true })
    const files = fs.readdirSync(dataDir).map((f) => fs.readFileSync(path.join(dataDir, f), 'utf8')).join('\n')
    expect(files).toContain(info.adminDn)
    expect(files).not.toContain(info.adminPassword)
  })

  it('creates, finds, changes, renames, locks and deletes a user and a group, verified with ldapsearch', async () => {
    const create = await cli(['user', 'create', 'carl', '--sn', 'Cli', '--given-name', 'Carl', '--mail', 'carl@example.test', '--new-password-stdin', '--json'], withSecret(), 'carl-pw-1\n')
    expect(create.code, create.stderr).toBe(0)
    const u = create.json()
    expect(u).toMatchObject({ uid: 'carl', cn: 'Carl Cli', dn: `uid=carl,${usersDn}` })
    expect(ldifValues(ldapsearch(usersDn, '(uid=carl)', ['uidNumber'], 'one'), 'uidNumber')).toEqual([String(u.uidNumber)])
    execFileSync('ldapwhoami', ['-x', '-H', slapdInfo().url, '-D', u.dn, '-w', 'carl-pw-1'])

    const list = await cli(['user', 'list', '--search', 'car', '--json'], withSecret())
    expect(list.json()).toEqual({ items: [expect.objectContaining({ uid: 'carl' })], more: false })
    const text = await cli(['user', 'list', '--all'], withSecret())
    expect(text.stdout).toMatch(/^UID\s+UIDNUMBER/m)
    expect(text.stdout).toContain('carl')

    expect((await cli(['user', 'update', 'carl', '--mail', 'carl.cli@example.test', '--clear', 'givenName'], withSecret())).code).toBe(0)
    const ldif = ldapsearch(u.dn, '(objectClass=*)', ['mail', 'givenName'], 'base')
    expect(ldifValues(ldif, 'mail')).toEqual(['carl.cli@example.test'])
    expect(ldifValues(ldif, 'givenName')).toEqual([])

    const gen = await cli(['user', 'passwd', 'carl', '--generate', '--json'], withSecret())
    expect(gen.code).toBe(0)
    const pw = gen.json().generated as string
    execFileSync('ldapwhoami', ['-x', '-H', slapdInfo().url, '-D', u.dn, '-w', pw])

    expect((await cli(['user', 'lock', 'carl'], withSecret())).stdout).toContain('carl locked (ppolicy)')
    expect(ldifValues(ldapsearch(u.dn, '(objectClass=*)', ['pwdAccountLockedTime'], 'base'), 'pwdAccountLockedTime')).toEqual(['000001010000Z'])

    const g = await cli(['group', 'create', 'cli-team', '--member', 'carl', '--description', 'made by the CLI', '--json'], withSecret())
    expect(g.code, g.stderr).toBe(0)
    expect(ldifValues(ldapsearch(groupsDn, '(cn=cli-team)', ['memberUid'], 'one'), 'memberUid')).toEqual(['carl'])

    const ren = await cli(['user', 'rename', 'carl', 'carlos', '--json'], withSecret())
    expect(ren.json()).toMatchObject({ user: { uid: 'carlos' }, groupsUpdated: ['cli-team'] })
    expect(ldifValues(ldapsearch(groupsDn, '(cn=cli-team)', ['memberUid'], 'one'), 'memberUid')).toEqual(['carlos'])

    const del = await cli(['user', 'delete', 'carlos', '--yes'], withSecret())
    expect(del.stdout).toContain('removed from: cli-team')
    expect(ldifValues(ldapsearch(groupsDn, '(cn=cli-team)', ['memberUid'], 'one'), 'memberUid')).toEqual([])
    expect((await cli(['group', 'delete', 'cli-team', '--yes'], withSecret())).code).toBe(0)
    expect(ldapsearch(usersDn, '(|(uid=carl)(uid=carlos))', ['dn'], 'one')).toBe('')
    expect(ldapsearch(groupsDn, '(cn=cli-team)', ['dn'], 'one')).toBe('')
  })

  it('group bulk: the same users into several groups as one request, then deletes them with --yes (refused without it off a terminal)', async () => {
    for (const cn of ['cli-b1', 'cli-b2']) expect((await cli(['group', 'create', cn, '--json'], withSecret())).code).toBe(0)
    expect((await cli(['user', 'create', 'bea', '--sn', 'Bulk', '--json'], withSecret())).code).toBe(0)
    const add = await cli(['group', 'bulk', 'addMembers', 'cli-b1', 'cli-b2', '--member', 'bea', '--json'], withSecret())
    expect(add.code, add.stderr).toBe(0)
    expect(add.json()).toMatchObject({ action: 'addMembers', done: ['cli-b1', 'cli-b2'], failed: [], cancelled: false })
    for (const cn of ['cli-b1', 'cli-b2']) expect(ldifValues(ldapsearch(groupsDn, `(cn=${cn})`, ['memberUid'], 'one'), 'memberUid')).toEqual(['bea'])
    const usage = await cli(['group', 'bulk', 'removeMembers', 'cli-b1'], withSecret())
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('needs at least one --member')
    const noYes = await cli(['group', 'bulk', 'delete', 'cli-b1', 'cli-b2'], withSecret())
    expect(noYes.code).not.toBe(0)
    expect(noYes.stderr + noYes.stdout).toContain('add --yes')
    expect(ldapsearch(groupsDn, '(cn=cli-b1)', ['dn'], 'one')).not.toBe('')
    const del = await cli(['group', 'bulk', 'delete', 'cli-b1', 'cli-b2', '--yes'], withSecret())
    expect(del.code, del.stderr).toBe(0)
    expect(del.stdout).toMatch(/^delete: done cli-b1, cli-b2; unchanged -\n\(request [0-9a-f-]{36}\)$/m)
    expect(ldapsearch(groupsDn, '(|(cn=cli-b1)(cn=cli-b2))', ['dn'], 'one')).toBe('')
  })

  it('takes the bind secret from --password-stdin; a wrong one fails (exit 1) and both binds are in the audit log', async () => {
    const ok = await cli(['user', 'list', '--password-stdin', '--json'], env(), `${slapdInfo().adminPassword}\n`)
    expect(ok.code, ok.stderr).toBe(0)
    const bad = await cli(['user', 'list', '--json'], env({ NETKEEPER_LDAP_PASSWORD: 'not-the-secret' }))
    expect(bad.code).toBe(1)
    expect(bad.json().error).toMatchObject({ code: 'FORBIDDEN', details: { kind: 'credentials' } })
    expect(bad.stdout + bad.stderr).not.toContain('not-the-secret')
    const audit = await cli(['audit', 'list', '--resource-type', 'session', '--limit', '5', '--json'], env())
    const items = audit.json().items as { action: string; status: string; resourceId: string; details: { context?: { kind?: string; purpose?: string } } }[]
    expect(items.slice(0, 2).map((r) => [r.action, r.status, r.details.context?.kind ?? r.details.context?.purpose])).toEqual([
      ['authenticate', 'failure', 'invalid-credentials'],
      ['authenticate', 'success', 'command']
    ])
    expect(JSON.stringify(items)).not.toContain('not-the-secret')
  })

  it('exits 2 on usage errors and names what is missing', async () => {
    const r = await cli(['user', 'passwd', 'someone'], withSecret())
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('exactly one of --generate and --new-password-stdin')
    expect((await cli(['group', 'frobnicate'], env())).code).toBe(2)
  })

  it('refuses a plain ldap:// bind to another machine unless the profile allows it, and warns when it does', async () => {
    const info = slapdInfo()
    // 192.0.2.1 (TEST-NET-1) is never contacted: the refusal comes before any connection.
    const far = ['--url', 'ldap://192.0.2.1', '--base-dn', info.baseDn, '--bind-dn', info.adminDn, '--timeout-ms', '1000']
    expect((await cli(['profile', 'add', 'far', ...far], env())).code).toBe(0)
    const refused = await cli(['user', 'list', '--profile', 'far'], withSecret())
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('forbidden: url: a bind as cn=admin')
    expect(refused.stderr).toContain('set allowInsecure on profile far')
    const lab = await cli(['profile', 'add', 'far', ...far, '--allow-insecure', '--replace'], env())
    expect(lab.code, lab.stderr).toBe(0)
    expect(lab.stdout).toContain('warning: profile far has allowInsecure: binds and password changes to ldap://192.0.2.1 go over plain LDAP, passwords in clear')
    expect((await cli(['profile', 'list'], env())).stdout).toContain('warning: profile far has allowInsecure')
    expect((await cli(['profile', 'list', '--json'], env())).json().find((p: { name: string }) => p.name === 'far')).toMatchObject({ allowInsecure: true })
    expect((await cli(['profile', 'remove', 'far', '--yes'], env())).code).toBe(0)
  })

  it('says clearly when there is no Secret Service, and saves nothing', async () => {
    const info = slapdInfo()
    const r = await cli(['profile', 'add', 'nokc', '--url', info.url, '--base-dn', info.baseDn, '--bind-dn', info.adminDn, '--password-stdin'], env({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' }), 'kept-nowhere\n')
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('OS keychain is not available')
    expect(r.stderr).toContain('Secret Service')
    expect(r.stderr).toContain('NETKEEPER_LDAP_PASSWORD')
    const list = await cli(['profile', 'list', '--json'], env({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' }))
    expect(list.json().map((p: { name: string }) => p.name)).toEqual(['lab'])
  })
})

describe.skipIf(skip || !hasSecretService)('netkeeper with the bind secret in the OS keychain', () => {
  it('stores the secret with profile add --password-stdin, uses it, and removes it with the profile', async () => {
    const info = slapdInfo()
    const add = await cli(
      ['profile', 'add', 'kc', '--url', info.ldapsUrl, '--ca-file', info.caFile, '--base-dn', info.baseDn, '--users-dn', usersDn, '--groups-dn', groupsDn, '--bind-dn', info.adminDn, '--admin-dn', info.adminDn, '--password-stdin'],
      env(),
      `${info.adminPassword}\n`
    )
    expect(add.code, add.stderr).toBe(0)
    expect(add.stdout).toContain('bind secret stored in the OS keychain')
    const list = await cli(['profile', 'list', '--json'], env())
    expect(list.json().find((p: { name: string }) => p.name === 'kc')).toMatchObject({ hasSecret: true })
    const users = await cli(['user', 'list', '--profile', 'kc', '--json'], env())
    expect(users.code, users.stderr).toBe(0)
    for (const f of fs.readdirSync(dataDir)) expect(fs.readFileSync(path.join(dataDir, f), 'utf8')).not.toContain(info.adminPassword)
    const rm = await cli(['profile', 'remove', 'kc', '--yes', '--json'], env())
    expect(rm.json()).toEqual({ removed: true, secretRemoved: true })
    const after = await cli(['user', 'list', '--profile', 'kc'], env())
    expect(after.code).toBe(1)
    expect(after.stderr).toContain('no LDAP profile named "kc"')
  })
})

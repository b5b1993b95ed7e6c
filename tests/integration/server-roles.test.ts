/**
 * The server is the trust boundary (Migration20261203100000_server_roles, docs/postgresql-setup.md#roles):
 * three logins, one per Netkeeper role, on the suite's PostgreSQL; what each may do is refused by the server,
 * through the app's own path (a client that claims admin) and through psql alike. The audit row's login and
 * time are the server's. PostgreSQL's own LDAP authentication against the suite's slapd signs a directory
 * user in with their directory password.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { Core } from '../../src/main/core'
import { grantRole, listRoles, revokeRoles } from '../../src/main/core/db/roles'
import { ctxAs, openCore } from '../support/core'
import { cli } from '../support/cli'
import { withClient } from '../support/db'

const suffix = randomBytes(3).toString('hex')
const logins = { viewer: `nk_viewer_${suffix}`, operator: `nk_operator_${suffix}`, admin: `nk_admin_${suffix}` }

let owner: Core
let url: string
const cores: Partial<Record<keyof typeof logins, Core>> = {}

function urlAs(login: string, password?: string): string {
  const u = new URL(url)
  u.username = login
  u.password = password ?? ''
  return u.toString()
}

/** psql as `login`: exit code and output, never throws. */
function psql(login: string, sql: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('psql', [urlAs(login), '-v', 'ON_ERROR_STOP=1', '-X', '-q', '-A', '-t', '-c', sql], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })
    })
  })
}

beforeAll(async () => {
  ;({ core: owner, url } = await openCore('roles'))
  await withClient(url, async (c) => {
    for (const l of Object.values(logins)) await c.query(`create role "${l}" login`)
  })
  for (const [role, login] of Object.entries(logins)) await grantRole(owner.db, ctxAs('admin', 'dba'), login, role)
  await owner.ipam.createPool(ctxAs('admin'), { name: 'lan', network: '10.77.0.0/24', gateway: '10.77.0.1' })
  for (const [role, login] of Object.entries(logins)) cores[role as keyof typeof logins] = await Core.open({ databaseUrl: urlAs(login), dataDir: '/nonexistent-netkeeper-test' })
})

afterAll(async () => {
  for (const c of Object.values(cores)) await c?.close()
  await owner?.close()
  // Roles are cluster-wide: drop the test's own (their grants and the database go with the file's database).
  await withClient(inject('pgUrl'), async (c) => {
    for (const l of Object.values(logins)) {
      await c.query(`drop owned by "${l}" cascade`).catch(() => undefined)
    }
  }).catch(() => undefined)
})

describe('roles the server enforces', () => {
  it('tells each login the role the server grants it, and lists them for the owner only', async () => {
    expect(owner.serverRole).toBe('owner')
    expect(cores.viewer!.serverRole).toBe('viewer')
    expect(cores.operator!.serverRole).toBe('operator')
    expect(cores.admin!.serverRole).toBe('admin')
    const health = await cores.operator!.db.health()
    expect(health).toMatchObject({ login: logins.operator, serverRole: 'operator' })
    const listed = await listRoles(owner.db)
    expect(listed.filter((r) => Object.values(logins).includes(r.login)).map((r) => [r.login, r.role])).toEqual([
      [logins.admin, 'admin'],
      [logins.operator, 'operator'],
      [logins.viewer, 'viewer']
    ])
    await expect(listRoles(cores.admin!.db)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(grantRole(cores.admin!.db, ctxAs('admin'), logins.viewer, 'admin')).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(grantRole(owner.db, ctxAs('admin'), 'no_such_login_x', 'viewer')).rejects.toMatchObject({ code: 'NOT_FOUND', details: { field: 'login' } })
    await expect(grantRole(owner.db, ctxAs('admin'), logins.viewer, 'root')).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'role' } })
  })

  it("refuses a viewer's allocation in the server (42501), through the app's path and through psql", async () => {
    // The app would stop a viewer itself; this client claims admin, and the server still refuses.
    const claimsAdmin = ctxAs('admin', 'mallory')
    const viaApp = await cores.viewer!.ipam.allocate(claimsAdmin, { pool: 'lan', ip: '10.77.0.10' }).catch((e) => e)
    expect(viaApp).toMatchObject({ code: 'FORBIDDEN', details: { sqlstate: '42501' } })
    const viaNext = await cores.viewer!.ipam.allocate(claimsAdmin, { pool: 'lan', next: true }).catch((e) => e)
    expect(viaNext).toMatchObject({ code: 'FORBIDDEN' })
    const p = await psql(logins.viewer, `insert into ip_allocations (pool_id, ip_address, status) select id, '10.77.0.11', 'allocated' from ip_pools where name = 'lan'`)
    expect(p.code).not.toBe(0)
    expect(p.out).toMatch(/permission denied for table ip_allocations/)
    // Reading is what a viewer may do.
    expect((await cores.viewer!.ipam.getPool(claimsAdmin, 'lan')).name).toBe('lan')
    // The app itself lowers the roles of a request to the server's grant.
    expect((await cores.viewer!.auth.requestContext(claimsAdmin)).roles).toEqual(['viewer'])
  })

  it('lets an operator allocate and release but not create or change a pool', async () => {
    const op = ctxAs('admin', 'olga')
    const [a] = await cores.operator!.ipam.allocate(op, { pool: 'lan', ip: '10.77.0.20', hostname: 'web01' })
    expect(a!.ip).toBe('10.77.0.20')
    const next = await cores.operator!.ipam.allocate(op, { pool: 'lan', next: true, count: 2 })
    expect(next).toHaveLength(2)
    await cores.operator!.ipam.release(op, '10.77.0.20')
    await expect(cores.operator!.ipam.createPool(op, { name: 'mine', network: '10.78.0.0/24' })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(cores.operator!.ipam.updatePool(op, 'lan', { description: 'x' })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const p = await psql(logins.operator, `insert into ip_pools (name, network) values ('psql-pool', '10.79.0.0/24')`)
    expect(p.code).not.toBe(0)
    expect(p.out).toMatch(/permission denied for table ip_pools/)
    // The admin may.
    expect((await cores.admin!.ipam.createPool(op, { name: 'adm', network: '10.80.0.0/24' })).name).toBe('adm')
  })

  it('runs next-block in the server for admin logins only: ipam_next_block checks the role itself and stamps the login', async () => {
    // The client claims admin; the operator's login is refused by the function (it runs as its owner).
    const claimsAdmin = ctxAs('admin', 'mallory')
    await cores.admin!.ipam.createPool(claimsAdmin, { name: 'nb-roles', network: '10.81.0.0/24' })
    const viaOp = await cores.operator!.ipam.nextBlock(claimsAdmin, { in: 'nb-roles', prefixLength: 26 }).catch((e) => e)
    expect(viaOp).toMatchObject({ code: 'FORBIDDEN', details: { sqlstate: '42501' } })
    const p = await psql(logins.operator, `select * from ipam_next_block(null, 'nb-roles', 26, 1, null, null, null, null, null, 'x', 'x', null, null, null, 'cli', '{}', '{}', '{}')`)
    expect(p.code).not.toBe(0)
    expect(p.out).toMatch(/needs the netkeeper_admin role/)
    const made = await cores.admin!.ipam.nextBlock(claimsAdmin, { in: 'nb-roles', prefixLength: 26 })
    expect(made.map((x) => x.network)).toEqual(['10.81.0.0/26'])
    const r = await owner.db.knex.raw<{ rows: { db_user: string; user_id: string }[] }>(
      `select db_user, user_id from audit_logs where resource_type = 'ip_pool' and resource_id = ? and action = 'create' and status = 'success'`,
      [String(made[0]!.id)]
    )
    expect(r.rows).toEqual([{ db_user: logins.admin, user_id: 'mallory' }])
    expect((await owner.audit.verify(ctxAs('admin'))).ok).toBe(true)
  })

  it('takes the audit login from the server, whatever the client says', async () => {
    await cores.operator!.ipam.allocate(ctxAs('operator', 'someone-else'), { pool: 'lan', ip: '10.77.0.30' })
    const r = await owner.db.knex.raw<{ rows: { db_user: string; user_id: string; created_at: Date }[] }>(
      `select db_user, user_id, created_at from audit_logs where resource_name = '10.77.0.30' order by seq desc limit 1`
    )
    expect(r.rows[0]).toMatchObject({ db_user: logins.operator, user_id: 'someone-else' })
    const page = await owner.audit.list(ctxAs('viewer'), { limit: 1 })
    expect(page.items[0]).toMatchObject({ dbUser: logins.operator, userId: 'someone-else' })
    // The chain holds with the server-stamped rows.
    expect((await owner.audit.verify(ctxAs('admin'))).ok).toBe(true)
  })

  it('stamps rows with the server clock when the client clock is days off (faketime)', async () => {
    const shifted = await new Promise<string>((resolve, reject) =>
      execFile('faketime', ['-f', '-5d', process.execPath, '-e', 'process.stdout.write(String(Date.now()))'], (e, out) => (e ? reject(e) : resolve(out)))
    )
    // The tool shifts a Node process's clock here; otherwise this test would prove nothing.
    expect(Date.now() - Number(shifted)).toBeGreaterThan(4 * 86400_000)
    const r = await cli(['ip', 'allocate', '--pool', 'lan', '--ip', '10.77.0.40', '--json'], { NETKEEPER_DATABASE_URL: urlAs(logins.operator), FAKETIME: '-5d', LD_PRELOAD: fakeTimeLib() })
    expect(r.code, r.stderr).toBe(0)
    const row = await owner.db.knex.raw<{ rows: { db_user: string; created_at: Date }[] }>(
      `select db_user, created_at from audit_logs where resource_name = '10.77.0.40' order by seq desc limit 1`
    )
    expect(row.rows[0]!.db_user).toBe(logins.operator)
    expect(Math.abs(Date.now() - new Date(row.rows[0]!.created_at).getTime())).toBeLessThan(5 * 60_000)
    expect((await owner.audit.verify(ctxAs('admin'))).ok).toBe(true)
  })

  it('lets only the owner delete audit rows, move the head or switch the purge guard (psql)', async () => {
    for (const login of [logins.admin, logins.operator, logins.viewer]) {
      const del = await psql(login, `begin; set local netkeeper.audit_purge = 'on'; delete from audit_logs where seq = (select max(seq) from audit_logs); commit;`)
      expect(del.code, login).not.toBe(0)
      expect(del.out).toMatch(/permission denied for table audit_logs/)
      const head = await psql(login, `update audit_chain_head set last_seq = last_seq - 1`)
      expect(head.out).toMatch(/permission denied for table audit_chain_head/)
      const ins = await psql(login, `insert into audit_logs (seq, created_at, action, resource_type, status, source, prev_hash, row_hash) values (999999, now(), 'create', 'x', 'success', 'cli', 'a', 'b')`)
      expect(ins.out).toMatch(/permission denied for table audit_logs/)
      const trunc = await psql(login, `truncate audit_logs`)
      expect(trunc.code).not.toBe(0)
      // The owner's purge function is an admin's door, by the server's clock only.
      const purge = await psql(login, `select count(*) from audit_purge_plan(now() + interval '10 years')`)
      expect(purge.code).not.toBe(0)
      expect(purge.out).toMatch(login === logins.admin ? /only the owner may purge as of a later time/ : /needs the netkeeper_admin role/)
      // The delete step removes only what a plan of the same transaction chose; the old default-days purge is gone.
      const del2 = await psql(login, `select audit_purge_delete()`)
      expect(del2.out).toMatch(login === logins.admin ? /needs audit_purge_plan in the same transaction/ : /needs the netkeeper_admin role/)
      expect((await psql(login, `select count(*) from audit_purge_runs(now(), 1, false)`)).out).toMatch(/does not exist/)
    }
    // The owner (the suite's superuser login) can, inside a transaction it rolls back.
    const ownerLogin = new URL(url).username || 'postgres'
    const own = await psql(ownerLogin, `begin; set local netkeeper.audit_purge = 'on'; delete from audit_logs where seq = (select max(seq) from audit_logs); update audit_chain_head set last_seq = last_seq; rollback;`)
    expect(own.code, own.out).toBe(0)
    expect((await owner.audit.verify(ctxAs('admin'))).ok).toBe(true)
  })

  it("never gives an app login the migrations: it says which are pending and who must run them", async () => {
    await withClient(url, (c) => c.query(`delete from mikro_orm_migrations where name = 'Migration20261203100000_server_roles'`))
    try {
      const err = await Core.open({ databaseUrl: urlAs(logins.admin), dataDir: '/nonexistent-netkeeper-test', migrate: true }).catch((e) => e)
      expect(err).toMatchObject({ code: 'UNAVAILABLE' })
      expect(err.message).toContain('Migration20261203100000_server_roles')
      expect(err.message).toContain('netkeeper_owner')
    } finally {
      await withClient(url, (c) => c.query(`insert into mikro_orm_migrations (name, executed_at) values ('Migration20261203100000_server_roles', now())`))
    }
  })

  it('revokes: a login without a role reads nothing', async () => {
    const extra = `nk_gone_${suffix}`
    await withClient(url, (c) => c.query(`create role "${extra}" login`))
    await grantRole(owner.db, ctxAs('admin'), extra, 'viewer')
    expect((await psql(extra, `select count(*) from ip_pools`)).code).toBe(0)
    const r = await revokeRoles(owner.db, ctxAs('admin'), extra)
    expect(r).toMatchObject({ before: 'viewer', after: null })
    const p = await psql(extra, `select count(*) from ip_pools`)
    expect(p.out).toMatch(/permission denied/)
    await withClient(url, (c) => c.query(`drop role "${extra}"`))
  })
})

describe("PostgreSQL's LDAP authentication against the suite's slapd", () => {
  const slapd = inject('slapd')
  const dataDir = inject('pgDataDir')
  const skip = slapd.error ? `slapd is not available: ${slapd.error}` : !dataDir ? 'the suite uses an external PostgreSQL (NETKEEPER_TEST_DATABASE_URL): its pg_hba.conf is not ours to change' : ''
  if (skip) console.warn(`[server-roles] skipping the pg_hba ldap test: ${skip}`)

  it.skipIf(!!skip)('lets a directory user connect with their directory password, and refuses a wrong one', async () => {
    const uid = `pgldap${suffix}`
    const hba = `${dataDir}/pg_hba.conf`
    const before = fs.readFileSync(hba, 'utf8')
    const db = new URL(url).pathname.slice(1)
    const ldap = new URL(slapd.url)
    const ldif = [
      `dn: uid=${uid},ou=people,${slapd.baseDn}`,
      'objectClass: inetOrgPerson',
      `uid: ${uid}`,
      `cn: ${uid}`,
      `sn: ${uid}`,
      'userPassword: pg-ldap-secret',
      ''
    ].join('\n')
    await run('ldapadd', ['-x', '-H', slapd.url, '-D', slapd.adminDn, '-w', slapd.adminPassword], ldif)
    try {
      await withClient(url, async (c) => {
        await c.query(`create role "${uid}" login`)
        await c.query(`grant netkeeper_viewer to "${uid}"`)
      })
      // First match wins: this line, for this database and login only, goes above the suite's trust lines.
      fs.writeFileSync(
        hba,
        `host ${db} ${uid} 127.0.0.1/32 ldap ldapserver=${ldap.hostname} ldapport=${ldap.port} ldapprefix="uid=" ldapsuffix=",ou=people,${slapd.baseDn}"\n${before}`
      )
      await withClient(url, (c) => c.query('select pg_reload_conf()'))
      await new Promise((r) => setTimeout(r, 300))
      const ok = await Core.open({ databaseUrl: urlAs(uid, 'pg-ldap-secret'), dataDir: '/nonexistent-netkeeper-test' })
      try {
        expect(ok.serverRole).toBe('viewer')
        expect((await ok.db.health()).login).toBe(uid)
      } finally {
        await ok.close()
      }
      const bad = await Core.open({ databaseUrl: urlAs(uid, 'wrong-password'), dataDir: '/nonexistent-netkeeper-test' }).catch((e) => e)
      expect(bad).toMatchObject({ code: 'UNAVAILABLE' })
      expect(bad.message).toMatch(/LDAP authentication failed|refused the login/)
    } finally {
      fs.writeFileSync(hba, before)
      await withClient(url, (c) => c.query('select pg_reload_conf()')).catch(() => undefined)
      await withClient(url, (c) => c.query(`drop owned by "${uid}"; drop role if exists "${uid}"`)).catch(() => undefined)
      await run('ldapdelete', ['-x', '-H', slapd.url, '-D', slapd.adminDn, '-w', slapd.adminPassword, `uid=${uid},ou=people,${slapd.baseDn}`]).catch(() => undefined)
    }
  })
})

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, (e, out, err) => (e ? reject(new Error(`${cmd}: ${err || e.message}`)) : resolve(out)))
    if (input !== undefined) p.stdin!.end(input)
  })
}

/** libfaketime's preload library (Debian's faketime package). */
function fakeTimeLib(): string {
  const hit = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'].find((p) => fs.existsSync(p))
  if (!hit) throw new Error('libfaketime not found: install the faketime package')
  return hit
}

describe('audit sinks (forwarding) on the server', () => {
  it('lets an admin configure sinks, an operator move a cursor only forward under its lease, a viewer neither', async () => {
    const name = `roles-${suffix}`
    // An operator may not add a sink (the app refuses first; the server refuses the insert itself too).
    expect((await psql(logins.operator, `insert into audit_sinks (name, kind, config) values ('x${suffix}', 'syslog', '{"url":"tcp://127.0.0.1:9"}')`)).out).toMatch(/permission denied/)
    const added = await cores.admin!.sinks.add(ctxAs('admin'), { name, url: 'tcp://127.0.0.1:9', test: false })
    const id = added.sink.id
    // Not even an admin moves a cursor by hand: only the functions do.
    expect((await psql(logins.admin, `update audit_sinks set cursor_seq = 99 where id = '${id}'`)).out).toMatch(/permission denied/)
    expect((await psql(logins.viewer, `select audit_sink_claim('${id}', 'v', 30, null)`)).out).toMatch(/needs the netkeeper_operator role/)
    expect((await psql(logins.operator, `select audit_sink_claim('${id}', 'op', 30, null)`)).out.trim()).toBe('op')
    // Another holder does not get a live lease.
    expect((await psql(logins.admin, `select audit_sink_claim('${id}', 'other', 30, null)`)).out.trim()).toBe('op')
    expect((await psql(logins.operator, `select audit_sink_advance('${id}', 'op', 0, 1, 1)`)).out.trim()).toBe('t')
    // From a stale cursor, backwards, or by another holder: nothing moves.
    expect((await psql(logins.operator, `select audit_sink_advance('${id}', 'op', 0, 2, 1)`)).out.trim()).toBe('f')
    expect((await psql(logins.operator, `select audit_sink_advance('${id}', 'op', 1, 1, 1)`)).out.trim()).toBe('f')
    expect((await psql(logins.operator, `select audit_sink_advance('${id}', 'other', 1, 2, 1)`)).out.trim()).toBe('f')
    expect((await psql(logins.operator, `select audit_sink_advance('${id}', 'op', 1, 999999999, 1)`)).out).toMatch(/beyond the chain head/)
    const row = (await owner.db.knex.raw<{ rows: { cursor_seq: string; sent_count: string }[] }>(`select cursor_seq::text, sent_count::text from audit_sinks where id = ?`, [id])).rows[0]!
    expect(row).toEqual({ cursor_seq: '1', sent_count: '1' })
    await cores.admin!.sinks.remove(ctxAs('admin'), name)
  })
})

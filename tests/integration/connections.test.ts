/**
 * Saved connections (Settings › Connections, `netkeeper db profile ...`): the list with the embedded store,
 * add / use / remove with passwords in the real Secret Service, the upgrade of a settings.json from before
 * connections, the order --database-url > NETKEEPER_DATABASE_URL > --profile > NETKEEPER_PROFILE > the active
 * connection > embedded, the verify-full default and the warnings of weaker modes, a saved password never
 * sent with a weaker TLS mode than it was saved for (fake servers record what they get), host lists, TLS
 * details from a real PostgreSQL with TLS, and switching the running app's core through the handler table
 * (CoreHost) with each connection keeping its own offline queue and last-known snapshot.
 */
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeBound, encodeBound } from '../../src/main/core/credentials/bound'
import { dbAccount, keychain } from '../../src/main/core/credentials/keychain'
import { makeContext } from '../../src/main/core/context'
import { describeTarget, resolveConnection } from '../../src/main/core/db/target'
import { OfflineQueue } from '../../src/main/core/offline/queue'
import { withQueueAt } from '../../src/main/core/offline/runtime'
import { ConnectionService, parseConnection } from '../../src/main/core/settings/connections'
import { SettingsStore } from '../../src/main/core/settings/store'
import { CoreHost } from '../../src/main/ipc/degraded'
import { dispatch, type HandlerTable } from '../../src/main/ipc/handlers'
import type { ArgsOf, Channel, ResultOf } from '../../src/shared/contract'
import { isQueued } from '../../src/shared/offline'
import { sslWarning, type DbProfile } from '../../src/shared/schemas'
import { cli } from '../support/cli'
import { fakePostgres, type FakePostgres } from '../support/fake-servers'
import { freePort, startPostgres, type PgServer } from '../support/postgres'
import { until } from '../support/until'

const hasSecretService = Boolean(process.env.DBUS_SESSION_BUS_ADDRESS)
if (!hasSecretService) console.warn('connection tests skipped: no session D-Bus (run through `npm test`, which starts one with gnome-keyring)')

const admin = makeContext({ actor: 'ada', roles: ['admin'], source: 'ui' })
const pool = { max: 2, acquireTimeoutMs: 1500, idleTimeoutMs: 30_000, maxLifetimeMs: 60_000 }
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-connections-'))
const readJson = (dataDir: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(dataDir, 'settings.json'), 'utf8')) as Record<string, unknown>

async function call<C extends Channel>(table: HandlerTable, channel: C, args: ArgsOf<C>, ctx = admin): Promise<ResultOf<C>> {
  const r = await dispatch(table, channel, args, ctx)
  if (!r.ok) throw Object.assign(new Error(`${r.error.code}: ${r.error.message}`), { payload: r.error })
  return r.value
}

let srv: PgServer
const savedEnv = { url: process.env.NETKEEPER_DATABASE_URL, profile: process.env.NETKEEPER_PROFILE }

beforeAll(async () => {
  // Saved connections only decide when no URL does; the suite's own environment must not pin one.
  delete process.env.NETKEEPER_DATABASE_URL
  delete process.env.NETKEEPER_PROFILE
  if (hasSecretService) srv = await startPostgres({ tls: true })
})

afterAll(async () => {
  await srv?.stop()
  if (savedEnv.url !== undefined) process.env.NETKEEPER_DATABASE_URL = savedEnv.url
  if (savedEnv.profile !== undefined) process.env.NETKEEPER_PROFILE = savedEnv.profile
})

/** A saved connection to the file's own server (plain TCP unless told otherwise). */
const server = (name: string, database: string, extra: Partial<DbProfile> = {}): DbProfile =>
  parseConnection({ name, host: '127.0.0.1', port: srv.port, database, user: 'postgres', sslMode: 'disable', pool, ...extra })

describe.skipIf(!hasSecretService)('saved connections', () => {
  it('adds, lists, uses, shows and removes connections from the CLI, passwords in the keychain', { timeout: 240_000 }, async () => {
    const dataDir = tmp()
    const env = { NETKEEPER_DATA_DIR: dataDir }
    const db = await srv.createDatabase('conn_cli')
    const dbName = new URL(db).pathname.slice(1)
    try {
      const add = await cli(['db', 'profile', 'add', 'lab', '--host', '127.0.0.1', '--port', String(srv.port), '--database', dbName, '--user', 'postgres', '--ssl-mode', 'disable', '--password-stdin'], env, 'lab-secret\n')
      expect(add.code, add.stderr).toBe(0)
      expect(add.stdout).toContain('saved connection lab')
      expect(add.stdout).toContain('warning: TLS is off (sslMode disable)')
      expect(add.stdout).toContain('use it with --profile lab')
      expect(decodeBound((await keychain.get(dbAccount('lab')))!)).toEqual({
        endpoint: { host: '127.0.0.1', port: srv.port, database: dbName, user: 'postgres', sslMode: 'disable' },
        secret: 'lab-secret'
      })
      // No --ssl-mode: verify-full, against the CA file given (kept as an absolute path), no warning.
      const secure = await cli(['db', 'profile', 'add', '--name', 'secure', '--host', 'localhost', '--port', String(srv.port), '--database', dbName, '--user', 'postgres', '--ca-file', path.relative(process.cwd(), srv.caFile!), '--json'], env)
      expect(secure.code, secure.stderr).toBe(0)
      expect(secure.json()).toMatchObject({ name: 'secure', profile: { sslMode: 'verify-full', caFile: srv.caFile }, tlsWarning: null, passwordStored: false, active: false })
      expect(secure.stderr).not.toContain('warning')

      const list = await cli(['db', 'profile', 'list', '--json'], env)
      expect(list.code, list.stderr).toBe(0)
      const l = list.json()
      expect(l.active).toBe('embedded')
      expect(l.connections.map((c: { name: string }) => c.name)).toEqual(['embedded', 'lab', 'secure'])
      expect(l.connections[0]).toMatchObject({ kind: 'embedded', active: true, inUse: true })
      expect(l.connections[1]).toMatchObject({ kind: 'server', passwordStored: true, tlsWarning: sslWarning('disable'), active: false })
      const text = (await cli(['db', 'profile', 'list'], env)).stdout
      expect(text).toMatch(/^\*> embedded/m)
      expect(text).toContain('lab')
      expect(text).toContain('warning: TLS is off')

      const use = await cli(['db', 'profile', 'use', 'lab'], env)
      expect(use.code, use.stderr).toBe(0)
      expect(use.stdout).toContain('the active connection is now lab')
      expect(use.stdout).toContain('warning: TLS is off')
      expect(readJson(dataDir)).toMatchObject({ activeConnection: 'lab' })
      // Every command on it names the weak TLS on stderr; stdout stays the result.
      const health = await cli(['db', 'health', '--json'], env)
      expect(health.code, health.stderr).toBe(0)
      expect(health.json()).toMatchObject({ reachable: true, target: { origin: 'profile', connection: 'lab', tlsWarning: sslWarning('disable') }, tls: { inUse: false } })
      expect(health.stderr).toContain('netkeeper: warning: connection lab: TLS is off (sslMode disable)')
      expect((await cli(['db', 'profile', 'show'], env)).stdout).toMatch(/^connection lab \(active\): postgres:\/\/postgres@127\.0\.0\.1:\d+\/conn_cli\S* sslmode=disable/)

      const removed = await cli(['db', 'profile', 'remove', 'lab', '--yes', '--json'], env)
      expect(removed.json()).toEqual({ removed: true, secretRemoved: true, wasActive: true })
      expect(await keychain.get(dbAccount('lab'))).toBeNull()
      expect((await cli(['db', 'profile', 'list', '--json'], env)).json().active).toBe('embedded')
      const notThere = await cli(['db', 'profile', 'use', 'lab', '--json'], env)
      expect(notThere.code).toBe(1)
      expect(notThere.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('saved: secure') })
      expect((await cli(['db', 'profile', 'remove', 'embedded'], env)).stderr).toContain('cannot be removed')
      expect(fs.readFileSync(path.join(dataDir, 'settings.json'), 'utf8')).not.toContain('lab-secret')
    } finally {
      await keychain.delete(dbAccount('lab')).catch(() => false)
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('reads a settings.json from before connections as the single active one and rewrites it in the new shape', async () => {
    const dataDir = tmp()
    const legacy = { name: 'office', host: '127.0.0.1', port: srv.port, database: 'postgres', user: 'postgres', pool }
    // Written by the previous version: one profile, no sslMode (which meant prefer), a key of its own.
    fs.writeFileSync(path.join(dataDir, 'settings.json'), JSON.stringify({ database: legacy, window: { zoom: 1.25 } }))
    await keychain.set(dbAccount('office'), 'office-password')
    try {
      const s = new SettingsStore(dataDir).read()
      expect(s.connections).toEqual([{ ...legacy, sslMode: 'prefer' }])
      expect(s.activeConnection).toBe('office')
      const file = readJson(dataDir)
      expect(file).toEqual({ window: { zoom: 1.25 }, connections: [{ ...legacy, sslMode: 'prefer' }], activeConnection: 'office' })
      // Read again from the new shape: the same.
      expect(new SettingsStore(dataDir).read()).toEqual(s)

      const spec = await resolveConnection({ dataDir, env: {} })
      expect(spec).toMatchObject({ origin: 'profile', connection: 'office', sslMode: 'prefer', password: 'office-password' })
      // The label, which keys the connection's offline queue, is what it was.
      expect(spec.label).toBe(`postgres://postgres@127.0.0.1:${srv.port}/postgres (profile office)`)
      expect(describeTarget(spec).tlsWarning).toBe(sslWarning('prefer'))
      // The bare keychain entry is bound to the profile as saved, TLS mode included.
      expect(decodeBound((await keychain.get(dbAccount('office')))!)).toMatchObject({ endpoint: { sslMode: 'prefer' }, secret: 'office-password' })
      const list = await new ConnectionService(dataDir).list()
      expect(list.active).toBe('office')
      expect(list.connections[1]).toMatchObject({ name: 'office', active: true, passwordStored: true, tlsWarning: sslWarning('prefer') })
    } finally {
      await keychain.delete(dbAccount('office')).catch(() => false)
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('takes --database-url, NETKEEPER_DATABASE_URL, --profile, NETKEEPER_PROFILE, the active connection, embedded, in that order', { timeout: 180_000 }, async () => {
    const dataDir = tmp()
    const secrets = { get: async () => null, set: async () => undefined, delete: async () => true }
    const a = parseConnection({ name: 'alpha', host: 'alpha.example', database: 'ipam', user: 'nk', sslMode: 'verify-full' })
    const b = parseConnection({ name: 'beta', host: 'beta.example', database: 'ipam', user: 'nk', sslMode: 'require' })
    new SettingsStore(dataDir).write({ connections: [a, b], activeConnection: 'alpha' })
    const resolve = async (o: { databaseUrl?: string; profile?: string; env?: NodeJS.ProcessEnv }) => resolveConnection({ dataDir, secrets, env: {}, ...o })
    try {
      expect(await resolve({})).toMatchObject({ origin: 'profile', connection: 'alpha' })
      expect(await resolve({ env: { NETKEEPER_PROFILE: 'beta' } })).toMatchObject({ connection: 'beta' })
      expect(await resolve({ profile: 'ALPHA', env: { NETKEEPER_PROFILE: 'beta' } })).toMatchObject({ connection: 'alpha' })
      expect(await resolve({ profile: 'embedded' })).toMatchObject({ kind: 'embedded' })
      expect(await resolve({ profile: 'beta', env: { NETKEEPER_DATABASE_URL: 'postgres://env@h/envdb' } })).toMatchObject({ origin: 'env' })
      expect(await resolve({ databaseUrl: 'postgres://flag@h/flagdb', profile: 'beta', env: { NETKEEPER_DATABASE_URL: 'postgres://env@h/envdb' } })).toMatchObject({ origin: 'flag' })
      await expect(resolve({ profile: 'gamma' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: '--profile' }, message: expect.stringContaining('saved: alpha, beta, embedded') })
      await expect(resolve({ env: { NETKEEPER_PROFILE: 'gamma' } })).rejects.toMatchObject({ details: { field: 'NETKEEPER_PROFILE' } })
      // Where a connection points (a label, the offline queue's key) needs no CA file; connecting does.
      const store = new SettingsStore(dataDir)
      store.write({ ...store.read(), connections: [a, b, { ...a, name: 'gone-ca', caFile: '/nonexistent/netkeeper-ca.pem' }] })
      expect(await resolveConnection({ dataDir, secrets, env: {}, profile: 'gone-ca', labelOnly: true })).toMatchObject({ connection: 'gone-ca' })
      await expect(resolve({ profile: 'gone-ca' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'caFile' } })
      new ConnectionService(dataDir, secrets).use('embedded')
      expect(await resolve({})).toMatchObject({ kind: 'embedded' })

      // The CLI: --profile on any database command, --db-profile anywhere, NETKEEPER_PROFILE.
      const db = await srv.createDatabase('conn_order')
      const svc = new ConnectionService(dataDir)
      await svc.save(admin, server('lab', new URL(db).pathname.slice(1)), undefined, { skipTest: true })
      const env = { NETKEEPER_DATA_DIR: dataDir }
      const on = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
        const r = await cli([...args, 'db', 'status', '--json'], { ...env, ...extra })
        expect(r.code, r.stderr).toBe(0)
        return r
      }
      expect((await on(['--profile', 'lab'])).json().target).toMatchObject({ connection: 'lab', origin: 'profile' })
      const after = await cli(['db', 'status', '--profile', 'lab', '--json'], env)
      expect(after.json().target).toMatchObject({ connection: 'lab' })
      expect((await on(['--db-profile', 'lab'])).json().target).toMatchObject({ connection: 'lab' })
      expect((await on([], { NETKEEPER_PROFILE: 'lab' })).json().target).toMatchObject({ connection: 'lab' })
      const pinned = await on(['--database-url', db, '--profile', 'lab'])
      expect(pinned.json().target.origin).toBe('flag')
      expect(pinned.stderr).toContain('--profile lab is ignored: --database-url comes first')
      // Under `user`, --profile stays the LDAP profile: it does not pick a database connection.
      const ldap = await cli(['--database-url', db, 'user', 'list', '--profile', 'no-such-ldap-profile'], env)
      expect(ldap.stderr).not.toContain('no saved connection is named')
      expect(ldap.stderr).not.toContain('is ignored')
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('makes a new connection verify-full unless a weaker mode is chosen, and names the weaker ones with a warning', () => {
    expect(parseConnection({ host: 'db.example', database: 'ipam', user: 'nk' })).toMatchObject({ name: 'default', sslMode: 'verify-full', port: 5432 })
    for (const mode of ['disable', 'prefer', 'require'] as const) expect(sslWarning(mode)).toMatch(/TLS/)
    expect(sslWarning('verify-ca')).toBeNull()
    expect(sslWarning('verify-full')).toBeNull()
    expect(() => parseConnection({ name: 'Embedded', host: 'h', database: 'd', user: 'u' })).toThrow(/name: "embedded" is the name of the embedded store/)
    expect(() => parseConnection({ host: 'a,,b', database: 'd', user: 'u' })).toThrow(/host: has an empty entry/)
    expect(() => parseConnection({ host: 'a, A', database: 'd', user: 'u' })).toThrow(/host: names the same host twice/)
    expect(parseConnection({ host: ' a , b ', database: 'd', user: 'u' }).host).toBe('a,b')
  })

  it('never sends a saved password with a weaker TLS mode than it was saved for, nor to a host it was not saved for', { timeout: 120_000 }, async () => {
    const SECRET = 'saved-for-verify-full-9c1'
    const dataDir = tmp()
    const fakes: FakePostgres[] = []
    const fake = async (): Promise<FakePostgres> => {
      const f = await fakePostgres()
      fakes.push(f)
      return f
    }
    const a = await fake()
    const svc = new ConnectionService(dataDir)
    const saved = parseConnection({ name: 'vault', host: '127.0.0.1', port: a.port, database: 'ipam', user: 'nk', pool })
    try {
      await svc.save(admin, saved, SECRET, { skipTest: true })
      expect(saved.sslMode).toBe('verify-full')
      for (const weaker of ['verify-ca', 'require', 'prefer', 'disable'] as const) {
        const err = await svc.test({ ...saved, sslMode: weaker, ...(weaker === 'verify-ca' ? { caFile: srv.caFile } : {}) }).catch((e) => e)
        expect(err, weaker).toMatchObject({ code: 'VALIDATION', details: { field: 'password', changed: ['sslMode'], savedSslMode: 'verify-full' } })
        expect(err.message).toContain(`was saved for sslMode verify-full; this connection weakens TLS to sslMode ${weaker}, so it is not sent. Enter the password again`)
        // Saving the weaker connection without the password is refused too, and changes nothing.
        await expect(svc.save(admin, { ...saved, sslMode: weaker, caFile: srv.caFile }, undefined, { skipTest: true })).rejects.toMatchObject({ details: { field: 'password' } })
      }
      expect((await svc.get('vault')).profile).toEqual(saved)
      // Not one of those attempts connected.
      expect(a.connections).toBe(0)
      // With verify-full the fake server's "no TLS" ends it before any password.
      await expect(svc.test(saved)).rejects.toMatchObject({ code: 'UNAVAILABLE' })
      expect(a.passwords).toEqual([])

      // The same refusal over the handler table the app serves.
      const table = (await import('../../src/main/ipc/settings')).settingsHandlers(dataDir) as unknown as HandlerTable
      const r = await dispatch(table, 'settings:connection:test', { profile: { ...saved, sslMode: 'disable' }, previousName: 'vault' }, admin)
      expect(r).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { field: 'password', changed: ['sslMode'] } } })

      // settings.json edited by hand to disable TLS: at start the connection gets no password from the keychain.
      const store = new SettingsStore(dataDir)
      store.write({ ...store.read(), connections: [{ ...saved, sslMode: 'disable' }], activeConnection: 'vault' })
      const spec = await resolveConnection({ dataDir, env: {} })
      expect(spec).toMatchObject({ connection: 'vault', sslMode: 'disable' })
      expect((spec as { password?: string }).password).toBeUndefined()
      // ...nor when the app is switched to it.
      const host = CoreHost.start({ dataDir, migrate: true, profile: 'embedded' })
      try {
        await host.ready()
        await expect(host.handlers().then((t) => call(t, 'settings:connection:switch', { name: 'vault' }))).rejects.toThrow(/VALIDATION: password: .*weakens TLS to sslMode disable/)
      } finally {
        await host.close()
      }
      expect(a.saw(SECRET)).toBe(false)
      store.write({ ...store.read(), connections: [saved] })

      // Entered again, the password goes with the weaker mode (and only that one typed).
      // (Without a password, the driver answers the fake server's request with an empty one: nothing saved.)
      const heard = (): Set<string> => new Set(a.passwords.filter(Boolean))
      expect(heard()).toEqual(new Set())
      await expect(svc.test({ ...saved, sslMode: 'disable' }, 'typed-again')).rejects.toMatchObject({ code: 'UNAVAILABLE' })
      expect(heard()).toEqual(new Set(['typed-again']))
      const typed = a.passwords.length
      // Saved with it: bound to disable now; a stronger mode may use it (prefer falls back to plain here).
      await svc.save(admin, { ...saved, sslMode: 'disable' }, 'typed-again', { skipTest: true })
      expect(decodeBound((await keychain.get(dbAccount('vault')))!)).toMatchObject({ endpoint: { sslMode: 'disable' }, secret: 'typed-again' })
      await expect(svc.test({ ...saved, sslMode: 'prefer' })).rejects.toMatchObject({ code: 'UNAVAILABLE' })
      expect(a.passwords.length).toBeGreaterThan(typed)
      expect(heard()).toEqual(new Set(['typed-again']))

      // An entry bound before the TLS mode was part of the binding takes the saved connection's mode.
      store.write({ ...store.read(), connections: [{ ...saved, sslMode: 'require' }] })
      await keychain.set(dbAccount('vault'), encodeBound({ host: '127.0.0.1', port: a.port, database: 'ipam', user: 'nk' }, 'legacy-entry'))
      await expect(svc.test({ ...saved, sslMode: 'prefer' })).rejects.toMatchObject({ details: { field: 'password', changed: ['sslMode'], savedSslMode: 'require' } })
      expect(decodeBound((await keychain.get(dbAccount('vault')))!)).toMatchObject({ endpoint: { sslMode: 'require' }, secret: 'legacy-entry' })
      expect(a.saw('legacy-entry')).toBe(false)

      // A host list: the password goes to hosts it was saved with (the list may shrink), never to a new one.
      store.write({ ...store.read(), connections: [{ ...saved, host: '127.0.0.3,127.0.0.1', sslMode: 'disable' }] })
      await dbPasswordsSave(dataDir, { ...saved, host: '127.0.0.3,127.0.0.1', sslMode: 'disable' }, 'for-the-list')
      await expect(svc.test({ ...saved, host: '127.0.0.1', sslMode: 'disable' })).rejects.toMatchObject({ code: 'UNAVAILABLE' })
      expect(a.passwords.at(-1)).toBe('for-the-list')
      const grown = await svc.test({ ...saved, host: '127.0.0.1,127.0.0.2', sslMode: 'disable' }).catch((e) => e)
      expect(grown).toMatchObject({ code: 'VALIDATION', details: { field: 'password', changed: ['host'] } })

      // The CLI says the same and exits 1.
      store.write({ ...store.read(), connections: [saved] })
      await dbPasswordsSave(dataDir, saved, SECRET)
      const out = await cli(['db', 'profile', 'set', 'vault', '--host', '127.0.0.1', '--port', String(a.port), '--database', 'ipam', '--user', 'nk', '--ssl-mode', 'disable', '--skip-test'], { NETKEEPER_DATA_DIR: dataDir })
      expect(out.code).toBe(1)
      expect(out.stderr).toContain('weakens TLS to sslMode disable, so it is not sent')
      expect(a.saw(SECRET)).toBe(false)
    } finally {
      await svc.remove('vault').catch(() => undefined)
      await Promise.all(fakes.map((f) => f.close()))
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('tries the hosts of a list in order and says which answered', async () => {
    const dataDir = tmp()
    const svc = new ConnectionService(dataDir)
    // Nothing listens on 127.0.0.2 (the server is on 127.0.0.1 only): refused, then the next host.
    const h = await svc.test(server('pair', 'postgres', { host: '127.0.0.2,127.0.0.1' }))
    expect(h).toMatchObject({ reachable: true, host: '127.0.0.1', hostsSkipped: [{ host: '127.0.0.2', error: expect.stringContaining('ECONNREFUSED') }] })
    expect(h.target.label).toBe(`postgres://postgres@127.0.0.2,127.0.0.1:${srv.port}/postgres (profile pair)`)
    const none = await svc.test(server('none', 'postgres', { host: '127.0.0.2,127.0.0.3' })).catch((e) => e)
    expect(none).toMatchObject({ code: 'UNAVAILABLE', details: { reason: 'unreachable' } })
    expect(none.message).toMatch(/^none of the hosts answered \(127\.0\.0\.2: .*; 127\.0\.0\.3: .*\)$/)
    fs.rmSync(dataDir, { recursive: true, force: true })
  })
})

/** Saves a password bound to `p` as the connection service does. */
async function dbPasswordsSave(_dataDir: string, p: DbProfile, secret: string): Promise<void> {
  const { dbPasswords, dbEndpoint } = await import('../../src/main/core/credentials/db-password')
  await dbPasswords(keychain).save(dbAccount(p.name), dbEndpoint(p), secret)
}

describe.skipIf(!hasSecretService)('TLS on a real server', () => {
  it('reports TLS in use, the certificate and the verification done', async () => {
    const svc = new ConnectionService(tmp())
    const full = await svc.test(server('tls', 'postgres', { host: 'localhost', sslMode: 'verify-full', caFile: srv.caFile }))
    expect(full).toMatchObject({ reachable: true, serverRole: 'owner', login: 'postgres' })
    expect(full.tls).toMatchObject({
      inUse: true,
      sslMode: 'verify-full',
      subject: 'CN=localhost, O=Netkeeper tests',
      issuer: 'CN=Netkeeper Test PostgreSQL CA',
      subjectAltName: expect.stringContaining('IP Address:127.0.0.1'),
      verification: `certificate chain verified against the CA file ${srv.caFile}; host name localhost matched`
    })
    expect(full.tls?.protocol).toMatch(/^TLSv1\.[23]$/)
    expect(full.tls?.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    expect(full.target.tlsWarning).toBeUndefined()
    // An address as host: checked against the certificate's IP entry.
    expect((await svc.test(server('tls-ip', 'postgres', { sslMode: 'verify-full', caFile: srv.caFile }))).tls).toMatchObject({ inUse: true, verification: expect.stringContaining('host name 127.0.0.1 matched') })
    // Without the CA file the system CAs do not know the test CA: refused, as it should be.
    await expect(svc.test(server('tls-nocafile', 'postgres', { host: 'localhost', sslMode: 'verify-full' }))).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('TLS verification of the server failed') })
    const req = await svc.test(server('tls-req', 'postgres', { sslMode: 'require' }))
    expect(req.tls).toMatchObject({ inUse: true, verification: expect.stringMatching(/^none: the certificate was not checked \(sslMode require\)/), unverifiedReason: expect.any(String) })
    expect(req.target.tlsWarning).toBe(sslWarning('require'))
    expect((await svc.test(server('plain', 'postgres'))).tls).toEqual({ inUse: false, sslMode: 'disable', verification: 'none: the connection is not encrypted' })
  })
})

describe.skipIf(!hasSecretService)('switching the running app to another connection', () => {
  it('reopens the core on a server and back on the embedded store, through the handler table, without a restart', { timeout: 240_000 }, async () => {
    const dataDir = tmp()
    const db = await srv.createDatabase('conn_switch')
    const lab = server('lab', new URL(db).pathname.slice(1))
    const host = CoreHost.start({ dataDir, migrate: true })
    try {
      const t0 = await host.handlers()
      expect((await call(t0, 'app:info', {})).target).toMatchObject({ kind: 'embedded', connection: 'embedded' })
      await call(t0, 'ipam:pool:create', { name: 'home', network: '10.1.0.0/24' })

      const saved = await call(t0, 'settings:connection:save', { profile: lab, create: true })
      expect(saved).toMatchObject({ name: 'lab', tlsWarning: sslWarning('disable'), active: false, inUse: false })
      await expect(call(t0, 'settings:connection:save', { profile: lab, create: true })).rejects.toThrow(/CONFLICT: name: a connection named "lab" already exists/)
      const tested = await call(t0, 'settings:connection:test', { profile: lab })
      expect(tested).toMatchObject({ reachable: true, serverRole: 'owner', tls: { inUse: false } })
      expect((await call(t0, 'settings:connection:list', {})).connections.map((c) => [c.name, c.inUse])).toEqual([
        ['embedded', true],
        ['lab', false]
      ])
      // Not an admin: refused.
      const viewer = makeContext({ actor: 'vic', roles: ['viewer'], source: 'ui' })
      await expect(call(t0, 'settings:connection:switch', { name: 'lab' }, viewer)).rejects.toThrow(/FORBIDDEN: switching the database connection needs the admin role/)

      const sw = await call(t0, 'settings:connection:switch', { name: 'lab' })
      expect(sw.target).toMatchObject({ kind: 'postgresql', connection: 'lab', tlsWarning: sslWarning('disable') })
      expect(sw.health).toMatchObject({ reachable: true, migrations: { pending: [] }, serverRole: 'owner' })
      expect(readJson(dataDir)).toMatchObject({ activeConnection: 'lab' })
      const t1 = await host.handlers()
      expect(t1).not.toBe(t0)
      expect((await call(t1, 'app:info', {})).target.connection).toBe('lab')
      expect((await call(t1, 'ipam:pool:list', {})).items.map((p) => p.name)).toEqual([])
      await call(t1, 'ipam:pool:create', { name: 'lab-pool', network: '10.2.0.0/24' })
      await expect(call(t1, 'settings:connection:remove', { name: 'lab' })).rejects.toThrow(/CONFLICT: name: the app is using connection "lab"/)
      await expect(call(t1, 'settings:connection:switch', { name: 'nowhere' })).rejects.toThrow(/NOT_FOUND/)
      // A connection that does not answer: refused, and the app stays where it is.
      await new ConnectionService(dataDir).save(admin, server('down', 'x', { port: await freePort() }), undefined, { skipTest: true })
      await expect(call(t1, 'settings:connection:switch', { name: 'down' })).rejects.toThrow(/UNAVAILABLE: database unreachable/)
      expect((await call(await host.handlers(), 'app:info', {})).target.connection).toBe('lab')
      expect(readJson(dataDir)).toMatchObject({ activeConnection: 'lab' })

      const back = await call(t1, 'settings:connection:switch', { name: 'embedded' })
      expect(back.target).toMatchObject({ kind: 'embedded', connection: 'embedded' })
      const t2 = await host.handlers()
      expect((await call(t2, 'ipam:pool:list', {})).items.map((p) => p.name)).toEqual(['home'])
      expect(readJson(dataDir)).toMatchObject({ activeConnection: 'embedded' })
      expect(await call(t2, 'settings:connection:remove', { name: 'down' })).toEqual({ removed: true, secretRemoved: false, wasActive: false })
    } finally {
      await host.close()
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('keeps each connection its own offline queue and last-known snapshot', { timeout: 240_000 }, async () => {
    const dataDir = tmp()
    const db = await srv.createDatabase('conn_offline')
    const lab = server('lab', new URL(db).pathname.slice(1))
    await new ConnectionService(dataDir).save(admin, lab, undefined, { skipTest: true })
    const host = CoreHost.start({ dataDir, migrate: true })
    let paused = false
    try {
      const home = await host.handlers()
      const embeddedLabel = (await call(home, 'app:info', {})).target.label
      await call(home, 'ipam:pool:create', { name: 'home', network: '10.1.0.0/24' })
      await call(home, 'offline:queue:replay', {}) // an empty replay saves this connection's snapshot
      await call(home, 'settings:connection:switch', { name: 'lab' })
      const t = await host.handlers()
      const labLabel = (await call(t, 'app:info', {})).target.label
      await call(t, 'ipam:pool:create', { name: 'lab-pool', network: '10.2.0.0/24' })
      await call(t, 'offline:queue:replay', {})
      const snaps = () => withQueueAt(dataDir, (q) => [embeddedLabel, labLabel].map((l) => q.snapshot(l).pools()?.data.map((p) => p.name)))
      expect(snaps()).toEqual([['home'], ['lab-pool']])

      srv.pause!()
      paused = true
      await new Promise((r) => setTimeout(r, 250))
      // The lab's own last-known data, never the embedded store's.
      const stale = await call(t, 'ipam:pool:list', {})
      expect(stale.stale?.reason).toContain('unreachable')
      expect(stale.items.map((p) => p.name)).toEqual(['lab-pool'])
      const q = await call(t, 'ipam:allocate', { pool: 'lab-pool', ip: '10.2.0.9', hostname: 'queued-for-lab' })
      expect(isQueued(q) && q.entry.target).toBe(labLabel)
      expect((await call(t, 'offline:state', {})).snapshotAt).toBeTruthy()

      // On the embedded store meanwhile: its own data, live; the lab's edit stays queued for the lab.
      await call(t, 'settings:connection:switch', { name: 'embedded' })
      const e = await host.handlers()
      const live = await call(e, 'ipam:pool:list', {})
      expect(live.stale).toBeUndefined()
      expect(live.items.map((p) => p.name)).toEqual(['home'])
      expect(await call(e, 'offline:queue:replay', {})).toMatchObject({ applied: 0 })
      expect(withQueueAt(dataDir, (x) => [x.countPending(labLabel), x.countPending(embeddedLabel)])).toEqual([1, 0])
      expect(snaps()).toEqual([['home'], ['lab-pool']])

      // The lab back, the app back on it: its queue replays there.
      srv.resume!()
      paused = false
      await call(e, 'settings:connection:switch', { name: 'lab' })
      const again = await host.handlers()
      const a = await until('the lab edit to replay', async () => {
        const r = await dispatch(again, 'ipam:allocation:get', { ip: '10.2.0.9' }, admin)
        // The allocation is readable as soon as it commits; the queue marks its entry done only after
        // the shared WAL flush answers, a moment later. Wait for both.
        if (!r.ok || r.value.stale || withQueueAt(dataDir, (x) => x.countPending(labLabel)) !== 0) return undefined
        return r.value
      })
      expect(a).toMatchObject({ hostname: 'queued-for-lab', poolName: 'lab-pool' })
      expect(withQueueAt(dataDir, (x) => x.countPending(labLabel))).toBe(0)
    } finally {
      if (paused) srv.resume!()
      await host.close()
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })

  it('drops a last-known snapshot from before connections: it cannot say which database it came from', () => {
    const dataDir = tmp()
    const Sqlite = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3')
    const old = new Sqlite(path.join(dataDir, 'offline-queue.sqlite'))
    old.exec(`create table snapshot_pools (name text primary key, id integer not null, data text not null, saved_at text not null);
              insert into snapshot_pools values ('old', 1, '{}', '2026-01-01T00:00:00Z');
              create table snapshot_meta (name text primary key, value text not null);`)
    old.close()
    const q = OfflineQueue.open(dataDir)
    try {
      expect(q.snapshot('any').pools()).toBeNull()
      const check = new Sqlite(path.join(dataDir, 'offline-queue.sqlite'), { readonly: true })
      const tables = (check.prepare(`select name from sqlite_master where type = 'table' and name like '%snapshot%' order by name`).all() as { name: string }[]).map((r) => r.name)
      check.close()
      expect(tables).toEqual(['target_snapshot_allocations', 'target_snapshot_meta', 'target_snapshot_pools'])
    } finally {
      q.close()
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  })
})

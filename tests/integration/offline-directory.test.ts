/**
 * Directory edits while the directory server is unreachable (docs/offline.md), through the handler table
 * the app serves, against a slapd of this file's own that the test stops and restarts: the signed-in
 * person's edits are queued (never a password), the directory monitor notices the server's return, and
 * replay applies each edit once under their session, audited with source replay; a changed entry is a
 * conflict with both sides, never overwritten.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { ProfileStore } from '../../src/main/core/directory/profiles'
import { createHandlers, dispatch, offlineRuntime, type HandlerTable } from '../../src/main/ipc/handlers'
import type { OfflineRuntime } from '../../src/main/core/offline/runtime'
import { ldapProfileSchema, type UserDto } from '../../src/shared/directory'
import type { ArgsOf, Channel, ResultOf } from '../../src/shared/contract'
import { isQueued, type QueuedEdit } from '../../src/shared/offline'
import { auditRows, lastSeq } from '../support/core'
import { until } from '../support/until'
import { freshDatabase } from '../support/db'
import { baseProfile, slapdMissing } from '../support/directory'
import { SEED_PASSWORDS, startSlapd, type SlapdServer } from '../support/slapd'

const skip = slapdMissing()
if (skip) console.warn(`[offline-directory] skipped: ${skip}`)
const ui = makeContext({ actor: 'desktop-user', roles: ['admin'], source: 'ui' })

let srv: SlapdServer
let core: Core
let table: HandlerTable
let rt: OfflineRuntime
let dataDir: string

async function call<C extends Channel>(channel: C, args: ArgsOf<C>): Promise<ResultOf<C>> {
  const r = await dispatch(table, channel, args, ui)
  if (!r.ok) throw Object.assign(new Error(`${r.error.code}: ${r.error.message}`), { payload: r.error })
  return r.value
}

beforeAll(async () => {
  if (skip) return
  srv = await startSlapd()
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-offline-dir-'))
  const people = { usersDn: 'ou=people,dc=example,dc=test', groupsDn: 'ou=groups,dc=example,dc=test' }
  new ProfileStore(dataDir).write({ version: 1, defaultProfile: 'corp', profiles: [ldapProfileSchema.parse(baseProfile(srv.info, { name: 'corp', ...people }))] })
  core = await Core.open({ databaseUrl: await freshDatabase('offline_dir'), dataDir, migrate: true })
  rt = offlineRuntime(core, { monitor: { minDelayMs: 200, maxDelayMs: 500, onlineIntervalMs: 0 }, snapshotEveryMs: 0 })
  table = createHandlers(core)
})

afterAll(async () => {
  await rt?.close()
  await core?.close()
  await srv?.stop()
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
})

describe.skipIf(skip)('directory edits while slapd is down', () => {
  it('queues the signed-in person\'s edits, refuses to queue a password, and replays them under their session when slapd is back', async () => {
    await call('auth:signin', { profile: 'corp', user: 'alice', password: SEED_PASSWORDS.alice })
    rt.start()
    const before = (await call('directory:user:create', { uid: 'kept-up', sn: 'Before' })) as UserDto
    const changedLater = (await call('directory:user:create', { uid: 'moved-on', sn: 'Before' })) as UserDto
    const seq = await lastSeq(core)

    await srv.pause()
    const created = await call('directory:user:create', { uid: 'offline-new', sn: 'Queued', mail: 'offline-new@example.test' })
    expect(isQueued(created)).toBe(true)
    const q = created as QueuedEdit
    expect(q.message).toMatch(/^Queued as #\d+, not done yet: create user offline-new \(directory corp\); applied under your corp directory session once the directory answers\. The directory is unreachable/)
    expect(q.entry).toMatchObject({ actor: 'alice', operation: 'directory.user.create', basedOn: { profile: 'corp' } })

    const withPassword = await dispatch(table, 'directory:user:create', { uid: 'offline-pw', sn: 'Secret', password: 'not-on-disk-1' }, ui)
    expect(withPassword).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { field: 'password' } } })
    expect(!withPassword.ok && withPassword.error.message).toContain('not kept in the offline queue')

    const member = await call('directory:group:members:add', { cn: 'netkeeper-operators', members: ['offline-new'] })
    expect(isQueued(member)).toBe(true)
    const upd = await call('directory:user:update', { uid: 'kept-up', version: before.version!, mail: 'kept-up@example.test' })
    expect(isQueued(upd) && upd.entry.basedOn).toMatchObject({ from: 'caller', entryVersion: before.version })
    const stale = await call('directory:user:update', { uid: 'moved-on', version: changedLater.version!, description: 'offline edit' })
    expect(isQueued(stale)).toBe(true)
    const state = await call('offline:state', {})
    expect(state.directory?.online).toBe(false)
    expect(state.queue.queued).toBe(4)
    const texts = fs.readFileSync(path.join(dataDir, 'offline-queue.sqlite')).toString('latin1')
    expect(texts).not.toContain('not-on-disk-1')

    await srv.resume()
    // Someone else changes moved-on first: the queued edit made against the old version must not win.
    const other = await core.auth.commandScope(makeContext({ actor: 'admin-cli', roles: ['admin'], source: 'cli' }), {
      profile: 'corp',
      bindDn: srv.info.adminDn,
      password: srv.info.adminPassword
    })
    try {
      await core.directory.users.update(other, { uid: 'moved-on', sn: 'Elsewhere' })
    } finally {
      await other.close()
    }

    const after = await until('the directory replay', async () => {
      const s = await call('offline:state', {})
      return s.lastReplay && s.queue.queued === 0 ? s : undefined
    })
    expect(after.directory?.online).toBe(true)
    expect(after.lastReplay).toMatchObject({ applied: 3, conflicts: 1, waiting: 0 })
    const scope = await core.auth.scope(ui)
    expect(await core.directory.users.get(scope, 'offline-new')).toMatchObject({ mail: 'offline-new@example.test' })
    const ops = await core.directory.groups.get(scope, 'netkeeper-operators')
    expect([...ops.memberUids, ...ops.memberDns].some((m) => /^(uid=)?offline-new\b/.test(m))).toBe(true)
    expect(await core.directory.users.get(scope, 'kept-up')).toMatchObject({ mail: 'kept-up@example.test' })
    expect(await core.directory.users.get(scope, 'moved-on')).toMatchObject({ sn: 'Elsewhere', description: null })
    const conflicts = await call('offline:queue:conflicts', {})
    expect(conflicts).toHaveLength(1)
    expect(conflicts[0]!.conflict).toMatchObject({ code: 'CONFLICT', server: { uid: 'moved-on', sn: 'Elsewhere' } })

    // Each directory write has an intent row (warning) before it and its outcome after; the outcomes:
    const rows = (await auditRows(core, seq)).filter((r) => r.source === 'replay' && r.details.context?.phase !== 'intent')
    expect(rows.map((r) => [r.action, r.resource_name, r.user_id, r.status])).toEqual([
      ['create', 'offline-new', 'alice', 'success'],
      ['update', 'netkeeper-operators', 'alice', 'success'],
      ['update', 'kept-up', 'alice', 'success'],
      ['update', 'moved-on', 'alice', 'failure']
    ])
    expect(rows[0]!.request_id).toBe(q.entry.idempotencyKey)
  })
})

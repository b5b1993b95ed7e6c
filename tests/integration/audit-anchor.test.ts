/**
 * Anchored heads (docs/audit.md#anchoring-the-head): the chain head appended to a file outside the database,
 * by hand, by the app's upkeep and after every purge; `verify --anchors` catches what the chain alone
 * cannot: the newest rows removed by the owner (who may move the head back), or replaced by others.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { readAnchors, setAnchorSettings } from '../../src/main/core/audit/anchors'
import { appendAudit } from '../../src/main/core/audit/writer'
import { makeContext } from '../../src/main/core/context'
import { cli } from '../support/cli'
import { ctxAs } from '../support/core'
import { freshDatabase, withClient } from '../support/db'

let core: Core
let url: string
let dir: string
let dataDir: string
let anchors: string
const admin = ctxAs('admin', 'alice')

async function seed(n: number, resourceType = 'anchored_item'): Promise<void> {
  const ctx = makeContext({ actor: 'seeder', roles: ['admin'], source: 'cli' })
  await core.db.knex.transaction(async (trx) => {
    for (let i = 0; i < n; i++) await appendAudit(trx, ctx, { action: 'update', resourceType, resourceId: i, details: { after: { n: i } } })
  })
}

const head = async (): Promise<{ seq: string; hash: string }> =>
  (await core.db.knex.raw<{ rows: { seq: string; hash: string }[] }>(`select last_seq::text as seq, last_hash as hash from audit_chain_head`)).rows[0]!

beforeAll(async () => {
  url = await freshDatabase('audit_anchor')
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-anchor-'))
  dataDir = path.join(dir, 'data')
  fs.mkdirSync(dataDir)
  anchors = path.join(dir, 'anchors.jsonl')
  setAnchorSettings(dataDir, { file: anchors, everyMinutes: 10 })
  core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
  await seed(5)
})
afterAll(async () => {
  await core?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('anchored heads', () => {
  it('anchors at start of the upkeep, by hand and after every purge', async () => {
    core.startMaintenance(3600_000)
    await new Promise((r) => setTimeout(r, 500))
    const h = await head()
    expect(readAnchors(anchors).map((a) => [a.seq, a.hash])).toEqual([[h.seq, h.hash]])
    await seed(3)
    const a = await core.audit.anchor(admin)
    expect(a).toMatchObject({ kind: 'netkeeper-audit-anchor', seq: (await head()).seq, hash: (await head()).hash, chain: expect.stringMatching(/^[0-9a-f-]{36}$/) })
    await core.audit.setPolicy(admin, { resourceType: 'short_lived', retentionDays: 1 })
    await seed(2, 'short_lived')
    fs.mkdirSync(path.join(dataDir, 'audit-archive'), { recursive: true })
    const p = await core.audit.purge(admin, { now: new Date(Date.now() + 2 * 86400_000) })
    expect(p.anchor).toMatchObject({ seq: p.purgeSeq })
    const all = readAnchors(anchors)
    expect(all).toHaveLength(3)
    expect(all[2]).toMatchObject({ seq: p.purgeSeq, hash: (await head()).hash })
    const v = await core.audit.verify(admin, undefined, { anchors })
    expect(v).toMatchObject({ ok: true, anchors: { checked: 3, purged: 0, otherDatabase: 0 } })
  })

  it('catches the newest rows removed by the owner, which the chain alone does not', async () => {
    await seed(4)
    await core.audit.anchor(admin)
    const anchored = await head()
    const keep = (BigInt(anchored.seq) - 3n).toString()
    // As the owner can (a superuser here): delete the newest rows and move the head back onto the last kept row.
    await withClient(url, async (c) => {
      await c.query('begin')
      await c.query(`set local netkeeper.audit_purge = 'on'`)
      await c.query(`delete from audit_logs where seq > $1`, [keep])
      await c.query(`update audit_chain_head set last_seq = $1, last_hash = (select row_hash from audit_logs where seq = $1)`, [keep])
      await c.query('commit')
    })
    expect(await core.audit.verify(admin)).toMatchObject({ ok: true })
    const v = await core.audit.verify(admin, undefined, { anchors })
    expect(v).toMatchObject({
      ok: false,
      problem: { kind: 'anchor', seq: anchored.seq, message: expect.stringMatching(new RegExp(`^the chain ends at row ${keep}, but row ${anchored.seq} was anchored at .*: the newest rows were removed$`)) }
    })
    const r = await cli(['--database-url', url, 'audit', 'verify', '--anchors', anchors])
    expect(r.code).toBe(1)
    expect(r.stdout).toContain(`AUDIT CHAIN BROKEN at seq ${anchored.seq} (anchor): the chain ends at row ${keep}`)

    // Rows written again in their place have other hashes: still caught.
    await seed(3)
    expect((await head()).seq).toBe(anchored.seq)
    expect((await core.audit.verify(admin, undefined, { anchors })).problem).toMatchObject({
      kind: 'anchor',
      seq: anchored.seq,
      message: expect.stringContaining(`row ${anchored.seq} is not the row anchored at`)
    })
  })

  it("leaves another database's anchors aside, but not all of them", async () => {
    const other = path.join(dir, 'other.jsonl')
    fs.writeFileSync(other, JSON.stringify({ kind: 'netkeeper-audit-anchor', at: new Date().toISOString(), chain: '00000000-0000-4000-8000-000000000000', database: 'elsewhere', seq: '1', hash: 'f'.repeat(64) }) + '\n')
    expect((await core.audit.verify(admin, undefined, { anchors: other })).problem).toMatchObject({ kind: 'anchor', message: expect.stringContaining('no anchor in the file is of this chain') })
    fs.writeFileSync(other, 'not json\n')
    await expect(core.audit.verify(admin, undefined, { anchors: other })).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('line 1 of') })
  })
})

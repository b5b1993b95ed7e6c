/**
 * Signed exports (docs/audit.md#signed-exports): every export, from the CLI and the app, writes a manifest
 * beside the file (filters, sequence range, rows, the chain head, the file's SHA-256) signed with the
 * installation's Ed25519 key, whose public key the audit log records; `audit verify-export` checks file,
 * manifest and signature with no database, names a changed cell, a removed row, a swapped manifest and a
 * wrong key, and with --live compares every row with the live chain. The key lives in a real Secret
 * Service (started by the test runner).
 */
import crypto, { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { verifyExport, writeExportManifest } from '../../src/main/core/audit/export-manifest'
import { AuditSigningKeys } from '../../src/main/core/audit/signing'
import { appendAudit } from '../../src/main/core/audit/writer'
import { makeContext } from '../../src/main/core/context'
import type { ExportFormat } from '../../src/shared/audit'
import { createHandlers, dispatch } from '../../src/main/ipc/handlers'
import { cli } from '../support/cli'
import { ctxAs } from '../support/core'
import { freshDatabase, withClient } from '../support/db'

const hasSecretService = Boolean(process.env.DBUS_SESSION_BUS_ADDRESS)
if (!hasSecretService) console.warn('signed export tests skipped: no session D-Bus (run through `npm test`, which starts one with gnome-keyring)')

let core: Core
let url: string
let dataDir: string
let dir: string
const admin = ctxAs('admin', 'alice')

async function seed(n: number, resourceType: string): Promise<void> {
  const ctx = makeContext({ actor: 'seeder', roles: ['admin'], source: 'cli' })
  await core.db.knex.transaction(async (trx) => {
    for (let i = 0; i < n; i++) await appendAudit(trx, ctx, { action: 'update', resourceType, resourceId: i, resourceName: i === 2 ? '=HYPERLINK("x")' : `${resourceType}-${i}`, details: { after: { n: i } } })
  })
}

/** Exports through the core as the CLI does: the file, then its signed manifest. */
async function exportTo(name: string, format: ExportFormat, filter = {}): Promise<string> {
  const file = path.join(dir, name)
  const out = fs.createWriteStream(file)
  const r = await core.audit.export(admin, out, format, filter)
  await new Promise<void>((resolve) => out.end(resolve))
  await core.audit.signExport(admin, file, r, filter)
  return file
}

const copy = (file: string, to: string): string => {
  fs.copyFileSync(file, path.join(dir, to))
  fs.copyFileSync(file + '.manifest.json', path.join(dir, to + '.manifest.json'))
  return path.join(dir, to)
}

beforeAll(async () => {
  url = await freshDatabase('audit_signed')
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-signed-'))
  dataDir = path.join(dir, 'data')
  fs.mkdirSync(dataDir)
  core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
  await seed(12, 'signed_item')
})
afterAll(async () => {
  await core?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe.skipIf(!hasSecretService)('signed exports', () => {
  it('writes a manifest that states what was exported, signed by a key the audit log records', async () => {
    const file = await exportTo('all.jsonl', 'jsonl')
    const m = JSON.parse(fs.readFileSync(file + '.manifest.json', 'utf8'))
    const data = fs.readFileSync(file)
    const lines = data.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: string })
    const head = (await core.db.knex.raw<{ rows: { seq: string; hash: string }[] }>(`select last_seq::text as seq, last_hash as hash from audit_chain_head`)).rows[0]!
    expect(m).toMatchObject({
      kind: 'netkeeper-audit-export',
      version: 1,
      file: 'all.jsonl',
      format: 'jsonl',
      filters: {},
      rows: lines.length,
      bytes: data.length,
      sha256: crypto.createHash('sha256').update(data).digest('hex'),
      firstSeq: lines[lines.length - 1]!.seq,
      lastSeq: lines[0]!.seq,
      createdBy: 'alice',
      key: { algorithm: 'Ed25519', fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) }
    })
    // The head is the chain the rows were read from: the key's own record came after (it was made for this export).
    expect(BigInt(m.chainHead.seq)).toBe(BigInt(lines[0]!.seq))
    expect(BigInt(head.seq)).toBe(BigInt(m.chainHead.seq) + 1n)
    // The key was made for this export and recorded in the log with its public key.
    const rec = (await core.audit.list(admin, { resourceType: 'audit_signing_key' })).items
    expect(rec).toHaveLength(1)
    expect(rec[0]).toMatchObject({ action: 'create', resourceId: m.key.fingerprint, details: { after: { publicKey: m.key.publicKey, fingerprint: m.key.fingerprint } } })
    // The signature is over the canonical JSON of every other field.
    const { signature, ...rest } = m
    const { canonicalJson } = await import('../../src/main/core/audit/canonical')
    expect(crypto.verify(null, Buffer.from(canonicalJson(rest)), crypto.createPublicKey(m.key.publicKey), Buffer.from(signature, 'base64'))).toBe(true)

    expect(await verifyExport(file)).toMatchObject({ ok: true, rows: lines.length, keySource: 'manifest', problems: [] })
    expect(await verifyExport(file, { publicKey: m.key.publicKey })).toMatchObject({ ok: true, keySource: 'given' })
    expect(await core.audit.verifyExport(admin, file, { live: true })).toMatchObject({ ok: true, live: { compared: lines.length, purged: 0, keyRecorded: true } })
  })

  it('checks an export in another folder with no database, from the CLI', async () => {
    const file = await exportTo('filtered.csv', 'csv', { resourceType: 'signed_item' })
    const elsewhere = fs.mkdtempSync(path.join(dir, 'auditor-'))
    fs.copyFileSync(file, path.join(elsewhere, 'filtered.csv'))
    fs.copyFileSync(file + '.manifest.json', path.join(elsewhere, 'filtered.csv.manifest.json'))
    const pem = path.join(elsewhere, 'netkeeper.pem')
    fs.writeFileSync(pem, (await core.audit.signingKey(admin))!.publicKey)
    // No database: an unreachable URL would fail any command that opened one.
    const env = { NETKEEPER_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', NETKEEPER_DATA_DIR: elsewhere }
    const r = await cli(['audit', 'verify-export', path.join(elsewhere, 'filtered.csv'), '--public-key', pem], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^export verified: .*filtered\.csv, 12 entries, SHA-256 as its manifest states, signed by key [0-9a-f]{64} \(the key given\)/)
    fs.appendFileSync(path.join(elsewhere, 'filtered.csv'), 'x')
    const bad = await cli(['audit', 'verify-export', path.join(elsewhere, 'filtered.csv'), '--public-key', pem, '--json'], env)
    expect(bad.code).toBe(1)
    expect(bad.json()).toMatchObject({
      ok: false,
      problems: [
        { kind: 'file', message: expect.stringContaining('does not match its manifest') },
        { kind: 'file', message: 'filtered.csv cannot be read as csv: record 14 has 1 cell(s), not 17' }
      ]
    })
    expect(bad.stderr).toBe('')
  })

  it('names a changed cell, a removed row, a swapped manifest, an edited manifest and a wrong key', async () => {
    const csv = await exportTo('cells.csv', 'csv', { resourceType: 'signed_item' })
    const jsonl = await exportTo('rows.jsonl', 'jsonl')
    const json = await exportTo('rows.json', 'json', { resourceType: 'signed_item' })

    // A changed cell in a CSV: the file no longer matches, and the row is named.
    let f = copy(csv, 'changed.csv')
    const text = fs.readFileSync(f, 'utf8')
    fs.writeFileSync(f, text.replace('signed_item-7', 'signed_item-8'))
    let r = await verifyExport(f)
    expect(r.ok).toBe(false)
    expect(r.problems.map((p) => p.kind)).toEqual(['file', 'row'])
    const seq7 = text.split('\r\n').find((l) => l.includes('signed_item-7'))!.split(',')[0]
    expect(r.problems[1]).toMatchObject({ seq: seq7, message: `row ${seq7} was altered: its contents no longer match its hash` })
    // A cell guarded against formulas still recomputes: the guard is undone before hashing.
    expect(text).toContain(`'=HYPERLINK`)

    // A removed row in an export without filters: named, and the count no longer matches.
    f = copy(jsonl, 'removed.jsonl')
    const lines = fs.readFileSync(f, 'utf8').trim().split('\n')
    const gone = (JSON.parse(lines[3]!) as { seq: string }).seq
    fs.writeFileSync(f, [...lines.slice(0, 3), ...lines.slice(4)].join('\n') + '\n')
    r = await verifyExport(f)
    expect(r.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'file', message: expect.stringContaining('does not match its manifest') }),
        { kind: 'row', seq: gone, message: `row ${gone} is missing` },
        expect.objectContaining({ kind: 'file', message: `the file holds ${lines.length - 1} rows; its manifest says ${lines.length} (a row was removed or added)` })
      ])
    )

    // A changed value in a JSON export, the hash left as it was.
    f = copy(json, 'edited.json')
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('"n": 5}', '"n": 6}'))
    r = await verifyExport(f)
    expect(r.problems.find((p) => p.kind === 'row')).toMatchObject({ message: expect.stringMatching(/^row \d+ was altered/) })

    // A swapped manifest: another export's beside this file.
    f = copy(csv, 'swapped.csv')
    fs.copyFileSync(json + '.manifest.json', f + '.manifest.json')
    r = await verifyExport(f)
    expect(r.problems[0]).toMatchObject({ kind: 'file', message: expect.stringContaining('the manifest is another file') })

    // An edited manifest (one row fewer claimed): the signature fails.
    f = copy(csv, 'claims.csv')
    const m = JSON.parse(fs.readFileSync(f + '.manifest.json', 'utf8'))
    fs.writeFileSync(f + '.manifest.json', JSON.stringify({ ...m, filters: { resourceType: 'something_else' } }))
    r = await verifyExport(f)
    expect(r.problems).toEqual([{ kind: 'signature', message: expect.stringContaining('the signature does not match the manifest') }])

    // A wrong public key, and something that is not one.
    const other = crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()
    r = await verifyExport(csv, { publicKey: other })
    expect(r.problems).toEqual([{ kind: 'key', message: expect.stringMatching(/^wrong public key: the manifest was signed with key [0-9a-f]{64}; the key given is [0-9a-f]{64}$/) }])
    await expect(verifyExport(csv, { publicKey: 'not a key' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'publicKey' } })
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    await expect(verifyExport(csv, { publicKey: rsa })).rejects.toMatchObject({ message: 'publicKey: an rsa key; exports are signed with Ed25519' })
    // A manifest that is missing.
    fs.rmSync(f + '.manifest.json')
    expect((await verifyExport(f)).problems).toEqual([{ kind: 'manifest', message: expect.stringContaining('ENOENT') }])
  })

  it('with the database, compares every row with the live chain', async () => {
    const file = await exportTo('live.jsonl', 'jsonl', { resourceType: 'signed_item' })
    const victim = (JSON.parse(fs.readFileSync(file, 'utf8').split('\n')[4]!) as { seq: string }).seq
    await withClient(url, async (c) => {
      await c.query('alter table audit_logs disable trigger audit_logs_no_update')
      try {
        await c.query(`update audit_logs set row_hash = repeat('a', 64) where seq = $1`, [victim])
      } finally {
        await c.query('alter table audit_logs enable trigger audit_logs_no_update')
      }
    })
    try {
      // The file itself is intact: only the live comparison finds the changed row.
      expect((await verifyExport(file)).ok).toBe(true)
      const r = await core.audit.verifyExport(admin, file, { live: true })
      expect(r.problems).toEqual([{ kind: 'live', seq: victim, message: `row ${victim} differs from the live chain (its hash there is ${'a'.repeat(64)})` }])
    } finally {
      await withClient(url, async (c) => {
        await c.query('alter table audit_logs disable trigger audit_logs_no_update')
        await c.query(`update audit_logs set row_hash = $2 where seq = $1`, [victim, (JSON.parse(fs.readFileSync(file, 'utf8').split('\n')[4]!) as { rowHash: string }).rowHash])
        await c.query('alter table audit_logs enable trigger audit_logs_no_update')
      })
    }
    // Rows purged since are counted, not compared.
    const archives = path.join(dir, 'archives')
    fs.mkdirSync(archives)
    await core.audit.setPolicy(admin, { resourceType: 'signed_item', retentionDays: 1 })
    await core.audit.purge(admin, { now: new Date(Date.now() + 2 * 86400_000), archiveDir: archives })
    expect(await core.audit.verifyExport(admin, file, { live: true })).toMatchObject({ ok: true, live: { compared: 0, purged: 12 } })
  })

  it('rotates the key: the new public key is recorded, and older exports still verify', async () => {
    const before = await exportTo('before-rotate.jsonl', 'jsonl')
    const old = (await core.audit.signingKey(admin))!
    const r = await core.audit.rotateSigningKey(admin)
    expect(r.before?.fingerprint).toBe(old.fingerprint)
    expect(r.after.fingerprint).not.toBe(old.fingerprint)
    const rec = (await core.audit.list(admin, { resourceType: 'audit_signing_key' })).items[0]!
    expect(rec).toMatchObject({ action: 'update', resourceId: r.after.fingerprint, details: { before: { fingerprint: old.fingerprint }, after: { publicKey: r.after.publicKey } } })
    await expect(core.audit.rotateSigningKey(ctxAs('operator'))).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const after = await exportTo('after-rotate.jsonl', 'jsonl')
    expect(JSON.parse(fs.readFileSync(after + '.manifest.json', 'utf8')).key.fingerprint).toBe(r.after.fingerprint)
    expect(await core.audit.verifyExport(admin, before, { live: true })).toMatchObject({ ok: true, fingerprint: old.fingerprint, live: { keyRecorded: true } })
    expect((await verifyExport(before, { publicKey: r.after.publicKey })).problems[0]).toMatchObject({ kind: 'key' })
  })

  it('writes the manifest from the app too, and says when no key can be had', async () => {
    const file = path.join(dir, 'from-app.json')
    const table = createHandlers(core, { chooseSaveFile: async () => ({ file }), chooseOpenFile: async () => null })
    const res = await dispatch(table, 'audit:export', { runId: randomUUID(), format: 'json', filter: { action: 'create' } }, admin)
    if (!res.ok) throw new Error(res.error.message)
    expect(res.value).toMatchObject({ outcome: 'saved', manifest: file + '.manifest.json' })
    expect(res.value.unsigned).toBeUndefined()
    expect(JSON.parse(fs.readFileSync(file + '.manifest.json', 'utf8'))).toMatchObject({ filters: { action: 'create' }, format: 'json' })
    expect(await verifyExport(file)).toMatchObject({ ok: true })

    // Without a keychain the export stands, with an unsigned manifest that says why; verify-export refuses it.
    const noKeychain = { get: async () => Promise.reject(new Error('no Secret Service')), set: async () => undefined, delete: async () => false }
    const unsigned = path.join(dir, 'unsigned.jsonl')
    const out = fs.createWriteStream(unsigned)
    const r = await core.audit.export(admin, out, 'jsonl', {})
    await new Promise<void>((resolve) => out.end(resolve))
    const m = await writeExportManifest(core.db.knex, new AuditSigningKeys(dataDir, noKeychain), admin, { file: unsigned, report: r, filters: {}, database: 'test' })
    expect(m.unsigned).toContain('no Secret Service')
    expect((await verifyExport(unsigned)).problems).toEqual([{ kind: 'signature', message: expect.stringContaining('the manifest is not signed (no signing key: no Secret Service)') }])
  })
})

/**
 * The app's audit export (audit:export through the handler table): the shell's save dialog picks the
 * file, the core streams every matching entry into a partial file that is renamed into place when
 * complete and writes its signed manifest beside it, progress and cancel are reached by run id, and a
 * closed dialog, a cancel or an unwritable folder leave nothing behind. Electron's native dialog cannot run here, so `scriptedSaveDialog` stands in
 * for it (it answers with a path, or null as a closed dialog would).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { parse as parseCsv } from 'csv-parse/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import type { FileDialogs, SaveTarget } from '../../src/main/ipc/file-export'
import { createHandlers, dispatch, type HandlerTable } from '../../src/main/ipc/handlers'
import { ctxAs, openCore } from '../support/core'

let core: Core
let dir: string
const admin = ctxAs('admin', 'alice')

/** Answers each save dialog with the next scripted value; records what the dialog was asked. */
function scriptedSaveDialog(answers: (() => Promise<SaveTarget | null>)[]) {
  const asked: { title: string; defaultName: string; extensions: string[] }[] = []
  const saved: SaveTarget[] = []
  const dialogs: FileDialogs = {
    chooseSaveFile: async (req) => {
      asked.push({ title: req.title, defaultName: req.defaultName, extensions: req.filters.flatMap((f) => f.extensions) })
      const next = answers.shift()
      if (!next) throw new Error('no scripted answer left')
      return next()
    },
    chooseOpenFile: async () => '/scripted/legacy.db',
    saved: (t) => void saved.push(t)
  }
  return { dialogs, asked, saved }
}

async function call<C extends Parameters<typeof dispatch>[1]>(table: HandlerTable, channel: C, args: unknown) {
  return dispatch(table, channel, args, admin)
}

beforeAll(async () => {
  ;({ core } = await openCore('audit_export_file'))
  await core.ipam.createPool(admin, { name: 'exp-net', network: '10.77.0.0/24' })
  await core.ipam.allocate(admin, { pool: 'exp-net', next: true, count: 12, owner: 'exp' })
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-export-file-'))
})
afterAll(async () => {
  await core?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('audit:export', () => {
  it('asks where to save, streams the filtered entries there and leaves no partial file', async () => {
    const file = path.join(dir, 'allocations.csv')
    const s = scriptedSaveDialog([async () => ({ file })])
    const table = createHandlers(core, s.dialogs)
    const r = await call(table, 'audit:export', { runId: randomUUID(), format: 'csv', filter: { resourceType: 'ip_allocation' } })
    expect(r).toMatchObject({ ok: true, value: { outcome: 'saved', format: 'csv', rows: 12, file } })
    expect(s.asked).toEqual([{ title: 'Export the audit log as CSV', defaultName: expect.stringMatching(/^netkeeper-audit-\d{8}-\d{6}\.csv$/), extensions: ['csv'] }])
    // The file, then its signed manifest beside it (audit-export-manifest.test.ts checks what it says).
    expect(s.saved).toEqual([{ file }, { file: `${file}.manifest.json` }])
    const rows = parseCsv(fs.readFileSync(file, 'utf8'), { columns: true }) as Record<string, string>[]
    expect(rows).toHaveLength(12)
    expect(rows.every((x) => x.resourceType === 'ip_allocation' && x.action === 'create')).toBe(true)
    expect(fs.readdirSync(dir).sort()).toEqual(['allocations.csv', 'allocations.csv.manifest.json'])
    expect(JSON.parse(fs.readFileSync(`${file}.manifest.json`, 'utf8'))).toMatchObject({ file: 'allocations.csv', rows: 12, filters: { resourceType: 'ip_allocation' } })
  })

  it('writes JSON Lines too, one entry per line, newest first', async () => {
    const file = path.join(dir, 'all.jsonl')
    const table = createHandlers(core, scriptedSaveDialog([async () => ({ file })]).dialogs)
    const r = await call(table, 'audit:export', { runId: randomUUID(), format: 'jsonl' })
    if (!r.ok) throw new Error(r.error.message)
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: string })
    expect(lines).toHaveLength(r.value.rows)
    expect(lines.length).toBeGreaterThanOrEqual(13) // the pool and its 12 addresses
    expect(lines.map((l) => Number(l.seq))).toEqual([...lines.map((l) => Number(l.seq))].sort((a, b) => b - a))
  })

  it('does nothing when the save dialog is closed', async () => {
    const table = createHandlers(core, scriptedSaveDialog([async () => null]).dialogs)
    const before = fs.readdirSync(dir)
    expect(await call(table, 'audit:export', { runId: randomUUID(), format: 'json' })).toMatchObject({ ok: true, value: { outcome: 'dismissed', rows: 0 } })
    expect(fs.readdirSync(dir)).toEqual(before)
  })

  it('reports progress while the dialog is open and honours a cancel asked for meanwhile', async () => {
    let answer!: (t: SaveTarget | null) => void
    let opened!: () => void
    const dialogOpen = new Promise<void>((r) => (opened = r))
    const file = path.join(dir, 'cancelled.json')
    const table = createHandlers(
      core,
      scriptedSaveDialog([
        () =>
          new Promise((r) => {
            answer = r
            opened()
          })
      ]).dialogs
    )
    const runId = randomUUID()
    const pending = call(table, 'audit:export', { runId, format: 'json' })
    await dialogOpen
    expect(await call(table, 'audit:export:progress', { runId })).toMatchObject({ ok: true, value: { runId, phase: 'choosing', rows: 0, cancelling: false } })
    expect(await call(table, 'audit:export:cancel', { runId })).toEqual({ ok: true, value: { cancelled: true } })
    answer({ file })
    expect(await pending).toMatchObject({ ok: true, value: { outcome: 'cancelled' } })
    expect(fs.existsSync(file)).toBe(false)
    expect(await call(table, 'audit:export:progress', { runId })).toEqual({ ok: true, value: null })
    expect(await call(table, 'audit:export:cancel', { runId })).toEqual({ ok: true, value: { cancelled: false } })
  })

  it('names the file and the reason when the chosen folder cannot be written', async () => {
    const file = path.join(dir, 'no-such-folder', 'x.csv')
    const table = createHandlers(core, scriptedSaveDialog([async () => ({ file })]).dialogs)
    const r = await call(table, 'audit:export', { runId: randomUUID(), format: 'csv' })
    expect(r).toMatchObject({ ok: false, error: { code: 'VALIDATION', message: `file: cannot write ${file}: ENOENT`, details: { field: 'file' } } })
  })

  it('refuses bad arguments naming the field', async () => {
    const table = createHandlers(core, scriptedSaveDialog([]).dialogs)
    expect(await call(table, 'audit:export', { runId: 'nope', format: 'csv' })).toMatchObject({ ok: false, error: { code: 'VALIDATION', message: 'runId: must be a UUID' } })
    expect(await call(table, 'audit:export', { runId: randomUUID(), format: 'xml' })).toMatchObject({ ok: false, error: { code: 'VALIDATION', message: expect.stringMatching(/^format: /) } })
  })

  it('says what to do where no shell offers dialogs', async () => {
    const table = createHandlers(core)
    expect(await call(table, 'audit:export', { runId: randomUUID(), format: 'csv' })).toMatchObject({
      ok: false,
      error: { code: 'UNAVAILABLE', message: expect.stringContaining('netkeeper audit export --out FILE') }
    })
    expect(await call(table, 'dialog:open-file', { purpose: 'legacy-import' })).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', message: expect.stringContaining('type the path') } })
  })
})

describe('dialog:open-file', () => {
  it('answers with the chosen file', async () => {
    const table = createHandlers(core, scriptedSaveDialog([]).dialogs)
    expect(await call(table, 'dialog:open-file', { purpose: 'legacy-import' })).toEqual({ ok: true, value: { file: '/scripted/legacy.db' } })
    expect(await call(table, 'dialog:open-file', { purpose: 'anything' })).toMatchObject({ ok: false, error: { code: 'VALIDATION', message: expect.stringMatching(/^purpose: /) } })
  })
})

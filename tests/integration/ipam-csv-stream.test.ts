/**
 * The streamed CSV import of allocations (issue 16, item 7: 200,000 allocations in bounded memory) against a
 * real PostgreSQL server, on a file of 25,000 rows: many of the import's slices of 500 (read, checked and
 * looked up a slice at a time) and many write batches (read back from the temporary table).
 * What must hold across slice boundaries:
 * - a duplicate address is found whatever slice its first line was in, naming that line;
 * - the report lists every skipped row in line order, the preview is the first 200 lines, the counts add up;
 * - the dry run and the run agree; the run writes each row with its own line in its audit row, exact
 *   before/after for an update, and the chain verifies; the same file again changes nothing;
 * - a cancel while the file is still being read and checked writes nothing.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Core } from '../../src/main/core'
import { auditRows, ctxAs, lastSeq, openCore, perObject } from '../support/core'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-ipam-csv-stream-'))
process.once('exit', () => fs.rmSync(tmp, { recursive: true, force: true }))

let core: Core
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')

const ROWS = 25_000
/** Row n (1-based) is on line n + 1: 10.50.x.y counted up from 10.50.0.1. */
const ipOf = (n: number): string => `10.50.${n >> 8}.${n & 255}`
const DUP = 12_000 // repeats the address of row 3 (line 4): two slices later
const OUTSIDE = 15_000 // in no pool
const BAD = 21_000 // not an address
const SAME = 5 // held already with the same values: unchanged
const OTHER = 20_487 // 10.50.80.7, held already with another host name: updated (or skipped: exists)

let file: string

async function allocations(c: Core): Promise<number> {
  const r = await c.db.knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ip_allocations`)
  return r.rows[0]!.n
}

beforeAll(async () => {
  ;({ core } = await openCore('ipamcsvstream'))
  await core.ipam.createPool(admin, { name: 'big', network: '10.50.0.0/16' })
  await core.ipam.allocate(op, { pool: 'big', ip: ipOf(SAME), hostname: `host-${SAME}`, owner: 'team-5' })
  await core.ipam.allocate(op, { pool: 'big', ip: ipOf(OTHER), hostname: 'old-name', owner: `team-${OTHER % 50}` })
  const lines = ['space,ip,pool,status,hostname,owner']
  for (let n = 1; n <= ROWS; n++) {
    const ip = n === DUP ? ipOf(3) : n === OUTSIDE ? '10.99.0.1' : n === BAD ? 'not-an-address' : ipOf(n)
    lines.push(`default,${ip},${n === OUTSIDE ? '' : 'big'},allocated,host-${n},team-${n % 50}`)
  }
  file = path.join(tmp, 'many.csv')
  fs.writeFileSync(file, lines.join('\r\n') + '\r\n')
}, 120_000)
afterAll(async () => {
  await core?.close()
})

describe('a file of several slices', () => {
  it('the dry run reports every row across slice boundaries, in line order', async () => {
    const r = await core.ipamCsv.dryRun(op, { file, kind: 'allocations', onExisting: 'update' })
    expect(r.outcome).toBe('dry-run')
    expect(r.counts).toEqual({ rows: ROWS, created: ROWS - 5, updated: 1, unchanged: 1, skipped: 3 })
    expect(r.problems.map((p) => [p.line, p.kind])).toEqual([
      [DUP + 1, 'duplicate_key'],
      [OUTSIDE + 1, 'outside_pools'],
      [BAD + 1, 'bad_value']
    ])
    expect(r.problems[0]!.reason).toBe(`line 4 of the file has ${ipOf(3)} in space "default" already`)
    // The preview: the first 200 lines, whichever way each went.
    expect(r.preview.map((p) => p.line)).toEqual(Array.from({ length: 200 }, (_, i) => i + 2))
    expect(r.preview[SAME - 1]).toMatchObject({ line: SAME + 1, action: 'unchanged' })
    expect(r.preview[0]).toMatchObject({ line: 2, action: 'create', values: { ip: ipOf(1), hostname: 'host-1', pool: 'big', status: 'allocated' } })
    expect(await allocations(core)).toBe(2)
    // The wizard's mapping step reads the header only.
    const head = await core.ipamCsv.dryRun(op, { file, kind: 'allocations', columnsOnly: true })
    expect(head.columns.map((c) => c.field)).toEqual(['space', 'ip', 'pool', 'status', 'hostname', 'owner'])
    expect([head.counts.rows, head.problems, head.preview]).toEqual([0, [], []])
    // Without --on-existing update the changed one is skipped (exists), in its place in line order.
    const s = await core.ipamCsv.dryRun(op, { file, kind: 'allocations' })
    expect(s.problems.map((p) => [p.line, p.kind])).toEqual([
      [DUP + 1, 'duplicate_key'],
      [OUTSIDE + 1, 'outside_pools'],
      [OTHER + 1, 'exists'],
      [BAD + 1, 'bad_value']
    ])
  }, 120_000)

  it('a cancel while the file is still being read and checked writes nothing', async () => {
    const seq = await lastSeq(core)
    const controller = new AbortController()
    const phases = new Set<string>()
    const r = await core.ipamCsv.run(
      op,
      { file, kind: 'allocations' },
      {
        signal: controller.signal,
        onProgress: (p) => {
          phases.add(p.phase)
          // After five slices have been checked: the file is still being read.
          if (p.phase === 'checking' && p.done >= 10_000) controller.abort()
        }
      }
    )
    expect(r.outcome).toBe('cancelled')
    expect(phases.has('writing')).toBe(false)
    expect(await allocations(core)).toBe(2)
    expect(await lastSeq(core)).toBe(seq)
  }, 120_000)

  it('the run writes what the dry run said, each allocation with its own line in its batch audit row; the chain verifies; again changes nothing', async () => {
    const seq = await lastSeq(core)
    const r = await core.ipamCsv.run(op, { file, kind: 'allocations', onExisting: 'update' })
    expect(r.outcome).toBe('imported')
    expect(r.counts).toEqual({ rows: ROWS, created: ROWS - 5, updated: 1, unchanged: 1, skipped: 3 })
    expect(await allocations(core)).toBe(ROWS - 5 + 2)
    const batches = await auditRows(core, seq)
    // One audit row per write batch of 500 (details.rows), spread here into one per allocation.
    expect(batches.filter((a) => a.resource_type === 'ip_allocation' && a.action === 'create')).toHaveLength(Math.ceil((ROWS - 5) / 500))
    const rows = perObject(batches)
    const creates = rows.filter((a) => a.resource_type === 'ip_allocation' && a.action === 'create')
    expect(creates).toHaveLength(ROWS - 5)
    // In the order of the file, each with its own address, line and values (rows of every slice and batch).
    for (const n of [1, 2_000, 2_001, 9_999, 10_000, 10_001, 20_000, ROWS]) {
      const a = creates.find((x) => x.resource_name === ipOf(n))!
      expect(a.details).toMatchObject({ after: { ip: ipOf(n), pool: 'big', status: 'allocated', hostname: `host-${n}`, owner: `team-${n % 50}` }, context: { operation: 'csv-import', line: n + 1 } })
      const db = await core.db.knex.raw<{ rows: { id: number; hostname: string }[] }>(`select id, hostname from ip_allocations where ip_address = ?::inet`, [ipOf(n)])
      expect(db.rows[0]).toEqual({ id: Number(a.resource_id), hostname: `host-${n}` })
    }
    expect(creates.map((a) => (a.details as { context: { line: number } }).context.line)).toEqual([...creates.map((a) => (a.details as { context: { line: number } }).context.line)].sort((x, y) => x - y))
    const update = rows.filter((a) => a.resource_type === 'ip_allocation' && a.action === 'update')
    expect(update).toHaveLength(1)
    expect(update[0]!.details).toMatchObject({ before: { ip: ipOf(OTHER), hostname: 'old-name' }, after: { ip: ipOf(OTHER), hostname: `host-${OTHER}` }, context: { line: OTHER + 1 } })
    expect(rows.at(-1)).toMatchObject({ resource_type: 'import', action: 'create' })
    expect((await core.audit.verify(admin)).ok).toBe(true)
    // The same file again: every written row unchanged now, the skipped ones skipped again.
    const again = await core.ipamCsv.run(op, { file, kind: 'allocations', onExisting: 'update' })
    expect(again.counts).toEqual({ rows: ROWS, created: 0, updated: 0, unchanged: ROWS - 3, skipped: 3 })
    expect(await allocations(core)).toBe(ROWS - 5 + 2)
  }, 300_000)

  it("the audit viewer finds every imported address in its batch row: the text search (before and after the search index's copy) and an allocation's history", async () => {
    const holds = (items: { resourceType: string; details: unknown }[], ip: string): boolean =>
      items.some((i) => i.resourceType === 'ip_allocation' && ((i.details as { rows?: { after: { ip: string } }[] }).rows ?? []).some((r) => r.after.ip === ip))
    const look = async (): Promise<void> => {
      for (const n of [1, 2_000, 2_001, 17_777, ROWS]) {
        const ip = ipOf(n)
        expect(holds((await core.audit.list(admin, { text: ip, resourceType: 'ip_allocation', limit: 200 })).items, ip)).toBe(true)
        // "Show audit history" on the allocation: the resource filter with its address.
        const history = (await core.audit.list(admin, { resourceType: 'ip_allocation', resource: ip })).items
        expect(holds(history, ip)).toBe(true)
        // Only the batch that wrote it (and no other): its address is in no other batch's rows.
        expect(history.filter((i) => (i.details as { rows?: unknown[] }).rows).length).toBe(1)
      }
      // An address the import did not write is in no batch row.
      expect((await core.audit.list(admin, { resourceType: 'ip_allocation', resource: ipOf(BAD) })).items).toEqual([])
    }
    await look()
    await core.auditSearch.drain()
    await look()
    // The audit export of an allocation's history holds the batch row with the allocation's exact after.
    const out = new PassThrough()
    const chunks: Buffer[] = []
    out.on('data', (c: Buffer) => chunks.push(c))
    await core.audit.export(admin, out, 'jsonl', { resourceType: 'ip_allocation', resource: ipOf(17_777) })
    out.end()
    const exported = Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { details: { rows?: { line: number; after: Record<string, unknown> }[] } })
    const entry = exported.flatMap((e) => e.details.rows ?? []).find((r) => r.after.ip === ipOf(17_777))
    expect(entry).toMatchObject({ line: 17_778, after: { ip: ipOf(17_777), pool: 'big', status: 'allocated', hostname: 'host-17777', owner: `team-${17_777 % 50}` } })
  }, 120_000)
})

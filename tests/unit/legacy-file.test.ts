/** Reading a legacy file's allocations page by page: every row once, in rowid order, whatever the rowids. */
import Database from 'better-sqlite3'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openLegacySource } from '../../src/main/core/importer/legacy-file'
import { tempDir, writeLegacyFile, type AllocRow } from '../support/legacy'

const dir = tempDir()
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

function file(name: string, allocs: AllocRow[], rowids?: bigint[]): string {
  const f = writeLegacyFile(path.join(dir, name), [{ id: 'p1', name: 'p', network: '10.0.0.0/16' }], allocs)
  if (rowids) {
    const db = new Database(f)
    db.defaultSafeIntegers(true)
    // Renumber the rows (in their order) to the given rowids.
    const old = db.prepare('select rowid from ip_allocations order by rowid').pluck().all() as bigint[]
    const move = db.prepare('update ip_allocations set rowid = ? where rowid = ?')
    db.transaction(() => {
      old.forEach((r, i) => move.run(-1_000_000 - i, r))
      old.forEach((_, i) => move.run(rowids[i]!, -1_000_000 - i))
    })()
    db.close()
  }
  return f
}

const allocs = (n: number): AllocRow[] =>
  Array.from({ length: n }, (_, i) => ({ id: `a${i}`, pool_id: 'p1', ip_address: `10.0.${i >> 8}.${i & 255}`, allocation_type: i % 3 ? 'static' : 'dhcp' }))

async function ids(f: string): Promise<{ id: string | null; row: number }[]> {
  const s = await openLegacySource(f)
  try {
    const out = [...s.allocations()].map((a) => ({ id: a.id, row: a.row }))
    // A second pass sees the same rows.
    expect([...s.allocations()].map((a) => ({ id: a.id, row: a.row }))).toEqual(out)
    return out
  } finally {
    s.close()
  }
}

describe('legacy file allocations', () => {
  it('reads every row once, in order, across page boundaries', async () => {
    for (const n of [0, 1, 999, 1000, 1001, 2500]) {
      const got = await ids(file(`n${n}.db`, allocs(n)))
      expect(got.map((a) => a.id)).toEqual(allocs(n).map((a) => a.id))
      expect(got.map((a) => a.row)).toEqual(allocs(n).map((_, i) => i + 1))
    }
  })

  it('reads rows with negative rowids and rowids beyond 2^53', async () => {
    const n = 2300
    const big = 2n ** 53n
    const rowids = allocs(n).map((_, i) => (i < 10 ? BigInt(i - 10) : i < 1200 ? BigInt(i * 7) : big + BigInt(i)))
    const got = await ids(file('big.db', allocs(n), rowids))
    expect(got.map((a) => a.id)).toEqual(allocs(n).map((a) => a.id))
    expect(got.map((a) => a.row)).toEqual(rowids.map((r) => Number(r)))
  })
})

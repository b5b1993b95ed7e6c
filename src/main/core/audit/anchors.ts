/**
 * Anchored heads (docs/audit.md#anchoring-the-head): the chain head (sequence number and hash) written
 * outside the database, to an append-only file of JSON lines, periodically by the app and after every
 * purge. The chain alone cannot show that its newest rows were removed (the owner can move the head back);
 * an anchor taken before can: `verify --anchors FILE` requires each anchored row to be there with the
 * anchored hash, or to have been removed by a purge that ends at it.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import type { AnchorSettings, VerifyProblem } from '../../../shared/audit'
import { SettingsStore } from '../settings/store'
import type { Rows } from './rows'

export const DEFAULT_ANCHOR_MINUTES = 10

export interface Anchor {
  kind: 'netkeeper-audit-anchor'
  at: string
  /** The chain's id (audit_chain_head.chain_id): anchors of another database's chain are left aside. */
  chain: string
  /** The database's label, for a person reading the file. */
  database: string
  seq: string
  hash: string
}

/** This chain's id (made by Migration20261210100000_audit_archive). */
export async function chainId(knex: Knex): Promise<string> {
  return (await knex.raw<Rows<{ id: string }>>(`select chain_id::text as id from audit_chain_head where id = 1`)).rows[0]!.id
}

export function anchorSettings(dataDir: string): AnchorSettings {
  const a = new SettingsStore(dataDir).read().audit
  return { file: a?.anchorFile ?? null, sink: a?.anchorSink ?? null, everyMinutes: a?.anchorEveryMinutes ?? DEFAULT_ANCHOR_MINUTES }
}

/**
 * Sets the anchor file (null: none), the syslog sink (null: none; the caller checks it is one) and how often
 * the app anchors. The file is tried at once.
 */
export function setAnchorSettings(dataDir: string, next: { file?: string | null; sink?: string | null; everyMinutes?: number }): AnchorSettings {
  const store = new SettingsStore(dataDir)
  const settings = store.read()
  const audit = { ...settings.audit }
  if (next.file === null) delete audit.anchorFile
  else if (next.file !== undefined) {
    const file = path.resolve(next.file)
    try {
      fs.closeSync(fs.openSync(file, 'a', 0o600))
    } catch (e) {
      throw new AppError('VALIDATION', `anchorFile: ${file} cannot be appended to (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { field: 'anchorFile' })
    }
    audit.anchorFile = file
  }
  if (next.sink === null) delete audit.anchorSink
  else if (next.sink !== undefined) audit.anchorSink = next.sink
  if (next.everyMinutes !== undefined) audit.anchorEveryMinutes = next.everyMinutes
  store.write({ ...settings, audit })
  return anchorSettings(dataDir)
}

/** The chain head now, as an anchor. */
export async function headAnchor(knex: Knex, database: string): Promise<Anchor> {
  const h = (await knex.raw<Rows<{ seq: string; hash: string }>>(`select last_seq::text as seq, last_hash as hash from audit_chain_head where id = 1`)).rows[0]!
  return { kind: 'netkeeper-audit-anchor', at: new Date().toISOString(), chain: await chainId(knex), database, seq: h.seq, hash: h.hash }
}

/** Appends the current chain head (or `anchor`) to `file` (opened for appending only) and syncs it. */
export async function writeAnchor(knex: Knex, file: string, database: string, given?: Anchor): Promise<Anchor> {
  const anchor = given ?? (await headAnchor(knex, database))
  let fh: fs.promises.FileHandle | undefined
  try {
    fh = await fs.promises.open(file, 'a', 0o600)
    await fh.appendFile(JSON.stringify(anchor) + '\n')
    await fh.sync()
  } catch (e) {
    throw new AppError('UNAVAILABLE', `anchorFile: cannot append to ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { field: 'anchorFile' })
  } finally {
    await fh?.close()
  }
  return anchor
}

/** Where an anchor's JSON starts in a line of a syslog receiver's file (the message part of the line). */
const ANCHOR_MARK = '{"kind":"netkeeper-audit-anchor"'

/**
 * The anchors in a file: an anchor file (one JSON anchor a line), or a syslog receiver's file, where the
 * anchors sent to a syslog sink are lines holding the anchor's JSON as their message; other lines of such a
 * file (anything without the anchor's JSON) are left aside. A line that starts like an anchor but is not
 * one is an error naming the line.
 */
export function readAnchors(file: string): Anchor[] {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (e) {
    throw new AppError('VALIDATION', `anchors: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { field: 'anchors' })
  }
  const lines = text.split('\n').map((l, i) => ({ l: l.trim(), i }))
  const candidates = lines.filter(({ l }) => l && (l.startsWith('{') || l.includes(ANCHOR_MARK)))
  // A file with lines but not one anchor is not an anchor file (nor a receiver's file holding anchors).
  const first = lines.find(({ l }) => l)
  if (first && !candidates.length) throw new AppError('VALIDATION', `anchors: line ${first.i + 1} of ${file} is not an anchor, and no line is`, { field: 'anchors' })
  return candidates
    .map(({ l, i }) => {
      try {
        const at = l.startsWith('{') ? 0 : l.indexOf(ANCHOR_MARK)
        // A receiver may write the message with an escaped tail (#012 for a line feed): the JSON ends at its last brace.
        const a = JSON.parse(l.slice(at, l.lastIndexOf('}') + 1)) as Anchor
        if (a.kind === 'netkeeper-audit-anchor' && /^\d+$/.test(a.seq) && typeof a.hash === 'string' && typeof a.chain === 'string') return a
      } catch {
        /* named below */
      }
      throw new AppError('VALIDATION', `anchors: line ${i + 1} of ${file} is not an anchor`, { field: 'anchors' })
    })
}

/**
 * Checks anchors against the chain (after verify has walked it, so the stored hashes are the chain's):
 * each anchored row must be within the head and hold the anchored hash, or have been removed by a purge
 * whose run ends at it with that hash; a row inside a purged run is counted, not compared (its archive
 * proves it: verify --archives). Anchors of another chain (another database) are left aside.
 */
export async function checkAnchors(
  knex: Knex,
  anchors: Anchor[],
  head: string
): Promise<{ problem: VerifyProblem | null; checked: number; purged: number; otherDatabase: number }> {
  const chain = await chainId(knex)
  const mine = anchors.filter((a) => a.chain === chain)
  if (anchors.length && !mine.length) {
    return {
      problem: { seq: head, kind: 'anchor', message: `no anchor in the file is of this chain (${chain}): they are another database's, or this chain was replaced` },
      checked: 0,
      purged: 0,
      otherDatabase: anchors.length
    }
  }
  const seqs = [...new Set(mine.map((a) => a.seq))]
  const rows = new Map(
    (await knex.raw<Rows<{ seq: string; row_hash: string }>>(`select seq::text as seq, row_hash from audit_logs where seq = any(?::bigint[])`, [seqs] as unknown as Knex.RawBinding[])).rows.map((r) => [
      r.seq,
      r.row_hash
    ])
  )
  const cps = (await knex.raw<Rows<{ first_seq: string; last_seq: string; last_hash: string }>>(`select first_seq::text, last_seq::text, last_hash from audit_checkpoints`)).rows
  let checked = 0
  let purged = 0
  for (const a of mine) {
    const fail = (message: string): { problem: VerifyProblem; checked: number; purged: number; otherDatabase: number } => ({
      problem: { seq: a.seq, kind: 'anchor', message },
      checked,
      purged,
      otherDatabase: anchors.length - mine.length
    })
    if (BigInt(a.seq) > BigInt(head)) return fail(`the chain ends at row ${head}, but row ${a.seq} was anchored at ${a.at}: the newest rows were removed`)
    const h = rows.get(a.seq)
    if (h !== undefined) {
      if (h !== a.hash) return fail(`row ${a.seq} is not the row anchored at ${a.at} (its hash differs): rows were removed and others written in their place`)
      checked++
      continue
    }
    const cp = cps.find((c) => BigInt(c.first_seq) <= BigInt(a.seq) && BigInt(a.seq) <= BigInt(c.last_seq))
    if (!cp) return fail(`row ${a.seq}, anchored at ${a.at}, is gone, and no purge removed it`)
    if (cp.last_seq === a.seq && cp.last_hash !== a.hash) return fail(`row ${a.seq}, anchored at ${a.at}, was purged, but not with the anchored hash`)
    purged++
  }
  return { problem: null, checked, purged, otherDatabase: anchors.length - mine.length }
}

/**
 * Verification of the hash chain: every row's hash recomputed in Node through a server-side cursor, runs
 * removed by a purge bridged by their checkpoints, and each checkpoint checked against the purge record
 * that lists it. With a folder of archives (`verify --archives`), each removed run must also be in exactly
 * one archive that meets the chain on both sides, named with its SHA-256 by the purge record: the whole
 * history is then proved from the first row.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { VerifyProblem, VerifyReport } from '../../../shared/audit'
import type { ArchiveFolder, ArchiveRun, CheckedArchive } from './archive'
import { canonicalBody, GENESIS_HASH, rowHash } from './canonical'
import type { AuditRow, Rows } from './rows'

/**
 * What verify reads: the hashed fields, with the time already in the writer's ISO form (parsing a million
 * timestamps into Dates and back costs more than hashing them).
 */
const VERIFY_COLUMNS = `seq::text as seq, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at, action,
  resource_type, resource_id, resource_name, db_user, user_id, host(user_ip) as user_ip, user_agent, status, details, request_id, source,
  prev_hash, row_hash`

/** A row as verify reads it (VERIFY_COLUMNS): the time already in ISO form. */
type VerifyRow = Omit<AuditRow, 'created_at'> & { created_at: string }

/** The canonical body of a stored row, exactly as the writer serialised it. */
function bodyOf(r: VerifyRow): string {
  return canonicalBody({
    createdAt: r.created_at,
    // Rows written before the server stamped the login have no dbUser key in their body.
    dbUser: r.db_user ?? undefined,
    action: r.action,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    resourceName: r.resource_name,
    userId: r.user_id,
    userIp: r.user_ip,
    userAgent: r.user_agent,
    status: r.status,
    details: r.details,
    requestId: r.request_id,
    source: r.source
  })
}

/**
 * Walks the chain in sequence order through a server-side cursor and reports the first row that was
 * altered, is missing or is out of order. Runs of rows removed by a purge are bridged by their checkpoints.
 */
export async function verify(knex: Knex, onProgress?: (checked: number) => void, archives?: ArchiveFolder): Promise<VerifyReport> {
  const started = performance.now()
  const fit = archives ? new ArchiveFit(archives) : null
  const head = (await knex.raw<Rows<{ last_seq: string; last_hash: string }>>(`select last_seq::text, last_hash from audit_chain_head where id = 1`)).rows[0]!
  const cps = (
    await knex.raw<Rows<{ first_seq: string; last_seq: string; last_hash: string; purge_seq: string | null }>>(
      `select first_seq::text, last_seq::text, last_hash, purge_seq::text from audit_checkpoints order by first_seq`
    )
  ).rows
  const byFirst = new Map(cps.map((c) => [BigInt(c.first_seq), c]))
  const purgeRuns = new Map<string, Set<string>>()
  let problem: VerifyProblem | null = null
  let checked = 0
  let firstSeq: string | null = null
  let lastSeq: string | null = null
  let expectedSeq = 1n
  let expectedPrev = GENESIS_HASH

  /** Bridges a gap [expectedSeq, upTo] with checkpoints; returns false when some part is not covered. */
  const bridge = (upTo: bigint): boolean => {
    while (expectedSeq <= upTo) {
      const cp = byFirst.get(expectedSeq)
      if (!cp || BigInt(cp.last_seq) > upTo) return false
      fit?.removed(cp, expectedPrev)
      expectedPrev = cp.last_hash
      expectedSeq = BigInt(cp.last_seq) + 1n
    }
    return true
  }

  await knex.transaction(async (trx) => {
    if (fit?.problem) {
      problem = fit.problem
      return
    }
    await trx.raw(`declare audit_verify no scroll cursor for select ${VERIFY_COLUMNS} from audit_logs order by audit_logs.seq`)
    const fetchNext = () => trx.raw<Rows<VerifyRow>>(`fetch 10000 from audit_verify`).then((r) => r.rows)
    // Ask for the next batch before hashing this one, so the server reads while this process hashes.
    let pending = fetchNext()
    scan: for (;;) {
      const batch = await pending
      if (!batch.length) break
      pending = fetchNext()
      for (const r of batch) {
        const seq = BigInt(r.seq)
        if (firstSeq === null) firstSeq = r.seq
        if (seq !== expectedSeq) {
          const gapStart = expectedSeq
          if (seq < expectedSeq || !bridge(seq - 1n)) {
            problem = {
              seq: gapStart.toString(),
              kind: 'missing',
              message: seq - 1n === gapStart ? `row ${gapStart} is missing` : `rows ${gapStart} to ${seq - 1n} are missing`
            }
            break scan
          }
          if (fit?.problem) {
            problem = fit.problem
            break scan
          }
        }
        if (r.prev_hash !== expectedPrev) {
          problem = {
            seq: r.seq,
            kind: 'reordered',
            message: `row ${r.seq} does not follow row ${seq - 1n}: its previous-row hash does not match (rows reordered, or one replaced)`
          }
          break scan
        }
        const computed = rowHash(r.prev_hash, r.seq, bodyOf(r))
        if (computed !== r.row_hash) {
          problem = { seq: r.seq, kind: 'altered', message: `row ${r.seq} was altered: its contents no longer match its hash` }
          break scan
        }
        // Purge records list the runs they removed; collected to cross-check the checkpoints.
        if (r.resource_type === 'audit_log' && r.details?.context && Array.isArray((r.details.context as { runs?: unknown }).runs)) {
          const runs = (r.details.context as { runs: [string, string, string][] }).runs
          purgeRuns.set(r.seq, new Set(runs.map((x) => x.join(':'))))
          fit?.purgeRecord(r.seq, (r.details.context as { archive?: { file?: unknown; sha256?: unknown } }).archive)
        }
        fit?.live(r.seq, r.prev_hash, r.row_hash)
        expectedPrev = r.row_hash
        expectedSeq = seq + 1n
        lastSeq = r.seq
        checked++
      }
      onProgress?.(checked)
    }
    // Let a fetch still in flight finish before the cursor closes.
    await pending.catch(() => undefined)
    await trx.raw(`close audit_verify`)
  })

  if (!problem && expectedSeq <= BigInt(head.last_seq)) {
    const gapStart = expectedSeq
    if (!bridge(BigInt(head.last_seq)) || expectedPrev !== head.last_hash) {
      problem = { seq: gapStart.toString(), kind: 'missing', message: `rows ${gapStart} to ${head.last_seq} (the newest) are missing` }
    }
  } else if (!problem && lastSeq !== null && expectedPrev !== head.last_hash) {
    problem = { seq: lastSeq, kind: 'altered', message: `the newest row ${lastSeq} does not match the chain head` }
  }
  if (!problem && fit?.problem) problem = fit.problem
  if (!problem) {
    // Every checkpoint must be listed by the purge record that made it, so none can be forged afterwards.
    for (const cp of cps) {
      const runs = cp.purge_seq ? purgeRuns.get(cp.purge_seq) : undefined
      if (!runs || !runs.has(`${cp.first_seq}:${cp.last_seq}:${cp.last_hash}`)) {
        problem = { seq: cp.first_seq, kind: 'checkpoint', message: `checkpoint for rows ${cp.first_seq} to ${cp.last_seq} is not backed by a purge record` }
        break
      }
    }
  }
  if (!problem && fit) problem = fit.finish(head.last_seq)
  return {
    ...(archives ? { archives: { dir: archives.dir, files: archives.archives.length, rows: archives.rows } } : {}),
    ok: problem === null,
    checked,
    firstSeq,
    lastSeq,
    headSeq: head.last_seq,
    checkpoints: cps.length,
    problem,
    seconds: Math.round((performance.now() - started) / 10) / 100
  }
}

/**
 * Fits a folder of archives to the chain as verify walks it (docs/audit.md#archives). Each run a purge
 * removed (a checkpoint) must be a run of exactly one purge archive: the same first and last row, the hash
 * before it equal to the chain's at that point, its last hash the checkpoint's, and the archive's purge
 * record the checkpoint's; that record must name the archive's SHA-256. No purge archive may hold rows no
 * purge removed, and none may overlap another. A copy (`audit archive`) must agree with the chain wherever
 * the walk knows the hash at its edges. Each file was checked on its own already (readArchiveFolder).
 */
class ArchiveFit {
  problem: VerifyProblem | null
  private readonly byFirst = new Map<string, { run: ArchiveRun; archive: CheckedArchive; used: boolean }>()
  /** Archive names and SHA-256 stated by purge records, by the record's seq. */
  private readonly stated = new Map<string, { file?: unknown; sha256?: unknown } | undefined>()
  /** Hashes at the edges of copies' runs, as the walk meets them: seq -> hash. */
  private readonly wanted = new Map<string, string | null>()

  constructor(private readonly folder: ArchiveFolder) {
    this.problem = folder.problem
    const runs = folder.archives
      .filter((a) => a.manifest.purpose === 'purge')
      .flatMap((archive) => archive.manifest.runs.map((run) => ({ run, archive, used: false })))
      .sort((a, b) => (BigInt(a.run.firstSeq) < BigInt(b.run.firstSeq) ? -1 : 1))
    for (let i = 0; i < runs.length && !this.problem; i++) {
      const a = runs[i]!
      const b = runs[i - 1]
      if (b && BigInt(a.run.firstSeq) <= BigInt(b.run.lastSeq)) {
        const seq = a.run.firstSeq
        this.fail(seq, a.archive, `archives ${b.archive.manifest.file} and ${a.archive.manifest.file} both hold row ${seq} (they overlap)`)
      }
      this.byFirst.set(a.run.firstSeq, a)
    }
    this.wanted.set('0', GENESIS_HASH)
    for (const a of folder.archives.filter((x) => x.manifest.purpose === 'copy')) {
      for (const r of a.manifest.runs) {
        const before = (BigInt(r.firstSeq) - 1n).toString()
        if (!this.wanted.has(before)) this.wanted.set(before, null)
        if (!this.wanted.has(r.lastSeq)) this.wanted.set(r.lastSeq, null)
      }
    }
  }

  private fail(seq: string, a: CheckedArchive | null, message: string): void {
    this.problem ??= { seq, kind: 'archive', message, ...(a ? { file: a.manifest.file } : {}) }
  }

  private know(seq: string, hash: string): void {
    if (this.wanted.has(seq) && this.wanted.get(seq) === null) this.wanted.set(seq, hash)
  }

  /** A live row met by the walk. */
  live(seq: string, prevHash: string, hash: string): void {
    if (this.wanted.size > 1) {
      this.know((BigInt(seq) - 1n).toString(), prevHash)
      this.know(seq, hash)
    }
  }

  /** A purge record met by the walk, with the archive its details name (absent before archives existed). */
  purgeRecord(seq: string, archive: { file?: unknown; sha256?: unknown } | undefined): void {
    this.stated.set(seq, archive)
  }

  /** A run removed by a purge (a checkpoint), bridged by the walk with the chain's hash before it. */
  removed(cp: { first_seq: string; last_seq: string; last_hash: string; purge_seq: string | null }, hashBefore: string): void {
    if (this.problem) return
    const a = this.byFirst.get(cp.first_seq)
    const by = cp.purge_seq ? `the purge recorded at seq ${cp.purge_seq}` : 'a purge'
    if (!a) return this.fail(cp.first_seq, null, `rows ${cp.first_seq} to ${cp.last_seq}, removed by ${by}, are in no archive in ${this.folder.dir}`)
    const file = a.archive.manifest.file
    if (a.run.lastSeq !== cp.last_seq) {
      return this.fail(cp.first_seq, a.archive, `archive ${file} holds rows ${a.run.firstSeq} to ${a.run.lastSeq}, but ${by} removed rows ${cp.first_seq} to ${cp.last_seq}`)
    }
    if (a.run.hashBefore !== hashBefore || a.run.lastHash !== cp.last_hash) {
      return this.fail(cp.first_seq, a.archive, `archive ${file} does not meet the chain at rows ${cp.first_seq} to ${cp.last_seq}: its hashes are not the chain's (an archive of another database, or rewritten)`)
    }
    if (a.archive.manifest.purgeSeq !== cp.purge_seq) {
      return this.fail(cp.first_seq, a.archive, `archive ${file} names the purge at seq ${a.archive.manifest.purgeSeq}, but ${by} removed rows ${cp.first_seq} to ${cp.last_seq}`)
    }
    a.used = true
    this.know((BigInt(cp.first_seq) - 1n).toString(), hashBefore)
    this.know(cp.last_seq, cp.last_hash)
  }

  /** After the walk: every purge archive used and named by its purge record, every copy in agreement. */
  finish(headSeq: string): VerifyProblem | null {
    if (this.problem) return this.problem
    for (const a of this.byFirst.values()) {
      const m = a.archive.manifest
      if (!a.used) {
        this.fail(a.run.firstSeq, a.archive, `archive ${m.file} holds rows ${a.run.firstSeq} to ${a.run.lastSeq}, which no purge of this database removed (they are still in the log, or the archive is another database's)`)
        continue
      }
      const stated = this.stated.get(m.purgeSeq!)
      if (!stated || stated.sha256 !== m.sha256 || stated.file !== m.file) {
        this.fail(
          a.run.firstSeq,
          a.archive,
          stated
            ? `archive ${m.file} is not the one the purge recorded at seq ${m.purgeSeq} wrote (it names ${String(stated.file)}, SHA-256 ${String(stated.sha256)})`
            : `the purge recorded at seq ${m.purgeSeq} names no archive (it ran before archives, or without one), so ${m.file} cannot be its`
        )
      }
    }
    for (const a of this.folder.archives.filter((x) => x.manifest.purpose === 'copy')) {
      const m = a.manifest
      if (BigInt(m.lastSeq) > BigInt(headSeq)) {
        this.fail(m.lastSeq, a, `archive ${m.file} holds rows up to ${m.lastSeq}, beyond the chain head ${headSeq}: newer rows are gone from the log, or the archive is another database's`)
        continue
      }
      for (const r of m.runs) {
        const before = this.wanted.get((BigInt(r.firstSeq) - 1n).toString())
        const last = this.wanted.get(r.lastSeq)
        if ((before && before !== r.hashBefore) || (last && last !== r.lastHash)) {
          this.fail(r.firstSeq, a, `archive ${m.file} does not agree with the chain at rows ${r.firstSeq} to ${r.lastSeq} (an archive of another database, or rewritten)`)
        }
      }
    }
    return this.problem
  }
}

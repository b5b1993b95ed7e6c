/**
 * The one audit writer. Every service appends through it, inside the same transaction as the change it
 * records, so a change and its audit row commit together or not at all.
 *
 * The chain: each row carries a gapless sequence number, the previous row's hash and its own SHA-256 over
 * the canonical serialisation (canonical.ts). The head row (audit_chain_head) is locked for the append, so
 * appends are totally ordered; services append last in their transaction to keep that lock short.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { RequestContext } from '../context'
import { parseIp } from '../../../shared/net'
import { canonicalBody, canonicalJson, jsonString, redact, redactedCanonicalJson, rowHash, type AuditBody } from './canonical'

export const AUDIT_ACTIONS = ['create', 'read', 'update', 'delete', 'login', 'logout', 'authenticate', 'authorize', 'error'] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

export interface AuditEntry {
  action: AuditAction
  resourceType: string
  resourceId?: string | number | null
  resourceName?: string | null
  status?: 'success' | 'failure' | 'warning'
  details?: {
    before?: unknown
    after?: unknown
    error?: unknown
    context?: Record<string, unknown>
    /** A batch row (a CSV import's allocations): each object's id, line and exact before/after. */
    rows?: unknown[]
  }
}

export interface AppendedAudit {
  id: string
  seq: string
  rowHash: string
}

const clip = (s: string | null | undefined, n: number): string | null => (s === null || s === undefined ? null : s.length > n ? s.slice(0, n) : s)

const EMPTY = Object.freeze({})

/**
 * Where the server's values go in a body (Migration20261203100000_server_roles): the row's time and the
 * database login are the server's, never the client's. audit_append and ipam_allocate_next_keyed put them in
 * place of these before hashing; control characters, which no serialised value holds unescaped, keep them
 * apart from data (the server replaces the first occurrence of each key, the top-level one).
 */
export const TIME_PLACEHOLDER = '\u0001netkeeper:time\u0001'
export const USER_PLACEHOLDER = '\u0001netkeeper:user\u0001'


export async function appendAudit(trx: Knex.Transaction | Knex, ctx: RequestContext, entry: AuditEntry): Promise<AppendedAudit> {
  return (await appendAudits(trx, ctx, [entry]))[0]!
}

/** The fields of an audit row that come from the request context: the same for every row it appends. */
interface ContextFields {
  userId: string | null
  userIp: string | null
  userAgent: string | null
  requestId: string | null
  source: RequestContext['source']
}

function contextFields(ctx: RequestContext): ContextFields {
  let userIp: string | null = null
  if (ctx.ip) {
    try {
      // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is stored as the IPv4 address it is, so the text
      // hashed here is the text PostgreSQL gives back.
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ctx.ip.trim())
      userIp = parseIp(mapped ? mapped[1]! : ctx.ip).text
    } catch {
      userIp = null
    }
  }
  return { userId: clip(ctx.actor, 255), userIp, userAgent: clip(ctx.userAgent ?? null, 512), requestId: clip(ctx.requestId, 64), source: ctx.source }
}

/** An entry's details as recorded, before redaction: a replayed offline edit says when it was made and when it was applied. */
function entryDetails(ctx: RequestContext, entry: AuditEntry): Record<string, unknown> {
  return ctx.replay ? { ...(entry.details ?? {}), context: { ...(entry.details?.context ?? {}), ...ctx.replay } } : { ...(entry.details ?? {}) }
}

const resourceIdOf = (entry: AuditEntry): string | null => (entry.resourceId === undefined || entry.resourceId === null ? null : clip(String(entry.resourceId), 255))

function bodyOf(c: ContextFields, ctx: RequestContext, createdAt: string, dbUser: string, entry: AuditEntry): AuditBody {
  return {
    createdAt,
    dbUser,
    action: entry.action,
    resourceType: entry.resourceType,
    resourceId: resourceIdOf(entry),
    resourceName: clip(entry.resourceName ?? null, 255),
    userId: c.userId,
    userIp: c.userIp,
    userAgent: c.userAgent,
    status: entry.status ?? 'success',
    details: redact(entryDetails(ctx, entry)),
    requestId: c.requestId,
    source: c.source
  }
}

/**
 * The stored fields of an audit row, as hashed (see canonical.ts), with the placeholders the server fills in
 * for the time and the login (TIME_PLACEHOLDER, USER_PLACEHOLDER).
 */
export function auditBody(ctx: RequestContext, entry: AuditEntry): AuditBody {
  return bodyOf(contextFields(ctx), ctx, TIME_PLACEHOLDER, USER_PLACEHOLDER, entry)
}

/**
 * Appends several rows in one round trip: the bodies are serialised here, the database assigns the
 * sequence numbers and hashes under the chain head's row lock (audit_append).
 *
 * Inside a transaction the rows commit with it. Outside one (sign-in events, refusals) the append is a
 * statement of its own, and appends that arrive while another is being written share its successor's
 * commit (groupCommit below).
 */
export async function appendAudits(trx: Knex.Transaction | Knex, ctx: RequestContext, entries: AuditEntry[]): Promise<AppendedAudit[]> {
  if (!entries.length) return []
  const c = contextFields(ctx)
  const bodies: AuditBody[] = entries.map((entry) => bodyOf(c, ctx, TIME_PLACEHOLDER, USER_PLACEHOLDER, entry))
  if ((trx as Knex.Transaction).isTransaction) return callAppend(trx, bodies)
  return groupCommit(trx as Knex).append(bodies)
}

/**
 * The call of audit_append for some entries, as a FROM item to compose into a statement of one's own (it
 * yields id, seq and row_hash per row): a change and its audit row in one statement is one round trip and
 * one implicit transaction (the outbox records an outcome so).
 */
export function auditAppendCall(ctx: RequestContext, entries: AuditEntry[]): { sql: string; bindings: Knex.RawBinding[] } {
  const c = contextFields(ctx)
  return appendCall(entries.map((entry) => bodyOf(c, ctx, TIME_PLACEHOLDER, USER_PLACEHOLDER, entry)))
}

function appendCall(bodies: AuditBody[]): { sql: string; bindings: Knex.RawBinding[] } {
  const col = <K extends keyof AuditBody>(k: K) => bodies.map((r) => r[k])
  return {
    sql: `audit_append(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::inet[], ?::text[], ?::text[], ?::jsonb[], ?::text[], ?::text[], ?::text[])`,
    bindings: [
      col('action'),
      col('resourceType'),
      col('resourceId'),
      col('resourceName'),
      col('userId'),
      col('userIp'),
      col('userAgent'),
      col('status'),
      bodies.map((r) => JSON.stringify(r.details)),
      col('requestId'),
      col('source'),
      bodies.map(canonicalBody)
    ] as unknown as Knex.RawBinding[]
  }
}

/** One call of audit_append for the given rows, in order. */
async function callAppend(q: Knex.Transaction | Knex, bodies: AuditBody[]): Promise<AppendedAudit[]> {
  const call = appendCall(bodies)
  const res = await q.raw<{ rows: { id: string; seq: string; row_hash: string }[] }>(`select id, seq::text, row_hash from ${call.sql}`, call.bindings)
  return res.rows.map((r) => ({ id: r.id, seq: r.seq, rowHash: r.row_hash }))
}

/** At most this many rows share one commit. */
const GROUP_MAX_ROWS = 1_000

interface Waiting {
  bodies: AuditBody[]
  resolve: (rows: AppendedAudit[]) => void
  reject: (e: unknown) => void
}

/**
 * Group commit for appends outside a transaction. The chain head stays locked until the appending
 * transaction's commit is on disk, so with one commit per row the chain could grow by at most one row per
 * WAL flush, however many callers wait. Here one append is in flight per database handle; the appends that
 * arrive meanwhile queue and then go in together, in arrival order: one audit_append call, one commit. Each
 * caller's promise settles when the commit holding its rows has, with its own rows' seq and hash. When a
 * shared append fails, each caller's rows are retried on their own, so one bad row fails only its caller.
 */
class GroupCommit {
  private queue: Waiting[] = []
  private busy = false

  constructor(private readonly knex: Knex) {}

  append(bodies: AuditBody[]): Promise<AppendedAudit[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ bodies, resolve, reject })
      if (!this.busy) void this.drain()
    })
  }

  private async drain(): Promise<void> {
    this.busy = true
    try {
      while (this.queue.length) {
        let rows = 0
        let n = 0
        while (n < this.queue.length && (n === 0 || rows + this.queue[n]!.bodies.length <= GROUP_MAX_ROWS)) rows += this.queue[n++]!.bodies.length
        const group = this.queue.splice(0, n)
        try {
          const appended = await callAppend(this.knex, group.flatMap((w) => w.bodies))
          let at = 0
          for (const w of group) {
            w.resolve(appended.slice(at, at + w.bodies.length))
            at += w.bodies.length
          }
        } catch (e) {
          if (group.length === 1) group[0]!.reject(e)
          else {
            for (const w of group) {
              try {
                w.resolve(await callAppend(this.knex, w.bodies))
              } catch (e2) {
                w.reject(e2)
              }
            }
          }
        }
      }
    } finally {
      this.busy = false
    }
  }
}

const groups = new WeakMap<Knex, GroupCommit>()

function groupCommit(knex: Knex): GroupCommit {
  let g = groups.get(knex)
  if (!g) groups.set(knex, (g = new GroupCommit(knex)))
  return g
}

/**
 * Records a refused or failed change in its own transaction (the change's transaction was rolled back).
 * Never throws: losing the failure record must not hide the original error from the caller.
 */
export async function recordFailure(knex: Knex, ctx: RequestContext, entry: AuditEntry, error: { code?: string; message: string; details?: unknown }): Promise<void> {
  try {
    // One statement on its own: the chain head is locked only inside the server.
    await appendAudit(knex, ctx, {
      ...entry,
      status: 'failure',
      details: { ...entry.details, error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } }
    })
  } catch (e) {
    console.error('[audit] could not record a failure:', (e as Error).message)
  }
}

/**
 * The statement a prepared batch goes in with (its placeholders: bulkAuditBindings). Callers may end a
 * statement of their own with it (the importer writes a batch of allocations and their audit rows in one).
 * The payload holds only what differs from row to row; the rest is bound once per batch: the first row's
 * sequence number (each next row's is one more), the previous hash of the first row (each next row's is the
 * row before's hash), the server's time and login (from audit_bulk_open) and the context's fields. Those are
 * the values the rows were hashed with. audit_bulk_insert (owned by netkeeper_owner) checks that the batch
 * carries the server's stamp and continues the chain before it inserts.
 */
export const BULK_AUDIT_INSERT = `select audit_bulk_insert(?::bigint, ?::text, ?::text, ?::inet, ?::text, ?::text, ?::text, ?::text, ?::jsonb, ?::text)`

/** The values for BULK_AUDIT_INSERT's placeholders, in order. */
export function bulkAuditBindings(batch: PreparedAudits): Array<string | null> {
  return [batch.first, batch.createdAt, batch.userId, batch.userIp, batch.userAgent, batch.requestId, batch.source, batch.prev, batch.payload, batch.dbUser]
}

/**
 * Bulk appends (imports: hundreds of thousands of rows in one transaction). The chain head is locked and
 * read once; each batch is hashed here with the same definition audit_append uses (rowHash in
 * canonical.ts) and goes in as one set-based INSERT; finish() moves the head to the last row. Hashing the
 * next batch while PostgreSQL stores the previous one is safe: the chain state lives here and the head stays
 * locked until the transaction ends. `audit verify` checks these rows like any other.
 */
export interface BulkAudit {
  /** Serialises and hashes a batch, advancing the chain; send the result with write(), in the same order. */
  prepare(entries: AuditEntry[]): PreparedAudits
  write(batch: PreparedAudits): Promise<void>
  /** After the last write has resolved: moves the chain head to the last row. */
  finish(): Promise<void>
}

export interface PreparedAudits {
  rows: number
  /** JSON array, a row each: {a: action, t: resource type, i: resource id, n: resource name, s: status, d: details, h: row hash}. */
  payload: string
  /** The first row's sequence number, and the hash it follows. */
  first: string
  prev: string
  /** The server's time and login, as audit_bulk_open gave them. */
  createdAt: string
  dbUser: string
  userId: string | null
  userIp: string | null
  userAgent: string | null
  requestId: string | null
  source: string
}

export async function openBulkAudit(trx: Knex.Transaction, ctx: RequestContext): Promise<BulkAudit> {
  // Locks the chain head for this transaction and gives the server's time and login for every row.
  const head = await trx.raw<{ rows: { last_seq: string; last_hash: string; created_at: string; db_user: string }[] }>(
    `select last_seq::text as last_seq, last_hash, created_at, db_user from audit_bulk_open()`
  )
  let seq = BigInt(head.rows[0]!.last_seq)
  let prev = head.rows[0]!.last_hash
  const { created_at: createdAt, db_user: dbUser } = head.rows[0]!
  const start = seq
  return {
    prepare(entries) {
      const c = contextFields(ctx)
      const batch = { first: (seq + 1n).toString(), prev, createdAt, dbUser, ...c }
      // The text every row of the batch shares: parts of the canonical body (keys in sorted order), and the
      // payload's fields that come from the context.
      const afterAction = ',"createdAt":' + canonicalJson(createdAt) + ',"dbUser":' + canonicalJson(dbUser) + ',"details":'
      const afterDetails = ',"requestId":' + canonicalJson(c.requestId) + ',"resourceId":'
      const afterType = (c.source === undefined ? '' : ',"source":' + canonicalJson(c.source)) + ',"status":'
      const afterStatus = ',"userAgent":' + canonicalJson(c.userAgent) + ',"userId":' + canonicalJson(c.userId) + ',"userIp":' + canonicalJson(c.userIp) + '}'
      // The rows' texts, joined at the end: join writes one flat string, where += would leave a tree of every
      // piece, kept alive until PostgreSQL has the batch.
      const rows: string[] = new Array<string>(entries.length)
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!
        const resourceId = resourceIdOf(entry)
        const resourceName = clip(entry.resourceName ?? null, 255)
        const status = entry.status ?? 'success'
        // Details as canonical JSON, redacted on the way (redactedCanonicalJson); the same text goes in the
        // payload (jsonb keeps no key order).
        const raw: unknown = ctx.replay ? entryDetails(ctx, entry) : (entry.details ?? EMPTY)
        const details = typeof raw === 'object' && !Array.isArray(raw) && !(raw instanceof Date) ? redactedCanonicalJson(raw) : null
        seq++
        const s = seq.toString()
        let hash: string
        if (details !== null && typeof entry.action === 'string' && typeof entry.resourceType === 'string' && typeof status === 'string' && (resourceName === null || typeof resourceName === 'string')) {
          // Every field a string or null: its canonical text is its JSON text, written once for both.
          const action = jsonString(entry.action)
          const type = jsonString(entry.resourceType)
          const st = jsonString(status)
          const id = resourceId === null ? 'null' : JSON.stringify(resourceId)
          const name = resourceName === null ? 'null' : JSON.stringify(resourceName)
          hash = rowHash(prev, s, '{"action":' + action + afterAction + details + afterDetails + id + ',"resourceName":' + name + ',"resourceType":' + type + afterType + st + afterStatus)
          rows[i] = '{"a":' + action + ',"t":' + type + ',"i":' + id + ',"n":' + name + ',"s":' + st + ',"d":' + details + ',"h":"' + hash + '"}'
        } else {
          // Anything else: the body and the row exactly as the general definitions write them.
          const b = bodyOf(c, ctx, createdAt, dbUser, entry)
          hash = rowHash(prev, s, canonicalBody(b))
          rows[i] = JSON.stringify({ a: b.action, t: b.resourceType, i: b.resourceId, n: b.resourceName, s: b.status, d: b.details, h: hash })
        }
        prev = hash
      }
      // One JSON document per batch: PostgreSQL parses it in C and details go in as jsonb without a second
      // layer of text escaping.
      // The brackets go on the first and last row, so that join's string is the whole payload, already flat.
      if (!rows.length) return { rows: 0, payload: '[]', ...batch }
      rows[0] = '[' + rows[0]!
      rows[rows.length - 1] += ']'
      return { rows: entries.length, payload: rows.join(','), ...batch }
    },
    async write(batch) {
      if (!batch.rows) return
      await trx.raw(BULK_AUDIT_INSERT, bulkAuditBindings(batch))
    },
    async finish() {
      if (seq === start) return
      // The server moves the head to the last row written (it reads it back, never takes it from here).
      await trx.raw(`select audit_bulk_close()`)
    }
  }
}

/** appendAudits for large batches: one bulk append (see openBulkAudit). Returns the rows' sequence numbers, in order. */
export async function appendAuditsBulk(trx: Knex.Transaction, ctx: RequestContext, entries: AuditEntry[]): Promise<string[]> {
  if (!entries.length) return []
  const bulk = await openBulkAudit(trx, ctx)
  const batch = bulk.prepare(entries)
  await bulk.write(batch)
  await bulk.finish()
  const first = BigInt(batch.first)
  return entries.map((_, i) => (first + BigInt(i)).toString())
}

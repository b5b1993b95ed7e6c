/**
 * Next-free allocation in one statement: ipam_allocate_next_keyed resolves and locks the pool, takes the
 * addresses, inserts and audits them (and records a replayed edit's key) inside the server, so the pool's
 * lock is held for no client round trip. allocations.ts tries this path first and falls back on the general
 * one when the pool has lapsed holds to reuse; the offline replay sends runs of such requests at once.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import type { AllocateInput, AllocationDto } from '../../../shared/ipam'
import { auditBody, recordFailure, type AuditEntry } from '../audit/writer'
import { canonicalBody } from '../audit/canonical'
import { hasRole, type RequestContext } from '../context'
import { awaitDurable, FLUSH_SQL } from '../db/durable'
import { toAppError } from '../db/errors'
import { prepareAllocation, type PreparedAllocation } from './allocation-input'
import type { ReplayRecord } from './mutation'
import { ambiguousPool, toAllocationDto, type Rows } from './rows'

/**
 * Placeholders for the row id and address in the audit body and details serialised before the rows exist
 * (see ipam_allocate_next). They hold a control character, which validated input can never contain.
 */
const ID_PLACEHOLDER = '\u0001netkeeper:id\u0001'
const IP_PLACEHOLDER = '\u0001netkeeper:ip\u0001'
const POOL_PLACEHOLDER = '\u0001netkeeper:pool\u0001'

type NextOut = { outcome: string; pool_id: number | null; pool_name: string | null; space_name?: string | null; id: number | null; ip: string | null; created_at: Date | null; updated_at: Date | null; version: number | null }

/** The casts of ipam_allocate_next_keyed's arguments, in order (shared by the bound and the literal form). */
const NEXT_CASTS = [
  '', '', '', '', '::macaddr', '', '', '', '', '', '', '::timestamptz', '',
  '::timestamptz', '', '::inet', '', '', '',
  '', '', '', '', '', '', '',
  '::uuid', '', '', '::timestamptz', ''
]

/** What a pg connection from knex's pool offers here (a multi-statement query resolves to one result per statement). */
interface PgConnection {
  query(text: string): Promise<{ rows: unknown[] } | { rows: unknown[] }[]>
}

/**
 * A simple-protocol query of several statements (transactions among them) on a connection of its own, one
 * result per statement. After an error inside one of its transactions the session is left in that failed
 * transaction, and only a rollback on this same connection ends it: done here before the error is thrown.
 * Used by the offline replay's runs and the batched group (PoolBatches).
 */
async function multiStatement(knex: Knex, text: string): Promise<{ rows: unknown[] }[]> {
  const client = knex.client as { acquireConnection(): Promise<PgConnection>; releaseConnection(c: PgConnection): Promise<void> }
  const conn = await client.acquireConnection()
  try {
    const res = await conn.query(text)
    return Array.isArray(res) ? res : [res]
  } catch (e) {
    await conn.query('rollback').catch(() => undefined)
    throw e
  } finally {
    await client.releaseConnection(conn)
  }
}

/** A SQL literal for a run's multi-statement query (no bind parameters there): PostgreSQL's own escaping rules. */
function sqlLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`not an integer: ${v}`)
    return String(v)
  }
  const text = String(v)
  // As libpq's PQescapeLiteral: quotes doubled; with a backslash, the E'' form and backslashes doubled, so
  // the text reads the same whatever standard_conforming_strings says.
  const quoted = `'${text.replace(/'/g, "''").replace(/\\/g, '\\\\')}'`
  return text.includes('\\') ? `E${quoted}` : quoted
}

/**
 * One call of ipam_allocate_next_keyed: the audit body and details serialised once, with placeholders for the
 * row id, the address and the pool's name (the server fills in the name of the pool it locked, so nothing
 * reads the pool beforehand). A replayed edit commits without waiting for the WAL flush: set_config(..., true)
 * lasts until the end of the call's own transaction; the replayer confirms durability before relying on it.
 */
function nextCall(ctx: RequestContext, { v, until, fields }: PreparedAllocation, operation: string, replay: ReplayRecord | undefined, strict: boolean) {
  const ref = String(v.pool).trim()
  const byId = typeof v.pool === 'number' || /^\d+$/.test(ref)
  const want = v.count ?? 1
  const createdAt = new Date().toISOString()
  const snapshot = {
    pool: POOL_PLACEHOLDER,
    ip: IP_PLACEHOLDER,
    status: v.status,
    hostname: fields.hostname,
    mac: fields.mac,
    owner: fields.owner,
    purpose: fields.purpose,
    description: fields.description,
    dnsManaged: fields.dnsManaged,
    dhcpManaged: fields.dhcpManaged,
    reservedUntil: until ? until.toISOString() : null,
    allocatedBy: ctx.actor
  }
  const details = { after: snapshot, context: { operation, pool: POOL_PLACEHOLDER, mode: 'next' } }
  const body = auditBody(ctx, { action: 'create', resourceType: 'ip_allocation', resourceId: ID_PLACEHOLDER, resourceName: IP_PLACEHOLDER, details })
  const params = [
    byId ? Number(ref) : null,
    ref,
    want,
    fields.hostname,
    fields.mac,
    fields.owner,
    fields.purpose,
    fields.description,
    v.status,
    fields.dnsManaged,
    fields.dhcpManaged,
    until ? until.toISOString() : null,
    ctx.actor,
    createdAt,
    body.userId,
    body.userIp,
    body.userAgent,
    body.requestId,
    body.source,
    'create',
    'ip_allocation',
    canonicalBody(body),
    JSON.stringify(body.details),
    JSON.stringify(ID_PLACEHOLDER),
    JSON.stringify(IP_PLACEHOLDER),
    JSON.stringify(POOL_PLACEHOLDER),
    replay?.key ?? null,
    replay?.operation ?? null,
    replay?.actor ?? null,
    replay?.queuedAt ?? null,
    strict
  ]
  // Its own transaction's commit never waits for the WAL flush, so the pool's row and the chain head are
  // released without one (db/durable.ts): a replayed edit is confirmed durable by the replayer, any other
  // caller waits for awaitDurable before it is answered.
  const asyncCommit = `set_config('synchronous_commit', 'off', true) as async_commit, `
  // What the batched form (ipam_allocate_next_batch) takes per caller: the same values, by name.
  const caller = {
    count: want,
    hostname: fields.hostname,
    mac: fields.mac,
    owner: fields.owner,
    purpose: fields.purpose,
    description: fields.description,
    status: v.status,
    dns: fields.dnsManaged,
    dhcp: fields.dhcpManaged,
    until: until ? until.toISOString() : null,
    by: ctx.actor,
    userId: body.userId,
    userIp: body.userIp,
    userAgent: body.userAgent,
    requestId: body.requestId,
    source: body.source,
    bodyTpl: params[21] as string,
    detailsTpl: params[22] as string
  }
  return { ref, byId, want, params, caller, sql: (args: string) =>
      `select ${asyncCommit}f.*, (select s.name from ip_pools p join ip_spaces s on s.id = p.space_id where p.id = f.pool_id) as space_name from ipam_allocate_next_keyed(${args}) f` }
}

function nextDtos(rows: NextOut[], ctx: RequestContext, { v, until, fields }: PreparedAllocation): AllocationDto[] {
  return rows.map((r) =>
    toAllocationDto({
      id: r.id!,
      pool_id: r.pool_id!,
      pool_name: r.pool_name!,
      space_name: r.space_name ?? '',
      ip: r.ip!,
      mac: fields.mac,
      hostname: fields.hostname,
      owner: fields.owner,
      purpose: fields.purpose,
      description: fields.description,
      status: v.status,
      dns_managed: fields.dnsManaged,
      dhcp_managed: fields.dhcpManaged,
      reserved_until: until,
      expired: false,
      created_at: r.created_at!,
      updated_at: r.updated_at!,
      allocated_by: ctx.actor,
      version: r.version!
    })
  )
}

/**
 * Next-free in one autocommit statement (ipam_allocate_next_keyed): the pool is resolved and locked, the
 * addresses taken, inserted and audited, and a replayed edit's key recorded, all inside the server, so the
 * pool's lock is held for no client round trip at all. Returns null when the general path must run
 * instead (lapsed holds to reuse).
 */
export async function allocateNextFast(
  knex: Knex,
  ctx: RequestContext,
  prepared: PreparedAllocation,
  operation: string,
  entry: AuditEntry,
  replay?: ReplayRecord
): Promise<AllocationDto[] | null> {
  const call = nextCall(ctx, prepared, operation, replay, false)
  // Callers of one pool that arrive while another's allocation is in flight share one transaction (below).
  if (!replay && batchable(knex)) {
    const b = poolBatches(knex)
    const turn = await b.submit(call, ctx, prepared)
    if (!turn.leader) {
      if (turn.rows) return turn.rows
    } else {
      try {
        return await allocateNextAlone(knex, ctx, prepared, call, entry, replay)
      } finally {
        b.done(call.ref)
      }
    }
  }
  return allocateNextAlone(knex, ctx, prepared, call, entry, replay)
}

/** One caller's own statement (autocommit), answered once durable. */
async function allocateNextAlone(
  knex: Knex,
  ctx: RequestContext,
  prepared: PreparedAllocation,
  call: ReturnType<typeof nextCall>,
  entry: AuditEntry,
  replay: ReplayRecord | undefined
): Promise<AllocationDto[] | null> {
  let rows: NextOut[]
  try {
    const r = await knex.raw<Rows<NextOut>>(call.sql(NEXT_CASTS.map((c) => `?${c}`).join(', ')), call.params)
    const head = r.rows[0]
    if (!head || head.outcome === 'not_found') throw new AppError('NOT_FOUND', `pool: no pool named "${call.ref}"`, { field: 'pool' })
    if (head.outcome === 'inactive') throw new AppError('CONFLICT', `pool: "${head.pool_name}" is inactive; activate it before allocating from it`, { field: 'pool' })
    if (head.outcome === 'slow') return null
    rows = r.rows
  } catch (e) {
    const pgErr = e as { code?: string; detail?: string }
    // Not a refusal: the edit is in already (another replayer), so nothing to audit.
    if (pgErr?.code === 'NK002') throw new AppError('CONFLICT', `offline edit ${replay?.key} was already applied`, { reason: 'already-applied' })
    let err: AppError
    if (pgErr?.code === 'NK004') {
      // A name that pools in several address spaces hold: refused before anything was locked.
      err = ambiguousPool(call.ref, JSON.parse(pgErr.detail ?? '[]') as { id: number; space: string }[])
    } else if (pgErr?.code === 'NK001') {
      const free = Number(pgErr.detail ?? 0)
      err = new AppError(
        'CONFLICT',
        free === 0 ? `pool: "${call.ref}" has no free address` : `count: pool "${call.ref}" has only ${free} free address(es), ${call.want} asked`,
        { field: free === 0 ? 'pool' : 'count', free }
      )
    } else {
      err = toAppError(e)
    }
    if (err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE') await recordFailure(knex, ctx, entry, err)
    throw err
  }
  // Answered only once the commit is durable (db/durable.ts); a replayed edit is confirmed by its replayer.
  if (!replay) {
    try {
      await awaitDurable(knex)
    } catch (e) {
      const ips = rows.map((x) => x.ip).join(', ')
      if (await lostFlushOutcome(knex, rows.map((x) => x.id!), ips)) return nextDtos(rows, ctx, prepared)
      throw new AppError(
        'UNAVAILABLE',
        `database: ${ips} in pool "${rows[0]!.pool_name}" committed, but the server did not confirm it on disk (${toAppError(e).message}); look it up once the server answers (a server crash before the flush may have lost it)`,
        { ips: rows.map((x) => x.ip) }
      )
    }
  }
  return nextDtos(rows, ctx, prepared)
}

/**
 * After a shared flush failed (the connection or the server went away before it answered): whether the
 * allocations `ids` made it. Waits up to `withinMs` for a server that accepts writes to answer (the same
 * primary back, or a promoted standby: the connection follows it), flushes there (the shared flush, which
 * covers every commit before it) and looks the rows up. Rows present after that flush are durable (a promoted
 * standby writes the WAL it received to disk before it replays it): true. Absent: lost with the server
 * (false), so nothing was allocated. No answer in time: the last error is thrown and the outcome stays unknown.
 */
export async function recheckAllocations(knex: Knex, ids: number[], withinMs = 20_000): Promise<boolean> {
  const until = Date.now() + withinMs
  for (;;) {
    try {
      await awaitDurable(knex)
      const r = await knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_allocations where id = any(?::bigint[])`, [ids])
      return r.rows[0]!.n === ids.length
    } catch (e) {
      if (Date.now() >= until) throw e
    }
    await new Promise((r) => setTimeout(r, 250))
  }
}

/**
 * A commit whose shared flush failed: true once a server that accepts writes shows its rows after a flush of its
 * own (recheckAllocations); a NOT-made answer is thrown as UNAVAILABLE saying nothing was allocated; false when no
 * server answered in time (the caller's "committed, but not confirmed" error stands).
 */
export async function lostFlushOutcome(knex: Knex, ids: number[], ips: string): Promise<boolean> {
  let made: boolean
  try {
    made = await recheckAllocations(knex, ids)
  } catch {
    return false
  }
  if (made) return true
  throw new AppError('UNAVAILABLE', `database: ${ips} was lost when the server went down before its commit reached the disk; nothing was allocated, allocate again`, { lost: true })
}

/** A caller waiting to join its pool's next shared statement. */
interface BatchWaiter {
  call: ReturnType<typeof nextCall>
  ctx: RequestContext
  prepared: PreparedAllocation
  /** Its rows once the shared statement is durable; null: it goes alone, through its own statement. */
  resolve: (rows: AllocationDto[] | null) => void
  reject: (e: unknown) => void
}

/** At most this many callers share one statement. */
const BATCH_MAX = 64

/** Only on a server: the embedded store is one in-process connection, whose callers queue there anyway. */
function batchable(knex: Knex): boolean {
  const pool = (knex.client as { config?: { pool?: { max?: number } } }).config?.pool
  return (pool?.max ?? 1) > 1
}

interface PoolQueue {
  busy: boolean
  queue: BatchWaiter[]
}

type BatchOut = NextOut & { caller: number; free: number | null }

/**
 * One round trip for a group of callers of one pool: ipam_allocate_next_batch in a transaction of its own that
 * commits without waiting for the WAL flush (so the pool's row and the chain head are released at once), then
 * the flush that makes it durable, as one simple-protocol query (several statements, so the values go in as
 * literals, each escaped by sqlLiteral and cast to its type). The flush's own transaction commits with the
 * session's synchronous_commit, so the query's answer comes back only once the group's commit is on disk:
 * the callers are answered after that, as before, without a second round trip (and a second wait for this
 * process's turn on a busy machine) between the group's commit and its flush.
 */
function batchText(group: BatchWaiter[]): string {
  const first = group[0]!.call
  const col = <K extends keyof ReturnType<typeof nextCall>['caller']>(k: K, type: string) =>
    `array[${group.map((w) => `${sqlLiteral(w.call.caller[k])}::${type}`).join(', ')}]::${type}[]`
  const args = [
    first.byId ? sqlLiteral(Number(first.ref)) : 'null::int',
    `${sqlLiteral(first.ref)}::text`,
    col('count', 'int'),
    col('hostname', 'text'),
    col('mac', 'macaddr'),
    col('owner', 'text'),
    col('purpose', 'text'),
    col('description', 'text'),
    col('status', 'text'),
    col('dns', 'boolean'),
    col('dhcp', 'boolean'),
    col('until', 'timestamptz'),
    col('by', 'text'),
    col('userId', 'text'),
    col('userIp', 'inet'),
    col('userAgent', 'text'),
    col('requestId', 'text'),
    col('source', 'text'),
    col('bodyTpl', 'text'),
    col('detailsTpl', 'text'),
    ...['create', 'ip_allocation', JSON.stringify(ID_PLACEHOLDER), JSON.stringify(IP_PLACEHOLDER), JSON.stringify(POOL_PLACEHOLDER)].map((v) => `${sqlLiteral(v)}::text`)
  ]
  return `begin;
select set_config('synchronous_commit', 'off', true) as async_commit, f.*,
       (select s.name from ip_pools p join ip_spaces s on s.id = p.space_id where p.id = f.pool_id) as space_name
  from ipam_allocate_next_batch(${args.join(', ')}) f;
commit;
${FLUSH_SQL};`
}

/**
 * Errors that say the connection or the server went away rather than that the statement was refused: the
 * connection exception, operator intervention (a shutdown), insufficient resources, system and internal error
 * classes. The group's commit may or may not have happened before them.
 */
function connectionLost(code: string): boolean {
  return /^(08|57|53|58|XX)/.test(code)
}

/**
 * Group commit per pool, in the client, with the group allocated by one statement. The pool's row and the
 * chain head serialise every allocation from a pool, so what bounds throughput is how long each allocation
 * holds them. Per database handle and pool one allocation goes alone while none is in flight (the leader: a
 * lone caller waits for nobody); callers that arrive meanwhile queue, and when the one in flight is answered
 * they go together as one call of ipam_allocate_next_batch, which locks the pool and the chain head once,
 * takes the addresses in one pass, inserts every caller's rows in one INSERT and their audit rows in another
 * (each caller's own fields, request id and audit body, in arrival order), and moves the chain head once.
 * The statement commits without waiting for the WAL flush, and the flush that covers it follows in the same
 * round trip (batchText), so no caller hears back before its allocation is durable. Before each group leaves,
 * the queue stays open for one turn of the event loop, so the callers just answered (a worker allocating in
 * a loop) join it instead of forming a group of their own that would then take turns with it.
 *
 * A caller the pool cannot serve (short: nothing taken for it) goes alone, through the usual statement, with
 * its usual error and failure record; the others of its group are served. When the server refuses the whole
 * statement (the pool missing, inactive or with lapsed holds to reuse, or a request the server rejects),
 * nothing of it committed: its callers, and any still queued, go alone, so one caller's refusal never
 * becomes another's. When the connection fails instead (or the server goes away, connectionLost), whether
 * it committed is unknown: those callers get UNAVAILABLE, never a second allocation; the app then asks the
 * server that answers next whether each caller's request id has its audit row (handlers.ts, fateOf).
 */
class PoolBatches {
  private pools = new Map<string, PoolQueue>()

  constructor(private readonly knex: Knex) {}

  /** { leader: true }: go alone now and call done() once answered; otherwise the rows, or null to go alone. */
  async submit(call: ReturnType<typeof nextCall>, ctx: RequestContext, prepared: PreparedAllocation): Promise<{ leader: true } | { leader: false; rows: AllocationDto[] | null }> {
    let p = this.pools.get(call.ref)
    if (!p) this.pools.set(call.ref, (p = { busy: false, queue: [] }))
    if (!p.busy) {
      p.busy = true
      return { leader: true }
    }
    const q = p
    const rows = await new Promise<AllocationDto[] | null>((resolve, reject) => q.queue.push({ call, ctx, prepared, resolve, reject }))
    return { leader: false, rows }
  }

  /** The leader is answered (or failed): the callers queued meanwhile go next, together. */
  done(ref: string): void {
    const p = this.pools.get(ref)
    if (p) void this.drain(ref, p)
  }

  private release(ref: string, p: PoolQueue): void {
    p.busy = false
    if (this.pools.get(ref) === p) this.pools.delete(ref)
    // Whoever is still queued goes alone.
    for (const w of p.queue.splice(0)) w.resolve(null)
  }

  private async drain(ref: string, p: PoolQueue): Promise<void> {
    for (;;) {
      // The callers just answered may be back at once with their next request: let them join this group
      // rather than go in a group of their own next (two half groups taking turns, each waiting out the
      // other's statement and flush, halve the group size: measured 4 per statement instead of 8).
      await new Promise((r) => setImmediate(r))
      if (!p.queue.length) break
      const group = p.queue.splice(0, BATCH_MAX)
      let rows: BatchOut[]
      try {
        // begin, the allocation, commit, the flush.
        rows = (await multiStatement(this.knex, batchText(group)))[1]!.rows as BatchOut[]
      } catch (e) {
        const code = (e as { code?: unknown })?.code
        if (code && /^[0-9A-Z]{5}$/.test(String(code)) && !connectionLost(String(code))) {
          // Refused by the server inside the group's transaction (or at its commit), so nothing of it
          // committed: each goes alone.
          for (const w of group) w.resolve(null)
          this.release(ref, p)
          return
        }
        // The connection failed: whether the group committed is unknown (the app asks the server that answers
        // next by each caller's request id); never a second allocation.
        const err = toAppError(e)
        for (const w of group) w.reject(err.code === 'UNAVAILABLE' ? err : new AppError('UNAVAILABLE', `database: ${err.message}; whether the allocation was made is unknown, look it up once the server answers`))
        continue
      }
      const byCaller = group.map(() => [] as BatchOut[])
      for (const r of rows) byCaller[r.caller - 1]?.push(r)
      // Each served caller's rows are durable now (the flush came back): answered.
      for (const [i, w] of group.entries()) {
        const mine = byCaller[i]!.filter((r) => r.outcome === 'ok')
        // Short: nothing was taken for it; alone, it gets the pool's own answer (and its failure record).
        if (mine.length !== w.call.want) w.resolve(null)
        else w.resolve(nextDtos(mine, w.ctx, w.prepared))
      }
    }
    this.release(ref, p)
  }
}

const batches = new WeakMap<Knex, PoolBatches>()

function poolBatches(knex: Knex): PoolBatches {
  let b = batches.get(knex)
  if (!b) batches.set(knex, (b = new PoolBatches(knex)))
  return b
}

/**
 * The offline replay's runs of queued next-free allocations: several in one round trip, in order, each in
 * its own transaction with its audit row and key (ipam_allocate_next_keyed, strict), committed without
 * waiting for the WAL flush like every replayed change. The run stops at the first item that cannot be
 * applied this way: an item that fails authorization or validation is not sent, nor any after it; in the
 * server, any outcome but success raises, which skips the rest of the run. Returns the results of the
 * items applied, in order: fewer than given when it stopped early. A server error is thrown as it came
 * (after rolling the failed item back): the items before the failing one are committed, and the caller
 * finds which by their keys. Items that stopped a run go through allocate() alone, which refuses, audits
 * or applies them as usual.
 */
export async function allocateNextRun(knex: Knex, items: { ctx: RequestContext; input: AllocateInput; replay: ReplayRecord }[]): Promise<AllocationDto[][]> {
  const calls: { prepared: PreparedAllocation; ctx: RequestContext; text: string }[] = []
  for (const it of items) {
    if (!hasRole(it.ctx, 'operator')) break
    let prepared: PreparedAllocation
    try {
      prepared = prepareAllocation(it.input)
    } catch {
      break
    }
    // An explicit address, or an owner from the directory (written by the general path), ends the run.
    if (prepared.v.ip || prepared.fields.ownerDn) break
    const raw = it.input as Partial<AllocateInput>
    const operation = raw.status === 'reserved' ? 'reserve' : raw.status === 'blocked' ? 'block' : 'allocate'
    const call = nextCall(it.ctx, prepared, operation, it.replay, true)
    // A run is one simple-protocol query (several statements, so no bind parameters): the values go in as
    // literals, each escaped by sqlLiteral.
    const args = call.params.map((v, i) => `${sqlLiteral(v)}${NEXT_CASTS[i]}`).join(', ')
    calls.push({ prepared, ctx: it.ctx, text: `begin; ${call.sql(args)}; commit;` })
  }
  if (!calls.length) return []
  const all = await multiStatement(knex, calls.map((c) => c.text).join('\n'))
  // begin, select, commit per item.
  return calls.map((c, i) => nextDtos(all[3 * i + 1]!.rows as NextOut[], c.ctx, c.prepared))
}

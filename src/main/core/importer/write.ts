/**
 * Writes a plan inside the caller's transaction, set-based: pools and allocations go in with multi-row
 * INSERTs over unnest() (each statement also records the legacy ids in legacy_import_map), each batch
 * with its audit rows (one per created object, source 'import'), and the free space of every touched pool
 * is rebuilt once at the end.
 *
 * The rows are read from the legacy file again, batch by batch, so memory stays flat however large the
 * file. While PostgreSQL stores one batch, the next is read, checked and hashed here: the two cores work at
 * once. The audit chain's head is locked from the first batch to the commit, as it would be for any one
 * transaction that appends this many rows.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { ImportPhase } from '../../../shared/importer'
import { BULK_AUDIT_INSERT, bulkAuditBindings, openBulkAudit, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { allocationValues, FATE_CREATE, type AllocationValues, type Plan, type PlanSource, type PoolPlan } from './plan'

type Rows<T> = { rows: T[] }

const POOL_CHUNK = 500
const ALLOC_CHUNK = 1_000
const REBUILD_CHUNK = 50

export interface WriteHooks {
  progress(phase: ImportPhase, done: number, total: number): void
  signal?: AbortSignal
}

export interface WriteResult {
  /** The id each created pool got. */
  poolIds: Map<PoolPlan, number>
}

function poolSnapshot(p: PoolPlan): Record<string, unknown> {
  return {
    name: p.name,
    network: p.net!.text,
    gateway: p.gateway,
    vlanId: p.vlanId,
    site: null,
    environment: null,
    description: p.description,
    isActive: true,
    dnsServers: p.dnsServers
  }
}

/**
 * The audit snapshot of an imported allocation: the service's snapshot fields that carry a value (an import
 * writes hundreds of thousands of these rows; empty fields would only make each one longer).
 */
function allocSnapshot(a: AllocationValues, pool: string): Record<string, unknown> {
  const out: Record<string, unknown> = { pool, ip: a.ip, status: a.status }
  if (a.hostname) out.hostname = a.hostname
  if (a.mac) out.mac = a.mac
  if (a.purpose) out.purpose = a.purpose
  if (a.description) out.description = a.description
  if (a.dhcpManaged) out.dhcpManaged = true
  if (a.allocatedBy) out.allocatedBy = a.allocatedBy
  return out
}

interface Created {
  at: number
  values: AllocationValues
  legacyId: string
}

/** Created allocations in file order, with their place in the file, in batches of `size`. */
function* createdBatches(source: PlanSource, plan: Plan, size: number): Generator<Created[]> {
  let batch: Created[] = []
  let i = -1
  for (const src of source.allocations()) {
    i++
    if (plan.fate[i] !== FATE_CREATE) continue
    batch.push({ at: i, values: allocationValues(src, plan.drop[i]!, plan.typeMap), legacyId: (src.id ?? '').trim() })
    if (batch.length === size) {
      yield batch
      batch = []
    }
  }
  if (batch.length) yield batch
}

/** "12,13,20" -> [12, 13, 20], without an intermediate array of strings (there may be hundreds of thousands). */
function parseIds(text: string, count: number): Int32Array {
  const out = new Int32Array(count)
  let n = 0
  let v = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 44) {
      out[n++] = v
      v = 0
    } else v = v * 10 + (c - 48)
  }
  if (text.length) out[n++] = v
  if (n !== count) throw new Error(`expected ${count} allocation ids, got ${n}`)
  return out
}

/**
 * A PostgreSQL array literal of primitive values, exactly as node-postgres writes an array parameter (its
 * arrayString): NULL for null, every other element quoted, with backslashes and double quotes escaped.
 */
export function pgArray<T>(items: readonly T[], value: (item: T, j: number) => string | number | boolean | null): string {
  const parts = new Array<string>(items.length)
  for (let j = 0; j < items.length; j++) {
    const v = value(items[j]!, j)
    if (v === null || v === undefined) parts[j] = 'NULL'
    else {
      const t = String(v)
      parts[j] = t.includes('\\') || t.includes('"') ? `"${t.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : `"${t}"`
    }
  }
  if (!parts.length) return '{}'
  // The braces go on the first and last element: join's string is then the literal, already flat.
  parts[0] = '{' + parts[0]!
  parts[parts.length - 1] += '}'
  return parts.join(',')
}

/** dns_servers as a PostgreSQL array literal: the addresses are canonical, so no quoting is needed. */
const inetArray = (ips: string[]): string | null => (ips.length ? `{${ips.join(',')}}` : null)

export async function writePlan(
  trx: Knex.Transaction,
  source: PlanSource,
  plan: Plan,
  ctx: RequestContext,
  importId: string,
  hooks: WriteHooks,
  spaceId: number | null = null
): Promise<WriteResult> {
  const check = (): void => hooks.signal?.throwIfAborted()
  const audit = await openBulkAudit(trx, ctx)

  // Pools, and their audit rows.
  const fresh = plan.pools.filter((p) => p.action === 'create' || p.action === 'rename')
  const poolIds = new Map<PoolPlan, number>()
  hooks.progress('pools', 0, fresh.length)
  for (let i = 0; i < fresh.length; i += POOL_CHUNK) {
    check()
    const chunk = fresh.slice(i, i + POOL_CHUNK)
    const r = await trx.raw<Rows<{ k: number; id: number }>>(
      `with src as (
         select u.*, nextval('ip_pools_id_seq')::int as new_id
           from unnest(?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::int[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::text[], ?::text[])
                as u(k, name, description, network, gateway, vlan_id, dns, created_at, updated_at, legacy_id, action)
       ), ins as (
         insert into ip_pools (id, name, description, network, gateway, vlan_id, dns_servers, created_at, updated_at, created_by, space_id)
         select new_id, name, description, network::cidr, gateway::inet, vlan_id, dns::inet[], coalesce(created_at, now()),
                coalesce(updated_at, created_at, now()), ?, coalesce(?::int, ipam_default_space())
           from src order by k
       ), map as (
         insert into legacy_import_map (source_table, legacy_id, target_id, action, import_id)
         select 'ip_pools', legacy_id, new_id, action, ?::uuid from src
       )
       select k, new_id as id from src`,
      [
        chunk.map((_, j) => j),
        chunk.map((p) => p.name),
        chunk.map((p) => p.description),
        chunk.map((p) => p.net!.text),
        chunk.map((p) => p.gateway),
        chunk.map((p) => p.vlanId),
        chunk.map((p) => inetArray(p.dnsServers)),
        chunk.map((p) => p.createdAt),
        chunk.map((p) => p.updatedAt),
        chunk.map((p) => p.legacyId),
        chunk.map((p) => (p.action === 'rename' ? 'renamed' : 'created')),
        ctx.actor,
        spaceId,
        importId
      ] as unknown as Knex.RawBinding[]
    )
    for (const row of r.rows) poolIds.set(chunk[row.k]!, row.id)
    await audit.write(
      audit.prepare(
        chunk.map(
          (p): AuditEntry => ({
            action: 'create',
            resourceType: 'ip_pool',
            resourceId: poolIds.get(p)!,
            resourceName: p.name,
            details: {
              after: poolSnapshot(p),
              context: {
                operation: 'import',
                importId,
                legacyId: p.legacyId,
                ...(p.action === 'rename' ? { renamedFrom: p.legacyName } : {}),
                ...(p.fixed ? { fixes: plan.fixes.filter((f) => f.table === 'ip_pools' && f.row === p.src.row).map((f) => f.kind) } : {})
              }
            }
          })
        )
      )
    )
    hooks.progress('pools', Math.min(fresh.length, i + POOL_CHUNK), fresh.length)
  }
  const merged = plan.pools.filter((p) => p.action === 'merge')
  if (merged.length) {
    await trx.raw(
      `insert into legacy_import_map (source_table, legacy_id, target_id, action, import_id)
       select 'ip_pools', u.legacy_id, u.target_id, 'merged', ?::uuid from unnest(?::text[], ?::int[]) as u(legacy_id, target_id)`,
      [importId, merged.map((p) => p.legacyId), merged.map((p) => p.targetId)] as unknown as Knex.RawBinding[]
    )
  }

  // Allocations in file order, each batch with its audit rows. The ids are drawn up front, so a batch's audit
  // rows can be hashed before its INSERT has run.
  const total = plan.counts.allocations.created
  const drawn = await trx.raw<Rows<{ ids: string | null }>>(`select string_agg(nextval('ip_allocations_id_seq')::text, ',') as ids from generate_series(1, ?)`, [total])
  const ids = parseIds(drawn.rows[0]?.ids ?? '', total)
  const poolName = new Map<number, string>(plan.existingNames)
  for (const [p, id] of poolIds) poolName.set(id, p.name!)
  const poolIdOf = (at: number): number => (plan.dest[at]! < 0 ? -plan.dest[at]! : poolIds.get(plan.pools[plan.dest[at]!]!)!)
  let next = 0
  let done = 0
  let inflight: Promise<number> | null = null
  hooks.progress('allocations', 0, total)
  try {
    for (const chunk of createdBatches(source, plan, ALLOC_CHUNK)) {
      check()
      const first = next
      const rows = chunk.length
      next += rows
      // Each column as the array literal node-postgres would write for it, built here in one string (its own
      // element-by-element concatenation was a quarter of the import's garbage).
      const params = [
        pgArray(chunk, (_, j) => ids[first + j]!),
        pgArray(chunk, (c) => c.legacyId),
        pgArray(chunk, (c) => poolIdOf(c.at)),
        pgArray(chunk, (c) => c.values.ip),
        pgArray(chunk, (c) => c.values.mac),
        pgArray(chunk, (c) => c.values.hostname),
        pgArray(chunk, (c) => c.values.status),
        pgArray(chunk, (c) => c.values.dhcpManaged),
        pgArray(chunk, (c) => c.values.purpose),
        pgArray(chunk, (c) => c.values.description),
        pgArray(chunk, (c) => c.values.allocatedBy),
        pgArray(chunk, (c) => c.values.createdAt),
        pgArray(chunk, (c) => c.values.updatedAt),
        importId
      ]
      const audits = audit.prepare(
        chunk.map(
          (c, j): AuditEntry => ({
            action: 'create',
            resourceType: 'ip_allocation',
            resourceId: ids[first + j]!,
            resourceName: c.values.ip,
            details: {
              after: allocSnapshot(c.values, poolName.get(poolIdOf(c.at))!),
              context: { legacyId: c.legacyId, legacyType: c.values.legacyType, ...(plan.dest[c.at]! < 0 ? { existingPool: true } : {}) }
            }
          })
        )
      )
      // One batch in flight: wait for the previous one, then hand this one over and prepare the next.
      if (inflight) {
        done += await inflight
        hooks.progress('allocations', done, total)
      }
      // The allocations, their legacy ids and their audit rows in one statement: one round trip per batch,
      // so PostgreSQL never waits for this process between the three.
      const batch = trx
        .raw(
          `with src as (
             select * from unnest(?::int[], ?::text[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bool[], ?::text[], ?::text[],
                                  ?::text[], ?::timestamptz[], ?::timestamptz[])
                    as u(id, legacy_id, pool_id, ip, mac, hostname, status, dhcp, purpose, description, allocated_by, created_at, updated_at)
           ), ins as (
             insert into ip_allocations (id, pool_id, ip_address, mac_address, hostname, status, dhcp_managed, purpose, description,
                                         allocated_by, created_at, updated_at)
             select id, pool_id, ip::inet, mac::macaddr, hostname, status, dhcp, purpose, description, allocated_by,
                    coalesce(created_at, now()), coalesce(updated_at, created_at, now())
               from src
           ), map as (
             insert into legacy_import_map (source_table, legacy_id, target_id, action, import_id)
             select 'ip_allocations', legacy_id, id, 'created', ?::uuid from src
           )
           ${BULK_AUDIT_INSERT}`,
          [...params, ...bulkAuditBindings(audits)] as unknown as Knex.RawBinding[]
        )
        .then(() => rows)
      // Observed at once, so a failure while the next batch is being prepared is never "unhandled"; the
      // await above (or below) still sees it.
      batch.catch(() => undefined)
      inflight = batch
      // The query is sent by promise callbacks (knex, then the driver), which run only when this function
      // yields; without this turn of the event loop the next batch would be read and hashed first, and the
      // server would wait for it instead of working alongside.
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    if (inflight) {
      done += await inflight
      inflight = null
      hooks.progress('allocations', done, total)
    }
  } finally {
    // Leaving early (a cancel, an error): let the batch in flight settle before the transaction rolls back.
    if (inflight) await inflight.catch(() => undefined)
  }
  await audit.finish()

  // Free space of every pool that got rows (and of every new pool, empty or not).
  const touched = [...new Set([...poolIds.values(), ...plan.existingPoolIds])].sort((a, b) => a - b)
  hooks.progress('free-space', 0, touched.length)
  for (let i = 0; i < touched.length; i += REBUILD_CHUNK) {
    check()
    await trx.raw(`select ipam_rebuild_free_ranges(x) from unnest(?::int[]) as x`, [touched.slice(i, i + REBUILD_CHUNK)])
    hooks.progress('free-space', Math.min(touched.length, i + REBUILD_CHUNK), touched.length)
  }
  return { poolIds }
}

/**
 * Subnet planning on the pool tree: the next free block(s) of a container, split a pool into 2^k equal
 * children, merge two adjacent siblings, and the tree listing. Every change runs in one transaction holding
 * the container's row lock (as address allocation holds the pool's), so concurrent requests on one container
 * queue behind each other and never hand out the same block; requests on different containers do not wait for
 * each other. The database checks the tree's rules again (Migration20261215010000).
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import {
  mergeSchema,
  nextBlockSchema,
  poolTreeSchema,
  splitSchema,
  type MergeInput,
  type MergeResult,
  type NextBlockInput,
  type PoolDto,
  type PoolTreeInput,
  type PoolTreeNode,
  type SplitInput,
  type SplitResult
} from '../../../shared/ipam'
import { bigIntToIp, cidrLast, parseCidr, parseIp, usableRange, type ParsedCidr } from '../../../shared/net'
import type { z } from 'zod'
import { canonicalBody } from '../audit/canonical'
import { appendAudits, auditBody, recordFailure, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { awaitDurable } from '../db/durable'
import { toAppError } from '../db/errors'
import { authorize, mutate, type MutationOptions } from './mutation'
import { poolDto, toPoolDtos } from './pools'
import { findPoolRow, findSpaceId, NEW_POOL_COLUMNS, parse, POOL_COLUMNS, type PoolRow, type Rows } from './rows'

const maxLen = (c: ParsedCidr): number => (c.family === 4 ? 32 : 128)
const text = (v: bigint, c: ParsedCidr, prefix: number): string => `${bigIntToIp(v, c.family)}/${prefix}`

/** The snapshot of a pool's place and shape for the audit rows of tree changes. */
const shape = (p: PoolDto): Record<string, unknown> => ({ name: p.name, network: p.network, gateway: p.gateway, parent: p.parentName, space: p.spaceName })

/** Names for new children: "<container> <network>" unless the caller gave a name (numbered when several). */
function childNames(container: string, containerNet: string, nets: string[], name?: string): string[] {
  if (name) return nets.length === 1 ? [name] : nets.map((_, i) => `${name}-${i + 1}`)
  // "campus 10.20.1.0/26" split into /27s gives "campus 10.20.1.0/27", not "campus 10.20.1.0/26 10.20.1.0/27".
  const base = container.endsWith(` ${containerNet}`) ? container.slice(0, -containerNet.length - 1) : container
  return nets.map((n) => `${base.slice(0, 99 - n.length)} ${n}`)
}

async function insertChildren(
  trx: Knex.Transaction,
  ctx: RequestContext,
  parent: PoolRow,
  nets: string[],
  names: string[],
  extra: { site?: string | null; environment?: string | null; vlanId?: number | null; gateways: (string | null)[] }
): Promise<PoolRow[]> {
  const ins = await trx
    .raw<Rows<PoolRow>>(
      `insert into ip_pools as p (name, network, gateway, site, environment, vlan_id, created_by, space_id, parent_id)
       select u.n, u.c, u.g, ?, ?, ?, ?, ?, ? from unnest(?::text[], ?::cidr[], ?::inet[]) with ordinality as u(n, c, g, o) order by u.o
       returning ${NEW_POOL_COLUMNS}`,
      [extra.site ?? null, extra.environment ?? null, extra.vlanId ?? null, ctx.actor, parent.space_id, parent.id, names, nets, extra.gateways] as unknown as Knex.RawBinding[]
    )
    .catch((e: unknown) => Promise.reject(nameTaken(e, names.join(', '))))
  const rows = ins.rows.sort((a, b) => (parseCidr(a.network).network < parseCidr(b.network).network ? -1 : 1))
  // The children may carry the gateway and take over allocations: their free space is rebuilt from them.
  await trx.raw(`select ipam_rebuild_free_ranges(x) from unnest(?::int[]) as x`, [rows.map((r) => r.id)])
  return rows
}

/**
 * Placeholders for what only the server knows when next-block's audit bodies are serialised (ipam_next_block,
 * Migration20270203100000): each new pool's id, name and network, the space and the container. They hold a
 * control character, which validated input can never contain; the server puts its JSON strings in their place.
 */
const BLOCK_PH = {
  id: '\u0001netkeeper:id\u0001',
  name: '\u0001netkeeper:name\u0001',
  network: '\u0001netkeeper:network\u0001',
  space: '\u0001netkeeper:space\u0001',
  parent: '\u0001netkeeper:parent\u0001'
}

/** One row of ipam_next_block: a new pool (outcome 'ok'), or why none was made (and nothing changed). */
interface BlockRow {
  outcome: 'ok' | 'not_found' | 'ambiguous' | 'too_long' | 'not_smaller' | 'short'
  detail: string | null
  id: number | null
  name: string | null
  network: string | null
  space_id: number | null
  space_name: string | null
  parent_id: number | null
  parent_name: string | null
  description: string | null
  site: string | null
  site_ref_id: number | null
  vlan_id: number | null
  vlan_ref_id: number | null
  environment: string | null
  created_at: Date | null
  updated_at: Date | null
  created_by: string | null
  custom_fields: PoolRow['custom_fields']
}

/**
 * The statement of one next-block: ipam_next_block (Migration20270203100000) resolves and locks the container,
 * finds the lowest aligned free blocks, inserts the children and their free space and appends their audit rows,
 * all inside the server, so the container's lock and the chain head are held for no client round trip. The
 * audit body and details are serialised here once, with placeholders (BLOCK_PH) for what the server decides.
 *
 * The search, from the container's free-space cache (which leaves out its children, allocations, gateway and
 * dhcp/reserved ranges), costs index work proportional to the answer, not to the children: each free range
 * carries the prefix length of the largest aligned block inside it (`block_len`, Migration20270106100000), so
 * the ranges that hold a /N are the lowest `count` of each block_len from the container's prefix to N (one
 * probe each), plus the ranges at the container's edges: its own network and broadcast addresses are not in
 * the cache (no address may be handed out there) but a child may start or end on them, so the ranges touching
 * them are widened back, unless a child covers them.
 */
function blockCall(ctx: RequestContext, v: z.output<typeof nextBlockSchema>, asyncCommit: boolean): { sql: string; bindings: Knex.RawBinding[] } {
  const ref = typeof v.in === 'number' ? String(v.in) : String(v.in).trim()
  const byId = typeof v.in === 'number' || /^\d+$/.test(ref)
  const after = {
    name: BLOCK_PH.name,
    network: BLOCK_PH.network,
    gateway: null,
    dnsServers: [],
    vlanId: v.vlanId ?? null,
    site: v.site || null,
    environment: v.environment ?? null,
    description: v.description ?? null,
    isActive: true
  }
  const details = { after, context: { operation: 'next-block', space: BLOCK_PH.space, parent: BLOCK_PH.parent, prefixLength: v.prefixLength } }
  const body = auditBody(ctx, { action: 'create', resourceType: 'ip_pool', resourceId: BLOCK_PH.id, resourceName: BLOCK_PH.name, details })
  const ph = [BLOCK_PH.id, BLOCK_PH.name, BLOCK_PH.network, BLOCK_PH.space, BLOCK_PH.parent].map((x) => JSON.stringify(x))
  return {
    // set_config(..., true) lasts until the end of the statement's own transaction: its commit does not wait for
    // the WAL flush (the caller waits for awaitDurable instead, db/durable.ts).
    sql: `select ${asyncCommit ? `set_config('synchronous_commit', 'off', true) as async_commit, ` : ''}f.*
            from ipam_next_block(?::int, ?, ?::int, ?::int, ?, ?, ?, ?, ?::int, ?, ?, ?::inet, ?, ?, ?, ?, ?, ?::text[]) f`,
    bindings: [
      byId ? Number(ref) : null,
      ref,
      v.prefixLength,
      v.count,
      v.name || null,
      v.description ?? null,
      v.site || null,
      v.environment ?? null,
      v.vlanId ?? null,
      ctx.actor,
      body.userId,
      body.userIp,
      body.userAgent,
      body.requestId,
      body.source,
      canonicalBody(body),
      JSON.stringify(body.details),
      ph
    ] as unknown as Knex.RawBinding[]
  }
}

/** The rows of ipam_next_block as pools, or the refusal it reported as the typed error a person can act on. */
function blockRows(rows: BlockRow[], v: z.output<typeof nextBlockSchema>): PoolRow[] {
  const head = rows[0]
  const ref = String(v.in).trim()
  if (!head || head.outcome === 'not_found') throw new AppError('NOT_FOUND', `in: no pool named "${ref}"`, { field: 'in' })
  if (head.outcome === 'ambiguous') {
    const pools = JSON.parse(head.detail ?? '[]') as { id: number; space: string }[]
    throw new AppError('CONFLICT', `in: "${ref}" names a pool in more than one address space (${pools.map((x) => `"${x.space}": id ${x.id}`).join(', ')}); give its id`, {
      field: 'in',
      pools
    })
  }
  const container = `container "${head.name}" (${head.network})`
  if (head.outcome === 'too_long') throw validationError('prefixLength', `must be at most ${head.detail} in an IPv${head.detail === '32' ? 4 : 6} container`)
  if (head.outcome === 'not_smaller') {
    const prefix = head.network!.split('/')[1]
    throw validationError('prefixLength', `a /${v.prefixLength} block is not smaller than the container ${head.network} (/${prefix}); ask for a longer prefix`)
  }
  if (head.outcome === 'short') {
    const free = Number(head.detail)
    throw new AppError(
      'CONFLICT',
      free === 0 ? `prefixLength: ${container} has no free aligned /${v.prefixLength}` : `count: ${container} has only ${free} free aligned /${v.prefixLength}, ${v.count} asked`,
      { field: free === 0 ? 'prefixLength' : 'count', free }
    )
  }
  return rows.map((r) => ({
    id: r.id!,
    name: r.name!,
    description: r.description,
    network: r.network!,
    gateway: null,
    dns_servers: [],
    vlan_id: r.vlan_id,
    site: r.site,
    environment: r.environment,
    is_active: true,
    created_at: r.created_at!,
    updated_at: r.updated_at!,
    created_by: r.created_by,
    space_id: r.space_id!,
    space_name: r.space_name!,
    parent_id: r.parent_id,
    parent_name: r.parent_name,
    children: 0,
    site_ref_id: r.site_ref_id,
    vlan_ref_id: r.vlan_ref_id,
    custom_fields: r.custom_fields
  }))
}

/** A name already taken in the space is refused by ip_pools_space_name_key; said here the way a person reads it. */
function nameTaken(e: unknown, names: string): unknown {
  const err = e as { code?: string; constraint?: string; detail?: string }
  if (err?.code === '23505' && err.constraint === 'ip_pools_space_name_key') {
    const name = /=\(\d+, (.*)\) already exists/.exec(err.detail ?? '')?.[1] ?? names
    return new AppError('CONFLICT', `name: a pool named "${name}" already exists in this address space`, { field: 'name' })
  }
  return e
}

/** next-block calls in flight per database handle (see nextBlock). */
const inFlight = new WeakMap<Knex, number>()

/**
 * The next free block(s) of a container as new child pools: one statement (ipam_next_block) does the change
 * and its audit rows. A lone call commits durably in that statement. When other calls of this handle are in
 * flight, it commits without waiting for its WAL flush, so the container's row lock and the chain head pass
 * to the next caller at once, and its caller is answered only once a flush covering the commit is done
 * (awaitDurable, shared), as next-free allocation is. Measured on 2 busy cores (load 12-15, 16 alternating
 * rounds, three runs): a lone call p50 8.3-10.2 ms this way, 8.8-15.4 always durable, 10.2-16.2 always
 * deferred; 16 concurrent calls on one container 129-160/s this way, 91-125/s always durable, 132-187/s
 * always deferred. With a transaction hook (the offline replay records the edit's key with it),
 * the same call runs inside mutate's transaction instead, committed by it.
 */
export async function nextBlock(knex: Knex, ctx: RequestContext, input: NextBlockInput, opts: MutationOptions = {}): Promise<PoolDto[]> {
  const raw = (input ?? {}) as Partial<NextBlockInput>
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_pool', resourceName: String(raw.in ?? ''), details: { after: { ...raw }, context: { operation: 'next-block' } } }
  await authorize(knex, ctx, 'admin', 'carving pools out of a container', entry)
  const names = String(raw.name ?? '')
  if (opts.inTransaction) {
    return mutate(knex, ctx, entry, async (trx) => {
      const v = parse(nextBlockSchema, input)
      const call = blockCall(ctx, v, false)
      const r = await trx.raw<Rows<BlockRow>>(call.sql, call.bindings).catch((e: unknown) => Promise.reject(nameTaken(e, names)))
      return toPoolDtos(trx, blockRows(r.rows, v), { fresh: true })
    }, opts.inTransaction)
  }
  let rows: PoolRow[]
  // Alone, the statement's own commit waits for its flush: one round trip. While another next-block of this
  // handle is in flight it does not, and the caller waits for the flush it shares with the others instead.
  const shared = (inFlight.get(knex) ?? 0) > 0
  inFlight.set(knex, (inFlight.get(knex) ?? 0) + 1)
  try {
    try {
      const v = parse(nextBlockSchema, input)
      const call = blockCall(ctx, v, shared)
      const r = await knex.raw<Rows<BlockRow>>(call.sql, call.bindings).catch((e: unknown) => Promise.reject(nameTaken(e, names)))
      rows = blockRows(r.rows, v)
    } catch (e) {
      const err = toAppError(e)
      if (err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE') await recordFailure(knex, ctx, entry, err)
      throw err
    }
  } finally {
    inFlight.set(knex, inFlight.get(knex)! - 1)
  }
  try {
    if (shared) await awaitDurable(knex)
  } catch (e) {
    throw new AppError(
      'UNAVAILABLE',
      `database: ${rows.map((r) => r.network).join(', ')} in "${rows[0]!.parent_name}" committed, but the server did not confirm it on disk (${toAppError(e).message}); look it up once the server answers (a server crash before the flush may have lost it)`,
      { pools: rows.map((r) => r.name) }
    )
  }
  return toPoolDtos(knex, rows, { fresh: true })
}

export async function splitPool(knex: Knex, ctx: RequestContext, input: SplitInput, opts: MutationOptions = {}): Promise<SplitResult> {
  const raw = (input ?? {}) as Partial<SplitInput>
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_pool', resourceName: String(raw.pool ?? ''), details: { after: { ...raw }, context: { operation: 'split' } } }
  await authorize(knex, ctx, 'admin', 'splitting a pool', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(splitSchema, input)
    const pool = await findPoolRow(trx, v.pool, true)
    entry.resourceId = pool.id
    entry.resourceName = pool.name
    const net = parseCidr(pool.network)
    const n = v.prefixLength
    if (n > maxLen(net)) throw validationError('prefixLength', `must be at most ${maxLen(net)} in an IPv${net.family} pool`)
    if (n <= net.prefix) throw validationError('prefixLength', `a /${n} is not smaller than ${net.text}; split into a longer prefix`)
    if (n - net.prefix > 12) throw validationError('prefixLength', `splitting ${net.text} into /${n} makes ${2n ** BigInt(n - net.prefix)} pools; at most 4096 at once`)
    const size = 1n << BigInt(maxLen(net) - n)
    const starts: bigint[] = []
    for (let a = net.network; a <= cidrLast(net); a += size) starts.push(a)
    const nets = starts.map((a) => text(a, net, n))
    const before = await poolDto(trx, pool)

    // What cannot go into one of the new children, the lowest address first.
    const children = await trx.raw<Rows<{ name: string; network: string }>>(
      `select name, network::text as network from ip_pools where parent_id = ? and masklen(network) < ? order by network limit 1`,
      [pool.id, n]
    )
    if (children.rows[0]) {
      const c = children.rows[0]
      throw validationError('prefixLength', `child pool "${c.name}" (${c.network}) is larger than a /${n} and would straddle the new children; split refused`, { pool: c.name })
    }
    const ranges = await trx.raw<Rows<{ first: string; last: string; purpose: string }>>(
      `select host(first_ip) as first, host(last_ip) as last, purpose from ip_ranges where pool_id = ? order by first_ip`,
      [pool.id]
    )
    for (const g of ranges.rows) {
      const f = parseIp(g.first).value
      const l = parseIp(g.last).value
      if ((f - net.network) / size !== (l - net.network) / size) {
        throw validationError('prefixLength', `the ${g.purpose} range ${g.first}-${g.last} would straddle two /${n} children (first address across: ${bigIntToIp(((f - net.network) / size + 1n) * size + net.network, net.family)}); split refused`, {
          ip: g.first
        })
      }
    }
    // Addresses a child cannot hold: the network and broadcast (IPv4) or subnet-router anycast (IPv6) of each.
    const edges: string[] = []
    for (const a of starts) {
      const c = parseCidr(text(a, net, n))
      const u = usableRange(c)
      if (u.first > c.network) edges.push(bigIntToIp(c.network, c.family))
      if (u.last < cidrLast(c)) edges.push(bigIntToIp(cidrLast(c), c.family))
    }
    if (edges.length) {
      const hit = await trx.raw<Rows<{ ip: string; hostname: string | null }>>(
        `select host(ip_address) as ip, hostname from ip_allocations where pool_id = ? and ip_address = any(?::inet[]) order by ip_address limit 1`,
        [pool.id, edges]
      )
      const h = hit.rows[0]
      if (h) {
        throw validationError('prefixLength', `${h.ip}${h.hostname ? ` (${h.hostname})` : ''} would be the network or broadcast address of a /${n} child; release or move it first (split refused)`, {
          ip: h.ip
        })
      }
      if (pool.gateway && edges.includes(pool.gateway)) {
        throw validationError('prefixLength', `the gateway ${pool.gateway} would be the network or broadcast address of a /${n} child; split refused`, { ip: pool.gateway })
      }
    }
    const gateways = starts.map((a) => {
      if (!pool.gateway) return null
      const g = parseIp(pool.gateway).value
      return g >= a && g < a + size ? pool.gateway : null
    })
    const rows = await insertChildren(trx, ctx, pool, nets, childNames(pool.name, net.text, nets), {
      vlanId: pool.vlan_id,
      site: pool.site,
      environment: pool.environment,
      gateways
    })
    // The pool's own children, allocations and ranges go into the new child that covers them.
    await trx.raw(
      `update ip_pools c set parent_id = n.id from ip_pools n
        where c.parent_id = ? and n.parent_id = ? and n.id = any(?::int[]) and c.network << n.network`,
      [pool.id, pool.id, rows.map((r) => r.id)]
    )
    const moved = await trx.raw<Rows<{ n: number }>>(
      `with m as (update ip_allocations a set pool_id = n.id, updated_at = now() from ip_pools n
                   where a.pool_id = ? and n.id = any(?::int[]) and a.ip_address <<= n.network returning 1)
       select count(*)::int as n from m`,
      [pool.id, rows.map((r) => r.id)]
    )
    await trx.raw(
      `update ip_ranges g set pool_id = n.id, updated_at = now() from ip_pools n where g.pool_id = ? and n.id = any(?::int[]) and g.first_ip <<= n.network`,
      [pool.id, rows.map((r) => r.id)]
    )
    await trx.raw(`select ipam_rebuild_free_ranges(x) from unnest(?::int[]) as x`, [[pool.id, ...rows.map((r) => r.id)]])
    const after = await poolDto(trx, await findPoolRow(trx, pool.id, false))
    const kids = await toPoolDtos(trx, await reread(trx, rows.map((r) => r.id)))
    await appendAudits(trx, ctx, [
      {
        action: 'update',
        resourceType: 'ip_pool',
        resourceId: pool.id,
        resourceName: pool.name,
        details: {
          before: { children: before.children },
          after: { children: after.children },
          context: { operation: 'split', prefixLength: n, network: net.text, created: kids.map((k) => k.name), allocationsMoved: moved.rows[0]!.n }
        }
      },
      ...kids.map((k) => ({
        action: 'create' as const,
        resourceType: 'ip_pool',
        resourceId: k.id,
        resourceName: k.name,
        details: { after: shape(k), context: { operation: 'split', of: pool.name } }
      }))
    ])
    return { container: after, children: kids, moved: moved.rows[0]!.n }
  }, opts.inTransaction)
}

async function reread(trx: Knex.Transaction, ids: number[]): Promise<PoolRow[]> {
  const r = await trx.raw<Rows<PoolRow>>(`select ${POOL_COLUMNS} from ip_pools p where p.id = any(?::int[]) order by p.network`, [ids])
  return r.rows
}

export async function mergePools(knex: Knex, ctx: RequestContext, input: MergeInput, opts: MutationOptions = {}): Promise<MergeResult> {
  const raw = (input ?? {}) as Partial<MergeInput>
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_pool', resourceName: String(raw.a ?? ''), details: { after: { ...raw }, context: { operation: 'merge' } } }
  await authorize(knex, ctx, 'admin', 'merging pools', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(mergeSchema, input)
    const a0 = await findPoolRow(trx, v.a, false)
    const b0 = await findPoolRow(trx, v.b, false)
    if (a0.id === b0.id) throw validationError('b', `"${b0.name}" is the same pool as "${a0.name}"`)
    if (a0.space_id !== b0.space_id || a0.parent_id !== b0.parent_id) {
      throw validationError('b', `"${a0.name}" and "${b0.name}" are not siblings (same space, same parent): ${a0.parent_name ?? 'root'} vs ${b0.parent_name ?? 'root'}`)
    }
    // Lock in one order (the parent first, then by id), so two merges never wait for each other in a circle.
    if (a0.parent_id) await findPoolRow(trx, a0.parent_id, true)
    await trx.raw(`select id from ip_pools where id = any(?::int[]) order by id for update`, [[a0.id, b0.id]])
    const a = await findPoolRow(trx, a0.id, false)
    const b = await findPoolRow(trx, b0.id, false)
    entry.resourceId = a.id
    entry.resourceName = a.name
    const na = parseCidr(a.network)
    const nb = parseCidr(b.network)
    if (na.family !== nb.family || na.prefix !== nb.prefix || na.prefix === 0) {
      throw validationError('b', `${na.text} and ${nb.text} are not the same size; only two halves of one block merge`)
    }
    const aggPrefix = na.prefix - 1
    const aggSize = 1n << BigInt(maxLen(na) - aggPrefix)
    const aggStart = (na.network / aggSize) * aggSize
    if ((nb.network / aggSize) * aggSize !== aggStart) {
      throw validationError('b', `${na.text} and ${nb.text} are not the two halves of one /${aggPrefix}`)
    }
    const agg = parseCidr(text(aggStart, na, aggPrefix))
    if (a.gateway && b.gateway) throw validationError('gateway', `both "${a.name}" (${a.gateway}) and "${b.name}" (${b.gateway}) have a gateway; clear one first`)
    const parent = a.parent_id ? await findPoolRow(trx, a.parent_id, false) : null
    const collapse = parent !== null && parseCidr(parent.network).text === agg.text
    const target = collapse ? parent! : a
    const tnet = collapse ? parseCidr(parent!.network) : agg
    // The aggregate's own network and broadcast addresses may no longer be held.
    const u = usableRange(tnet)
    const edges = [tnet.network, cidrLast(tnet)].filter((x) => x < u.first || x > u.last).map((x) => bigIntToIp(x, tnet.family))
    if (edges.length) {
      const hit = await trx.raw<Rows<{ ip: string }>>(
        `select host(ip_address) as ip from ip_allocations where pool_id = any(?::int[]) and ip_address = any(?::inet[]) order by ip_address limit 1`,
        [[a.id, b.id], edges]
      )
      if (hit.rows[0]) throw validationError('b', `${hit.rows[0].ip} would be the network or broadcast address of ${tnet.text}; release it first`, { ip: hit.rows[0].ip })
    }
    const beforeA = await poolDto(trx, a)
    const beforeB = await poolDto(trx, b)
    const beforeT = collapse ? await poolDto(trx, parent!) : beforeA
    await trx.raw(`set constraints ip_pools_no_overlap deferred`)
    const gone = collapse ? [a, b] : [b]
    if (!collapse) {
      await trx.raw(`update ip_pools set network = ?::cidr, gateway = coalesce(gateway, ?::inet), updated_at = now() where id = ?`, [agg.text, b.gateway, a.id])
    } else if (!parent!.gateway && (a.gateway || b.gateway)) {
      await trx.raw(`update ip_pools set gateway = ?::inet, updated_at = now() where id = ?`, [a.gateway ?? b.gateway, parent!.id])
    }
    const ids = gone.map((g) => g.id)
    // Collapsing into the parent: the two leave the tree first (the overlap check waits for commit), so the
    // parent may take their addresses without a child covering them.
    if (collapse) await trx.raw(`update ip_pools set parent_id = null where id = any(?::int[])`, [ids])
    await trx.raw(`update ip_pools set parent_id = ?, updated_at = now() where parent_id = any(?::int[])`, [target.id, ids])
    const moved = await trx.raw<Rows<{ n: number }>>(
      `with m as (update ip_allocations set pool_id = ?, updated_at = now() where pool_id = any(?::int[]) returning 1) select count(*)::int as n from m`,
      [target.id, ids]
    )
    await trx.raw(`update ip_ranges set pool_id = ?, updated_at = now() where pool_id = any(?::int[])`, [target.id, ids])
    await trx.raw(`delete from ip_pools where id = any(?::int[])`, [ids])
    await trx.raw(`set constraints ip_pools_no_overlap immediate`)
    await trx.raw(`select ipam_rebuild_free_ranges(?)`, [target.id])
    const after = await poolDto(trx, await findPoolRow(trx, target.id, false))
    const n = moved.rows[0]!.n
    await appendAudits(trx, ctx, [
      {
        action: 'update',
        resourceType: 'ip_pool',
        resourceId: target.id,
        resourceName: target.name,
        details: {
          before: { network: beforeT.network, gateway: beforeT.gateway, children: beforeT.children },
          after: { network: after.network, gateway: after.gateway, children: after.children },
          context: { operation: 'merge', merged: gone.map((g) => g.name), allocationsMoved: n }
        }
      },
      ...gone.map((g) => {
        const d = g.id === a.id ? beforeA : beforeB
        return {
          action: 'delete' as const,
          resourceType: 'ip_pool',
          resourceId: g.id,
          resourceName: g.name,
          details: {
            before: { name: d.name, network: d.network, gateway: d.gateway, dnsServers: d.dnsServers, vlanId: d.vlanId, site: d.site, environment: d.environment, description: d.description, isActive: d.isActive },
            context: { operation: 'merge', into: target.name }
          }
        }
      })
    ])
    return { pool: after, removed: gone.map((g) => ({ id: g.id, name: g.name, network: parseCidr(g.network).text })), moved: n }
  }, opts.inTransaction)
}

/**
 * The tree in depth-first address order: the roots of a space (or the subtree of one pool) and, below them, the
 * children of the expanded pools only (every pool when `expanded` is absent), a page at a time. The walk goes
 * no further than what is shown, so a page costs the same however many pools sit under collapsed nodes.
 */
export async function poolTree(knex: Knex, input: PoolTreeInput & { expanded?: number[] }): Promise<{ nodes: PoolTreeNode[]; total: number }> {
  const { expanded, ...rest } = input ?? {}
  const v = parse(poolTreeSchema, rest)
  const space = v.root === undefined ? await findSpaceId(knex, v.space) : null
  const root = v.root !== undefined ? await findPoolRow(knex, v.root, false) : null
  const all = expanded === undefined
  const seed = root ? `p.id = ?` : `p.space_id = ? and p.parent_id is null`
  const r = await knex.raw<Rows<{ id: number; depth: number; total: number }>>(
    `with recursive t as (
       select p.id, 0 as depth, array[p.network] as path from ip_pools p where ${seed}
       union all
       select c.id, t.depth + 1, t.path || c.network from ip_pools c join t on c.parent_id = t.id
        where t.depth < ? ${all ? '' : 'and t.id = any(?::int[])'}
     )
     select id, depth, count(*) over ()::int as total from t order by path limit ? offset ?`,
    [root ? root.id : space!, v.depth, ...(all ? [] : [expanded]), v.limit, v.offset] as unknown as Knex.RawBinding[]
  )
  if (!r.rows.length) return { nodes: [], total: 0 }
  const rows = await knex.raw<Rows<PoolRow>>(`select ${POOL_COLUMNS} from ip_pools p where p.id = any(?::int[])`, [r.rows.map((x) => x.id)])
  const dtos = new Map((await toPoolDtos(knex, rows.rows)).map((d) => [d.id, d]))
  return { nodes: r.rows.map((x) => ({ pool: dtos.get(x.id)!, depth: x.depth })), total: r.rows[0]!.total }
}

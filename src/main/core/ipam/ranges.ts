/**
 * Ranges inside a pool: a start-end run of addresses with a purpose. dhcp and reserved ranges are left out of
 * the pool's free space (next-free skips them; the triggers of Migration20261215010000 rebuild the cache), an
 * explicit allocation inside a dhcp range needs force (allocations.ts), and mark-used ranges count as used.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import { rangeCreateSchema, type PoolRef, type RangeCreateInput, type RangeDto } from '../../../shared/ipam'
import { cidrContains, parseCidr, parseIp } from '../../../shared/net'
import { appendAudit, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { authorize, mutate, type MutationOptions } from './mutation'
import { USED_SQL } from './rollup'
import { findPoolRow, iso, parse, type Rows } from './rows'

interface RangeRow {
  id: number
  pool_id: number
  pool_name: string
  first: string
  last: string
  size: string
  purpose: RangeDto['purpose']
  description: string | null
  mark_used: boolean
  held: number
  created_at: Date
  created_by: string | null
}

const COLUMNS = `g.id, g.pool_id, p.name as pool_name, host(g.first_ip) as first, host(g.last_ip) as last, ((g.last_ip - g.first_ip) + 1)::text as size,
  g.purpose, g.description, g.mark_used, g.created_at, g.created_by,
  (select count(*) from ip_allocations a where a.pool_id = g.pool_id and a.ip_address between g.first_ip and g.last_ip and ${USED_SQL('a')})::int as held`

const toDto = (r: RangeRow): RangeDto => ({
  id: r.id,
  poolId: r.pool_id,
  poolName: r.pool_name,
  first: r.first,
  last: r.last,
  size: r.size,
  purpose: r.purpose,
  description: r.description,
  markUsed: r.mark_used,
  held: r.held,
  createdAt: iso(r.created_at)!,
  createdBy: r.created_by
})

const snapshot = (g: RangeDto): Record<string, unknown> => ({ pool: g.poolName, first: g.first, last: g.last, purpose: g.purpose, description: g.description, markUsed: g.markUsed })

export async function listRanges(knex: Knex, pool: PoolRef): Promise<RangeDto[]> {
  const p = await findPoolRow(knex, pool, false)
  const r = await knex.raw<Rows<RangeRow>>(`select ${COLUMNS} from ip_ranges g join ip_pools p on p.id = g.pool_id where g.pool_id = ? order by g.first_ip`, [p.id])
  return r.rows.map(toDto)
}

export async function addRange(knex: Knex, ctx: RequestContext, input: RangeCreateInput, opts: MutationOptions = {}): Promise<RangeDto> {
  const raw = (input ?? {}) as Partial<RangeCreateInput>
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_range', resourceName: raw.first && raw.last ? `${raw.first}-${raw.last}` : null, details: { after: { ...raw } } }
  await authorize(knex, ctx, 'admin', 'adding a range to a pool', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(rangeCreateSchema, input)
    const pool = await findPoolRow(trx, v.pool, true)
    const net = parseCidr(pool.network)
    const first = parseIp(v.first, 'first')
    const last = parseIp(v.last, 'last')
    for (const [f, ip] of [['first', first], ['last', last]] as const) {
      if (!cidrContains(net, ip)) throw validationError(f, `${ip.text} is outside pool "${pool.name}" (${net.text})`)
    }
    if (last.value < first.value) throw validationError('last', `${last.text} comes before ${first.text}`)
    const over = await trx.raw<Rows<{ first: string; last: string; purpose: string }>>(
      `select host(first_ip) as first, host(last_ip) as last, purpose from ip_ranges where pool_id = ? and first_ip <= ?::inet and last_ip >= ?::inet limit 1`,
      [pool.id, last.text, first.text]
    )
    if (over.rows[0]) {
      const o = over.rows[0]
      throw new AppError('CONFLICT', `first: ${first.text}-${last.text} overlaps the ${o.purpose} range ${o.first}-${o.last} of pool "${pool.name}"`, { field: 'first' })
    }
    const child = await trx.raw<Rows<{ name: string; network: string }>>(
      `select name, network::text as network from ip_pools where parent_id = ? and host(network)::inet <= ?::inet and host(broadcast(network))::inet >= ?::inet limit 1`,
      [pool.id, last.text, first.text]
    )
    if (child.rows[0]) {
      throw new AppError('CONFLICT', `first: ${first.text}-${last.text} overlaps child pool "${child.rows[0].name}" (${child.rows[0].network}); add the range there`, { field: 'first' })
    }
    const ins = await trx.raw<Rows<{ id: number }>>(
      `insert into ip_ranges (pool_id, first_ip, last_ip, purpose, description, mark_used, created_by) values (?, ?::inet, ?::inet, ?, ?, ?, ?) returning id`,
      [pool.id, first.text, last.text, v.purpose, v.description ?? null, v.markUsed ?? false, ctx.actor]
    )
    const dto = await one(trx, ins.rows[0]!.id)
    await appendAudit(trx, ctx, {
      action: 'create',
      resourceType: 'ip_range',
      resourceId: dto.id,
      resourceName: `${dto.first}-${dto.last}`,
      details: { after: snapshot(dto), ...(dto.held ? { context: { addressesAlreadyHeld: dto.held } } : {}) }
    })
    return dto
  }, opts.inTransaction)
}

async function one(q: Knex | Knex.Transaction, id: number): Promise<RangeDto> {
  const r = await q.raw<Rows<RangeRow>>(`select ${COLUMNS} from ip_ranges g join ip_pools p on p.id = g.pool_id where g.id = ?`, [id])
  if (!r.rows[0]) throw new AppError('NOT_FOUND', `range: no range #${id}`, { field: 'range' })
  return toDto(r.rows[0])
}

/** Removes a range by id, or by pool and first address. */
export async function removeRange(knex: Knex, ctx: RequestContext, ref: { id?: number; pool?: PoolRef; first?: string }, opts: MutationOptions = {}): Promise<RangeDto> {
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_range', resourceName: ref.first ?? (ref.id ? `#${ref.id}` : null), details: {} }
  await authorize(knex, ctx, 'admin', 'removing a range', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    let id = ref.id
    if (id === undefined) {
      if (ref.pool === undefined || !ref.first) throw validationError('range', 'give the range id, or the pool and the first address')
      const pool = await findPoolRow(trx, ref.pool, true)
      const first = parseIp(ref.first, 'first')
      const r = await trx.raw<Rows<{ id: number }>>(`select id from ip_ranges where pool_id = ? and first_ip = ?::inet`, [pool.id, first.text])
      if (!r.rows[0]) throw new AppError('NOT_FOUND', `first: pool "${pool.name}" has no range starting at ${first.text}`, { field: 'first' })
      id = r.rows[0].id
    } else {
      const r = await trx.raw<Rows<{ pool_id: number }>>(`select pool_id from ip_ranges where id = ?`, [id])
      if (!r.rows[0]) throw new AppError('NOT_FOUND', `range: no range #${id}`, { field: 'range' })
      await findPoolRow(trx, r.rows[0].pool_id, true)
    }
    const dto = await one(trx, id)
    entry.resourceId = dto.id
    await trx.raw(`delete from ip_ranges where id = ?`, [id])
    await appendAudit(trx, ctx, { action: 'delete', resourceType: 'ip_range', resourceId: dto.id, resourceName: `${dto.first}-${dto.last}`, details: { before: snapshot(dto) } })
    return dto
  }, opts.inTransaction)
}

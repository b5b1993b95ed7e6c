/**
 * Atomic bulk holds and releases: reserve or block every free address from first to last of a pool, or
 * release a run (or a list) of addresses, as one request and one transaction with one audit row per address.
 * Set-based: the free addresses are found and inserted by one statement each, however long the run (at most
 * 65,536 addresses), under the pool's row lock like every other write to the pool.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import { bulkHoldSchema, bulkReleaseSchema, type BulkHoldInput, type BulkReleaseInput, type BulkResult } from '../../../shared/ipam'
import { bigIntToIp, cidrContains, parseCidr, parseIp, usableRange } from '../../../shared/net'
import { appendAudits, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { parseUntil } from './allocation-input'
import { allocSnapshot } from './allocations'
import { authorize, mutate, type MutationOptions } from './mutation'
import { ALLOC_FIELDS, findPoolRow, parse, toAllocationDto, type AllocRow, type PoolRow, type Rows } from './rows'

const MAX = 65536n

function runOf(pool: PoolRow, firstText: string, lastText: string): { first: bigint; last: bigint; family: 4 | 6 } {
  const net = parseCidr(pool.network)
  const first = parseIp(firstText, 'first')
  const last = parseIp(lastText, 'last')
  if (!cidrContains(net, first)) throw validationError('first', `${first.text} is outside pool "${pool.name}" (${net.text})`)
  if (!cidrContains(net, last)) throw validationError('last', `${last.text} is outside pool "${pool.name}" (${net.text})`)
  if (last.value < first.value) throw validationError('last', `${last.text} comes before ${first.text}`)
  if (last.value - first.value + 1n > MAX) throw validationError('last', `at most ${MAX} addresses in one request`)
  return { first: first.value, last: last.value, family: net.family }
}

export async function holdRange(knex: Knex, ctx: RequestContext, input: BulkHoldInput, opts: MutationOptions = {}): Promise<BulkResult> {
  const raw = (input ?? {}) as Partial<BulkHoldInput>
  const operation = raw.status === 'blocked' ? 'block' : 'reserve'
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_allocation', resourceName: `${raw.first ?? ''}-${raw.last ?? ''}`, details: { after: { ...raw }, context: { operation: `${operation}-range` } } }
  await authorize(knex, ctx, 'operator', `${operation === 'block' ? 'blocking' : 'reserving'} a range of addresses`, entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(bulkHoldSchema, input)
    const until = parseUntil(v.until)
    if (until && v.status !== 'reserved') throw validationError('until', 'only reservations can expire')
    if (until && until.getTime() <= Date.now()) throw validationError('until', 'is in the past')
    const pool = await findPoolRow(trx, v.pool, true, false)
    if (!pool.is_active) throw new AppError('CONFLICT', `pool: "${pool.name}" is inactive; activate it before allocating from it`, { field: 'pool' })
    const run = runOf(pool, v.first, v.last)
    const net = parseCidr(pool.network)
    const u = usableRange(net)
    const ip = (x: bigint): string => bigIntToIp(x, run.family)
    const n = Number(run.last - run.first + 1n)
    // Every address of the run with why it is left alone (null: free, taken here).
    const cand = await trx.raw<Rows<{ ip: string; reason: string | null }>>(
      `with run as (select (?::inet + g) as ip from generate_series(0::bigint, ?::bigint - 1) g)
       select host(r.ip) as ip,
              case when r.ip < ?::inet or r.ip > ?::inet then 'network or broadcast address'
                   when r.ip = ?::inet then 'gateway'
                   when a.status is not null then 'already ' || a.status || coalesce(' to ' || coalesce(a.hostname, a.owner, a.allocated_by), '')
                   when c.name is not null then 'in child pool "' || c.name || '"'
                   when g.purpose = 'dhcp' and not ? then 'in the dhcp range ' || host(g.first_ip) || '-' || host(g.last_ip)
              end as reason
         from run r
         left join ip_allocations a on a.ip_address = r.ip and a.space_id = ?
         left join lateral (select x.name from ip_pools x where x.parent_id = ? and x.network >>= r.ip limit 1) c on true
         left join lateral (select y.purpose, y.first_ip, y.last_ip from ip_ranges y where y.pool_id = ? and y.first_ip <= r.ip and y.last_ip >= r.ip limit 1) g on true
        order by r.ip`,
      [ip(run.first), n, ip(u.first), ip(u.last), pool.gateway ?? '0.0.0.0', !!v.force, pool.space_id, pool.id, pool.id]
    )
    const free = cand.rows.filter((r) => r.reason === null).map((r) => r.ip)
    // The first 1,000 left alone are named; a whole /16 of them would only bloat the reply.
    const skipped = cand.rows.filter((r) => r.reason !== null).slice(0, 1000).map((r) => ({ ip: r.ip, reason: r.reason! }))
    if (!free.length) throw new AppError('CONFLICT', `first: no free address from ${v.first} to ${v.last} in pool "${pool.name}" (${skipped[0]?.ip}: ${skipped[0]?.reason})`, { field: 'first', skipped: skipped.slice(0, 20) })
    const ins = await trx.raw<Rows<AllocRow>>(
      `insert into ip_allocations as a (pool_id, space_id, ip_address, owner, purpose, description, status, reserved_until, allocated_by)
       select ?, ?, x, ?, ?, ?, ?, ?::timestamptz, ? from unnest(?::inet[]) as x order by x returning ${ALLOC_FIELDS}`,
      [pool.id, pool.space_id, v.owner || null, v.purpose || null, v.description || null, v.status, until, ctx.actor, free] as unknown as Knex.RawBinding[]
    )
    // Every free address of the run is taken now: take the run out of the free-space cache in one call.
    await trx.raw(`select ipam_free_take(?, ?::inet, ?::inet)`, [pool.id, ip(run.first), ip(run.last)])
    const items = ins.rows.map((r) => toAllocationDto({ ...r, pool_name: pool.name }))
    await appendAudits(
      trx,
      ctx,
      items.map((d) => ({
        action: 'create' as const,
        resourceType: 'ip_allocation',
        resourceId: d.id,
        resourceName: d.ip,
        details: { after: allocSnapshot(d), context: { operation, pool: pool.name, mode: 'range', range: `${v.first}-${v.last}` } }
      }))
    )
    return { pool: pool.name, items, skipped }
  }, opts.inTransaction)
}

export async function releaseMany(knex: Knex, ctx: RequestContext, input: BulkReleaseInput, opts: MutationOptions = {}): Promise<BulkResult> {
  const raw = (input ?? {}) as Partial<BulkReleaseInput>
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_allocation', resourceName: raw.first ? `${raw.first}-${raw.last ?? ''}` : null, details: { context: { operation: 'release-many', ...raw } } }
  await authorize(knex, ctx, 'operator', 'releasing addresses', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(bulkReleaseSchema, input)
    if (!v.ips?.length && !(v.first && v.last)) throw validationError('first', 'give first and last, or a list of addresses')
    const pool = await findPoolRow(trx, v.pool, true, false)
    const where: string[] = ['a.pool_id = ?']
    const b: Knex.RawBinding[] = [pool.id]
    if (v.first && v.last) {
      const run = runOf(pool, v.first, v.last)
      where.push('a.ip_address between ?::inet and ?::inet')
      b.push(bigIntToIp(run.first, run.family), bigIntToIp(run.last, run.family))
    }
    let asked: string[] = []
    if (v.ips?.length) {
      asked = v.ips.map((x) => parseIp(x, 'ips').text)
      where.push('a.ip_address = any(?::inet[])')
      b.push(asked as unknown as Knex.RawBinding)
    }
    if (v.status) {
      where.push('a.status = ?')
      b.push(v.status)
    }
    const del = await trx.raw<Rows<AllocRow>>(`delete from ip_allocations a where ${where.join(' and ')} returning ${ALLOC_FIELDS}`, b)
    const items = del.rows.map((r) => toAllocationDto({ ...r, pool_name: pool.name })).sort((x, y) => (parseIp(x.ip).value < parseIp(y.ip).value ? -1 : 1))
    const gone = new Set(items.map((i) => i.ip))
    const skipped = asked.filter((x) => !gone.has(x)).map((x) => ({ ip: x, reason: `not held in pool "${pool.name}"${v.status ? ` as ${v.status}` : ''}` }))
    if (!items.length) throw new AppError('NOT_FOUND', `first: nothing to release in pool "${pool.name}"${v.first ? ` from ${v.first} to ${v.last}` : ''}`, { field: 'first' })
    await trx.raw(`select ipam_rebuild_free_ranges(?)`, [pool.id])
    await appendAudits(
      trx,
      ctx,
      items.map((d) => ({
        action: 'delete' as const,
        resourceType: 'ip_allocation',
        resourceId: d.id,
        resourceName: d.ip,
        details: { before: allocSnapshot(d), context: { operation: 'release', pool: pool.name, mode: 'bulk' } }
      }))
    )
    return { pool: pool.name, items, skipped }
  }, opts.inTransaction)
}

/**
 * Utilization over time: the daily snapshot (one server function over every pool, see
 * Migration20261227100000_pool_usage), a pool's or every pool's history, per-pool thresholds (an admin's
 * change, audited in its transaction), and which pools are over their levels now.
 */
import type { Knex } from '@mikro-orm/postgresql'
import type { PoolRef } from '../../../shared/ipam'
import {
  DEFAULT_CRITICAL_PERCENT,
  DEFAULT_WARN_PERCENT,
  levelOf,
  thresholdSetSchema,
  usageHistorySchema,
  type PoolLevel,
  type ThresholdSetInput,
  type Thresholds,
  type UsageHistory,
  type UsageHistoryInput
} from '../../../shared/usage'
import { appendAudit, type AuditEntry } from '../audit/writer'
import { POOL_COUNTS_JOIN, POOL_COUNTS_USED } from './stats'
import type { RequestContext } from '../context'
import { authorize, mutate } from './mutation'
import { findPoolRow, parse, type Rows } from './rows'

const DEFAULTS: Thresholds = { warnPercent: DEFAULT_WARN_PERCENT, criticalPercent: DEFAULT_CRITICAL_PERCENT, custom: false }

/** Takes (or brings up to date) today's row of every pool; returns how many pools it wrote. */
export async function snapshotUsage(knex: Knex): Promise<number> {
  const r = await knex.raw<Rows<{ n: number }>>(`select ipam_snapshot_usage() as n`)
  return Number(r.rows[0]!.n)
}

async function thresholdsOf(q: Knex | Knex.Transaction, poolId: number): Promise<Thresholds> {
  const r = await q.raw<Rows<{ w: string; c: string }>>(`select warn_percent as w, critical_percent as c from ip_pool_thresholds where pool_id = ?`, [poolId])
  const row = r.rows[0]
  return row ? { warnPercent: Number(row.w), criticalPercent: Number(row.c), custom: true } : DEFAULTS
}

export async function usageHistory(knex: Knex, input: UsageHistoryInput): Promise<UsageHistory> {
  const v = parse(usageHistorySchema, input)
  if (v.pool !== undefined) {
    const pool = await findPoolRow(knex, v.pool, false)
    const rows = await knex.raw<Rows<{ day: string; percent: string; used: number; usable: string }>>(
      `select to_char(day, 'YYYY-MM-DD') as day, percent::text as percent, (allocated + reserved + blocked) as used, usable::text as usable
         from ip_pool_usage_daily where pool_id = ? and day > current_date - ?::int order by day`,
      [pool.id, v.days]
    )
    return {
      pool: { id: pool.id, name: pool.name },
      days: v.days,
      thresholds: await thresholdsOf(knex, pool.id),
      points: rows.rows.map((r) => ({ day: r.day, percent: Number(r.percent), used: Number(r.used), usable: r.usable }))
    }
  }
  // Every pool together: the share of all usable addresses in use, day by day.
  const rows = await knex.raw<Rows<{ day: string; used: string; usable: string }>>(
    `select to_char(day, 'YYYY-MM-DD') as day, sum(allocated + reserved + blocked)::text as used, sum(usable)::text as usable
       from ip_pool_usage_daily where day > current_date - ?::int group by day order by day`,
    [v.days]
  )
  return {
    pool: null,
    days: v.days,
    thresholds: DEFAULTS,
    points: rows.rows.map((r) => {
      const used = BigInt(r.used)
      const usable = BigInt(r.usable)
      return { day: r.day, used: Number(used), usable: r.usable, percent: usable === 0n ? 0 : Number((used * 10000n) / usable) / 100 }
    })
  }
}

export async function setThresholds(knex: Knex, ctx: RequestContext, input: ThresholdSetInput): Promise<Thresholds> {
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_pool', resourceName: String((input as { pool?: PoolRef }).pool ?? ''), details: { after: input } }
  await authorize(knex, ctx, 'admin', "changing a pool's utilization thresholds", entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(thresholdSetSchema, input)
    const pool = await findPoolRow(trx, v.pool, true)
    entry.resourceId = pool.id
    entry.resourceName = pool.name
    const before = await thresholdsOf(trx, pool.id)
    await trx.raw(
      `insert into ip_pool_thresholds (pool_id, warn_percent, critical_percent, updated_at) values (?, ?, ?, now())
       on conflict (pool_id) do update set warn_percent = excluded.warn_percent, critical_percent = excluded.critical_percent, updated_at = now()`,
      [pool.id, v.warnPercent, v.criticalPercent]
    )
    const after: Thresholds = { warnPercent: v.warnPercent, criticalPercent: v.criticalPercent, custom: true }
    if (before.warnPercent === after.warnPercent && before.criticalPercent === after.criticalPercent && before.custom) return after
    await appendAudit(trx, ctx, {
      action: 'update',
      resourceType: 'ip_pool',
      resourceId: pool.id,
      resourceName: pool.name,
      details: { before: { thresholds: { warnPercent: before.warnPercent, criticalPercent: before.criticalPercent } }, after: { thresholds: { warnPercent: after.warnPercent, criticalPercent: after.criticalPercent } } }
    })
    return after
  })
}

/** Every pool's use now against its thresholds (live counters, not the daily snapshot), highest first. */
export async function poolLevels(knex: Knex): Promise<PoolLevel[]> {
  const rows = await knex.raw<Rows<{ id: number; name: string; usable: string; used: number; w: string | null; c: string | null }>>(
    `select p.id, p.name, trunc(z.usable)::text as usable, (${POOL_COUNTS_USED})::int as used, t.warn_percent::text as w, t.critical_percent::text as c
       from ip_pools p
       left join ip_pool_thresholds t on t.pool_id = p.id
       cross join lateral (
         select greatest(0, power(2::numeric, (case family(p.network) when 4 then 32 else 128 end) - masklen(p.network))
                  - case when family(p.network) = 4 and masklen(p.network) < 31 then 2 when family(p.network) = 6 and masklen(p.network) < 127 then 1 else 0 end
                  - case when p.gateway is not null and p.gateway <<= p.network and p.gateway <> host(network(p.network))::inet
                              and (family(p.network) = 6 or masklen(p.network) >= 31 or p.gateway <> host(broadcast(p.network))::inet) then 1 else 0 end) as usable
       ) z
       ${POOL_COUNTS_JOIN('p')}
      where p.is_active`
  )
  const out: PoolLevel[] = []
  for (const r of rows.rows) {
    const usable = BigInt(r.usable)
    const percent = usable === 0n ? 0 : Number((BigInt(r.used) * 10000n) / usable) / 100
    const thresholds: Thresholds = r.w !== null && r.c !== null ? { warnPercent: Number(r.w), criticalPercent: Number(r.c), custom: true } : DEFAULTS
    out.push({ poolId: r.id, pool: r.name, percent, level: levelOf(percent, thresholds), thresholds })
  }
  return out.sort((a, b) => b.percent - a.percent || a.pool.localeCompare(b.pool))
}


/** What the importer needs to know about the target database: its pools, what was imported before, who holds which address. */
import type { Knex } from '@mikro-orm/postgresql'
import { parseCidr } from '../../../shared/net'
import type { AddressHolder, PlanSource, TargetPool, TargetState } from './plan'

type Rows<T> = { rows: T[] }
type Q = Knex | Knex.Transaction

const CHUNK = 20_000

/**
 * The target space's pools (names and networks clash only within a space: an import into customer B's space is
 * not refused over customer A's pools), and which of the file's legacy ids were imported before.
 */
export async function loadTarget(q: Q, source: PlanSource, spaceId: number): Promise<TargetState> {
  const pools = await q.raw<Rows<{ id: number; name: string; network: string; gateway: string | null }>>(
    `select id, name, network::text as network, host(gateway) as gateway from ip_pools where space_id = ? order by id`,
    [spaceId]
  )
  const targetPools: TargetPool[] = pools.rows.map((r) => ({ id: r.id, name: r.name, network: parseCidr(r.network), gateway: r.gateway }))
  const poolMap: TargetState['poolMap'] = new Map()
  const allocMap: TargetState['allocMap'] = new Set()
  const any = await q.raw<Rows<{ n: boolean }>>(`select exists (select 1 from legacy_import_map) as n`)
  if (!any.rows[0]?.n) return { pools: targetPools, poolMap, allocMap }
  const poolIds = source.pools.map((p) => (p.id ?? '').trim()).filter(Boolean)
  for (let i = 0; i < poolIds.length; i += CHUNK) {
    const r = await q.raw<Rows<{ legacy_id: string; target_id: number; action: 'created' | 'renamed' | 'merged' }>>(
      `select legacy_id, target_id, action from legacy_import_map where source_table = 'ip_pools' and legacy_id = any(?::text[])`,
      [poolIds.slice(i, i + CHUNK)]
    )
    for (const row of r.rows) poolMap.set(row.legacy_id, { targetId: row.target_id, action: row.action })
  }
  // Allocation ids are streamed from the file and asked about in batches; only the hits are kept.
  const ask = async (ids: string[]): Promise<void> => {
    const r = await q.raw<Rows<{ legacy_id: string }>>(
      `select legacy_id from legacy_import_map where source_table = 'ip_allocations' and legacy_id = any(?::text[])`,
      [ids]
    )
    for (const row of r.rows) allocMap.add(row.legacy_id)
  }
  let batch: string[] = []
  for (const a of source.allocations()) {
    const id = (a.id ?? '').trim()
    if (id) batch.push(id)
    if (batch.length === CHUNK) {
      await ask(batch)
      batch = []
    }
  }
  if (batch.length) await ask(batch)
  return { pools: targetPools, poolMap, allocMap }
}

export async function addressHolders(q: Q, ips: string[], spaceId: number): Promise<Map<string, AddressHolder>> {
  const out = new Map<string, AddressHolder>()
  for (let i = 0; i < ips.length; i += CHUNK) {
    const r = await q.raw<Rows<{ ip: string; id: number; pool_name: string; hostname: string | null; status: string }>>(
      `select host(a.ip_address) as ip, a.id, p.name as pool_name, a.hostname, a.status
         from ip_allocations a join ip_pools p on p.id = a.pool_id where a.ip_address = any(?::inet[]) and a.space_id = ?`,
      [ips.slice(i, i + CHUNK), spaceId]
    )
    for (const row of r.rows) out.set(row.ip, { id: row.id, poolName: row.pool_name, hostname: row.hostname, status: row.status })
  }
  return out
}

/** Row locks on the existing pools an import adds to, in id order (the same order every writer takes). */
export async function lockPools(trx: Knex.Transaction, ids: number[]): Promise<void> {
  if (!ids.length) return
  await trx.raw(`select id from ip_pools where id = any(?::int[]) order by id for update`, [ids])
}

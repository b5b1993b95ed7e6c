/**
 * The free space of a pool, kept as ranges in ip_free_ranges. Every function here runs inside a
 * transaction that holds the pool's row lock (see pools.ts and allocations.ts), so the ranges and the
 * allocations never disagree. Address arithmetic is done here with BigInt, so SQL never computes past the
 * ends of the address space.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { bigIntToIp, parseIp, type Family } from '../../../shared/net'

export interface FreeRange {
  first: bigint
  last: bigint
}

type Rows<T> = { rows: T[] }

export async function rebuildFreeRanges(trx: Knex.Transaction, poolId: number): Promise<void> {
  await trx.raw(`select ipam_rebuild_free_ranges(?)`, [poolId])
}

/** The free range holding `ip`, if the address is free. */
export async function rangeHolding(trx: Knex.Transaction, poolId: number, ip: string): Promise<FreeRange | null> {
  const r = await trx.raw<Rows<{ first_ip: string; last_ip: string }>>(
    `select host(first_ip) as first_ip, host(last_ip) as last_ip from ip_free_ranges
      where pool_id = ? and first_ip <= ?::inet order by ip_free_ranges.first_ip desc limit 1`,
    [poolId, ip]
  )
  const row = r.rows[0]
  if (!row) return null
  const range = { first: parseIp(row.first_ip).value, last: parseIp(row.last_ip).value }
  return parseIp(ip).value <= range.last ? range : null
}

/** Removes one address from the range that holds it, splitting the range if needed. */
export async function takeAddress(trx: Knex.Transaction, poolId: number, family: Family, range: FreeRange, ip: bigint): Promise<void> {
  const t = (v: bigint): string => bigIntToIp(v, family)
  if (range.first === range.last) {
    await trx.raw(`delete from ip_free_ranges where pool_id = ? and first_ip = ?::inet`, [poolId, t(range.first)])
  } else if (ip === range.first) {
    await trx.raw(`update ip_free_ranges set first_ip = ?::inet where pool_id = ? and first_ip = ?::inet`, [t(ip + 1n), poolId, t(range.first)])
  } else if (ip === range.last) {
    await trx.raw(`update ip_free_ranges set last_ip = ?::inet where pool_id = ? and first_ip = ?::inet`, [t(ip - 1n), poolId, t(range.first)])
  } else {
    await trx.raw(`update ip_free_ranges set last_ip = ?::inet where pool_id = ? and first_ip = ?::inet`, [t(ip - 1n), poolId, t(range.first)])
    await trx.raw(`insert into ip_free_ranges (pool_id, first_ip, last_ip) values (?, ?::inet, ?::inet)`, [poolId, t(ip + 1n), t(range.last)])
  }
}

/** Returns an address to the free space, merging it with its neighbours. */
export async function giveAddress(trx: Knex.Transaction, poolId: number, family: Family, ip: bigint, usable: { first: bigint; last: bigint }): Promise<void> {
  const t = (v: bigint): string => bigIntToIp(v, family)
  if (ip < usable.first || ip > usable.last) return
  const left =
    ip > usable.first
      ? (await trx.raw<Rows<{ first_ip: string }>>(`select host(first_ip) as first_ip from ip_free_ranges where pool_id = ? and last_ip = ?::inet`, [poolId, t(ip - 1n)])).rows[0]
      : undefined
  const right =
    ip < usable.last
      ? (await trx.raw<Rows<{ last_ip: string }>>(`delete from ip_free_ranges where pool_id = ? and first_ip = ?::inet returning host(last_ip) as last_ip`, [poolId, t(ip + 1n)])).rows[0]
      : undefined
  const newLast = right ? right.last_ip : t(ip)
  if (left) {
    await trx.raw(`update ip_free_ranges set last_ip = ?::inet where pool_id = ? and first_ip = ?::inet`, [newLast, poolId, left.first_ip])
  } else {
    await trx.raw(`insert into ip_free_ranges (pool_id, first_ip, last_ip) values (?, ?::inet, ?::inet)`, [poolId, t(ip), newLast])
  }
}

/**
 * Utilization over time (issue 20): daily snapshots of every pool's use, per-pool thresholds (80 % and
 * 95 % unless set) and the crossings that raise a desktop notification once. Imports nothing from node,
 * electron or vue.
 */
import { z } from 'zod'
import { lazySchema } from './lazy-schema'
import { poolRef } from './ipam'

export const DEFAULT_WARN_PERCENT = 80
export const DEFAULT_CRITICAL_PERCENT = 95

export const usageHistorySchema = lazySchema(() =>
  z
    .object({
      /** One pool; without it, every pool together (the dashboard). */
      pool: poolRef.optional(),
      days: z.number().int().min(2, 'must be 2-366').max(366, 'must be 2-366').default(90)
    })
    .strict()
)
export type UsageHistoryInput = z.input<typeof usageHistorySchema>

const percent = () =>
  z
    .number('must be a number')
    .min(1, 'must be 1-100')
    .max(100, 'must be 1-100')
    .multipleOf(0.01, 'may have at most two decimals')

export const thresholdSetSchema = lazySchema(() =>
  z
    .object({
      pool: poolRef,
      warnPercent: percent(),
      criticalPercent: percent()
    })
    .strict()
    .refine((v) => v.warnPercent <= v.criticalPercent, { message: 'must not be above the critical level', path: ['warnPercent'] })
)
export type ThresholdSetInput = z.input<typeof thresholdSetSchema>

export interface UsagePoint {
  /** YYYY-MM-DD, the server's date of the snapshot. */
  day: string
  percent: number
  /** Allocated + reserved (unexpired) + blocked. */
  used: number
  /** Decimal string (IPv6 is big). */
  usable: string
}

export interface Thresholds {
  warnPercent: number
  criticalPercent: number
  /** False while the pool uses the defaults. */
  custom: boolean
}

export interface UsageHistory {
  pool: { id: number; name: string } | null
  days: number
  points: UsagePoint[]
  /** The pool's (or, for every pool, the defaults). */
  thresholds: Thresholds
}

export type UsageLevel = 'ok' | 'warn' | 'critical'

export interface PoolLevel {
  poolId: number
  pool: string
  percent: number
  level: UsageLevel
  thresholds: Thresholds
}

export interface UsageAlerts {
  /** Every pool at or above its warning level now. */
  over: PoolLevel[]
  /** Pools that went up a level since this installation last looked: notify once each. */
  crossed: PoolLevel[]
}

export function levelOf(percent: number, t: Pick<Thresholds, 'warnPercent' | 'criticalPercent'>): UsageLevel {
  return percent >= t.criticalPercent ? 'critical' : percent >= t.warnPercent ? 'warn' : 'ok'
}

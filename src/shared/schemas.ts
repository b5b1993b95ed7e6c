/** Validation schemas shared by the core, the CLI and the renderer's forms. No node, electron or vue. */
import { z } from 'zod'
import { SSL_MODES } from './choices'

export { SSL_MODES }
export type SslMode = (typeof SSL_MODES)[number]

/**
 * Pool settings for a desktop client: one person, a handful of concurrent requests. Small pool, connections
 * that go away when idle (a laptop should not pin server slots), a bounded lifetime so failovers and
 * credential rotations are picked up, and an acquire timeout short enough to report "unreachable" quickly.
 */
export const poolSettingsSchema = z
  .object({
    max: z.number().int().min(1).max(50).default(4),
    acquireTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
    idleTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(30_000),
    maxLifetimeMs: z.number().int().min(1_000).max(86_400_000).default(1_800_000)
  })
  .strict()
export type PoolSettings = z.output<typeof poolSettingsSchema>

export const dbProfileSchema = z
  .object({
    name: z.string().trim().min(1, 'is required').max(64, 'must be at most 64 characters').default('default'),
    host: z.string().trim().min(1, 'is required').max(255),
    port: z.number().int().min(1, 'must be 1-65535').max(65535, 'must be 1-65535').default(5432),
    database: z.string().trim().min(1, 'is required').max(63),
    user: z.string().trim().min(1, 'is required').max(63),
    sslMode: z.enum(SSL_MODES).default('prefer'),
    caFile: z.string().trim().min(1).optional(),
    pool: poolSettingsSchema.default(poolSettingsSchema.parse({}))
  })
  .strict()
export type DbProfile = z.output<typeof dbProfileSchema>

/** Turn the first zod issue into "field: reason", the form every refusal takes. */
export function describeIssue(err: z.ZodError): { field: string; reason: string } {
  const issue = err.issues[0]
  const field = issue?.path.length ? issue.path.join('.') : '(input)'
  return { field, reason: issue?.message ?? 'is invalid' }
}

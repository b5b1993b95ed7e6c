/**
 * Who is asking, and from where. Every core service takes one; IPC handlers and CLI commands build it.
 */
import { randomUUID } from 'node:crypto'
import { AppError } from '../../shared/errors'

export const ROLES = ['viewer', 'operator', 'admin'] as const
export type Role = (typeof ROLES)[number]
export type Source = 'ui' | 'cli' | 'import' | 'replay'

export interface RequestContext {
  actor: string
  roles: readonly Role[]
  requestId: string
  source: Source
  ip?: string
  userAgent?: string
  /** Set when an offline-queued edit is replayed: goes into every audit row's details.context. */
  replay?: { idempotencyKey: string; queuedAt: string; replayedAt: string }
}

export function makeContext(partial: Partial<RequestContext> & Pick<RequestContext, 'actor' | 'source'>): RequestContext {
  return { roles: ['viewer'], requestId: randomUUID(), ...partial }
}

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 }

export function hasRole(ctx: Pick<RequestContext, 'roles'>, needed: Role): boolean {
  return ctx.roles.some((r) => rank[r] >= rank[needed])
}

/**
 * `roles` narrowed to at most the highest role in `cap` (one role, or none): someone acting on another
 * person's behalf (replaying their queued edit) never acts with more than their own role.
 */
export function capRoles(roles: readonly Role[], cap: readonly Role[]): Role[] {
  const top = Math.max(-1, ...cap.map((r) => rank[r]))
  const own = Math.max(-1, ...roles.map((r) => rank[r]))
  const r = Math.min(top, own)
  return r < 0 ? [] : [ROLES[r]!]
}

export function requireRole(ctx: RequestContext, needed: Role, what: string): void {
  if (!hasRole(ctx, needed)) {
    throw new AppError('FORBIDDEN', `${what} needs the ${needed} role; ${ctx.actor} has ${ctx.roles.join(', ') || 'no role'}`, {
      needed,
      actor: ctx.actor
    })
  }
}

/**
 * Bulk actions on selected users (the users table's multi-select, `user bulk`): lock, unlock, add to or
 * remove from a group, set expiry, delete. One call is one request: every audit row it writes carries the
 * same request id, so the log shows the bulk action as one thing. Each user is changed through the same
 * service as a single change (same checks, same audit rows); a failure on one is reported and the others go
 * on. Group changes are one membership change for all of them.
 *
 * The groups table's multi-select (runGroups, `group bulk`): add or remove the same members to or from
 * several groups, or delete several groups; again one request id, one audited change per group.
 *
 * Both take a progress callback and a cancel flag (the app polls them through directory/jobs.ts, the CLI
 * prints them): a cancel stops before the next entry and the result lists what was done and what was never
 * attempted, since LDAP has no transaction to roll back.
 */
import { bulkSchema, groupBulkSchema, type BulkResult, type GroupBulkResult } from '../../../shared/directory-admin'
import type { AppError } from '../../../shared/errors'
import { requireRole } from '../context'
import type { DirectoryAudit } from './audited'
import type { AccountExpiry } from './expiry'
import type { GroupDirectory } from './groups'
import { parseInput, type DirectoryScope } from './scope'
import type { UserDirectory } from './users'

export class BulkActions {
  constructor(
    private readonly audit: DirectoryAudit,
    private readonly users: UserDirectory,
    private readonly groups: GroupDirectory,
    private readonly expiry: AccountExpiry
  ) {}

  async run(scope: DirectoryScope, input: unknown, onProgress?: (done: number, total: number, current: string) => void, cancelled?: () => boolean): Promise<BulkResult> {
    const v = parseInput(bulkSchema, input)
    try {
      requireRole(scope.ctx, v.action === 'delete' ? 'admin' : 'operator', `bulk ${v.action}`)
    } catch (e) {
      await this.audit.refused(scope.ctx, { action: 'authorize', resourceType: 'ldap_user', resourceName: `bulk ${v.action}`, details: { context: { profile: scope.conn.profile.name, attempted: v.action, uids: v.uids.length } } }, e as AppError)
      throw e
    }
    const uids = [...new Set(v.uids)]
    const r: BulkResult = { action: v.action, requestId: scope.ctx.requestId, done: [], unchanged: [], failed: [], cancelled: false, notAttempted: [] }
    if (v.action === 'addToGroup' || v.action === 'removeFromGroup') {
      try {
        const m = await (v.action === 'addToGroup' ? this.groups.addMembers(scope, { cn: v.group!, members: uids }) : this.groups.removeMembers(scope, { cn: v.group!, members: uids }))
        const changed = new Set(m.changed.map((x) => x.toLowerCase()))
        for (const u of uids) (changed.has(u.toLowerCase()) ? r.done : r.unchanged).push(u)
      } catch (e) {
        for (const u of uids) r.failed.push({ uid: u, message: (e as Error).message })
      }
      return r
    }
    for (const [i, uid] of uids.entries()) {
      if (cancelled?.()) {
        r.cancelled = true
        r.notAttempted = uids.slice(i)
        break
      }
      onProgress?.(i, uids.length, uid)
      try {
        if (v.action === 'lock' || v.action === 'unlock') {
          const x = v.action === 'lock' ? await this.users.lock(scope, uid) : await this.users.unlock(scope, uid)
          ;(x.changed ? r.done : r.unchanged).push(uid)
        } else if (v.action === 'setExpiry') {
          const x = await this.expiry.set(scope, { uid, on: v.expires ?? null })
          ;(x.changed ? r.done : r.unchanged).push(uid)
        } else {
          await this.users.delete(scope, uid)
          r.done.push(uid)
        }
      } catch (e) {
        r.failed.push({ uid, message: (e as Error).message })
      }
    }
    if (!r.cancelled) onProgress?.(uids.length, uids.length, '')
    return r
  }

  async runGroups(scope: DirectoryScope, input: unknown, onProgress?: (done: number, total: number, current: string) => void, cancelled?: () => boolean): Promise<GroupBulkResult> {
    const v = parseInput(groupBulkSchema, input)
    try {
      requireRole(scope.ctx, v.action === 'delete' ? 'admin' : 'operator', `bulk ${v.action} on groups`)
    } catch (e) {
      await this.audit.refused(scope.ctx, { action: 'authorize', resourceType: 'ldap_group', resourceName: `bulk ${v.action}`, details: { context: { profile: scope.conn.profile.name, attempted: v.action, groups: v.cns.length } } }, e as AppError)
      throw e
    }
    const seen = new Set<string>()
    const cns = v.cns.filter((c) => !seen.has(c.toLowerCase()) && seen.add(c.toLowerCase()))
    const members = [...new Set(v.members ?? [])]
    const r: GroupBulkResult = { action: v.action, requestId: scope.ctx.requestId, done: [], unchanged: [], failed: [], cancelled: false, notAttempted: [] }
    for (const [i, cn] of cns.entries()) {
      if (cancelled?.()) {
        r.cancelled = true
        r.notAttempted = cns.slice(i)
        break
      }
      onProgress?.(i, cns.length, cn)
      try {
        if (v.action === 'delete') {
          await this.groups.delete(scope, cn)
          r.done.push(cn)
        } else {
          const m = await (v.action === 'addMembers' ? this.groups.addMembers(scope, { cn, members }) : this.groups.removeMembers(scope, { cn, members }))
          ;(m.changed.length ? r.done : r.unchanged).push(cn)
        }
      } catch (e) {
        r.failed.push({ cn, message: (e as Error).message })
      }
    }
    if (!r.cancelled) onProgress?.(cns.length, cns.length, '')
    return r
  }
}

/**
 * Directory (LDAP) edits in the offline queue: how they read in words, how replay applies them under the
 * signed-in session's bind, what a conflict shows of the server's side, and the compact result kept with
 * the idempotency key.
 *
 * LDAP and PostgreSQL share no transaction, so the key is recorded in PostgreSQL right after the directory
 * took the change. A replayer killed between the two finds no key and sends the edit again; the directory
 * then refuses it (the entry exists, the version moved, the member is already there...), which lands in
 * the conflicts list with both sides: never applied twice silently, never overwriting.
 */
import { AppError } from '../../../shared/errors'
import type { DirectoryEdit, QueueEntryDto } from '../../../shared/offline'
import type { GroupDeleteResult, GroupDto, LockResult, MembersResult, UserDeleteResult, UserDto } from '../../../shared/directory'
import type { Core } from '..'
import type { DirectoryScope } from '../directory/scope'

export function describeDirectoryEdit(e: DirectoryEdit): string {
  const a = e.args as Record<string, unknown>
  const list = (v: unknown): string => (Array.isArray(v) && v.length ? v.join(', ') : '')
  switch (e.operation) {
    case 'directory.user.create':
      return `create user ${String(a.uid)}`
    case 'directory.user.update':
      return `update user ${String(a.uid)}`
    case 'directory.user.delete':
      return `delete user ${String(a.uid)}`
    case 'directory.user.lock':
      return `lock user ${String(a.uid)}`
    case 'directory.user.unlock':
      return `unlock user ${String(a.uid)}`
    case 'directory.group.create':
      return `create group ${String(a.cn)}`
    case 'directory.group.update':
      return `update group ${String(a.cn)}`
    case 'directory.group.delete':
      return `delete group ${String(a.cn)}`
    case 'directory.group.members.add':
      return `add ${[list(a.members), list(a.groups)].filter(Boolean).join(', ')} to group ${String(a.cn)}`
    case 'directory.group.members.remove':
      return `remove ${[list(a.members), list(a.groups)].filter(Boolean).join(', ')} from group ${String(a.cn)}`
  }
}

export async function applyDirectoryEdit(core: Core, scope: DirectoryScope, edit: DirectoryEdit): Promise<unknown> {
  const d = core.directory
  switch (edit.operation) {
    case 'directory.user.create':
      return d.users.create(scope, edit.args)
    case 'directory.user.update':
      return d.users.update(scope, edit.args)
    case 'directory.user.delete':
      return d.users.delete(scope, edit.args.uid)
    case 'directory.user.lock':
      return d.users.lock(scope, edit.args.uid)
    case 'directory.user.unlock':
      return d.users.unlock(scope, edit.args.uid)
    case 'directory.group.create':
      return d.groups.create(scope, edit.args)
    case 'directory.group.update':
      return d.groups.update(scope, edit.args)
    case 'directory.group.delete':
      return d.groups.delete(scope, edit.args.cn)
    case 'directory.group.members.add':
      return d.groups.addMembers(scope, edit.args)
    case 'directory.group.members.remove':
      return d.groups.removeMembers(scope, edit.args)
  }
}

export function summarizeDirectory(e: QueueEntryDto, r: unknown): Record<string, unknown> {
  switch (e.operation) {
    case 'directory.user.create':
    case 'directory.user.update': {
      const u = r as UserDto
      return { user: { uid: u.uid, dn: u.dn, version: u.version } }
    }
    case 'directory.user.delete':
      return { deleted: (r as UserDeleteResult).dn }
    case 'directory.user.lock':
    case 'directory.user.unlock':
      return { user: (e.args as { uid: string }).uid, locked: (r as LockResult).locked }
    case 'directory.group.create':
    case 'directory.group.update': {
      const g = r as GroupDto
      return { group: { cn: g.cn, dn: g.dn, version: g.version } }
    }
    case 'directory.group.delete':
      return { deleted: (r as GroupDeleteResult).dn }
    default: {
      const m = r as MembersResult
      return { group: m.group.cn, changed: m.changed, unchanged: m.unchanged }
    }
  }
}

/** What the directory holds now for the entry's target, for the conflicts list. Never throws. */
export async function directoryServerSide(core: Core, scope: DirectoryScope, e: QueueEntryDto): Promise<unknown> {
  const a = e.args as { uid?: string; cn?: string }
  try {
    if (a.uid !== undefined) return await core.directory.users.get(scope, a.uid)
    if (a.cn !== undefined) return await core.directory.groups.get(scope, a.cn)
  } catch (err) {
    if (err instanceof AppError && err.code === 'NOT_FOUND') return null
    return { unreadable: (err as Error).message }
  }
  return null
}

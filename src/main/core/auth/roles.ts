/**
 * The role of a bound identity, from the directory itself: a bind DN listed in the profile's adminDns is
 * admin; otherwise the highest role any of its groups maps to. Groups count directly (member, uniqueMember
 * or memberUid) and through nesting (a group that is a member of a mapped group), up to 8 levels, cycles
 * cut. The search covers the whole base DN (role groups often live apart from the groups Netkeeper
 * manages) and runs on the identity's own connection, so the directory's ACLs decide what it may see.
 */
import { dnEquals, normalizeDn } from '../../../shared/dn'
import type { DirectoryRole } from '../../../shared/directory'
import type { LdapConnection } from '../directory/connection'
import { and, eq, GROUP_CLASSES, or } from '../directory/filters'

const RANK: Record<DirectoryRole, number> = { viewer: 0, operator: 1, admin: 2 }
const MAX_DEPTH = 8
const MAX_GROUPS = 500

export interface RoleResult {
  role: DirectoryRole | null
  /** What gave the role: "adminDns" or the cn of each mapped group. */
  via: string[]
  /** Every group the identity is in, directly or nested (cn). */
  groups: string[]
}

const norm = (dn: string): string => {
  try {
    return normalizeDn(dn)
  } catch {
    return dn.toLowerCase()
  }
}

export async function resolveRole(conn: LdapConnection, identity: { dn: string; uid: string | null }): Promise<RoleResult> {
  const p = conn.profile
  if (p.adminDns.some((a) => dnEquals(a, identity.dn))) return { role: 'admin', via: ['adminDns'], groups: [] }

  const seen = new Map<string, { cn: string; dn: string }>()
  let frontier: string[] = [identity.dn]
  for (let depth = 0; depth < MAX_DEPTH && frontier.length && seen.size < MAX_GROUPS; depth++) {
    const by = frontier.flatMap((dn) => [eq('member', dn), eq('uniqueMember', dn)])
    if (depth === 0 && identity.uid) by.push(eq('memberUid', identity.uid))
    const found = await conn.search(p.baseDn, { filter: and(GROUP_CLASSES, or(...by)), attributes: ['cn'] }, 'read group membership')
    frontier = []
    for (const g of found) {
      const k = norm(g.dn)
      if (seen.has(k)) continue
      seen.set(k, { cn: g.first('cn') ?? '', dn: g.dn })
      frontier.push(g.dn)
    }
  }

  const groups = [...seen.values()]
  let role: DirectoryRole | null = null
  const via: string[] = []
  for (const r of ['admin', 'operator', 'viewer'] as const) {
    for (const ref of p.roles[r]) {
      const hit = groups.find((g) => (ref.includes('=') ? norm(ref) === norm(g.dn) : g.cn.toLowerCase() === ref.toLowerCase()))
      if (!hit) continue
      if (role === null || RANK[r] > RANK[role]) role = r
      if (role === r) via.push(hit.cn)
    }
    if (role) break
  }
  return { role, via, groups: groups.map((g) => g.cn) }
}

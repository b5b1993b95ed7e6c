/**
 * The command palette's directory look-ups: a few users or groups for a few typed letters, fast on a
 * directory of 50,000 entries that Netkeeper does not configure.
 *
 * What it assumes of the server: the attributes searched (uid, cn, mail for users; cn for groups) carry an
 * equality index and, usually, a substring index (`index uid,cn,mail eq,sub` is the common OpenLDAP
 * setting; Debian's default has `cn,uid eq`). The filters therefore use only those attributes, and for
 * users only prefixes (subinitial keys, indexed from two characters), never `*text*` over fields that may
 * have no index: one unindexed term in an OR makes the whole OR a walk of the container. Each search is a
 * plain search with a size limit (no paging control, no cursor to close), so the server stops at `limit`
 * entries and a search superseded by the next keystroke costs at most that many.
 *
 * Ranking: a size-limited search returns whatever entries the server finds first, so the exact match is
 * asked for in a second, equality-only search sent at the same time on the same connection, and put first;
 * the rest are ordered: name starts with the text, then the others, each alphabetically.
 */
import type { Filter } from 'ldapts'
import type { GroupDto, UserDto } from '../../../shared/directory'
import type { LdapConnection, LdapEntry } from './connection'
import { GROUP_ATTRS, toGroupDto, toUserDto, USER_ATTRS } from './entries'
import { and, contains, eq, GROUP_CLASSES, or, startsWith, USER_CLASS } from './filters'

export interface QuickFound<T> {
  items: T[]
  /** More entries match than were returned (the size limit was reached). */
  more: boolean
}

async function twoSearches(conn: LdapConnection, base: string, exact: Filter, some: Filter, attributes: string[], limit: number, what: string): Promise<{ exact: LdapEntry[]; some: LdapEntry[] }> {
  const [e, s] = await Promise.all([
    conn.search(base, { filter: exact, attributes, sizeLimit: limit }, `${what} (exact)`),
    // One more than shown tells whether there are more.
    conn.search(base, { filter: some, attributes, sizeLimit: limit + 1 }, what)
  ])
  return { exact: e, some: s }
}

function ranked<T>(exact: T[], some: T[], key: (t: T) => string, text: string, limit: number): QuickFound<T> {
  const t = text.toLowerCase()
  const seen = new Set(exact.map(key))
  const rest = some.filter((x) => !seen.has(key(x)))
  rest.sort((a, b) => {
    const pa = key(a).toLowerCase().startsWith(t) ? 0 : 1
    const pb = key(b).toLowerCase().startsWith(t) ? 0 : 1
    return pa - pb || key(a).localeCompare(key(b))
  })
  const all = [...exact, ...rest]
  return { items: all.slice(0, limit), more: some.length > limit || all.length > limit }
}

export async function quickFindUsers(conn: LdapConnection, text: string, limit: number): Promise<QuickFound<UserDto>> {
  const exactTerms = [eq('uid', text), eq('mail', text)]
  const someTerms = [startsWith('uid', text), startsWith('cn', text), startsWith('mail', text)]
  if (/^\d+$/.test(text)) exactTerms.push(eq('uidNumber', text))
  const r = await twoSearches(conn, conn.profile.usersDn, and(USER_CLASS, or(...exactTerms)), and(USER_CLASS, or(...someTerms)), USER_ATTRS, limit, `find users like ${JSON.stringify(text)}`)
  return ranked(r.exact.map(toUserDto), r.some.map(toUserDto), (u) => u.uid, text, limit)
}

export async function quickFindGroups(conn: LdapConnection, text: string, limit: number): Promise<QuickFound<GroupDto>> {
  // Groups are few next to users, and their names are made of words ("net-admins"): anywhere in cn.
  const r = await twoSearches(conn, conn.profile.groupsDn, and(GROUP_CLASSES, eq('cn', text)), and(GROUP_CLASSES, contains('cn', text)), GROUP_ATTRS, limit, `find groups like ${JSON.stringify(text)}`)
  return ranked(r.exact.map(toGroupDto), r.some.map(toGroupDto), (g) => g.cn, text, limit)
}

/**
 * Search filters as ldapts filter objects, never as strings. The objects are BER-encoded on the wire with
 * each assertion value as its own octet string, so a value is never parsed as filter syntax: `*)(uid=*`
 * is searched for as those nine characters. (For logs and docs, `toString()` on a filter gives the RFC 4515
 * form with the values escaped.)
 */
import { AndFilter, Attribute, Change, EqualityFilter, type Filter, NotFilter, OrFilter, PresenceFilter, SubstringFilter } from 'ldapts'

export const eq = (attribute: string, value: string): Filter => new EqualityFilter({ attribute, value })
export const present = (attribute: string): Filter => new PresenceFilter({ attribute })
export const contains = (attribute: string, text: string): Filter => new SubstringFilter({ attribute, any: [text] })
export const startsWith = (attribute: string, text: string): Filter => new SubstringFilter({ attribute, initial: text })
export const and = (...filters: Filter[]): Filter => (filters.length === 1 ? filters[0]! : new AndFilter({ filters }))
export const or = (...filters: Filter[]): Filter => (filters.length === 1 ? filters[0]! : new OrFilter({ filters }))
export const not = (filter: Filter): Filter => new NotFilter({ filter })
export const isClass = (name: string): Filter => eq('objectClass', name)

/** People Netkeeper lists and manages: POSIX accounts and inetOrgPerson entries. */
export const USER_CLASS = or(isClass('posixAccount'), isClass('inetOrgPerson'))
export const GROUP_CLASSES = or(isClass('posixGroup'), isClass('groupOfNames'), isClass('groupOfUniqueNames'))

export const change = (operation: 'add' | 'delete' | 'replace', type: string, values: string[]): Change =>
  new Change({ operation, modification: new Attribute({ type, values }) })

/**
 * The LDAP entries of users and groups as the rest of the directory code sees them: the attributes read,
 * the DTOs built from them, their audit snapshots, and the modify that changes one attribute. Shared by
 * users.ts and groups.ts (a user's rename or delete rewrites group memberships; a group edit uses the same
 * modify), so neither has to import the other for them.
 */
import type { Change } from 'ldapts'
import type { GroupDto, UserDto } from '../../../shared/directory'
import type { LdapEntry } from './connection'
import { change } from './filters'
import { epochDays } from './password'

export const USER_ATTRS = [
  'objectClass',
  'uid',
  'cn',
  'sn',
  'givenName',
  'mail',
  'uidNumber',
  'gidNumber',
  'homeDirectory',
  'loginShell',
  'gecos',
  'description',
  'shadowExpire',
  'shadowLastChange',
  'pwdAccountLockedTime',
  'entryCSN',
  'modifyTimestamp'
]

export function toUserDto(e: LdapEntry): UserDto {
  const shadowExpire = e.int('shadowExpire')
  return {
    dn: e.dn,
    uid: e.first('uid') ?? '',
    cn: e.first('cn') ?? '',
    sn: e.first('sn'),
    givenName: e.first('givenName'),
    mail: e.first('mail'),
    uidNumber: e.int('uidNumber'),
    gidNumber: e.int('gidNumber'),
    homeDirectory: e.first('homeDirectory'),
    loginShell: e.first('loginShell'),
    gecos: e.first('gecos'),
    description: e.first('description'),
    locked: e.has('pwdAccountLockedTime') || (shadowExpire !== null && shadowExpire <= epochDays()),
    objectClasses: e.all('objectClass'),
    version: e.first('entryCSN') ?? e.first('modifyTimestamp')
  }
}

/** The audit snapshot of a user: what a person cares about, no bookkeeping, never a password. */
export function userSnapshot(u: UserDto): Record<string, unknown> {
  return {
    dn: u.dn,
    uid: u.uid,
    cn: u.cn,
    sn: u.sn,
    givenName: u.givenName,
    mail: u.mail,
    uidNumber: u.uidNumber,
    gidNumber: u.gidNumber,
    homeDirectory: u.homeDirectory,
    loginShell: u.loginShell,
    gecos: u.gecos,
    description: u.description,
    locked: u.locked
  }
}

export const GROUP_ATTRS = ['objectClass', 'cn', 'gidNumber', 'description', 'memberUid', 'member', 'uniqueMember', 'entryCSN', 'modifyTimestamp']

export function groupType(e: LdapEntry): GroupDto['type'] {
  const posix = e.hasClass('posixGroup')
  const names = e.hasClass('groupOfNames')
  if (posix && names) return 'rfc2307bis'
  if (posix) return 'posixGroup'
  if (names) return 'groupOfNames'
  return 'other'
}

export function toGroupDto(e: LdapEntry): GroupDto {
  return {
    dn: e.dn,
    cn: e.first('cn') ?? '',
    type: groupType(e),
    gidNumber: e.int('gidNumber'),
    description: e.first('description'),
    memberUids: e.all('memberUid'),
    memberDns: [...e.all('member'), ...e.all('uniqueMember')],
    version: e.first('entryCSN') ?? e.first('modifyTimestamp')
  }
}

export function groupSnapshot(g: GroupDto): Record<string, unknown> {
  return { dn: g.dn, cn: g.cn, type: g.type, gidNumber: g.gidNumber, description: g.description, memberUids: g.memberUids.length, memberDns: g.memberDns.length }
}

/**
 * The modify for one attribute going from `current` values to `next` (null removes it). An attribute with
 * exactly one value is changed as delete-that-value + add-the-new-one, so a concurrent change by someone
 * else makes the whole modify fail (noSuchAttribute -> CONFLICT) instead of being overwritten.
 */
export function attributeChanges(type: string, current: string[], next: string | null): Change[] {
  if (next === null) return current.length ? [change('delete', type, [])] : []
  if (current.length === 1) return current[0] === next ? [] : [change('delete', type, [current[0]!]), change('add', type, [next])]
  if (current.length === 0) return [change('add', type, [next])]
  return [change('replace', type, [next])]
}

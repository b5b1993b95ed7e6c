/**
 * The directory: LDAP connection profiles, sign-in, users and groups. Schemas and DTOs shared by the core,
 * the CLI, the IPC contract and the renderer's forms. Imports nothing from node, electron or vue.
 *
 * Text rules, so hostile input either works literally or is refused with a reason (never widens a search
 * or addresses another entry):
 * - every value: no control characters (NUL included), no leading or trailing space;
 * - uid and POSIX group names: the portable login-name set (letters, digits, `_`, `.`, `-`, not starting
 *   with `-` or `.`, not all digits), because NSS, PAM and file systems take them as they are;
 * - person names, descriptions and groupOfNames names: any Unicode text (they are escaped where used);
 * - mail, homeDirectory, loginShell and gecos: ASCII (IA5String in the schema).
 */
import { z } from 'zod'
import { GROUP_TYPES, LOCK_METHODS } from './choices'
import { isDn, isUnderDn } from './dn'

export { GROUP_TYPES, LOCK_METHODS }
export type GroupType = (typeof GROUP_TYPES)[number]
export type LockMethod = (typeof LOCK_METHODS)[number]
export const DIRECTORY_ROLES = ['viewer', 'operator', 'admin'] as const
export type DirectoryRole = (typeof DIRECTORY_ROLES)[number]

/** Describes the first control character in `s` (`U+0000`), or null. */
export function controlChar(s: string): string | null {
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`
  }
  return null
}

const isAscii = (s: string): boolean => [...s].every((c) => c.codePointAt(0)! < 0x80)

/** Text without control characters or surrounding spaces (spaces are refused, not trimmed: literal or refused). */
export const plainText = (max: number) =>
  z
    .string()
    .min(1, 'is required')
    .max(max, `must be at most ${max} characters`)
    .superRefine((v, ctx) => {
      const cc = controlChar(v)
      if (cc) ctx.addIssue({ code: 'custom', message: `must not contain control characters (found ${cc})` })
      else if (v !== v.trim()) ctx.addIssue({ code: 'custom', message: 'must not begin or end with a space' })
    })

const POSIX_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/
export const posixName = (what: string) =>
  plainText(64).superRefine((v, ctx) => {
    if (controlChar(v) || v !== v.trim()) return
    if (!POSIX_NAME.test(v)) {
      ctx.addIssue({ code: 'custom', message: `a ${what} may contain only letters, digits, "_", "." and "-" (and a final "$"), and may not start with "-" or "."` })
    } else if (/^\d+$/.test(v)) ctx.addIssue({ code: 'custom', message: `a ${what} must not be all digits (it would read as a number)` })
  })

const asciiText = (max: number, what: string) =>
  plainText(max).refine((v) => isAscii(v), `must be ASCII (${what} has the IA5 syntax in the LDAP schema)`)

const absolutePath = (what: string) => asciiText(255, what).refine((v) => v.startsWith('/'), 'must be an absolute path')

export const dnString = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(1024, 'must be at most 1024 characters')
  .refine((v) => !controlChar(v), 'must not contain control characters')
  .refine((v) => isDn(v), 'is not a distinguished name (e.g. ou=people,dc=example,dc=org)')

const ldapUrl = z
  .string()
  .trim()
  .refine((v) => /^ldaps?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\/?$/i.test(v), 'must be ldap://host[:port] or ldaps://host[:port] (no DN or query in the URL)')
  .refine((v) => {
    const m = /:(\d{1,5})\/?$/.exec(v.replace(/^ldaps?:\/\//i, ''))
    return !m || (Number(m[1]) >= 1 && Number(m[1]) <= 65535)
  }, 'port must be 1-65535')

/** A group named by its cn or its full DN. */
const groupRef = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(1024)
  .refine((v) => !controlChar(v), 'must not contain control characters')

const idNumber = (what: string) => z.number().int(`${what} must be a whole number`).min(0, `${what} must be 0-2147483646`).max(2147483646, `${what} must be 0-2147483646`)

export const ldapProfileSchema = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, 'is required')
      .max(64, 'must be at most 64 characters')
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'may contain only letters, digits, ".", "_" and "-"'),
    url: ldapUrl,
    /** Upgrade an ldap:// connection with StartTLS before binding. */
    startTls: z.boolean().default(false),
    /**
     * Allow simple binds and password changes over plain ldap:// (no StartTLS) to a host that is not this
     * machine: passwords then cross the network in clear. Off by default; for a lab only.
     */
    allowInsecure: z.boolean().default(false),
    /** PEM file with the CA certificate(s) that signed the server's certificate (default: Node's bundled roots). */
    caFile: z.string().trim().min(1).max(4096).optional(),
    baseDn: dnString,
    /** Where users live (default ou=people,<baseDn>). */
    usersDn: dnString.optional(),
    /** Where groups live (default ou=groups,<baseDn>). */
    groupsDn: dnString.optional(),
    /** The DN the CLI binds as, and sign-in uses to look up a uid; its secret lives in the OS keychain. */
    bindDn: dnString.optional(),
    /** The attribute a sign-in name is looked up by. */
    loginAttribute: z
      .string()
      .trim()
      .regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'must be an attribute name')
      .default('uid'),
    groupType: z.enum(GROUP_TYPES).default('posixGroup'),
    /** Which groups (cn or DN) give which role. A member of several gets the highest. */
    roles: z
      .object({
        admin: z.array(groupRef).max(100).default([]),
        operator: z.array(groupRef).max(100).default([]),
        viewer: z.array(groupRef).max(100).default([])
      })
      .strict()
      .default({ admin: [], operator: [], viewer: [] }),
    /** Bind DNs that are admin whatever their groups (e.g. the rootdn, which has no entry to be a member). */
    adminDns: z.array(dnString).max(100).default([]),
    idleLockMinutes: z.number().int().min(1, 'must be 1-1440 minutes').max(1440, 'must be 1-1440 minutes').default(15),
    /** Per-operation timeout. */
    timeoutMs: z.number().int().min(500, 'must be 500-300000 ms').max(300_000, 'must be 500-300000 ms').default(10_000),
    connectTimeoutMs: z.number().int().min(200, 'must be 200-60000 ms').max(60_000, 'must be 200-60000 ms').default(5_000),
    /** The entry holding the next free uidNumber and gidNumber (default cn=netkeeper-idpool,<baseDn>). */
    idPoolDn: dnString.optional(),
    uidNumberMin: idNumber('uidNumberMin').default(10000),
    gidNumberMin: idNumber('gidNumberMin').default(10000),
    /** Primary group of new users when none is given. */
    defaultGidNumber: idNumber('defaultGidNumber').optional(),
    homeBase: absolutePath('homeDirectory').default('/home'),
    defaultShell: absolutePath('loginShell').default('/bin/bash'),
    lockMethod: z.enum(LOCK_METHODS).default('ppolicy'),
    /** Use the Password Modify extended operation when the server offers it (else an {SSHA} hash is made here). */
    passwordModify: z.boolean().default(true)
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.startTls && /^ldaps:/i.test(p.url)) ctx.addIssue({ code: 'custom', path: ['startTls'], message: 'is for ldap:// URLs; ldaps:// is already TLS' })
    for (const k of ['usersDn', 'groupsDn', 'idPoolDn'] as const) {
      const v = p[k]
      if (v && isDn(v) && isDn(p.baseDn) && !isUnderDn(v, p.baseDn)) ctx.addIssue({ code: 'custom', path: [k], message: `must lie under the base DN ${p.baseDn}` })
    }
  })
export type LdapProfileInput = z.input<typeof ldapProfileSchema>
export type LdapProfile = z.output<typeof ldapProfileSchema>

export interface LdapProfileDto extends LdapProfile {
  usersDn: string
  groupsDn: string
  idPoolDn: string
  isDefault: boolean
  /** Whether the keychain holds a bind secret; null when the keychain could not be asked (see keychainError). */
  hasSecret: boolean | null
  keychainError?: string
}

export const profileSaveSchema = z
  .object({
    profile: ldapProfileSchema,
    /** The bind DN's secret, stored in the OS keychain (never on disk, never returned). */
    password: z.string().min(1, 'is required when given').max(1024).optional(),
    makeDefault: z.boolean().optional(),
    /** Replace an existing profile of that name (otherwise CONFLICT). */
    replace: z.boolean().optional()
  })
  .strict()
export type ProfileSaveInput = z.input<typeof profileSaveSchema>

export interface ProfileCheck {
  name: string
  ok: boolean
  detail: string
}

export interface ProfileTestReport {
  profile: string
  ok: boolean
  url: string
  tls: 'ldaps' | 'starttls' | 'none'
  /** The profile lets binds and password changes go over plain LDAP to another machine (see allowInsecure). */
  allowInsecure: boolean
  boundAs: string | null
  latencyMs: number
  vendor: string | null
  passwordModify: boolean
  pagedResults: boolean
  checks: ProfileCheck[]
}

export const signInSchema = z
  .object({
    profile: z.string().trim().min(1, 'is required').max(64),
    /** A login name (looked up by the profile's loginAttribute) or a full bind DN. */
    user: z
      .string()
      .min(1, 'is required')
      .max(1024)
      .refine((v) => !controlChar(v), 'must not contain control characters'),
    password: z.string().max(1024, 'must be at most 1024 characters')
  })
  .strict()
export type SignInInput = z.input<typeof signInSchema>

export interface SessionDto {
  signedIn: boolean
  profile: string | null
  dn: string | null
  login: string | null
  role: DirectoryRole | null
  locked: boolean
  startedAt: string | null
  lastActivityAt: string | null
  idleLockMinutes: number | null
  /** The groups the role came from. */
  viaGroups: string[]
  /**
   * Set by an admin in the database (app_settings): nothing but the sign-in screen until someone signs
   * in. The app shows only SignInPanel while this is true and signedIn is false.
   */
  signInRequired: boolean
  /**
   * The role requests run with while nobody is signed in: the database login's role, lowered to the role
   * of the last session that ended since the app started (signing out never raises a role).
   */
  roleWithoutSession: DirectoryRole | null
}

// ------------------------------------------------------------------ users

export const pageSizeSchema = z.number().int().min(1, 'must be 1-1000').max(1000, 'must be 1-1000')

export const listSchema = z
  .object({
    /** Matches uid, cn, mail (users) or cn, description (groups) by substring, literally. */
    search: z
      .string()
      .max(256, 'must be at most 256 characters')
      .refine((v) => !controlChar(v), 'must not contain control characters (NUL included)')
      .optional(),
    pageSize: pageSizeSchema.default(100),
    /** From the previous page's nextCursor; continues that listing (its search is kept). */
    cursor: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'is not a cursor from a previous page').optional()
  })
  .strict()
export type ListInput = z.input<typeof listSchema>

export interface DirectoryPage<T> {
  items: T[]
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null
}

export interface UserDto {
  dn: string
  uid: string
  cn: string
  sn: string | null
  givenName: string | null
  mail: string | null
  uidNumber: number | null
  gidNumber: number | null
  homeDirectory: string | null
  loginShell: string | null
  gecos: string | null
  description: string | null
  locked: boolean
  objectClasses: string[]
  /** Changes when the entry changes (entryCSN or modifyTimestamp): pass it back to detect a concurrent edit. */
  version: string | null
  /** Only from `get`: the groups the user is a direct member of. */
  groups?: { cn: string; dn: string }[]
}

/** uid, or the text a user is looked up by. Any text is looked up literally. */
export const userRef = z
  .string()
  .min(1, 'is required')
  .max(256)
  .refine((v) => !controlChar(v), 'must not contain control characters (NUL included)')

const personName = plainText(128)
const mail = asciiText(254, 'mail').refine((v) => /^[^\s@]+@[^\s@]+$/.test(v), 'is not a mail address')

export const userCreateSchema = z
  .object({
    uid: posixName('uid'),
    sn: personName,
    givenName: personName.optional(),
    /** Default: "givenName sn", or sn. */
    cn: personName.optional(),
    mail: mail.optional(),
    /** Default: the next free number from the id pool. */
    uidNumber: idNumber('uidNumber').optional(),
    /** Default: the profile's defaultGidNumber. */
    gidNumber: idNumber('gidNumber').optional(),
    homeDirectory: absolutePath('homeDirectory').optional(),
    loginShell: absolutePath('loginShell').optional(),
    gecos: asciiText(255, 'gecos').optional(),
    description: plainText(1024).optional(),
    password: z.string().min(1, 'is required when given').max(1024, 'must be at most 1024 characters').optional()
  })
  .strict()
export type UserCreateInput = z.input<typeof userCreateSchema>

export const userUpdateSchema = z
  .object({
    uid: userRef,
    sn: personName.optional(),
    givenName: personName.nullable().optional(),
    cn: personName.optional(),
    mail: mail.nullable().optional(),
    gidNumber: idNumber('gidNumber').optional(),
    homeDirectory: absolutePath('homeDirectory').optional(),
    loginShell: absolutePath('loginShell').optional(),
    gecos: asciiText(255, 'gecos').nullable().optional(),
    description: plainText(1024).nullable().optional(),
    /** The version the edit is based on; a different current version is a CONFLICT. */
    version: z.string().max(128).optional()
  })
  .strict()
export type UserUpdateInput = z.input<typeof userUpdateSchema>

export const userRenameSchema = z.object({ uid: userRef, newUid: posixName('uid') }).strict()

export const passwordSetSchema = z
  .object({
    uid: userRef,
    /** The new password; omit together with generate: true to have one generated (returned once). */
    password: z.string().min(1, 'is required').max(1024, 'must be at most 1024 characters').optional(),
    generate: z.boolean().optional(),
    /** Ask for a new password at the next login (shadowLastChange = 0). */
    mustChange: z.boolean().optional()
  })
  .strict()
  .refine((v) => Boolean(v.password) !== Boolean(v.generate), { message: 'give a password or generate: true (one of them)', path: ['password'] })
export type PasswordSetInput = z.input<typeof passwordSetSchema>

export interface PasswordSetResult {
  uid: string
  dn: string
  method: 'password-modify' | 'ssha'
  /** Present only when generated: shown once, never stored or logged. */
  generated?: string
}

export interface LockResult {
  uid: string
  dn: string
  locked: boolean
  /** False when the account already was in that state (nothing written, nothing audited). */
  changed: boolean
  method: LockMethod
}

export interface UserDeleteResult {
  uid: string
  dn: string
  /** Groups the user was removed from. */
  removedFrom: string[]
  /** Groups that could not be updated (the user change itself was done). */
  membershipErrors?: { group: string; error: string }[]
}

export interface UserRenameResult {
  user: UserDto
  /** Groups whose member/memberUid were rewritten. */
  groupsUpdated: string[]
  membershipErrors?: { group: string; error: string }[]
}

// ----------------------------------------------------------------- groups

export interface GroupRef {
  cn: string
  dn: string
}

export interface GroupDto {
  dn: string
  cn: string
  type: GroupType | 'other'
  gidNumber: number | null
  description: string | null
  /** memberUid values (posixGroup, rfc2307bis). */
  memberUids: string[]
  /** member DNs (groupOfNames, rfc2307bis), users and groups alike. */
  memberDns: string[]
  version: string | null
  /** Only from `get`: member DNs that are groups, with their own nested groups (depth 1 = direct). */
  nestedGroups?: (GroupRef & { depth: number; via: string })[]
  /** Only from `get`: the groups this group is a direct member of. */
  memberOf?: GroupRef[]
  /** Only from `get` on rfc2307bis groups: members present in one attribute and missing from the other. */
  drift?: { memberWithoutUid: string[]; uidWithoutMember: string[] }
}

/** cn of a group: POSIX names for posix types, any text for groupOfNames (checked by the service per type). */
export const groupName = plainText(128)
export const groupRefSchema = z
  .string()
  .min(1, 'is required')
  .max(256)
  .refine((v) => !controlChar(v), 'must not contain control characters (NUL included)')

export const groupCreateSchema = z
  .object({
    cn: groupName,
    description: plainText(1024).optional(),
    /** posix types: default the next free number from the id pool. */
    gidNumber: idNumber('gidNumber').optional(),
    /** Initial members by uid (a groupOfNames needs at least one). */
    members: z.array(userRef).max(10_000).default([]),
    /** Nested groups by cn (groupOfNames and rfc2307bis only). */
    groups: z.array(groupRefSchema).max(1000).default([]),
    /** Default: the profile's groupType. */
    type: z.enum(GROUP_TYPES).optional()
  })
  .strict()
export type GroupCreateInput = z.input<typeof groupCreateSchema>

export const groupUpdateSchema = z
  .object({
    cn: groupRefSchema,
    description: plainText(1024).nullable().optional(),
    gidNumber: idNumber('gidNumber').optional(),
    version: z.string().max(128).optional()
  })
  .strict()
export type GroupUpdateInput = z.input<typeof groupUpdateSchema>

export const membersSchema = z
  .object({
    cn: groupRefSchema,
    /** Users by uid. */
    members: z.array(userRef).max(50_000).default([]),
    /** Nested groups by cn (groupOfNames and rfc2307bis only). */
    groups: z.array(groupRefSchema).max(1000).default([])
  })
  .strict()
  .refine((v) => v.members.length + v.groups.length > 0, { message: 'name at least one member or group', path: ['members'] })
export type MembersInput = z.input<typeof membersSchema>

export interface MembersResult {
  group: GroupDto
  /** Users and groups actually added or removed (already-present or absent ones are skipped). */
  changed: string[]
  unchanged: string[]
}

export interface GroupDeleteResult {
  cn: string
  dn: string
}

/**
 * The directory as admins run it: LDIF in and out, the schema-driven attribute editor, the tree browser,
 * templates, bulk user import from CSV, bulk actions, account expiry and password policy. Schemas and
 * DTOs shared by the core, the CLI, the IPC contract and the renderer. Imports nothing from node,
 * electron or vue.
 */
import { z } from 'zod'
import { ADDRESS_CHOICES, BULK_ACTIONS, GROUP_BULK_CHOICES, LDIF_SCOPES, ON_EXISTING } from './choices'
import { controlChar, dnString } from './directory'
import type { AllocationDto } from './ipam'

const text = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !controlChar(v), 'must not contain control characters')

const attrName = z
  .string()
  .trim()
  .regex(/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)(;[A-Za-z0-9-]+)*$/, 'is not an attribute name')

// ------------------------------------------------------------------ schema

export interface AttributeInfo {
  name: string
  oid: string | null
  aliases: string[]
  description: string | null
  syntax: string | null
  /** A short name for the syntax (integer, directoryString, dn...), null when not one we know. */
  syntaxName: string | null
  maxLength: number | null
  singleValue: boolean
  binary: boolean
  userModifiable: boolean
  operational: boolean
  /** False when the server's schema does not define it (then nothing is checked before sending). */
  known: boolean
}

export interface ObjectClassInfo {
  name: string
  oid: string | null
  kind: 'ABSTRACT' | 'STRUCTURAL' | 'AUXILIARY' | null
  sup: string[]
  must: string[]
  may: string[]
  description: string | null
}

// ------------------------------------------------------------------ LDIF

export { LDIF_SCOPES }

export const ldifExportSchema = z
  .object({
    /** Where the search starts; must lie under the profile's base DN. */
    base: dnString,
    /** An RFC 4515 filter (default (objectClass=*)). */
    filter: text(4096).optional(),
    scope: z.enum(LDIF_SCOPES).default('sub'),
    /** Attributes to write (default every user attribute). */
    attributes: z.array(attrName).max(200).optional(),
    /** Also write operational attributes (entryUUID, modifyTimestamp...): not re-importable as they are. */
    operational: z.boolean().default(false),
    pageSize: z.number().int().min(1).max(5000).default(500)
  })
  .strict()
export type LdifExportInput = z.input<typeof ldifExportSchema>

export interface LdifExportResult {
  base: string
  filter: string
  entries: number
  bytes: number
}

export const ldifImportSchema = z
  .object({
    /** The LDIF text (the app reads the picked file; the CLI streams it from disk). */
    text: z.string().max(256 * 1024 * 1024),
    dryRun: z.boolean().default(false),
    /** Skip a refused record and go on (true), or stop at the first refusal (false, the default). */
    continueOnError: z.boolean().default(false),
    /** Names the run so directory:job:progress and directory:job:cancel can reach it (the app picks it). */
    runId: z.string().uuid('must be a UUID').optional(),
  })
  .strict()
export type LdifImportInput = z.input<typeof ldifImportSchema>

export interface AttributeDiff {
  attribute: string
  before: string[]
  after: string[]
}

export interface LdifChangePreview {
  /** The line of the record's dn: in the file. */
  line: number
  dn: string
  kind: 'add' | 'modify' | 'delete' | 'modrdn'
  /** modrdn: the DN the entry will have. */
  newDn?: string
  /** Attributes whose values change, before and after (binary values as "(N bytes)", passwords hidden). */
  changes: AttributeDiff[]
  /** Why this record will be refused before it is sent (syntax, MUST attribute, no such entry...), or null. */
  problem: string | null
}

export interface LdifRecordFailure {
  line: number
  dn: string
  kind: LdifChangePreview['kind']
  code: string
  message: string
  /** The server's LDAP result code when the server refused it. */
  ldapCode?: number
}

export interface LdifImportReport {
  dryRun: boolean
  continueOnError: boolean
  /** The request id every audit row of this import carries. */
  requestId: string
  records: number
  applied: number
  failed: LdifRecordFailure[]
  /** Records not attempted because the import stopped at a refusal. */
  notAttempted: number
  /** True when a cancel stopped the import: the records before the cancel were applied (LDAP has no transactions). */
  cancelled: boolean
  preview: LdifChangePreview[]
}

// ------------------------------------------------------------------ every attribute

export interface EntryAttribute {
  info: AttributeInfo
  /** Text values; binary values are given as their size only (download them with entry:value). */
  values: string[]
  /** For binary attributes: the size of each value in bytes. */
  sizes?: number[]
  /** Required by one of the entry's object classes (MUST): cannot be removed. */
  required: boolean
}

export interface EntryDetail {
  dn: string
  objectClasses: ObjectClassInfo[]
  attributes: EntryAttribute[]
  /** Attributes the entry's classes allow and it does not have yet (MAY), for the "add attribute" list. */
  allowed: AttributeInfo[]
  /** Object classes the entry could add (auxiliary ones), by name. */
  auxiliaryClasses: string[]
  /** Whether the entry has children (for the tree). */
  hasChildren: boolean | null
}

export const entryRefSchema = z.object({ dn: dnString }).strict()

export const entrySetSchema = z
  .object({
    dn: dnString,
    attribute: attrName,
    /** The new values ([] removes the attribute). */
    values: z.array(text(65536)).max(1000),
    /** The values the edit is based on, when known: a different current value is a CONFLICT. */
    expected: z.array(z.string()).optional()
  })
  .strict()
export type EntrySetInput = z.input<typeof entrySetSchema>

export const objectClassChangeSchema = z
  .object({
    dn: dnString,
    add: z.array(attrName).max(20).default([]),
    remove: z.array(attrName).max(20).default([]),
    /** Values for MUST attributes the added classes bring (attribute -> values). */
    values: z.record(z.string(), z.array(text(65536)).max(100)).default({})
  })
  .strict()
export type ObjectClassChangeInput = z.input<typeof objectClassChangeSchema>

export const treeListSchema = z
  .object({
    /** The parent; default the profile's base DN. */
    dn: dnString.optional(),
    pageSize: z.number().int().min(1).max(1000).default(100),
    cursor: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'is not a cursor from a previous page').optional()
  })
  .strict()
export type TreeListInput = z.input<typeof treeListSchema>

export interface TreeNode {
  dn: string
  rdn: string
  objectClasses: string[]
  hasChildren: boolean
}

// ------------------------------------------------------------------ templates

export const userTemplateSchema = z
  .object({
    objectClasses: z.array(attrName).min(1).max(20).default(['inetOrgPerson', 'posixAccount', 'shadowAccount']),
    /** Attributes every new user gets (a row's own value wins). */
    attributes: z.record(attrName, z.array(text(4096)).max(50)).default({}),
    /** `{uid}` is replaced by the uid; default the profile's homeBase/{uid}. */
    homeDirectory: text(255)
      .refine((v) => v.startsWith('/'), 'must be an absolute path')
      .refine((v) => v.includes('{uid}'), 'must contain {uid}')
      .optional(),
    loginShell: text(255)
      .refine((v) => v.startsWith('/'), 'must be an absolute path')
      .optional(),
    /** Groups (cn) every new user joins. */
    groups: z.array(text(256).pipe(z.string().min(1))).max(100).default([])
  })
  .strict()
export type UserTemplate = z.output<typeof userTemplateSchema>
/** A template with the profile's defaults filled in (homeDirectory, loginShell); builtIn when none is saved. */
export interface ResolvedUserTemplate extends UserTemplate {
  homeDirectory: string
  loginShell: string
  builtIn: boolean
  profile: string
}
export type UserTemplateInput = z.input<typeof userTemplateSchema>

// ------------------------------------------------------------------ bulk user import

export { ON_EXISTING }

export const userImportSchema = z
  .object({
    /** The CSV text, with a header row. */
    text: z.string().max(64 * 1024 * 1024),
    /** CSV column -> LDAP attribute (default: a column named like an attribute maps to it). */
    mapping: z.record(z.string(), z.union([attrName, z.literal('password'), z.literal('groups'), z.literal('')])).default({}),
    onExisting: z.enum(ON_EXISTING).default('skip'),
    dryRun: z.boolean().default(false),
    delimiter: z.enum([',', ';', '\t']).optional(),
    /** Names the run so directory:job:progress and directory:job:cancel can reach it (the app picks it). */
    runId: z.string().uuid('must be a UUID').optional(),
  })
  .strict()
export type UserImportInput = z.input<typeof userImportSchema>

export type UserImportAction = 'create' | 'update' | 'skip' | 'unchanged'

export interface UserImportRow {
  /** The row's line in the file (the header is line 1). */
  line: number
  uid: string | null
  action: UserImportAction
  /** Why the row is skipped (bad uid, duplicate, missing attribute, unknown group, schema violation, exists). */
  reason: string | null
  /** update: the attributes that change. */
  changes?: AttributeDiff[]
  /** update: the file's password will be (or was) set; the value itself is never reported. */
  passwordSet?: boolean
  /** The import was cancelled before this row was reached: nothing of it was written. */
  notAttempted?: boolean
  /** After apply: the outcome when it differs from the plan (the server refused it). */
  error?: string
}

export interface UserImportReport {
  dryRun: boolean
  onExisting: (typeof ON_EXISTING)[number]
  requestId: string
  columns: { column: string; attribute: string }[]
  rows: UserImportRow[]
  created: number
  updated: number
  unchanged: number
  skipped: number
  failed: number
  cancelled: boolean
  /** Rows a cancel kept from being written (each marked notAttempted); the rows before it were applied. */
  notAttempted: number
}

// ------------------------------------------------------------------ bulk actions

export { BULK_ACTIONS }
export type BulkAction = (typeof BULK_ACTIONS)[number]

export const bulkSchema = z
  .object({
    action: z.enum(BULK_ACTIONS),
    uids: z.array(z.string().min(1).max(256)).min(1, 'select at least one user').max(10_000),
    /** addToGroup / removeFromGroup: the group's cn. */
    group: text(256).optional(),
    /** setExpiry: YYYY-MM-DD, or null to remove the expiry. */
    expires: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
      .nullable()
      .optional(),
    /** Names the run so directory:job:progress and directory:job:cancel can reach it (the app picks it). */
    runId: z.string().uuid('must be a UUID').optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if ((v.action === 'addToGroup' || v.action === 'removeFromGroup') && !v.group) ctx.addIssue({ code: 'custom', path: ['group'], message: 'is required for this action' })
    if (v.action === 'setExpiry' && v.expires === undefined) ctx.addIssue({ code: 'custom', path: ['expires'], message: 'is required (a date, or null to remove)' })
  })
export type BulkInput = z.input<typeof bulkSchema>

export interface BulkResult {
  action: BulkAction
  requestId: string
  done: string[]
  unchanged: string[]
  failed: { uid: string; message: string }[]
  /** True when a cancel stopped the action; notAttempted lists the uids it never reached. */
  cancelled: boolean
  notAttempted: string[]
}

/** Bulk actions on selected groups (the groups table's multi-select, `group bulk`). */
export const GROUP_BULK_ACTIONS = GROUP_BULK_CHOICES
export type GroupBulkAction = (typeof GROUP_BULK_ACTIONS)[number]

export const groupBulkSchema = z
  .object({
    action: z.enum(GROUP_BULK_ACTIONS),
    cns: z.array(z.string().min(1).max(256)).min(1, 'select at least one group').max(10_000),
    /** addMembers / removeMembers: the users' uids. */
    members: z.array(z.string().min(1).max(256)).max(10_000).optional(),
    /** Names the run so directory:job:progress and directory:job:cancel can reach it (the app picks it). */
    runId: z.string().uuid('must be a UUID').optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.action !== 'delete' && !v.members?.length) ctx.addIssue({ code: 'custom', path: ['members'], message: 'name at least one user for this action' })
  })
export type GroupBulkInput = z.input<typeof groupBulkSchema>

export interface GroupBulkResult {
  action: GroupBulkAction
  requestId: string
  /** Groups changed (members added or removed, or deleted). */
  done: string[]
  /** Groups the action left as they were (every member already in, or none of them in). */
  unchanged: string[]
  failed: { cn: string; message: string }[]
  cancelled: boolean
  notAttempted: string[]
}

/** Where a directory import or bulk action started from the app stands (polled by run id). */
export interface DirectoryJobProgress {
  runId: string
  kind: 'user-import' | 'ldif-import' | 'user-bulk' | 'group-bulk'
  done: number
  total: number
  /** The entry being worked on (a DN, uid or cn), when known. */
  current: string | null
  /** A cancel was asked for: the run stops before the next entry. */
  cancelling: boolean
}

// ------------------------------------------------------------------ expiry and password policy

export const expirySchema = z
  .object({
    uid: z.string().min(1).max(256),
    /** YYYY-MM-DD: the last day the account works is the day before; null removes the expiry. */
    on: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
      .nullable()
  })
  .strict()
export type ExpiryInput = z.input<typeof expirySchema>

export interface ExpiryResult {
  uid: string
  dn: string
  /** The date set (YYYY-MM-DD), or null when removed. */
  expires: string | null
  shadowExpire: number | null
  /** Set too when the server's schema has pwdEndTime (OpenLDAP 2.6 ppolicy). */
  pwdEndTime: string | null
  changed: boolean
}

export const expiringSchema = z
  .object({
    withinDays: z.number().int().min(0).max(36500).default(30)
  })
  .strict()

export interface ExpiringAccount {
  uid: string
  dn: string
  /** 'account' (shadowExpire / pwdEndTime) or 'password' (shadowLastChange + shadowMax, or pwdChangedTime + pwdMaxAge). */
  what: 'account' | 'password'
  /** YYYY-MM-DD */
  on: string
  /** Negative when already past. */
  daysLeft: number
  locked: boolean
}

export interface PasswordPolicy {
  /** The policy entry, or null when none applies (the server then checks nothing). */
  dn: string | null
  /** 'entry' (pwdPolicySubentry), 'default' (the profile's or the directory's default policy) or 'none'. */
  source: 'entry' | 'default' | 'none'
  minLength: number | null
  maxLength: number | null
  checkQuality: number | null
  maxAgeSeconds: number | null
  inHistory: number | null
  lockout: boolean | null
}

export interface MaintenanceResult {
  dryRun: boolean
  requestId: string
  locked: string[]
  alreadyLocked: number
  failed: { uid: string; message: string }[]
}

// ------------------------------------------------------------------ people and their addresses

export { ADDRESS_CHOICES }
export type AddressChoice = (typeof ADDRESS_CHOICES)[number]

export const retireSchema = z
  .object({
    uid: z.string().min(1).max(256),
    action: z.enum(['delete', 'lock']),
    addresses: z.enum(ADDRESS_CHOICES),
    /** handover: the uid of the person who gets the addresses. */
    to: z.string().min(1).max(256).optional()
  })
  .strict()

export interface PersonAddressesDto {
  uid: string
  dn: string
  cn: string
  allocations: AllocationDto[]
}

export interface RetireResultDto {
  uid: string
  dn: string
  action: 'delete' | 'lock'
  addresses: AddressChoice
  requestId: string
  released: string[]
  handedOver: string[]
  to: { uid: string; dn: string } | null
  errors: { ip: string; message: string }[]
}

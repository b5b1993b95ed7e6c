/**
 * IPAM objects (issue 16, items 5 and 6): sites, VLAN groups and VLANs that pools point at; tags on pools and
 * allocations; admin-defined custom fields. Schemas and DTOs shared by the core, the CLI, the IPC contract and
 * the renderer.
 */
import { z } from 'zod'
import { lazySchema } from './lazy-schema'
import { FIELD_KINDS, FIELD_TYPES, VLAN_STATUSES } from './choices'
import { ALLOCATION_STATUSES, poolRef, spaceRef } from './ipam'

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/
const text = (max: number) =>
  z
    .string()
    .trim()
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !CONTROL.test(s), 'must not contain control characters')
const name = (max: number) => text(max).min(1, 'is required')

export { VLAN_STATUSES, FIELD_KINDS, FIELD_TYPES }
export type VlanStatus = (typeof VLAN_STATUSES)[number]
export type FieldKind = (typeof FIELD_KINDS)[number]
export type FieldType = (typeof FIELD_TYPES)[number]

/** A site or VLAN group by name or id. */
export const objectRef = lazySchema(() =>
  z.union([z.number().int().positive(), z.string().trim().min(1, 'is required').max(100)])
)
export type ObjectRef = z.input<typeof objectRef>

const vid = lazySchema(() =>
  z.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'VID out of range: must be 1-4094').max(4094, 'VID out of range: must be 1-4094')
)

/** A VLAN by id, or as "GROUP/VID" (a bare "VID" is the VLAN of the "default" group). */
export const vlanRef = lazySchema(() =>
  z.union([z.number().int().positive(), z.string().trim().min(1, 'is required').max(120)])
)
export type VlanRef = z.input<typeof vlanRef>

// ---------------------------------------------------------------- sites

export interface SiteDto {
  id: number
  name: string
  description: string | null
  /** Pools at this site. */
  pools: number
  createdAt: string
  updatedAt: string
  createdBy: string | null
}
export const siteCreateSchema = lazySchema(() =>
  z.object({ name: name(100), description: text(2000).nullish() }).strict()
)
export type SiteCreateInput = z.input<typeof siteCreateSchema>
export const siteUpdateSchema = lazySchema(() =>
  siteCreateSchema.partial().strict()
)
export type SiteUpdateInput = z.input<typeof siteUpdateSchema>

// ---------------------------------------------------------------- VLAN groups and VLANs

export interface VlanGroupDto {
  id: number
  name: string
  description: string | null
  vlans: number
  createdAt: string
  createdBy: string | null
}
export const vlanGroupCreateSchema = lazySchema(() =>
  z.object({ name: name(100).refine((s) => !s.includes('/'), 'must not contain "/"'), description: text(2000).nullish() }).strict()
)
export type VlanGroupCreateInput = z.input<typeof vlanGroupCreateSchema>

export interface VlanDto {
  id: number
  groupId: number
  groupName: string
  vid: number
  name: string
  status: VlanStatus
  description: string | null
  /** Pools on this VLAN. */
  pools: number
  createdAt: string
  updatedAt: string
  createdBy: string | null
}
export const vlanCreateSchema = lazySchema(() =>
  z
    .object({
      group: objectRef.default('default'),
      vid,
      /** "VLAN <vid>" when absent. */
      name: text(100).optional(),
      status: z.enum(VLAN_STATUSES, { error: `must be one of ${VLAN_STATUSES.join(', ')}` }).default('active'),
      description: text(2000).nullish()
    })
    .strict()
)
export type VlanCreateInput = z.input<typeof vlanCreateSchema>
export const vlanUpdateSchema = lazySchema(() =>
  z
    .object({
      vid: vid.optional(),
      name: name(100).optional(),
      status: z.enum(VLAN_STATUSES, { error: `must be one of ${VLAN_STATUSES.join(', ')}` }).optional(),
      description: text(2000).nullish()
    })
    .strict()
)
export type VlanUpdateInput = z.input<typeof vlanUpdateSchema>
export const vlanListSchema = lazySchema(() =>
  z.object({ group: objectRef.optional() }).strict()
)
export type VlanListInput = z.input<typeof vlanListSchema>

/** The VLAN a pool points at, as the pool shows it. */
export interface PoolVlan {
  id: number
  group: string
  vid: number
  name: string
  status: VlanStatus
}

// ---------------------------------------------------------------- tags

export interface TagDto {
  id: number
  name: string
  colour: string
  description: string | null
  pools: number
  allocations: number
  createdAt: string
  createdBy: string | null
}
const colour = lazySchema(() =>
  z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^#[0-9a-f]{6}$/, 'must be a colour like #1f77b4')
)
export const tagName = lazySchema(() =>
  z
    .string()
    .trim()
    .min(1, 'is required')
    .max(64, 'must be at most 64 characters')
    .regex(/^[^\s,]+$/, 'must not contain spaces or commas')
)
export const tagCreateSchema = lazySchema(() =>
  z.object({ name: tagName, colour: colour.optional(), description: text(2000).nullish() }).strict()
)
export type TagCreateInput = z.input<typeof tagCreateSchema>
export const tagUpdateSchema = lazySchema(() =>
  z.object({ name: tagName.optional(), colour: colour.optional(), description: text(2000).nullish() }).strict()
)
export type TagUpdateInput = z.input<typeof tagUpdateSchema>

/** Adds (tag) or removes (untag) tags on a pool or on allocations. */
export const poolTagSchema = lazySchema(() =>
  z.object({ pool: poolRef, tags: z.array(tagName).min(1, 'give at least one tag').max(100) }).strict()
)
export type PoolTagInput = z.input<typeof poolTagSchema>
export const ipTagSchema = lazySchema(() =>
  z
    .object({ ips: z.array(z.string().trim().min(1).max(64)).min(1, 'give at least one address').max(10000), space: spaceRef.optional(), tags: z.array(tagName).min(1, 'give at least one tag').max(100) })
    .strict()
)
export type IpTagInput = z.input<typeof ipTagSchema>

export interface TagRef {
  name: string
  colour: string
}

// ---------------------------------------------------------------- custom fields

export type FieldValue = string | number | boolean
export interface FieldDto {
  id: number
  kind: FieldKind
  name: string
  label: string | null
  type: FieldType
  choices: string[] | null
  required: boolean
  defaultValue: FieldValue | null
  description: string | null
  /** Rows holding a value for this field. */
  inUse: number
  createdAt: string
  createdBy: string | null
}
export const fieldName = lazySchema(() =>
  z
    .string()
    .trim()
    .regex(/^[a-z][a-z0-9_]{0,63}$/, 'must start with a lower-case letter and hold only a-z, 0-9 and _ (at most 64)')
)
export const fieldCreateSchema = lazySchema(() =>
  z
    .object({
      kind: z.enum(FIELD_KINDS, { error: 'must be pool or allocation' }),
      name: fieldName,
      label: text(100).nullish(),
      type: z.enum(FIELD_TYPES, { error: `must be one of ${FIELD_TYPES.join(', ')}` }),
      choices: z.array(text(200).min(1, 'a choice must not be empty')).max(200).nullish(),
      required: z.boolean().default(false),
      /** Text as typed (converted to the field's type); needed for a required field when rows already exist. */
      defaultValue: z.union([z.string().max(1000), z.number(), z.boolean()]).nullish(),
      description: text(2000).nullish()
    })
    .strict()
)
export type FieldCreateInput = z.input<typeof fieldCreateSchema>
export const fieldRemoveSchema = lazySchema(() =>
  z.object({ kind: z.enum(FIELD_KINDS), name: fieldName, force: z.boolean().optional() }).strict()
)
export type FieldRemoveInput = z.input<typeof fieldRemoveSchema>

/** Custom field values to set: a value (text as typed is converted to the field's type), or null to clear. */
export const fieldValuesSchema = lazySchema(() =>
  z.record(fieldName, z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]))
)
export type FieldValuesInput = z.input<typeof fieldValuesSchema>

/** A `name=value` filter on custom fields. */
export const fieldFilterSchema = lazySchema(() =>
  z.record(fieldName, z.string().max(1000))
)

// ---------------------------------------------------------------- bulk edit

/** One change applied to every selected allocation of a pool, in one transaction. */
export const bulkEditSchema = lazySchema(() =>
  z
    .object({
      pool: poolRef,
      ips: z.array(z.string().trim().min(1).max(64)).min(1, 'select at least one address').max(10000, 'at most 10000 addresses at once'),
      set: z
        .object({
          status: z.enum(ALLOCATION_STATUSES.filter((s) => s !== 'available') as ['allocated', 'reserved', 'blocked']).optional(),
          owner: text(255).nullish(),
          description: text(2000).nullish(),
          addTags: z.array(tagName).max(100).optional(),
          removeTags: z.array(tagName).max(100).optional(),
          fields: fieldValuesSchema.optional()
        })
        .strict()
    })
    .strict()
)
export type BulkEditInput = z.input<typeof bulkEditSchema>

export interface BulkEditResult {
  pool: string
  /** The allocations that changed, lowest address first (after the change). */
  items: import('./ipam').AllocationDto[]
  /** Selected addresses the change left as they were. */
  unchanged: string[]
}

/** Everything the VLANs & sites editor, the tag and field admin and the pool dialog's pickers need, in one read. */
export interface IpamObjects {
  sites: SiteDto[]
  vlanGroups: VlanGroupDto[]
  vlans: VlanDto[]
  tags: TagDto[]
  fields: FieldDto[]
}

// ---------------------------------------------------------------- queued edits

/**
 * The admin edits of sites, VLANs, tags and custom fields, as one offline-queue operation ('ipam.object'):
 * each action with the arguments its core method takes.
 */
export const objectEditSchema = lazySchema(() =>
  z.discriminatedUnion('action', [
    z.object({ action: z.literal('site.add'), input: siteCreateSchema }).strict(),
    z.object({ action: z.literal('site.update'), ref: objectRef, input: siteUpdateSchema }).strict(),
    z.object({ action: z.literal('site.remove'), ref: objectRef }).strict(),
    z.object({ action: z.literal('vlanGroup.add'), input: vlanGroupCreateSchema }).strict(),
    z.object({ action: z.literal('vlanGroup.remove'), ref: objectRef }).strict(),
    z.object({ action: z.literal('vlan.add'), input: vlanCreateSchema }).strict(),
    z.object({ action: z.literal('vlan.update'), ref: vlanRef, input: vlanUpdateSchema }).strict(),
    z.object({ action: z.literal('vlan.remove'), ref: vlanRef }).strict(),
    z.object({ action: z.literal('tag.add'), input: tagCreateSchema }).strict(),
    z.object({ action: z.literal('tag.update'), ref: tagName, input: tagUpdateSchema }).strict(),
    z.object({ action: z.literal('tag.remove'), ref: tagName }).strict(),
    z.object({ action: z.literal('pool.tag'), input: poolTagSchema, remove: z.boolean() }).strict(),
    z.object({ action: z.literal('field.add'), input: fieldCreateSchema }).strict(),
    z.object({ action: z.literal('field.remove'), input: fieldRemoveSchema }).strict()
  ])
)
export type ObjectEdit = z.input<typeof objectEditSchema>
export const ipTagEditSchema = lazySchema(() =>
  z.object({ input: ipTagSchema, remove: z.boolean() }).strict()
)
export type IpTagEdit = z.input<typeof ipTagEditSchema>

/** One line saying what a queued object edit will do. */
export function describeObjectEdit(e: ObjectEdit): string {
  const a = e as Record<string, unknown> & { input?: Record<string, unknown> }
  const i = a.input ?? {}
  const [what, verb] = e.action.split('.') as [string, string]
  const noun = { site: 'site', vlanGroup: 'VLAN group', vlan: 'VLAN', tag: 'tag', pool: 'pool', field: 'custom field' }[what] ?? what
  if (e.action === 'pool.tag') return `${e.remove ? 'untag' : 'tag'} pool ${String(e.input.pool)} ${e.remove ? 'from' : 'with'} ${e.input.tags.join(', ')}`
  if (e.action === 'vlan.add') return `add VLAN ${String(e.input.group ?? 'default')}/${String(e.input.vid)}`
  if (e.action === 'field.add' || e.action === 'field.remove') return `${verb} ${noun} ${String(i.kind)}.${String(i.name)}`
  return `${verb} ${noun} ${String(a.ref ?? i.name ?? '')}`
}

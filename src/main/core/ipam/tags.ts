/**
 * Tags (name, colour) on pools and allocations, and admin-defined custom fields (issue 16, item 6).
 *
 * Custom field values are checked twice: here, so the error names the field and the reason before anything
 * is written, and by the database (ipam_check_custom_fields, called by BEFORE triggers on ip_pools and
 * ip_allocations), so no writer can store a value the definition does not allow. A field's definition is
 * never changed under stored values: removing a field that rows hold values for is refused naming how many,
 * unless forced, which removes the values in the same transaction (audited with the count).
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import {
  fieldCreateSchema,
  fieldRemoveSchema,
  ipTagSchema,
  poolTagSchema,
  tagCreateSchema,
  tagUpdateSchema,
  type FieldCreateInput,
  type FieldDto,
  type FieldKind,
  type FieldRemoveInput,
  type FieldType,
  type FieldValue,
  type IpTagInput,
  type PoolTagInput,
  type TagCreateInput,
  type TagDto,
  type TagRef,
  type TagUpdateInput
} from '../../../shared/ipam-objects'
import { appendAudit, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { authorize, mutate, type MutationOptions } from './mutation'
import { allocationByIp, changedKeys, findPoolRow, findSpaceId, iso, parse, sortedFields, type Rows } from './rows'

// ---------------------------------------------------------------- tags

interface TagRow {
  id: number
  name: string
  colour: string
  description: string | null
  pools: number
  allocations: number
  created_at: Date
  created_by: string | null
}
const TAG_COLUMNS = `t.id, t.name, t.colour, t.description, t.created_at, t.created_by,
  (select count(*) from ip_pool_tags x where x.tag_id = t.id)::int as pools,
  (select count(*) from ip_allocation_tags x where x.tag_id = t.id)::int as allocations`
const tagDto = (r: TagRow): TagDto => ({
  id: r.id,
  name: r.name,
  colour: r.colour,
  description: r.description,
  pools: r.pools,
  allocations: r.allocations,
  createdAt: iso(r.created_at)!,
  createdBy: r.created_by
})
const tagSnapshot = (t: TagDto): Record<string, unknown> => ({ name: t.name, colour: t.colour, description: t.description })

/** A palette of distinct colours handed to new tags in turn when none is given. */
const PALETTE = ['#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#ff7f0e', '#7f7f7f']

async function findTag(q: Knex | Knex.Transaction, ref: string | number, lock = false): Promise<TagRow> {
  const r = await q.raw<Rows<TagRow>>(`select ${TAG_COLUMNS} from ip_tags t where ${typeof ref === 'number' ? 't.id = ?' : 't.name = ?'} ${lock ? 'for update' : ''}`, [ref])
  if (!r.rows[0]) throw new AppError('NOT_FOUND', `tag: no tag named "${ref}"; create it with \`netkeeper tag add\``, { field: 'tag' })
  return r.rows[0]
}

/** Tag ids for names, every one of which must exist (the first unknown one is named). */
export async function tagIds(q: Knex | Knex.Transaction, names: string[], field = 'tags'): Promise<Map<string, number>> {
  const uniq = [...new Set(names.map((n) => n.trim()))]
  const r = await q.raw<Rows<{ id: number; name: string }>>(`select id, name from ip_tags where name = any(?::text[])`, [uniq])
  const m = new Map(r.rows.map((x) => [x.name, x.id]))
  const missing = uniq.find((n) => !m.has(n))
  if (missing !== undefined) throw new AppError('NOT_FOUND', `${field}: no tag named "${missing}"; create it with \`netkeeper tag add\``, { field, tag: missing })
  return m
}

export async function listTags(knex: Knex): Promise<TagDto[]> {
  return (await knex.raw<Rows<TagRow>>(`select ${TAG_COLUMNS} from ip_tags t order by t.name`)).rows.map(tagDto)
}

export async function createTag(knex: Knex, ctx: RequestContext, input: TagCreateInput, opts: MutationOptions = {}): Promise<TagDto> {
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_tag', resourceName: (input as { name?: string })?.name ?? null, details: { after: input } }
  await authorize(knex, ctx, 'admin', 'creating a tag', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(tagCreateSchema, input)
      const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_tags where name = ?`, [v.name])
      if (clash.rows[0]) throw new AppError('CONFLICT', `name: a tag named "${v.name}" already exists`, { field: 'name' })
      const n = await trx.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_tags`)
      const ins = await trx.raw<Rows<{ id: number }>>(`insert into ip_tags (name, colour, description, created_by) values (?, ?, ?, ?) returning id`, [
        v.name,
        v.colour ?? PALETTE[n.rows[0]!.n % PALETTE.length],
        v.description || null,
        ctx.actor
      ])
      const dto = tagDto(await findTag(trx, ins.rows[0]!.id))
      await appendAudit(trx, ctx, { action: 'create', resourceType: 'ip_tag', resourceId: dto.id, resourceName: dto.name, details: { after: tagSnapshot(dto) } })
      return dto
    },
    opts.inTransaction
  )
}

export async function updateTag(knex: Knex, ctx: RequestContext, ref: string, input: TagUpdateInput, opts: MutationOptions = {}): Promise<TagDto> {
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_tag', resourceName: ref, details: { after: input } }
  await authorize(knex, ctx, 'admin', 'changing a tag', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(tagUpdateSchema, input)
      const cur = await findTag(trx, ref, true)
      entry.resourceId = cur.id
      const before = tagDto(cur)
      if (v.name !== undefined && v.name !== cur.name) {
        const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_tags where name = ? and id <> ?`, [v.name, cur.id])
        if (clash.rows[0]) throw new AppError('CONFLICT', `name: a tag named "${v.name}" already exists`, { field: 'name' })
      }
      const next = { name: v.name ?? cur.name, colour: v.colour ?? cur.colour, description: v.description !== undefined ? v.description || null : cur.description }
      const changed = changedKeys(tagSnapshot(before), next)
      if (!changed.length) return before
      await trx.raw(`update ip_tags set name = ?, colour = ?, description = ?, updated_at = now() where id = ?`, [next.name, next.colour, next.description, cur.id])
      const after = tagDto(await findTag(trx, cur.id))
      const pick = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(changed.map((k) => [k, o[k] ?? null]))
      await appendAudit(trx, ctx, {
        action: 'update',
        resourceType: 'ip_tag',
        resourceId: cur.id,
        resourceName: after.name,
        details: { before: pick(tagSnapshot(before)), after: pick(tagSnapshot(after)), context: { changed } }
      })
      return after
    },
    opts.inTransaction
  )
}

/** Removes a tag and its links to pools and allocations (the audit row counts them). */
export async function deleteTag(knex: Knex, ctx: RequestContext, ref: string, opts: MutationOptions = {}): Promise<TagDto> {
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_tag', resourceName: ref, details: {} }
  await authorize(knex, ctx, 'admin', 'deleting a tag', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const cur = await findTag(trx, ref, true)
      entry.resourceId = cur.id
      await trx.raw(`delete from ip_tags where id = ?`, [cur.id])
      const dto = tagDto(cur)
      await appendAudit(trx, ctx, {
        action: 'delete',
        resourceType: 'ip_tag',
        resourceId: cur.id,
        resourceName: cur.name,
        details: { before: tagSnapshot(dto), context: { untaggedPools: cur.pools, untaggedAllocations: cur.allocations } }
      })
      return dto
    },
    opts.inTransaction
  )
}

/** The tags of pools, by pool id, sorted by name. */
export async function poolTags(q: Knex | Knex.Transaction, ids: number[]): Promise<Map<number, TagRef[]>> {
  const m = new Map<number, TagRef[]>()
  if (!ids.length) return m
  const r = await q.raw<Rows<{ pool_id: number; name: string; colour: string }>>(
    `select x.pool_id, t.name, t.colour from ip_pool_tags x join ip_tags t on t.id = x.tag_id where x.pool_id = any(?::int[]) order by t.name`,
    [ids]
  )
  for (const row of r.rows) {
    const l = m.get(row.pool_id) ?? []
    l.push({ name: row.name, colour: row.colour })
    m.set(row.pool_id, l)
  }
  return m
}

/** Replaces a pool's tags with `names` inside the caller's transaction; returns the sorted before/after names. */
export async function setPoolTags(trx: Knex.Transaction, poolId: number, names: string[]): Promise<{ before: string[]; after: string[] }> {
  const ids = await tagIds(trx, names)
  const cur = await trx.raw<Rows<{ name: string }>>(`select t.name from ip_pool_tags x join ip_tags t on t.id = x.tag_id where x.pool_id = ? order by t.name`, [poolId])
  await trx.raw(`delete from ip_pool_tags where pool_id = ?`, [poolId])
  if (ids.size) await trx.raw(`insert into ip_pool_tags (pool_id, tag_id) select ?, unnest(?::int[])`, [poolId, [...ids.values()]])
  return { before: cur.rows.map((x) => x.name), after: [...ids.keys()].sort() }
}

/** Adds or removes tags on a pool. */
export async function tagPool(knex: Knex, ctx: RequestContext, input: PoolTagInput, remove: boolean, opts: MutationOptions = {}): Promise<TagRef[]> {
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_pool', resourceName: String((input as { pool?: unknown })?.pool ?? ''), details: { after: input } }
  await authorize(knex, ctx, 'admin', remove ? 'untagging a pool' : 'tagging a pool', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(poolTagSchema, input)
      const pool = await findPoolRow(trx, v.pool, true, false)
      entry.resourceId = pool.id
      entry.resourceName = pool.name
      const ids = await tagIds(trx, v.tags)
      const cur = await trx.raw<Rows<{ name: string }>>(`select t.name from ip_pool_tags x join ip_tags t on t.id = x.tag_id where x.pool_id = ? order by t.name`, [pool.id])
      const before = cur.rows.map((x) => x.name)
      if (remove) await trx.raw(`delete from ip_pool_tags where pool_id = ? and tag_id = any(?::int[])`, [pool.id, [...ids.values()]])
      else await trx.raw(`insert into ip_pool_tags (pool_id, tag_id) select ?, unnest(?::int[]) on conflict do nothing`, [pool.id, [...ids.values()]])
      const after = (await poolTags(trx, [pool.id])).get(pool.id) ?? []
      if (JSON.stringify(before) !== JSON.stringify(after.map((t) => t.name))) {
        await trx.raw(`update ip_pools set updated_at = now() where id = ?`, [pool.id])
        await appendAudit(trx, ctx, {
          action: 'update',
          resourceType: 'ip_pool',
          resourceId: pool.id,
          resourceName: pool.name,
          details: { before: { tags: before }, after: { tags: after.map((t) => t.name) }, context: { changed: ['tags'] } }
        })
      }
      return after
    },
    opts.inTransaction
  )
}

/**
 * Adds or removes tags on allocations, each audited with its exact before/after tags; one transaction, so one
 * unknown address or tag changes nothing. Returns the addresses whose tags changed.
 */
export async function tagAllocations(knex: Knex, ctx: RequestContext, input: IpTagInput, remove: boolean, opts: MutationOptions = {}): Promise<{ changed: string[] }> {
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_allocation', resourceName: null, details: { after: input } }
  await authorize(knex, ctx, 'operator', remove ? 'untagging addresses' : 'tagging addresses', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(ipTagSchema, input)
      const space = v.space !== undefined ? await findSpaceId(trx, v.space) : null
      const ids = [...(await tagIds(trx, v.tags)).values()]
      const changed: string[] = []
      for (const ip of v.ips) {
        const a = await allocationByIp(trx, ip, true, space)
        if (!a) throw new AppError('NOT_FOUND', `ips: ${ip} is not allocated`, { field: 'ips', ip })
        const r = await applyAllocationTags(trx, a.id, remove ? { remove: ids } : { add: ids })
        if (r) {
          await trx.raw(`update ip_allocations set updated_at = now(), version = version + 1 where id = ?`, [a.id])
          await appendAudit(trx, ctx, {
            action: 'update',
            resourceType: 'ip_allocation',
            resourceId: a.id,
            resourceName: a.ip,
            details: { before: { tags: r.before }, after: { tags: r.after }, context: { pool: a.pool_name, changed: ['tags'] } }
          })
          changed.push(a.ip)
        }
      }
      return { changed }
    },
    opts.inTransaction
  )
}

/** Adds, removes or replaces an allocation's tags; null when nothing changed, else the sorted names before and after. */
export async function applyAllocationTags(
  trx: Knex.Transaction,
  allocationId: number,
  op: { add?: number[]; remove?: number[]; set?: number[] }
): Promise<{ before: string[]; after: string[] } | null> {
  const names = async (): Promise<string[]> =>
    (await trx.raw<Rows<{ name: string }>>(`select t.name from ip_allocation_tags x join ip_tags t on t.id = x.tag_id where x.allocation_id = ? order by t.name`, [allocationId])).rows.map(
      (x) => x.name
    )
  const before = await names()
  if (op.set) await trx.raw(`delete from ip_allocation_tags where allocation_id = ?`, [allocationId])
  if (op.remove?.length) await trx.raw(`delete from ip_allocation_tags where allocation_id = ? and tag_id = any(?::int[])`, [allocationId, op.remove])
  const add = op.set ?? op.add ?? []
  if (add.length) await trx.raw(`insert into ip_allocation_tags (allocation_id, tag_id) select ?, unnest(?::int[]) on conflict do nothing`, [allocationId, add])
  const after = await names()
  return JSON.stringify(before) === JSON.stringify(after) ? null : { before, after }
}

// ---------------------------------------------------------------- custom fields

interface FieldRow {
  id: number
  kind: FieldKind
  name: string
  label: string | null
  type: FieldType
  choices: string[] | null
  required: boolean
  default_value: FieldValue | null
  description: string | null
  in_use: number
  created_at: Date
  created_by: string | null
}
const FIELD_COLUMNS = `f.id, f.kind, f.name, f.label, f.type, f.choices, f.required, f.default_value, f.description, f.created_at, f.created_by,
  (case f.kind when 'pool' then (select count(*) from ip_pools p where jsonb_exists(p.custom_fields, f.name))
               else (select count(*) from ip_allocations a where jsonb_exists(a.custom_fields, f.name)) end)::int as in_use`
const fieldDto = (r: FieldRow): FieldDto => ({
  id: r.id,
  kind: r.kind,
  name: r.name,
  label: r.label,
  type: r.type,
  choices: r.choices,
  required: r.required,
  defaultValue: r.default_value,
  description: r.description,
  inUse: r.in_use,
  createdAt: iso(r.created_at)!,
  createdBy: r.created_by
})
const fieldSnapshot = (f: FieldDto): Record<string, unknown> => ({
  kind: f.kind,
  name: f.name,
  label: f.label,
  type: f.type,
  choices: f.choices,
  required: f.required,
  defaultValue: f.defaultValue,
  description: f.description
})

export async function listFields(q: Knex | Knex.Transaction, kind?: FieldKind): Promise<FieldDto[]> {
  const r = await q.raw<Rows<FieldRow>>(`select ${FIELD_COLUMNS} from ip_custom_fields f ${kind ? 'where f.kind = ?' : ''} order by f.kind, f.name`, kind ? [kind] : [])
  return r.rows.map(fieldDto)
}

/** The definitions of one kind, by name, without the in-use counts (for validation). */
async function definitions(q: Knex | Knex.Transaction, kind: FieldKind): Promise<Map<string, Pick<FieldRow, 'name' | 'type' | 'choices' | 'required' | 'default_value'>>> {
  const r = await q.raw<Rows<FieldRow>>(`select name, type, choices, required, default_value from ip_custom_fields where kind = ?`, [kind])
  return new Map(r.rows.map((x) => [x.name, x]))
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const URL_RE = /^https?:\/\/[^\s/?#]+[^\s]*$/i

/** One value converted to its field's type (text as typed on a command line or in a form is accepted); throws naming the field. */
export function coerceFieldValue(field: string, type: FieldType, choices: string[] | null, raw: FieldValue): FieldValue {
  const err = (reason: string): AppError => validationError(`customFields.${field}`, reason, { customField: field })
  switch (type) {
    case 'text': {
      const s = String(raw)
      if (s.length > 1000) throw err('longer than 1000 characters')
      return s
    }
    case 'integer': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN
      if (!Number.isSafeInteger(n)) throw err(`must be a whole number, got ${JSON.stringify(raw)}`)
      return n
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return raw
      const s = String(raw).trim().toLowerCase()
      if (['true', 'yes', '1', 'on'].includes(s)) return true
      if (['false', 'no', '0', 'off'].includes(s)) return false
      throw err(`must be true or false, got ${JSON.stringify(raw)}`)
    }
    case 'choice': {
      const s = String(raw).trim()
      if (!choices?.includes(s)) throw err(`"${s}" is not one of ${(choices ?? []).join(', ')}`)
      return s
    }
    case 'date': {
      const s = String(raw).trim()
      const m = DATE.exec(s)
      const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null
      if (!m || !d || d.toISOString().slice(0, 10) !== s) throw err(`"${s}" is not a date (YYYY-MM-DD)`)
      return s
    }
    case 'url': {
      const s = String(raw).trim()
      if (!URL_RE.test(s)) throw err(`"${s}" is not an http(s) URL`)
      return s
    }
  }
}

/**
 * The custom field values a row will hold: `current` with `changes` merged (null removes one), each value
 * converted to its field's type, unknown fields and missing required ones refused (a missing required field
 * takes its default, as the database does).
 */
export async function mergeFieldValues(
  q: Knex | Knex.Transaction,
  kind: FieldKind,
  current: Record<string, FieldValue>,
  changes: Record<string, FieldValue | null> | undefined
): Promise<Record<string, FieldValue>> {
  const defs = await definitions(q, kind)
  const out: Record<string, FieldValue> = { ...current }
  for (const [k, raw] of Object.entries(changes ?? {})) {
    const def = defs.get(k)
    if (!def) throw validationError(`customFields.${k}`, `no such ${kind} field (see \`netkeeper field list\`)`, { customField: k })
    if (raw === null || raw === '') {
      if (def.required) throw validationError(`customFields.${k}`, 'required: it cannot be cleared', { customField: k })
      delete out[k]
    } else out[k] = coerceFieldValue(k, def.type, def.choices, raw)
  }
  for (const def of defs.values()) {
    if (def.required && out[def.name] === undefined) {
      if (def.default_value === null) throw validationError(`customFields.${def.name}`, 'required', { customField: def.name })
      out[def.name] = def.default_value
    }
  }
  return sortedFields(out)
}

export async function createField(knex: Knex, ctx: RequestContext, input: FieldCreateInput, opts: MutationOptions = {}): Promise<FieldDto> {
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_custom_field', resourceName: (input as { name?: string })?.name ?? null, details: { after: input } }
  await authorize(knex, ctx, 'admin', 'defining a custom field', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(fieldCreateSchema, input)
      const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_custom_fields where kind = ? and name = ?`, [v.kind, v.name])
      if (clash.rows[0]) throw new AppError('CONFLICT', `name: a ${v.kind} field named "${v.name}" already exists`, { field: 'name' })
      const choices = v.type === 'choice' ? [...new Set((v.choices ?? []).map((c) => c.trim()))] : null
      if (v.type === 'choice' && !choices!.length) throw validationError('choices', 'a choice field needs its choices (e.g. --choices gold,silver)')
      if (v.type !== 'choice' && v.choices?.length) throw validationError('choices', `only a choice field has choices, not a ${v.type} field`)
      let def: FieldValue | null = null
      if (v.defaultValue !== undefined && v.defaultValue !== null && v.defaultValue !== '') {
        try {
          def = coerceFieldValue(v.name, v.type, choices, v.defaultValue)
        } catch (e) {
          throw validationError('defaultValue', (e as AppError).message.replace(/^customFields\.[^:]+: /, ''))
        }
      }
      if (v.required && def === null) {
        // A required field without a default would make every existing row invalid: refuse, naming how many.
        const n = await trx.raw<Rows<{ n: number }>>(`select count(*)::int as n from ${v.kind === 'pool' ? 'ip_pools' : 'ip_allocations'}`)
        if (n.rows[0]!.n > 0) {
          throw validationError('required', `${n.rows[0]!.n} existing ${v.kind} row(s) would have no value; give a default (--default) to fill them in`)
        }
      }
      const ins = await trx.raw<Rows<{ id: number }>>(
        `insert into ip_custom_fields (kind, name, label, type, choices, required, default_value, description, created_by)
         values (?, ?, ?, ?, ?::text[], ?, ?::jsonb, ?, ?) returning id`,
        [v.kind, v.name, v.label || null, v.type, choices, v.required, def === null ? null : JSON.stringify(def), v.description || null, ctx.actor]
      )
      let filled = 0
      if (v.required && def !== null) {
        const t = v.kind === 'pool' ? 'ip_pools' : 'ip_allocations'
        const u = await trx.raw<Rows<{ n: number }>>(
          `with u as (update ${t} set custom_fields = custom_fields || jsonb_build_object(?::text, ?::jsonb) where not jsonb_exists(custom_fields, ?) returning 1) select count(*)::int as n from u`,
          [v.name, JSON.stringify(def), v.name]
        )
        filled = u.rows[0]!.n
      }
      const dto = (await listFields(trx, v.kind)).find((f) => f.id === ins.rows[0]!.id)!
      await appendAudit(trx, ctx, {
        action: 'create',
        resourceType: 'ip_custom_field',
        resourceId: dto.id,
        resourceName: `${dto.kind}.${dto.name}`,
        details: { after: fieldSnapshot(dto), ...(filled ? { context: { defaultFilledIn: filled } } : {}) }
      })
      return dto
    },
    opts.inTransaction
  )
}

/** Removes a field; refused while rows hold values for it unless forced, which strips them in the same transaction. */
export async function removeField(knex: Knex, ctx: RequestContext, input: FieldRemoveInput, opts: MutationOptions = {}): Promise<FieldDto & { valuesRemoved: number }> {
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_custom_field', resourceName: (input as { name?: string })?.name ?? null, details: {} }
  await authorize(knex, ctx, 'admin', 'removing a custom field', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(fieldRemoveSchema, input)
      const cur = (await listFields(trx, v.kind)).find((f) => f.name === v.name)
      if (!cur) throw new AppError('NOT_FOUND', `name: no ${v.kind} field named "${v.name}"`, { field: 'name' })
      entry.resourceId = cur.id
      entry.resourceName = `${cur.kind}.${cur.name}`
      await trx.raw(`select 1 from ip_custom_fields where id = ? for update`, [cur.id])
      if (cur.inUse && !v.force) {
        throw new AppError('CONFLICT', `name: ${cur.inUse} ${cur.kind} row(s) hold a value for "${cur.name}"; remove with --force to delete those values too`, {
          field: 'name',
          inUse: cur.inUse
        })
      }
      let removed = 0
      if (cur.inUse) {
        const t = cur.kind === 'pool' ? 'ip_pools' : 'ip_allocations'
        // Required fields stay valid on the way out: the definition goes first, so the check no longer asks for it.
        await trx.raw(`update ip_custom_fields set required = false where id = ?`, [cur.id])
        const u = await trx.raw<Rows<{ n: number }>>(`with u as (update ${t} set custom_fields = custom_fields - ?::text where jsonb_exists(custom_fields, ?) returning 1) select count(*)::int as n from u`, [
          cur.name,
          cur.name
        ])
        removed = u.rows[0]!.n
      }
      await trx.raw(`delete from ip_custom_fields where id = ?`, [cur.id])
      await appendAudit(trx, ctx, {
        action: 'delete',
        resourceType: 'ip_custom_field',
        resourceId: cur.id,
        resourceName: entry.resourceName,
        details: { before: fieldSnapshot(cur), context: { force: !!v.force, valuesRemoved: removed } }
      })
      return { ...cur, inUse: 0, valuesRemoved: removed }
    },
    opts.inTransaction
  )
}

/** A `name=value` filter with each value converted to its field's type (unknown fields are refused, naming them). */
export async function fieldFilter(q: Knex | Knex.Transaction, kind: FieldKind, filter: Record<string, string>): Promise<Record<string, FieldValue>> {
  const defs = await definitions(q, kind)
  const out: Record<string, FieldValue> = {}
  for (const [k, raw] of Object.entries(filter)) {
    const def = defs.get(k)
    if (!def) throw validationError(`fields.${k}`, `no such ${kind} field (see \`netkeeper field list\`)`, { customField: k })
    out[k] = coerceFieldValue(k, def.type, def.choices, raw)
  }
  return out
}

/**
 * The name of a custom field of `kind` to sort a list by, checked against the definitions so a typo is an error
 * naming the field rather than a silently unsorted list.
 */
export async function fieldSortKey(q: Knex | Knex.Transaction, kind: FieldKind, name: string): Promise<string> {
  const defs = await definitions(q, kind)
  if (!defs.has(name)) throw validationError('sortField', `no such ${kind} field "${name}" (see \`netkeeper field list\`)`, { customField: name })
  return name
}

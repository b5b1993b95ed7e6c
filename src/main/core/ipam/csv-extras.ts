/**
 * Tags and custom fields as CSV columns (docs/ipam.md#csv-in-and-out): the `tags` column (names joined by
 * commas: a tag name holds no comma or space) and one `cf_<name>` column per custom field of the kind.
 *
 * Custom field cells are checked with the forms' rules (coerceFieldValue, the same function the pool and
 * allocation services call; the database's trigger checks again), so a bad value skips its row with the
 * column and the reason. A required field missing from a new row takes its default, or skips the row; a
 * mapped cell left empty on an existing row removes the value (refused for a required field). Tags the file
 * names must exist, unless the person chose "create missing tags" (admin only, as creating a tag is): then
 * they are created in the import's transaction, each with its own audit row.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import type { FieldType, FieldValue } from '../../../shared/ipam-objects'
import { CUSTOM_FIELD_PREFIX, customFieldKindOf, isCustomFieldColumn, type CsvColumnMap, type CsvKind, type CsvProblem } from '../../../shared/ipam-csv'
import type { BulkAudit } from '../audit/writer'
import { requireRole, type RequestContext } from '../context'
import { pgArray } from '../importer/write'
import { sortedFields } from './rows'
import { coerceFieldValue } from './tags'

type Values = Record<string, string | null>
type Rows<T> = { rows: T[] }

interface FieldDef {
  name: string
  type: FieldType
  choices: string[] | null
  required: boolean
  default_value: FieldValue | null
}

export interface Extras {
  kind: CsvKind
  defs: Map<string, FieldDef>
  /** The mapped custom field columns' fields (cf_<name>), in the file's order. */
  cfFields: string[]
  tagsMapped: boolean
  tagIds: Map<string, number>
  /** Tags named by rows that are not skipped and do not exist (created when createTags). */
  newTags: Set<string>
  createTags: boolean
}

const PALETTE = ['#1f77b4', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#ff7f0e', '#7f7f7f']

const columnOf = (columns: CsvColumnMap[], field: string): string | null => columns.find((c) => c.field === field)?.column ?? null

/** The definitions and tags the mapped columns need; an unknown custom field column refuses the file (a header problem). */
export async function loadExtras(trx: Knex.Transaction, kind: CsvKind, columns: CsvColumnMap[], headerProblems: CsvProblem[], createTags: boolean): Promise<Extras> {
  const fkind = customFieldKindOf(kind)
  const r = await trx.raw<Rows<FieldDef>>(`select name, type, choices, required, default_value from ip_custom_fields where kind = ? order by name`, [fkind])
  const defs = new Map(r.rows.map((d) => [d.name, d]))
  const cfFields: string[] = []
  for (const c of columns) {
    if (!isCustomFieldColumn(c.field)) continue
    const name = c.field.slice(CUSTOM_FIELD_PREFIX.length)
    if (!defs.has(name)) {
      const known = [...defs.keys()].map((n) => CUSTOM_FIELD_PREFIX + n)
      headerProblems.push({
        line: 1,
        kind: 'unknown_column',
        column: c.column,
        value: c.column,
        reason: `column "${c.column}": no ${fkind} custom field is named "${name}" (${known.length ? `the ${fkind} fields: ${known.join(', ')}` : `no ${fkind} custom field is defined`}); define it with \`netkeeper field add\` or leave the column out (--map "${c.column}=ignore")`,
        outcome: 'refused'
      })
      continue
    }
    cfFields.push(c.field)
  }
  const tagsMapped = columns.some((c) => c.field === 'tags')
  const tagIds = new Map<string, number>()
  if (tagsMapped) for (const t of (await trx.raw<Rows<{ id: number; name: string }>>(`select id, name from ip_tags`)).rows) tagIds.set(t.name, t.id)
  return { kind, defs, cfFields, tagsMapped, tagIds, newTags: new Set(), createTags }
}

/** The canonical text of a typed value, as `custom_fields ->> name` gives it back. */
const valueText = (v: FieldValue): string => (typeof v === 'string' ? v : String(v))

/**
 * Checks a row's custom field cells (canonicalised in place) and its tags; the first problem skips it. Tags
 * that do not exist are collected in x.newTags when the person chose to create them.
 */
export function checkRowExtras(x: Extras, line: number, values: Values, columns: CsvColumnMap[]): CsvProblem | null {
  for (const f of x.cfFields) {
    const raw = values[f]
    if (raw === null || raw === undefined) continue
    const def = x.defs.get(f.slice(CUSTOM_FIELD_PREFIX.length))!
    try {
      values[f] = valueText(coerceFieldValue(def.name, def.type, def.choices, raw))
    } catch (e) {
      const column = columnOf(columns, f)
      const reason = (e as Error).message.replace(/^customFields\.[a-z0-9_]+: /, '')
      return { line, kind: 'bad_value', column, value: raw, reason: `${column} (custom field ${def.name}, ${def.type}): ${reason}`, outcome: 'skipped' }
    }
  }
  if (x.tagsMapped && values.tags) {
    const missing = values.tags.split(',').filter((t) => !x.tagIds.has(t))
    if (missing.length && !x.createTags) {
      const column = columnOf(columns, 'tags')
      return {
        line,
        kind: 'unknown_tag',
        column,
        value: values.tags,
        reason: `${column}: no tag named ${missing.map((m) => `"${m}"`).join(', ')}; create ${missing.length > 1 ? 'them' : 'it'} first (netkeeper tag add) or choose to create missing tags (--create-tags)`,
        outcome: 'skipped'
      }
    }
    for (const m of missing) x.newTags.add(m)
  }
  return null
}

/** A new row: required custom fields the row leaves empty take their default, or the row is skipped. */
export function requiredOnCreate(x: Extras, line: number, values: Values, columns: CsvColumnMap[]): CsvProblem | null {
  for (const def of x.defs.values()) {
    if (!def.required) continue
    const f = CUSTOM_FIELD_PREFIX + def.name
    if (values[f] !== null && values[f] !== undefined) continue
    if (def.default_value === null) {
      const column = columnOf(columns, f)
      return {
        line,
        kind: 'bad_value',
        column,
        value: null,
        reason: `${column ?? f} (custom field ${def.name}): required${column ? '' : `: the file has no ${f} column`} and the field has no default`,
        outcome: 'skipped'
      }
    }
    values[f] = valueText(def.default_value)
  }
  return null
}

/** An existing row: a mapped required field cannot be emptied. */
export function requiredOnUpdate(x: Extras, line: number, values: Values, columns: CsvColumnMap[]): CsvProblem | null {
  for (const f of x.cfFields) {
    const def = x.defs.get(f.slice(CUSTOM_FIELD_PREFIX.length))!
    if (def.required && (values[f] === null || values[f] === undefined)) {
      const column = columnOf(columns, f)
      return { line, kind: 'bad_value', column, value: null, reason: `${column} (custom field ${def.name}): required: it cannot be cleared`, outcome: 'skipped' }
    }
  }
  return null
}

/** The fields compared and written beyond the kind's own: tags when mapped, the mapped custom fields. */
export const extraFields = (x: Extras): string[] => [...(x.tagsMapped ? ['tags'] : []), ...x.cfFields]

/** The custom field values of an existing row as the rows' canonical text (cf_<name> -> text). */
export function customValues(json: Record<string, FieldValue> | null | undefined): Values {
  const out: Values = {}
  for (const [k, v] of Object.entries(json ?? {})) if (v !== null) out[CUSTOM_FIELD_PREFIX + k] = valueText(v)
  return out
}

/** The custom_fields object a row will hold: `base` with each custom field of `values` set (typed) or removed. */
export function customObject(x: Extras, values: Values, base: Record<string, FieldValue> = {}): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = { ...base }
  for (const [k, v] of Object.entries(values)) {
    if (!isCustomFieldColumn(k)) continue
    const def = x.defs.get(k.slice(CUSTOM_FIELD_PREFIX.length))
    if (!def) continue
    if (v === null || v === undefined) delete out[def.name]
    else out[def.name] = def.type === 'integer' ? Number(v) : def.type === 'boolean' ? v === 'true' : v
  }
  return sortedFields(out)
}

/** Tags and custom fields for an audit snapshot, named as the services' snapshots name them. */
export function extraSnapshot(x: Extras, values: Values): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (values.tags) out.tags = values.tags.split(',')
  const cf = customObject(x, values)
  if (Object.keys(cf).length) out.customFields = cf
  return out
}

/** Creates the missing tags the file names (createTags), each audited; needs the admin role, as creating a tag does. */
export async function createMissingTags(trx: Knex.Transaction, ctx: RequestContext, audit: BulkAudit, x: Extras, importId: string): Promise<void> {
  if (!x.newTags.size) return
  requireRole(ctx, 'admin', `creating the tags the file names (${[...x.newTags].slice(0, 5).join(', ')})`)
  const names = [...x.newTags].sort()
  const n = (await trx.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_tags`)).rows[0]!.n
  const r = await trx.raw<Rows<{ id: number; name: string; colour: string }>>(
    `insert into ip_tags (name, colour, created_by) select u.name, u.colour, ? from unnest(?::text[], ?::text[]) as u(name, colour) returning id, name, colour`,
    [ctx.actor, pgArray(names, (t) => t), pgArray(names, (_, j) => PALETTE[(n + j) % PALETTE.length]!)]
  )
  if (r.rows.length !== names.length) throw new AppError('CONFLICT', 'tags: a tag the file names was created meanwhile; run the import again', { field: 'tags' })
  for (const t of r.rows) x.tagIds.set(t.name, t.id)
  await audit.write(
    audit.prepare(
      r.rows.map((t) => ({
        action: 'create' as const,
        resourceType: 'ip_tag',
        resourceId: t.id,
        resourceName: t.name,
        details: { after: { name: t.name, colour: t.colour, description: null }, context: { operation: 'csv-import', importId } } as Record<string, unknown>
      }))
    )
  )
}

/**
 * Links rows to their tags (`tags` as the canonical "a,b"); with `replace` the rows' current tags go first
 * (an existing row whose tags column is mapped gets exactly the file's tags).
 */
export async function writeTags(trx: Knex.Transaction, kind: CsvKind, ids: number[], tags: (string | null)[], replace: boolean): Promise<void> {
  const [table, col] = kind === 'pools' ? ['ip_pool_tags', 'pool_id'] : ['ip_allocation_tags', 'allocation_id']
  if (replace && ids.length) await trx.raw(`delete from ${table} where ${col} = any(?::int[])`, [pgArray(ids, (i) => i)])
  const withTags = ids.map((id, i) => [id, tags[i]] as const).filter(([, t]) => t)
  if (!withTags.length) return
  await trx.raw(
    `insert into ${table} (${col}, tag_id)
     select u.id, t.id from unnest(?::int[], ?::text[]) as u(id, tags), unnest(string_to_array(u.tags, ',')) as n(name) join ip_tags t on t.name = n.name
     on conflict do nothing`,
    [pgArray(withTags, ([id]) => id), pgArray(withTags, ([, t]) => t)]
  )
}

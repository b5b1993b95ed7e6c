/**
 * A field-by-field comparison of an audit entry's `before` and `after` values. Nested objects are
 * flattened to dotted paths (`holder.hostname`); arrays are compared as whole values. No DOM, no vue.
 */

export type DiffKind = 'added' | 'removed' | 'changed' | 'unchanged'

export interface DiffRow {
  field: string
  kind: DiffKind
  before?: unknown
  after?: unknown
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Flattens nested plain objects to `a.b.c` keys; leaves arrays and scalars as values. */
export function flatten(value: unknown, prefix = '', out: Map<string, unknown> = new Map()): Map<string, unknown> {
  if (!isPlainObject(value)) {
    if (prefix) out.set(prefix, value)
    return out
  }
  const keys = Object.keys(value)
  if (!keys.length && prefix) out.set(prefix, {})
  for (const k of keys) flatten(value[k], prefix ? `${prefix}.${k}` : k, out)
  return out
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * Rows for every field in either side, in the order fields first appear (before's order, then after's new
 * fields). A side that is absent altogether (a create has no before, a delete no after) makes every field
 * added or removed.
 */
export function diffValues(before: unknown, after: unknown): DiffRow[] {
  const b = flatten(before)
  const a = flatten(after)
  const fields = [...new Set([...b.keys(), ...a.keys()])]
  return fields.map((field) => {
    const inB = b.has(field)
    const inA = a.has(field)
    if (inB && !inA) return { field, kind: 'removed', before: b.get(field) }
    if (!inB && inA) return { field, kind: 'added', after: a.get(field) }
    const bv = b.get(field)
    const av = a.get(field)
    return { field, kind: same(bv, av) ? 'unchanged' : 'changed', before: bv, after: av }
  })
}

/** How a value reads in the diff table: null and strings plainly, everything else as JSON. */
export function displayValue(v: unknown): string {
  if (v === undefined) return ''
  if (v === null) return 'null'
  if (typeof v === 'string') return v
  return JSON.stringify(v)
}

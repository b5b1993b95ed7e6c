/** The columns an allocations table can show: the built-in ones, and one per allocation custom field. */
import type { FieldDto } from '@shared/ipam-objects'

export type AllocSortKey = 'ip' | 'hostname' | 'owner' | 'status' | 'updated'

export interface AllocColumn {
  /** A built-in key, or `cf:<field>` for a custom field. */
  id: string
  label: string
  /** The server-side sort this column's header asks for (custom fields sort by their value). */
  sort?: AllocSortKey
  field?: FieldDto
}

export const ALLOC_BUILT_IN: AllocColumn[] = [
  { id: 'hostname', label: 'Host name', sort: 'hostname' },
  { id: 'mac', label: 'MAC' },
  { id: 'owner', label: 'Owner', sort: 'owner' },
  { id: 'status', label: 'Status', sort: 'status' },
  { id: 'updated', label: 'Updated', sort: 'updated' },
  { id: 'purpose', label: 'Purpose' },
  { id: 'description', label: 'Description' },
  { id: 'tags', label: 'Tags' },
  { id: 'reservedUntil', label: 'Reserved until' }
]

/** Shown until someone picks otherwise (and wherever a table has no Columns menu, such as address search). */
export const ALLOC_DEFAULT_COLUMNS = ['hostname', 'mac', 'owner', 'status', 'updated'] as const

export const fieldColumns = (fields: FieldDto[], kind: 'pool' | 'allocation'): { id: string; label: string; field: FieldDto }[] =>
  fields.filter((f) => f.kind === kind).map((f) => ({ id: `cf:${f.name}`, label: f.label || f.name, field: f }))

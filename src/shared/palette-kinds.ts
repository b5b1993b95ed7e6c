/**
 * The command palette's sources and which of them can answer a query. Imports nothing, zod included: the
 * renderer's first chunk (the palette's store) imports it, and zod there would come with every schema.
 */
export const PALETTE_KINDS = ['pool', 'address', 'user', 'group', 'audit'] as const
export type PaletteKind = (typeof PALETTE_KINDS)[number]

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Whether a source can answer this (trimmed) query at all: an audit entry is found only by a request id or a
 * sequence number, and a bare letter would match half the host names and groups. The palette does not ask a
 * source that cannot answer, and the search gives no group for it.
 */
export function paletteSourceApplies(kind: PaletteKind, query: string): boolean {
  switch (kind) {
    case 'pool':
    case 'user':
      return true
    case 'address':
    case 'group':
      return query.length >= 2
    case 'audit':
      return UUID.test(query) || /^#?\d{1,19}$/.test(query)
  }
}

/**
 * The command palette's search (a call per source, or one that fans out to all of them in the main process) and the app's links,
 * `netkeeper://pool/NAME`, `netkeeper://ip/ADDRESS`, `netkeeper://user/UID`, `netkeeper://audit/SEQ`
 * (and `group/CN`, `request/UUID`), parsed the same way by the Electron shell, the browser harness and the
 * renderer. Imports nothing from node, electron or vue.
 */
import { z } from 'zod'
import { hasControl } from './links'

// The links live in links.ts (no zod: the renderer's first chunk imports them); re-exported for the rest.
export { LINK_SCHEME, formatLink, linkInArgv, parseLink, type AppLink } from './links'

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

export const paletteSearchSchema = z
  .object({
    query: z
      .string()
      .trim()
      .min(1, 'is required')
      .max(200, 'must be at most 200 characters')
      .refine((v) => !hasControl(v), 'must not contain control characters'),
    /** Results per group (the palette shows a few of each). */
    limit: z.number().int().min(1, 'must be 1-20').max(20, 'must be 1-20').default(5),
    /**
     * The sources to ask (every one when absent). The palette asks each source in a call of its own, so a
     * fast source is painted without waiting for the slowest.
     */
    sources: z.array(z.enum(PALETTE_KINDS)).min(1, 'must name at least one source').optional()
  })
  .strict()
export type PaletteSearchInput = z.input<typeof paletteSearchSchema>

export interface PaletteItem {
  kind: PaletteKind
  /** What opens it: a pool id, an address, a uid, a group cn, an audit seq. */
  key: string
  title: string
  detail?: string
  /** An address's pool, so opening it needs no second look-up. */
  poolId?: number
}

export interface PaletteGroup {
  kind: PaletteKind
  items: PaletteItem[]
  /** How many match in all, when the source knows (the palette shows "and N more"). */
  total?: number
  /** The count stopped at its cap: at least `total` match ("1,000+ more"). */
  totalCapped?: boolean
  /** Milliseconds this source took in the main process. */
  tookMs?: number
  /** Why this group could not be searched (signed out of the directory, the database unreachable). */
  note?: string
}

export interface PaletteResults {
  query: string
  groups: PaletteGroup[]
  /** Milliseconds the fan-out took in the main process. */
  tookMs: number
}

/**
 * The command palette's search (a call per source, or one that fans out to all of them in the main process) and the app's links,
 * `netkeeper://pool/NAME`, `netkeeper://ip/ADDRESS`, `netkeeper://user/UID`, `netkeeper://audit/SEQ`
 * (and `group/CN`, `request/UUID`), parsed the same way by the Electron shell, the browser harness and the
 * renderer. Imports nothing from node, electron or vue.
 */
import { z } from 'zod'
import { hasControl } from './links'
import { PALETTE_KINDS, type PaletteKind } from './palette-kinds'

// The links live in links.ts (no zod: the renderer's first chunk imports them); re-exported for the rest.
export { LINK_SCHEME, formatLink, linkInArgv, parseLink, type AppLink } from './links'

// The kinds and which of them can answer a query live in palette-kinds.ts (no zod: the palette's store is in
// the renderer's first chunk); re-exported for the rest.
export { PALETTE_KINDS, paletteSourceApplies, type PaletteKind } from './palette-kinds'
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

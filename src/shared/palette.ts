/**
 * The command palette's search (one call that fans out in the main process) and the app's links,
 * `netkeeper://pool/NAME`, `netkeeper://ip/ADDRESS`, `netkeeper://user/UID`, `netkeeper://audit/SEQ`
 * (and `group/CN`, `request/UUID`), parsed the same way by the Electron shell, the browser harness and the
 * renderer. Imports nothing from node, electron or vue.
 */
import { z } from 'zod'

/** A C0 control character or DEL anywhere in `s`. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

export const PALETTE_KINDS = ['pool', 'address', 'user', 'group', 'audit'] as const
export type PaletteKind = (typeof PALETTE_KINDS)[number]

export const paletteSearchSchema = z
  .object({
    query: z
      .string()
      .trim()
      .min(1, 'is required')
      .max(200, 'must be at most 200 characters')
      .refine((v) => !hasControl(v), 'must not contain control characters'),
    /** Results per group (the palette shows a few of each). */
    limit: z.number().int().min(1, 'must be 1-20').max(20, 'must be 1-20').default(5)
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
  /** Why this group could not be searched (signed out of the directory, the database unreachable). */
  note?: string
}

export interface PaletteResults {
  query: string
  groups: PaletteGroup[]
  /** Milliseconds the fan-out took in the main process. */
  tookMs: number
}

// ------------------------------------------------------------------------------------------------ links

export const LINK_SCHEME = 'netkeeper'

export type AppLink =
  | { kind: 'pool'; name: string }
  | { kind: 'ip'; address: string }
  | { kind: 'user'; uid: string }
  | { kind: 'group'; cn: string }
  | { kind: 'audit'; seq: string }
  | { kind: 'request'; id: string }

const LINK_KINDS = ['pool', 'ip', 'user', 'group', 'audit', 'request'] as const

/**
 * `netkeeper://KIND/VALUE` (VALUE percent-encoded; `netkeeper:KIND/VALUE` too), or undefined for anything
 * else. Values are checked for shape only; the core checks them again when they are opened.
 */
export function parseLink(raw: string): AppLink | undefined {
  if (typeof raw !== 'string' || raw.length > 2048) return undefined
  const m = /^netkeeper:(?:\/\/)?([a-z]+)\/(.+?)\/?$/i.exec(raw.trim())
  if (!m) return undefined
  const kind = m[1]!.toLowerCase() as (typeof LINK_KINDS)[number]
  if (!(LINK_KINDS as readonly string[]).includes(kind)) return undefined
  let value: string
  try {
    value = decodeURIComponent(m[2]!).trim()
  } catch {
    return undefined
  }
  if (!value || value.length > 256 || hasControl(value)) return undefined
  switch (kind) {
    case 'pool':
      return { kind, name: value }
    case 'ip':
      return /^[0-9a-f:.]+$/i.test(value) ? { kind, address: value } : undefined
    case 'user':
      return { kind, uid: value }
    case 'group':
      return { kind, cn: value }
    case 'audit': {
      const seq = value.replace(/^#/, '')
      return /^\d{1,19}$/.test(seq) ? { kind, seq } : undefined
    }
    case 'request':
      return /^[0-9a-f-]{36}$/i.test(value) ? { kind, id: value.toLowerCase() } : undefined
  }
}

/** The link that opens `l` (the inverse of parseLink). */
export function formatLink(l: AppLink): string {
  const v = l.kind === 'pool' ? l.name : l.kind === 'ip' ? l.address : l.kind === 'user' ? l.uid : l.kind === 'group' ? l.cn : l.kind === 'audit' ? l.seq : l.id
  return `${LINK_SCHEME}://${l.kind}/${encodeURIComponent(v)}`
}

/** The first argument of a command line that is a link (a second launch hands it to the running window). */
export function linkInArgv(argv: readonly string[]): string | undefined {
  return argv.find((a) => typeof a === 'string' && /^netkeeper:/i.test(a) && parseLink(a) !== undefined)
}

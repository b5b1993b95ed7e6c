/**
 * The app's links, `netkeeper://pool/NAME`, `netkeeper://ip/ADDRESS`, `netkeeper://user/UID`,
 * `netkeeper://audit/SEQ` (and `group/CN`, `request/UUID`), parsed the same way by the Electron shell, the
 * browser harness and the renderer. Imports nothing at all (no zod), so the renderer's first chunk can.
 */

/** A C0 control character or DEL anywhere in `s`. */
export function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

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

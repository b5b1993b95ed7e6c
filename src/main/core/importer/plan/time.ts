/** Legacy timestamps: the common shapes read fast, every other one through the general pattern. */

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i

/** A legacy timestamp as ISO-8601 UTC. SQLite's CURRENT_TIMESTAMP is UTC without a zone. `bad` when unreadable. */
export function legacyTime(v: string | null): { iso: string | null; bad: boolean } {
  const s = (v ?? '').trim()
  if (!s) return { iso: null, bad: false }
  if (s === lastTimeIn) return { iso: lastTimeOut, bad: false }
  const iso = plainTime(s)
  if (iso !== null) {
    lastTimeIn = s
    lastTimeOut = iso
    return { iso, bad: false }
  }
  return anyTime(s)
}

// Rows of a file mostly share a few timestamps: the last one read is kept.
let lastTimeIn = ''
let lastTimeOut = ''

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** Two decimal digits at s[i], or -1. */
function digits2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48
  const b = s.charCodeAt(i + 1) - 48
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1
}

/**
 * The common shapes, read without the general pattern: `YYYY-MM-DD HH:MM:SS` (or with T), optionally with
 * `.mmm` and `Z`, a valid UTC date and time from the year 100 on. Null for anything else (anyTime decides).
 */
function plainTime(s: string): string | null {
  const n = s.length
  if (n !== 19 && n !== 20 && n !== 23 && n !== 24) return null
  const sep = s.charCodeAt(10)
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || (sep !== 32 && sep !== 84 && sep !== 116) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return null
  let end = 19
  if (n >= 23) {
    if (s.charCodeAt(19) !== 46 || digits2(s, 20) < 0 || digits2(s, 21) < 0) return null
    end = 23
  }
  if (n === end + 1) {
    const z = s.charCodeAt(end)
    if (z !== 90 && z !== 122) return null
  } else if (n !== end) return null
  const c = digits2(s, 0)
  const y2 = digits2(s, 2)
  const mo = digits2(s, 5)
  const d = digits2(s, 8)
  const h = digits2(s, 11)
  const mi = digits2(s, 14)
  const sec = digits2(s, 17)
  // Years before 100 are left to Date.UTC's own reading (anyTime).
  if (c < 1 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return null
  const y = c * 100 + y2
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
  if (d > (mo === 2 && leap ? 29 : DAYS[mo - 1]!)) return null
  return s.slice(0, 10) + 'T' + s.slice(11, 19) + (end === 23 ? s.slice(19, 23) : '.000') + 'Z'
}

/** Every shape legacyTime accepts: the general pattern, epoch seconds, offsets. */
function anyTime(s: string): { iso: string | null; bad: boolean } {
  if (/^\d{9,10}(\.\d+)?$/.test(s)) return { iso: new Date(Number(s) * 1000).toISOString(), bad: false }
  const m = TIME.exec(s)
  if (!m) return { iso: null, bad: true }
  const [y, mo, d, h = '0', mi = '0', sec = '0'] = m.slice(1, 7).map((x) => x ?? '0') as string[]
  const ms = m[7] ? Math.round(Number(m[7]) * 1000) : 0
  const parts = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(sec)] as const
  if (parts[1] < 1 || parts[1] > 12 || parts[3] > 23 || parts[4] > 59 || parts[5] > 59) return { iso: null, bad: true }
  const t = Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5], ms)
  const back = new Date(t)
  // Date.UTC rolls 30 February over into March: refuse what does not round-trip.
  if (back.getUTCFullYear() !== parts[0] || back.getUTCMonth() !== parts[1] - 1 || back.getUTCDate() !== parts[2]) return { iso: null, bad: true }
  let offsetMin = 0
  const z = m[8]
  if (z && z.toUpperCase() !== 'Z') {
    const sign = z.startsWith('-') ? -1 : 1
    const digits = z.slice(1).replace(':', '')
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)))
  }
  return { iso: new Date(t - offsetMin * 60_000).toISOString(), bad: false }
}

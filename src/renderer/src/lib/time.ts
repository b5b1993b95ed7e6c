/** Date helpers for datetime-local inputs and compact display. */

const p = (n: number): string => String(n).padStart(2, '0')

/** ISO-8601 -> the value a datetime-local input shows (local time, minutes). */
export function isoToLocalInput(iso: string | null | undefined): string {
  if (!iso) return ''
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`
}

/** A datetime-local value -> ISO-8601 (UTC), or undefined when empty or invalid. */
export function localInputToIso(v: string): string | undefined {
  if (!v.trim()) return undefined
  const d = new Date(v)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
}

/** 2026-11-27 14:05:09 in local time. */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '–'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** "3 minutes ago", "2 days ago": for tooltips next to exact times. */
export function relativeTime(iso: string, now = Date.now()): string {
  const s = Math.round((now - new Date(iso).getTime()) / 1000)
  if (s < 45) return 'just now'
  const units: [number, string][] = [
    [60, 'minute'],
    [3600, 'hour'],
    [86400, 'day'],
    [2592000, 'month'],
    [31536000, 'year']
  ]
  let label = 'minute'
  let size = 60
  for (const [sec, name] of units) {
    if (s >= sec) {
      label = name
      size = sec
    }
  }
  const n = Math.round(s / size)
  return `${n} ${label}${n === 1 ? '' : 's'} ago`
}

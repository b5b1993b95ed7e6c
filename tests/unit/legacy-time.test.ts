/**
 * legacyTime reads the common timestamp shapes without its general pattern. Whatever the input, it must
 * give exactly what the general reading (kept here as the reference) gives.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { legacyTime } from '../../src/main/core/importer/plan'

const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i

function referenceLegacyTime(v: string | null): { iso: string | null; bad: boolean } {
  const s = (v ?? '').trim()
  if (!s) return { iso: null, bad: false }
  if (/^\d{9,10}(\.\d+)?$/.test(s)) return { iso: new Date(Number(s) * 1000).toISOString(), bad: false }
  const m = TIME.exec(s)
  if (!m) return { iso: null, bad: true }
  const [y, mo, d, h = '0', mi = '0', sec = '0'] = m.slice(1, 7).map((x) => x ?? '0') as string[]
  const ms = m[7] ? Math.round(Number(m[7]) * 1000) : 0
  const parts = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(sec)] as const
  if (parts[1] < 1 || parts[1] > 12 || parts[3] > 23 || parts[4] > 59 || parts[5] > 59) return { iso: null, bad: true }
  const t = Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5], ms)
  const back = new Date(t)
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

const pad = (n: number, w: number): string => String(n).padStart(w, '0')
const num = (max: number, w: number) => fc.oneof(fc.integer({ min: 0, max }).map((n) => pad(n, w)), fc.constantFrom('', 'x', '1', '123', '-1', '٣٣'))

/** Timestamps near the common shapes: fields in and out of range, every separator and zone, damage. */
const timestamps = fc
  .tuple(
    fc.oneof(num(9999, 4), fc.constantFrom('0000', '0099', '0100', '1899', '1970', '2000', '2023', '2024', '2100', '9999')),
    num(13, 2),
    num(32, 2),
    fc.constantFrom(' ', 'T', 't', '  ', 'X', ''),
    num(25, 2),
    num(61, 2),
    num(61, 2),
    fc.constantFrom('', '.', '.1', '.12', '.123', '.999', '.5', '.0005', '.123456789', '.1234567890', '.abc'),
    fc.constantFrom('', 'Z', 'z', ' Z', '+02:00', '-0130', '+2', 'UTC', 'Zz', '+99:99'),
    fc.constantFrom('', ' ', '\t', '\n')
  )
  .map(([y, mo, d, sep, h, mi, sec, frac, zone, ws]) => `${ws}${y}-${mo}-${d}${sep}${h}:${mi}:${sec}${frac}${zone}${ws}`)

const others = fc.oneof(
  fc.string(),
  fc.integer({ min: 0, max: 99_999_999_999 }).map(String),
  fc.double({ min: 0, max: 1e10, noNaN: true }).map(String),
  fc.constantFrom('2024-02-29', '2023-02-29', '2024-01-01 08:00', '2024-01-01T08:00:00.000Z', '2024-1-1 08:00:00', '1700000000', '', ' ')
)

describe('legacyTime', () => {
  it('reads every input as the general reading does', () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 4, arbitrary: timestamps }, others, fc.constant(null)), (v) => {
        expect(legacyTime(v)).toEqual(referenceLegacyTime(v))
        // And again: the last value read is remembered.
        expect(legacyTime(v)).toEqual(referenceLegacyTime(v))
      }),
      { numRuns: 20_000 }
    )
  })

  it('knows the length of every month (leap years by the Gregorian rule)', () => {
    for (const y of ['0100', '1600', '1900', '2000', '2023', '2024', '2100', '9999']) {
      for (let mo = 0; mo <= 13; mo++) {
        for (let d = 0; d <= 32; d++) {
          const v = `${y}-${pad(mo, 2)}-${pad(d, 2)} 23:59:59`
          expect(legacyTime(v)).toEqual(referenceLegacyTime(v))
        }
      }
    }
  })

  it('reads every day of a leap and a common year, at every millisecond spelling', () => {
    for (const y of [1900, 2000, 2023, 2024]) {
      for (let t = Date.UTC(y, 0, 1); t < Date.UTC(y + 1, 0, 1); t += 86_400_000 + 3_723_456) {
        const iso = new Date(t).toISOString()
        for (const v of [iso, iso.replace('T', ' ').slice(0, 19), iso.slice(0, 19), iso.slice(0, 23), `${iso.slice(0, 19)}z`, iso.slice(0, 10)]) {
          expect(legacyTime(v)).toEqual(referenceLegacyTime(v))
        }
      }
    }
  })
})

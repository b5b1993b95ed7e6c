/** Numbers for people: separators, and counts too long to read (IPv6) as a power of ten. */

const SUPERSCRIPT = '⁰¹²³⁴⁵⁶⁷⁸⁹'

/** 1,234,567 up to 15 digits; beyond, "1.2 × 10²⁴". Takes decimal strings (the DTOs carry big counts so). */
export function formatCount(n: number | string | bigint): string {
  const v = typeof n === 'bigint' ? n : BigInt(n)
  const digits = (v < 0n ? -v : v).toString()
  if (digits.length <= 15) return v.toLocaleString('en-US')
  const exp = digits.length - 1
  const mantissa = `${digits[0]}.${digits[1]}`
  return `${v < 0n ? '-' : ''}${mantissa} × 10${[...String(exp)].map((d) => SUPERSCRIPT[Number(d)]).join('')}`
}

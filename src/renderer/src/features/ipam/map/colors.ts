/**
 * Colours for canvas drawing, read from the theme's CSS variables so the map follows light and dark mode,
 * and packed into the 32-bit form an ImageData's Uint32Array view expects (byte order checked once).
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([0x0a0b0c0d]).buffer)[0] === 0x0d

export interface Rgba {
  r: number
  g: number
  b: number
  a: number
}

export function pack({ r, g, b, a }: Rgba): number {
  return LITTLE_ENDIAN ? ((a << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | a) >>> 0
}

/** #rgb, #rrggbb, #rrggbbaa, rgb() and rgba(); anything else is mid grey. */
export function parseColor(input: string): Rgba {
  const s = input.trim().toLowerCase()
  let m = /^#([0-9a-f]{3})$/.exec(s)
  if (m) {
    const [r, g, b] = m[1]!.split('').map((c) => parseInt(c + c, 16))
    return { r: r!, g: g!, b: b!, a: 255 }
  }
  m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/.exec(s)
  if (m) {
    const n = parseInt(m[1]!, 16)
    return { r: n >> 16, g: (n >> 8) & 255, b: n & 255, a: m[2] ? parseInt(m[2], 16) : 255 }
  }
  m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+%?))?\s*\)$/.exec(s)
  if (m) {
    const alpha = m[4] === undefined ? 1 : m[4].endsWith('%') ? Number(m[4].slice(0, -1)) / 100 : Number(m[4])
    return { r: Math.round(Number(m[1])), g: Math.round(Number(m[2])), b: Math.round(Number(m[3])), a: Math.round(alpha * 255) }
  }
  return { r: 128, g: 128, b: 128, a: 255 }
}

export function mix(a: Rgba, b: Rgba, t: number): Rgba {
  const k = Math.max(0, Math.min(1, t))
  return {
    r: Math.round(a.r + (b.r - a.r) * k),
    g: Math.round(a.g + (b.g - a.g) * k),
    b: Math.round(a.b + (b.b - a.b) * k),
    a: Math.round(a.a + (b.a - a.a) * k)
  }
}

export function cssColor(c: Rgba): string {
  return `rgba(${c.r}, ${c.g}, ${c.b}, ${(c.a / 255).toFixed(3)})`
}

/** A CSS custom property of the document root, parsed. */
export function themeColor(name: string, el: Element = document.documentElement): Rgba {
  return parseColor(getComputedStyle(el).getPropertyValue(name))
}

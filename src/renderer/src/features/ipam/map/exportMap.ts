/**
 * The subnet map (or the /24 heat map) as a picture: PNG drawn on an off-screen canvas, SVG written as text
 * (one rect per run of same-coloured cells in a row, so a /16 stays a few hundred KB, not 65,536 rects),
 * both with a title, row labels and the legend; and print, which puts the PNG alone on the page. In the
 * Electron shell the download is a native save (will-download), in a browser an ordinary download.
 */
import type { GridLayout } from '@renderer/lib/subnet'

export interface MapPicture {
  title: string
  subtitle: string
  layout: GridLayout
  count: number
  /** Packed colours as the grid draws them (colors.ts pack). */
  colors: Uint32Array
  background: number
  rowLabel: (row: number) => string
  legend: { label: string; color: string }[]
  /** The page's colours, so the picture matches the theme it was taken in. */
  text: string
  muted: string
  surface: string
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([0x0a0b0c0d]).buffer)[0] === 0x0d

/** A packed colour as #rrggbb (alpha dropped: the map's colours are opaque). */
export function hexOf(packed: number): string {
  const r = LITTLE_ENDIAN ? packed & 255 : packed >>> 24
  const g = LITTLE_ENDIAN ? (packed >>> 8) & 255 : (packed >>> 16) & 255
  const b = LITTLE_ENDIAN ? (packed >>> 16) & 255 : (packed >>> 8) & 255
  return `#${((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1)}`
}

const LABEL_W = 110
const PAD = 20
const HEAD = 56
const LEGEND_H = 36
/** Dense grids are drawn bigger in the picture than on screen (3 px cells are hard to read on paper). */
const cellSize = (l: GridLayout): { cell: number; pitch: number } => (l.gap === 0 ? { cell: 4, pitch: 4 } : { cell: l.cell, pitch: l.pitch })

function geometry(p: MapPicture) {
  const { cell, pitch } = cellSize(p.layout)
  const gridW = p.layout.cols * pitch
  const gridH = p.layout.rows * pitch
  const width = Math.max(PAD * 2 + LABEL_W + gridW, 560)
  const height = HEAD + gridH + LEGEND_H + PAD * 2
  /** A row label every this many rows, so they never overlap. */
  const labelEvery = Math.max(1, Math.ceil(14 / pitch))
  return { cell, pitch, gridW, gridH, width, height, labelEvery, x0: PAD + LABEL_W, y0: HEAD + PAD }
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

export function mapSvg(p: MapPicture): string {
  const g = geometry(p)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${g.width}" height="${g.height}" viewBox="0 0 ${g.width} ${g.height}" font-family="system-ui, sans-serif">`,
    `<title>${esc(p.title)}</title>`,
    `<rect width="100%" height="100%" fill="${esc(p.surface)}"/>`,
    `<text x="${PAD}" y="${PAD + 14}" font-size="16" font-weight="600" fill="${esc(p.text)}">${esc(p.title)}</text>`,
    `<text x="${PAD}" y="${PAD + 34}" font-size="12" fill="${esc(p.muted)}">${esc(p.subtitle)}</text>`,
    `<g shape-rendering="crispEdges">`
  ]
  const { cols } = p.layout
  const n = Math.min(p.count, p.colors.length)
  for (let row = 0; row * cols < n; row++) {
    const y = g.y0 + row * g.pitch
    if (row % g.labelEvery === 0) {
      out.push(`<text x="${g.x0 - 8}" y="${y + Math.min(g.cell, 12)}" font-size="10.5" text-anchor="end" fill="${esc(p.muted)}" font-family="monospace">${esc(p.rowLabel(row))}</text>`)
    }
    // Runs of one colour become one rect (cells with gaps stay separate rects of the run's colour).
    let col = 0
    while (col < cols && row * cols + col < n) {
      const c = p.colors[row * cols + col]!
      let end = col + 1
      while (end < cols && row * cols + end < n && p.colors[row * cols + end] === c) end++
      const fill = hexOf(c)
      if (p.layout.gap === 0) out.push(`<rect x="${g.x0 + col * g.pitch}" y="${y}" width="${(end - col) * g.pitch}" height="${g.cell}" fill="${fill}"/>`)
      else for (let k = col; k < end; k++) out.push(`<rect x="${g.x0 + k * g.pitch}" y="${y}" width="${g.cell}" height="${g.cell}" rx="2" fill="${fill}"/>`)
      col = end
    }
  }
  out.push('</g>')
  let lx = PAD
  const ly = g.y0 + g.gridH + 20
  for (const l of p.legend) {
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="12" rx="2" fill="${esc(l.color)}"/>`)
    out.push(`<text x="${lx + 18}" y="${ly + 10}" font-size="12" fill="${esc(p.text)}">${esc(l.label)}</text>`)
    lx += 30 + l.label.length * 7
  }
  out.push('</svg>')
  return out.join('\n')
}

export function mapCanvas(p: MapPicture): HTMLCanvasElement {
  const g = geometry(p)
  const canvas = document.createElement('canvas')
  canvas.width = g.width
  canvas.height = g.height
  const ctx = canvas.getContext('2d')!
  ctx.fillStyle = p.surface
  ctx.fillRect(0, 0, g.width, g.height)
  ctx.fillStyle = p.text
  ctx.font = '600 16px system-ui, sans-serif'
  ctx.fillText(p.title, PAD, PAD + 14)
  ctx.fillStyle = p.muted
  ctx.font = '12px system-ui, sans-serif'
  ctx.fillText(p.subtitle, PAD, PAD + 34)
  const { cols } = p.layout
  const n = Math.min(p.count, p.colors.length)
  ctx.font = '10.5px monospace'
  ctx.textAlign = 'right'
  for (let row = 0; row * cols < n; row++) {
    const y = g.y0 + row * g.pitch
    if (row % g.labelEvery === 0) {
      ctx.fillStyle = p.muted
      ctx.fillText(p.rowLabel(row), g.x0 - 8, y + Math.min(g.cell, 12))
    }
    for (let col = 0; col < cols && row * cols + col < n; col++) {
      ctx.fillStyle = hexOf(p.colors[row * cols + col]!)
      ctx.fillRect(g.x0 + col * g.pitch, y, g.cell, g.cell)
    }
  }
  ctx.textAlign = 'left'
  ctx.font = '12px system-ui, sans-serif'
  let lx = PAD
  const ly = g.y0 + g.gridH + 20
  for (const l of p.legend) {
    ctx.fillStyle = l.color
    ctx.fillRect(lx, ly, 12, 12)
    ctx.fillStyle = p.text
    ctx.fillText(l.label, lx + 18, ly + 10)
    lx += 30 + ctx.measureText(l.label).width
  }
  return canvas
}

export function mapPng(p: MapPicture): Promise<Blob> {
  return new Promise((resolve, reject) => mapCanvas(p).toBlob((b) => (b ? resolve(b) : reject(new Error('the browser could not encode the PNG'))), 'image/png'))
}

/** Offers `blob` as a download named `name` (Electron: its save dialog; a browser: its downloads). */
export function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.rel = 'noopener'
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

/** Prints the picture alone: the page is hidden for print (base.css `body.printing-map`) while it shows. */
export async function printMap(p: MapPicture): Promise<void> {
  // A data: URL, which the CSP's img-src allows (blob: it does not).
  const url = mapCanvas(p).toDataURL('image/png')
  const area = document.createElement('div')
  area.id = 'print-area'
  const img = document.createElement('img')
  img.alt = p.title
  img.src = url
  area.appendChild(img)
  document.body.appendChild(area)
  document.body.classList.add('printing-map')
  try {
    await img.decode()
    window.print()
  } finally {
    document.body.classList.remove('printing-map')
    area.remove()
  }
}

/** A file name from the pool and what is shown: "lab-1_10.0.0.0-24.png". */
export function fileName(pool: string, network: string, ext: 'png' | 'svg'): string {
  return `${pool}_${network.replace('/', '-')}`.replace(/[^\w.-]+/g, '_') + `.${ext}`
}

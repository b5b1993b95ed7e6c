/**
 * The subnet map's arithmetic, kept apart from the canvas so it can be unit-tested: decoding the map's
 * one-byte-per-address states, IPv4 text <-> number, grid geometry (which cell is under a point, where a
 * cell is), /24 tile aggregation for wide pools, and cell states rebuilt from a list of allocations (a /24
 * of a pool too wide for the server to send every address). No DOM, no vue.
 *
 * Shared modules are imported by relative path (not the @shared alias) so the unit tests, which run
 * without the renderer's aliases, can load this file.
 */
import { MAP_STATES, type AllocationDto, type MapState } from '../../../shared/ipam'

export { MAP_STATES }
export type { MapState }

export const STATE_CODE: Record<MapState, number> = Object.fromEntries(MAP_STATES.map((s, i) => [s, i])) as Record<MapState, number>

/** States that hold an allocation row (hover fetches its details; click edits or releases it). */
export const TAKEN_STATES: ReadonlySet<MapState> = new Set(['allocated', 'reserved', 'blocked', 'lapsed', 'leased'])

export const STATE_LABEL: Record<MapState, string> = {
  free: 'Free',
  allocated: 'Allocated',
  reserved: 'Reserved',
  blocked: 'Blocked',
  gateway: 'Gateway',
  network: 'Network / broadcast',
  lapsed: 'Lapsed reservation',
  range: 'DHCP / reserved range',
  child: 'Child pool',
  leased: 'Leased (DHCP)',
  'leased-range': 'Leased from a DHCP range',
  'leased-free': 'Leased, free in IPAM'
}

export function decodeStates(b64: string): Uint8Array {
  const bin = atob(b64)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

export function stateAt(states: Uint8Array, i: number): MapState {
  return MAP_STATES[states[i] ?? 0] ?? 'free'
}

export function countStates(states: Uint8Array): Record<MapState, number> {
  const n = new Array<number>(MAP_STATES.length).fill(0)
  for (let i = 0; i < states.length; i++) n[states[i]!] = (n[states[i]!] ?? 0) + 1
  return Object.fromEntries(MAP_STATES.map((s, i) => [s, n[i] ?? 0])) as Record<MapState, number>
}

/** Dotted quad to an unsigned 32-bit number; throws on anything else. */
export function ipv4ToInt(s: string): number {
  const parts = s.trim().split('.')
  if (parts.length !== 4) throw new Error(`"${s}" is not an IPv4 address`)
  let n = 0
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`"${s}" is not an IPv4 address`)
    n = n * 256 + Number(p)
  }
  return n
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** `10.1.0.0/16` -> first address as a number and the prefix length. */
export function parseV4Network(cidr: string): { first: number; prefix: number; size: number } {
  const [addr, p] = cidr.split('/')
  const prefix = Number(p)
  return { first: ipv4ToInt(addr ?? ''), prefix, size: 2 ** (32 - prefix) }
}

/** The state a map cell shows for an allocation row. */
export function stateOfAllocation(a: Pick<AllocationDto, 'status' | 'expired'>): MapState {
  if (a.expired) return 'lapsed'
  return a.status === 'available' ? 'free' : a.status
}

// ------------------------------------------------------------------ geometry

export interface GridLayout {
  cols: number
  rows: number
  /** Cell side in CSS pixels. */
  cell: number
  /** Gap between cells. */
  gap: number
  /** cell + gap. */
  pitch: number
  width: number
  height: number
}

export function gridLayout(count: number, cols: number, cell: number, gap: number): GridLayout {
  const c = Math.max(1, Math.min(cols, count))
  const rows = Math.max(1, Math.ceil(count / c))
  const pitch = cell + gap
  return { cols: c, rows, cell, gap, pitch, width: c * pitch - gap, height: rows * pitch - gap }
}

/**
 * One cell per address. Up to a /22, cells big enough to point at (rows of 32 or 64 follow /27 and /26
 * boundaries); wider, 256 to a row (one /24 per row) in 3 pixel cells, so a /16 is a 768 px square.
 */
export function addressGridLayout(count: number): GridLayout {
  if (count <= 64) return gridLayout(count, 16, 26, 2)
  if (count <= 256) return gridLayout(count, 32, 20, 2)
  if (count <= 512) return gridLayout(count, 32, 16, 2)
  if (count <= 1024) return gridLayout(count, 64, 12, 2)
  // Dense: 3 px cells without gaps (gaps would wash the colours out); each row is one /24.
  return gridLayout(count, 256, 3, 0)
}

/** One cell per /24 tile of a wide pool. */
export function tileGridLayout(count: number): GridLayout {
  if (count <= 16) return gridLayout(count, 8, 44, 3)
  if (count <= 64) return gridLayout(count, 16, 36, 3)
  if (count <= 256) return gridLayout(count, 16, 30, 3)
  if (count <= 1024) return gridLayout(count, 32, 18, 2)
  if (count <= 4096) return gridLayout(count, 64, 10, 2)
  if (count <= 16384) return gridLayout(count, 128, 5, 1)
  return gridLayout(count, 256, 2, 1)
}

/** The cell under a point (CSS pixels from the grid's top-left), or null outside the cells. Gaps belong to the cell before them. */
export function indexAt(layout: GridLayout, count: number, x: number, y: number): number | null {
  if (x < 0 || y < 0 || x >= layout.width + layout.gap || y >= layout.height + layout.gap) return null
  const col = Math.floor(x / layout.pitch)
  const row = Math.floor(y / layout.pitch)
  if (col >= layout.cols || row >= layout.rows) return null
  const i = row * layout.cols + col
  return i < count ? i : null
}

export function cellOrigin(layout: GridLayout, i: number): { x: number; y: number } {
  return { x: (i % layout.cols) * layout.pitch, y: Math.floor(i / layout.cols) * layout.pitch }
}

/** Where arrow keys and friends move the focus cell; null for keys the grid does not handle. */
export function moveFocus(layout: GridLayout, count: number, i: number, key: string): number | null {
  const { cols } = layout
  const col = i % cols
  let next: number
  switch (key) {
    case 'ArrowLeft':
      next = i - 1
      break
    case 'ArrowRight':
      next = i + 1
      break
    case 'ArrowUp':
      next = i - cols
      break
    case 'ArrowDown':
      next = i + cols
      break
    case 'Home':
      next = i - col
      break
    case 'End':
      next = i - col + cols - 1
      break
    case 'PageUp':
      next = i - cols * 8
      break
    case 'PageDown':
      next = i + cols * 8
      break
    default:
      return null
  }
  if (key === 'PageUp' && next < 0) next = col
  if (key === 'PageDown' && next >= count) next = Math.min(count - 1, (layout.rows - 1) * cols + col)
  return Math.max(0, Math.min(count - 1, next))
}

export interface CellRange {
  from: number
  to: number
}

export function orderedRange(a: number, b: number): CellRange {
  return a <= b ? { from: a, to: b } : { from: b, to: a }
}

// ------------------------------------------------------------------ tiles

export interface TileSummary {
  /** Index of the tile inside the pool (0 = the pool's first /24). */
  index: number
  network: string
  allocated: number
  reserved: number
  blocked: number
  /** Addresses that can be handed out in this tile (network, broadcast and gateway left out). */
  usable: number
}

export function tileUsed(t: Pick<TileSummary, 'allocated' | 'reserved' | 'blocked'>): number {
  return t.allocated + t.reserved + t.blocked
}

/** 0..1 share of a tile in use. */
export function tileFraction(t: TileSummary): number {
  return t.usable > 0 ? Math.min(1, tileUsed(t) / t.usable) : 0
}

/** Aggregates a wide 'cells' pool into /24 tiles, client-side. */
export function aggregateTiles(states: Uint8Array, first: number): TileSummary[] {
  const tiles: TileSummary[] = []
  const A = STATE_CODE.allocated
  const R = STATE_CODE.reserved
  const B = STATE_CODE.blocked
  const G = STATE_CODE.gateway
  const N = STATE_CODE.network
  // Addresses of child pools belong to the children, not to this pool's usable space.
  const C = STATE_CODE.child
  for (let t = 0; t * 256 < states.length; t++) {
    let allocated = 0
    let reserved = 0
    let blocked = 0
    let unusable = 0
    const end = Math.min(states.length, (t + 1) * 256)
    for (let i = t * 256; i < end; i++) {
      const s = states[i]
      if (s === A) allocated++
      else if (s === R) reserved++
      else if (s === B) blocked++
      else if (s === G || s === N || s === C) unusable++
    }
    tiles.push({ index: t, network: `${intToIpv4(first + t * 256)}/24`, allocated, reserved, blocked, usable: end - t * 256 - unusable })
  }
  return tiles
}

/**
 * The tiles of a pool the server summarises as tiles (wider than /16): every tile, empty ones included,
 * in order. `poolNetwork` is the pool's CIDR; `gateway` takes one address out of its tile's usable count.
 */
export function tilesFromServer(
  poolNetwork: string,
  tileCount: number,
  tiles: { network: string; used: number; reserved: number; blocked: number }[],
  gateway: string | null
): TileSummary[] {
  const { first, size } = parseV4Network(poolNetwork)
  const last = first + size - 1
  const gw = gateway ? ipv4ToInt(gateway) : null
  const byIndex = new Map<number, (typeof tiles)[number]>()
  for (const t of tiles) byIndex.set(Math.floor((ipv4ToInt(t.network.split('/')[0]!) - first) / 256), t)
  const out: TileSummary[] = new Array(tileCount)
  for (let i = 0; i < tileCount; i++) {
    const start = first + i * 256
    const end = start + 255
    let usable = 256
    if (start === first) usable--
    if (end === last) usable--
    if (gw !== null && gw >= start && gw <= end) usable--
    const t = byIndex.get(i)
    out[i] = { index: i, network: `${intToIpv4(start)}/24`, allocated: t?.used ?? 0, reserved: t?.reserved ?? 0, blocked: t?.blocked ?? 0, usable }
  }
  return out
}

/**
 * The 256 cell states of one /24 of a wide pool, from the allocations in it (ipam:search by CIDR): the
 * pool's network and broadcast addresses and its gateway are marked when they fall in this tile.
 */
export function statesForTile(
  tileFirst: number,
  allocations: Pick<AllocationDto, 'ip' | 'status' | 'expired'>[],
  pool: { network: string; gateway: string | null }
): Uint8Array {
  const states = new Uint8Array(256)
  const { first, size } = parseV4Network(pool.network)
  const last = first + size - 1
  if (first >= tileFirst && first < tileFirst + 256) states[first - tileFirst] = STATE_CODE.network
  if (last >= tileFirst && last < tileFirst + 256) states[last - tileFirst] = STATE_CODE.network
  if (pool.gateway) {
    const g = ipv4ToInt(pool.gateway)
    if (g >= tileFirst && g < tileFirst + 256) states[g - tileFirst] = STATE_CODE.gateway
  }
  for (const a of allocations) {
    const off = ipv4ToInt(a.ip) - tileFirst
    if (off >= 0 && off < 256) states[off] = STATE_CODE[stateOfAllocation(a)]
  }
  return states
}

/** Human text for a count of cells: "1 address", "12 addresses". */
export function addresses(n: number): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? 'address' : 'addresses'}`
}

/** Line height of a map row label (CSS pixels) and the least room between two labels. */
export const ROW_LABEL_LINE = 12
export const ROW_LABEL_MIN_GAP = 4

/**
 * Which rows get a label, and where each label's top sits. Every 2^k-th row (so labels fall on round
 * addresses: 10.20.0.0, 10.20.8.0, ...), far enough apart that the line plus ROW_LABEL_MIN_GAP fits, and
 * all at the same offset from their row: centred on a row taller than the text, at the row's top
 * otherwise. (Centring small rows and clamping the first label at 0 put the first two labels closer
 * together than the rest, so they crowded each other.)
 */
export function rowLabelPositions(layout: GridLayout): { row: number; top: number }[] {
  let step = 1
  while (step * layout.pitch < ROW_LABEL_LINE + ROW_LABEL_MIN_GAP) step *= 2
  const offset = Math.max(0, (layout.cell - ROW_LABEL_LINE) / 2)
  const out: { row: number; top: number }[] = []
  for (let r = 0; r < layout.rows; r += step) out.push({ row: r, top: r * layout.pitch + offset })
  return out
}

/**
 * Loads the renderer's pure modules (src/renderer/src/lib) for unit tests.
 *
 * Why by path at run time: tsconfig.node.json, which type-checks tests/, does not include src/renderer, and
 * a static import (or `typeof import(...)`) would pull those files into that composite project and fail it
 * with TS6307. Vitest resolves the path at run time; the signatures the tests use are spelled out below.
 * (Adding "src/renderer/src/lib/**\/*" to tsconfig.node.json's include would allow plain imports.)
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AllocationDto } from '../../src/shared/ipam'

const libDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/renderer/src/lib')

async function load<T>(name: string): Promise<T> {
  return (await import(/* @vite-ignore */ path.join(libDir, `${name}.ts`))) as T
}

export interface GridLayout {
  cols: number
  rows: number
  cell: number
  gap: number
  pitch: number
  width: number
  height: number
}

export interface TileSummary {
  index: number
  network: string
  allocated: number
  reserved: number
  blocked: number
  usable: number
}

export interface SubnetModule {
  STATE_CODE: Record<string, number>
  decodeStates(b64: string): Uint8Array
  countStates(states: Uint8Array): Record<string, number>
  ipv4ToInt(s: string): number
  intToIpv4(n: number): string
  addressGridLayout(count: number): GridLayout
  tileGridLayout(count: number): GridLayout
  indexAt(layout: GridLayout, count: number, x: number, y: number): number | null
  cellOrigin(layout: GridLayout, i: number): { x: number; y: number }
  moveFocus(layout: GridLayout, count: number, i: number, key: string): number | null
  aggregateTiles(states: Uint8Array, first: number): TileSummary[]
  tilesFromServer(
    poolNetwork: string,
    tileCount: number,
    tiles: { network: string; used: number; reserved: number; blocked: number }[],
    gateway: string | null
  ): TileSummary[]
  statesForTile(tileFirst: number, allocations: Pick<AllocationDto, 'ip' | 'status' | 'expired'>[], pool: { network: string; gateway: string | null }): Uint8Array
  ROW_LABEL_LINE: number
  ROW_LABEL_MIN_GAP: number
  rowLabelPositions(layout: GridLayout): { row: number; top: number }[]
}

export interface ToastNotice {
  id: number
  text: string
  tone: 'ok' | 'bad' | 'warn'
  count: number
}

export interface ToastsModule {
  MAX_TOASTS: number
  NOTICE_MS: Record<'ok' | 'bad' | 'warn', number>
  pushNotice(items: readonly ToastNotice[], text: string, tone: 'ok' | 'bad' | 'warn', nextId: number): { items: ToastNotice[]; notice: ToastNotice; dropped: ToastNotice[] }
}

export interface DiffModule {
  diffValues(before: unknown, after: unknown): { field: string; kind: 'added' | 'removed' | 'changed' | 'unchanged'; before?: unknown; after?: unknown }[]
  displayValue(v: unknown): string
}

export interface ErrorsModule {
  fieldOf(e: unknown): string | undefined
  reasonOf(e: unknown): string
  userMessage(e: unknown): string
  check(fn: () => unknown): string | undefined
}

export interface TimeModule {
  isoToLocalInput(iso: string | null | undefined): string
  localInputToIso(v: string): string | undefined
  relativeTime(iso: string, now?: number): string
}

export interface FormatNumModule {
  formatCount(n: number | string | bigint): string
}

export interface WindowModule {
  appendWithin<T>(rows: readonly T[], page: readonly T[], limit: number): { rows: T[]; dropped: number }
}

export const loadFormatNum = (): Promise<FormatNumModule> => load('format-num')
export const loadWindow = (): Promise<WindowModule> => load('window')
export const loadToasts = (): Promise<ToastsModule> => load('toasts')
export const loadSubnet = (): Promise<SubnetModule> => load('subnet')
export const loadDiff = (): Promise<DiffModule> => load('diff')
export const loadErrors = (): Promise<ErrorsModule> => load('errors')
export const loadTime = (): Promise<TimeModule> => load('time')

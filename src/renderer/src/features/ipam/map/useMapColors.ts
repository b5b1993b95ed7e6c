/**
 * The subnet map's colours, read from the theme's CSS variables (`--map-<state>`, `--surface`) and re-read
 * when the OS colour scheme flips: one packed colour per cell for the canvas (a state's colour, or for a /24
 * tile a mix from "free" to "allocated" by how full it is), the canvas background, the heat map's legend
 * ramp, and a CSS colour per state for the legend and the tooltip. Read once per theme: getComputedStyle on
 * every render forced a style recalculation per hover.
 */
import { computed, type Ref } from 'vue'
import { MAP_STATES, tileFraction, tileUsed, type MapState, type TileSummary } from '@renderer/lib/subnet'
import { cssColor, mix, pack, themeColor } from './colors'

/** What the map shows: address cells (one state code per address) or /24 tiles. */
export type MapView = { kind: 'cells'; first: number; states: Uint8Array } | { kind: 'tiles'; tiles: TileSummary[] }

export function useMapColors(view: Ref<MapView | null>, scheme: Ref<'light' | 'dark'>) {
  const palette = computed(() => {
    void scheme.value // re-read the CSS variables when the theme flips
    return Uint32Array.from(MAP_STATES.map((s) => pack(themeColor(`--map-${s}`))))
  })
  const background = computed(() => {
    void scheme.value
    return pack(themeColor('--surface'))
  })

  const colors = computed(() => {
    const v = view.value
    if (!v) return new Uint32Array(0)
    if (v.kind === 'cells') {
      const out = new Uint32Array(v.states.length)
      const pal = palette.value
      for (let i = 0; i < v.states.length; i++) out[i] = pal[v.states[i]!]!
      return out
    }
    void scheme.value
    const free = themeColor('--map-free')
    const full = themeColor('--map-allocated')
    // A tile with anything in it is visibly different from an empty one.
    return Uint32Array.from(v.tiles, (t) => pack(mix(free, full, tileUsed(t) ? 0.3 + 0.7 * tileFraction(t) : 0)))
  })

  const gradient = computed(() => {
    void scheme.value
    return `linear-gradient(90deg, ${cssColor(themeColor('--map-free'))}, ${cssColor(themeColor('--map-allocated'))})`
  })

  const swatches = computed(() => {
    void scheme.value
    return Object.fromEntries(MAP_STATES.map((s) => [s, cssColor(themeColor(`--map-${s}`))])) as Record<MapState, string>
  })
  const swatch = (s: MapState): string => swatches.value[s]

  return { background, colors, gradient, swatch }
}

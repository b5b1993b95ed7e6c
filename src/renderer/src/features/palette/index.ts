/**
 * The command palette (Ctrl/Cmd+K) and the one place that opens anything anywhere: palette results,
 * netkeeper:// links and "open" in context menus go through useOpener. This room reads the others through
 * their indexes; none of them imports it (App.vue mounts it).
 */
export { usePaletteStore } from './paletteStore'
export { useOpener } from './opener'
export { default as CommandPalette } from './CommandPalette.vue'

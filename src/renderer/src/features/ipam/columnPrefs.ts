/**
 * Which optional columns the Pools table and a pool's allocations table show, remembered per database
 * connection and per database login on this desktop.
 *
 * Kept in the renderer's localStorage (Electron keeps it in the app's profile folder of the OS user), keyed
 * `netkeeper.columns.v1|<connection>|<login>|<table>`, rather than through the settings IPC: the choice is a
 * view preference of one person at one desktop, read synchronously when a table is drawn and written on every
 * tick of the menu. The settings channels hold what the main process acts on (settings.json: the archive
 * folder) or what every desktop shares (app_settings in the database); neither fits, and a round trip per
 * toggle would buy nothing. Keying by connection and login keeps a lab database's columns from leaking into
 * production's, and two people sharing an OS account each get their own.
 */
import { computed, ref, watch, type Ref } from 'vue'
import { useAppStore } from '@renderer/features/shell'

export type ColumnTable = 'pools' | 'allocations'

const PREFIX = 'netkeeper.columns.v1'

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null
  } catch {
    return null // storage switched off: the columns are then remembered until the window closes
  }
}

function read(key: string): string[] | null {
  try {
    const raw = storage()?.getItem(key)
    if (!raw) return null
    const v = JSON.parse(raw) as unknown
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null
  } catch {
    return null
  }
}

/**
 * The shown columns of one table: `shown` (ids of optional columns: built-in keys, `cf:<field>` for custom
 * fields), `toggle(id)` and `reset()`. Until someone changes them, `defaults` are shown.
 */
export function useColumnPrefs(table: ColumnTable, defaults: readonly string[]): { shown: Ref<Set<string>>; toggle: (id: string) => void; reset: () => void; key: Ref<string> } {
  const app = useAppStore()
  const key = computed(() => {
    const t = app.target
    const connection = t?.connection ?? t?.label ?? 'local'
    const login = app.health?.login ?? 'local'
    return `${PREFIX}|${connection}|${login}|${table}`
  })
  const shown = ref(new Set<string>(read(key.value) ?? defaults))
  // The health report (the login) may arrive after the table is drawn: take that key's choice then.
  watch(key, (k) => {
    shown.value = new Set(read(k) ?? defaults)
  })
  function save(): void {
    try {
      storage()?.setItem(key.value, JSON.stringify([...shown.value]))
    } catch {
      /* full or switched off: the choice holds for this window */
    }
  }
  function toggle(id: string): void {
    const next = new Set(shown.value)
    if (next.has(id)) next.delete(id)
    else next.add(id)
    shown.value = next
    save()
  }
  function reset(): void {
    shown.value = new Set(defaults)
    try {
      storage()?.removeItem(key.value)
    } catch {
      /* nothing stored */
    }
  }
  return { shown, toggle, reset, key }
}

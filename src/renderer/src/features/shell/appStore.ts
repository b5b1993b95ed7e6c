/**
 * What the shell knows about the application and its database: app info (once), the latest health report
 * (polled every 15 s while the window is visible, and on demand), and the migration state.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { AppInfo, HealthReport, MigrationState } from '@shared/types'
import { api, errorMessage } from '@renderer/api'

export const HEALTH_POLL_MS = 15_000

export const useAppStore = defineStore('app', () => {
  const info = ref<AppInfo>()
  const infoError = ref<string>()
  const health = ref<HealthReport>()
  /** Set when asking for health failed outright (as opposed to a report saying "unreachable"). */
  const healthError = ref<string>()
  const checking = ref(false)
  const migrations = ref<MigrationState>()
  const migrationsError = ref<string>()

  const target = computed(() => health.value?.target ?? info.value?.target)
  const reachable = computed(() => health.value?.reachable === true)
  /** The first answer has not arrived yet (the core may still be opening and migrating). */
  const starting = computed(() => !health.value && !healthError.value)

  async function loadInfo(): Promise<void> {
    try {
      info.value = await api['app:info']({})
      infoError.value = undefined
    } catch (e) {
      infoError.value = errorMessage(e)
    }
  }

  let inFlight: Promise<HealthReport | undefined> | undefined
  /** Concurrent callers (the poll and a button) share one request. */
  function checkHealth(): Promise<HealthReport | undefined> {
    inFlight ??= (async () => {
      checking.value = true
      try {
        const report = await api['db:health']({})
        health.value = report
        healthError.value = undefined
        // A healthy report carries the migration state; keep the two views consistent.
        if (report.migrations) {
          migrations.value = report.migrations
          migrationsError.value = undefined
        }
        return report
      } catch (e) {
        healthError.value = errorMessage(e)
        return undefined
      } finally {
        checking.value = false
        inFlight = undefined
      }
    })()
    return inFlight
  }

  async function loadMigrations(): Promise<void> {
    try {
      migrations.value = await api['db:status']({})
      migrationsError.value = undefined
    } catch (e) {
      migrationsError.value = errorMessage(e)
    }
  }

  let timer: ReturnType<typeof setInterval> | undefined
  const onVisibility = (): void => {
    if (document.visibilityState === 'visible') void checkHealth()
  }

  /** Polls while the page is visible; a hidden window costs the database nothing. */
  function startPolling(intervalMs = HEALTH_POLL_MS): void {
    stopPolling()
    timer = setInterval(() => {
      if (document.visibilityState === 'visible') void checkHealth()
    }, intervalMs)
    document.addEventListener('visibilitychange', onVisibility)
  }

  function stopPolling(): void {
    if (timer) clearInterval(timer)
    timer = undefined
    document.removeEventListener('visibilitychange', onVisibility)
  }

  return {
    info,
    infoError,
    health,
    healthError,
    checking,
    migrations,
    migrationsError,
    target,
    reachable,
    starting,
    loadInfo,
    checkHealth,
    loadMigrations,
    startPolling,
    stopPolling
  }
})

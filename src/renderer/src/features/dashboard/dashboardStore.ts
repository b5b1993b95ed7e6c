/** What the dashboard adds to the health cards: IPAM totals and the audit activity of the last days. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { AuditCounts } from '@shared/audit'
import type { IpamStats } from '@shared/ipam'
import { api } from '@renderer/api'
import { userMessage } from '@renderer/lib/errors'

export const ACTIVITY_DAYS = 30

/** The first UTC day of the chart (the core counts per UTC day). */
export function activityStart(now = new Date(), days = ACTIVITY_DAYS): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (days - 1)))
}

export const useDashboardStore = defineStore('dashboard', () => {
  const stats = ref<IpamStats>()
  const statsError = ref<string>()
  const counts = ref<AuditCounts>()
  const countsError = ref<string>()
  const since = ref<Date>(activityStart())
  const loading = ref(false)

  async function load(): Promise<void> {
    loading.value = true
    since.value = activityStart()
    await Promise.all([
      api['ipam:stats']({})
        .then((s) => {
          stats.value = s
          statsError.value = undefined
        })
        .catch((e) => (statsError.value = userMessage(e))),
      api['audit:counts']({ from: since.value.toISOString() })
        .then((c) => {
          counts.value = c
          countsError.value = undefined
        })
        .catch((e) => (countsError.value = userMessage(e)))
    ])
    loading.value = false
  }

  return { stats, statsError, counts, countsError, since, loading, load }
})

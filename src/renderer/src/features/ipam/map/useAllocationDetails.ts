/**
 * The subnet map's allocation details by address (host name, owner, MAC...): fetched lazily, after a short
 * pause so a pointer sweeping across cells asks for none of those it only passed, and kept until the map
 * reloads (the caller clears them). Hover, the live region and the edit dialog share them.
 */
import { reactive } from 'vue'
import type { AllocationDto } from '@shared/ipam'
import { api } from '@renderer/api'

/** `space`: the pool's address space, so an address held in several spaces is looked up in the right one. */
export function useAllocationDetails(space?: () => number | undefined) {
  /** null: asked, and nothing is allocated there (any more). */
  const details = reactive(new Map<string, AllocationDto | null>())
  const pending = new Set<string>()

  async function fetchDetails(ip: string): Promise<AllocationDto | null> {
    if (details.has(ip)) return details.get(ip) ?? null
    if (pending.has(ip)) return null
    pending.add(ip)
    try {
      const sp = space?.()
      const a = await api['ipam:allocation:get']({ ip, ...(sp ? { space: sp } : {}) })
      details.set(ip, a)
      return a
    } catch {
      details.set(ip, null)
      return null
    } finally {
      pending.delete(ip)
    }
  }

  let timer: ReturnType<typeof setTimeout> | undefined
  /** The details of `ip` are wanted: fetch them after 150 ms unless another address is wanted meanwhile. */
  function want(ip: string): void {
    if (details.has(ip)) return
    clearTimeout(timer)
    timer = setTimeout(() => void fetchDetails(ip), 150)
  }

  return { details, want }
}

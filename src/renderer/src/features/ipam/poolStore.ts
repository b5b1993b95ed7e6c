/**
 * The pool open in detail: the pool itself, its subnet map data and a page of its allocations. Reloaded
 * together after every change made from the map or the list.
 */
import { defineStore } from 'pinia'
import { reactive, ref, shallowRef } from 'vue'
import type { AllocationDto, Page, PoolDto, PoolMap, StaleMark } from '@shared/ipam'
import { api } from '@renderer/api'
import { userMessage } from '@renderer/lib/errors'

export const usePoolStore = defineStore('pool', () => {
  const id = ref<number | null>(null)
  const pool = ref<PoolDto & { stale?: StaleMark }>()
  // Shallow: a wide pool's map holds thousands of tiles, replaced whole on every reload; deep proxies
  // over them would only slow every read of the map.
  const map = shallowRef<PoolMap>()
  const allocations = ref<Page<AllocationDto>>()
  const allocPage = ref(1)
  const allocPageSize = ref(50)
  /** The allocations table's sort, status filter and search (the server applies them). */
  /** `sortField`: a custom field sorted by instead of `sort`; `fieldName`/`fieldValue`: one custom field filter. */
  const allocQuery = reactive({
    sort: 'ip' as 'ip' | 'hostname' | 'owner' | 'status' | 'updated',
    sortField: '',
    order: 'asc' as 'asc' | 'desc',
    status: '' as '' | 'allocated' | 'reserved' | 'blocked' | 'lapsed',
    search: '',
    fieldName: '',
    fieldValue: ''
  })
  const allocArgs = () => ({
    page: allocPage.value,
    pageSize: allocPageSize.value,
    sort: allocQuery.sort,
    order: allocQuery.order,
    ...(allocQuery.sortField ? { sortField: allocQuery.sortField } : {}),
    ...(allocQuery.status ? { status: allocQuery.status } : {}),
    ...(allocQuery.search.trim() ? { search: allocQuery.search.trim() } : {}),
    ...(allocQuery.fieldName && allocQuery.fieldValue.trim() ? { fields: { [allocQuery.fieldName]: allocQuery.fieldValue.trim() } } : {})
  })
  const loading = ref(false)
  const error = ref<string>()
  /** Bumped on every reload so the map can drop caches (hover details) that may be stale. */
  const generation = ref(0)

  let seq = 0
  async function open(poolId: number): Promise<void> {
    if (id.value !== poolId) {
      pool.value = undefined
      map.value = undefined
      allocations.value = undefined
      allocPage.value = 1
    }
    id.value = poolId
    await reload()
  }

  async function reload(): Promise<void> {
    if (id.value === null) return
    const mine = ++seq
    const poolId = id.value
    loading.value = true
    try {
      const [p, m, a] = await Promise.all([
        api['ipam:pool:get']({ pool: poolId }),
        api['ipam:pool:map']({ pool: poolId }),
        api['ipam:pool:allocations']({ pool: poolId, ...allocArgs() })
      ])
      if (mine !== seq) return
      pool.value = p
      map.value = m
      allocations.value = a
      error.value = undefined
      generation.value++
    } catch (e) {
      if (mine === seq) error.value = userMessage(e)
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  async function loadAllocations(): Promise<void> {
    if (id.value === null) return
    try {
      allocations.value = await api['ipam:pool:allocations']({ pool: id.value, ...allocArgs() })
    } catch (e) {
      error.value = userMessage(e)
    }
  }

  function close(): void {
    seq++
    id.value = null
    pool.value = undefined
    map.value = undefined
    allocations.value = undefined
  }

  return { id, pool, map, allocations, allocPage, allocPageSize, allocQuery, loading, error, generation, open, reload, loadAllocations, close }
})

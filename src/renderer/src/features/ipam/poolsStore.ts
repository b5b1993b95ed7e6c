/**
 * The IPAM screen's state: the pools table (filters, sort, page), which pool is open in detail, and the
 * tab (pools or address search). Responses that arrive after a newer request are dropped, so typing in the
 * filter never shows an older answer last.
 */
import { defineStore } from 'pinia'
import { computed, reactive, ref, watch } from 'vue'
import type { Page, PoolDto, PoolListInput, POOL_SORTS } from '@shared/ipam'
import { api } from '@renderer/api'
import { userMessage } from '@renderer/lib/errors'
import { useNavigationStore } from '@renderer/features/shell'

export type PoolSort = (typeof POOL_SORTS)[number]
export type ActiveFilter = 'any' | 'active' | 'inactive'

export const usePoolsStore = defineStore('pools', () => {
  const tab = ref<'pools' | 'search' | 'import' | 'csv'>('pools')
  /** `fieldName`/`fieldValue`: one custom field filter (the value as text, converted by the server). */
  const filters = reactive({ search: '', site: '', environment: '', vlanGroup: '', vlan: '', active: 'any' as ActiveFilter, fieldName: '', fieldValue: '' })
  const sort = ref<PoolSort>('name')
  /** A custom field column the table is sorted by instead of `sort` (null: `sort`). */
  const sortField = ref<string | null>(null)
  const order = ref<'asc' | 'desc'>('asc')
  const page = ref(1)
  const pageSize = ref(50)
  const result = ref<Page<PoolDto>>()
  const loading = ref(false)
  const error = ref<string>()
  /** Inline error for the VLAN filter (the only one a person can mistype). */
  const vlanError = ref<string>()
  const sites = ref<string[]>([])
  const environments = ref<string[]>([])
  /** The pool shown in detail, or null for the table. */
  const openPoolId = ref<number | null>(null)
  /** How the pools tab shows pools: the flat table or the tree (by address space). */
  const view = ref<'table' | 'tree'>('table')
  /** The tree's address space (null: the default) and its expanded containers. */
  const treeSpace = ref<number | null>(null)
  const treeExpanded = reactive(new Set<number>())

  const fieldFiltered = computed(() => !!(filters.fieldName && filters.fieldValue.trim()))
  const filtered = computed(() => !!(filters.search.trim() || filters.site || filters.environment || filters.vlanGroup || filters.vlan.trim() || filters.active !== 'any' || fieldFiltered.value))

  function query(): PoolListInput | undefined {
    const q: PoolListInput = { page: page.value, pageSize: pageSize.value, sort: sort.value, order: order.value }
    if (sortField.value) q.sortField = sortField.value
    if (fieldFiltered.value) q.fields = { [filters.fieldName]: filters.fieldValue.trim() }
    if (filters.search.trim()) q.search = filters.search.trim()
    if (filters.site) q.site = filters.site
    if (filters.environment) q.environment = filters.environment
    if (filters.active !== 'any') q.active = filters.active === 'active'
    // The VLAN group narrows the VID to that group (alone: every VLAN of the group).
    if (filters.vlanGroup) q.vlanGroup = filters.vlanGroup
    const vlan = filters.vlan.trim()
    vlanError.value = undefined
    if (vlan) {
      const n = Number(vlan)
      if (!/^\d+$/.test(vlan) || n < 1 || n > 4094) {
        vlanError.value = 'VLAN must be a number from 1 to 4094'
        return undefined
      }
      q.vlanId = n
    }
    return q
  }

  let seq = 0
  async function load(): Promise<void> {
    const q = query()
    if (!q) return
    const mine = ++seq
    loading.value = true
    try {
      const r = await api['ipam:pool:list'](q)
      if (mine !== seq) return
      // A delete can leave the page past the end: step back once.
      if (!r.items.length && r.total > 0 && page.value > 1) {
        page.value = Math.max(1, Math.ceil(r.total / pageSize.value))
        return load()
      }
      result.value = r
      error.value = undefined
    } catch (e) {
      if (mine === seq) error.value = userMessage(e)
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  /** Sites and environments for the filter menus (a light read, never the dashboard's stats: see poolFacets). */
  async function loadOptions(): Promise<void> {
    try {
      const f = await api['ipam:pool:facets']({})
      sites.value = f.sites
      environments.value = f.environments
    } catch {
      /* the menus stay as they were; the table shows the error */
    }
  }

  /** Sorts by a custom field column; a second click turns the order round. */
  function setSortField(name: string): void {
    if (sortField.value === name) order.value = order.value === 'asc' ? 'desc' : 'asc'
    else {
      sortField.value = name
      order.value = 'asc'
    }
    page.value = 1
    void load()
  }

  function setSort(column: PoolSort): void {
    const wasField = sortField.value !== null
    sortField.value = null
    if (sort.value === column && !wasField) order.value = order.value === 'asc' ? 'desc' : 'asc'
    else {
      sort.value = column
      order.value = column === 'utilization' ? 'desc' : 'asc'
    }
    page.value = 1
    void load()
  }

  function resetFilters(): void {
    Object.assign(filters, { search: '', site: '', environment: '', vlanGroup: '', vlan: '', active: 'any', fieldName: '', fieldValue: '' })
    page.value = 1
    void load()
  }

  function openPool(id: number): void {
    tab.value = 'pools'
    openPoolId.value = id
  }

  function closePool(): void {
    openPoolId.value = null
  }

  /**
   * Requests from outside the pools table (the command palette, a link, a context menu), taken up by the
   * views that show them: an address to open in its pool's allocation dialog, the allocate dialog of the
   * open pool, the new-pool dialog.
   */
  const focusIp = ref<string | null>(null)
  const allocateRequested = ref(false)
  const createRequested = ref(false)

  function openAddress(poolId: number, ip: string): void {
    openPool(poolId)
    focusIp.value = ip
  }

  function requestAllocate(poolId: number): void {
    openPool(poolId)
    allocateRequested.value = true
  }

  function requestCreate(): void {
    tab.value = 'pools'
    openPoolId.value = null
    createRequested.value = true
  }

  // Back and Forward: the IPAM screen is "pool:<id>" or "tab:<pools|search|import>".
  const nav = useNavigationStore()
  const describe = (): string => (tab.value === 'pools' && openPoolId.value !== null ? `pool:${openPoolId.value}` : `tab:${tab.value}`)
  nav.describe('ipam', describe)
  watch(
    () => nav.place,
    (p) => {
      if (p.view !== 'ipam' || !p.detail) return
      const pool = /^pool:(\d+)$/.exec(p.detail)
      if (pool) {
        tab.value = 'pools'
        openPoolId.value = Number(pool[1])
        return
      }
      const t = /^tab:(pools|search|import|csv)$/.exec(p.detail)?.[1] as typeof tab.value | undefined
      if (t) {
        openPoolId.value = null
        tab.value = t
      }
    },
    { immediate: true }
  )
  watch([openPoolId, tab], () => {
    if (nav.current === 'ipam') nav.mark('ipam', describe())
  })

  return {
    tab,
    /** The list's filters as a query (undefined while the VLAN filter is not a number), for Export CSV. */
    query,
    filters,
    sort,
    sortField,
    order,
    page,
    pageSize,
    result,
    loading,
    error,
    vlanError,
    sites,
    environments,
    openPoolId,
    view,
    treeSpace,
    treeExpanded,
    filtered,
    load,
    loadOptions,
    setSort,
    setSortField,
    resetFilters,
    openPool,
    closePool,
    focusIp,
    allocateRequested,
    createRequested,
    openAddress,
    requestAllocate,
    requestCreate
  }
})

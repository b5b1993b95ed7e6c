/** Address search: one box for an IP, a CIDR, a MAC, a host name prefix or an owner. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { AllocationDto, Page, SearchInput } from '@shared/ipam'
import { api } from '@renderer/api'
import { fieldOf, reasonOf, userMessage } from '@renderer/lib/errors'

export type SearchKind = NonNullable<SearchInput['kind']>

export const KIND_LABEL: Record<string, string> = {
  auto: 'Anything',
  ip: 'address',
  cidr: 'network (CIDR)',
  hostname: 'host name or owner prefix',
  mac: 'MAC address',
  owner: 'owner prefix'
}

export const useSearchStore = defineStore('search', () => {
  const query = ref('')
  const kind = ref<SearchKind>('auto')
  const page = ref(1)
  const pageSize = ref(50)
  const result = ref<Page<AllocationDto> & { kind: string }>()
  /** The query the result answers (the box may have changed since). */
  const searched = ref('')
  const loading = ref(false)
  const error = ref<string>()
  const queryError = ref<string>()

  let seq = 0
  async function run(resetPage = true): Promise<void> {
    const q = query.value.trim()
    queryError.value = undefined
    error.value = undefined
    if (!q) {
      queryError.value = 'Type an address, a network, a MAC address, a host name or an owner'
      return
    }
    if (resetPage) page.value = 1
    const mine = ++seq
    loading.value = true
    try {
      const r = await api['ipam:search']({ query: q, kind: kind.value, page: page.value, pageSize: pageSize.value })
      if (mine !== seq) return
      result.value = r
      searched.value = q
    } catch (e) {
      if (mine !== seq) return
      result.value = undefined
      if (fieldOf(e) === 'query') queryError.value = reasonOf(e)
      else error.value = userMessage(e)
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  return { query, kind, page, pageSize, result, searched, loading, error, queryError, run }
})

/**
 * What the users and groups tables share about their rows: an entry asked for from outside (the palette,
 * a netkeeper:// link) filters the table to it and marks its row, and the row menu's "Show audit history".
 */
import { watch, type Ref } from 'vue'
import type { MenuItem } from '@renderer/ui/contextMenu'
import { useAuditStore } from '@renderer/features/audit'
import { useNavigationStore } from '@renderer/features/shell'
import { useDirectoryFocusStore } from './focusStore'

export function useEntryRows(search: Ref<string>): {
  focus: ReturnType<typeof useDirectoryFocusStore>
  auditHistoryItem: (resourceType: 'ldap_user' | 'ldap_group', resource: string) => MenuItem
} {
  const focus = useDirectoryFocusStore()
  const auditStore = useAuditStore()
  const navStore = useNavigationStore()
  watch(
    () => focus.pending,
    (key) => {
      if (!key) return
      focus.pending = null
      focus.marked = key
      if (search.value !== key) search.value = key
    },
    { immediate: true }
  )
  const auditHistoryItem = (resourceType: 'ldap_user' | 'ldap_group', resource: string): MenuItem => ({
    label: 'Show audit history',
    separator: true,
    action: () => {
      auditStore.showFor({ resourceType, resource })
      navStore.go('audit')
    }
  })
  return { focus, auditHistoryItem }
}

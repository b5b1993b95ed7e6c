/**
 * Which directory tab shows, and a user or group asked for from outside the screen (the command palette, a
 * netkeeper://user/UID link, a context menu): the panel filters its table to it and marks its row.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'

/** The directory screen's tabs. */
export type DirectoryTab = 'users' | 'groups' | 'tree' | 'import'

export const useDirectoryFocusStore = defineStore('directory-focus', () => {
  const tab = ref<DirectoryTab>('users')
  /** The uid or cn to show, taken up (and cleared) by the panel. */
  const pending = ref<string | null>(null)
  /** The row marked as the one asked for. */
  const marked = ref<string | null>(null)

  function openUser(uid: string): void {
    tab.value = 'users'
    pending.value = uid
  }

  function openGroup(cn: string): void {
    tab.value = 'groups'
    pending.value = cn
  }

  return { tab, pending, marked, openUser, openGroup }
})

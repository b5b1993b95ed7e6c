/** Which screen is showing. No router: five screens, no deep links, and the menu drives it too. */
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import { VIEWS, viewLabel, type ViewId } from '@shared/navigation'

export const useNavigationStore = defineStore('navigation', () => {
  const current = ref<ViewId>('dashboard')
  const title = computed(() => viewLabel(current.value))

  function go(view: ViewId): void {
    current.value = view
  }

  // The window title follows the screen (Electron shows the page title in the title bar).
  watch(title, (t) => (document.title = `${t} – Netkeeper`), { immediate: true })

  return { current, title, views: VIEWS, go }
})

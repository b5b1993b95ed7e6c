/** The audit log viewer. Other rooms open it pre-filtered through the store's showFor(). */
import { defineAsyncComponent } from 'vue'
import { lazyLoader } from '@renderer/lib/lazy'
export { useAuditStore } from './auditStore'
/** Loaded on first use (or when the shell preloads the screens after the first one is up): its own chunk. */
export const loadAuditView = lazyLoader(() => import('./AuditView.vue'))
export const AuditView = defineAsyncComponent(loadAuditView)

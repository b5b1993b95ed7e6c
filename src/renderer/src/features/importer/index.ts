/** The legacy import wizard (LDAP Web Manager v2.0 SQLite files), shown as a tab of the IPAM screen. */
import { defineAsyncComponent } from 'vue'
import { lazyLoader } from '@renderer/lib/lazy'
/** Loaded on first use (or when the shell preloads the screens after the first one is up): its own chunk. */
export const loadImportWizard = lazyLoader(() => import('./ImportWizard.vue'))
export const ImportWizard = defineAsyncComponent(loadImportWizard)

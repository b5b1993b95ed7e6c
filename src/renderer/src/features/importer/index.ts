/** The legacy import (LDAP Web Manager v2.0 SQLite files) on the shared import wizard, shown as a tab of the IPAM screen. */
import { defineAsyncComponent } from 'vue'
import { lazyLoader } from '@renderer/lib/lazy'
/** Loaded on first use (or when the shell preloads the screens after the first one is up): its own chunk. */
export const loadLegacyImport = lazyLoader(() => import('./LegacyImport.vue'))
export const LegacyImport = defineAsyncComponent(loadLegacyImport)

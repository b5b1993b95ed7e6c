/** Settings: the database connection and schema, LDAP profiles, the sign-in requirement, audit retention. */
import { defineAsyncComponent } from 'vue'
import { lazyLoader } from '@renderer/lib/lazy'
/** Loaded on first use (or when the shell preloads the screens after the first one is up): its own chunk. */
export const loadSettingsView = lazyLoader(() => import('./SettingsView.vue'))
export const SettingsView = defineAsyncComponent(loadSettingsView)

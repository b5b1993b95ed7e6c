/** The LDAP directory: the sign-in session (and its idle lock), users and groups. */
import { defineAsyncComponent } from 'vue'
import { lazyLoader } from '@renderer/lib/lazy'
export { useSessionStore } from './sessionStore'
/** Loaded on first use (or when the shell preloads the screens after the first one is up): its own chunk. */
export const loadDirectoryView = lazyLoader(() => import('./DirectoryView.vue'))
export const DirectoryView = defineAsyncComponent(loadDirectoryView)
export { default as LockScreen } from './LockScreen.vue'
export { default as SignInPanel } from './SignInPanel.vue'
export { useDirectoryFocusStore } from './focusStore'

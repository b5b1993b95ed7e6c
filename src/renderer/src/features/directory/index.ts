/** The LDAP directory: the sign-in session (and its idle lock), users and groups. */
export { useSessionStore } from './sessionStore'
export { default as DirectoryView } from './DirectoryView.vue'
export { default as LockScreen } from './LockScreen.vue'
export { default as SignInPanel } from './SignInPanel.vue'
export { useDirectoryFocusStore } from './focusStore'

/**
 * The shell: which screen shows, the toasts, what the application knows about itself and its database, and
 * the frame around every screen (navigation, status bar, session menu). Every other room may use these
 * stores, so the shell depends on no other room: the status bar and the session menu are handed the offline
 * queue and the directory session by App.vue.
 */
export { useAppStore } from './appStore'
export { useNavigationStore } from './navigationStore'
export { useNoticesStore } from './noticesStore'
export { default as NavBar } from './NavBar.vue'
export { default as StatusBar } from './StatusBar.vue'
export { default as SessionMenu } from './SessionMenu.vue'

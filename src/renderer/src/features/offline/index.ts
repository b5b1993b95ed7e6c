/** Offline: the queue of edits made while the database or the directory was unreachable, and its drawer. */
export { useOfflineStore } from './offlineStore'
export { default as QueueDrawer } from './QueueDrawer.vue'
export { useQueuedEdit } from './useQueuedEdit'

/** The audit log viewer. Other rooms open it pre-filtered through the store's showFor(). */
export { useAuditStore } from './auditStore'
export { default as AuditView } from './AuditView.vue'

/** The dashboard: database health, IPAM totals and the audit activity of the last days. */
export { default as DashboardView } from './DashboardView.vue'

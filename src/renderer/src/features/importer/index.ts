/** The legacy import wizard (LDAP Web Manager v2.0 SQLite files), shown as a tab of the IPAM screen. */
export { default as ImportWizard } from './ImportWizard.vue'

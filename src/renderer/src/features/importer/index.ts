/** The legacy import (LDAP Web Manager v2.0 SQLite files) on the shared import wizard, shown as a tab of the IPAM screen. */
export { default as LegacyImport } from './LegacyImport.vue'

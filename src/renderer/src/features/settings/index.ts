/** Settings: the database connection and schema, LDAP profiles, audit retention. */
export { default as SettingsView } from './SettingsView.vue'

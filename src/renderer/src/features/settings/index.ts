/** Settings: the database connection and schema, LDAP profiles, the sign-in requirement, audit retention. */
export { default as SettingsView } from './SettingsView.vue'

/**
 * `netkeeper profile ...`, `netkeeper user ...` and `netkeeper group ...`: the directory from the command
 * line. User and group commands bind with the profile's bind DN (or --bind-dn) and its secret, taken from
 * --password-stdin, else NETKEEPER_LDAP_PASSWORD, else the OS keychain; the role comes from the directory
 * like in the app. A secret passed this way is used in memory only: never written to disk or printed.
 *
 * One module per command beside this file (profile.ts, user.ts, group.ts); what they share is scope.ts.
 */
export { groupCommand } from './group'
export { profileCommand } from './profile'
export { userCommand } from './user'
export { ldifCommand } from './ldif'
export { templateCommand } from './template'
export { entryCommand } from './entry'

/**
 * The saved database password, bound to the host, port, database and user it was saved with, and to the
 * TLS mode (keychain account `db:<connection name>`, see bound.ts). Used by the connection at start
 * (db/target.ts) and by the connection service that tests, saves and switches connections
 * (settings/connections.ts).
 *
 * The password goes only where it was saved for: every host of the connection must be one it was saved
 * with (a host list may shrink, not grow), the port, database and user must be the same, and the TLS mode
 * may not be weaker (verify-full > verify-ca > require > prefer > disable): a connection edited from
 * verify-full to disable does not get the saved password in clear text until it is entered again.
 */
import { AppError } from '../../../shared/errors'
import { hostsOf, SSL_STRENGTH, type DbProfile, type SslMode } from '../../../shared/schemas'
import { BoundSecrets } from './bound'
import { dbAccount, type SecretStore } from './keychain'

export interface DbEndpoint {
  [field: string]: string | number
  host: string
  port: number
  database: string
  user: string
  sslMode: SslMode
}

/** The read-only standby counts as one more host of the list: the password goes to it only if it was saved with it. */
export const dbEndpoint = (p: Pick<DbProfile, 'host' | 'port' | 'database' | 'user' | 'sslMode'> & { standby?: string }): DbEndpoint => ({
  host: p.standby ? `${p.host},${p.standby}` : p.host,
  port: p.port,
  database: p.database,
  user: p.user,
  sslMode: p.sslMode
})

export const describeDbEndpoint = (e: DbEndpoint): string => `${e.user}@${e.host}:${e.port}/${e.database}`

/** Every host now is one of the saved hosts (host names are case-insensitive). */
const withinHosts = (saved: unknown, now: unknown): boolean => {
  const known = new Set(hostsOf(String(saved)).map((h) => h.toLowerCase()))
  return hostsOf(String(now)).every((h) => known.has(h.toLowerCase()))
}

/** The TLS mode now is at least as strong. An entry bound without one counts as verify-full (the strongest). */
const notWeaker = (saved: unknown, now: unknown): boolean =>
  (SSL_STRENGTH[now as SslMode] ?? -1) >= (SSL_STRENGTH[saved as SslMode] ?? SSL_STRENGTH['verify-full'])

export function dbPasswords(store: SecretStore): BoundSecrets<DbEndpoint> {
  return new BoundSecrets<DbEndpoint>(store, ['host', 'port', 'database', 'user', 'sslMode'], { host: withinHosts, sslMode: notWeaker })
}

/** The refusal when a connection would reuse a password saved for another endpoint, or with a weaker TLS mode. */
export function passwordBelongsElsewhere(profileName: string, saved: DbEndpoint, now: DbEndpoint, changed: string[]): AppError {
  const details = { field: 'password', changed, savedFor: describeDbEndpoint(saved), savedSslMode: saved.sslMode ?? 'verify-full' }
  if (changed.length === 1 && changed[0] === 'sslMode') {
    return new AppError(
      'VALIDATION',
      `password: the saved password of ${describeDbEndpoint(saved)} (profile ${profileName}) was saved for sslMode ${saved.sslMode ?? 'verify-full'}; ` +
        `this connection weakens TLS to sslMode ${now.sslMode}, so it is not sent. Enter the password again to use it with sslMode ${now.sslMode}.`,
      details
    )
  }
  const what = changed.map((f) => `${f} (${String(saved[f] ?? 'verify-full')} → ${String(now[f])})`).join(', ')
  const first = changed[0] ?? 'host'
  return new AppError(
    'VALIDATION',
    `password: the saved password belongs to ${describeDbEndpoint(saved)} (profile ${profileName}); this connection changes the ${what}, so it is not sent there. ` +
      `Enter the password for the new ${first === 'port' ? 'host' : first}.`,
    details
  )
}

/**
 * The saved password for `profile`'s endpoint, looked up under the saved connection's name and the given
 * one; undefined when none is saved. Throws passwordBelongsElsewhere when the only password saved is for
 * another endpoint or a stronger TLS mode. A keychain that cannot be asked throws UNAVAILABLE, or counts as
 * "none saved" with `ignoreKeychainErrors`.
 */
export async function savedDbPassword(store: SecretStore, profile: DbProfile, saved: DbProfile | undefined, opts: { ignoreKeychainErrors?: boolean } = {}): Promise<string | undefined> {
  const passwords = dbPasswords(store)
  const names = [...new Set([saved?.name, profile.name].filter((n): n is string => typeof n === 'string'))]
  let elsewhere: { name: string; saved: DbEndpoint; changed: string[] } | undefined
  for (const name of names) {
    const adopt = saved && saved.name === name ? dbEndpoint(saved) : undefined
    const r = await passwords.lookup(dbAccount(name), dbEndpoint(profile), adopt).catch((e: unknown) => {
      if (opts.ignoreKeychainErrors) return null
      throw e
    })
    if (!r) continue
    if ('secret' in r) return r.secret
    elsewhere ??= { name, saved: r.saved, changed: r.changed }
  }
  if (elsewhere) throw passwordBelongsElsewhere(elsewhere.name, elsewhere.saved, dbEndpoint(profile), elsewhere.changed)
  return undefined
}

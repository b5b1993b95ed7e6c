/**
 * The saved database password, bound to the host, port, database and user it was saved with (keychain
 * account `db:<profile name>`, see bound.ts). Used by the connection at start (db/target.ts) and by the
 * profile service that tests and saves connections (settings/db-profile.ts).
 */
import { AppError } from '../../../shared/errors'
import type { DbProfile } from '../../../shared/schemas'
import { BoundSecrets } from './bound'
import { dbAccount, type SecretStore } from './keychain'

export interface DbEndpoint {
  [field: string]: string | number
  host: string
  port: number
  database: string
  user: string
}

export const dbEndpoint = (p: Pick<DbProfile, 'host' | 'port' | 'database' | 'user'>): DbEndpoint => ({ host: p.host, port: p.port, database: p.database, user: p.user })

export const describeDbEndpoint = (e: DbEndpoint): string => `${e.user}@${e.host}:${e.port}/${e.database}`

export function dbPasswords(store: SecretStore): BoundSecrets<DbEndpoint> {
  // Host names are case-insensitive; the rest is compared exactly.
  return new BoundSecrets<DbEndpoint>(store, ['host', 'port', 'database', 'user'], { host: (a, b) => String(a).toLowerCase() === String(b).toLowerCase() })
}

/** The refusal when a connection would reuse a password saved for another endpoint. */
export function passwordBelongsElsewhere(profileName: string, saved: DbEndpoint, now: DbEndpoint, changed: string[]): AppError {
  const what = changed.map((f) => `${f} (${String(saved[f])} → ${String(now[f])})`).join(', ')
  const first = changed[0] ?? 'host'
  return new AppError(
    'VALIDATION',
    `password: the saved password belongs to ${describeDbEndpoint(saved)} (profile ${profileName}); this connection changes the ${what}, so it is not sent there. ` +
      `Enter the password for the new ${first === 'port' ? 'host' : first}.`,
    { field: 'password', changed, savedFor: describeDbEndpoint(saved) }
  )
}

/**
 * The saved password for `profile`'s endpoint, looked up under the saved profile's name and the given
 * one; undefined when none is saved. Throws passwordBelongsElsewhere when the only password saved is for
 * another endpoint. A keychain that cannot be asked throws UNAVAILABLE, or counts as "none saved" with
 * `ignoreKeychainErrors`.
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

/**
 * A secret bound to the endpoint it was saved for: a secret goes only to the endpoint it was saved for
 * (docs/GUIDE principle 10). The keychain entry holds the secret together with that endpoint (host, port,
 * database and user of a database profile; URL and bind DN of an LDAP profile), and reading it for any
 * other endpoint gives no secret but the fields that differ, so the caller can ask for the password of
 * the new endpoint instead of sending the old one there.
 *
 * Entries written before endpoints were bound hold a bare secret. Such an entry is taken as bound to the
 * profile as it is saved now (that is what it was saved with), and rewritten with that binding on first
 * read; where nothing is saved under its name it is never used.
 */
import type { SecretStore } from './keychain'

export type Endpoint = Record<string, string | number>

/** Marks a bound entry. A bare secret would have to start with this and hold valid JSON to be misread. */
const PREFIX = 'netkeeper-bound-secret/v1:'

export interface BoundEntry<E extends Endpoint> {
  endpoint: E
  secret: string
}

/** The secret, when the entry is bound to the endpoint asked for; otherwise what it is bound to and which fields differ. */
export type Lookup<E extends Endpoint> = { secret: string } | { saved: E; changed: (keyof E & string)[] }

export function encodeBound(endpoint: Endpoint, secret: string): string {
  return PREFIX + JSON.stringify({ endpoint, secret })
}

/** The bound entry in a raw keychain value, or the bare secret of an entry written before binding. */
export function decodeBound<E extends Endpoint>(raw: string): BoundEntry<E> | { bare: string } {
  if (!raw.startsWith(PREFIX)) return { bare: raw }
  try {
    const v = JSON.parse(raw.slice(PREFIX.length)) as { endpoint?: unknown; secret?: unknown }
    if (v && typeof v.secret === 'string' && v.endpoint && typeof v.endpoint === 'object') return { endpoint: v.endpoint as E, secret: v.secret }
  } catch {
    /* not ours after all: a bare secret that happens to start with the prefix */
  }
  return { bare: raw }
}

export class BoundSecrets<E extends Endpoint> {
  constructor(
    private readonly store: SecretStore,
    /** The endpoint's fields, in the order a message names them. */
    private readonly fields: readonly (keyof E & string)[],
    /**
     * Per-field comparison where plain === is too strict (host names, DNs), called as (saved, now): it may be
     * one-sided, e.g. a TLS mode at least as strong as the saved one, a host list within the saved one.
     */
    private readonly same: Partial<Record<keyof E & string, (a: unknown, b: unknown) => boolean>> = {}
  ) {}

  /** The fields in which `now` differs from `saved`, in field order. */
  changed(saved: E, now: E): (keyof E & string)[] {
    return this.fields.filter((f) => !(this.same[f] ?? Object.is)(saved[f], now[f]))
  }

  /**
   * The entry under `account`. A bare entry (written before binding) is bound to `adopt`, the endpoint of
   * the profile saved under that name, and rewritten so; without `adopt` it is treated as absent.
   */
  async read(account: string, adopt?: E): Promise<BoundEntry<E> | null> {
    const raw = await this.store.get(account)
    if (raw === null) return null
    const v = decodeBound<E>(raw)
    if (!('bare' in v)) {
      // An entry bound before a field joined the binding (a database password's sslMode) takes that field
      // from the profile saved under its name, as a bare entry does, and is rewritten so.
      const missing = this.fields.filter((f) => !(f in v.endpoint))
      if (!missing.length || !adopt) return v
      const endpoint = { ...v.endpoint, ...Object.fromEntries(missing.map((f) => [f, adopt[f]])) } as E
      await this.store.set(account, encodeBound(endpoint, v.secret)).catch(() => undefined)
      return { endpoint, secret: v.secret }
    }
    if (!adopt) return null
    // Best effort: when the rewrite fails the bare entry stays, and is adopted again next time.
    await this.store.set(account, encodeBound(adopt, v.bare)).catch(() => undefined)
    return { endpoint: adopt, secret: v.bare }
  }

  /** The secret for `endpoint`, or what the entry is bound to when that is another endpoint; null when there is none. */
  async lookup(account: string, endpoint: E, adopt?: E): Promise<Lookup<E> | null> {
    const entry = await this.read(account, adopt)
    if (!entry) return null
    const changed = this.changed(entry.endpoint, endpoint)
    return changed.length ? { saved: entry.endpoint, changed } : { secret: entry.secret }
  }

  async save(account: string, endpoint: E, secret: string): Promise<void> {
    await this.store.set(account, encodeBound(endpoint, secret))
  }

  async delete(account: string): Promise<boolean> {
    return this.store.delete(account)
  }
}

/**
 * The saved connections: the embedded store, always there, and any number of PostgreSQL servers, by name,
 * in settings.json (store.ts) without their passwords. A password goes to the OS keychain (account
 * `db:<name>`), bound to the hosts, port, database, user and TLS mode it was saved with
 * (credentials/db-password.ts): a test, save or switch that points elsewhere or weakens TLS must bring the
 * password again; the saved one is never sent there.
 *
 * Saving tests the connection first, so a typo never leaves a connection pointing at nothing, and records
 * the change in the audit log of the database it points to, when that database has one. Which connection
 * is active (opened at start) is `use`; reopening the running app on another one is CoreHost's
 * (ipc/degraded.ts), which calls `use` once the new connection is open.
 */
import { AppError, validationError } from '../../../shared/errors'
import { dbProfileSchema, describeIssue, EMBEDDED_CONNECTION, sslWarning, type DbProfile } from '../../../shared/schemas'
import type { ConnectionList, ConnectionView, HealthReport, RemoveConnectionResult, ServerConnectionView } from '../../../shared/types'
import { appendAudit } from '../audit/writer'
import type { RequestContext } from '../context'
import { dbEndpoint, dbPasswords, savedDbPassword } from '../credentials/db-password'
import { dbAccount, keychain, type SecretStore } from '../credentials/keychain'
import { Database } from '../db/database'
import { embeddedSpec, profileLabel, profileSpec } from '../db/target'
import { SettingsStore, type Settings } from './store'

export function parseConnection(input: unknown): DbProfile {
  const r = dbProfileSchema.safeParse(input ?? {})
  if (!r.success) {
    const { field, reason } = describeIssue(r.error)
    throw validationError(field, reason)
  }
  return r.data
}

const isEmbedded = (name: string): boolean => name.trim().toLowerCase() === EMBEDDED_CONNECTION

export interface SaveOptions {
  /** The saved connection being edited (its name may change); absent: add, or replace the one of the same name. */
  previousName?: string
  /** Refuse when a connection of that name exists (a new one in the app). */
  create?: boolean
  /** Make it the active connection (the CLI's `set`). */
  use?: boolean
  /** Save without connecting first (no audit row then: there is no database to write it to). */
  skipTest?: boolean
  /**
   * Another saved connection whose password may be carried over, when this one has the endpoint and TLS
   * mode it was saved for (the CLI's `set` under a new name, as when there was one profile).
   */
  passwordFrom?: string
}

export class ConnectionService {
  readonly store: SettingsStore
  constructor(
    readonly dataDir: string,
    private readonly secrets: SecretStore = keychain
  ) {
    this.store = new SettingsStore(dataDir)
  }

  settings(): Settings {
    return this.store.read()
  }

  /** Whether the keychain holds a password for the connection as saved; null when it cannot be asked. */
  private async passwordStored(profile: DbProfile): Promise<boolean | null> {
    try {
      const r = await dbPasswords(this.secrets).lookup(dbAccount(profile.name), dbEndpoint(profile), dbEndpoint(profile))
      return r !== null && 'secret' in r
    } catch {
      return null
    }
  }

  private async view(profile: DbProfile, s: Settings, inUse?: string): Promise<ServerConnectionView> {
    const active = SettingsStore.active(s)
    return {
      kind: 'server',
      name: profile.name,
      profile,
      label: profileLabel(profile),
      passwordStored: await this.passwordStored(profile),
      tlsWarning: sslWarning(profile.sslMode),
      active: active?.name === profile.name,
      inUse: inUse !== undefined && inUse === profile.name
    }
  }

  /**
   * The embedded store and every saved connection (never a password). `inUse` names the connection the
   * caller is on (the running app's, or the one this CLI run resolves to); `overriddenBy` what decides
   * instead of the active connection, if anything.
   */
  async list(opts: { inUse?: string; overriddenBy?: string; pinnedBy?: string } = {}): Promise<ConnectionList> {
    const s = this.settings()
    const active = SettingsStore.active(s)?.name ?? EMBEDDED_CONNECTION
    const servers = await Promise.all([...s.connections].sort((a, b) => a.name.localeCompare(b.name)).map((p) => this.view(p, s, opts.inUse)))
    const embedded: ConnectionView = {
      kind: 'embedded',
      name: EMBEDDED_CONNECTION,
      label: embeddedSpec(this.dataDir).label,
      active: active === EMBEDDED_CONNECTION,
      inUse: opts.inUse === EMBEDDED_CONNECTION
    }
    return {
      active,
      connections: [embedded, ...servers],
      ...(opts.overriddenBy ? { overriddenBy: opts.overriddenBy } : {}),
      ...(opts.pinnedBy ? { pinnedBy: opts.pinnedBy } : {})
    }
  }

  /** One saved server connection; NOT_FOUND naming the ones there are. */
  async get(name: string, opts: { inUse?: string } = {}): Promise<ServerConnectionView> {
    const s = this.settings()
    return this.view(this.require(s, name), s, opts.inUse)
  }

  private require(s: Settings, name: string): DbProfile {
    const p = SettingsStore.find(s, name)
    if (p) return p
    if (isEmbedded(name)) throw validationError('name', 'the embedded store has no server settings')
    const known = s.connections.map((c) => c.name).join(', ') || 'none'
    throw new AppError('NOT_FOUND', `name: no saved connection is named "${name}" (saved: ${known})`, { field: 'name' })
  }

  /**
   * Connects with `input` and the password given, or else the password saved for `savedAs` (default: the
   * connection of the same name) when `input` has the endpoint and a TLS mode at least as strong as it was
   * saved with, and reports the server's health (version, TLS, latency, migrations, the login's role).
   * Throws UNAVAILABLE with the reason when it cannot connect, VALIDATION (field password) when the saved
   * password belongs to another endpoint or a stronger TLS mode.
   */
  async test(input: unknown, password?: string, opts: { savedAs?: string } = {}): Promise<HealthReport> {
    const profile = parseConnection(input)
    const s = this.settings()
    const saved = SettingsStore.find(s, opts.savedAs ?? profile.name)
    const pw = password ?? (await savedDbPassword(this.secrets, profile, saved, { ignoreKeychainErrors: true }))
    const db = await Database.open(profileSpec(profile, pw))
    try {
      return await db.health()
    } finally {
      await db.close()
    }
  }

  /** Tests (unless told not to), then saves the connection and, when given, its password. */
  async save(ctx: RequestContext, input: unknown, password?: string, opts: SaveOptions = {}): Promise<ServerConnectionView> {
    const profile = parseConnection(input)
    if (password !== undefined && password.length > 1024) throw validationError('password', 'must be at most 1024 characters')
    const s = this.settings()
    const previous = opts.previousName !== undefined ? this.require(s, opts.previousName) : SettingsStore.find(s, profile.name)
    const clash = SettingsStore.find(s, profile.name)
    if (clash && (opts.create || (previous && clash.name !== previous.name))) {
      throw new AppError('CONFLICT', `name: a connection named "${clash.name}" already exists`, { field: 'name' })
    }
    const source = previous ?? SettingsStore.find(s, opts.passwordFrom)
    // Without a new password the saved one is kept only for the endpoint and TLS mode it was saved with (else refused).
    const kept = password === undefined ? await savedDbPassword(this.secrets, profile, source, { ignoreKeychainErrors: true }) : undefined
    if (!opts.skipTest) {
      const h = await this.test(profile, password ?? kept, { savedAs: source?.name })
      if (!h.reachable) throw new AppError('UNAVAILABLE', `the server did not answer: ${h.error ?? 'unknown error'}`)
    }
    const passwords = dbPasswords(this.secrets)
    // A kept password is bound anew to the connection as saved now: a stronger TLS mode or fewer hosts
    // from now on, under the new name.
    const secret = password ?? kept
    if (secret !== undefined) await passwords.save(dbAccount(profile.name), dbEndpoint(profile), secret)
    const renamed = previous && previous.name !== profile.name ? previous : undefined
    if (renamed) await this.secrets.delete(dbAccount(renamed.name)).catch(() => false)

    const now = this.settings()
    const list = [...now.connections]
    const at = previous ? list.findIndex((c) => c.name === previous.name) : -1
    if (at >= 0) list[at] = profile
    else list.push(profile)
    const wasActive = previous !== undefined && SettingsStore.active(now)?.name === previous.name
    const activeConnection = opts.use || wasActive ? profile.name : now.activeConnection
    this.store.write({ ...now, connections: list, ...(activeConnection !== undefined ? { activeConnection } : {}) })
    if (!opts.skipTest) await this.audit(ctx, profile, secret, previous ? 'update' : 'create', previous, password !== undefined)
    return this.get(profile.name)
  }

  /** Removes a saved connection and its password; when it was the active one the embedded store is active again. */
  async remove(name: string): Promise<RemoveConnectionResult> {
    if (isEmbedded(name)) throw validationError('name', 'the embedded store is always there and cannot be removed')
    const s = this.settings()
    const p = this.require(s, name)
    const secretRemoved = await this.secrets.delete(dbAccount(p.name)).catch(() => false)
    const wasActive = SettingsStore.active(s)?.name === p.name
    const { activeConnection, ...rest } = s
    this.store.write({ ...rest, connections: s.connections.filter((c) => c.name !== p.name), ...(wasActive || activeConnection === undefined ? {} : { activeConnection }) })
    return { removed: true, secretRemoved, wasActive }
  }

  /** Makes a saved connection (or `embedded`) the one opened at start; nothing is connected here. */
  use(name: string): { active: string } {
    const s = this.settings()
    const active = isEmbedded(name) ? EMBEDDED_CONNECTION : this.require(s, name).name
    this.store.write({ ...s, activeConnection: active })
    return { active }
  }

  /** The change goes into the audit log of the database the connection points to, if it has one yet. */
  private async audit(ctx: RequestContext, profile: DbProfile, pw: string | undefined, action: 'create' | 'update', before: DbProfile | undefined, passwordChanged: boolean): Promise<void> {
    const db = await Database.open(profileSpec(profile, pw))
    try {
      const has = await db.knex.raw<{ rows: { ok: boolean }[] }>(`select to_regclass('public.audit_chain_head') is not null as ok`)
      if (!has.rows[0]?.ok) return
      await appendAudit(db.knex, ctx, {
        action,
        resourceType: 'settings',
        resourceName: `database profile ${profile.name}`,
        details: { ...(before ? { before: { ...before } } : {}), after: { ...profile }, context: { passwordChanged } }
      })
    } finally {
      await db.close()
    }
  }
}

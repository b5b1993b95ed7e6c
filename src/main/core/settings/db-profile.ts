/**
 * The saved database profile: a shared PostgreSQL server in place of the embedded store. The profile lives
 * in settings.json without its password; the password goes to the OS keychain (account `db:<name>`), bound
 * to the host, port, database and user it was saved with (credentials/db-password.ts): a test or a save
 * that changes any of them must bring the password for the new endpoint, the saved one is never sent there.
 * Saving tests the connection first, so a typo never leaves the app pointing at nothing, and records the
 * change in the audit log of the database the profile points to, when that database has one.
 */
import { AppError, validationError } from '../../../shared/errors'
import { dbProfileSchema, describeIssue, type DbProfile } from '../../../shared/schemas'
import type { DbProfileView, HealthReport } from '../../../shared/types'
import { appendAudit } from '../audit/writer'
import type { RequestContext } from '../context'
import { dbEndpoint, dbPasswords, savedDbPassword } from '../credentials/db-password'
import { dbAccount, keychain, type SecretStore } from '../credentials/keychain'
import { Database } from '../db/database'
import { profileSpec } from '../db/target'
import { SettingsStore } from './store'

function parseProfile(input: unknown): DbProfile {
  const r = dbProfileSchema.safeParse(input ?? {})
  if (!r.success) {
    const { field, reason } = describeIssue(r.error)
    throw validationError(field, reason)
  }
  return r.data
}

export class DbProfileService {
  private readonly store: SettingsStore
  constructor(
    dataDir: string,
    private readonly secrets: SecretStore = keychain
  ) {
    this.store = new SettingsStore(dataDir)
  }

  /** The saved profile (never its password), and whether the keychain holds one for its endpoint. */
  async get(): Promise<DbProfileView | null> {
    const profile = this.store.read().database
    if (!profile) return null
    let passwordStored: boolean | null
    try {
      const r = await dbPasswords(this.secrets).lookup(dbAccount(profile.name), dbEndpoint(profile), dbEndpoint(profile))
      passwordStored = r !== null && 'secret' in r
    } catch {
      passwordStored = null // keychain unavailable: unknown
    }
    return { profile, passwordStored }
  }

  /**
   * Connects with the profile and the password given, or else the saved one when the profile has the
   * endpoint it was saved for, and reports the server's health; throws UNAVAILABLE with the reason when it
   * cannot connect, VALIDATION (field password) when the saved password belongs to another endpoint.
   */
  async test(input: unknown, password?: string): Promise<HealthReport> {
    const profile = parseProfile(input)
    const pw = password ?? (await savedDbPassword(this.secrets, profile, this.store.read().database, { ignoreKeychainErrors: true }))
    const db = await Database.open(profileSpec(profile, pw))
    try {
      return await db.health()
    } finally {
      await db.close()
    }
  }

  /** Tests, then saves the profile and (when given) its password. Takes effect at the next start. */
  async save(ctx: RequestContext, input: unknown, password?: string, opts: { skipTest?: boolean } = {}): Promise<DbProfileView> {
    const profile = parseProfile(input)
    if (password !== undefined && password.length > 1024) throw validationError('password', 'must be at most 1024 characters')
    const before = this.store.read().database
    // Without a new password the saved one is kept only for the endpoint it was saved with (else refused).
    const kept = password === undefined ? await savedDbPassword(this.secrets, profile, before, { ignoreKeychainErrors: true }) : undefined
    if (!opts.skipTest) {
      const h = await this.test(profile, password ?? kept)
      if (!h.reachable) throw new AppError('UNAVAILABLE', `the server did not answer: ${h.error ?? 'unknown error'}`)
    }
    const passwords = dbPasswords(this.secrets)
    if (password !== undefined) await passwords.save(dbAccount(profile.name), dbEndpoint(profile), password)
    else if (kept !== undefined && before && before.name !== profile.name) await passwords.save(dbAccount(profile.name), dbEndpoint(profile), kept)
    if (before && before.name !== profile.name) await this.secrets.delete(dbAccount(before.name)).catch(() => false)
    this.store.write({ ...this.store.read(), database: profile })
    if (!opts.skipTest) await this.audit(ctx, profile, password ?? kept, before ? 'update' : 'create', before, password !== undefined)
    return { profile, passwordStored: password !== undefined ? true : ((await this.get())?.passwordStored ?? null) }
  }

  /** Removes the saved profile and its password: the app goes back to the embedded store at next start. */
  async clear(): Promise<{ removed: boolean }> {
    const settings = this.store.read()
    if (!settings.database) return { removed: false }
    await this.secrets.delete(dbAccount(settings.database.name)).catch(() => false)
    const { database: _gone, ...rest } = settings
    this.store.write(rest)
    return { removed: true }
  }

  /** The change goes into the audit log of the database the profile points to, if it has one yet. */
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

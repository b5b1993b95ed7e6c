/**
 * The directory core: connection profiles, and the user and group services every transport (IPC, CLI,
 * tests) calls with a DirectoryScope. Sign-in and the scopes themselves come from AuthService
 * (core/auth/service.ts).
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import { isUnderDn } from '../../../shared/dn'
import { profileSaveSchema, type LdapProfile, type LdapProfileDto, type ProfileCheck, type ProfileTestReport } from '../../../shared/directory'
import { requireRole, type RequestContext } from '../context'
import { keychain, type SecretStore } from '../credentials/keychain'
import { DirectoryAudit } from './audited'
import { LdapConnection, OID_PAGED_RESULTS, OID_PASSWORD_MODIFY, type ResolvedProfile } from './connection'
import { GroupDirectory } from './groups'
import { LdifService } from './ldif-service'
import { EntryEditor } from './attributes'
import { AccountExpiry } from './expiry'
import { BulkActions } from './bulk'
import { DirectoryJobs } from './jobs'
import { TemplateStore } from './templates'
import { UserImporter } from './user-import'
import type { IdPoolEvents } from './ids'
import { ldapAccount, ldapEndpoint, ldapSecrets, ProfileStore, resolveProfile } from './profiles'
import { auditName, Guard, parseInput, type DirectoryScope } from './scope'
import { UserDirectory } from './users'

export class DirectoryService {
  readonly profiles: ProfileStore
  readonly audit: DirectoryAudit
  readonly users: UserDirectory
  readonly groups: GroupDirectory
  readonly ldif: LdifService
  readonly entries: EntryEditor
  readonly expiry: AccountExpiry
  readonly bulk: BulkActions
  /** Imports and bulk actions started from the app, by run id (progress and cancel). */
  readonly jobs = new DirectoryJobs()
  readonly templates: TemplateStore
  readonly userImport: UserImporter

  constructor(
    knex: Knex,
    dataDir: string,
    readonly secrets: SecretStore = keychain
  ) {
    this.profiles = new ProfileStore(dataDir)
    this.audit = new DirectoryAudit(knex)
    const guard = new Guard(this.audit)
    const idEvents = (scope: DirectoryScope): IdPoolEvents => ({
      creatingPool: (dn, start, add) =>
        this.audit.change(
          scope.ctx,
          { action: 'create', resourceType: 'ldap_idpool', resourceId: dn, resourceName: auditName(dn), details: { after: start, context: { profile: scope.conn.profile.name } } },
          add
        )
    })
    this.groups = new GroupDirectory(this.audit, guard, idEvents)
    this.templates = new TemplateStore(dataDir, this.audit)
    this.users = new UserDirectory(this.audit, guard, () => this.groups, idEvents, (p) => this.templates.get(p))
    this.ldif = new LdifService(this.audit, guard)
    this.entries = new EntryEditor(this.audit, guard)
    this.expiry = new AccountExpiry(this.audit, guard, () => this.users)
    this.users.passwordCheck = (conn, dn, pw) => this.expiry.checkPassword(conn, dn, pw)
    this.bulk = new BulkActions(this.audit, this.users, this.groups, this.expiry)
    this.userImport = new UserImporter(this.audit, guard, () => this.users, () => this.groups, this.templates, idEvents)
  }

  /** The named profile (or the default / only one), with its containers filled in. */
  profile(name?: string): ResolvedProfile {
    return resolveProfile(this.profiles.pick(name))
  }

  /**
   * The stored bind secret of a profile, when it was stored for the profile's URL and bind DN as they are
   * now; null when none is stored or it belongs to another URL or bind DN (directory-profiles.json edited to
   * point elsewhere): a secret is never sent to a server it was not saved for. Throws UNAVAILABLE without a
   * keychain.
   */
  async storedSecret(p: LdapProfile): Promise<string | null> {
    if (!p.bindDn) return null
    // A bare entry from before secrets were bound belongs to the profile as saved on disk.
    const onDisk = this.profiles.read().profiles.find((x) => x.name === p.name)
    const r = await ldapSecrets(this.secrets).lookup(ldapAccount(p.name), ldapEndpoint(p), onDisk ? ldapEndpoint(onDisk) : undefined)
    return r && 'secret' in r ? r.secret : null
  }

  async listProfiles(_ctx: RequestContext): Promise<LdapProfileDto[]> {
    const file = this.profiles.read()
    const out: LdapProfileDto[] = []
    for (const p of file.profiles) {
      const r = resolveProfile(p)
      let hasSecret: boolean | null = null
      let keychainError: string | undefined
      if (p.bindDn) {
        try {
          hasSecret = (await this.storedSecret(p)) !== null
        } catch (e) {
          keychainError = (e as Error).message
        }
      } else hasSecret = false
      out.push({ ...r, isDefault: file.defaultProfile === p.name, hasSecret, ...(keychainError ? { keychainError } : {}) })
    }
    return out
  }

  /**
   * Creates or replaces a profile. The secret, when given, goes to the keychain first: if the keychain is
   * missing nothing is saved. The profile file is local configuration of this machine; changing it needs
   * the admin role of the caller (the desktop user, or a signed-in directory admin).
   */
  async saveProfile(ctx: RequestContext, input: unknown): Promise<LdapProfileDto> {
    const name = auditName((input as { profile?: { name?: unknown } })?.profile?.name)
    const entry = { action: 'create' as const, resourceType: 'ldap_profile', resourceId: name, resourceName: name }
    try {
      requireRole(ctx, 'admin', 'changing LDAP profiles')
    } catch (e) {
      await this.audit.refused(ctx, { ...entry, action: 'authorize' }, e as AppError)
      throw e
    }
    let v
    try {
      v = parseInput(profileSaveSchema, input)
    } catch (e) {
      await this.audit.refused(ctx, entry, e as AppError)
      throw e
    }
    const file = this.profiles.read()
    const existing = file.profiles.find((p) => p.name === v.profile.name)
    if (existing && !v.replace) {
      const err = new AppError('CONFLICT', `name: a profile "${v.profile.name}" already exists (replace it explicitly)`, { field: 'name' })
      await this.audit.refused(ctx, entry, err)
      throw err
    }
    if (v.password !== undefined) {
      if (!v.profile.bindDn) {
        const err = new AppError('VALIDATION', 'password: a bind secret needs a bindDn in the profile', { field: 'password' })
        await this.audit.refused(ctx, entry, err)
        throw err
      }
      await ldapSecrets(this.secrets).save(ldapAccount(v.profile.name), ldapEndpoint(v.profile), v.password)
    }
    const profile = v.profile
    // A stored secret belongs to the URL and bind DN it was saved for: a new URL or bind DN without a new
    // secret drops it from the keychain, so it can never be sent to the new server.
    let secretDropped = false
    if (existing && v.password === undefined && ldapSecrets(this.secrets).changed(ldapEndpoint(existing), ldapEndpoint(profile)).length) {
      secretDropped = await this.secrets.delete(ldapAccount(profile.name)).catch(() => false)
    }
    const next = {
      ...file,
      profiles: existing ? file.profiles.map((p) => (p.name === profile.name ? profile : p)) : [...file.profiles, profile],
      defaultProfile: v.makeDefault || (!file.defaultProfile && file.profiles.length === 0) ? profile.name : file.defaultProfile
    }
    const previous = JSON.stringify(file)
    this.profiles.write(next)
    try {
      await this.audit.event(ctx, {
        ...entry,
        action: existing ? 'update' : 'create',
        details: { ...(existing ? { before: existing } : {}), after: profile, context: { secretStored: v.password !== undefined, secretDropped, isDefault: next.defaultProfile === profile.name } }
      })
    } catch (e) {
      // Configuration changes are audited like everything else: no audit row, no change.
      this.profiles.write(JSON.parse(previous))
      throw new AppError('UNAVAILABLE', `the audit log could not be written (${(e as Error).message}); the profile change was undone`)
    }
    return (await this.listProfiles(ctx)).find((p) => p.name === profile.name)!
  }

  async removeProfile(ctx: RequestContext, name: string): Promise<{ removed: boolean; secretRemoved: boolean }> {
    const entry = { action: 'delete' as const, resourceType: 'ldap_profile', resourceId: auditName(name), resourceName: auditName(name) }
    try {
      requireRole(ctx, 'admin', 'changing LDAP profiles')
    } catch (e) {
      await this.audit.refused(ctx, { ...entry, action: 'authorize' }, e as AppError)
      throw e
    }
    const file = this.profiles.read()
    const existing = file.profiles.find((p) => p.name === name)
    if (!existing) return { removed: false, secretRemoved: false }
    const previous = JSON.stringify(file)
    this.profiles.write({ ...file, profiles: file.profiles.filter((p) => p.name !== name), defaultProfile: file.defaultProfile === name ? null : file.defaultProfile })
    try {
      await this.audit.event(ctx, { ...entry, details: { before: existing } })
    } catch (e) {
      this.profiles.write(JSON.parse(previous))
      throw new AppError('UNAVAILABLE', `the audit log could not be written (${(e as Error).message}); the profile was not removed`)
    }
    let secretRemoved = false
    try {
      secretRemoved = await this.secrets.delete(ldapAccount(name))
    } catch (e) {
      // The profile is gone; say so, and that the secret may still be in the keychain.
      console.warn(`[directory] profile ${name} removed, but its keychain entry could not be deleted: ${(e as Error).message}`)
    }
    return { removed: true, secretRemoved }
  }

  /**
   * Connects with the profile (TLS as configured), binds with its bind DN and the given or stored secret
   * (or anonymously when it has no bind DN), and checks what Netkeeper needs: the base DN and containers,
   * paged results, the Password Modify operation, the id pool.
   */
  async testProfile(ctx: RequestContext, name: string | undefined, password?: string): Promise<ProfileTestReport> {
    requireRole(ctx, 'admin', 'testing an LDAP profile')
    const p = this.profile(name)
    const checks: ProfileCheck[] = []
    let secret: string | null = password ?? null
    if (p.bindDn && secret === null) {
      secret = await this.storedSecret(p)
      if (secret === null) {
        throw new AppError(
          'NOT_FOUND',
          `password: no secret stored for profile ${p.name} at ${p.url} as ${p.bindDn} (one stored for another URL or bind DN is never sent here); pass one (--password-stdin or NETKEEPER_LDAP_PASSWORD) or save it with the profile`,
          { field: 'password' }
        )
      }
    }
    const conn = new LdapConnection(p, p.bindDn ? { dn: p.bindDn, password: secret! } : null)
    const t0 = performance.now()
    const report: ProfileTestReport = {
      profile: p.name,
      ok: false,
      url: p.url,
      tls: conn.tls,
      allowInsecure: p.allowInsecure,
      boundAs: p.bindDn ?? null,
      latencyMs: 0,
      vendor: null,
      passwordModify: false,
      pagedResults: false,
      checks
    }
    try {
      await conn.open()
      report.latencyMs = Math.round((performance.now() - t0) * 10) / 10
      const plain = p.allowInsecure ? 'plain LDAP allowed by allowInsecure (passwords cross the network in clear: use StartTLS or ldaps:// outside a lab)' : 'plain LDAP (no TLS: use StartTLS or ldaps:// outside a lab)'
      checks.push({ name: 'connect', ok: true, detail: `${conn.tls === 'none' ? plain : conn.tls === 'ldaps' ? 'TLS (ldaps)' : 'TLS (StartTLS)'}, bound as ${p.bindDn ?? 'anonymous'}` })
      const dse = await conn.rootDse()
      report.vendor = dse.vendor
      report.passwordModify = dse.supportedExtension.includes(OID_PASSWORD_MODIFY)
      report.pagedResults = dse.supportedControl.includes(OID_PAGED_RESULTS)
      checks.push({ name: 'paged results', ok: report.pagedResults, detail: report.pagedResults ? 'RFC 2696 supported' : 'the server does not offer RFC 2696 paging: big listings will hit size limits' })
      checks.push({ name: 'password modify', ok: true, detail: report.passwordModify ? 'RFC 3062 supported: the server hashes new passwords' : 'not offered: Netkeeper will store {SSHA} hashes itself' })
      const nc = dse.namingContexts
      checks.push({
        name: 'base DN',
        ok: !nc.length || nc.some((c) => isUnderDn(p.baseDn, c)),
        detail: nc.length ? `naming contexts: ${nc.join('; ')}` : 'the server does not list its naming contexts'
      })
      for (const [label, dn] of [
        ['base DN entry', p.baseDn],
        ['users container', p.usersDn],
        ['groups container', p.groupsDn]
      ] as const) {
        try {
          const e = await conn.readEntry(dn, ['1.1'])
          checks.push({ name: label, ok: e !== null, detail: e ? dn : `${dn} does not exist (or this bind DN may not see it)` })
        } catch (e) {
          checks.push({ name: label, ok: false, detail: `${dn}: ${(e as Error).message}` })
        }
      }
      const pool = await conn.readEntry(p.idPoolDn, ['uidNumber', 'gidNumber']).catch(() => null)
      checks.push({
        name: 'id pool',
        ok: true,
        detail: pool ? `${p.idPoolDn}: next uidNumber ${pool.first('uidNumber') ?? '-'}, gidNumber ${pool.first('gidNumber') ?? '-'}` : `${p.idPoolDn} does not exist yet; it is created on the first user or group creation`
      })
      report.ok = checks.every((c) => c.ok)
      await this.audit
        .event(ctx, { action: 'authenticate', resourceType: 'session', resourceId: auditName(p.bindDn ?? 'anonymous'), resourceName: auditName(p.name), status: 'success', details: { context: { purpose: 'profile-test', profile: p.name, tls: conn.tls } } })
        .catch(() => undefined)
    } catch (e) {
      const err = e instanceof AppError ? e : new AppError('UNAVAILABLE', (e as Error).message)
      checks.push({ name: 'connect', ok: false, detail: err.message })
      await this.audit.refused(ctx, { action: 'authenticate', resourceType: 'session', resourceId: auditName(p.bindDn ?? 'anonymous'), resourceName: auditName(p.name), details: { context: { purpose: 'profile-test', profile: p.name } } }, err)
    } finally {
      await conn.close()
    }
    return report
  }
}

/**
 * Opening a directory bind for a person (sign-in, unlock) or a command: throttle -> find the DN to bind as
 * -> bind -> role, with every outcome audited (resource type `session`, `login` or `authenticate`; the kind
 * of failure, never the password). A person is told only "wrong name or password, or locked": the audit
 * log keeps which. AuthService (service.ts) holds the session the bind belongs to.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import { childDn, isDn } from '../../../shared/dn'
import type { DirectoryRole } from '../../../shared/directory'
import type { AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { LdapConnection, type ResolvedProfile } from '../directory/connection'
import { eq } from '../directory/filters'
import { auditName } from '../directory/scope'
import type { DirectoryService } from '../directory/service'
import { resolveRole } from './roles'
import { SignInThrottle } from './throttle'

/** The audit kind of a sign-in that failed before any credential was checked. */
export const unavailableKind = (e: unknown): FailureKind => (e instanceof AppError && e.details?.kind === 'insecure' ? 'insecure-transport' : 'server-unavailable')

export type FailureKind =
  | 'invalid-input'
  | 'empty-password'
  | 'throttled'
  | 'unknown-user'
  | 'ambiguous-user'
  | 'invalid-credentials'
  | 'account-locked'
  | 'no-role'
  | 'server-unavailable'
  | 'insecure-transport'
  | 'no-secret'

export interface Established {
  conn: LdapConnection
  uid: string | null
  role: DirectoryRole
  via: string[]
}

export const looksLikeDn = (s: string): boolean => s.includes('=') && isDn(s)

export class Binder {
  /** Repeated failures slow further attempts down (throttle.ts). */
  readonly throttle: SignInThrottle

  constructor(
    knex: Knex,
    private readonly directory: DirectoryService
  ) {
    this.throttle = new SignInThrottle(knex)
  }

  private get audit() {
    return this.directory.audit
  }

  async record(ctx: RequestContext, actor: string, entry: AuditEntry): Promise<void> {
    await this.audit.event({ ...ctx, actor }, entry)
  }

  async recordFailure(ctx: RequestContext, actor: string, action: 'login' | 'authenticate', p: { name: string } | null, who: { dn?: string | null; login: string }, kind: FailureKind, err: AppError, extra: Record<string, unknown> = {}): Promise<void> {
    try {
      await this.record(ctx, actor, {
        action,
        resourceType: 'session',
        resourceId: auditName(who.dn ?? null),
        resourceName: auditName(who.login),
        status: 'failure',
        details: { error: { code: err.code, message: err.message }, context: { profile: p?.name ?? null, kind, ...extra } }
      })
    } catch (e) {
      console.error('[auth] could not record a failed sign-in:', (e as Error).message)
    }
  }

  /** The person-facing refusal for wrong name, wrong password and locked account alike (no enumeration). */
  credentialsError(p: ResolvedProfile, login: string): AppError {
    return new AppError('FORBIDDEN', `sign-in failed for "${login}" on profile ${p.name}: the user name or password is wrong, or the account is locked`, { kind: 'credentials' })
  }

  /** Finds the DN to bind as for a login name (see the opening comment of service.ts). */
  async locate(p: ResolvedProfile, login: string): Promise<{ dn: string | null; method: 'dn' | 'search' | 'template'; kind?: FailureKind }> {
    if (looksLikeDn(login)) return { dn: login.trim(), method: 'dn' }
    let secret: string | null = null
    if (p.bindDn) {
      try {
        secret = await this.directory.storedSecret(p)
      } catch {
        secret = null // no keychain here: look up anonymously, or build the DN
      }
    }
    const service = secret !== null
    const lookup = new LdapConnection(p, service ? { dn: p.bindDn!, password: secret! } : null)
    try {
      const r = await lookup.search(p.baseDn, { filter: eq(p.loginAttribute, login), attributes: ['1.1'], sizeLimit: 2 }, `look up ${p.loginAttribute} ${JSON.stringify(login)}`)
      if (r.length === 1) return { dn: r[0]!.dn, method: 'search' }
      if (r.length > 1) return { dn: null, method: 'search', kind: 'ambiguous-user' }
      if (service) return { dn: null, method: 'search', kind: 'unknown-user' }
    } catch (e) {
      const kind = e instanceof AppError ? e.details?.kind : undefined
      if (kind === 'unreachable' || kind === 'tls' || kind === 'timeout' || kind === 'insecure') throw e
      // A refused anonymous search or a stale stored secret: fall back to building the DN.
    } finally {
      await lookup.close()
    }
    return { dn: childDn(p.loginAttribute, login, p.usersDn), method: 'template' }
  }

  /** Why a bind with valid-looking input failed, for the audit log only. */
  private async credentialKind(p: ResolvedProfile, dn: string): Promise<FailureKind> {
    if (!p.bindDn) return 'invalid-credentials'
    let conn: LdapConnection | null = null
    try {
      const secret = await this.directory.storedSecret(p)
      if (!secret) return 'invalid-credentials'
      conn = new LdapConnection(p, { dn: p.bindDn, password: secret })
      const e = await conn.readEntry(dn, ['pwdAccountLockedTime', 'shadowExpire'])
      if (!e) return 'unknown-user'
      const exp = e.int('shadowExpire')
      if (e.has('pwdAccountLockedTime') || (exp !== null && exp <= Math.floor(Date.now() / 86_400_000))) return 'account-locked'
      return 'invalid-credentials'
    } catch {
      return 'invalid-credentials'
    } finally {
      await conn?.close()
    }
  }

  /**
   * Throttle -> bind -> role, with every outcome audited. Returns the bound connection; throws the
   * person-facing error.
   */
  async establish(
    ctx: RequestContext,
    action: 'login' | 'authenticate',
    p: ResolvedProfile,
    who: { dn: string; login: string; method: string },
    password: string,
    extra: Record<string, unknown>
  ): Promise<Established> {
    const claim = await this.throttle.claim(p.name, who.login)
    if (!claim.allowed) {
      const secs = Math.max(1, Math.ceil(claim.retryAfterMs / 1000))
      const err = new AppError('FORBIDDEN', `sign-in for "${who.login}" on profile ${p.name} is paused for ${secs} s after ${claim.failures} failed attempts; try again then`, {
        kind: 'throttled',
        retryAfterMs: claim.retryAfterMs
      })
      await this.recordFailure(ctx, who.login, action, p, who, 'throttled', err, { ...extra, failures: claim.failures, retryAfterMs: claim.retryAfterMs })
      throw err
    }
    const conn = new LdapConnection(p, { dn: who.dn, password })
    try {
      await conn.open()
    } catch (e) {
      await conn.close()
      const err = e as AppError
      const code = err.details?.ldapCode
      if (code === 49 || code === 32 || code === 34) {
        const kind = code === 34 ? 'unknown-user' : await this.credentialKind(p, who.dn)
        const failures = await this.throttle.failed(p.name, who.login)
        const out = this.credentialsError(p, who.login)
        await this.recordFailure(ctx, who.login, action, p, who, kind, out, { ...extra, method: who.method, failures })
        throw out
      }
      await this.recordFailure(ctx, who.login, action, p, who, unavailableKind(err), err, { ...extra, method: who.method })
      throw err
    }
    try {
      const self = await conn.readEntry(who.dn, ['uid']).catch(() => null)
      const uid = self?.first('uid') ?? null
      const r = await resolveRole(conn, { dn: who.dn, uid })
      if (!r.role) {
        const mapped = (['admin', 'operator', 'viewer'] as const).map((k) => `${k}: ${p.roles[k].join(', ') || '-'}`).join('; ')
        const err = new AppError('FORBIDDEN', `${who.login} signed in to ${p.name} but is not a member of any group mapped to a Netkeeper role (${mapped}); ask an administrator to add you to one`, {
          kind: 'no-role'
        })
        await this.throttle.succeeded(p.name, who.login)
        await this.recordFailure(ctx, who.login, action, p, who, 'no-role', err, { ...extra, method: who.method, groups: r.groups })
        throw err
      }
      await this.throttle.succeeded(p.name, who.login)
      return { conn, uid, role: r.role, via: r.via }
    } catch (e) {
      await conn.close()
      throw e
    }
  }
}

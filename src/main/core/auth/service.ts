/**
 * Sign-in to the directory, and the scopes directory operations run in.
 *
 * - Interactive session (the app): `signIn` binds as the person's own DN: given as a DN, or found by
 *   searching the login name in the whole base DN (bound as the profile's bind DN when its secret is in the
 *   keychain, else anonymously), or else built as <loginAttribute>=<name>,<usersDn>. The role comes
 *   from the directory (roles.ts). The main process holds the bind; the renderer never sees a password
 *   again. After `idleLockMinutes` without a directory request the session locks: the connection is closed,
 *   the password forgotten, and `unlock` binds again. One interactive session per app.
 * - Command scope (the CLI): binds with the profile's bind DN and its stored or supplied secret, resolves
 *   the role the same way, and is closed when the command ends.
 *
 * Every sign-in, failed sign-in (with the kind of failure, never the password), lock, unlock and sign-out
 * is audited (resource type `session`; `login`/`logout` for sessions, `authenticate` for command binds).
 * Repeated failures slow further attempts down (throttle.ts). A person is told only "wrong name or
 * password, or locked": the audit log keeps which. Opening a bind (throttle, locate, bind, role, each
 * outcome audited) is bind.ts; this file holds the session it belongs to.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import { signInSchema, type DirectoryRole, type SessionDto } from '../../../shared/directory'
import { appendAudit } from '../audit/writer'
import { requireRole, type RequestContext, type Role } from '../context'
import type { LdapConnection, ResolvedProfile } from '../directory/connection'
import { CursorRegistry } from '../directory/cursors'
import { auditName, parseInput, type DirectoryScope } from '../directory/scope'
import type { DirectoryService } from '../directory/service'
import { Binder, looksLikeDn, unavailableKind } from './bind'

export type { FailureKind } from './bind'

interface Session {
  profile: ResolvedProfile
  conn: LdapConnection | null
  dn: string
  login: string
  uid: string | null
  actor: string
  role: DirectoryRole
  via: string[]
  startedAt: number
  lastActivity: number
  locked: boolean
  cursors: CursorRegistry
}

export interface CommandScope extends DirectoryScope {
  role: DirectoryRole
  close(): Promise<void>
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 }
/** How long the database's sign-in policy is taken as read. */
const POLICY_TTL_MS = 10_000

export class AuthService {
  private session: Session | null = null
  private timer?: NodeJS.Timeout
  /** Throttle, bind and role for sign-in, unlock and command scopes, each outcome audited (bind.ts). */
  private readonly binder: Binder
  /** The clock; tests move it forward to exercise the idle lock. */
  now: () => number = () => Date.now()

  /** The database's sign-in policy as last read (app_settings), and when. */
  private policy = { requireSignIn: false, readAt: 0 }
  /**
   * The role of the last session that ended since start: requests without a session never go above it, so
   * signing out never raises a role (a viewer who signs out leaves a viewer's app, not the desktop admin's).
   */
  private floor: Role | null = null

  constructor(
    private readonly knex: Knex,
    private readonly directory: DirectoryService,
    /**
     * The Netkeeper role the database server grants this login (null: none; 'owner' counts as admin). The
     * roles of a request never exceed it: a directory role may lower what the server grants, never raise it.
     */
    private readonly serverRole: 'owner' | 'admin' | 'operator' | 'viewer' | null = 'owner'
  ) {
    this.binder = new Binder(knex, directory)
  }

  /** The highest role a request may have: the server's grant ('owner' counts as admin). */
  private get top(): Role | null {
    return this.serverRole === 'owner' ? 'admin' : this.serverRole
  }

  /** The roles of `ctx` lowered to `top` where they go beyond it (none when top is null). */
  private capped(ctx: RequestContext, top: Role | null = this.top): RequestContext {
    if (top === 'admin') return ctx
    const roles = top === null ? [] : [...new Set(ctx.roles.map((r) => (RANK[r] > RANK[top] ? top : r)))]
    return { ...ctx, roles }
  }

  /** The role requests run with while nobody is signed in (SessionDto.roleWithoutSession). */
  private get withoutSession(): Role | null {
    const top = this.top
    if (top === null || this.floor === null) return top
    return RANK[this.floor] < RANK[top] ? this.floor : top
  }

  /**
   * The database's sign-in policy (app_settings.require_directory_sign_in), read again when older than
   * POLICY_TTL_MS, so a change by an admin on another desktop reaches this one within seconds.
   */
  async refreshPolicy(force = false): Promise<{ requireSignIn: boolean }> {
    if (force || this.now() - this.policy.readAt > POLICY_TTL_MS) {
      try {
        const r = await this.knex.raw<{ rows: { value: unknown }[] }>(`select value from app_settings where key = 'require_directory_sign_in'`)
        this.policy = { requireSignIn: r.rows[0]?.value === true, readAt: this.now() }
      } catch (e) {
        // A database from before the setting existed, or one that cannot be reached: keep the last answer.
        if (!/app_settings/.test((e as Error).message)) console.error('[auth] could not read the sign-in policy:', (e as Error).message)
        this.policy = { ...this.policy, readAt: this.now() }
      }
    }
    return { requireSignIn: this.policy.requireSignIn }
  }

  /** Sets whether a directory sign-in is required on this database (admin; audited; the server checks the grant too). */
  async setSignInPolicy(ctx: RequestContext, input: { requireSignIn: boolean }): Promise<{ requireSignIn: boolean }> {
    if (typeof input?.requireSignIn !== 'boolean') throw new AppError('VALIDATION', 'requireSignIn: must be true or false', { field: 'requireSignIn' })
    const c = await this.requestContext(ctx, { allowWithoutSignIn: true })
    requireRole(c, 'admin', 'changing the sign-in policy')
    if (input.requireSignIn && !this.session && c.source === 'ui') {
      throw new AppError('VALIDATION', 'requireSignIn: sign in to the directory first, so that requiring it cannot lock this app out', { field: 'requireSignIn' })
    }
    await this.knex.transaction(async (trx) => {
      const before = await trx.raw<{ rows: { value: unknown }[] }>(`select value from app_settings where key = 'require_directory_sign_in' for update`)
      const was = before.rows[0]?.value === true
      if (was === input.requireSignIn) return
      await trx.raw(
        `insert into app_settings (key, value) values ('require_directory_sign_in', ?::jsonb)
         on conflict (key) do update set value = excluded.value, updated_at = now(), updated_by = session_user`,
        [JSON.stringify(input.requireSignIn)]
      )
      await appendAudit(trx, c, { action: 'update', resourceType: 'security_policy', resourceName: 'require_directory_sign_in', details: { before: { requireSignIn: was }, after: { requireSignIn: input.requireSignIn } } })
    })
    return this.refreshPolicy(true)
  }

  status(): SessionDto {
    const s = this.session
    const common = { signInRequired: this.policy.requireSignIn, roleWithoutSession: this.withoutSession }
    if (!s) return { signedIn: false, profile: null, dn: null, login: null, role: null, locked: false, startedAt: null, lastActivityAt: null, idleLockMinutes: null, viaGroups: [], ...common }
    return {
      signedIn: true,
      profile: s.profile.name,
      dn: s.dn,
      login: s.login,
      role: s.role,
      locked: s.locked || this.idle(s),
      startedAt: new Date(s.startedAt).toISOString(),
      lastActivityAt: new Date(s.lastActivity).toISOString(),
      idleLockMinutes: s.profile.idleLockMinutes,
      viaGroups: s.via,
      ...common
    }
  }

  private idle(s: Session): boolean {
    return this.now() - s.lastActivity >= s.profile.idleLockMinutes * 60_000
  }


  async signIn(ctx: RequestContext, input: unknown): Promise<SessionDto> {
    const raw = input as { user?: unknown; profile?: unknown } | undefined
    const rawLogin = typeof raw?.user === 'string' ? raw.user : ''
    let v
    try {
      v = parseInput(signInSchema, input)
    } catch (e) {
      await this.binder.recordFailure(ctx, auditName(rawLogin) ?? '(unknown)', 'login', null, { login: rawLogin }, 'invalid-input', e as AppError)
      throw e
    }
    const p = this.directory.profile(v.profile)
    const login = v.user.trim()
    if (!v.password) {
      const err = new AppError('VALIDATION', 'password: is required (an empty password makes an anonymous bind, which proves nothing)', { field: 'password' })
      await this.binder.recordFailure(ctx, login, 'login', p, { login }, 'empty-password', err)
      throw err
    }
    let located
    try {
      located = await this.binder.locate(p, login)
    } catch (e) {
      await this.binder.recordFailure(ctx, login, 'login', p, { login }, unavailableKind(e), e as AppError)
      throw e
    }
    if (!located.dn) {
      // Unknown or ambiguous: counts as a failure like a wrong password, and says the same.
      const claim = await this.binder.throttle.claim(p.name, login)
      const err = claim.allowed ? this.binder.credentialsError(p, login) : new AppError('FORBIDDEN', `sign-in for "${login}" on profile ${p.name} is paused after ${claim.failures} failed attempts; try again later`, { kind: 'throttled', retryAfterMs: claim.retryAfterMs })
      const failures = claim.allowed ? await this.binder.throttle.failed(p.name, login) : claim.failures
      await this.binder.recordFailure(ctx, login, 'login', p, { login }, claim.allowed ? located.kind! : 'throttled', err, { method: located.method, failures })
      throw err
    }
    const est = await this.binder.establish(ctx, 'login', p, { dn: located.dn, login, method: located.method }, v.password, { profile: p.name })
    if (this.session) await this.endSession(ctx, 'replaced')
    const now = this.now()
    const actor = est.uid ?? located.dn
    this.session = {
      profile: p,
      conn: est.conn,
      dn: located.dn,
      login,
      uid: est.uid,
      actor,
      role: est.role,
      via: est.via,
      startedAt: now,
      lastActivity: now,
      locked: false,
      cursors: new CursorRegistry()
    }
    this.startTimer()
    await this.binder.record(ctx, actor, {
      action: 'login',
      resourceType: 'session',
      resourceId: auditName(located.dn),
      resourceName: auditName(login),
      status: 'success',
      details: { context: { profile: p.name, role: est.role, via: est.via, method: located.method, tls: est.conn.tls } }
    }).catch(async (e) => {
      // No audit row, no session.
      await this.endSession(ctx, 'audit-unavailable', false)
      throw new AppError('UNAVAILABLE', `the audit log could not be written (${(e as Error).message}); sign-in refused`)
    })
    return this.status()
  }

  private startTimer(): void {
    if (this.timer) return
    this.timer = setInterval(() => {
      void this.lockIfIdle().catch((e) => console.error('[auth] idle lock failed:', (e as Error).message))
      void this.session?.cursors.sweep().catch(() => undefined)
    }, 30_000)
    this.timer.unref()
  }

  private async endSession(ctx: RequestContext, reason: string, audit = true): Promise<void> {
    const s = this.session
    this.session = null
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    if (!s) return
    // Signing out never raises a role: requests without a session stay at or below the one that ended.
    this.floor = s.role
    await s.cursors.closeAll().catch(() => undefined)
    await s.conn?.close()
    if (audit) {
      await this.binder.record(ctx, s.actor, {
        action: 'logout',
        resourceType: 'session',
        resourceId: auditName(s.dn),
        resourceName: auditName(s.login),
        status: 'success',
        details: { context: { profile: s.profile.name, reason, minutes: Math.round((this.now() - s.startedAt) / 6000) / 10 } }
      }).catch((e) => console.error('[auth] could not record a sign-out:', (e as Error).message))
    }
  }

  async signOut(ctx: RequestContext): Promise<SessionDto> {
    await this.endSession(ctx, 'sign-out')
    return this.status()
  }

  /** Locks the session now (closes the bind, forgets the password); `unlock` binds again. */
  async lock(ctx: RequestContext, reason = 'locked'): Promise<SessionDto> {
    const s = this.session
    if (!s || s.locked) return this.status()
    s.locked = true
    await s.cursors.closeAll().catch(() => undefined)
    const conn = s.conn
    s.conn = null
    await conn?.close()
    await this.binder.record(ctx, s.actor, {
      action: 'logout',
      resourceType: 'session',
      resourceId: auditName(s.dn),
      resourceName: auditName(s.login),
      status: 'success',
      details: { context: { profile: s.profile.name, reason } }
    }).catch((e) => console.error('[auth] could not record a lock:', (e as Error).message))
    return this.status()
  }

  /** Locks the session when it has been idle for the profile's idleLockMinutes. */
  async lockIfIdle(ctx?: RequestContext): Promise<boolean> {
    const s = this.session
    if (!s || s.locked || !this.idle(s)) return false
    await this.lock(ctx ?? { actor: s.actor, roles: [s.role], requestId: 'idle-lock', source: 'ui' }, 'idle-lock')
    return true
  }

  async unlock(ctx: RequestContext, input: unknown): Promise<SessionDto> {
    const s = this.session
    if (!s) throw new AppError('FORBIDDEN', 'no session to unlock: sign in', { kind: 'no-session' })
    await this.lockIfIdle(ctx)
    if (!s.locked) return this.status()
    const password = typeof (input as { password?: unknown })?.password === 'string' ? (input as { password: string }).password : ''
    if (!password) {
      const err = new AppError('VALIDATION', 'password: is required to unlock', { field: 'password' })
      await this.binder.recordFailure(ctx, s.actor, 'login', s.profile, { dn: s.dn, login: s.login }, 'empty-password', err, { reason: 'unlock' })
      throw err
    }
    const est = await this.binder.establish(ctx, 'login', s.profile, { dn: s.dn, login: s.login, method: 'unlock' }, password, { profile: s.profile.name, reason: 'unlock' })
    if (this.session !== s) {
      await est.conn.close()
      return this.status()
    }
    s.conn = est.conn
    s.role = est.role
    s.via = est.via
    s.locked = false
    s.lastActivity = this.now()
    await this.binder.record(ctx, s.actor, {
      action: 'login',
      resourceType: 'session',
      resourceId: auditName(s.dn),
      resourceName: auditName(s.login),
      status: 'success',
      details: { context: { profile: s.profile.name, role: est.role, via: est.via, reason: 'unlock' } }
    })
    return this.status()
  }

  /**
   * The context for changing local directory configuration (profiles). The desktop user configures the
   * app; but while someone is signed in to the directory with a lower role, their role applies, so a viewer
   * cannot rewrite the group-to-role mapping to promote themselves.
   */
  configContext(ctx: RequestContext): RequestContext {
    const s = this.session
    if (!s) return this.capped(ctx, this.withoutSession)
    if (s.role === 'admin') return this.capped(ctx)
    return this.capped({ ...ctx, actor: s.actor, roles: [s.role] })
  }

  /**
   * The context a UI request to IPAM, the audit trail, the importer or the queue runs under: while someone
   * is signed in to the directory, that person with their role (a viewer stays read-only everywhere);
   * refused while their session is locked; when nobody is signed in, the desktop user as given.
   */
  async requestContext(ctx: RequestContext, opts: { allowWithoutSignIn?: boolean } = {}): Promise<RequestContext> {
    const s = this.session
    if (!s) {
      if (!opts.allowWithoutSignIn && (await this.refreshPolicy()).requireSignIn) {
        throw new AppError('FORBIDDEN', 'this database requires a directory sign-in: sign in first', { kind: 'sign-in-required' })
      }
      return this.capped(ctx, this.withoutSession)
    }
    await this.lockIfIdle(ctx)
    if (s.locked) {
      throw new AppError('FORBIDDEN', `the session of ${s.login} is locked; enter the password to unlock`, { kind: 'locked' })
    }
    s.lastActivity = this.now()
    return this.capped({ ...ctx, actor: s.actor, roles: [s.role] })
  }

  /** Who is signed in, on which profile and server (the offline queue and its directory probe), or null. */
  sessionInfo(): { actor: string; role: DirectoryRole; profile: string; url: string; locked: boolean } | null {
    const s = this.session
    return s ? { actor: s.actor, role: s.role, profile: s.profile.name, url: s.profile.url, locked: s.locked || this.idle(s) } : null
  }

  /**
   * The scope to replay a queued directory edit under: the live session, when it belongs to the person
   * who made the edit, on the same profile, and is unlocked. Otherwise null: the edit waits.
   */
  replayScope(actor: string, profile: string | undefined, ctx: RequestContext): DirectoryScope | null {
    const s = this.session
    if (!s || s.locked || this.idle(s) || !s.conn || s.actor !== actor || (profile !== undefined && s.profile.name !== profile)) return null
    return { conn: s.conn, ctx: { ...ctx, actor: s.actor, roles: [s.role] }, cursors: s.cursors }
  }

  /** The scope of the signed-in person, for one request; refuses when signed out or locked. */
  async scope(ctx: RequestContext): Promise<DirectoryScope> {
    const s = this.session
    if (!s) throw new AppError('FORBIDDEN', 'the directory needs a sign-in first', { kind: 'no-session' })
    await this.lockIfIdle(ctx)
    if (s.locked || !s.conn) {
      throw new AppError('FORBIDDEN', `the directory session of ${s.login} is locked (idle for ${s.profile.idleLockMinutes} min or locked by hand); enter the password to unlock`, { kind: 'locked' })
    }
    s.lastActivity = this.now()
    return { conn: s.conn, ctx: { ...ctx, actor: s.actor, roles: [s.role] }, cursors: s.cursors }
  }

  /**
   * A scope for one CLI command: binds with `bindDn` (default: the profile's) and the supplied secret, or
   * the one stored in the keychain for the profile's own bind DN.
   */
  async commandScope(ctx: RequestContext, opts: { profile?: string; bindDn?: string; password?: string | null }): Promise<CommandScope> {
    const p = this.directory.profile(opts.profile)
    const dn = (opts.bindDn ?? p.bindDn)?.trim()
    if (!dn) throw new AppError('VALIDATION', `bindDn: profile ${p.name} has no bind DN; give one (--bind-dn) or add it to the profile`, { field: 'bindDn' })
    if (!looksLikeDn(dn)) throw new AppError('VALIDATION', `bindDn: "${dn}" is not a distinguished name`, { field: 'bindDn' })
    let password = opts.password ?? null
    if (password === null && dn === p.bindDn) password = await this.directory.storedSecret(p)
    if (password === null || password === '') {
      const err = new AppError(
        'NOT_FOUND',
        `password: no secret for ${dn}: pass it with --password-stdin or NETKEEPER_LDAP_PASSWORD${dn === p.bindDn ? `, or store it in the keychain (netkeeper profile add ${p.name} ... --password-stdin --replace)` : ''}`,
        { field: 'password' }
      )
      await this.binder.recordFailure(ctx, dn, 'authenticate', p, { dn, login: dn }, password === '' ? 'empty-password' : 'no-secret', err, { purpose: 'command' })
      throw err
    }
    const est = await this.binder.establish(ctx, 'authenticate', p, { dn, login: dn, method: 'dn' }, password, { profile: p.name, purpose: 'command' })
    const actor = est.uid ?? dn
    await this.binder.record(ctx, actor, {
      action: 'authenticate',
      resourceType: 'session',
      resourceId: auditName(dn),
      resourceName: auditName(dn),
      status: 'success',
      details: { context: { profile: p.name, purpose: 'command', role: est.role, via: est.via, tls: est.conn.tls } }
    }).catch(async (e) => {
      await est.conn.close()
      throw new AppError('UNAVAILABLE', `the audit log could not be written (${(e as Error).message}); refused`)
    })
    const cursors = new CursorRegistry()
    return {
      conn: est.conn,
      ctx: { ...ctx, actor, roles: [est.role] },
      cursors,
      role: est.role,
      close: async () => {
        await cursors.closeAll()
        await est.conn.close()
      }
    }
  }

  /** Ends the session when the app closes (audited as a sign-out). */
  async close(): Promise<void> {
    if (this.session) await this.endSession({ actor: this.session.actor, roles: [this.session.role], requestId: 'shutdown', source: 'ui' }, 'app-closed')
  }
}

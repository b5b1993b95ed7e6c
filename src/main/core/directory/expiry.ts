/**
 * Account expiry and password policy.
 *
 * Expiry is shadowExpire (days since 1970; the account stops working on that day, as PAM reads it) and,
 * when the server's schema has it (OpenLDAP 2.6's ppolicy), pwdEndTime as well, so both PAM/NSS clients and
 * LDAP binds honour it. The list of what expires within N days covers accounts (shadowExpire, pwdEndTime)
 * and passwords (shadowLastChange + shadowMax, pwdChangedTime + the policy's pwdMaxAge), already expired
 * ones included (negative days left).
 *
 * The password policy that applies to an entry is its pwdPolicySubentry, else the directory's default
 * policy: the pwdPolicy entry named cn=default under the base, or the only pwdPolicy entry there (slapd's
 * ppolicy_default is configuration the server does not publish). A new password is checked against its
 * pwdMinLength and pwdMaxLength before it is sent; quality rules beyond length stay the server's to apply.
 *
 * The maintenance run locks accounts whose expiry has passed and are not locked yet (each lock audited like
 * a manual one, under the run's one request id). It runs only when asked (`user lock-expired`): nothing
 * locks accounts by itself.
 */
import { Attribute, Change } from 'ldapts'
import { AppError } from '../../../shared/errors'
import {
  expirySchema,
  expiringSchema,
  type ExpiringAccount,
  type ExpiryResult,
  type MaintenanceResult,
  type PasswordPolicy
} from '../../../shared/directory-admin'
import type { AuditEntry } from '../audit/writer'
import type { DirectoryAudit } from './audited'
import type { LdapConnection } from './connection'
import { and, isClass, or, present, USER_CLASS } from './filters'
import { epochDays } from './password'
import { schemaOf } from './schema'
import { auditName, parseInput, type DirectoryScope, type Guard } from './scope'
import type { UserDirectory } from './users'

const DAY = 86_400_000
/** shadowExpire = 1 is the shadow lock method's marker (users.ts), not a date. */
const SHADOW_LOCKED = 1

const isoDay = (days: number): string => new Date(days * DAY).toISOString().slice(0, 10)
const daysOf = (date: string): number => Math.floor(Date.parse(`${date}T00:00:00Z`) / DAY)
const genTime = (days: number): string => new Date(days * DAY).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')

/** A Generalized Time (20261231235959Z, with or without seconds/fraction/offset) as milliseconds, or null. */
export function parseGeneralizedTime(v: string | null): number | null {
  if (!v) return null
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,]\d+)?(Z|[+-]\d{2}(?:\d{2})?)$/.exec(v)
  if (!m) return null
  const [, y, mo, d, h, mi, s, tz] = m
  const base = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi ?? 0), Number(s ?? 0))
  if (tz === 'Z') return base
  const sign = tz!.startsWith('-') ? -1 : 1
  const off = (Number(tz!.slice(1, 3)) * 60 + Number(tz!.slice(3, 5) || 0)) * 60_000
  return base - sign * off
}

export class AccountExpiry {
  private defaultPolicyCache = new WeakMap<LdapConnection, Promise<string | null>>()

  constructor(
    private readonly audit: DirectoryAudit,
    private readonly guard: Guard,
    private readonly users: () => UserDirectory
  ) {}

  private entry(scope: DirectoryScope, uid: unknown, details?: AuditEntry['details']): AuditEntry {
    return { action: 'update', resourceType: 'ldap_user', resourceName: auditName(uid), details: { ...details, context: { profile: scope.conn.profile.name, change: 'expiry', ...details?.context } } }
  }

  /** Sets (or with on: null removes) the expiry of one account. */
  async set(scope: DirectoryScope, input: unknown): Promise<ExpiryResult> {
    const raw = input as { uid?: unknown }
    const entry = this.entry(scope, raw?.uid)
    return this.guard.run(scope, entry, 'operator', 'setting an account expiry', async () => {
      const v = parseInput(expirySchema, input)
      if (v.on !== null && Number.isNaN(Date.parse(`${v.on}T00:00:00Z`))) throw new AppError('VALIDATION', `on: ${v.on} is not a date`, { field: 'on' })
      const conn = scope.conn
      const schema = await schemaOf(conn)
      const hasEnd = schema.attribute('pwdEndTime') !== null
      const cur = await this.users().find(conn, v.uid, ['uid', 'objectClass', 'shadowExpire', ...(hasEnd ? ['pwdEndTime'] : [])])
      const days = v.on === null ? null : daysOf(v.on)
      const changes: Change[] = []
      const beforeDays = cur.int('shadowExpire')
      if (days === null) {
        if (beforeDays !== null && beforeDays !== SHADOW_LOCKED) changes.push(new Change({ operation: 'delete', modification: new Attribute({ type: 'shadowExpire', values: [] }) }))
        if (hasEnd && cur.has('pwdEndTime')) changes.push(new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdEndTime', values: [] }) }))
      } else {
        if (beforeDays === SHADOW_LOCKED) throw new AppError('CONFLICT', `uid: ${cur.first('uid')} is locked with the shadow method (shadowExpire 1); unlock it before giving it an expiry date`, { field: 'uid' })
        if (!cur.hasClass('shadowAccount')) changes.push(new Change({ operation: 'add', modification: new Attribute({ type: 'objectClass', values: ['shadowAccount'] }) }))
        if (beforeDays !== days) changes.push(new Change({ operation: 'replace', modification: new Attribute({ type: 'shadowExpire', values: [String(days)] }) }))
        if (hasEnd && cur.first('pwdEndTime') !== genTime(days)) changes.push(new Change({ operation: 'replace', modification: new Attribute({ type: 'pwdEndTime', values: [genTime(days)] }) }))
      }
      const uid = cur.first('uid') ?? v.uid
      const result: ExpiryResult = { uid, dn: cur.dn, expires: v.on, shadowExpire: days, pwdEndTime: hasEnd && days !== null ? genTime(days) : null, changed: changes.length > 0 }
      if (!changes.length) return result
      await this.audit.change(
        scope.ctx,
        { ...entry, resourceId: cur.dn, resourceName: uid, details: { before: { expires: beforeDays !== null && beforeDays !== SHADOW_LOCKED ? isoDay(beforeDays) : null }, after: { expires: v.on }, context: entry.details?.context } },
        () => conn.modify(cur.dn, changes, 'on')
      )
      return result
    })
  }

  /** Accounts and passwords expiring within N days (already expired included), soonest first. */
  async expiring(scope: DirectoryScope, input: unknown = {}): Promise<ExpiringAccount[]> {
    const v = parseInput(expiringSchema, input)
    const conn = scope.conn
    const schema = await schemaOf(conn)
    const hasEnd = schema.attribute('pwdEndTime') !== null
    const today = epochDays()
    const defaultMaxAge = (await this.policyAt(conn, null)).maxAgeSeconds
    // The max age of each policy an entry names (pwdPolicySubentry), read once per policy.
    const ages = new Map<string, Promise<number | null>>()
    const maxAgeOf = (policyDn: string | null): Promise<number | null> => {
      if (!policyDn) return Promise.resolve(defaultMaxAge)
      let p = ages.get(policyDn.toLowerCase())
      if (!p) {
        p = conn.readEntry(policyDn, ['pwdMaxAge']).then((e) => e?.int('pwdMaxAge') || null, () => null)
        ages.set(policyDn.toLowerCase(), p)
      }
      return p
    }
    const attrs = ['uid', 'shadowExpire', 'shadowLastChange', 'shadowMax', 'pwdChangedTime', 'pwdPolicySubentry', 'pwdAccountLockedTime', ...(hasEnd ? ['pwdEndTime'] : [])]
    const wanted = [present('shadowExpire'), present('shadowMax'), present('pwdChangedTime'), ...(hasEnd ? [present('pwdEndTime')] : [])]
    const out: ExpiringAccount[] = []
    const own = conn.fork()
    try {
      for await (const page of own.pages(conn.profile.usersDn, { filter: and(USER_CLASS, or(...wanted)), attributes: attrs }, 1000)) {
        for (const e of page) {
          const uid = e.first('uid') ?? e.dn
          const shadowExpire = e.int('shadowExpire')
          const locked = e.has('pwdAccountLockedTime') || shadowExpire === SHADOW_LOCKED
          const push = (what: ExpiringAccount['what'], day: number): void => {
            if (day - today <= v.withinDays) out.push({ uid, dn: e.dn, what, on: isoDay(day), daysLeft: day - today, locked })
          }
          const end = hasEnd ? parseGeneralizedTime(e.first('pwdEndTime')) : null
          const accountDay = [shadowExpire !== null && shadowExpire !== SHADOW_LOCKED ? shadowExpire : null, end !== null ? Math.floor(end / DAY) : null].filter((x): x is number => x !== null)
          if (accountDay.length) push('account', Math.min(...accountDay))
          const last = e.int('shadowLastChange')
          const max = e.int('shadowMax')
          const pwDays: number[] = []
          if (last !== null && last > 0 && max !== null && max > 0 && max < 99999) pwDays.push(last + max)
          const changed = parseGeneralizedTime(e.first('pwdChangedTime'))
          const maxAge = changed !== null ? await maxAgeOf(e.first('pwdPolicySubentry')) : null
          if (maxAge && changed !== null) pwDays.push(Math.floor((changed + maxAge * 1000) / DAY))
          if (pwDays.length) push('password', Math.min(...pwDays))
        }
      }
    } finally {
      await own.close()
    }
    return out.sort((a, b) => a.daysLeft - b.daysLeft || a.uid.localeCompare(b.uid))
  }

  /** The DN of the directory's default policy (see the module comment), or null. */
  private defaultPolicy(conn: LdapConnection): Promise<string | null> {
    let p = this.defaultPolicyCache.get(conn)
    if (!p) {
      p = conn.search(conn.profile.baseDn, { filter: isClass('pwdPolicy'), attributes: ['cn'], sizeLimit: 50 }, 'find the default password policy').then((r) => {
        const named = r.find((e) => e.first('cn')?.toLowerCase() === 'default')
        return named?.dn ?? (r.length === 1 ? r[0]!.dn : null)
      })
      this.defaultPolicyCache.set(conn, p)
    }
    return p
  }

  /** The policy that applies to `dn` (null: the default policy). */
  async policyAt(conn: LdapConnection, dn: string | null): Promise<PasswordPolicy> {
    let source: PasswordPolicy['source'] = 'none'
    let policyDn: string | null = null
    if (dn) {
      const e = await conn.readEntry(dn, ['pwdPolicySubentry'])
      policyDn = e?.first('pwdPolicySubentry') ?? null
      if (policyDn) source = 'entry'
    }
    if (!policyDn) {
      policyDn = await this.defaultPolicy(conn).catch(() => null)
      if (policyDn) source = 'default'
    }
    const none: PasswordPolicy = { dn: null, source: 'none', minLength: null, maxLength: null, checkQuality: null, maxAgeSeconds: null, inHistory: null, lockout: null }
    if (!policyDn) return none
    const p = await conn.readEntry(policyDn, ['pwdMinLength', 'pwdMaxLength', 'pwdCheckQuality', 'pwdMaxAge', 'pwdInHistory', 'pwdLockout'])
    if (!p) return { ...none, dn: policyDn, source }
    const n = (a: string): number | null => p.int(a)
    return {
      dn: policyDn,
      source,
      minLength: n('pwdMinLength'),
      maxLength: n('pwdMaxLength'),
      checkQuality: n('pwdCheckQuality'),
      maxAgeSeconds: n('pwdMaxAge') || null,
      inHistory: n('pwdInHistory'),
      lockout: p.has('pwdLockout') ? p.first('pwdLockout')!.toUpperCase() === 'TRUE' : null
    }
  }

  /** The policy of a user (by uid). */
  async policy(scope: DirectoryScope, uid: string): Promise<PasswordPolicy> {
    const cur = await this.users().find(scope.conn, uid, ['uid'])
    return this.policyAt(scope.conn, cur.dn)
  }

  /** Refuses a new password the policy's length rules refuse, before it is sent (the password is never in the message). */
  async checkPassword(conn: LdapConnection, dn: string | null, password: string): Promise<void> {
    const p = await this.policyAt(conn, dn)
    const len = [...password].length
    if (p.minLength && len < p.minLength) throw new AppError('VALIDATION', `password: must be at least ${p.minLength} characters (password policy ${p.dn}); it has ${len}`, { field: 'password', policy: p.dn, minLength: p.minLength })
    if (p.maxLength && len > p.maxLength) throw new AppError('VALIDATION', `password: must be at most ${p.maxLength} characters (password policy ${p.dn})`, { field: 'password', policy: p.dn, maxLength: p.maxLength })
  }

  /** Locks every account whose expiry has passed and is not locked yet. */
  async lockExpired(scope: DirectoryScope, opts: { dryRun?: boolean } = {}): Promise<MaintenanceResult> {
    const entry: AuditEntry = { action: 'update', resourceType: 'ldap_maintenance', resourceName: 'lock expired accounts', details: { context: { profile: scope.conn.profile.name } } }
    return this.guard.run(scope, entry, 'operator', 'locking expired accounts', async () => {
      const due = (await this.expiring(scope, { withinDays: 0 })).filter((a) => a.what === 'account' && a.daysLeft <= 0)
      const result: MaintenanceResult = { dryRun: Boolean(opts.dryRun), requestId: scope.ctx.requestId, locked: [], alreadyLocked: due.filter((a) => a.locked).length, failed: [] }
      for (const a of due.filter((x) => !x.locked)) {
        if (opts.dryRun) {
          result.locked.push(a.uid)
          continue
        }
        try {
          const r = await this.users().lock(scope, a.uid)
          if (r.changed) result.locked.push(a.uid)
          else result.alreadyLocked++
        } catch (e) {
          result.failed.push({ uid: a.uid, message: (e as Error).message })
        }
      }
      if (!opts.dryRun) await this.audit.event(scope.ctx, { ...entry, status: result.failed.length ? 'warning' : 'success', details: { after: { locked: result.locked, failed: result.failed.length }, context: entry.details?.context } })
      return result
    })
  }
}

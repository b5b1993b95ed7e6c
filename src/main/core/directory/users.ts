/**
 * Users: inetOrgPerson + posixAccount + shadowAccount entries under the profile's users container.
 *
 * Every entry is found by a search with an escaped filter object and then addressed by the DN the server
 * returned; a DN is built from input only when creating or renaming, and then with every special character
 * escaped (shared/dn.ts). Roles: viewer reads; operator creates, edits, sets passwords, locks and unlocks;
 * admin also renames and deletes.
 */
import { AppError, validationError } from '../../../shared/errors'
import { childDn, formatDn, parseDn } from '../../../shared/dn'
import {
  listSchema,
  passwordSetSchema,
  userCreateSchema,
  userRef,
  userRenameSchema,
  userUpdateSchema,
  type DirectoryPage,
  type LockResult,
  type PasswordSetResult,
  type UserDeleteResult,
  type UserDto,
  type UserRenameResult
} from '../../../shared/directory'
import type { AuditEntry } from '../audit/writer'
import type { DirectoryAudit } from './audited'
import { OID_PASSWORD_MODIFY, type LdapConnection, type LdapEntry, type ResolvedProfile } from './connection'
import { expandPattern, type ResolvedTemplate } from './templates'
import { attributeChanges, toUserDto, USER_ATTRS, userSnapshot } from './entries'
import { and, change, contains, eq, or, USER_CLASS } from './filters'
import type { GroupDirectory } from './groups'
import { allocateId, numberInUse, type IdPoolEvents } from './ids'
import { epochDays, generatePassword, passwordModifyValue, sshaHash } from './password'
import { auditName, parseInput, type DirectoryScope, type Guard } from './scope'
import type { Change } from 'ldapts'

/** shadowExpire = 1 (a day in 1970) is how the "shadow" lock method marks a locked account. */
const SHADOW_LOCKED = '1'

const EDITABLE = ['cn', 'sn', 'givenName', 'mail', 'gidNumber', 'homeDirectory', 'loginShell', 'gecos', 'description'] as const
type Editable = (typeof EDITABLE)[number]

const isAscii = (s: string): boolean => [...s].every((c) => c.codePointAt(0)! < 0x80)

export class UserDirectory {
  /** Checks a new password against the entry's password policy before it is sent (expiry.ts); set by the service. */
  passwordCheck?: (conn: LdapConnection, dn: string | null, password: string) => Promise<void>
  /** Called after a rename, so what refers to the person by DN elsewhere (IPAM owners, core/people.ts) follows. */
  onRenamed?: (scope: DirectoryScope, fromDn: string, toDn: string) => Promise<void>

  constructor(
    private readonly audit: DirectoryAudit,
    private readonly guard: Guard,
    private readonly groups: () => GroupDirectory,
    private readonly idEvents: (scope: DirectoryScope) => IdPoolEvents,
    /** The profile's template for new users (templates.ts); the built-in one gives what create always did. */
    private readonly template: (p: ResolvedProfile) => ResolvedTemplate = (p) => ({
      objectClasses: ['inetOrgPerson', 'posixAccount', 'shadowAccount'],
      attributes: {},
      groups: [],
      homeDirectory: `${p.homeBase.replace(/\/$/, '')}/{uid}`,
      loginShell: p.defaultShell,
      builtIn: true,
      profile: p.name
    })
  ) {}

  private entry(scope: DirectoryScope, action: AuditEntry['action'], name: unknown, details?: AuditEntry['details']): AuditEntry {
    return { action, resourceType: 'ldap_user', resourceName: auditName(name), details: { ...details, context: { profile: scope.conn.profile.name, ...details?.context } } }
  }

  /** Finds one user by uid under the users container; NOT_FOUND or CONFLICT (ambiguous) otherwise. */
  async find(conn: LdapConnection, uid: string, attributes = USER_ATTRS): Promise<LdapEntry> {
    const r = await conn.search(conn.profile.usersDn, { filter: and(USER_CLASS, eq('uid', uid)), attributes, sizeLimit: 2 }, `look up uid ${JSON.stringify(uid)}`)
    if (!r.length) throw new AppError('NOT_FOUND', `uid: no user "${uid}" under ${conn.profile.usersDn}`, { field: 'uid' })
    if (r.length > 1) throw new AppError('CONFLICT', `uid: "${uid}" names several entries (${r.map((e) => e.dn).join('; ')}); fix the directory so uids are unique`, { field: 'uid' })
    return r[0]!
  }

  private filterFor(search: string | undefined) {
    if (!search) return USER_CLASS
    const any = [contains('uid', search), contains('cn', search), contains('mail', search)]
    if (/^\d+$/.test(search)) any.push(eq('uidNumber', search))
    return and(USER_CLASS, or(...any))
  }

  /** One page of users (RFC 2696 paging on a connection of its own); pass nextCursor back for the next. */
  async list(scope: DirectoryScope, input: unknown = {}): Promise<DirectoryPage<UserDto>> {
    const v = parseInput(listSchema, input)
    if (v.cursor) return scope.cursors.next(v.cursor, toUserDto)
    return scope.cursors.open(scope.conn, scope.conn.profile.usersDn, { filter: this.filterFor(v.search), attributes: USER_ATTRS }, v.pageSize, toUserDto)
  }

  /** Every matching user, a page at a time (for the CLI's --all): never more than one page in memory. */
  async *walk(scope: DirectoryScope, search: string | undefined, pageSize = 500): AsyncGenerator<UserDto[]> {
    const v = parseInput(listSchema, { search, pageSize })
    const own = scope.conn.fork()
    try {
      for await (const page of own.pages(scope.conn.profile.usersDn, { filter: this.filterFor(v.search), attributes: USER_ATTRS }, v.pageSize)) yield page.map(toUserDto)
    } finally {
      await own.close()
    }
  }

  async get(scope: DirectoryScope, uid: unknown): Promise<UserDto> {
    const ref = parseInput(userRef, uid)
    const u = toUserDto(await this.find(scope.conn, ref))
    const groups = await this.groups().containing(scope.conn, u.dn, u.uid)
    return { ...u, groups: groups.map((g) => ({ cn: g.first('cn') ?? '', dn: g.dn })) }
  }

  async create(scope: DirectoryScope, input: unknown): Promise<UserDto> {
    const raw = input as { uid?: unknown } | undefined
    const entry = this.entry(scope, 'create', raw?.uid)
    return this.guard.run(scope, entry, 'operator', 'creating a user', async () => {
      const v = parseInput(userCreateSchema, input)
      const conn = scope.conn
      const p = conn.profile
      const taken = await conn.search(p.baseDn, { filter: eq('uid', v.uid), attributes: ['1.1'], sizeLimit: 1 }, `check uid ${v.uid}`)
      if (taken.length) throw new AppError('CONFLICT', `uid: a user "${v.uid}" already exists (${taken[0]!.dn})`, { field: 'uid' })
      const gidNumber = v.gidNumber ?? p.defaultGidNumber
      if (gidNumber === undefined) throw validationError('gidNumber', `is required: profile ${p.name} has no defaultGidNumber`)
      if (v.uidNumber !== undefined && (await numberInUse(conn, 'uidNumber', v.uidNumber))) {
        throw new AppError('CONFLICT', `uidNumber: ${v.uidNumber} is already used by another account`, { field: 'uidNumber' })
      }
      if (v.password) await this.passwordCheck?.(conn, null, v.password)
      const cn = v.cn ?? (v.givenName ? `${v.givenName} ${v.sn}` : v.sn)
      const uidNumber = v.uidNumber ?? (await allocateId(conn, 'uidNumber', this.idEvents(scope)))
      const dn = childDn('uid', v.uid, p.usersDn)
      const t = this.template(p)
      const attrs: Record<string, string | string[]> = {
        ...Object.fromEntries(Object.entries(t.attributes).map(([k, vals]) => [k, vals.map((x) => expandPattern(x, v.uid))])),
        objectClass: [...new Set(['inetOrgPerson', 'posixAccount', 'shadowAccount', ...t.objectClasses])],
        uid: v.uid,
        cn,
        sn: v.sn,
        uidNumber: String(uidNumber),
        gidNumber: String(gidNumber),
        homeDirectory: v.homeDirectory ?? expandPattern(t.homeDirectory, v.uid),
        loginShell: v.loginShell ?? t.loginShell
      }
      if (v.givenName) attrs.givenName = v.givenName
      if (v.mail) attrs.mail = v.mail
      // gecos is IA5 (ASCII): default it from cn only when cn is ASCII.
      const gecos = v.gecos ?? (isAscii(cn) ? cn : undefined)
      if (gecos) attrs.gecos = gecos
      if (v.description) attrs.description = v.description
      if (v.password) attrs.shadowLastChange = String(epochDays())
      const after = { dn, ...Object.fromEntries(Object.entries(attrs).filter(([k]) => k !== 'objectClass' && k !== 'shadowLastChange')) }
      const method = v.password ? await this.passwordMethod(conn) : null
      await this.audit.change(
        scope.ctx,
        { ...entry, resourceId: dn, details: { after, context: { ...entry.details?.context, passwordSet: Boolean(v.password), ...(method ? { passwordMethod: method } : {}) } } },
        async () => {
          if (v.password && method === 'ssha') attrs.userPassword = sshaHash(v.password)
          await conn.add(dn, attrs, 'uid')
          if (v.password && method === 'password-modify') {
            try {
              await conn.exop(OID_PASSWORD_MODIFY, passwordModifyValue(dn, v.password), `set the password of ${dn}`, 'password')
            } catch (e) {
              // Keep the create all-or-nothing: a user without the password asked for is not what was asked.
              await conn.del(dn).catch(() => undefined)
              throw e
            }
          }
        }
      )
      // The template's groups: joined after the entry exists, each an audited membership change.
      for (const g of t.groups) await this.groups().addMembers(scope, { cn: g, members: [v.uid] })
      return toUserDto((await conn.readEntry(dn, USER_ATTRS)) ?? (await this.find(conn, v.uid)))
    })
  }

  async update(scope: DirectoryScope, input: unknown): Promise<UserDto> {
    const raw = input as { uid?: unknown } | undefined
    const entry = this.entry(scope, 'update', raw?.uid)
    return this.guard.run(scope, entry, 'operator', 'editing a user', async () => {
      const v = parseInput(userUpdateSchema, input)
      const conn = scope.conn
      const cur = await this.find(conn, v.uid)
      const before = toUserDto(cur)
      if (v.version !== undefined && before.version !== null && v.version !== before.version) {
        throw new AppError('CONFLICT', `version: ${v.uid} was changed by someone else since it was loaded (now ${before.version}); reload and edit again`, { field: 'version', current: before.version })
      }
      const changes: Change[] = []
      const fields: Partial<Record<Editable, unknown>> = {}
      for (const k of EDITABLE) {
        const nv = v[k]
        if (nv === undefined) continue
        const next = nv === null ? null : String(nv)
        const c = attributeChanges(k, cur.all(k), next)
        if (c.length) {
          changes.push(...c)
          fields[k] = nv
        }
      }
      if (!changes.length) return before // no-op edit: nothing written, nothing audited
      const beforeSnap = userSnapshot(before)
      const changed = Object.keys(fields)
      await this.audit.change(
        scope.ctx,
        {
          ...entry,
          resourceId: before.dn,
          resourceName: before.uid,
          details: { before: Object.fromEntries(changed.map((k) => [k, beforeSnap[k] ?? null])), after: fields, context: { ...entry.details?.context } }
        },
        () => conn.modify(before.dn, changes, changed[0])
      )
      return toUserDto((await conn.readEntry(before.dn, USER_ATTRS))!)
    })
  }

  async rename(scope: DirectoryScope, input: unknown): Promise<UserRenameResult> {
    const raw = input as { uid?: unknown } | undefined
    const entry = this.entry(scope, 'update', raw?.uid, { context: { change: 'rename' } })
    return this.guard.run(scope, entry, 'admin', 'renaming a user', async () => {
      const v = parseInput(userRenameSchema, input)
      const conn = scope.conn
      const cur = toUserDto(await this.find(conn, v.uid))
      if (cur.uid === v.newUid) return { user: cur, groupsUpdated: [] }
      const taken = await conn.search(conn.profile.baseDn, { filter: eq('uid', v.newUid), attributes: ['1.1'], sizeLimit: 1 }, `check uid ${v.newUid}`)
      // A case-only rename matches the user itself (uid matching ignores case).
      if (taken.some((t) => t.dn !== cur.dn)) throw new AppError('CONFLICT', `newUid: a user "${v.newUid}" already exists (${taken[0]!.dn})`, { field: 'newUid' })
      const rdns = parseDn(cur.dn)
      const newRdn = formatDn([[{ type: 'uid', value: v.newUid }]])
      const newDn = formatDn([[{ type: 'uid', value: v.newUid }], ...rdns.slice(1)])
      await this.audit.change(
        scope.ctx,
        { ...entry, resourceId: cur.dn, resourceName: cur.uid, details: { before: { dn: cur.dn, uid: cur.uid }, after: { dn: newDn, uid: v.newUid }, context: entry.details?.context } },
        () => conn.rename(cur.dn, newRdn, 'newUid')
      )
      const m = await this.groups().rewriteMemberships(scope, { fromDn: cur.dn, toDn: newDn, fromUid: cur.uid, toUid: v.newUid }, `user ${cur.uid} renamed to ${v.newUid}`)
      if (this.onRenamed) {
        try {
          await this.onRenamed(scope, cur.dn, newDn)
        } catch (e) {
          m.errors.push({ group: 'IPAM owners', error: (e as Error).message })
        }
      }
      const user = toUserDto((await conn.readEntry(newDn, USER_ATTRS)) ?? (await this.find(conn, v.newUid)))
      return { user, groupsUpdated: m.updated, ...(m.errors.length ? { membershipErrors: m.errors } : {}) }
    })
  }

  async delete(scope: DirectoryScope, uid: unknown): Promise<UserDeleteResult> {
    const entry = this.entry(scope, 'delete', uid)
    return this.guard.run(scope, entry, 'admin', 'deleting a user', async () => {
      const ref = parseInput(userRef, uid)
      const conn = scope.conn
      const cur = toUserDto(await this.find(conn, ref))
      const groups = this.groups()
      // A groupOfNames must keep one member: refuse before anything changes rather than leave it dangling.
      const sole = await groups.soleMemberOf(conn, cur.dn)
      if (sole.length) {
        throw new AppError('CONFLICT', `uid: ${cur.uid} is the only member of ${sole.map((g) => `"${g}"`).join(', ')} (a groupOfNames needs a member); add another member or delete the group first`, {
          field: 'uid',
          groups: sole
        })
      }
      await this.audit.change(scope.ctx, { ...entry, resourceId: cur.dn, resourceName: cur.uid, details: { before: userSnapshot(cur), context: entry.details?.context } }, () => conn.del(cur.dn, 'uid'))
      const m = await groups.rewriteMemberships(scope, { fromDn: cur.dn, toDn: null, fromUid: cur.uid, toUid: null }, `user ${cur.uid} deleted`)
      return { uid: cur.uid, dn: cur.dn, removedFrom: m.updated, ...(m.errors.length ? { membershipErrors: m.errors } : {}) }
    })
  }

  /** How passwords are set on this server: its Password Modify operation, else a hash made here. */
  async passwordMethod(conn: LdapConnection): Promise<'password-modify' | 'ssha'> {
    if (!conn.profile.passwordModify) return 'ssha'
    const dse = await conn.rootDse()
    return dse.supportedExtension.includes(OID_PASSWORD_MODIFY) ? 'password-modify' : 'ssha'
  }

  async setPassword(scope: DirectoryScope, input: unknown): Promise<PasswordSetResult> {
    const raw = input as { uid?: unknown; generate?: unknown } | undefined
    const entry = this.entry(scope, 'update', raw?.uid, { context: { change: 'password', generated: raw?.generate === true } })
    return this.guard.run(scope, entry, 'operator', 'setting a password', async () => {
      const v = parseInput(passwordSetSchema, input)
      const conn = scope.conn
      const cur = await this.find(conn, v.uid)
      const password = v.password ?? generatePassword()
      if (v.password) await this.passwordCheck?.(conn, cur.dn, password)
      const method = await this.passwordMethod(conn)
      const shadow = cur.hasClass('shadowAccount')
      const lastChange = v.mustChange ? '0' : String(epochDays())
      await this.audit.change(
        scope.ctx,
        { ...entry, resourceId: cur.dn, resourceName: cur.first('uid'), details: { context: { ...entry.details?.context, method, mustChange: Boolean(v.mustChange) } } },
        async () => {
          if (method === 'password-modify') {
            await conn.exop(OID_PASSWORD_MODIFY, passwordModifyValue(cur.dn, password), `set the password of ${cur.dn}`, 'password')
            if (shadow) await conn.modify(cur.dn, [change('replace', 'shadowLastChange', [lastChange])], 'password')
          } else {
            await conn.modify(cur.dn, [change('replace', 'userPassword', [sshaHash(password)]), ...(shadow ? [change('replace', 'shadowLastChange', [lastChange])] : [])], 'password')
          }
        }
      )
      return { uid: cur.first('uid') ?? v.uid, dn: cur.dn, method, ...(v.generate ? { generated: password } : {}) }
    })
  }

  async lock(scope: DirectoryScope, uid: unknown): Promise<LockResult> {
    return this.setLocked(scope, uid, true)
  }

  async unlock(scope: DirectoryScope, uid: unknown): Promise<LockResult> {
    return this.setLocked(scope, uid, false)
  }

  /**
   * ppolicy: pwdAccountLockedTime = 000001010000Z (locked until an administrator unlocks; the ppolicy
   * overlay refuses the bind). shadow (servers without ppolicy): shadowExpire = 1 for PAM/NSS, and a "!"
   * after the hash scheme of userPassword ({SSHA}!...) so the server refuses the bind; unlocking removes both.
   */
  private async setLocked(scope: DirectoryScope, uid: unknown, lock: boolean): Promise<LockResult> {
    const entry = this.entry(scope, 'update', uid, { context: { change: lock ? 'lock' : 'unlock' } })
    return this.guard.run(scope, entry, 'operator', lock ? 'locking a user' : 'unlocking a user', async () => {
      const ref = parseInput(userRef, uid)
      const conn = scope.conn
      const method = conn.profile.lockMethod
      const cur = await this.find(conn, ref, [...USER_ATTRS, ...(method === 'shadow' ? ['userPassword'] : [])])
      const name = cur.first('uid') ?? ref
      const changes: Change[] = []
      if (method === 'ppolicy') {
        const isLocked = cur.has('pwdAccountLockedTime')
        if (lock && !isLocked) changes.push(change('add', 'pwdAccountLockedTime', ['000001010000Z']))
        if (!lock && isLocked) changes.push(change('delete', 'pwdAccountLockedTime', []))
      } else {
        const pw = cur.first('userPassword')
        const m = pw ? /^(\{[^}]+\})(!?)(.*)$/s.exec(pw) : null
        if (lock) {
          if (cur.first('shadowExpire') !== SHADOW_LOCKED) changes.push(...attributeChanges('shadowExpire', cur.all('shadowExpire'), SHADOW_LOCKED))
          if (pw && !m) throw new AppError('CONFLICT', `uid: the password of ${name} is stored in clear text and cannot be disabled; set a new password first`, { field: 'uid' })
          if (m && !m[2]) changes.push(change('delete', 'userPassword', [pw!]), change('add', 'userPassword', [`${m[1]}!${m[3]}`]))
        } else {
          if (cur.first('shadowExpire') === SHADOW_LOCKED) changes.push(change('delete', 'shadowExpire', [SHADOW_LOCKED]))
          if (m && m[2]) changes.push(change('delete', 'userPassword', [pw!]), change('add', 'userPassword', [`${m[1]}${m[3]}`]))
        }
      }
      if (!changes.length) return { uid: name, dn: cur.dn, locked: lock, changed: false, method }
      await this.audit.change(
        scope.ctx,
        { ...entry, resourceId: cur.dn, resourceName: name, details: { before: { locked: !lock }, after: { locked: lock }, context: { ...entry.details?.context, method } } },
        () => conn.modify(cur.dn, changes, 'uid')
      )
      return { uid: name, dn: cur.dn, locked: lock, changed: true, method }
    })
  }
}

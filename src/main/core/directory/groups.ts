/**
 * Groups under the profile's groups container, of three kinds:
 * - posixGroup (RFC 2307, the nis schema): members by uid in memberUid;
 * - groupOfNames: members by DN in member (users and nested groups); the schema needs at least one member;
 * - rfc2307bis: groupOfNames + posixGroup in one entry (posixGroup is auxiliary in the rfc2307bis schema):
 *   member and memberUid both, changed together in the same modify so they never drift apart. `get` reports
 *   drift made by other tools, and adding or removing a member repairs it for that member.
 *
 * Existing groups are handled by what they are (their object classes); the profile's groupType decides what
 * new groups are. Roles: viewer reads; operator adds and removes members; admin creates, edits and deletes.
 */
import { AppError, validationError } from '../../../shared/errors'
import { childDn, isUnderDn, normalizeDn, parseDn } from '../../../shared/dn'
import {
  groupCreateSchema,
  groupRefSchema,
  groupUpdateSchema,
  listSchema,
  membersSchema,
  posixName,
  type DirectoryPage,
  type GroupDeleteResult,
  type GroupDto,
  type GroupRef,
  type GroupType,
  type MembersResult
} from '../../../shared/directory'
import type { Change } from 'ldapts'
import type { AuditEntry } from '../audit/writer'
import type { DirectoryAudit } from './audited'
import type { LdapConnection, LdapEntry } from './connection'
import { attributeChanges, GROUP_ATTRS, groupSnapshot, groupType, toGroupDto } from './entries'
import { and, change, contains, eq, GROUP_CLASSES, isClass, or, USER_CLASS } from './filters'
import { allocateId, numberInUse, type IdPoolEvents } from './ids'
import { auditName, parseInput, type DirectoryScope, type Guard } from './scope'

/** Values per modify in bulk membership changes: big groups change in several bounded operations. */
const CHUNK = 1000
/** Users resolved per search (an OR of equality filters). */
const LOOKUP_CHUNK = 200
/** Members listed in one audit row before the list is cut (the count is always complete). */
const AUDIT_LIST_MAX = 10_000
const NEST_DEPTH = 8

const chunks = <T>(xs: T[], n: number): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n))
  return out
}

const auditList = (xs: string[]): { list: string[]; count: number; truncated?: true } =>
  xs.length > AUDIT_LIST_MAX ? { list: xs.slice(0, AUDIT_LIST_MAX), count: xs.length, truncated: true } : { list: xs, count: xs.length }

const normalizeOr = (dn: string): string => {
  try {
    return normalizeDn(dn)
  } catch {
    return dn.toLowerCase()
  }
}

interface ResolvedUser {
  uid: string
  dn: string
}

export class GroupDirectory {
  constructor(
    private readonly audit: DirectoryAudit,
    private readonly guard: Guard,
    private readonly idEvents: (scope: DirectoryScope) => IdPoolEvents
  ) {}

  private entry(scope: DirectoryScope, action: AuditEntry['action'], name: unknown, details?: AuditEntry['details']): AuditEntry {
    return { action, resourceType: 'ldap_group', resourceName: auditName(name), details: { ...details, context: { profile: scope.conn.profile.name, ...details?.context } } }
  }

  async find(conn: LdapConnection, cn: string): Promise<LdapEntry> {
    const r = await conn.search(conn.profile.groupsDn, { filter: and(GROUP_CLASSES, eq('cn', cn)), attributes: GROUP_ATTRS, sizeLimit: 2 }, `look up group ${JSON.stringify(cn)}`)
    if (!r.length) throw new AppError('NOT_FOUND', `cn: no group "${cn}" under ${conn.profile.groupsDn}`, { field: 'cn' })
    if (r.length > 1) throw new AppError('CONFLICT', `cn: "${cn}" names several groups (${r.map((e) => e.dn).join('; ')}); fix the directory so group names are unique`, { field: 'cn' })
    return r[0]!
  }

  private filterFor(search: string | undefined) {
    if (!search) return GROUP_CLASSES
    const any = [contains('cn', search), contains('description', search)]
    if (/^\d+$/.test(search)) any.push(eq('gidNumber', search))
    return and(GROUP_CLASSES, or(...any))
  }

  async list(scope: DirectoryScope, input: unknown = {}): Promise<DirectoryPage<GroupDto>> {
    const v = parseInput(listSchema, input)
    if (v.cursor) return scope.cursors.next(v.cursor, toGroupDto)
    return scope.cursors.open(scope.conn, scope.conn.profile.groupsDn, { filter: this.filterFor(v.search), attributes: GROUP_ATTRS }, v.pageSize, toGroupDto)
  }

  /** Groups that hold `dn` (member/uniqueMember) or `uid` (memberUid) directly. */
  async containing(conn: LdapConnection, dn: string, uid: string | null): Promise<LdapEntry[]> {
    const by = [eq('member', dn), eq('uniqueMember', dn), ...(uid ? [eq('memberUid', uid)] : [])]
    return conn.search(conn.profile.groupsDn, { filter: and(GROUP_CLASSES, or(...by)), attributes: GROUP_ATTRS }, `groups of ${dn}`)
  }

  /** groupOfNames groups in which `dn` is the only member (they would break without it). */
  async soleMemberOf(conn: LdapConnection, dn: string): Promise<string[]> {
    const r = await conn.search(conn.profile.groupsDn, { filter: and(isClass('groupOfNames'), eq('member', dn)), attributes: ['cn', 'member'] }, `groups of ${dn}`)
    return r.filter((g) => g.all('member').length === 1).map((g) => g.first('cn') ?? g.dn)
  }

  /**
   * The groups nested in `root` (member DNs that are groups), breadth first, with the depth and the group
   * they were reached through; cycles are cut.
   */
  async nestedGroups(conn: LdapConnection, root: LdapEntry): Promise<(GroupRef & { depth: number; via: string })[]> {
    const seen = new Set<string>([normalizeOr(root.dn)])
    const out: (GroupRef & { depth: number; via: string })[] = []
    let frontier: LdapEntry[] = [root]
    for (let depth = 1; depth <= NEST_DEPTH && frontier.length; depth++) {
      const next: LdapEntry[] = []
      for (const g of frontier) {
        const candidates = g.all('member').filter((m) => isUnderDn(m, conn.profile.groupsDn) && !seen.has(normalizeOr(m)))
        for (const m of candidates) {
          seen.add(normalizeOr(m))
          const e = await conn.readEntry(m, GROUP_ATTRS)
          if (!e || (!e.hasClass('posixGroup') && !e.hasClass('groupOfNames') && !e.hasClass('groupOfUniqueNames'))) continue
          out.push({ cn: e.first('cn') ?? '', dn: e.dn, depth, via: g.first('cn') ?? g.dn })
          next.push(e)
        }
      }
      frontier = next
    }
    return out
  }

  /** uid of each member DN: from the RDN when it is uid=..., else read from the entry. */
  private async uidsOf(conn: LdapConnection, dns: string[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>()
    for (const dn of dns) {
      let uid: string | null = null
      try {
        const rdn = parseDn(dn)[0]
        if (rdn?.length === 1 && rdn[0]!.type.toLowerCase() === 'uid') uid = rdn[0]!.value
      } catch {
        /* not a DN we can parse: read it */
      }
      if (uid === null && !isUnderDn(dn, conn.profile.groupsDn)) uid = (await conn.readEntry(dn, ['uid']))?.first('uid') ?? null
      out.set(dn, uid)
    }
    return out
  }

  async get(scope: DirectoryScope, cn: unknown): Promise<GroupDto> {
    const ref = parseInput(groupRefSchema, cn)
    const conn = scope.conn
    const e = await this.find(conn, ref)
    const dto = toGroupDto(e)
    const parents = await conn.search(conn.profile.groupsDn, { filter: and(GROUP_CLASSES, or(eq('member', e.dn), eq('uniqueMember', e.dn))), attributes: ['cn'] }, `groups of ${e.dn}`)
    const out: GroupDto = { ...dto, nestedGroups: await this.nestedGroups(conn, e), memberOf: parents.map((p) => ({ cn: p.first('cn') ?? '', dn: p.dn })) }
    if (dto.type === 'rfc2307bis') {
      const groupDns = new Set(out.nestedGroups!.filter((n) => n.depth === 1).map((n) => normalizeOr(n.dn)))
      const userDns = dto.memberDns.filter((m) => !groupDns.has(normalizeOr(m)))
      const uids = await this.uidsOf(conn, userDns)
      const uidSet = new Set(dto.memberUids)
      const fromDns = new Set([...uids.values()].filter((u): u is string => u !== null))
      out.drift = {
        memberWithoutUid: userDns.filter((d) => {
          const u = uids.get(d)
          return u === null || u === undefined || !uidSet.has(u)
        }),
        uidWithoutMember: dto.memberUids.filter((u) => !fromDns.has(u))
      }
    }
    return out
  }

  /** Users by uid, in chunks of one OR search each; refuses (NOT_FOUND) naming every uid that is missing. */
  async resolveUsers(conn: LdapConnection, uids: string[], field = 'members'): Promise<ResolvedUser[]> {
    const wanted = [...new Set(uids)]
    const found = new Map<string, ResolvedUser>()
    for (const part of chunks(wanted, LOOKUP_CHUNK)) {
      const r = await conn.search(conn.profile.usersDn, { filter: and(USER_CLASS, or(...part.map((u) => eq('uid', u)))), attributes: ['uid'] }, 'look up members')
      for (const e of r) for (const u of e.all('uid')) found.set(u.toLowerCase(), { uid: u, dn: e.dn })
    }
    const missing = wanted.filter((u) => !found.has(u.toLowerCase()))
    if (missing.length) {
      throw new AppError('NOT_FOUND', `${field}: no user ${missing.slice(0, 10).map((m) => `"${m}"`).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''} under ${conn.profile.usersDn}`, {
        field,
        missing: missing.slice(0, 100)
      })
    }
    return wanted.map((u) => found.get(u.toLowerCase())!)
  }

  private async resolveGroups(conn: LdapConnection, cns: string[]): Promise<LdapEntry[]> {
    const out: LdapEntry[] = []
    for (const cn of [...new Set(cns)]) {
      try {
        out.push(await this.find(conn, cn))
      } catch (e) {
        if (e instanceof AppError && e.code === 'NOT_FOUND') throw new AppError('NOT_FOUND', `groups: no group "${cn}" under ${conn.profile.groupsDn}`, { field: 'groups' })
        throw e
      }
    }
    return out
  }

  async create(scope: DirectoryScope, input: unknown): Promise<GroupDto> {
    const raw = input as { cn?: unknown } | undefined
    const entry = this.entry(scope, 'create', raw?.cn)
    return this.guard.run(scope, entry, 'admin', 'creating a group', async () => {
      const v = parseInput(groupCreateSchema, input)
      const conn = scope.conn
      const p = conn.profile
      const type: GroupType = v.type ?? p.groupType
      const posix = type !== 'groupOfNames'
      if (posix) {
        const r = posixName('group name').safeParse(v.cn)
        if (!r.success) throw validationError('cn', r.error.issues[0]?.message ?? 'is not a POSIX group name')
      }
      if (!posix && v.gidNumber !== undefined) throw validationError('gidNumber', 'a groupOfNames has no gidNumber (use posixGroup or rfc2307bis)')
      if (type === 'posixGroup' && v.groups.length) throw validationError('groups', 'a posixGroup cannot hold groups (memberUid names users only); use groupOfNames or rfc2307bis')
      const clash = await conn.search(p.groupsDn, { filter: and(GROUP_CLASSES, eq('cn', v.cn)), attributes: ['1.1'], sizeLimit: 1 }, `check group ${v.cn}`)
      if (clash.length) throw new AppError('CONFLICT', `cn: a group "${v.cn}" already exists (${clash[0]!.dn})`, { field: 'cn' })
      const users = await this.resolveUsers(conn, v.members)
      const nested = await this.resolveGroups(conn, v.groups)
      if (type !== 'posixGroup' && users.length + nested.length === 0) throw validationError('members', 'a groupOfNames needs at least one member (the schema requires one)')
      if (posix && v.gidNumber !== undefined && (await numberInUse(conn, 'gidNumber', v.gidNumber))) {
        throw new AppError('CONFLICT', `gidNumber: ${v.gidNumber} is already used by another group`, { field: 'gidNumber' })
      }
      const gidNumber = posix ? (v.gidNumber ?? (await allocateId(conn, 'gidNumber', this.idEvents(scope)))) : null
      const dn = childDn('cn', v.cn, p.groupsDn)
      const attrs: Record<string, string | string[]> = {
        objectClass: type === 'posixGroup' ? ['posixGroup'] : type === 'groupOfNames' ? ['groupOfNames'] : ['groupOfNames', 'posixGroup'],
        cn: v.cn
      }
      if (gidNumber !== null) attrs.gidNumber = String(gidNumber)
      if (v.description) attrs.description = v.description
      if (type !== 'groupOfNames' && users.length) attrs.memberUid = users.map((u) => u.uid)
      if (type !== 'posixGroup') attrs.member = [...users.map((u) => u.dn), ...nested.map((g) => g.dn)]
      const after = { dn, cn: v.cn, type, gidNumber, description: v.description ?? null, members: auditList(users.map((u) => u.uid)), groups: nested.map((g) => g.first('cn')) }
      await this.audit.change(scope.ctx, { ...entry, resourceId: dn, details: { after, context: entry.details?.context } }, () => conn.add(dn, attrs, 'cn'))
      return toGroupDto((await conn.readEntry(dn, GROUP_ATTRS)) ?? (await this.find(conn, v.cn)))
    })
  }

  async update(scope: DirectoryScope, input: unknown): Promise<GroupDto> {
    const raw = input as { cn?: unknown } | undefined
    const entry = this.entry(scope, 'update', raw?.cn)
    return this.guard.run(scope, entry, 'admin', 'editing a group', async () => {
      const v = parseInput(groupUpdateSchema, input)
      const conn = scope.conn
      const cur = await this.find(conn, v.cn)
      const before = toGroupDto(cur)
      if (v.version !== undefined && before.version !== null && v.version !== before.version) {
        throw new AppError('CONFLICT', `version: group ${before.cn} was changed by someone else since it was loaded; reload and edit again`, { field: 'version', current: before.version })
      }
      if (v.gidNumber !== undefined && !cur.hasClass('posixGroup')) throw validationError('gidNumber', `${before.cn} is a ${before.type} and has no gidNumber`)
      if (v.gidNumber !== undefined && v.gidNumber !== before.gidNumber && (await numberInUse(conn, 'gidNumber', v.gidNumber))) {
        throw new AppError('CONFLICT', `gidNumber: ${v.gidNumber} is already used by another group`, { field: 'gidNumber' })
      }
      const changes: Change[] = []
      const fields: Record<string, unknown> = {}
      if (v.description !== undefined) {
        const c = attributeChanges('description', cur.all('description'), v.description)
        if (c.length) {
          changes.push(...c)
          fields.description = v.description
        }
      }
      if (v.gidNumber !== undefined) {
        const c = attributeChanges('gidNumber', cur.all('gidNumber'), String(v.gidNumber))
        if (c.length) {
          changes.push(...c)
          fields.gidNumber = v.gidNumber
        }
      }
      if (!changes.length) return before
      const snap = groupSnapshot(before)
      await this.audit.change(
        scope.ctx,
        { ...entry, resourceId: before.dn, resourceName: before.cn, details: { before: Object.fromEntries(Object.keys(fields).map((k) => [k, snap[k] ?? null])), after: fields, context: entry.details?.context } },
        () => conn.modify(before.dn, changes, Object.keys(fields)[0])
      )
      return toGroupDto((await conn.readEntry(before.dn, GROUP_ATTRS))!)
    })
  }

  async delete(scope: DirectoryScope, cn: unknown): Promise<GroupDeleteResult> {
    const entry = this.entry(scope, 'delete', cn)
    return this.guard.run(scope, entry, 'admin', 'deleting a group', async () => {
      const ref = parseInput(groupRefSchema, cn)
      const conn = scope.conn
      const cur = await this.find(conn, ref)
      const g = toGroupDto(cur)
      if (g.gidNumber !== null) {
        const primary = await conn.search(conn.profile.baseDn, { filter: and(isClass('posixAccount'), eq('gidNumber', String(g.gidNumber))), attributes: ['uid'], sizeLimit: 11 }, `users with gidNumber ${g.gidNumber}`)
        if (primary.length) {
          const names = primary.slice(0, 10).map((u) => u.first('uid') ?? u.dn)
          throw new AppError('CONFLICT', `cn: ${g.cn} (gidNumber ${g.gidNumber}) is the primary group of ${names.join(', ')}${primary.length > 10 ? ' and more' : ''}; give them another primary group first`, {
            field: 'cn',
            users: names
          })
        }
      }
      const parents = await conn.search(conn.profile.groupsDn, { filter: and(isClass('groupOfNames'), eq('member', cur.dn)), attributes: ['cn', 'member'] }, `groups of ${cur.dn}`)
      const sole = parents.filter((p) => p.all('member').length === 1).map((p) => p.first('cn') ?? p.dn)
      if (sole.length) throw new AppError('CONFLICT', `cn: ${g.cn} is the only member of ${sole.map((s) => `"${s}"`).join(', ')}; add another member there first`, { field: 'cn', groups: sole })
      await this.audit.change(scope.ctx, { ...entry, resourceId: g.dn, resourceName: g.cn, details: { before: groupSnapshot(g), context: entry.details?.context } }, () => conn.del(g.dn, 'cn'))
      await this.rewriteMemberships(scope, { fromDn: g.dn, toDn: null, fromUid: null, toUid: null }, `group ${g.cn} deleted`)
      return { cn: g.cn, dn: g.dn }
    })
  }

  async addMembers(scope: DirectoryScope, input: unknown): Promise<MembersResult> {
    return this.changeMembers(scope, input, 'add')
  }

  async removeMembers(scope: DirectoryScope, input: unknown): Promise<MembersResult> {
    return this.changeMembers(scope, input, 'remove')
  }

  private async changeMembers(scope: DirectoryScope, input: unknown, op: 'add' | 'remove'): Promise<MembersResult> {
    const raw = input as { cn?: unknown } | undefined
    const entry = this.entry(scope, 'update', raw?.cn, { context: { change: op === 'add' ? 'add-members' : 'remove-members' } })
    return this.guard.run(scope, entry, 'operator', op === 'add' ? 'adding group members' : 'removing group members', async () => {
      const v = parseInput(membersSchema, input)
      const conn = scope.conn
      let cur = await this.find(conn, v.cn)
      const type = groupType(cur)
      if (type === 'other') throw validationError('cn', `${v.cn} is neither a posixGroup nor a groupOfNames; Netkeeper does not change its members`)
      if (type === 'posixGroup' && v.groups.length) throw validationError('groups', `${v.cn} is a posixGroup: it cannot hold groups`)
      // Removing a uid that no longer exists in the directory must still clean memberUid.
      let users: ResolvedUser[]
      const orphans: string[] = []
      if (op === 'add') users = await this.resolveUsers(conn, v.members)
      else {
        users = []
        for (const part of chunks([...new Set(v.members)], LOOKUP_CHUNK)) {
          const r = await conn.search(conn.profile.usersDn, { filter: and(USER_CLASS, or(...part.map((u) => eq('uid', u)))), attributes: ['uid'] }, 'look up members')
          const byUid = new Map(r.flatMap((e) => e.all('uid').map((u) => [u.toLowerCase(), { uid: u, dn: e.dn }] as const)))
          for (const u of part) {
            const hit = byUid.get(u.toLowerCase())
            if (hit) users.push(hit)
            else orphans.push(u)
          }
        }
      }
      const nested = await this.resolveGroups(conn, v.groups)
      if (nested.some((n) => normalizeOr(n.dn) === normalizeOr(cur.dn))) throw validationError('groups', `${v.cn} cannot be a member of itself`)

      const useUid = type !== 'groupOfNames'
      const useDn = type !== 'posixGroup'
      let changed: string[] = []
      let unchanged: string[] = []
      // Plan against the current values; if someone changes the group meanwhile (typeOrValueExists or
      // noSuchAttribute), read it again and plan again, a few times.
      for (let attempt = 0; ; attempt++) {
        const haveUid = new Set(cur.all('memberUid'))
        const haveDn = new Map(cur.all('member').map((m) => [normalizeOr(m), m]))
        const plans: { name: string; uid?: string; dn?: string }[] = []
        changed = []
        unchanged = []
        for (const u of users) {
          const uidPresent = haveUid.has(u.uid)
          const dnValue = haveDn.get(normalizeOr(u.dn))
          const plan: { name: string; uid?: string; dn?: string } = { name: u.uid }
          if (op === 'add') {
            if (useUid && !uidPresent) plan.uid = u.uid
            if (useDn && !dnValue) plan.dn = u.dn
          } else {
            if (useUid && uidPresent) plan.uid = u.uid
            if (useDn && dnValue) plan.dn = dnValue
          }
          if (plan.uid || plan.dn) plans.push(plan)
          else unchanged.push(u.uid)
        }
        for (const o of orphans) {
          if (useUid && haveUid.has(o)) plans.push({ name: o, uid: o })
          else unchanged.push(o)
        }
        for (const g of nested) {
          const name = `group:${g.first('cn')}`
          const dnValue = haveDn.get(normalizeOr(g.dn))
          if (op === 'add' ? !dnValue : dnValue) plans.push({ name, dn: dnValue ?? g.dn })
          else unchanged.push(name)
        }
        changed = plans.map((p) => p.name)
        if (!plans.length) return { group: toGroupDto(cur), changed, unchanged }
        if (op === 'remove' && useDn && !useUid) {
          const removing = plans.filter((p) => p.dn).length
          if (removing >= haveDn.size) throw new AppError('CONFLICT', `members: removing them would leave ${v.cn} empty, and a groupOfNames needs a member; delete the group instead`, { field: 'members' })
        }
        if (op === 'remove' && type === 'rfc2307bis' && plans.filter((p) => p.dn).length >= haveDn.size && haveDn.size > 0) {
          throw new AppError('CONFLICT', `members: removing them would leave ${v.cn} without a member, and its groupOfNames class needs one; delete the group instead`, { field: 'members' })
        }
        const ldapOp = op === 'add' ? 'add' : 'delete'
        try {
          await this.audit.change(
            scope.ctx,
            {
              ...entry,
              resourceId: cur.dn,
              resourceName: cur.first('cn'),
              details: { [op === 'add' ? 'after' : 'before']: { members: auditList(changed) }, context: { ...entry.details?.context, type, count: changed.length } }
            },
            async () => {
              // One modify per chunk; within a chunk memberUid and member change together (same modify, atomic).
              for (const part of chunks(plans, CHUNK)) {
                const mods: Change[] = []
                const uids = part.filter((p) => p.uid).map((p) => p.uid!)
                const dns = part.filter((p) => p.dn).map((p) => p.dn!)
                if (uids.length) mods.push(change(ldapOp, 'memberUid', uids))
                if (dns.length) mods.push(change(ldapOp, 'member', dns))
                await conn.modify(cur.dn, mods, 'members')
              }
            }
          )
          break
        } catch (e) {
          const code = e instanceof AppError ? e.details?.ldapCode : undefined
          if (attempt < 2 && (code === 20 || code === 16)) {
            cur = await this.find(conn, v.cn)
            continue
          }
          throw e
        }
      }
      return { group: toGroupDto((await conn.readEntry(cur.dn, GROUP_ATTRS))!), changed, unchanged }
    })
  }

  /**
   * After a user or group was renamed or deleted: rewrite (or remove) its DN in member and its uid in
   * memberUid in every group holding them, one audited modify per group. Errors are collected, not thrown:
   * the change that caused this has already happened.
   */
  async rewriteMemberships(
    scope: DirectoryScope,
    m: { fromDn: string; toDn: string | null; fromUid: string | null; toUid: string | null },
    reason: string
  ): Promise<{ updated: string[]; errors: { group: string; error: string }[] }> {
    const conn = scope.conn
    const updated: string[] = []
    const errors: { group: string; error: string }[] = []
    const groups = await this.containing(conn, m.fromDn, m.fromUid)
    for (const g of groups) {
      const name = g.first('cn') ?? g.dn
      const mods: Change[] = []
      const memberValue = g.all('member').find((x) => normalizeOr(x) === normalizeOr(m.fromDn))
      const uniqueValue = g.all('uniqueMember').find((x) => normalizeOr(x) === normalizeOr(m.fromDn))
      const hasNewDn = m.toDn !== null && g.all('member').some((x) => normalizeOr(x) === normalizeOr(m.toDn!))
      if (memberValue) {
        mods.push(change('delete', 'member', [memberValue]))
        if (m.toDn && !hasNewDn) mods.push(change('add', 'member', [m.toDn]))
      }
      if (uniqueValue) {
        mods.push(change('delete', 'uniqueMember', [uniqueValue]))
        if (m.toDn) mods.push(change('add', 'uniqueMember', [m.toDn]))
      }
      if (m.fromUid && g.all('memberUid').includes(m.fromUid)) {
        mods.push(change('delete', 'memberUid', [m.fromUid]))
        if (m.toUid && !g.all('memberUid').includes(m.toUid)) mods.push(change('add', 'memberUid', [m.toUid]))
      }
      if (!mods.length) continue
      try {
        await this.audit.change(
          scope.ctx,
          {
            action: 'update',
            resourceType: 'ldap_group',
            resourceId: g.dn,
            resourceName: auditName(name),
            details: {
              before: { member: m.fromDn, memberUid: m.fromUid },
              after: { member: m.toDn, memberUid: m.toUid },
              context: { profile: conn.profile.name, change: m.toDn ? 'member-renamed' : 'member-removed', reason }
            }
          },
          () => conn.modify(g.dn, mods, 'members')
        )
        updated.push(name)
      } catch (e) {
        errors.push({ group: name, error: (e as Error).message })
      }
    }
    return { updated, errors }
  }
}

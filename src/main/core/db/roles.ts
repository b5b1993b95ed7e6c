/**
 * Who may do what on a shared server (Migration20261203100000_server_roles): the owner grants each login
 * one of netkeeper_viewer, netkeeper_operator or netkeeper_admin. Roles are the server's, so a grant holds
 * for psql as much as for the app. Each grant and revoke is audited.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import { GRANTABLE_ROLES } from '../../../shared/choices'
import type { RequestContext } from '../context'
import { appendAudit } from '../audit/writer'
import type { Database, ServerRole } from './database'

export { GRANTABLE_ROLES }
export type GrantableRole = (typeof GRANTABLE_ROLES)[number]

export interface LoginRole {
  login: string
  /** The highest Netkeeper role the login holds, directly or through another role; 'owner' for members of netkeeper_owner and superusers. */
  role: ServerRole | null
  canLogin: boolean
}

type Rows<T> = { rows: T[] }

/** A PostgreSQL role name as a person types it; quoted with %I before it reaches SQL. */
const LOGIN = /^[A-Za-z_][A-Za-z0-9_.@-]{0,62}$/

function checkLogin(login: string): string {
  const l = login.trim()
  if (!LOGIN.test(l)) throw new AppError('VALIDATION', `--login: "${login}" is not a login name (letters, digits, _ . @ -, at most 63, not starting with a digit)`, { field: 'login' })
  if (l.startsWith('netkeeper_') || l.startsWith('pg_')) throw new AppError('VALIDATION', `--login: ${l} is a group role, not a person's login`, { field: 'login' })
  return l
}

async function requireOwner(db: Database, what: string): Promise<void> {
  const role = await db.serverRole()
  if (role !== 'owner') {
    const who = (await db.knex.raw<Rows<{ u: string }>>(`select session_user as u`)).rows[0]!.u
    throw new AppError('FORBIDDEN', `${what} is for a member of netkeeper_owner; the login "${who}" is ${role ?? 'not a Netkeeper role'}`, { needed: 'owner' })
  }
}

const roleOf = (r: { owner: boolean; admin: boolean; operator: boolean; viewer: boolean }): ServerRole | null =>
  r.owner ? 'owner' : r.admin ? 'admin' : r.operator ? 'operator' : r.viewer ? 'viewer' : null

/** Every login with a Netkeeper role, and superusers, by name. */
export async function listRoles(db: Database): Promise<LoginRole[]> {
  await requireOwner(db, 'listing roles')
  const r = await db.knex.raw<Rows<{ login: string; can_login: boolean; owner: boolean; admin: boolean; operator: boolean; viewer: boolean }>>(
    `select rolname as login, rolcanlogin as can_login,
            pg_has_role(oid, 'netkeeper_owner', 'USAGE') as owner, pg_has_role(oid, 'netkeeper_admin', 'USAGE') as admin,
            pg_has_role(oid, 'netkeeper_operator', 'USAGE') as operator, pg_has_role(oid, 'netkeeper_viewer', 'USAGE') as viewer
       from pg_roles
      where rolname not like 'pg!_%' escape '!' and rolname not like 'netkeeper!_%' escape '!'
        and (rolsuper or pg_has_role(oid, 'netkeeper_viewer', 'USAGE') or pg_has_role(oid, 'netkeeper_owner', 'USAGE'))
      order by rolname`
  )
  return r.rows.map((x) => ({ login: x.login, role: roleOf(x), canLogin: x.can_login }))
}

async function current(trx: Knex.Transaction, login: string): Promise<{ direct: GrantableRole[]; role: ServerRole | null }> {
  const exists = await trx.raw<Rows<{ oid: number }>>(`select oid from pg_roles where rolname = ?`, [login])
  if (!exists.rows[0]) {
    throw new AppError('NOT_FOUND', `--login: the server has no login named "${login}"; a DBA creates it first (CREATE ROLE "${login}" LOGIN ...)`, { field: 'login' })
  }
  const direct = await trx.raw<Rows<{ r: string }>>(
    `select g.rolname as r from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles u on u.oid = m.member
      where u.rolname = ? and g.rolname in ('netkeeper_viewer', 'netkeeper_operator', 'netkeeper_admin')`,
    [login]
  )
  const flags = await trx.raw<Rows<{ owner: boolean; admin: boolean; operator: boolean; viewer: boolean }>>(
    `select pg_has_role(?, 'netkeeper_owner', 'USAGE') as owner, pg_has_role(?, 'netkeeper_admin', 'USAGE') as admin,
            pg_has_role(?, 'netkeeper_operator', 'USAGE') as operator, pg_has_role(?, 'netkeeper_viewer', 'USAGE') as viewer`,
    [login, login, login, login]
  )
  return { direct: direct.rows.map((x) => x.r.replace('netkeeper_', '') as GrantableRole), role: roleOf(flags.rows[0]!) }
}

/** Gives `login` exactly one Netkeeper role (any other it held directly is revoked), audited. */
export async function grantRole(db: Database, ctx: RequestContext, loginInput: string, role: string): Promise<{ login: string; before: ServerRole | null; after: ServerRole | null }> {
  const login = checkLogin(loginInput)
  if (!(GRANTABLE_ROLES as readonly string[]).includes(role)) {
    throw new AppError('VALIDATION', `--role: "${role}" is not one of ${GRANTABLE_ROLES.join(', ')}`, { field: 'role' })
  }
  await requireOwner(db, 'granting roles')
  return db.knex.transaction(async (trx) => {
    const before = await current(trx, login)
    for (const r of before.direct) if (r !== role) await trx.raw(`revoke ${'netkeeper_' + r} from "${login.replace(/"/g, '""')}"`)
    if (!before.direct.includes(role as GrantableRole)) await trx.raw(`grant ${'netkeeper_' + role} to "${login.replace(/"/g, '""')}"`)
    const after = await current(trx, login)
    if (before.role !== after.role || before.direct.join() !== after.direct.join()) {
      await appendAudit(trx, ctx, { action: 'update', resourceType: 'db_role', resourceName: login, details: { before: { role: before.role }, after: { role: after.role } } })
    }
    return { login, before: before.role, after: after.role }
  })
}

/** Takes every Netkeeper role `login` holds directly, audited. */
export async function revokeRoles(db: Database, ctx: RequestContext, loginInput: string): Promise<{ login: string; before: ServerRole | null; after: ServerRole | null }> {
  const login = checkLogin(loginInput)
  await requireOwner(db, 'revoking roles')
  return db.knex.transaction(async (trx) => {
    const before = await current(trx, login)
    for (const r of before.direct) await trx.raw(`revoke ${'netkeeper_' + r} from "${login.replace(/"/g, '""')}"`)
    const after = await current(trx, login)
    if (before.direct.length) {
      await appendAudit(trx, ctx, { action: 'update', resourceType: 'db_role', resourceName: login, details: { before: { role: before.role }, after: { role: after.role } } })
    }
    return { login, before: before.role, after: after.role }
  })
}

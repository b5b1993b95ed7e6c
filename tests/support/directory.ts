/**
 * Helpers for the directory tests: a migrated Core with its own data folder, a profile for the shared
 * slapd whose users and groups containers are private to the test file (so listings and counts do not see
 * other files' entries), and admin-side LDAP tools (ldapadd/ldapsearch from ldap-utils) to check what the
 * server really holds.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { inject } from 'vitest'
import { Core } from '../../src/main/core'
import { makeContext, type RequestContext } from '../../src/main/core/context'
import { ProfileStore } from '../../src/main/core/directory/profiles'
import type { CommandScope } from '../../src/main/core/auth/service'
import { ldapProfileSchema, type LdapProfileInput } from '../../src/shared/directory'
import { freshDatabase } from './db'
import type { SlapdInfo } from './slapd'

export const slapdInfo = (): SlapdInfo => inject('slapd')

/** Why the directory tests cannot run here, or null. */
export function slapdMissing(): string | null {
  const info = slapdInfo()
  if (!info.error) return null
  const why = `directory tests skipped: slapd could not be started (${info.error})`
  console.warn(why)
  return why
}

export const hasSecretService = Boolean(process.env.DBUS_SESSION_BUS_ADDRESS)

/** The bind of the seeded rootdn for admin-side tools. */
function adminArgs(info: SlapdInfo): string[] {
  return ['-x', '-H', info.url, '-D', info.adminDn, '-w', info.adminPassword]
}

export function ldapadd(ldif: string, info = slapdInfo()): void {
  execFileSync('ldapadd', [...adminArgs(info), '-c'], { input: ldif, stdio: ['pipe', 'ignore', 'pipe'] })
}

export function ldapmodify(ldif: string, info = slapdInfo()): void {
  execFileSync('ldapmodify', adminArgs(info), { input: ldif, stdio: ['pipe', 'ignore', 'pipe'] })
}

/** ldapsearch as the rootdn; returns the LDIF (unwrapped). */
export function ldapsearch(base: string, filter: string, attrs: string[] = [], scope = 'sub', info = slapdInfo()): string {
  return execFileSync('ldapsearch', [...adminArgs(info), '-LLL', '-o', 'ldif-wrap=no', '-s', scope, '-b', base, filter, ...attrs], { encoding: 'utf8' })
}

/** Values of `attr` in ldapsearch output (base64 values decoded). */
export function ldifValues(ldif: string, attr: string): string[] {
  const out: string[] = []
  for (const line of ldif.split('\n')) {
    const m = /^([^:]+)(::?) ?(.*)$/.exec(line)
    if (!m || m[1]!.toLowerCase() !== attr.toLowerCase()) continue
    out.push(m[2] === '::' ? Buffer.from(m[3]!, 'base64').toString('utf8') : m[3]!)
  }
  return out
}

export interface DirectoryFixture {
  core: Core
  dataDir: string
  info: SlapdInfo
  /** The test file's containers. */
  usersDn: string
  groupsDn: string
  profileName: string
  profile: LdapProfileInput
  /** A command scope bound as the rootdn (admin through adminDns). */
  admin(): Promise<CommandScope>
  /** A command scope bound as a seeded user (role from its groups). */
  as(uid: string, password: string): Promise<CommandScope>
  ctx: RequestContext
  close(): Promise<void>
}

/** Creates ou=<tag> under ou=people and ou=groups for one test file. */
export function makeContainers(tag: string, info = slapdInfo()): { usersDn: string; groupsDn: string } {
  const usersDn = `ou=${tag},ou=people,${info.baseDn}`
  const groupsDn = `ou=${tag},ou=groups,${info.baseDn}`
  ldapadd(`dn: ${usersDn}\nobjectClass: organizationalUnit\nou: ${tag}\n\ndn: ${groupsDn}\nobjectClass: organizationalUnit\nou: ${tag}\n`, info)
  return { usersDn, groupsDn }
}

export function baseProfile(info: SlapdInfo, overrides: Partial<LdapProfileInput> = {}): LdapProfileInput {
  return {
    name: 'test',
    url: info.url,
    baseDn: info.baseDn,
    bindDn: info.adminDn,
    adminDns: [info.adminDn],
    roles: { admin: ['netkeeper-admins'], operator: ['netkeeper-operators'], viewer: ['netkeeper-viewers'] },
    groupType: 'posixGroup',
    defaultGidNumber: 2000,
    caFile: info.caFile,
    timeoutMs: 10_000,
    ...overrides
  }
}

export async function openDirectory(prefix: string, overrides: Partial<LdapProfileInput> = {}): Promise<DirectoryFixture> {
  const info = slapdInfo()
  const tag = `${prefix}-${randomBytes(3).toString('hex')}`
  const { usersDn, groupsDn } = makeContainers(tag, info)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `netkeeper-${prefix}-`))
  const profileName = tag
  const profile = baseProfile(info, { name: profileName, usersDn, groupsDn, ...overrides })
  // Written directly (no secret): tests pass the password like `--password-stdin` does.
  new ProfileStore(dataDir).write({ version: 1, defaultProfile: profileName, profiles: [ldapProfileSchema.parse(profile)] })
  const url = await freshDatabase(prefix.replace(/[^a-z0-9_]/gi, '_'))
  const core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
  const ctx = makeContext({ actor: 'tester', roles: ['admin'], source: 'cli' })
  const scopes: CommandScope[] = []
  const open = async (dn: string, password: string): Promise<CommandScope> => {
    const s = await core.auth.commandScope(makeContext({ actor: 'tester', roles: ['viewer'], source: 'cli' }), { profile: profileName, bindDn: dn, password })
    scopes.push(s)
    return s
  }
  return {
    core,
    dataDir,
    info,
    usersDn,
    groupsDn,
    profileName,
    profile,
    ctx,
    admin: () => open(info.adminDn, info.adminPassword),
    as: (uid, password) => open(`uid=${uid},ou=people,${info.baseDn}`, password),
    async close() {
      for (const s of scopes) await s.close().catch(() => undefined)
      await core.close()
      fs.rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

/**
 * LDAP connection profiles, kept in `directory-profiles.json` in the data folder (its own file, so the
 * directory never rewrites someone else's settings). Never holds a secret: a profile's bind secret lives in
 * the OS keychain under the account `ldap:<profile name>`, bound to the URL and bind DN it was saved for
 * (credentials/bound.ts): a profile pointed at another server or bind DN does not get it. Writes go to a
 * temporary file renamed into place, mode 0600.
 */
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { dnEquals } from '../../../shared/dn'
import { ldapProfileSchema, type LdapProfile } from '../../../shared/directory'
import { AppError } from '../../../shared/errors'
import { describeIssue } from '../../../shared/schemas'
import { BoundSecrets } from '../credentials/bound'
import type { SecretStore } from '../credentials/keychain'
import type { ResolvedProfile } from './connection'

export const ldapAccount = (profileName: string): string => `ldap:${profileName}`

/** What a stored bind secret is bound to. */
export interface LdapEndpoint {
  [field: string]: string
  url: string
  bindDn: string
}

export const ldapEndpoint = (p: Pick<LdapProfile, 'url' | 'bindDn'>): LdapEndpoint => ({ url: p.url, bindDn: p.bindDn ?? '' })

/** scheme://host:port, lower case, with the scheme's default port filled in: ldap://DC1 is ldap://dc1:389. */
export function canonicalLdapUrl(url: string): string {
  const m = /^(ldaps?):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/i.exec(url.trim())
  if (!m) return url.trim().toLowerCase()
  const scheme = m[1]!.toLowerCase()
  return `${scheme}://${m[2]!.toLowerCase()}:${Number(m[3] ?? (scheme === 'ldaps' ? 636 : 389))}`
}

export function ldapSecrets(store: SecretStore): BoundSecrets<LdapEndpoint> {
  return new BoundSecrets<LdapEndpoint>(store, ['url', 'bindDn'], {
    url: (a, b) => canonicalLdapUrl(String(a)) === canonicalLdapUrl(String(b)),
    bindDn: (a, b) => a === b || (a !== '' && b !== '' && dnEquals(String(a), String(b)))
  })
}

const fileSchema = z
  .object({
    version: z.literal(1).default(1),
    defaultProfile: z.string().nullable().default(null),
    profiles: z.array(ldapProfileSchema).default([])
  })
  .strict()
type ProfileFile = z.output<typeof fileSchema>

/** Fills in the containers a profile leaves to their defaults. */
export function resolveProfile(p: LdapProfile): ResolvedProfile {
  return {
    ...p,
    usersDn: p.usersDn ?? `ou=people,${p.baseDn}`,
    groupsDn: p.groupsDn ?? `ou=groups,${p.baseDn}`,
    idPoolDn: p.idPoolDn ?? `cn=netkeeper-idpool,${p.baseDn}`
  }
}

export class ProfileStore {
  readonly file: string
  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'directory-profiles.json')
  }

  read(): ProfileFile {
    let raw: string
    try {
      raw = fs.readFileSync(this.file, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, defaultProfile: null, profiles: [] }
      throw new AppError('UNAVAILABLE', `${this.file}: cannot read (${(e as Error).message})`)
    }
    let json: unknown
    try {
      json = JSON.parse(raw)
    } catch (e) {
      throw new AppError('VALIDATION', `${this.file}: not valid JSON (${(e as Error).message})`, { field: 'profiles' })
    }
    const parsed = fileSchema.safeParse(json)
    if (!parsed.success) {
      const { field, reason } = describeIssue(parsed.error)
      throw new AppError('VALIDATION', `${this.file}: ${field}: ${reason}`, { field })
    }
    return parsed.data
  }

  write(next: ProfileFile): void {
    const data = fileSchema.parse(next)
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 })
    fs.renameSync(tmp, this.file)
  }

  list(): LdapProfile[] {
    return this.read().profiles
  }

  get(name: string): LdapProfile {
    const f = this.read()
    const p = f.profiles.find((x) => x.name === name)
    if (!p) {
      const known = f.profiles.map((x) => x.name)
      throw new AppError('NOT_FOUND', `profile: no LDAP profile named "${name}"${known.length ? ` (known: ${known.join(', ')})` : ' (none saved yet: netkeeper profile add)'}`, {
        field: 'profile'
      })
    }
    return p
  }

  /** The profile to use when none is named: the default, or the only one. */
  pick(name?: string): LdapProfile {
    if (name) return this.get(name)
    const f = this.read()
    if (f.defaultProfile) return this.get(f.defaultProfile)
    if (f.profiles.length === 1) return f.profiles[0]!
    if (!f.profiles.length) throw new AppError('NOT_FOUND', 'profile: no LDAP profile is saved yet (netkeeper profile add NAME --url ... --base-dn ...)', { field: 'profile' })
    throw new AppError('VALIDATION', `profile: several profiles exist (${f.profiles.map((p) => p.name).join(', ')}); name one with --profile or make one the default`, {
      field: 'profile'
    })
  }
}

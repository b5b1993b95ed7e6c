/**
 * Templates for new users, one per LDAP profile: object classes, default attributes, the home directory
 * pattern, the shell and the groups every new user joins. Used by the app's new-user form, `user create`
 * and the bulk import. Kept in `directory-templates.json` in the data folder beside the profiles (local
 * configuration, like them); changing one needs the admin role and is audited, and an audit failure undoes
 * the change. A profile without a template gets the built-in one (inetOrgPerson + posixAccount +
 * shadowAccount, the profile's homeBase and defaultShell), which is what user create always did.
 */
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { AppError } from '../../../shared/errors'
import { userTemplateSchema, type ResolvedUserTemplate, type UserTemplate } from '../../../shared/directory-admin'
import { describeIssue } from '../../../shared/schemas'
import { requireRole, type RequestContext } from '../context'
import type { DirectoryAudit } from './audited'
import type { ResolvedProfile } from './connection'
import { parseInput } from './scope'

const fileSchema = z.object({ version: z.literal(1).default(1), templates: z.record(z.string(), userTemplateSchema).default({}) }).strict()
type TemplateFile = z.output<typeof fileSchema>

export type ResolvedTemplate = ResolvedUserTemplate

export class TemplateStore {
  readonly file: string
  constructor(
    dataDir: string,
    private readonly audit: DirectoryAudit
  ) {
    this.file = path.join(dataDir, 'directory-templates.json')
  }

  private read(): TemplateFile {
    let raw: string
    try {
      raw = fs.readFileSync(this.file, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, templates: {} }
      throw new AppError('UNAVAILABLE', `${this.file}: cannot read (${(e as Error).message})`)
    }
    const parsed = fileSchema.safeParse(JSON.parse(raw))
    if (!parsed.success) {
      const { field, reason } = describeIssue(parsed.error)
      throw new AppError('VALIDATION', `${this.file}: ${field}: ${reason}`, { field })
    }
    return parsed.data
  }

  private write(next: TemplateFile): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 })
    fs.renameSync(tmp, this.file)
  }

  /** The profile's template with its defaults filled in from the profile. */
  get(profile: ResolvedProfile): ResolvedTemplate {
    const saved = this.read().templates[profile.name]
    const t = saved ?? userTemplateSchema.parse({})
    return {
      ...t,
      homeDirectory: t.homeDirectory ?? `${profile.homeBase.replace(/\/$/, '')}/{uid}`,
      loginShell: t.loginShell ?? profile.defaultShell,
      builtIn: !saved,
      profile: profile.name
    }
  }

  async set(ctx: RequestContext, profile: ResolvedProfile, input: unknown): Promise<ResolvedTemplate> {
    const entry = { action: 'update' as const, resourceType: 'ldap_template', resourceId: profile.name, resourceName: profile.name }
    try {
      requireRole(ctx, 'admin', 'changing a user template')
    } catch (e) {
      await this.audit.refused(ctx, { ...entry, action: 'authorize' }, e as AppError)
      throw e
    }
    let t: UserTemplate
    try {
      t = parseInput(userTemplateSchema, input)
    } catch (e) {
      await this.audit.refused(ctx, entry, e as AppError)
      throw e
    }
    const file = this.read()
    const before = file.templates[profile.name]
    const previous = JSON.stringify(file)
    this.write({ ...file, templates: { ...file.templates, [profile.name]: t } })
    try {
      await this.audit.event(ctx, { ...entry, action: before ? 'update' : 'create', details: { ...(before ? { before } : {}), after: t, context: { profile: profile.name } } })
    } catch (e) {
      this.write(JSON.parse(previous))
      throw new AppError('UNAVAILABLE', `the audit log could not be written (${(e as Error).message}); the template change was undone`)
    }
    return this.get(profile)
  }
}

/** `{uid}` in a pattern replaced by the uid. */
export const expandPattern = (pattern: string, uid: string): string => pattern.split('{uid}').join(uid)

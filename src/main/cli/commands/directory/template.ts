/** `netkeeper template show|set`: the profile's template for new users (object classes, defaults, groups). */
import fs from 'node:fs'
import { Command } from 'commander'
import type { UserTemplateInput } from '../../../../shared/directory-admin'
import type { ResolvedTemplate } from '../../../core/directory/templates'
import { action, cliContext, emit, UsageError, withCore } from '../../runtime'
import { collect } from './scope'

function templateText(profile: string, t: ResolvedTemplate): string {
  return [
    `template of profile ${profile}${t.builtIn ? ' (built-in: none saved)' : ''}`,
    `  object classes: ${t.objectClasses.join(', ')}`,
    `  home directory: ${t.homeDirectory}`,
    `  login shell:    ${t.loginShell}`,
    `  groups:         ${t.groups.join(', ') || '-'}`,
    `  attributes:     ${Object.entries(t.attributes).map(([k, v]) => `${k}=${v.join('|')}`).join(', ') || '-'}`
  ].join('\n')
}

export function templateCommand(): Command {
  const template = new Command('template').description("the LDAP profile's template for new users (UI, user create, user import)")

  template
    .command('show')
    .description('show the template of a profile')
    .option('--profile <name>', 'LDAP profile (default: the default one)')
    .action(
      action(async (o: { profile?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const p = core.directory.profile(o.profile ?? process.env.NETKEEPER_LDAP_PROFILE ?? undefined)
          const t = core.directory.templates.get(p)
          emit(cmd, t, () => templateText(p.name, t))
        })
      })
    )

  template
    .command('set')
    .description('replace the template of a profile (admin); --file takes the whole template as JSON')
    .option('--profile <name>', 'LDAP profile (default: the default one)')
    .option('--file <json>', 'the template as a JSON file ({"objectClasses": [...], "attributes": {...}, "homeDirectory", "loginShell", "groups": [...]})')
    .option('--object-class <name>', 'object class of new users (repeatable)', collect)
    .option('--attr <name=value>', 'default attribute value (repeatable; {uid} is replaced)', collect)
    .option('--home <pattern>', 'home directory pattern, e.g. /home/{uid}')
    .option('--shell <path>', 'login shell')
    .option('--group <cn>', 'group every new user joins (repeatable)', collect)
    .action(
      action(async (o: { profile?: string; file?: string; objectClass?: string[]; attr?: string[]; home?: string; shell?: string; group?: string[] }, cmd: Command) => {
        let input: UserTemplateInput
        if (o.file) {
          try {
            input = JSON.parse(fs.readFileSync(o.file, 'utf8')) as UserTemplateInput
          } catch (e) {
            throw new UsageError(`--file ${o.file}: ${(e as Error).message}`)
          }
        } else {
          const attributes: Record<string, string[]> = {}
          for (const a of o.attr ?? []) {
            const i = a.indexOf('=')
            if (i <= 0) throw new UsageError(`--attr ${a}: expected name=value`)
            ;(attributes[a.slice(0, i)] ??= []).push(a.slice(i + 1))
          }
          input = { ...(o.objectClass ? { objectClasses: o.objectClass } : {}), attributes, homeDirectory: o.home, loginShell: o.shell, groups: o.group ?? [] }
        }
        await withCore(cmd, { migrate: true }, async (core) => {
          const p = core.directory.profile(o.profile ?? process.env.NETKEEPER_LDAP_PROFILE ?? undefined)
          const t = await core.directory.templates.set(cliContext(), p, input)
          emit(cmd, t, () => `saved.\n${templateText(p.name, t)}`)
        })
      })
    )
  return template
}

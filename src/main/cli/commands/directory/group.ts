/** `netkeeper group ...`: LDAP groups, bound as the command's scope (scope.ts). */
import { Argument, Command, Option } from 'commander'
import { GROUP_BULK_CHOICES, GROUP_TYPES } from '../../../../shared/choices'
import type { GroupCreateInput, GroupDto } from '../../../../shared/directory'
import { action, emit, UsageError } from '../../runtime'
import { confirmRemoval } from '../../terminal'
import { collect, int, interruptFlag, printListing, withDirectory, withDirOptions, type DirOpts } from './scope'

const groupCols = ['cn', 'type', 'gidNumber', 'members', 'description']
const groupLine = (g: GroupDto): Record<string, unknown> => ({ ...g, members: Math.max(g.memberUids.length, g.memberDns.length) })

function groupText(g: GroupDto): string {
  return [
    `group ${g.cn}  (${g.dn})`,
    `  type:        ${g.type}`,
    `  gidNumber:   ${g.gidNumber ?? '-'}`,
    `  description: ${g.description ?? '-'}`,
    g.memberUids.length || g.type === 'posixGroup' || g.type === 'rfc2307bis' ? `  memberUid:   ${g.memberUids.join(', ') || '-'}` : '',
    g.memberDns.length || g.type === 'groupOfNames' || g.type === 'rfc2307bis' ? `  member:      ${g.memberDns.join('\n               ') || '-'}` : '',
    g.nestedGroups?.length ? `  nested:      ${g.nestedGroups.map((n) => `${'  '.repeat(n.depth - 1)}${n.cn} (in ${n.via})`).join('\n               ')}` : '',
    g.memberOf?.length ? `  member of:   ${g.memberOf.map((p) => p.cn).join(', ')}` : '',
    g.drift && (g.drift.memberWithoutUid.length || g.drift.uidWithoutMember.length)
      ? `  DRIFT:       member without memberUid: ${g.drift.memberWithoutUid.join(', ') || '-'}; memberUid without member: ${g.drift.uidWithoutMember.join(', ') || '-'}`
      : ''
  ]
    .filter(Boolean)
    .join('\n')
}

export function groupCommand(): Command {
  const group = new Command('group').description('LDAP groups (posixGroup, groupOfNames, rfc2307bis)')

  withDirOptions(group.command('list'))
    .description('list groups, a page at a time')
    .option('--search <text>', 'substring of cn or description (taken literally)')
    .option('--limit <n>', 'page size (1-1000)', int('--limit'), 100)
    .option('--all', 'every matching group, streamed page by page')
    .action(
      action(async (o: DirOpts & { search?: string; limit: number; all?: boolean }, cmd: Command) => {
        await withDirectory(cmd, o, (core, s) =>
          printListing(
            cmd,
            o,
            () => core.directory.groups.list(s, { search: o.search, pageSize: o.limit }),
            async function* () {
              let page = await core.directory.groups.list(s, { search: o.search, pageSize: Math.max(o.limit, 500) })
              yield page.items
              while (page.nextCursor) {
                page = await core.directory.groups.list(s, { cursor: page.nextCursor })
                yield page.items
              }
            },
            groupLine,
            groupCols
          )
        )
      })
    )

  withDirOptions(group.command('show'))
    .description('show a group: members, nested groups, parents, member/memberUid drift')
    .argument('<cn>')
    .action(
      action(async (cn: string, o: DirOpts, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const g = await core.directory.groups.get(s, cn)
          emit(cmd, g, () => groupText(g))
        })
      })
    )

  withDirOptions(group.command('create'))
    .description('create a group (gidNumber from the id pool for posix types)')
    .argument('<cn>')
    .addOption(new Option('--type <type>', "kind of group (default: the profile's)").choices([...GROUP_TYPES]))
    .option('--gid-number <n>', 'gidNumber', int('--gid-number'))
    .option('--description <text>', 'description')
    .option('--member <uid>', 'initial member (repeatable)', collect)
    .option('--group <cn>', 'nested group (repeatable; groupOfNames and rfc2307bis)', collect)
    .action(
      action(async (cn: string, o: DirOpts & { type?: string; gidNumber?: number; description?: string; member?: string[]; group?: string[] }, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const g = await core.directory.groups.create(s, { cn, type: o.type as GroupCreateInput['type'], gidNumber: o.gidNumber, description: o.description, members: o.member ?? [], groups: o.group ?? [] })
          emit(cmd, g, () => `created ${g.type} ${g.cn}${g.gidNumber !== null ? ` (gidNumber ${g.gidNumber})` : ''} at ${g.dn}`)
        })
      })
    )

  withDirOptions(group.command('delete'))
    .description('delete a group (refused while it is a primary group or the last member of another); asks first on a terminal')
    .argument('<cn>', 'the group to delete')
    .option('-y, --yes', 'do not ask first (needed without a terminal)')
    .action(
      action(async (cn: string, o: DirOpts & { yes?: boolean }, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const g = await core.directory.groups.get(s, cn)
          const members = Math.max(g.memberUids.length, g.memberDns.length)
          await confirmRemoval('group delete', [`group ${g.cn} (${g.dn})${members ? `, with its list of ${members} member(s) (the users themselves stay)` : ''}`], o.yes)
          const r = await core.directory.groups.delete(s, cn)
          emit(cmd, r, () => `deleted ${r.cn} (${r.dn})`)
        })
      })
    )

  for (const [name, add] of [
    ['add-member', true],
    ['remove-member', false]
  ] as const) {
    withDirOptions(group.command(name))
      .description(add ? 'add users (and nested groups) to a group, keeping member and memberUid in step' : 'remove users (and nested groups) from a group')
      .argument('<cn>')
      .argument('[uids...]', 'users by uid')
      .option('--group <cn>', 'nested group (repeatable)', collect)
      .action(
        action(async (cn: string, uids: string[], o: DirOpts & { group?: string[] }, cmd: Command) => {
          if (!uids.length && !o.group?.length) throw new UsageError(`group ${name} needs at least one uid or --group`)
          await withDirectory(cmd, o, async (core, s) => {
            const input = { cn, members: uids, groups: o.group ?? [] }
            const r = add ? await core.directory.groups.addMembers(s, input) : await core.directory.groups.removeMembers(s, input)
            emit(cmd, r, () => `${add ? 'added to' : 'removed from'} ${r.group.cn}: ${r.changed.join(', ') || 'nothing'}${r.unchanged.length ? `; already ${add ? 'members' : 'absent'}: ${r.unchanged.join(', ')}` : ''}`)
          })
        })
      )
  }
  withDirOptions(group.command('bulk'))
    .description('one action on several groups, as one audited request: addMembers, removeMembers (the same users to or from each), delete')
    .addArgument(new Argument('<action>', 'what to do with the groups').choices([...GROUP_BULK_CHOICES]))
    .argument('<cns...>', 'the groups by cn')
    .option('--member <uid>', 'a user to add or remove (repeatable)', collect)
    .option('-y, --yes', 'delete without asking')
    .action(
      action(async (bulkAction: (typeof GROUP_BULK_CHOICES)[number], cns: string[], o: DirOpts & { member?: string[]; yes?: boolean }, cmd: Command) => {
        if (bulkAction !== 'delete' && !o.member?.length) throw new UsageError(`group bulk ${bulkAction} needs at least one --member`)
        await withDirectory(cmd, o, async (core, s) => {
          if (bulkAction === 'delete') await confirmRemoval('group bulk delete', cns.map((cn) => `group ${cn} (its list of members; the users themselves stay)`), o.yes)
          const interrupt = interruptFlag()
          try {
            const r = await core.directory.bulk.runGroups(s, { action: bulkAction, cns, members: o.member }, (done, total) => {
              if (process.stderr.isTTY) process.stderr.write(`\r${done}/${total}\u001b[K`)
            }, interrupt.stopped)
            if (process.stderr.isTTY) process.stderr.write('\r\u001b[K')
            emit(cmd, r, () =>
              [
                `${r.action}: done ${r.done.join(', ') || '-'}; unchanged ${r.unchanged.join(', ') || '-'}`,
                r.failed.length ? `FAILED: ${r.failed.map((f) => `${f.cn} (${f.message})`).join('; ')}` : '',
                r.cancelled ? `cancelled: not attempted ${r.notAttempted.join(', ')}` : '',
                `(request ${r.requestId})`
              ]
                .filter(Boolean)
                .join('\n')
            )
            if (r.failed.length || r.cancelled) process.exitCode = 1
          } finally {
            interrupt.release()
          }
        })
      })
    )
  return group
}

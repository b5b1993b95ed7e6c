/** `netkeeper user ...`: LDAP users, bound as the command's scope (scope.ts). */
import { Command } from 'commander'
import type { UserDto } from '../../../../shared/directory'
import { action, emit, UsageError } from '../../runtime'
import { confirmRemoval } from '../../terminal'
import { collect, int, printListing, readStdinSecret, withDirectory, withDirOptions, type DirOpts } from './scope'
import { addUserBulkCommands } from './user-bulk'

const userCols = ['uid', 'uidNumber', 'gidNumber', 'cn', 'mail', 'locked']
const userLine = (u: UserDto): Record<string, unknown> => ({ ...u, locked: u.locked ? 'yes' : '' })

function userText(u: UserDto): string {
  return [
    `user ${u.uid}  (${u.dn})`,
    `  cn:            ${u.cn}`,
    `  sn / given:    ${u.sn ?? '-'} / ${u.givenName ?? '-'}`,
    `  mail:          ${u.mail ?? '-'}`,
    `  uid/gidNumber: ${u.uidNumber ?? '-'} / ${u.gidNumber ?? '-'}`,
    `  home, shell:   ${u.homeDirectory ?? '-'}, ${u.loginShell ?? '-'}`,
    `  gecos:         ${u.gecos ?? '-'}`,
    `  description:   ${u.description ?? '-'}`,
    `  locked:        ${u.locked ? 'yes' : 'no'}`,
    u.groups ? `  groups:        ${u.groups.map((g) => g.cn).join(', ') || '-'}` : ''
  ]
    .filter(Boolean)
    .join('\n')
}

export function userCommand(): Command {
  const user = new Command('user').description('LDAP users (inetOrgPerson + posixAccount + shadowAccount)')

  withDirOptions(user.command('list'))
    .description('list users, a page at a time (RFC 2696 paging)')
    .option('--search <text>', 'substring of uid, cn or mail (taken literally)')
    .option('--limit <n>', 'page size (1-1000)', int('--limit'), 100)
    .option('--all', 'every matching user, streamed page by page')
    .action(
      action(async (o: DirOpts & { search?: string; limit: number; all?: boolean }, cmd: Command) => {
        await withDirectory(cmd, o, (core, s) =>
          printListing(
            cmd,
            o,
            () => core.directory.users.list(s, { search: o.search, pageSize: o.limit }),
            () => core.directory.users.walk(s, o.search, Math.max(o.limit, 500)),
            userLine,
            userCols
          )
        )
      })
    )

  withDirOptions(user.command('show'))
    .description('show one user and its groups')
    .argument('<uid>')
    .action(
      action(async (uid: string, o: DirOpts, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const u = await core.directory.users.get(s, uid)
          emit(cmd, u, () => userText(u))
        })
      })
    )

  const describeUser = (c: Command): Command =>
    c
      .option('--sn <sn>', 'surname')
      .option('--given-name <name>', 'given name')
      .option('--cn <cn>', 'common name (default "given sn")')
      .option('--mail <mail>', 'mail address')
      .option('--gid-number <n>', 'primary gidNumber', int('--gid-number'))
      .option('--home <dir>', 'homeDirectory')
      .option('--shell <path>', 'loginShell')
      .option('--gecos <text>', 'gecos (ASCII)')
      .option('--description <text>', 'description')

  describeUser(withDirOptions(user.command('create')))
    .description('create a user (uidNumber from the id pool unless given)')
    .argument('<uid>')
    .option('--uid-number <n>', 'uidNumber (default: the next free one)', int('--uid-number'))
    .option('--new-password-stdin', "read the new user's password from standard input")
    .action(
      action(async (uid: string, o: DirOpts & Record<string, unknown>, cmd: Command) => {
        if (!o.sn) throw new UsageError('user create needs --sn')
        const password = o.newPasswordStdin ? await readStdinSecret('--new-password-stdin') : undefined
        await withDirectory(cmd, o, async (core, s) => {
          const u = await core.directory.users.create(s, {
            uid,
            sn: o.sn as string,
            givenName: o.givenName as string | undefined,
            cn: o.cn as string | undefined,
            mail: o.mail as string | undefined,
            uidNumber: o.uidNumber as number | undefined,
            gidNumber: o.gidNumber as number | undefined,
            homeDirectory: o.home as string | undefined,
            loginShell: o.shell as string | undefined,
            gecos: o.gecos as string | undefined,
            description: o.description as string | undefined,
            password
          })
          emit(cmd, u, () => `created ${u.uid} (uidNumber ${u.uidNumber}) at ${u.dn}`)
        })
      })
    )

  describeUser(withDirOptions(user.command('update')))
    .description('change attributes of a user (--clear FIELD removes one: givenName, mail, gecos, description)')
    .argument('<uid>')
    .option('--clear <field>', 'remove an optional attribute (repeatable)', collect)
    .option('--if-version <v>', 'refuse when the entry changed since this version (from show --json)')
    .action(
      action(async (uid: string, o: DirOpts & Record<string, unknown>, cmd: Command) => {
        const changes: Record<string, unknown> = {
          uid,
          sn: o.sn,
          givenName: o.givenName,
          cn: o.cn,
          mail: o.mail,
          gidNumber: o.gidNumber,
          homeDirectory: o.home,
          loginShell: o.shell,
          gecos: o.gecos,
          description: o.description,
          version: o.ifVersion
        }
        for (const f of (o.clear as string[] | undefined) ?? []) {
          if (!['givenName', 'mail', 'gecos', 'description'].includes(f)) throw new UsageError(`--clear ${f}: only givenName, mail, gecos and description can be removed`)
          changes[f] = null
        }
        for (const k of Object.keys(changes)) if (changes[k] === undefined) delete changes[k]
        if (Object.keys(changes).length === 1) throw new UsageError('user update needs at least one change')
        await withDirectory(cmd, o, async (core, s) => {
          const u = await core.directory.users.update(s, changes)
          emit(cmd, u, () => `updated ${u.uid}\n${userText(u)}`)
        })
      })
    )

  withDirOptions(user.command('rename'))
    .description('change a uid (the entry is renamed; group memberships follow)')
    .argument('<uid>')
    .argument('<new-uid>')
    .action(
      action(async (uid: string, newUid: string, o: DirOpts, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const r = await core.directory.users.rename(s, { uid, newUid })
          emit(cmd, r, () => `renamed ${uid} to ${r.user.uid} (${r.user.dn}); groups updated: ${r.groupsUpdated.join(', ') || 'none'}${r.membershipErrors ? `\nNOT updated: ${r.membershipErrors.map((e) => `${e.group} (${e.error})`).join('; ')}` : ''}`)
          if (r.membershipErrors) process.exitCode = 1
        })
      })
    )

  withDirOptions(user.command('delete'))
    .description('delete a user and remove it from every group; asks first on a terminal')
    .argument('<uid>', 'the user to delete')
    .option('-y, --yes', 'do not ask first (needed without a terminal)')
    .action(
      action(async (uid: string, o: DirOpts & { yes?: boolean }, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
          const u = await core.directory.users.get(s, uid)
          const groups = u.groups?.map((g) => g.cn) ?? []
          await confirmRemoval('user delete', [`user ${u.uid} (${u.dn})`, ...(groups.length ? [`its membership of ${groups.length} group(s): ${groups.join(', ')}`] : [])], o.yes)
          const r = await core.directory.users.delete(s, uid)
          emit(cmd, r, () => `deleted ${r.uid} (${r.dn}); removed from: ${r.removedFrom.join(', ') || 'no group'}${r.membershipErrors ? `\nNOT removed from: ${r.membershipErrors.map((e) => `${e.group} (${e.error})`).join('; ')}` : ''}`)
          if (r.membershipErrors) process.exitCode = 1
        })
      })
    )

  withDirOptions(user.command('passwd'))
    .description("set a user's password (Password Modify where offered, else {SSHA}); --generate prints a new one once")
    .argument('<uid>')
    .option('--generate', 'generate a strong password and print it')
    .option('--new-password-stdin', 'read the new password from standard input')
    .option('--must-change', 'ask for a new password at the next login (shadowLastChange 0)')
    .action(
      action(async (uid: string, o: DirOpts & { generate?: boolean; newPasswordStdin?: boolean; mustChange?: boolean }, cmd: Command) => {
        if (Boolean(o.generate) === Boolean(o.newPasswordStdin)) throw new UsageError('user passwd needs exactly one of --generate and --new-password-stdin')
        const password = o.newPasswordStdin ? await readStdinSecret('--new-password-stdin') : undefined
        await withDirectory(cmd, o, async (core, s) => {
          const r = await core.directory.users.setPassword(s, { uid, password, generate: o.generate, mustChange: o.mustChange })
          emit(cmd, r, () => `password of ${r.uid} set (${r.method})${r.generated ? `\nnew password: ${r.generated}` : ''}`)
        })
      })
    )

  for (const [name, lock] of [
    ['lock', true],
    ['unlock', false]
  ] as const) {
    withDirOptions(user.command(name))
      .description(lock ? 'lock an account (ppolicy pwdAccountLockedTime, or the shadow method)' : 'unlock an account')
      .argument('<uid>')
      .action(
        action(async (uid: string, o: DirOpts, cmd: Command) => {
          await withDirectory(cmd, o, async (core, s) => {
            const r = lock ? await core.directory.users.lock(s, uid) : await core.directory.users.unlock(s, uid)
            emit(cmd, r, () => `${r.uid} ${r.changed ? (r.locked ? 'locked' : 'unlocked') : `was already ${r.locked ? 'locked' : 'unlocked'}`} (${r.method})`)
          })
        })
      )
  }
  addUserBulkCommands(user)
  return user
}

/**
 * `netkeeper profile ...`, `netkeeper user ...` and `netkeeper group ...`: the directory from the command
 * line. User and group commands bind with the profile's bind DN (or --bind-dn) and its secret, taken from
 * --password-stdin, else NETKEEPER_LDAP_PASSWORD, else the OS keychain; the role comes from the directory
 * like in the app. A secret passed this way is used in memory only: never written to disk or printed.
 */
import os from 'node:os'
import { Command, InvalidArgumentError, Option } from 'commander'
import { GROUP_TYPES, LOCK_METHODS, type GroupCreateInput, type GroupDto, type LdapProfileDto, type UserDto } from '../../../shared/directory'
import type { Core } from '../../core'
import type { CommandScope } from '../../core/auth/service'
import { makeContext } from '../../core/context'
import { action, cliContext, emit, globals, table, UsageError, withCore } from '../runtime'

const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}
const collect = (v: string, prev: string[] = []): string[] => [...prev, v]

interface DirOpts {
  profile?: string
  bindDn?: string
  passwordStdin?: boolean
}

let stdinUsed = false

/** Reads one secret from standard input (the trailing newline of `echo` is dropped). */
async function readStdinSecret(what: string): Promise<string> {
  if (stdinUsed) throw new UsageError(`standard input carries one secret only; pass the other through NETKEEPER_LDAP_PASSWORD or the keychain (${what})`)
  stdinUsed = true
  if (process.stdin.isTTY) throw new UsageError(`${what}: expects the secret on standard input, e.g. printf '%s' "$SECRET" | netkeeper ...`)
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)))
  const s = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (!s) throw new UsageError(`${what}: standard input was empty`)
  return s
}

function withDirOptions(c: Command): Command {
  return c
    .option('--profile <name>', 'LDAP profile (default: NETKEEPER_LDAP_PROFILE, the default profile, or the only one)')
    .option('--bind-dn <dn>', "bind as this DN instead of the profile's bind DN")
    .option('--password-stdin', 'read the bind secret from standard input (else NETKEEPER_LDAP_PASSWORD, else the keychain)')
}

async function bindSecret(o: DirOpts): Promise<string | null> {
  if (o.passwordStdin) return readStdinSecret('--password-stdin')
  const env = process.env.NETKEEPER_LDAP_PASSWORD
  return env !== undefined && env !== '' ? env : null
}

function userName(): string {
  try {
    return os.userInfo().username
  } catch {
    return process.env.USER ?? 'unknown'
  }
}

/** Opens the core, binds the command's scope, runs `fn`, and unbinds. */
async function withDirectory<T>(cmd: Command, o: DirOpts, fn: (core: Core, scope: CommandScope) => Promise<T>): Promise<T> {
  const password = await bindSecret(o)
  return withCore(cmd, { migrate: true }, async (core) => {
    const ctx = makeContext({ actor: `${userName()}@cli`, roles: ['viewer'], source: 'cli', userAgent: 'netkeeper-cli' })
    const scope = await core.auth.commandScope(ctx, { profile: o.profile ?? process.env.NETKEEPER_LDAP_PROFILE ?? undefined, bindDn: o.bindDn, password })
    try {
      return await fn(core, scope)
    } finally {
      await scope.close()
    }
  })
}

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

/** Prints a listing: the first page, or with --all every page as it arrives (never the whole set in memory). */
async function printListing<T>(
  cmd: Command,
  o: { all?: boolean; limit: number },
  first: () => Promise<{ items: T[]; nextCursor: string | null }>,
  walk: () => AsyncGenerator<T[]>,
  line: (x: T) => Record<string, unknown>,
  cols: string[]
): Promise<void> {
  const json = globals(cmd).json
  if (!o.all) {
    const page = await first()
    emit(cmd, { items: page.items, more: page.nextCursor !== null }, () => table(page.items.map(line), cols) + (page.nextCursor ? `\n(more: use --all, or narrow with --search)` : ''))
    return
  }
  let n = 0
  if (json) process.stdout.write('[')
  for await (const page of walk()) {
    if (json) {
      for (const x of page) process.stdout.write(`${n++ ? ',' : ''}\n${JSON.stringify(x)}`)
    } else {
      const text = table(page.map(line), cols).split('\n')
      process.stdout.write((n ? text.slice(1) : text).join('\n') + '\n')
      n += page.length
    }
  }
  if (json) process.stdout.write('\n]\n')
  else if (!n) process.stdout.write('(none)\n')
}

// ------------------------------------------------------------------ profiles

const tlsOf = (p: LdapProfileDto): string => (p.startTls ? 'starttls' : /^ldaps/i.test(p.url) ? 'ldaps' : 'none')

/** The warning a profile that lets passwords go over plain LDAP gets in text output ('' when none). */
function insecureWarning(p: LdapProfileDto): string {
  if (!p.allowInsecure || tlsOf(p) !== 'none') return ''
  return `warning: profile ${p.name} has allowInsecure: binds and password changes to ${p.url} go over plain LDAP, passwords in clear`
}

export function profileCommand(): Command {
  const profile = new Command('profile').description('LDAP connection profiles (secrets in the OS keychain, never on disk)')

  profile
    .command('add')
    .description('save an LDAP profile; --password-stdin stores the bind secret in the OS keychain')
    .argument('<name>', 'profile name')
    .requiredOption('--url <url>', 'ldap://host[:port] or ldaps://host[:port]')
    .requiredOption('--base-dn <dn>', 'base DN, e.g. dc=example,dc=org')
    .option('--users-dn <dn>', 'users container (default ou=people,<base>)')
    .option('--groups-dn <dn>', 'groups container (default ou=groups,<base>)')
    .option('--bind-dn <dn>', 'DN the CLI binds as and sign-in looks uids up with')
    .option('--start-tls', 'upgrade ldap:// with StartTLS')
    .option('--allow-insecure', 'allow binds and password changes over plain ldap:// to another machine (passwords in clear; a lab only)')
    .option('--ca-file <file>', "PEM file of the CA that signed the server's certificate")
    .addOption(new Option('--group-type <type>', 'kind of new groups').choices([...GROUP_TYPES]))
    .option('--admin-group <cn|dn>', 'group whose members are admin (repeatable)', collect)
    .option('--operator-group <cn|dn>', 'group whose members are operators (repeatable)', collect)
    .option('--viewer-group <cn|dn>', 'group whose members are viewers (repeatable)', collect)
    .option('--admin-dn <dn>', 'bind DN that is admin regardless of groups (repeatable)', collect)
    .option('--id-pool-dn <dn>', 'entry holding the next uidNumber/gidNumber (default cn=netkeeper-idpool,<base>)')
    .option('--uid-min <n>', 'lowest uidNumber to hand out', int('--uid-min'))
    .option('--gid-min <n>', 'lowest gidNumber to hand out', int('--gid-min'))
    .option('--default-gid <n>', 'primary gidNumber of new users', int('--default-gid'))
    .option('--home-base <dir>', 'home directories go under this (default /home)')
    .option('--shell <path>', 'login shell of new users (default /bin/bash)')
    .addOption(new Option('--lock-method <method>', 'how accounts are locked').choices([...LOCK_METHODS]))
    .option('--no-password-modify', 'never use the Password Modify operation (hash {SSHA} here)')
    .option('--idle-lock-minutes <n>', 'lock an app session after this many idle minutes', int('--idle-lock-minutes'))
    .option('--timeout-ms <n>', 'per-operation timeout', int('--timeout-ms'))
    .option('--default', 'make it the default profile')
    .option('--replace', 'replace a profile of that name')
    .option('--password-stdin', 'read the bind secret from standard input and store it in the OS keychain')
    .action(
      action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
        const password = o.passwordStdin ? await readStdinSecret('--password-stdin') : undefined
        const p: Record<string, unknown> = {
          name,
          url: o.url,
          baseDn: o.baseDn,
          usersDn: o.usersDn,
          groupsDn: o.groupsDn,
          bindDn: o.bindDn,
          startTls: o.startTls === true,
          allowInsecure: o.allowInsecure === true,
          caFile: o.caFile,
          groupType: o.groupType,
          roles: { admin: o.adminGroup ?? [], operator: o.operatorGroup ?? [], viewer: o.viewerGroup ?? [] },
          adminDns: o.adminDn ?? [],
          idPoolDn: o.idPoolDn,
          uidNumberMin: o.uidMin,
          gidNumberMin: o.gidMin,
          defaultGidNumber: o.defaultGid,
          homeBase: o.homeBase,
          defaultShell: o.shell,
          lockMethod: o.lockMethod,
          passwordModify: o.passwordModify !== false,
          idleLockMinutes: o.idleLockMinutes,
          timeoutMs: o.timeoutMs
        }
        for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k]
        await withCore(cmd, { migrate: true }, async (core) => {
          const saved = await core.directory.saveProfile(cliContext(), { profile: p, password, makeDefault: o.default === true, replace: o.replace === true })
          emit(cmd, saved, () =>
            [`saved profile ${saved.name} (${saved.url})${saved.isDefault ? ', the default' : ''}${password ? '; bind secret stored in the OS keychain' : ''}`, insecureWarning(saved)]
              .filter(Boolean)
              .join('\n')
          )
        })
      })
    )

  profile
    .command('list')
    .description('list saved profiles (and whether the keychain holds their secret)')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const list = await core.directory.listProfiles(cliContext())
          const secret = (p: LdapProfileDto): string => (p.hasSecret === null ? `? (${p.keychainError})` : p.hasSecret ? 'yes' : 'no')
          emit(cmd, list, () =>
            [
              table(
                list.map((p) => ({ name: `${p.name}${p.isDefault ? ' *' : ''}`, url: p.url, tls: tlsOf(p), baseDn: p.baseDn, bindDn: p.bindDn ?? '', secret: secret(p) })),
                ['name', 'url', 'tls', 'baseDn', 'bindDn', 'secret']
              ),
              ...list.map(insecureWarning)
            ]
              .filter(Boolean)
              .join('\n')
          )
        })
      })
    )

  profile
    .command('remove')
    .description('remove a profile and its keychain entry')
    .argument('<name>', 'profile name')
    .action(
      action(async (name: string, _o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.directory.removeProfile(cliContext(), name)
          emit(cmd, r, () => (r.removed ? `removed profile ${name}${r.secretRemoved ? ' and its keychain entry' : ''}` : `no profile named ${name}: nothing to remove`))
          if (!r.removed) process.exitCode = 1
        })
      })
    )

  profile
    .command('test')
    .description('connect, bind and check what Netkeeper needs (containers, paging, password modify, id pool)')
    .argument('[name]', 'profile name (default: the default profile)')
    .option('--password-stdin', 'read the bind secret from standard input (else NETKEEPER_LDAP_PASSWORD, else the keychain)')
    .action(
      action(async (name: string | undefined, o: DirOpts, cmd: Command) => {
        const password = (await bindSecret(o)) ?? undefined
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.directory.testProfile(cliContext(), name ?? process.env.NETKEEPER_LDAP_PROFILE ?? undefined, password)
          emit(cmd, r, () =>
            [
              `profile ${r.profile}: ${r.ok ? 'OK' : 'PROBLEMS'}  (${r.url}, ${r.tls}, ${r.latencyMs} ms, ${r.vendor ?? 'unknown server'})`,
              ...(r.allowInsecure && r.tls === 'none' ? [`  warning: allowInsecure is set: binds and password changes may cross the network in clear`] : []),
              ...r.checks.map((c) => `  [${c.ok ? 'ok' : '!!'}] ${c.name}: ${c.detail}`)
            ].join('\n')
          )
          if (!r.ok) process.exitCode = 1
        })
      })
    )
  return profile
}

// ------------------------------------------------------------------ users

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
    .description('delete a user and remove it from every group')
    .argument('<uid>')
    .action(
      action(async (uid: string, o: DirOpts, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
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
  return user
}

// ----------------------------------------------------------------- groups

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
    .description('delete a group (refused while it is a primary group or the last member of another)')
    .argument('<cn>')
    .action(
      action(async (cn: string, o: DirOpts, cmd: Command) => {
        await withDirectory(cmd, o, async (core, s) => {
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
  return group
}

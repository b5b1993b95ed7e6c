/** `netkeeper profile ...`: LDAP connection profiles, their secrets in the OS keychain. */
import { Command, Option } from 'commander'
import { GROUP_TYPES, LOCK_METHODS } from '../../../../shared/choices'
import type { LdapProfileDto } from '../../../../shared/directory'
import { action, cliContext, emit, table, withCore } from '../../runtime'
import { bindSecret, collect, int, readStdinSecret, type DirOpts } from './scope'
import { confirmRemoval } from '../../terminal'

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
    .option('--password-stdin', 'read the bind secret from standard input (asked unechoed on a terminal) and store it in the OS keychain')
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
    .description('remove a profile and its keychain entry; asks first on a terminal')
    .argument('<name>', 'profile name')
    .option('-y, --yes', 'do not ask first (needed without a terminal)')
    .action(
      action(async (name: string, o: { yes?: boolean }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const p = (await core.directory.listProfiles(cliContext())).find((x) => x.name === name)
          if (p) await confirmRemoval('profile remove', [`LDAP profile ${p.name} (${p.url}, ${p.baseDn})`, ...(p.hasSecret === false ? [] : ['its bind secret in the OS keychain'])], o.yes)
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
    .option('--password-stdin', 'read the bind secret from standard input, or ask for it unechoed on a terminal (else NETKEEPER_LDAP_PASSWORD, else the keychain)')
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

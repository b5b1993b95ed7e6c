/**
 * What the profile, user and group commands share: the number and repeatable-option readers, the bind
 * options (--profile, --bind-dn, --password-stdin), the bind secret (standard input, else
 * NETKEEPER_LDAP_PASSWORD, else the keychain through the core), the command's directory scope, and the
 * listing printer.
 */
import os from 'node:os'
import { InvalidArgumentError, type Command } from 'commander'
import type { Core } from '../../../core'
import type { CommandScope } from '../../../core/auth/service'
import { makeContext } from '../../../core/context'
import { currentRequestId } from '../../../core/log'
import { emit, globals, table, UsageError, withCore } from '../../runtime'
import { readHidden } from '../../terminal'

export const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v]

export interface DirOpts {
  profile?: string
  bindDn?: string
  passwordStdin?: boolean
}

let stdinUsed = false

/**
 * Reads one secret from standard input (the trailing newline of `echo` is dropped). On a terminal it asks
 * for it with the echo off (then each secret is asked for in turn).
 */
export async function readStdinSecret(what: string): Promise<string> {
  if (process.stdin.isTTY) {
    const typed = await readHidden(`${what === '--new-password-stdin' ? 'New password' : 'Bind secret'} (not shown): `)
    if (!typed) throw new UsageError(`${what}: nothing was typed`)
    return typed
  }
  if (stdinUsed) throw new UsageError(`standard input carries one secret only; pass the other through NETKEEPER_LDAP_PASSWORD or the keychain (${what})`)
  stdinUsed = true
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)))
  const s = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (!s) throw new UsageError(`${what}: standard input was empty`)
  return s
}

export function withDirOptions(c: Command): Command {
  return c
    .option('--profile <name>', 'LDAP profile (default: NETKEEPER_LDAP_PROFILE, the default profile, or the only one)')
    .option('--bind-dn <dn>', "bind as this DN instead of the profile's bind DN")
    .option('--password-stdin', 'read the bind secret from standard input, or ask for it unechoed on a terminal (else NETKEEPER_LDAP_PASSWORD, else the keychain)')
}

export async function bindSecret(o: DirOpts): Promise<string | null> {
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
export async function withDirectory<T>(cmd: Command, o: DirOpts, fn: (core: Core, scope: CommandScope) => Promise<T>): Promise<T> {
  const password = await bindSecret(o)
  return withCore(cmd, { migrate: true }, async (core) => {
    const ctx = makeContext({ actor: `${userName()}@cli`, roles: ['viewer'], source: 'cli', userAgent: 'netkeeper-cli', ...(currentRequestId() ? { requestId: currentRequestId() } : {}) })
    const scope = await core.auth.commandScope(ctx, { profile: o.profile ?? process.env.NETKEEPER_LDAP_PROFILE ?? undefined, bindDn: o.bindDn, password })
    try {
      return await fn(core, scope)
    } finally {
      await scope.close()
    }
  })
}

/** Prints a listing: the first page, or with --all every page as it arrives (never the whole set in memory). */
export async function printListing<T>(
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

/**
 * Ctrl-C during a long directory run (CSV or LDIF import, bulk actions): the first SIGINT asks the run to
 * stop before its next entry, so it can report what was applied (LDAP has no transaction to roll back);
 * a second one is Node's default and ends the process. Call release() when the run is over.
 */
export function interruptFlag(): { stopped: () => boolean; release: () => void } {
  let stop = false
  const onSigint = (): void => {
    stop = true
    if (process.stderr.isTTY) process.stderr.write('\nstopping before the next entry (Ctrl-C again to quit at once)\n')
  }
  process.once('SIGINT', onSigint)
  return { stopped: () => stop, release: () => process.off('SIGINT', onSigint) }
}

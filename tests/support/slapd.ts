/**
 * Starts a throwaway OpenLDAP slapd for the test run (and for `npm run bench -- directory`):
 *
 * - a temporary folder holding slapd.conf, an mdb database, the pid file and a TLS key pair signed by a CA
 *   made at start (openssl), so ldaps:// and StartTLS are tested against a certificate we control;
 * - Debian's schemas core, cosine, inetorgperson and nis (or resources/ldap/rfc2307bis.schema instead of
 *   nis), the ppolicy overlay with a default policy (administrative lock via pwdAccountLockedTime), ACLs
 *   like a real site (admins and operators groups write, users read, anonymous may only bind);
 * - the seed LDIF from resources/ldap loaded with slapadd before the server starts, with `@SSHA(text)@`
 *   replaced by a salted hash made by Netkeeper's own code (so slapd checks our hashes at every bind);
 * - two free loopback ports: ldap:// (StartTLS offered) and ldaps://.
 *
 * slapd daemonises and writes a pid file; stop/pause signal that pid (the process we started) and wait for
 * it to exit. Runs as root or as any user (ports above 1024, files in the temporary folder).
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { sshaHash } from '../../src/main/core/directory/password'
import { freePort } from './postgres'

const root = path.resolve(import.meta.dirname, '..', '..')
export const LDAP_RESOURCES = path.join(root, 'resources', 'ldap')

export const BASE_DN = 'dc=example,dc=test'
export const ADMIN_DN = `cn=admin,${BASE_DN}`
/** Passwords of the seeded accounts (resources/ldap/seed.ldif). */
export const SEED_PASSWORDS = {
  alice: 'alice-secret',
  bob: 'bob-secret',
  oscar: 'oscar-secret',
  victor: 'victor-secret',
  nobody: 'nobody-secret',
  carol: 'carol-secret',
  dave: 'dave-secret'
} as const

/** What a test file gets through inject('slapd'): plain data, so it crosses into the test workers. */
export interface SlapdInfo {
  url: string
  ldapsUrl: string
  port: number
  ldapsPort: number
  baseDn: string
  adminDn: string
  adminPassword: string
  caFile: string
  root: string
  confFile: string
  pidFile: string
  args: string[]
  /** Set when slapd could not be started: directory tests skip and print it. */
  error?: string
}

export function unavailableSlapd(error: string): SlapdInfo {
  return { url: '', ldapsUrl: '', port: 0, ldapsPort: 0, baseDn: BASE_DN, adminDn: ADMIN_DN, adminPassword: '', caFile: '', root: '', confFile: '', pidFile: '', args: [], error }
}

declare module 'vitest' {
  export interface ProvidedContext {
    slapd: SlapdInfo
  }
}

export interface SlapdOptions {
  /** 'nis' (default): RFC 2307 as Debian ships it; 'rfc2307bis': posixGroup auxiliary (resources/ldap). */
  schema?: 'nis' | 'rfc2307bis'
  /** LDIF files loaded after the seed (e.g. 50,000 users for the benchmark). */
  extraLdif?: string[]
  /** Replace the default seed file. */
  seedFile?: string
  /** Global slapd.conf directives, e.g. `security tls=1` to refuse anything but TLS. */
  extraConfig?: string[]
}

export interface SlapdServer {
  info: SlapdInfo
  /** Stop slapd (the data stays), for tests of a server going away. */
  pause(): Promise<void>
  resume(): Promise<void>
  stop(): Promise<void>
}

function findSlapd(): string {
  const candidates = [process.env.NETKEEPER_SLAPD, '/usr/sbin/slapd', '/usr/local/libexec/slapd', '/usr/libexec/slapd'].filter(Boolean) as string[]
  const hit = candidates.find((c) => fs.existsSync(c))
  if (!hit) throw new Error('slapd not found: install Debian\'s slapd and ldap-utils packages (or set NETKEEPER_SLAPD)')
  return hit
}

function findModules(): string {
  const candidates = [process.env.NETKEEPER_SLAPD_MODULES, '/usr/lib/ldap', '/usr/lib/x86_64-linux-gnu/ldap', '/usr/lib/aarch64-linux-gnu/ldap', '/usr/lib/openldap'].filter(Boolean) as string[]
  const hit = candidates.find((c) => fs.existsSync(path.join(c, 'back_mdb.so')) || fs.existsSync(path.join(c, 'back_mdb.la')))
  if (!hit) throw new Error('slapd modules (back_mdb) not found: set NETKEEPER_SLAPD_MODULES')
  return hit
}

const SCHEMA_DIR = process.env.NETKEEPER_LDAP_SCHEMA_DIR ?? '/etc/ldap/schema'

function makeTls(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const o = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  }
  o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3', '-subj', '/CN=Netkeeper Test CA'])
  o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'])
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n')
  o(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '3', '-extfile', 'server.ext'])
  return { caFile: path.join(dir, 'ca.crt'), certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') }
}

function config(dir: string, schema: 'nis' | 'rfc2307bis', tls: { caFile: string; certFile: string; keyFile: string }, adminPassword: string, extra: string[]): string {
  const admins = `cn=netkeeper-admins,ou=groups,${BASE_DN}`
  const operators = `cn=netkeeper-operators,ou=groups,${BASE_DN}`
  const schemas = ['core', 'cosine', 'inetorgperson'].map((s) => path.join(SCHEMA_DIR, `${s}.schema`))
  schemas.push(schema === 'nis' ? path.join(SCHEMA_DIR, 'nis.schema') : path.join(LDAP_RESOURCES, 'rfc2307bis.schema'))
  return [
    ...schemas.map((s) => `include ${s}`),
    `modulepath ${findModules()}`,
    'moduleload back_mdb',
    'moduleload ppolicy',
    `pidfile ${path.join(dir, 'slapd.pid')}`,
    `argsfile ${path.join(dir, 'slapd.args')}`,
    `TLSCACertificateFile ${tls.caFile}`,
    `TLSCertificateFile ${tls.certFile}`,
    `TLSCertificateKeyFile ${tls.keyFile}`,
    // Paged searches may walk the whole tree; a plain search is still capped (as on most sites).
    'sizelimit size.soft=500 size.hard=unlimited size.prtotal=unlimited',
    'loglevel none',
    ...extra,
    'database mdb',
    'maxsize 2147483648',
    `suffix "${BASE_DN}"`,
    `rootdn "${ADMIN_DN}"`,
    `rootpw ${sshaHash(adminPassword)}`,
    `directory ${path.join(dir, 'db')}`,
    'index objectClass eq',
    'index uid,cn,mail,sn,givenName eq,sub',
    'index uidNumber,gidNumber,member,uniqueMember,memberUid eq',
    'overlay ppolicy',
    `ppolicy_default "cn=default,ou=policies,${BASE_DN}"`,
    'access to attrs=userPassword',
    `  by group/groupOfNames/member.exact="${admins}" write`,
    `  by group/groupOfNames/member.exact="${operators}" write`,
    '  by self write',
    '  by anonymous auth',
    '  by * none',
    'access to dn.base="" by * read',
    'access to dn.base="cn=Subschema" by * read',
    'access to *',
    `  by group/groupOfNames/member.exact="${admins}" write`,
    `  by group/groupOfNames/member.exact="${operators}" write`,
    '  by users read',
    '  by * none',
    ''
  ].join('\n')
}

function expandSeed(file: string): string {
  return fs.readFileSync(file, 'utf8').replace(/@SSHA\(([^)]*)\)@/g, (_m, text: string) => sshaHash(text))
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > until) throw new Error(`slapd did not start listening on 127.0.0.1:${port} within ${timeoutMs} ms`)
    await sleep(50)
  }
}

function readPid(pidFile: string): number | null {
  try {
    const n = Number(fs.readFileSync(pidFile, 'utf8').trim())
    return Number.isInteger(n) && n > 0 ? n : null
  } catch {
    return null
  }
}

/** Starts slapd with the arguments recorded in `info` (used by start and resume). */
export async function launchSlapd(info: SlapdInfo): Promise<void> {
  fs.rmSync(info.pidFile, { force: true })
  execFileSync(info.args[0]!, info.args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
  await waitForPort(info.port, 15_000)
  await waitForPort(info.ldapsPort, 15_000)
}

/** Stops the slapd whose pid file `info` names, and waits until it has exited. */
export async function haltSlapd(info: SlapdInfo): Promise<void> {
  const pid = readPid(info.pidFile)
  if (pid === null || !alive(pid)) return
  process.kill(pid, 'SIGTERM')
  const until = Date.now() + 15_000
  while (alive(pid)) {
    if (Date.now() > until) {
      process.kill(pid, 'SIGKILL')
      break
    }
    await sleep(25)
  }
}

export async function startSlapd(opts: SlapdOptions = {}): Promise<SlapdServer> {
  const slapd = findSlapd()
  const schema = opts.schema ?? 'nis'
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-slapd-'))
  fs.mkdirSync(path.join(dir, 'db'))
  const adminPassword = 'admin-secret'
  const tls = makeTls(dir)
  const confFile = path.join(dir, 'slapd.conf')
  fs.writeFileSync(confFile, config(dir, schema, tls, adminPassword, opts.extraConfig ?? []), { mode: 0o600 })
  const seed = opts.seedFile ?? path.join(LDAP_RESOURCES, schema === 'nis' ? 'seed.ldif' : 'seed-rfc2307bis.ldif')
  const seedOut = path.join(dir, 'seed.ldif')
  fs.writeFileSync(seedOut, expandSeed(seed), { mode: 0o600 })
  const slapadd = path.join(path.dirname(slapd), 'slapadd')
  for (const ldif of [seedOut, ...(opts.extraLdif ?? [])]) {
    execFileSync(fs.existsSync(slapadd) ? slapadd : 'slapadd', ['-q', '-f', confFile, '-l', ldif], { stdio: ['ignore', 'ignore', 'pipe'] })
  }
  const [port, ldapsPort] = [await freePort(), await freePort()]
  const info: SlapdInfo = {
    url: `ldap://127.0.0.1:${port}`,
    ldapsUrl: `ldaps://127.0.0.1:${ldapsPort}`,
    port,
    ldapsPort,
    baseDn: BASE_DN,
    adminDn: ADMIN_DN,
    adminPassword,
    caFile: tls.caFile,
    root: dir,
    confFile,
    pidFile: path.join(dir, 'slapd.pid'),
    args: [slapd, '-f', confFile, '-h', `ldap://127.0.0.1:${port}/ ldaps://127.0.0.1:${ldapsPort}/`, '-n', 'netkeeper-test-slapd']
  }
  try {
    await launchSlapd(info)
  } catch (e) {
    await haltSlapd(info)
    fs.rmSync(dir, { recursive: true, force: true })
    throw e
  }
  return {
    info,
    pause: () => haltSlapd(info),
    resume: () => launchSlapd(info),
    async stop() {
      await haltSlapd(info)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * A throwaway BIND 9 primary for the test run: `named` on 127.0.0.1 and a free port, dynamic zones (forward,
 * an IPv4 /24 reverse, an RFC 2317 classless reverse and an IPv6 nibble reverse) that a TSIG key
 * (hmac-sha256) may update and transfer. As root it runs as the `bind` user, which owns its folder.
 * Tests stop and start it (stopNamed / startNamed) to see changes wait for it.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freePort } from './postgres'

export interface NamedInfo {
  available: boolean
  reason?: string
  port: number
  keyName: string
  secret: string
  dir: string
  conf: string
  pidFile: string
  zones: typeof TEST_ZONES
}

const NAMED = '/usr/sbin/named'
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0

export const TEST_ZONES = {
  forward: 'nk.test',
  reverse24: '2.0.192.in-addr.arpa',
  classless: '0-25.100.51.198.in-addr.arpa',
  reverse6: '8.b.d.0.1.0.0.2.ip6.arpa',
  /** Zones of their own for the CLI test, so that two test files never see each other's records as drift. */
  cliForward: 'cli.test',
  cliReverse: '113.0.203.in-addr.arpa',
  /** And for the browser test of the DNS screen. */
  uiForward: 'ui.test',
  uiReverse: '100.51.198.in-addr.arpa',
  /** And for the set-up tests (tests/integration/dns-dhcp-setup.test.ts, tests/e2e/dns-setup.test.ts). */
  setupForward: 'setup.test',
  setupOther: 'setup2.test',
  setupReverse: '20.18.198.in-addr.arpa',
  uiSetupForward: 'uisetup.test'
}

function zoneFile(zone: string): string {
  return [
    '$TTL 300',
    `@ IN SOA ns.nk.test. hostmaster.nk.test. 1 3600 600 86400 300`,
    `@ IN NS ns.nk.test.`,
    ...(zone === TEST_ZONES.forward ? ['ns IN A 127.0.0.1'] : []),
    ''
  ].join('\n')
}

export function unavailableNamed(reason: string): NamedInfo {
  return { available: false, reason, port: 0, keyName: '', secret: '', dir: '', conf: '', pidFile: '', zones: TEST_ZONES }
}

/** `extra`: more zones, each with extra lines for its zone file (the benchmark's 50,000 records). */
export async function startNamed(extra: Record<string, string[]> = {}): Promise<{ info: NamedInfo; stop(): Promise<void> }> {
  if (!fs.existsSync(NAMED)) throw new Error(`${NAMED} not found: install Debian's bind9 package`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-named-'))
  const port = await freePort()
  const keyName = 'netkeeper-test'
  const secret = randomBytes(32).toString('base64')
  const conf = path.join(dir, 'named.conf')
  const pidFile = path.join(dir, 'named.pid')
  const zones = [...Object.values(TEST_ZONES), ...Object.keys(extra)]
  for (const z of zones) fs.writeFileSync(path.join(dir, `${z}.db`), zoneFile(z) + (extra[z] ?? []).join('\n') + '\n')
  fs.writeFileSync(
    conf,
    [
      `options {`,
      `  directory "${dir}";`,
      `  pid-file "${pidFile}";`,
      `  listen-on port ${port} { 127.0.0.1; };`,
      `  listen-on-v6 { none; };`,
      `  recursion no;`,
      `  allow-query { 127.0.0.1; };`,
      `  dnssec-validation no;`,
      `  notify no;`,
      `  session-keyfile "${dir}/session.key";`,
      `};`,
      `controls { };`,
      `key "${keyName}" { algorithm hmac-sha256; secret "${secret}"; };`,
      ...zones.map((z) => `zone "${z}" { type primary; file "${dir}/${z}.db"; allow-update { key "${keyName}"; }; allow-transfer { key "${keyName}"; }; };`),
      ''
    ].join('\n')
  )
  if (asRoot) execFileSync('chown', ['-R', 'bind:bind', dir])
  const info: NamedInfo = { available: true, port, keyName, secret, dir, conf, pidFile, zones: TEST_ZONES }
  await runNamed(info)
  return {
    info,
    async stop() {
      stopNamedSync(info)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Starts named on the fixture's configuration and waits until it answers on its port. */
export async function runNamed(info: NamedInfo): Promise<void> {
  const args = ['-4', '-c', info.conf, ...(asRoot ? ['-u', 'bind'] : [])]
  const r = spawnSync(NAMED, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`named did not start: ${(r.stderr || r.stdout).trim()}`)
  const end = Date.now() + 10_000
  while (Date.now() < end) {
    const q = spawnSync('dig', ['+short', '+time=1', '+tries=1', '@127.0.0.1', '-p', String(info.port), TEST_ZONES.forward, 'SOA'], { encoding: 'utf8' })
    if (q.status === 0 && q.stdout.includes('ns.nk.test')) return
    await new Promise((res) => setTimeout(res, 100))
  }
  throw new Error(`named did not answer on 127.0.0.1 port ${info.port} within 10 s (its log: journalctl or ${info.dir})`)
}

/** Stops named (TERM, then waits for its pid to go). */
export function stopNamedSync(info: NamedInfo): void {
  let pid: number
  try {
    pid = Number(fs.readFileSync(info.pidFile, 'utf8').trim())
  } catch {
    return
  }
  if (!pid) return
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return
  }
  const end = Date.now() + 10_000
  while (Date.now() < end) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    spawnSync('sleep', ['0.05'])
  }
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    /* gone */
  }
}

/** `dig @127.0.0.1 -p PORT NAME TYPE +short`, the answers one per line. */
export function dig(info: NamedInfo, name: string, type = 'A'): string[] {
  const args = type === 'PTR' && !name.endsWith('.arpa') ? ['-x', name] : [name, type]
  const r = spawnSync('dig', ['+short', '+time=2', '+tries=1', '@127.0.0.1', '-p', String(info.port), ...args], { encoding: 'utf8' })
  return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean)
}

/** Runs nsupdate with the fixture's key: `commands` without the server and send lines. */
export function nsupdate(info: NamedInfo, commands: string[]): void {
  const script = [`server 127.0.0.1 ${info.port}`, ...commands, 'send', ''].join('\n')
  const r = spawnSync('nsupdate', ['-y', `hmac-sha256:${info.keyName}:${info.secret}`], { input: script, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`nsupdate failed: ${r.stderr.trim()}`)
}

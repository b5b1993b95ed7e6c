/**
 * Kea for tests: a Kea database on the suite's PostgreSQL made by Kea's own `kea-admin db-init pgsql`, and
 * kea-dhcp4 serving one subnet inside a network namespace joined by a veth pair to a client namespace, where
 * udhcpc (busybox) asks for an address with a given MAC. Everything lives in namespaces the test made.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freshDatabase } from './db'

export async function keaDatabase(): Promise<{ url: string; host: string; port: number; database: string }> {
  const url = await freshDatabase('kea')
  const u = new URL(url)
  const database = u.pathname.slice(1)
  execFileSync('kea-admin', ['db-init', 'pgsql', '-h', u.hostname, '-P', u.port, '-u', u.username, '-p', 'unused', '-n', database], { stdio: 'pipe' })
  return { url, host: u.hostname, port: Number(u.port), database }
}

/** Why namespaces cannot be used here, or null when they can (root, iproute2, kea-dhcp4, udhcpc). */
export function namespaceSkipReason(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root: creating network namespaces needs root'
  for (const bin of ['/usr/sbin/kea-dhcp4', '/usr/sbin/udhcpc']) if (!fs.existsSync(bin)) return `${bin} not installed`
  const probe = `nkprobe${randomBytes(3).toString('hex')}`
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (r.status !== 0) return `ip netns add failed: ${r.stderr.trim()}`
  spawnSync('ip', ['netns', 'del', probe])
  return null
}

export interface KeaLab {
  /** Asks for an address with this MAC from the client namespace; the address offered, or null. */
  request(mac: string): string | null
  stop(): void
}

/**
 * Two namespaces and a veth pair: the server end `subnet`.1/24 runs kea-dhcp4 (its host and lease databases
 * reached through PostgreSQL's Unix socket, which namespaces share), the client end runs udhcpc.
 */
export async function startKeaLab(opts: { subnetId: number; subnet: string; serverIp: string; db: { socketDir: string; port: number; database: string } }): Promise<KeaLab> {
  const tag = randomBytes(3).toString('hex')
  const [srv, cl, vs, vc] = [`nks${tag}`, `nkc${tag}`, `nkvs${tag}`, `nkvc${tag}`]
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-kea-'))
  const ip = (...a: string[]): void => {
    execFileSync('ip', a, { stdio: 'pipe' })
  }
  ip('netns', 'add', srv)
  ip('netns', 'add', cl)
  let kea: ChildProcess | undefined
  const stop = (): void => {
    kea?.kill('SIGTERM')
    spawnSync('ip', ['netns', 'del', srv])
    spawnSync('ip', ['netns', 'del', cl])
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    ip('link', 'add', vs, 'type', 'veth', 'peer', 'name', vc)
    ip('link', 'set', vs, 'netns', srv)
    ip('link', 'set', vc, 'netns', cl)
    ip('-n', srv, 'addr', 'add', `${opts.serverIp}/24`, 'dev', vs)
    ip('-n', srv, 'link', 'set', vs, 'up')
    ip('-n', srv, 'link', 'set', 'lo', 'up')
    ip('-n', cl, 'link', 'set', vc, 'up')
    const dbConf = { type: 'postgresql', name: opts.db.database, host: opts.db.socketDir, port: opts.db.port, user: 'postgres', password: 'unused' }
    const conf = {
      Dhcp4: {
        'interfaces-config': { interfaces: [vs], 'dhcp-socket-type': 'raw' },
        'lease-database': dbConf,
        'hosts-database': dbConf,
        'valid-lifetime': 600,
        'control-socket': undefined,
        loggers: [{ name: 'kea-dhcp4', output_options: [{ output: path.join(dir, 'kea.log') }], severity: 'INFO' }],
        subnet4: [{ id: opts.subnetId, subnet: opts.subnet, pools: [] }]
      }
    }
    fs.writeFileSync(path.join(dir, 'kea-dhcp4.conf'), JSON.stringify(conf, null, 2))
    kea = spawn('ip', ['netns', 'exec', srv, '/usr/sbin/kea-dhcp4', '-c', path.join(dir, 'kea-dhcp4.conf')], {
      stdio: 'ignore',
      env: { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir }
    })
    // Ready when its log says it serves.
    const end = Date.now() + 15_000
    for (;;) {
      const log = fs.existsSync(path.join(dir, 'kea.log')) ? fs.readFileSync(path.join(dir, 'kea.log'), 'utf8') : ''
      if (log.includes('DHCP4_STARTED')) break
      if (kea.exitCode !== null || Date.now() > end) throw new Error(`kea-dhcp4 did not start: ${log.slice(-2000)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  } catch (e) {
    stop()
    throw e
  }
  return {
    request(mac: string) {
      ip('-n', cl, 'link', 'set', vc, 'down')
      ip('-n', cl, 'link', 'set', vc, 'address', mac)
      ip('-n', cl, 'link', 'set', vc, 'up')
      // -n: give up when nothing is offered; -q: quit once leased; -s /bin/true: change nothing on the interface.
      const r = spawnSync('ip', ['netns', 'exec', cl, 'udhcpc', '-i', vc, '-n', '-q', '-f', '-t', '3', '-T', '1', '-s', '/bin/true'], { encoding: 'utf8', timeout: 20_000 })
      const m = /lease of (\d+\.\d+\.\d+\.\d+) obtained/.exec(`${r.stdout}${r.stderr}`)
      return m ? m[1]! : null
    },
    stop
  }
}

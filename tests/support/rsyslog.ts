/**
 * A real rsyslogd (Debian's rsyslog, TLS through rsyslog-gnutls) started on loopback for forwarding tests
 * and the bench: plain TCP, TLS (a CA and a server certificate made here with openssl) and UDP inputs, each
 * writing to its own files: `<name>.raw` with the message as received and `<name>.fields` with rsyslog's
 * own parse of the RFC 5424 header and structured data. It can be stopped and started again on the same
 * ports (the files are appended to).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { freePort } from './postgres'

export const RSYSLOGD = '/usr/sbin/rsyslogd'

/** Why rsyslog tests cannot run here, or null when they can. */
export function rsyslogMissing(): string | null {
  if (!fs.existsSync(RSYSLOGD)) return 'rsyslogd is not installed (Debian package rsyslog)'
  const gtls = ['/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so', '/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_gtls.so'].some((f) => fs.existsSync(f))
  if (!gtls) return "rsyslog's TLS driver is not installed (Debian package rsyslog-gnutls)"
  return null
}

export interface Rsyslog {
  dir: string
  tcpPort: number
  tlsPort: number
  udpPort: number
  /** The CA that signed the server's certificate (PEM), for sinks to trust. */
  caPem: string
  caFile: string
  /** A second CA, which signed nothing the server shows. */
  otherCaPem: string
  file(input: 'tcp' | 'tls' | 'udp', kind: 'raw' | 'fields'): string
  lines(input: 'tcp' | 'tls' | 'udp', kind?: 'raw' | 'fields'): string[]
  start(): Promise<void>
  stop(): Promise<void>
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
}

export async function startRsyslog(): Promise<Rsyslog> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-rsyslog-'))
  fs.mkdirSync(path.join(dir, 'work'))
  // A CA and a server certificate for 127.0.0.1 and localhost.
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Netkeeper test CA'], dir)
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '2', '-subj', '/CN=Another CA'], dir)
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir)
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext'], dir)
  const [tcpPort, tlsPort, udpPort] = [await freePort(), await freePort(), await freePort()]
  const conf = path.join(dir, 'rsyslog.conf')
  const f = (input: string, kind: string): string => path.join(dir, `${input}.${kind}`)
  fs.writeFileSync(
    conf,
    `global(workDirectory="${dir}/work" maxMessageSize="256k"
  defaultNetstreamDriverCAFile="${dir}/ca.pem" defaultNetstreamDriverCertFile="${dir}/server.pem" defaultNetstreamDriverKeyFile="${dir}/server.key")
module(load="imtcp" maxSessions="200")
module(load="imudp")
template(name="raw" type="string" string="%rawmsg%\\n")
template(name="fields" type="string" string="%pri%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%\\n")
${['tcp', 'tls', 'udp']
  .map(
    (i) => `ruleset(name="${i}") {
  action(type="omfile" file="${f(i, 'raw')}" template="raw")
  action(type="omfile" file="${f(i, 'fields')}" template="fields")
}`
  )
  .join('\n')}
input(type="imtcp" port="${tcpPort}" address="127.0.0.1" ruleset="tcp")
input(type="imtcp" port="${tlsPort}" address="127.0.0.1" ruleset="tls" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imudp" port="${udpPort}" address="127.0.0.1" ruleset="udp" rcvbufSize="8m")
`
  )
  let child: ChildProcess | null = null
  const r: Rsyslog = {
    dir,
    tcpPort,
    tlsPort,
    udpPort,
    caFile: path.join(dir, 'ca.pem'),
    caPem: fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8'),
    otherCaPem: fs.readFileSync(path.join(dir, 'other-ca.pem'), 'utf8'),
    file: f,
    lines(input, kind = 'raw') {
      const p = f(input, kind)
      return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n').filter(Boolean) : []
    },
    async start() {
      if (child) return
      const c = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', path.join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] })
      let err = ''
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()))
      child = c
      // Up when the TCP and TLS ports take connections.
      const net = await import('node:net')
      const end = Date.now() + 15_000
      for (;;) {
        if (c.exitCode !== null) throw new Error(`rsyslogd exited (${c.exitCode}): ${err}`)
        const ok = await Promise.all(
          [tcpPort, tlsPort].map(
            (port) =>
              new Promise<boolean>((resolve) => {
                const s = net.connect({ host: '127.0.0.1', port }, () => {
                  s.destroy()
                  resolve(true)
                })
                s.on('error', () => resolve(false))
              })
          )
        )
        if (ok.every(Boolean)) return
        if (Date.now() > end) throw new Error(`rsyslogd did not listen on ${tcpPort}/${tlsPort}: ${err}`)
        await new Promise((res) => setTimeout(res, 100))
      }
    },
    async stop() {
      const c = child
      child = null
      if (!c || c.exitCode !== null) return
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
      c.kill('SIGTERM')
      await Promise.race([exited, new Promise((res) => setTimeout(res, 10_000))])
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
      await exited
    }
  }
  await r.start()
  return r
}

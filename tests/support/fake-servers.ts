/**
 * Fake servers on loopback that record what a client sends them, to prove where a secret goes (and where
 * it does not). They speak just enough of their protocol to make a client hand over its password, then
 * refuse: they stand in for a hostile server someone re-pointed a profile at, never for a real one.
 */
import net from 'node:net'

export interface Recorder {
  host: string
  port: number
  /** Connections accepted so far. */
  connections: number
  /** Every byte received, per connection. */
  received: Buffer[]
  /** True when `text` appears in anything received (UTF-8). */
  saw(text: string): boolean
  close(): Promise<void>
}

async function listen(host: string, port: number, onConnection: (sock: net.Socket, record: (b: Buffer) => void) => void): Promise<Recorder> {
  const received: Buffer[] = []
  const sockets = new Set<net.Socket>()
  const rec: Recorder = {
    host,
    port: 0,
    connections: 0,
    received,
    saw: (text) => received.some((b) => b.includes(Buffer.from(text, 'utf8'))),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
  const server = net.createServer((sock) => {
    rec.connections++
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => undefined)
    const i = received.push(Buffer.alloc(0)) - 1
    onConnection(sock, (b) => {
      received[i] = Buffer.concat([received[i]!, b])
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  rec.port = (server.address() as net.AddressInfo).port
  return rec
}

const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

export interface FakePostgres extends Recorder {
  /** The password of each PasswordMessage received. */
  passwords: string[]
  /** user and database of each startup message. */
  startups: Record<string, string>[]
}

/**
 * A fake PostgreSQL server: answers an SSLRequest with "no TLS", a startup message with
 * AuthenticationCleartextPassword (code 3), records the PasswordMessage, then fails the login (28P01).
 */
export async function fakePostgres(opts: { host?: string; port?: number } = {}): Promise<FakePostgres> {
  const passwords: string[] = []
  const startups: Record<string, string>[] = []
  const rec = await listen(opts.host ?? '127.0.0.1', opts.port ?? 0, (sock, record) => {
    let buf = Buffer.alloc(0)
    let started = false
    sock.on('data', (chunk: Buffer) => {
      record(chunk)
      buf = Buffer.concat([buf, chunk])
      for (;;) {
        if (!started) {
          if (buf.length < 8) return
          const len = buf.readInt32BE(0)
          if (buf.length < len) return
          const code = buf.readInt32BE(4)
          const body = buf.subarray(8, len)
          buf = buf.subarray(len)
          if (code === 80877103 || code === 80877104) {
            sock.write('N') // SSLRequest / GSSENCRequest: not here
            continue
          }
          const parts = body.toString('utf8').split('\0')
          const params: Record<string, string> = {}
          for (let k = 0; k + 1 < parts.length && parts[k]; k += 2) params[parts[k]!] = parts[k + 1]!
          startups.push(params)
          started = true
          sock.write(Buffer.concat([Buffer.from('R'), int32(8), int32(3)]))
          continue
        }
        if (buf.length < 5) return
        const type = String.fromCharCode(buf[0]!)
        const len = buf.readInt32BE(1)
        if (buf.length < 1 + len) return
        const body = buf.subarray(5, 1 + len)
        buf = buf.subarray(1 + len)
        if (type === 'p') {
          passwords.push(body.toString('utf8').replace(/\0$/, ''))
          const fields = Buffer.from('SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed (fake server)\0\0', 'utf8')
          sock.end(Buffer.concat([Buffer.from('E'), int32(4 + fields.length), fields]))
          return
        }
      }
    })
  })
  return Object.assign(rec, { passwords, startups })
}

/**
 * A fake LDAP server: records every byte of every request (a simple bind request carries its password in
 * clear) and closes the connection, so the client fails fast with "connection lost".
 */
export async function fakeLdap(opts: { host?: string; port?: number } = {}): Promise<Recorder> {
  return listen(opts.host ?? '127.0.0.1', opts.port ?? 0, (sock, record) => {
    sock.on('data', (chunk: Buffer) => {
      record(chunk)
      sock.destroy()
    })
  })
}

/**
 * Delivery to one sink: syslog over UDP, TCP (RFC 6587 octet counting) or TLS (RFC 5425), and webhooks
 * (HTTP POST). A batch counts as accepted only when the receiver has taken all of it:
 *
 * - TCP and TLS: plain syslog has no acknowledgement, and a write that returned only means the kernel has
 *   the bytes. So each batch goes over its own connection, which the sender then half-closes; the receiver
 *   closes its side only after reading up to that end, so its close (with no error) says every frame before
 *   it was read. A connection that breaks before that fails the whole batch, which is sent again:
 *   at-least-once, and the receiver can drop repeats by the `seq` each message carries.
 * - UDP: a datagram has no answer at all; a batch is "accepted" when the socket sent it. Forwarding over UDP
 *   loses what the network or a down receiver drops; prefer TCP or TLS (docs/audit.md#forwarding).
 * - Webhook: any 2xx answer to the POST.
 */
import dgram from 'node:dgram'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { AppError } from '../../../../shared/errors'
import { octetFrame } from './syslog'

export interface Endpoint {
  transport: 'udp' | 'tcp' | 'tls' | 'http' | 'https'
  host: string
  port: number
  /** The URL as configured (webhooks post to it). */
  url: string
  ca?: string
  serverName?: string
  clientCert?: string
  clientKey?: string
}

/** Parses a sink URL; errors name the field `url` and say what is wrong with it. */
export function parseSinkUrl(raw: string): Endpoint {
  // URL refuses a port above 65535 as "not a URL" and drops one equal to the scheme's default: the raw text tells.
  const portText = /^[a-z]+:\/\/(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^/:?#]*)(?::(\d*))?/i.exec(raw.trim())?.[1]
  if (portText && (Number(portText) < 1 || Number(portText) > 65535)) throw new AppError('VALIDATION', `url: port ${portText} is not a port (1 to 65535)`, { field: 'url' })
  let u: URL
  try {
    u = new URL(raw.trim())
  } catch {
    throw new AppError('VALIDATION', `url: "${raw}" is not a URL; give udp://host:port, tcp://host:port, tls://host:port or https://host/path`, { field: 'url' })
  }
  const transport = u.protocol.replace(/:$/, '')
  if (!['udp', 'tcp', 'tls', 'http', 'https'].includes(transport)) {
    throw new AppError('VALIDATION', `url: the scheme ${u.protocol} is not one of udp, tcp, tls (syslog), http or https (webhook)`, { field: 'url' })
  }
  const host = u.hostname.replace(/^\[|\]$/g, '')
  if (!host) throw new AppError('VALIDATION', `url: ${raw} names no host`, { field: 'url' })
  const isSyslog = transport === 'udp' || transport === 'tcp' || transport === 'tls'
  let port: number
  if (portText !== undefined && portText !== '') port = Number(portText)
  else if (isSyslog) throw new AppError('VALIDATION', `url: give the port of the syslog receiver (${transport}://${host}:514${transport === 'tls' ? ' or 6514' : ''})`, { field: 'url' })
  else port = transport === 'https' ? 443 : 80
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new AppError('VALIDATION', `url: port ${portText} is not a port (1 to 65535)`, { field: 'url' })
  if (isSyslog && (u.pathname.replace(/^\/$/, '') || u.search || u.username)) {
    throw new AppError('VALIDATION', `url: a syslog sink is ${transport}://host:port, without a path, query or user`, { field: 'url' })
  }
  if (!isSyslog && (u.username || u.password)) throw new AppError('VALIDATION', 'url: put no user or password in a webhook URL (the HMAC key signs each request)', { field: 'url' })
  return { transport: transport as Endpoint['transport'], host, port, url: u.toString() }
}

/** The field an error of connecting or of TLS points at, and the message naming it. */
export function describeNetError(e: unknown, ep: Endpoint): AppError {
  if (e instanceof AppError) return e
  const err = e as NodeJS.ErrnoException & { code?: string; reason?: string }
  const code = err.code ?? ''
  const where = `${ep.transport}://${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new AppError('UNAVAILABLE', `serverName: the certificate of ${where} is not for ${ep.serverName ?? ep.host} (${err.reason ?? err.message})`, { field: 'serverName' })
  }
  // An alert from the server about our certificate (TLS 1.3 sends it after the client's side of the handshake).
  if (/CERTIFICATE_REQUIRED|ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA|ALERT_CERTIFICATE_UNKNOWN|ALERT_HANDSHAKE_FAILURE/.test(code)) {
    return new AppError(
      'UNAVAILABLE',
      `clientCert: ${where} refused the connection for want of a client certificate it trusts (${code})${ep.clientCert ? '' : '; give one with its key'}`,
      { field: 'clientCert' }
    )
  }
  if (/^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_SSL|ERR_TLS)/.test(code)) {
    return new AppError('UNAVAILABLE', `ca: the TLS handshake with ${where} failed: ${err.message}${code ? ` (${code})` : ''}; give the CA that signed its certificate`, { field: 'ca' })
  }
  const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'no such host' : code === 'ETIMEDOUT' ? 'timed out' : err.message
  return new AppError('UNAVAILABLE', `url: cannot deliver to ${where}: ${why}${code && !why.includes(code) ? ` (${code})` : ''}`, { field: 'url', code })
}

/**
 * Sends the messages as one batch over a new TCP or TLS connection and resolves once the receiver has
 * read them all (it closed its side after our end, without error).
 */
export function sendStream(ep: Endpoint, messages: string[], timeoutMs = 15_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false
    let serverEnded = false
    const finish = (e?: unknown): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (e) {
        socket.destroy()
        reject(describeNetError(e, ep))
      } else resolve()
    }
    const onOpen = (): void => {
      // Frames in pieces of about 64 kB: one write per message would be thousands of small writes.
      let piece: Buffer[] = []
      let size = 0
      for (const m of messages) {
        const f = octetFrame(m)
        piece.push(f)
        size += f.length
        if (size >= 65536) {
          socket.write(Buffer.concat(piece, size))
          piece = []
          size = 0
        }
      }
      if (size) socket.write(Buffer.concat(piece, size))
      socket.end()
    }
    const socket: net.Socket =
      ep.transport === 'tls'
        ? tls.connect({
            host: ep.host,
            port: ep.port,
            ca: ep.ca,
            servername: net.isIP(ep.serverName ?? ep.host) ? undefined : (ep.serverName ?? ep.host),
            checkServerIdentity: (_h, cert) => tls.checkServerIdentity(ep.serverName ?? ep.host, cert),
            cert: ep.clientCert,
            key: ep.clientKey,
            rejectUnauthorized: true
          }, onOpen)
        : net.connect({ host: ep.host, port: ep.port }, onOpen)
    const timer = setTimeout(() => finish(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })), timeoutMs)
    socket.setNoDelay(true)
    socket.on('data', () => undefined)
    socket.on('end', () => {
      serverEnded = true
    })
    socket.on('error', (e) => finish(e))
    socket.on('close', (hadError) => {
      if (hadError) return finish(new Error('the connection broke'))
      if (!serverEnded) return finish(Object.assign(new Error('the receiver closed the connection before reading everything'), { code: 'ECONNRESET' }))
      finish()
    })
  })
}

/** RFC 5426: one message per datagram. A message longer than a datagram can hold is cut (and says so). */
export const UDP_MAX = 65_000
export async function sendUdp(ep: Endpoint, messages: string[]): Promise<void> {
  const sock = dgram.createSocket(net.isIPv6(ep.host) ? 'udp6' : 'udp4')
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject)
      sock.connect(ep.port, ep.host, () => {
        sock.off('error', reject)
        resolve()
      })
    })
    for (const m of messages) {
      let b = Buffer.from(m, 'utf8')
      if (b.length > UDP_MAX) b = b.subarray(0, UDP_MAX)
      await new Promise<void>((resolve, reject) => sock.send(b, (e) => (e ? reject(e) : resolve())))
    }
  } catch (e) {
    throw describeNetError(e, ep)
  } finally {
    sock.close()
  }
}

export interface HttpAnswer {
  status: number
  body: string
}

/** POSTs `body` with the headers; resolves on 2xx, rejects with the status and the start of the answer otherwise. */
export function postJson(ep: Endpoint, body: string, headers: Record<string, string>, timeoutMs = 15_000): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const url = new URL(ep.url)
    const lib = ep.transport === 'https' ? https : http
    const req = lib.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'netkeeper-audit-forwarder', ...headers },
        ca: ep.ca,
        cert: ep.clientCert,
        key: ep.clientKey,
        servername: ep.serverName,
        checkServerIdentity: ep.serverName ? (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(ep.serverName!, cert) : undefined,
        timeout: timeoutMs,
        agent: false
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          if (text.length < 4096) text += c
        })
        res.on('end', () => {
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) resolve({ status, body: text })
          else reject(new AppError('UNAVAILABLE', `url: ${ep.url} answered HTTP ${status}${res.statusMessage ? ' ' + res.statusMessage : ''}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ''}`, { field: 'url', status }))
        })
        res.on('error', (e) => reject(describeNetError(e, ep)))
      }
    )
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })))
    req.on('error', (e) => reject(describeNetError(e, ep)))
    req.end(body)
  })
}

/**
 * DNS messages on the wire: RFC 2136 dynamic updates, queries and zone transfers, signed with TSIG
 * (RFC 8945), over UDP (updates and queries, with TCP when UDP gets no answer or a truncated one) and TCP
 * (zone transfers). The packet format is dns-packet's; this module adds what it lacks:
 * - class NONE (254), which RFC 2136 prerequisites and deletions use (added to dns-packet's class table);
 * - records with empty RDATA (class ANY / NONE), written as the type's number with zero-length data;
 * - the TSIG MAC: computed over dns-packet's encoding of the message and the TSIG variables, appended as
 *   the last additional record; answers are verified the same way (the request's MAC first, and for a zone
 *   transfer each later envelope over the previous MAC, the messages since and the timers).
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto'
import { createRequire } from 'node:module'
import dgram from 'node:dgram'
import net from 'node:net'
import dnsPacket from 'dns-packet'
import type { TsigAlgorithm } from '../../../shared/dns'

interface Classes {
  toClass(name: string): number
  toString(klass: number): string
}

// dns-packet's class table knows no NONE; RFC 2136 needs it. The table is a module of its own that the
// encoder looks names up in, so it is extended there once.
const classes = createRequire(import.meta.url)('dns-packet/classes') as Classes
if (classes.toClass('NONE') !== 254) {
  const toClass = classes.toClass.bind(classes)
  const toString = classes.toString.bind(classes)
  classes.toClass = (name: string) => (name.toUpperCase() === 'NONE' ? 254 : toClass(name))
  classes.toString = (klass: number) => (klass === 254 ? 'NONE' : toString(klass))
}

/** A resource record as dns-packet reads and writes it (data by type: text for A/AAAA/PTR/CNAME, objects for SOA...). */
export interface Rr {
  name: string
  type: string
  class?: string
  ttl?: number
  data?: unknown
}

interface Lib {
  encode(p: object): Buffer
  decode(b: Buffer): Packet
  name: { encode(n: string): Buffer; decode(b: Buffer, off: number): string & { bytes?: number } } & { decode: { bytes: number } }
  question: { decode: ((b: Buffer, off: number) => unknown) & { bytes: number } }
  answer: { decode: ((b: Buffer, off: number) => Rr) & { bytes: number } }
}
const lib = dnsPacket as unknown as Lib

export interface Packet {
  id: number
  flags: number
  rcode: string
  questions: { name: string; type: string; class: string }[]
  answers: Rr[]
  authorities: Rr[]
  additionals: Rr[]
}

export interface TsigKey {
  name: string
  algorithm: TsigAlgorithm
  /** Base64. */
  secret: string
}

const HASH: Record<TsigAlgorithm, string> = { 'hmac-sha256': 'sha256', 'hmac-sha384': 'sha384', 'hmac-sha512': 'sha512' }
const FUDGE = 300
const CLASS_ANY = 255

export const RCODES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  22: 'BADTRUNC'
}

/** A record with no RDATA (RFC 2136: class ANY deletes or tests an RRset, class NONE tests its absence). */
export function emptyRr(name: string, type: string, klass: 'ANY' | 'NONE'): Rr {
  return { name, type: `UNKNOWN_${typeNumber(type)}`, class: klass, ttl: 0, data: Buffer.alloc(0) }
}

const TYPE_NUMBERS: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, ANY: 255 }
export function typeNumber(type: string): number {
  const n = TYPE_NUMBERS[type.toUpperCase()]
  if (n === undefined) throw new Error(`no type number for ${type}`)
  return n
}

/** The canonical wire form of a name (lower case, uncompressed), as the TSIG variables carry it. */
function canonicalName(n: string): Buffer {
  return lib.name.encode(n.toLowerCase().replace(/\.$/, '') || '.')
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function u48(n: number): Buffer {
  const b = Buffer.alloc(6)
  b.writeUIntBE(n, 0, 6)
  return b
}

interface TsigFields {
  algorithm: string
  timeSigned: number
  fudge: number
  mac: Buffer
  originalId: number
  error: number
  other: Buffer
}

function tsigRdata(f: TsigFields): Buffer {
  return Buffer.concat([canonicalName(f.algorithm), u48(f.timeSigned), u16(f.fudge), u16(f.mac.length), f.mac, u16(f.originalId), u16(f.error), u16(f.other.length), f.other])
}

function parseTsigRdata(b: Buffer): TsigFields {
  const algorithm = lib.name.decode(b, 0)
  let o = lib.name.decode.bytes
  const timeSigned = b.readUIntBE(o, 6)
  const fudge = b.readUInt16BE(o + 6)
  const macLen = b.readUInt16BE(o + 8)
  o += 10
  const mac = b.subarray(o, o + macLen)
  o += macLen
  const originalId = b.readUInt16BE(o)
  const error = b.readUInt16BE(o + 2)
  const otherLen = b.readUInt16BE(o + 4)
  return { algorithm, timeSigned, fudge, mac, originalId, error, other: b.subarray(o + 6, o + 6 + otherLen) }
}

/** The TSIG variables (RFC 8945 4.3.3) after the message in the MAC's input. */
function tsigVariables(key: TsigKey, f: Pick<TsigFields, 'timeSigned' | 'fudge' | 'error' | 'other'>): Buffer {
  return Buffer.concat([canonicalName(key.name), u16(CLASS_ANY), Buffer.alloc(4), canonicalName(key.algorithm), u48(f.timeSigned), u16(f.fudge), u16(f.error), u16(f.other.length), f.other])
}

function hmac(key: TsigKey, parts: Buffer[]): Buffer {
  const h = createHmac(HASH[key.algorithm], Buffer.from(key.secret, 'base64'))
  for (const p of parts) h.update(p)
  return h.digest()
}

export interface Signed {
  wire: Buffer
  id: number
  mac: Buffer
}

/** Encodes a message and, with a key, appends its TSIG record (the MAC over the message and the variables). */
export function encodeSigned(msg: { id?: number; flags?: number; questions?: object[]; answers?: Rr[]; authorities?: Rr[]; additionals?: Rr[] }, key: TsigKey | null, now = Date.now()): Signed {
  const id = msg.id ?? randomInt(0, 65536)
  const base = lib.encode({ type: 'query', questions: [], answers: [], authorities: [], additionals: [], ...msg, id })
  if (!key) return { wire: base, id, mac: Buffer.alloc(0) }
  const f = { timeSigned: Math.floor(now / 1000), fudge: FUDGE, error: 0, other: Buffer.alloc(0) }
  const mac = hmac(key, [base, tsigVariables(key, f)])
  const tsig = lib.encode({
    type: 'query',
    id,
    flags: msg.flags ?? 0,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [{ name: key.name, type: 'TSIG', class: 'ANY', ttl: 0, data: tsigRdata({ ...f, algorithm: key.algorithm, mac, originalId: id }) }]
  }).subarray(12)
  const wire = Buffer.concat([base, tsig])
  wire.writeUInt16BE(base.readUInt16BE(10) + 1, 10)
  return { wire, id, mac }
}

/** Where the last additional record starts: walks the sections with dns-packet's decoders (names may be compressed). */
function lastRecordOffset(b: Buffer): number {
  const counts = [b.readUInt16BE(4), b.readUInt16BE(6), b.readUInt16BE(8), b.readUInt16BE(10)]
  let o = 12
  for (let i = 0; i < counts[0]!; i++) {
    lib.question.decode(b, o)
    o += lib.question.decode.bytes
  }
  const rrs = counts[1]! + counts[2]! + counts[3]!
  let last = -1
  for (let i = 0; i < rrs; i++) {
    last = o
    lib.answer.decode(b, o)
    o += lib.answer.decode.bytes
  }
  return last
}

export class TsigError extends Error {
  constructor(
    message: string,
    readonly reason: 'BADSIG' | 'BADKEY' | 'BADTIME' | 'UNSIGNED' | 'MISMATCH'
  ) {
    super(message)
  }
}

/**
 * Verifies the TSIG of an answer. `prior` is the request's MAC for the first (or only) answer; for the
 * later messages of a zone transfer it is the previous signed answer's MAC, `between` the unsigned messages
 * since it, and `timersOnly` true (RFC 8945 5.3.1). Returns the answer's MAC, or null when it is unsigned
 * and that is allowed (between two signed messages of a transfer).
 */
export function verifyAnswer(wire: Buffer, key: TsigKey, prior: Buffer, opts: { between?: Buffer[]; timersOnly?: boolean; allowUnsigned?: boolean } = {}): Buffer | null {
  const arcount = wire.readUInt16BE(10)
  const off = arcount ? lastRecordOffset(wire) : -1
  const rr = off >= 0 ? lib.answer.decode(wire, off) : null
  if (!rr || rr.type !== 'TSIG') {
    if (opts.allowUnsigned) return null
    throw new TsigError('the server answered without a TSIG signature', 'UNSIGNED')
  }
  const f = parseTsigRdata(rr.data as Buffer)
  if (f.error) {
    const name = RCODES[f.error] ?? `error ${f.error}`
    throw new TsigError(`the server refused the TSIG key "${key.name}" (${name})`, name === 'BADKEY' ? 'BADKEY' : name === 'BADTIME' ? 'BADTIME' : 'BADSIG')
  }
  if (rr.name.toLowerCase().replace(/\.$/, '') !== key.name.toLowerCase().replace(/\.$/, '')) throw new TsigError(`the answer is signed with another key (${rr.name})`, 'MISMATCH')
  const unsigned = Buffer.from(wire.subarray(0, off))
  unsigned.writeUInt16BE(arcount - 1, 10)
  unsigned.writeUInt16BE(f.originalId, 0)
  const head = prior.length ? [u16(prior.length), prior] : []
  const tail = opts.timersOnly ? Buffer.concat([u48(f.timeSigned), u16(f.fudge)]) : tsigVariables(key, f)
  const expect = hmac(key, [...head, ...(opts.between ?? []), unsigned, tail])
  if (expect.length !== f.mac.length || !timingSafeEqual(expect, f.mac)) {
    throw new TsigError(`the answer's TSIG signature does not verify with key "${key.name}"`, 'BADSIG')
  }
  if (Math.abs(Date.now() / 1000 - f.timeSigned) > f.fudge) throw new TsigError(`the answer's TSIG time is off by more than ${f.fudge} s`, 'BADTIME')
  return Buffer.from(f.mac)
}

export function decode(wire: Buffer): Packet {
  const p = lib.decode(wire)
  // The 4-bit RCODE; dns-packet names the common ones.
  p.rcode = RCODES[wire.readUInt16BE(2) & 0xf] ?? p.rcode
  return p
}

export class DnsTransportError extends Error {}

/**
 * One TCP exchange: sends `wire` (length-prefixed) and hands each answer message to `onMessage` until it
 * returns true (done), then closes. Fails after `timeoutMs` of silence.
 */
export function exchangeTcp(host: string, port: number, wire: Buffer, onMessage: (msg: Buffer) => boolean, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port })
    let buf = Buffer.alloc(0)
    let settled = false
    const finish = (e?: Error): void => {
      if (settled) return
      settled = true
      sock.destroy()
      if (e) reject(e)
      else resolve()
    }
    sock.setTimeout(timeoutMs, () => finish(new DnsTransportError(`${host} port ${port}: no answer within ${timeoutMs} ms`)))
    sock.on('error', (e: NodeJS.ErrnoException) =>
      finish(new DnsTransportError(e.code === 'ECONNREFUSED' ? `${host} port ${port} refused the connection (is the name server running?)` : `${host} port ${port}: ${e.message}`))
    )
    sock.on('close', () => finish(new DnsTransportError(`${host} port ${port} closed the connection before answering`)))
    sock.on('connect', () => sock.write(Buffer.concat([u16(wire.length), wire])))
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0)
        if (buf.length < 2 + len) break
        const msg = buf.subarray(2, 2 + len)
        buf = buf.subarray(2 + len)
        let done: boolean
        try {
          done = onMessage(msg)
        } catch (e) {
          finish(e as Error)
          return
        }
        if (done) {
          finish()
          return
        }
      }
    })
  })
}

export const OPCODE_UPDATE = 5 << 11

/** UDP gave no usable answer (no answer in time, a socket error, a truncated answer): ask again over TCP. */
export class UdpFallback extends Error {}

/**
 * One UDP exchange: sends `wire` and hands each datagram to `onMessage` until it returns true. The request
 * is sent again once after a short wait (UDP may lose it; a repeated update is harmless, its prerequisite
 * then fails and the handler reads the name back). Rejects with UdpFallback when nothing usable came back
 * within `timeoutMs` or the answer was truncated, so the caller asks over TCP, whose errors are the ones a
 * person reads ("refused the connection (is the name server running?)"). An error thrown by `onMessage`
 * (a bad signature) is final.
 */
export function exchangeUdp(host: string, port: number, wire: Buffer, onMessage: (msg: Buffer) => boolean, timeoutMs = 1000): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
    let settled = false
    const timers: NodeJS.Timeout[] = []
    const finish = (e?: Error): void => {
      if (settled) return
      settled = true
      for (const t of timers) clearTimeout(t)
      sock.close()
      if (e) reject(e)
      else resolve()
    }
    const send = (): void => sock.send(wire, (e) => e && finish(new UdpFallback(e.message)))
    sock.on('error', (e) => finish(new UdpFallback(e.message)))
    sock.on('message', (msg) => {
      // TC: the answer did not fit a datagram.
      if (msg.length >= 4 && msg.readUInt16BE(2) & 0x0200) return finish(new UdpFallback('truncated'))
      let done: boolean
      try {
        done = onMessage(msg)
      } catch (e) {
        finish(e as Error)
        return
      }
      if (done) finish()
    })
    sock.connect(port, host, () => {
      send()
      timers.push(setTimeout(send, Math.min(250, timeoutMs / 2)))
      timers.push(setTimeout(() => finish(new UdpFallback(`no answer within ${timeoutMs} ms`)), timeoutMs))
    })
  })
}


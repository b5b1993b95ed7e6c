/**
 * A TSIG-signing client of one primary name server: dynamic updates (RFC 2136) and queries over UDP (one
 * datagram each way; TCP when UDP gets no answer in time or a truncated one), zone transfers (AXFR) over
 * TCP, every answer's signature verified.
 */
import { decode, DnsTransportError, emptyRr, encodeSigned, exchangeTcp, exchangeUdp, OPCODE_UPDATE, TsigError, UdpFallback, verifyAnswer, type Packet, type Rr, type TsigKey } from './wire'

export interface ServerEndpoint {
  address: string
  port: number
}

/** An answer the server gave with a non-zero RCODE. */
export class DnsRcodeError extends Error {
  constructor(
    message: string,
    readonly rcode: string
  ) {
    super(message)
  }
}

export const PREREQ_FAILED = new Set(['YXDOMAIN', 'YXRRSET', 'NXDOMAIN', 'NXRRSET'])

export class DnsClient {
  constructor(
    readonly server: ServerEndpoint,
    readonly key: TsigKey,
    readonly timeoutMs = 5000
  ) {}

  private async exchange(msg: Parameters<typeof encodeSigned>[0]): Promise<Packet> {
    const req = encodeSigned(msg, this.key)
    let answer: Packet | undefined
    const onMessage = (wire: Buffer): boolean => {
      const p = decode(wire)
      if (p.id !== req.id) return false
      // A refused key comes back unsigned with NOTAUTH and the TSIG error; verifyAnswer names it.
      verifyAnswer(wire, this.key, req.mac)
      answer = p
      return true
    }
    // The request fits a datagram (a few names); the UDP limit without EDNS is 512 bytes.
    if (req.wire.length <= 512) {
      try {
        await exchangeUdp(this.server.address, this.server.port, req.wire, onMessage, Math.min(1000, this.timeoutMs))
        return answer!
      } catch (e) {
        if (!(e instanceof UdpFallback)) throw e
      }
    }
    await exchangeTcp(this.server.address, this.server.port, req.wire, onMessage, this.timeoutMs)
    return answer!
  }

  /** A dynamic update of `zone`: prerequisites, then the changes. Resolves on NOERROR, else throws DnsRcodeError. */
  async update(zone: string, prerequisites: Rr[], updates: Rr[]): Promise<void> {
    const p = await this.exchange({ flags: OPCODE_UPDATE, questions: [{ name: zone, type: 'SOA', class: 'IN' }], answers: prerequisites, authorities: updates })
    if (p.rcode !== 'NOERROR') throw new DnsRcodeError(`${zone}: the server answered ${p.rcode}`, p.rcode)
  }

  /** The records of one name and type, from the primary (authoritative, no recursion). */
  async query(name: string, type: string): Promise<{ rcode: string; answers: Rr[] }> {
    const p = await this.exchange({ flags: 0, questions: [{ name, type, class: 'IN' }] })
    return { rcode: p.rcode, answers: p.answers.filter((a) => a.type === type) }
  }

  /** The zone's SOA serial; throws DnsRcodeError when the server does not serve the zone. */
  async soa(zone: string): Promise<number> {
    const r = await this.query(zone, 'SOA')
    const soa = r.answers[0]
    if (r.rcode !== 'NOERROR' || !soa) throw new DnsRcodeError(`${zone}: the server does not serve this zone (${r.rcode === 'NOERROR' ? 'no SOA' : r.rcode})`, r.rcode)
    return (soa.data as { serial: number }).serial
  }

  /** Whether the key may update the zone: an update whose only prerequisite always holds (the apex is in use) and changes nothing. */
  async canUpdate(zone: string): Promise<boolean> {
    try {
      await this.update(zone, [emptyRr(zone, 'ANY', 'ANY')], [])
      return true
    } catch (e) {
      if (e instanceof DnsRcodeError && (e.rcode === 'REFUSED' || e.rcode === 'NOTAUTH')) return false
      throw e
    }
  }

  /**
   * The whole zone by AXFR, signed: every record, the closing SOA left out. Each signed message is verified
   * against the one before (RFC 8945 5.3.1). With `onRecord` each record is handed over as its message is
   * decoded and none is kept (a large zone streams through; the result is then empty).
   */
  async axfr(zone: string, onRecord?: (rr: Rr) => void): Promise<Rr[]> {
    const req = encodeSigned({ flags: 0, questions: [{ name: zone, type: 'AXFR', class: 'IN' }] }, this.key)
    const records: Rr[] = []
    let prior = req.mac
    let between: Buffer[] = []
    let first = true
    let soas = 0
    await exchangeTcp(
      this.server.address,
      this.server.port,
      req.wire,
      (wire) => {
        const p = decode(wire)
        if (p.rcode !== 'NOERROR') {
          // A refused key first: it says more than the RCODE.
          verifyAnswer(wire, this.key, prior)
          throw new DnsRcodeError(`${zone}: the server refused the transfer (${p.rcode})`, p.rcode)
        }
        const mac = verifyAnswer(wire, this.key, prior, { between, timersOnly: !first, allowUnsigned: !first })
        if (mac) {
          prior = mac
          between = []
        } else {
          between.push(Buffer.from(wire))
        }
        first = false
        for (const rr of p.answers) {
          if (rr.type === 'SOA') {
            soas++
            if (soas === 2) return true
          }
          if (onRecord) onRecord(rr)
          else records.push(rr)
        }
        return false
      },
      this.timeoutMs * 6
    )
    if (between.length) throw new TsigError(`${zone}: the transfer ended with unsigned messages`, 'UNSIGNED')
    return records
  }
}

/** Whether an error means "try again later" (the server is down or slow) rather than "refused". */
export function isTransient(e: unknown): boolean {
  return e instanceof DnsTransportError || (e instanceof DnsRcodeError && e.rcode === 'SERVFAIL')
}

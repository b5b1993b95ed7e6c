/**
 * The chain head anchored to a syslog sink (docs/audit.md#anchoring-the-head): one RFC 5424 message with
 * MSGID `anchor`, the anchor in structured data and, as the message, the anchor's JSON, the same line an
 * anchor file holds, so `verify --anchors` reads the receiver's file as it reads an anchor file. Sent at
 * once (not through the cursor): an anchor is about now, and a failure is reported to whoever anchored.
 */
import os from 'node:os'
import { AppError } from '../../../../shared/errors'
import type { Anchor } from '../anchors'
import type { SinkStore } from './sinks'
import { rfc5424, sdElement, SD_ID_ANCHOR } from './syslog'
import { sendStream, sendUdp } from './transports'

export async function sendAnchorToSink(sinks: SinkStore, name: string, a: Anchor): Promise<void> {
  const s = await sinks.row(name).catch(() => {
    throw new AppError('VALIDATION', `anchorSink: no audit sink is called ${name} (\`netkeeper audit sink list\`)`, { field: 'anchorSink' })
  })
  if (s.kind !== 'syslog') throw new AppError('VALIDATION', `anchorSink: ${name} is a webhook; anchors go to a syslog sink`, { field: 'anchorSink' })
  const { ep } = await sinks.endpoint(s)
  const msg = rfc5424({
    facility: s.config.facility ?? 'local0',
    severity: 5,
    timestamp: a.at,
    hostname: s.config.hostname ?? os.hostname(),
    appName: s.config.appName ?? 'netkeeper',
    procId: String(process.pid),
    msgId: 'anchor',
    sd: sdElement(SD_ID_ANCHOR, { chain: a.chain, seq: a.seq, hash: a.hash }),
    msg: JSON.stringify(a)
  })
  try {
    if (ep.transport === 'udp') await sendUdp(ep, [msg])
    else await sendStream(ep, [msg])
  } catch (e) {
    throw new AppError('UNAVAILABLE', `anchorSink: the head could not be sent to ${name}: ${(e as Error).message}`, { field: 'anchorSink' })
  }
}

/**
 * Webhook bodies and their signature (docs/audit.md#webhooks). Each POST carries
 * `X-Netkeeper-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the sink's key, so the
 * receiver can check that the body came from the holder of the key and is recent (the timestamp is signed
 * too, so an old request replayed later is refused by a receiver that checks it).
 */
import crypto from 'node:crypto'

export const SIGNATURE_HEADER = 'X-Netkeeper-Signature'
/** A receiver should refuse a signature older (or newer) than this. */
export const SIGNATURE_TOLERANCE_S = 300

export function webhookSignature(key: string, body: string, t: number = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${crypto.createHmac('sha256', key).update(`${t}.${body}`).digest('hex')}`
}

/** What a receiver does: checks the header against the body and the key, and the timestamp against its clock. */
export function checkWebhookSignature(key: string, body: string, header: string | undefined, now = Date.now() / 1000, toleranceS = SIGNATURE_TOLERANCE_S): { ok: boolean; reason?: string } {
  if (!header) return { ok: false, reason: `no ${SIGNATURE_HEADER} header` }
  const parts = Object.fromEntries(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]))
  const t = Number(parts.t)
  if (!Number.isInteger(t) || !parts.v1) return { ok: false, reason: 'the header is not t=<seconds>,v1=<hex>' }
  if (Math.abs(now - t) > toleranceS) return { ok: false, reason: `the signature's time is ${Math.round(now - t)} s away from now` }
  const want = crypto.createHmac('sha256', key).update(`${t}.${body}`).digest()
  const got = Buffer.from(parts.v1, 'hex')
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return { ok: false, reason: 'the signature does not match the body (wrong key, or the body was changed)' }
  return { ok: true }
}

/** A batch of rows as a webhook body: the rows' JSON exactly as a JSON Lines export writes it. */
export function webhookBody(o: { sink: string; chain: string; database: string; rowsJson: string[]; firstSeq: string; lastSeq: string }): string {
  return (
    `{"kind":"netkeeper-audit","version":1,"sink":${JSON.stringify(o.sink)},"chain":${JSON.stringify(o.chain)},"database":${JSON.stringify(o.database)},` +
    `"firstSeq":${JSON.stringify(o.firstSeq)},"lastSeq":${JSON.stringify(o.lastSeq)},"sentAt":${JSON.stringify(new Date().toISOString())},"rows":[${o.rowsJson.join(',')}]}`
  )
}

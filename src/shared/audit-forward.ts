/**
 * Forwarding the audit log to syslog (RFC 5424 or CEF, over UDP, TCP or TLS) and webhooks (HTTP POST of
 * JSON signed with HMAC-SHA256): the sinks' schemas and DTOs, shared by the core, the CLI and the renderer
 * (docs/audit.md#forwarding). Imports nothing from node, electron or vue.
 */
import { z } from 'zod'
import { SYSLOG_FACILITIES, SYSLOG_FORMATS } from './choices'

export const SINK_KINDS = ['syslog', 'webhook'] as const
export type SinkKind = (typeof SINK_KINDS)[number]
export const SYSLOG_TRANSPORTS = ['udp', 'tcp', 'tls'] as const
export type SyslogTransport = (typeof SYSLOG_TRANSPORTS)[number]
export { SYSLOG_FACILITIES, SYSLOG_FORMATS }
export type SyslogFormat = (typeof SYSLOG_FORMATS)[number]
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES
const FACILITY_NAMES = Object.keys(SYSLOG_FACILITIES) as [SyslogFacility, ...SyslogFacility[]]

export const sinkNameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1 to 63 letters, digits, dots, dashes or underscores, starting with a letter or digit')

/** RFC 5424 PRINTUSASCII (33..126), as HOSTNAME and APP-NAME must be. */
const printAscii = (max: number) => z.string().trim().regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').max(max)

const pem = (what: string, label = '[A-Z0-9 ]*CERTIFICATE') =>
  z.string().trim().max(65536).regex(new RegExp(`-----BEGIN ${label}-----[\\s\\S]+-----END ${label}-----`), `must be a PEM ${what}`)

export const sinkAddSchema = z
  .object({
    name: sinkNameSchema,
    /** udp://host:port, tcp://host:port or tls://host:port (syslog); http(s)://… (webhook). */
    url: z.string().trim().min(1, 'give the sink, e.g. tcp://logs.example.com:514 or https://siem.example.com/hook').max(2048),
    /** Syslog only: RFC 5424 with structured data (default), or CEF in the message. */
    format: z.enum(SYSLOG_FORMATS).optional(),
    facility: z.enum(FACILITY_NAMES).optional(),
    /** RFC 5424 HOSTNAME (default: this machine's name) and APP-NAME (default: netkeeper). */
    hostname: printAscii(255).optional(),
    appName: printAscii(48).optional(),
    /** TLS and https: the CA certificate(s) to trust, PEM (default: the system's). */
    ca: pem('certificate').optional(),
    /** TLS and https: the name the server's certificate must carry, when not the URL's host. */
    serverName: z.string().trim().min(1).max(255).optional(),
    /** TLS and https: a client certificate (PEM); its private key goes to the keychain. */
    clientCert: pem('certificate').optional(),
    clientKey: pem('private key', '[A-Z0-9 ]*PRIVATE KEY').optional(),
    /** Webhook: the HMAC-SHA256 key (at least 16 characters); made when missing and shown once. */
    secret: z.string().min(16, 'must be at least 16 characters').max(1024).optional(),
    /** Rows per message batch (syslog: per connection; webhook: per POST). */
    batchSize: z.number().int().min(1).max(5000).optional(),
    /** Where forwarding starts: the first row (default), the chain head now, or after a given seq. */
    start: z.union([z.enum(['first', 'now']), z.string().regex(/^\d+$/, 'must be first, now or a sequence number')]).optional(),
    enabled: z.boolean().optional(),
    /** Try the sink before saving it (default true; UDP cannot be tried). */
    test: z.boolean().optional()
  })
  .strict()
export type SinkAddInput = z.input<typeof sinkAddSchema>

export const sinkRefSchema = z.object({ name: sinkNameSchema }).strict()
export const sinkEnableSchema = z.object({ name: sinkNameSchema, enabled: z.boolean() }).strict()

/** A sink's configuration as stored in audit_sinks.config (never a secret). */
export interface SinkConfig {
  url: string
  format?: SyslogFormat
  facility?: SyslogFacility
  hostname?: string
  appName?: string
  ca?: string
  serverName?: string
  clientCert?: string
  batchSize?: number
}

export interface SinkDto {
  id: string
  name: string
  kind: SinkKind
  /** udp, tcp, tls (syslog) or http, https (webhook). */
  transport: string
  url: string
  format: SyslogFormat | null
  facility: SyslogFacility | null
  enabled: boolean
  /** The last row the sink accepted. */
  cursorSeq: string
  /** Rows above the cursor, up to the chain head. */
  backlog: number
  sent: number
  lastSentAt: string | null
  lastError: string | null
  lastErrorAt: string | null
  attempts: number
  nextRetryAt: string | null
  /** Who forwards to it now (host:pid:…), while the lease holds. */
  forwarder: string | null
  /** Whether the secret (webhook key, TLS client key) is in this machine's keychain. */
  hasSecret: boolean
  needsSecret: boolean
  hasCa: boolean
  hasClientCert: boolean
  createdAt: string
}

export interface SinkAddResult {
  sink: SinkDto
  /** The webhook key when Netkeeper made it: shown this once, for the receiver. */
  generatedSecret?: string
  /** What the test before saving found (null: not tried, e.g. UDP). */
  test: SinkTestResult | null
}

export interface SinkTestResult {
  ok: boolean
  sink: string
  /** What was sent and what answered, or why it failed. */
  message: string
  ms: number
}

export interface ForwardStatus {
  headSeq: string
  sinks: SinkDto[]
  /** This installation's app forwards when enabled (settings.json audit.forwardInApp). */
  inApp: { enabled: boolean; running: boolean }
}

export const forwardInAppSchema = z.object({ enabled: z.boolean() }).strict()

export interface ForwardRunReport {
  sinks: { name: string; sent: number; cursorSeq: string; backlog: number; error: string | null; skipped?: string }[]
  seconds: number
}

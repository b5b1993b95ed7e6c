/**
 * Syslog messages of audit rows: RFC 5424 with structured data, or CEF carried in an RFC 5424 message, and
 * the octet-counting frame of RFC 6587 / RFC 5425 for TCP and TLS. Written here rather than taken from a
 * library: the format is a handful of fields, and what matters (the escaping of SD-PARAM values, the
 * character limits of the header fields, CEF's two escaping rules) is easier to get right and test directly
 * than to check in someone else's code.
 */
import { SYSLOG_FACILITIES, type SyslogFacility, type SyslogFormat } from '../../../../shared/audit-forward'

/** The structured-data id of a forwarded row. 32473 is the enterprise number RFC 5612 reserves for examples. */
export const SD_ID = 'netkeeper@32473'
export const SD_ID_ANCHOR = 'netkeeper-anchor@32473'
export const SD_ID_TEST = 'netkeeper-test@32473'

/** A forwarded row: the fields the header and structured data use, and the row's JSON as exports write it. */
export interface ForwardRow {
  seq: string
  createdAt: string
  action: string
  resourceType: string
  resourceId: string | null
  resourceName: string | null
  userId: string | null
  dbUser: string | null
  userIp: string | null
  status: string
  source: string
  requestId: string | null
  prevHash: string
  rowHash: string
  /** The row as JSON, exactly as a JSON Lines export writes it (the verification script reads it). */
  json: string
}

export interface SyslogOptions {
  format: SyslogFormat
  facility: SyslogFacility
  hostname: string
  appName: string
  procId: string
  /** The chain's id (audit_chain_head.chain_id), so a receiver can tell databases apart. */
  chain: string
  version: string
}

/** RFC 5424 §6.3.3: inside PARAM-VALUE, '"', '\' and ']' are escaped with a backslash. */
export function sdEscape(v: string): string {
  return v.replace(/["\\\]]/g, (c) => '\\' + c)
}

/** An SD-ELEMENT; parameters whose value is null or undefined are left out. */
export function sdElement(id: string, params: Record<string, string | null | undefined>): string {
  let s = '[' + id
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) s += ` ${k}="${sdEscape(v)}"`
  return s + ']'
}

/** A header field: printable US-ASCII without spaces, at most `max` characters, or the NILVALUE "-". */
export function headerField(v: string | null | undefined, max: number): string {
  const s = (v ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, max)
  return s || '-'
}

/** Severity by the row's status: a failure is a warning (4), a warning a notice (5), anything else informational (6). */
export function severity(status: string): number {
  return status === 'failure' ? 4 : status === 'warning' ? 5 : 6
}

/** `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG` (MSG without BOM: RFC 5424 MSG-ANY). */
export function rfc5424(o: { facility: SyslogFacility; severity: number; timestamp: string; hostname: string; appName: string; procId: string; msgId: string; sd: string; msg: string }): string {
  const pri = SYSLOG_FACILITIES[o.facility] * 8 + o.severity
  return `<${pri}>1 ${o.timestamp} ${headerField(o.hostname, 255)} ${headerField(o.appName, 48)} ${headerField(o.procId, 128)} ${headerField(o.msgId, 32)} ${o.sd || '-'}${o.msg ? ' ' + o.msg : ''}`
}

/** CEF header fields: '\' and '|' are escaped; line breaks become spaces. */
export function cefHeader(v: string): string {
  return v.replace(/[\\|]/g, (c) => '\\' + c).replace(/[\r\n]+/g, ' ')
}

/** CEF extension values: '\' and '=' are escaped, CR and LF written as \r and \n. */
export function cefValue(v: string): string {
  return v.replace(/[\\=]/g, (c) => '\\' + c).replace(/\r/g, '\\r').replace(/\n/g, '\\n')
}

/** CEF severity (0-10) by status. */
export function cefSeverity(status: string): number {
  return status === 'failure' ? 7 : status === 'warning' ? 5 : 3
}

/** `CEF:0|Netkeeper|Netkeeper|version|signature|name|severity|extension`, the row's fields in the extension. */
export function cefMessage(row: ForwardRow, o: Pick<SyslogOptions, 'version' | 'chain'>): string {
  const ext: [string, string | null][] = [
    ['rt', String(Date.parse(row.createdAt))],
    ['externalId', row.seq],
    ['act', row.action],
    ['outcome', row.status],
    ['suser', row.userId],
    ['src', row.userIp],
    ['cs1Label', 'resourceType'],
    ['cs1', row.resourceType],
    ['cs2Label', 'resourceId'],
    ['cs2', row.resourceId],
    ['cs3Label', 'resourceName'],
    ['cs3', row.resourceName],
    ['cs4Label', 'rowHash'],
    ['cs4', row.rowHash],
    ['cs5Label', 'prevHash'],
    ['cs5', row.prevHash],
    ['cs6Label', 'chain'],
    ['cs6', o.chain],
    ['deviceExternalId', row.requestId],
    ['duser', row.dbUser],
    ['msg', row.json]
  ]
  const extension = ext
    .filter((e): e is [string, string] => e[1] !== null && e[1] !== '')
    .map(([k, v]) => `${k}=${cefValue(v)}`)
    .join(' ')
  const sig = `${row.resourceType}:${row.action}`
  return `CEF:0|Netkeeper|Netkeeper|${cefHeader(o.version)}|${cefHeader(sig)}|${cefHeader(`${row.action} ${row.resourceType}`)}|${cefSeverity(row.status)}|${extension}`
}

/** One audit row as a syslog message, in the sink's format. */
export function rowMessage(row: ForwardRow, o: SyslogOptions): string {
  const base = { facility: o.facility, severity: severity(row.status), timestamp: row.createdAt, hostname: o.hostname, appName: o.appName, procId: o.procId, msgId: 'audit' }
  if (o.format === 'cef') return rfc5424({ ...base, sd: '-', msg: cefMessage(row, o) })
  const sd = sdElement(SD_ID, {
    seq: row.seq,
    chain: o.chain,
    action: row.action,
    resourceType: row.resourceType,
    resourceId: row.resourceId,
    resourceName: row.resourceName,
    userId: row.userId,
    dbUser: row.dbUser,
    userIp: row.userIp,
    status: row.status,
    source: row.source,
    requestId: row.requestId,
    prevHash: row.prevHash,
    rowHash: row.rowHash
  })
  return rfc5424({ ...base, sd, msg: row.json })
}

/** RFC 6587 §3.4.1 / RFC 5425 §4.3 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function octetFrame(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8')
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body])
}

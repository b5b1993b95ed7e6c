/** The syslog and webhook formats of forwarded audit rows (core/audit/forward): escaping, limits, framing, signatures. */
import { describe, expect, it } from 'vitest'
import { cefHeader, cefMessage, cefValue, headerField, octetFrame, rfc5424, rowMessage, sdElement, sdEscape, type ForwardRow } from '../../src/main/core/audit/forward/syslog'
import { parseSinkUrl } from '../../src/main/core/audit/forward/transports'
import { checkWebhookSignature, webhookSignature } from '../../src/main/core/audit/forward/webhook'

const row: ForwardRow = {
  seq: '42',
  createdAt: '2026-12-03T10:00:00.123Z',
  action: 'update',
  resourceType: 'ip_pool',
  resourceId: '7',
  resourceName: 'lab "A" ] \\ net=1|x',
  userId: 'ana',
  dbUser: 'netkeeper_app',
  userIp: '192.0.2.5',
  status: 'failure',
  source: 'ui',
  requestId: 'r-1',
  prevHash: 'aa',
  rowHash: 'bb',
  json: '{"seq":"42"}'
}

describe('RFC 5424', () => {
  it('escapes ", \\ and ] in SD-PARAM values, and nothing else', () => {
    expect(sdEscape('a"b\\c]d[e=f')).toBe('a\\"b\\\\c\\]d[e=f')
    expect(sdElement('x@32473', { a: 'v"]', b: null, c: 'ü' })).toBe('[x@32473 a="v\\"\\]" c="ü"]')
  })
  it('keeps header fields printable ASCII within their limits, "-" when empty', () => {
    expect(headerField('host name\u00e9', 255)).toBe('hostname')
    expect(headerField('', 48)).toBe('-')
    expect(headerField('x'.repeat(60), 48)).toHaveLength(48)
  })
  it('writes PRI from facility and severity, and the row in SD and MSG', () => {
    const m = rowMessage(row, { format: 'rfc5424', facility: 'local0', hostname: 'nk1', appName: 'netkeeper', procId: '99', chain: 'c-1', version: '0.1.0' })
    // local0 (16) * 8 + warning (4) for a failure
    expect(m.startsWith('<132>1 2026-12-03T10:00:00.123Z nk1 netkeeper 99 audit [netkeeper@32473 seq="42" chain="c-1" action="update"')).toBe(true)
    expect(m).toContain('resourceName="lab \\"A\\" \\] \\\\ net=1|x"')
    expect(m.endsWith('rowHash="bb"] {"seq":"42"}')).toBe(true)
    expect(rfc5424({ facility: 'audit', severity: 6, timestamp: 't', hostname: 'h', appName: 'a', procId: '-', msgId: 'm', sd: '', msg: '' })).toBe('<110>1 t h a - m -')
  })
  it('frames by octet count (bytes, not characters)', () => {
    expect(octetFrame('ü1').toString('utf8')).toBe('3 ü1')
  })
})

describe('CEF', () => {
  it('escapes | and \\ in the header, = and \\ and line breaks in extension values', () => {
    expect(cefHeader('a|b\\c')).toBe('a\\|b\\\\c')
    expect(cefValue('a=b\\c\nd\re|f')).toBe('a\\=b\\\\c\\nd\\re|f')
    const c = cefMessage(row, { version: '0.1.0', chain: 'c-1' })
    expect(c.startsWith('CEF:0|Netkeeper|Netkeeper|0.1.0|ip_pool:update|update ip_pool|7|rt=1796292000123 externalId=42 act=update outcome=failure suser=ana src=192.0.2.5')).toBe(true)
    expect(c).toContain('cs3=lab "A" ] \\\\ net\\=1|x')
    const m = rowMessage(row, { format: 'cef', facility: 'local0', hostname: 'nk1', appName: 'netkeeper', procId: '99', chain: 'c-1', version: '0.1.0' })
    expect(m.startsWith('<132>1 2026-12-03T10:00:00.123Z nk1 netkeeper 99 audit - CEF:0|')).toBe(true)
  })
})

describe('sink URLs', () => {
  it('parses syslog and webhook URLs', () => {
    expect(parseSinkUrl('tcp://127.0.0.1:514')).toMatchObject({ transport: 'tcp', host: '127.0.0.1', port: 514 })
    expect(parseSinkUrl('tls://[::1]:6514')).toMatchObject({ transport: 'tls', host: '::1', port: 6514 })
    expect(parseSinkUrl('https://siem.example.com/hook')).toMatchObject({ transport: 'https', port: 443 })
  })
  it('names the field and the reason for bad ones', () => {
    expect(() => parseSinkUrl('not a url')).toThrow(/^url: "not a url" is not a URL/)
    expect(() => parseSinkUrl('ftp://h:21')).toThrow(/^url: the scheme ftp: is not one of/)
    expect(() => parseSinkUrl('tcp://h:70000')).toThrow(/^url: port 70000 is not a port \(1 to 65535\)/)
    expect(() => parseSinkUrl('tcp://h:0')).toThrow(/^url: port 0 is not a port/)
    expect(() => parseSinkUrl('udp://h')).toThrow(/^url: give the port of the syslog receiver/)
    expect(() => parseSinkUrl('tcp://h:514/path')).toThrow(/^url: a syslog sink is tcp:\/\/host:port/)
    expect(() => parseSinkUrl('https://u:p@h/x')).toThrow(/^url: put no user or password/)
  })
})

describe('webhook signatures', () => {
  it('verify with the key, not with another key, not for another body, not when stale', () => {
    const body = '{"rows":[]}'
    const h = webhookSignature('k'.repeat(32), body, 1_800_000_000)
    expect(h).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/)
    expect(checkWebhookSignature('k'.repeat(32), body, h, 1_800_000_010)).toEqual({ ok: true })
    expect(checkWebhookSignature('x'.repeat(32), body, h, 1_800_000_010).reason).toMatch(/wrong key/)
    expect(checkWebhookSignature('k'.repeat(32), body + ' ', h, 1_800_000_010).ok).toBe(false)
    expect(checkWebhookSignature('k'.repeat(32), body, h, 1_800_001_000).reason).toMatch(/away from now/)
    expect(checkWebhookSignature('k'.repeat(32), body, undefined).ok).toBe(false)
  })
})

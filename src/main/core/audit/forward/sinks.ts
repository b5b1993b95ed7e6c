/**
 * The sinks the audit log is forwarded to (audit_sinks, Migration20261212010000_audit_forwarding): add, list,
 * enable, remove and test, each change audited in its own transaction. A sink's configuration is in the
 * database, where every forwarder of it can read it; its secrets (a webhook's HMAC key, a TLS client key)
 * are in this machine's OS keychain, bound to the sink's URL, so they go only where they were saved for.
 */
import crypto from 'node:crypto'
import os from 'node:os'
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../../shared/errors'
import {
  sinkAddSchema,
  type SinkAddInput,
  type SinkAddResult,
  type SinkConfig,
  type SinkDto,
  type SinkKind,
  type SinkTestResult
} from '../../../../shared/audit-forward'
import { requireRole, type RequestContext } from '../../context'
import { BoundSecrets } from '../../credentials/bound'
import type { SecretStore } from '../../credentials/keychain'
import { parse, type Rows } from '../rows'
import { appendAudit, recordFailure } from '../writer'
import { rfc5424, sdElement, SD_ID_TEST } from './syslog'
import { parseSinkUrl, postJson, sendStream, sendUdp, type Endpoint } from './transports'
import { SIGNATURE_HEADER, webhookSignature } from './webhook'

export const SINK_RESOURCE = 'audit_sink'

/** What the keychain holds for a sink: JSON of its secrets. */
export interface SinkSecrets {
  hmacKey?: string
  clientKey?: string
}

export interface SinkRow {
  id: string
  name: string
  kind: SinkKind
  enabled: boolean
  config: SinkConfig
  cursor_seq: string
  sent_count: string
  last_sent_at: Date | null
  last_error: string | null
  last_error_at: Date | null
  attempts: number
  next_retry_at: Date | null
  lease_holder: string | null
  lease_until: Date | null
  created_at: Date
}

export const SINK_COLUMNS = `id, name, kind, enabled, config, cursor_seq::text as cursor_seq, sent_count::text as sent_count, last_sent_at, last_error, last_error_at,
  attempts, next_retry_at, lease_holder, lease_until, created_at`

export const sinkAccount = (id: string): string => `audit-sink:${id}`

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null)

export class SinkStore {
  private readonly bound: BoundSecrets<{ url: string }>

  constructor(
    private readonly knex: Knex,
    private readonly store: SecretStore
  ) {
    this.bound = new BoundSecrets<{ url: string }>(store, ['url'])
  }

  async rows(where = 'true', bindings: Knex.RawBinding[] = []): Promise<SinkRow[]> {
    return (await this.knex.raw<Rows<SinkRow>>(`select ${SINK_COLUMNS} from audit_sinks where ${where} order by name`, bindings)).rows
  }

  async row(name: string): Promise<SinkRow> {
    const r = (await this.rows('name = ?', [name]))[0]
    if (!r) throw new AppError('NOT_FOUND', `name: no audit sink is called ${name} (\`netkeeper audit sink list\`)`, { field: 'name' })
    return r
  }

  /** The sink's secrets from this machine's keychain; null when none are saved here (or for another URL). */
  async secrets(r: Pick<SinkRow, 'id' | 'config'>): Promise<SinkSecrets | null> {
    const l = await this.bound.lookup(sinkAccount(r.id), { url: r.config.url })
    if (!l || !('secret' in l)) return null
    try {
      return JSON.parse(l.secret) as SinkSecrets
    } catch {
      return null
    }
  }

  /** The endpoint to deliver to, with the secrets it needs; an error naming what is missing otherwise. */
  async endpoint(r: SinkRow): Promise<{ ep: Endpoint; hmacKey?: string }> {
    const ep = { ...parseSinkUrl(r.config.url), ca: r.config.ca, serverName: r.config.serverName, clientCert: r.config.clientCert }
    if (r.kind === 'syslog' && !r.config.clientCert) return { ep }
    let s: SinkSecrets | null
    try {
      s = await this.secrets(r)
    } catch (e) {
      throw new AppError('UNAVAILABLE', `secret: the keychain could not be read for sink ${r.name}: ${(e as Error).message}`, { field: 'secret' })
    }
    if (r.kind === 'webhook' && !s?.hmacKey) {
      throw new AppError('UNAVAILABLE', `secret: the HMAC key of webhook ${r.name} is not in this machine's keychain (it was saved on another machine, or removed); remove the sink and add it again with its key`, { field: 'secret' })
    }
    if (r.config.clientCert && !s?.clientKey) throw new AppError('UNAVAILABLE', `clientKey: the TLS client key of sink ${r.name} is not in this machine's keychain`, { field: 'clientKey' })
    return { ep: { ...ep, clientKey: s?.clientKey }, hmacKey: s?.hmacKey }
  }

  async headSeq(): Promise<string> {
    return (await this.knex.raw<Rows<{ s: string }>>(`select last_seq::text as s from audit_chain_head where id = 1`)).rows[0]?.s ?? '0'
  }

  async backlog(cursor: string, head: string): Promise<number> {
    if (BigInt(cursor) >= BigInt(head)) return 0
    return (await this.knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from audit_logs where seq > ? and seq <= ?`, [cursor, head])).rows[0]!.n
  }

  async dto(r: SinkRow, head: string): Promise<SinkDto> {
    const ep = parseSinkUrl(r.config.url)
    const needsSecret = r.kind === 'webhook' || !!r.config.clientCert
    let hasSecret = false
    if (needsSecret) hasSecret = !!(await this.secrets(r).catch(() => null))
    const live = r.lease_holder && r.lease_until && new Date(r.lease_until).getTime() > Date.now()
    return {
      id: r.id,
      name: r.name,
      kind: r.kind,
      transport: ep.transport,
      url: r.config.url,
      format: r.kind === 'syslog' ? (r.config.format ?? 'rfc5424') : null,
      facility: r.kind === 'syslog' ? (r.config.facility ?? 'local0') : null,
      enabled: r.enabled,
      cursorSeq: r.cursor_seq,
      backlog: await this.backlog(r.cursor_seq, head),
      sent: Number(r.sent_count),
      lastSentAt: iso(r.last_sent_at),
      lastError: r.last_error,
      lastErrorAt: iso(r.last_error_at),
      attempts: r.attempts,
      nextRetryAt: iso(r.next_retry_at),
      forwarder: live ? r.lease_holder : null,
      hasSecret,
      needsSecret,
      hasCa: !!r.config.ca,
      hasClientCert: !!r.config.clientCert,
      createdAt: iso(r.created_at)!
    }
  }

  async list(_ctx: RequestContext): Promise<SinkDto[]> {
    const head = await this.headSeq()
    return Promise.all((await this.rows()).map((r) => this.dto(r, head)))
  }

  async add(ctx: RequestContext, input: SinkAddInput): Promise<SinkAddResult> {
    const entry = { action: 'create' as const, resourceType: SINK_RESOURCE, resourceName: (input as { name?: string })?.name ?? null }
    try {
      requireRole(ctx, 'admin', 'adding an audit sink')
      const v = parse(sinkAddSchema, input)
      const ep = parseSinkUrl(v.url)
      const kind: SinkKind = ep.transport === 'http' || ep.transport === 'https' ? 'webhook' : 'syslog'
      const tlsLike = ep.transport === 'tls' || ep.transport === 'https'
      if (kind === 'webhook' && (v.format || v.facility || v.hostname || v.appName)) {
        throw validationError(v.format ? 'format' : v.facility ? 'facility' : v.hostname ? 'hostname' : 'appName', 'is a syslog setting; this sink is a webhook')
      }
      if (kind === 'syslog' && v.secret) throw validationError('secret', 'is the HMAC key of a webhook; a syslog sink has none')
      if (!tlsLike && (v.ca || v.serverName || v.clientCert || v.clientKey)) {
        const f = v.ca ? 'ca' : v.serverName ? 'serverName' : v.clientCert ? 'clientCert' : 'clientKey'
        throw validationError(f, `applies to tls:// and https:// sinks only; ${ep.transport}:// is not encrypted`)
      }
      if (!!v.clientCert !== !!v.clientKey) throw validationError(v.clientCert ? 'clientKey' : 'clientCert', 'a client certificate needs its private key, and the key its certificate')
      if (v.clientCert && v.clientKey) {
        let cert: crypto.X509Certificate
        let key: crypto.KeyObject
        try {
          cert = new crypto.X509Certificate(v.clientCert)
        } catch (e) {
          throw validationError('clientCert', `cannot be read: ${(e as Error).message}`)
        }
        try {
          key = crypto.createPrivateKey(v.clientKey)
        } catch (e) {
          throw validationError('clientKey', `cannot be read (an unencrypted PEM private key): ${(e as Error).message}`)
        }
        if (!cert.checkPrivateKey(key)) throw validationError('clientKey', 'is not the private key of the client certificate')
      }
      if (v.ca) {
        try {
          new crypto.X509Certificate(v.ca)
        } catch (e) {
          throw validationError('ca', `cannot be read: ${(e as Error).message}`)
        }
      }
      const config: SinkConfig = {
        url: v.url.trim(),
        ...(kind === 'syslog' ? { format: v.format ?? 'rfc5424', facility: v.facility ?? 'local0' } : {}),
        ...(v.hostname ? { hostname: v.hostname } : {}),
        ...(v.appName ? { appName: v.appName } : {}),
        ...(v.ca ? { ca: v.ca } : {}),
        ...(v.serverName ? { serverName: v.serverName } : {}),
        ...(v.clientCert ? { clientCert: v.clientCert } : {}),
        ...(v.batchSize ? { batchSize: v.batchSize } : {})
      }
      const generated = kind === 'webhook' && !v.secret ? crypto.randomBytes(32).toString('base64url') : undefined
      const secrets: SinkSecrets = { ...(kind === 'webhook' ? { hmacKey: v.secret ?? generated } : {}), ...(v.clientKey ? { clientKey: v.clientKey } : {}) }
      if ((await this.rows('lower(name) = lower(?)', [v.name])).length) throw new AppError('CONFLICT', `name: an audit sink called ${v.name} exists already`, { field: 'name' })

      // Try it first (UDP cannot be tried: nothing answers a datagram).
      let test: (SinkTestResult & { error?: AppError }) | null = null
      if (v.test !== false && ep.transport !== 'udp') {
        test = await this.deliverTest(v.name, kind, config, { ...ep, ca: config.ca, serverName: config.serverName, clientCert: config.clientCert, clientKey: v.clientKey }, secrets.hmacKey)
        if (!test.ok) throw test.error!
      }
      const id = crypto.randomUUID()
      const needsSecret = Object.keys(secrets).length > 0
      await this.knex.transaction(async (trx) => {
        const head = (await trx.raw<Rows<{ s: string }>>(`select last_seq::text as s from audit_chain_head where id = 1`)).rows[0]!.s
        const start = v.start === undefined || v.start === 'first' ? '0' : v.start === 'now' ? head : v.start
        if (BigInt(start) > BigInt(head)) throw validationError('start', `row ${start} is beyond the chain head (${head})`)
        await trx.raw(`insert into audit_sinks (id, name, kind, enabled, config, cursor_seq) values (?, ?, ?, ?, ?::jsonb, ?)`, [
          id,
          v.name,
          kind,
          v.enabled ?? true,
          JSON.stringify(config),
          start
        ])
        await appendAudit(trx, ctx, { action: 'create', resourceType: SINK_RESOURCE, resourceId: id, resourceName: v.name, details: { after: { ...publicConfig(config), kind, enabled: v.enabled ?? true, startAfterSeq: start, keychainEntry: needsSecret } } })
        // The secret is saved before the commit: when the keychain refuses it, no sink is left without its key.
        if (needsSecret) await this.bound.save(sinkAccount(id), { url: config.url }, JSON.stringify(secrets))
      }).catch(async (e: unknown) => {
        if (needsSecret) await this.bound.delete(sinkAccount(id)).catch(() => undefined)
        throw e
      })
      const sink = await this.dto((await this.rows('id = ?', [id]))[0]!, await this.headSeq())
      return { sink, test: test ? { ok: test.ok, sink: test.sink, message: test.message, ms: test.ms } : null, ...(generated ? { generatedSecret: generated } : {}) }
    } catch (e) {
      await recordFailure(this.knex, ctx, entry, e as Error)
      throw e
    }
  }

  async setEnabled(ctx: RequestContext, name: string, enabled: boolean): Promise<SinkDto> {
    const entry = { action: 'update' as const, resourceType: SINK_RESOURCE, resourceName: name }
    try {
      requireRole(ctx, 'admin', enabled ? 'enabling an audit sink' : 'disabling an audit sink')
      const r = await this.row(name)
      if (r.enabled !== enabled) {
        await this.knex.transaction(async (trx) => {
          await trx.raw(`update audit_sinks set enabled = ?, updated_at = now() where id = ?`, [enabled, r.id])
          await appendAudit(trx, ctx, { action: 'update', resourceType: SINK_RESOURCE, resourceId: r.id, resourceName: r.name, details: { before: { enabled: r.enabled }, after: { enabled } } })
        })
      }
      return this.dto(await this.row(name), await this.headSeq())
    } catch (e) {
      await recordFailure(this.knex, ctx, entry, e as Error)
      throw e
    }
  }

  async remove(ctx: RequestContext, name: string): Promise<{ removed: boolean; backlog: number }> {
    const entry = { action: 'delete' as const, resourceType: SINK_RESOURCE, resourceName: name }
    try {
      requireRole(ctx, 'admin', 'removing an audit sink')
      const r = await this.row(name)
      const backlog = await this.backlog(r.cursor_seq, await this.headSeq())
      await this.knex.transaction(async (trx) => {
        await trx.raw(`delete from audit_sinks where id = ?`, [r.id])
        await appendAudit(trx, ctx, {
          action: 'delete',
          resourceType: SINK_RESOURCE,
          resourceId: r.id,
          resourceName: r.name,
          details: { before: { ...publicConfig(r.config), kind: r.kind, enabled: r.enabled, cursorSeq: r.cursor_seq, sent: Number(r.sent_count), backlog } }
        })
      })
      await this.bound.delete(sinkAccount(r.id)).catch(() => undefined)
      return { removed: true, backlog }
    } catch (e) {
      await recordFailure(this.knex, ctx, entry, e as Error)
      throw e
    }
  }

  /** Sends a test message (no audit row) and says what answered. */
  async test(ctx: RequestContext, name: string): Promise<SinkTestResult> {
    requireRole(ctx, 'operator', 'testing an audit sink')
    const r = await this.row(name)
    let target: { ep: Endpoint; hmacKey?: string }
    const t0 = Date.now()
    try {
      target = await this.endpoint(r)
    } catch (e) {
      return { ok: false, sink: r.name, message: (e as Error).message, ms: Date.now() - t0 }
    }
    const res = await this.deliverTest(r.name, r.kind, r.config, target.ep, target.hmacKey)
    return { ok: res.ok, sink: res.sink, message: res.message, ms: res.ms }
  }

  private async deliverTest(name: string, kind: SinkKind, config: SinkConfig, ep: Endpoint, hmacKey?: string): Promise<SinkTestResult & { error?: AppError }> {
    const t0 = Date.now()
    const at = new Date().toISOString()
    try {
      if (kind === 'webhook') {
        const body = JSON.stringify({ kind: 'netkeeper-audit-test', version: 1, sink: name, sentAt: at, rows: [] })
        const a = await postJson(ep, body, { [SIGNATURE_HEADER]: webhookSignature(hmacKey!, body) })
        return { ok: true, sink: name, message: `${ep.url} answered HTTP ${a.status} to a signed test POST`, ms: Date.now() - t0 }
      }
      const msg = rfc5424({
        facility: config.facility ?? 'local0',
        severity: 6,
        timestamp: at,
        hostname: config.hostname ?? os.hostname(),
        appName: config.appName ?? 'netkeeper',
        procId: String(process.pid),
        msgId: 'test',
        sd: sdElement(SD_ID_TEST, { sink: name }),
        msg: `Netkeeper audit forwarding test for sink ${name}`
      })
      if (ep.transport === 'udp') {
        await sendUdp(ep, [msg])
        return { ok: true, sink: name, message: `a test datagram was sent to udp://${ep.host}:${ep.port} (UDP has no answer: check the receiver's log)`, ms: Date.now() - t0 }
      }
      await sendStream(ep, [msg])
      return { ok: true, sink: name, message: `${ep.transport}://${ep.host}:${ep.port} read a test message and closed cleanly`, ms: Date.now() - t0 }
    } catch (e) {
      const err = e instanceof AppError ? e : new AppError('UNAVAILABLE', `url: ${(e as Error).message}`, { field: 'url' })
      return { ok: false, sink: name, message: err.message, ms: Date.now() - t0, error: err }
    }
  }
}

/** The configuration as the audit log and the UI show it: certificates by fingerprint, not by text. */
export function publicConfig(c: SinkConfig): Record<string, unknown> {
  const fp = (pem: string): string => {
    try {
      return new crypto.X509Certificate(pem).fingerprint256
    } catch {
      return 'unreadable'
    }
  }
  const { ca, clientCert, ...rest } = c
  return { ...rest, ...(ca ? { caFingerprint: fp(ca) } : {}), ...(clientCert ? { clientCertFingerprint: fp(clientCert) } : {}) }
}

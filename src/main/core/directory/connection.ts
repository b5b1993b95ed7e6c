/**
 * One bound LDAP connection, over ldapts, that survives the server going away.
 *
 * What ldapts does not do for us (checked in its source, 8.0.17):
 * - After a dropped socket every ldapts operation silently opens a NEW plain connection, unauthenticated
 *   and without StartTLS. So every call here first checks the socket and, when it is gone, establishes the
 *   connection the way the profile says (TLS or StartTLS, then the bind) before sending anything. The check
 *   and the send happen in the same turn of the event loop, so no socket event can slip in between.
 * - A timeout on one operation destroys the socket and fails every operation in flight on that client.
 *   So long, paged searches get their own connection (`fork()`), and a timeout is reported as UNAVAILABLE.
 * - Reads are retried once on a fresh connection when the old one turns out to be dead. Writes are not
 *   re-sent after they left: the server may have applied them, so the caller hears "outcome unknown".
 *
 * The bind password is kept in memory only, for as long as the connection may need to bind again, and is
 * dropped by close().
 *
 * Transport: a simple bind, and a password change (Password Modify, or a userPassword sent by add or
 * modify), over plain ldap:// without StartTLS to a host that is not this machine (127.0.0.0/8, ::1,
 * localhost) is refused before any socket is opened, unless the profile says `allowInsecure`: the password
 * would cross the network in clear.
 */
import type { EventEmitter } from 'node:events'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import type tls from 'node:tls'
import ipaddr from 'ipaddr.js'
import {
  Client,
  Control,
  ModifyDNRequest,
  PagedResultsControl,
  PresenceFilter,
  SearchEntry,
  SearchRequest,
  StatusCodeParser,
  type Attribute,
  type Change,
  type Entry,
  type Filter,
  type SearchResponse,
  type SearchOptions
} from 'ldapts'
import { AppError } from '../../../shared/errors'
import type { LdapProfile } from '../../../shared/directory'
import { connectionError, isConnectionLost, toDirectoryError } from './errors'

/**
 * ldapts logs every request it sends when DEBUG names it (DEBUG=ldapts, DEBUG=*): it redacts the bind
 * password but not the Password Modify operation's value, which carries the new password. Keep its
 * logger off whatever DEBUG says; everything else DEBUG enables stays on.
 */
function silenceLdaptsDebug(): void {
  const wanted = process.env.DEBUG
  if (!wanted) return
  try {
    const req = createRequire(import.meta.url)
    const debug = createRequire(req.resolve('ldapts'))('debug') as { enable(namespaces: string): void }
    debug.enable(`${wanted},-ldapts,-ldapts:*`)
  } catch {
    console.warn('[directory] DEBUG is set and the ldapts logger could not be silenced: it may print new passwords; unset DEBUG')
  }
}
silenceLdaptsDebug()

export const OID_PASSWORD_MODIFY = '1.3.6.1.4.1.4203.1.11.1'
export const OID_STARTTLS = '1.3.6.1.4.1.1466.20037'
export const OID_PAGED_RESULTS = '1.2.840.113556.1.4.319'
/** LDAP transactions (RFC 5805): Start and End Transaction extended operations, and the control naming the transaction. */
export const OID_TXN_START = '1.3.6.1.1.21.1'
export const OID_TXN_END = '1.3.6.1.1.21.3'
const OID_TXN_SPEC = '1.3.6.1.1.21.2'

/** The Transaction Specification control (RFC 5805 section 2.2): critical, its value the transaction's identifier. */
class TxnSpecControl extends Control {
  constructor(private readonly id: Buffer) {
    super(OID_TXN_SPEC, { critical: true })
  }

  override writeControl(writer: { writeBuffer(b: Buffer, tag: number): void; writeByte(b: number): void }): void {
    // OpenLDAP hands out an empty identifier; the BER writer refuses an empty buffer, so its OCTET STRING is written by hand.
    if (this.id.length) writer.writeBuffer(this.id, 0x04)
    else {
      writer.writeByte(0x04)
      writer.writeByte(0x00)
    }
  }
}

/** The End Transaction request's value: SEQUENCE { commit BOOLEAN DEFAULT TRUE, identifier OCTET STRING }. */
function txnEndValue(id: Buffer, commit: boolean): Buffer {
  const body = Buffer.concat([commit ? Buffer.alloc(0) : Buffer.from([0x01, 0x01, 0x00]), Buffer.from([0x04, id.length]), id])
  return Buffer.concat([Buffer.from([0x30, body.length]), body])
}

/** The parts of ldapts's Client (8.0.17, private there) that entryStream() and moveEntry() use. */
/** A response as the client resolves it (a SearchResponse for a search; the same base class for the others). */
type Reply = SearchResponse

interface ClientInternals {
  isConnected: boolean
  messageParser: EventEmitter
  _connect(): Promise<void>
  _nextMessageId(): number
  _send(req: SearchRequest | ModifyDNRequest): Promise<Reply | undefined>
}

const SINKS = new WeakMap<Client, Map<number, (m: SearchEntry) => void>>()

/**
 * Routes the SearchEntry messages of the searches entryStream() runs on `c` to their own handler instead of
 * ldapts's, which would keep them until the search is done; every other message still goes to ldapts.
 * Installed once per client, by putting a dispatcher in front of ldapts's one 'message' listener.
 */
function entrySinks(c: Client): Map<number, (m: SearchEntry) => void> {
  const known = SINKS.get(c)
  if (known) return known
  const sinks = new Map<number, (m: SearchEntry) => void>()
  const parser = (c as unknown as ClientInternals).messageParser
  const [ldapts, ...more] = parser.listeners('message') as ((m: unknown) => void)[]
  if (!ldapts || more.length) throw new AppError('INTERNAL', 'ldapts changed: its client no longer has exactly one message listener (see connection.ts entrySinks)')
  parser.removeListener('message', ldapts)
  parser.on('message', (m: unknown) => {
    const sink = m instanceof SearchEntry ? sinks.get(m.messageId) : undefined
    if (sink) sink(m as SearchEntry)
    else ldapts(m)
  })
  SINKS.set(c, sinks)
  return sinks
}

export interface ResolvedProfile extends LdapProfile {
  usersDn: string
  groupsDn: string
  idPoolDn: string
}

export interface Credentials {
  dn: string
  password: string
}

export interface RootDse {
  vendor: string | null
  supportedExtension: string[]
  supportedControl: string[]
  namingContexts: string[]
}

/** An entry with case-insensitive attribute access. */
export class LdapEntry {
  private readonly attrs = new Map<string, string[]>()
  constructor(readonly dn: string, raw: Entry) {
    for (const [k, v] of Object.entries(raw)) {
      if (k === 'dn') continue
      const values = (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)))
      this.attrs.set(k.toLowerCase(), values)
    }
  }
  all(name: string): string[] {
    return this.attrs.get(name.toLowerCase()) ?? []
  }
  first(name: string): string | null {
    return this.all(name)[0] ?? null
  }
  int(name: string): number | null {
    const v = this.first(name)
    return v !== null && /^-?\d+$/.test(v) ? Number(v) : null
  }
  has(name: string): boolean {
    return this.all(name).length > 0
  }
  hasClass(name: string): boolean {
    const n = name.toLowerCase()
    return this.all('objectClass').some((c) => c.toLowerCase() === n)
  }
}

export interface SearchSpec {
  scope?: 'base' | 'one' | 'sub'
  filter?: Filter
  attributes?: string[]
  sizeLimit?: number
}

function hostOf(url: string): string {
  const rest = url.replace(/^ldaps?:\/\//i, '').replace(/\/$/, '')
  const bracket = /^\[([^\]]+)\]/.exec(rest)
  if (bracket) return bracket[1]!
  return rest.split(':')[0]!
}

/** 127.0.0.0/8, ::1 (and ::ffff:127.x), or the name localhost: traffic that never leaves this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost') return true
  if (!ipaddr.isValid(h)) return false
  return ipaddr.process(h).range() === 'loopback'
}

/**
 * Why a password must not go over this profile's connection ("a bind", "a password change"), or null when
 * it may: TLS (ldaps:// or StartTLS), a loopback host, or the profile's allowInsecure.
 */
export function insecureTransport(p: Pick<LdapProfile, 'url' | 'startTls' | 'allowInsecure' | 'name'>, what: string): AppError | null {
  if (/^ldaps:/i.test(p.url) || p.startTls || p.allowInsecure) return null
  const host = hostOf(p.url)
  if (isLoopbackHost(host)) return null
  return new AppError(
    'FORBIDDEN',
    `url: ${what} over plain ${p.url} would send the password in clear to ${host}, which is not this machine; ` +
      `use ldaps:// or StartTLS (startTls), or set allowInsecure on profile ${p.name} (a lab only)`,
    { field: 'url', kind: 'insecure' }
  )
}

const carriesPassword = (attrs: Iterable<string>): boolean => [...attrs].some((a) => a.toLowerCase() === 'userpassword')

export class LdapConnection {
  private client?: Client
  private establishing?: Promise<Client>
  private credentials: Credentials | null
  private closed = false
  /** Clients whose socket closed under them (see the StartTLS note in establish). */
  private readonly dead = new WeakSet<Client>()
  private dse?: RootDse
  /** How many times the connection was established again after a drop (for tests and diagnostics). */
  reconnects = 0
  private established = 0

  constructor(
    readonly profile: ResolvedProfile,
    credentials: Credentials | null
  ) {
    this.credentials = credentials ? { ...credentials } : null
  }

  get boundDn(): string | null {
    return this.credentials?.dn ?? null
  }

  get tls(): 'ldaps' | 'starttls' | 'none' {
    return /^ldaps:/i.test(this.profile.url) ? 'ldaps' : this.profile.startTls ? 'starttls' : 'none'
  }

  get where(): string {
    return `LDAP ${this.profile.url} (profile ${this.profile.name})`
  }

  /** Connects and binds now (the first operation would do it anyway); throws the mapped error. */
  async open(): Promise<this> {
    await this.ensure()
    return this
  }

  /** A new connection with the same profile and identity, for long searches. */
  fork(): LdapConnection {
    if (this.closed) throw this.closedError()
    return new LdapConnection(this.profile, this.credentials)
  }

  async close(): Promise<void> {
    this.closed = true
    this.credentials = null
    const c = this.client
    this.client = undefined
    if (c) await c.unbind().catch(() => undefined)
  }

  get isClosed(): boolean {
    return this.closed
  }

  private closedError(): AppError {
    return new AppError('UNAVAILABLE', `${this.where}: the connection is closed (signed out or locked); sign in again`, { kind: 'closed' })
  }

  private tlsOptions(): tls.ConnectionOptions {
    const host = hostOf(this.profile.url)
    let ca: Buffer | undefined
    if (this.profile.caFile) {
      try {
        ca = fs.readFileSync(this.profile.caFile)
      } catch (e) {
        throw new AppError('VALIDATION', `caFile: cannot read ${this.profile.caFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { field: 'caFile' })
      }
    }
    // SNI must not carry an IP address (RFC 6066); the certificate check still uses `host`.
    return { ca, rejectUnauthorized: true, minVersion: 'TLSv1.2', host, ...(net.isIP(host) ? {} : { servername: host }) }
  }

  private async establish(): Promise<Client> {
    const p = this.profile
    // Before the Client exists: a refused bind never opens a socket.
    if (this.credentials) {
      const refused = insecureTransport(p, `a bind as ${this.credentials.dn}`)
      if (refused) throw refused
    }
    const secure = this.tls === 'ldaps'
    const client = new Client({ url: p.url, timeout: p.timeoutMs, connectTimeout: p.connectTimeoutMs, ...(secure ? { tlsOptions: this.tlsOptions() } : {}) })
    try {
      if (p.startTls) {
        try {
          await client.startTLS(this.tlsOptions())
        } catch (e) {
          if (typeof (e as { code?: unknown }).code === 'number') {
            throw new AppError('UNAVAILABLE', `${this.where}: the server refused StartTLS (${(e as Error).message}). Configure TLS on the server or use ldaps://.`, { kind: 'tls' })
          }
          throw e
        }
        // ldapts watches 'close' on the plain socket only and, after StartTLS, compares it with the TLS
        // socket that replaced it, so it never notices the server went away (isConnected stays true and the
        // next operation waits for its timeout). Watch the TLS socket ourselves.
        const sock = (client as unknown as { socket?: NodeJS.EventEmitter }).socket
        sock?.once('close', () => this.dead.add(client))
      }
      if (this.credentials) {
        try {
          await client.bind(this.credentials.dn, this.credentials.password)
        } catch (e) {
          const code = (e as { code?: unknown }).code
          if (typeof code === 'number') throw toDirectoryError(e, `${this.where}: bind as ${this.credentials.dn}`)
          throw e
        }
      } else {
        // ldapts connects lazily; make sure the anonymous connection really exists (and fails here if not).
        await client.search('', { scope: 'base', attributes: ['1.1'], filter: undefined })
      }
    } catch (e) {
      await client.unbind().catch(() => undefined)
      throw e instanceof AppError ? e : connectionError(e, this.where)
    }
    if (this.established++ > 0) this.reconnects++
    this.client = client
    return client
  }

  /** A connected, bound client; establishes (again) when there is none or its socket is gone. */
  private async ensure(): Promise<Client> {
    if (this.closed) throw this.closedError()
    if (this.client?.isConnected && !this.dead.has(this.client)) return this.client
    if (this.client) {
      const dead = this.client
      this.client = undefined
      void dead.unbind().catch(() => undefined)
    }
    if (!this.establishing) {
      this.establishing = this.establish().finally(() => {
        this.establishing = undefined
      })
    }
    const c = await this.establishing
    if (this.closed) throw this.closedError()
    return c
  }

  private drop(c: Client): void {
    if (this.client === c) {
      this.client = undefined
      void c.unbind().catch(() => undefined)
    }
  }

  /** Runs a read; a dead connection is replaced and the read tried once more. */
  async read<T>(what: string, fn: (c: Client) => Promise<T>, field?: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const c = await this.ensure()
      try {
        return await fn(c)
      } catch (e) {
        if (attempt === 0 && isConnectionLost(e) && !this.closed) {
          this.drop(c)
          continue
        }
        if (isConnectionLost(e)) this.drop(c)
        throw toDirectoryError(e, `${this.where}: ${what}`, field)
      }
    }
  }

  /**
   * Runs a write. A connection found dead before sending is replaced first; a write whose connection dies
   * while it is in flight is not re-sent (the server may have applied it) and reports "outcome unknown".
   */
  async write<T>(what: string, fn: (c: Client) => Promise<T>, field?: string): Promise<T> {
    const c = await this.ensure()
    try {
      return await fn(c)
    } catch (e) {
      if (isConnectionLost(e)) {
        this.drop(c)
        throw new AppError(
          'UNAVAILABLE',
          `${this.where}: ${what}: the connection was lost while the change was in flight (${(e as Error).message}); the server may or may not have applied it — reload to check before trying again`,
          { kind: 'outcome-unknown', ...(field ? { field } : {}) }
        )
      }
      throw toDirectoryError(e, `${this.where}: ${what}`, field)
    }
  }

  async search(base: string, spec: SearchSpec, what = `search under ${base}`): Promise<LdapEntry[]> {
    const opts: SearchOptions = { scope: spec.scope ?? 'sub', filter: spec.filter, attributes: spec.attributes, sizeLimit: spec.sizeLimit }
    const r = await this.read(what, (c) => c.search(base, opts))
    return r.searchEntries.map((e) => new LdapEntry(e.dn, e))
  }

  /** Reads one entry by DN; null when it does not exist. */
  async readEntry(dn: string, attributes: string[], what = `read ${dn}`): Promise<LdapEntry | null> {
    try {
      const r = await this.search(dn, { scope: 'base', attributes }, what)
      return r[0] ?? null
    } catch (e) {
      if (e instanceof AppError && e.details?.ldapCode === 32) return null
      throw e
    }
  }

  /**
   * Pages through a search with the RFC 2696 control, lazily: the next page is requested only when the
   * consumer asks for it. Use on a connection of its own (fork()): the server ties the paging cookie to
   * the connection, and a timeout here must not take other operations down.
   */
  async *pages(base: string, spec: SearchSpec, pageSize: number): AsyncGenerator<LdapEntry[]> {
    const c = await this.ensure()
    const gen = c.searchPaginated(base, { scope: spec.scope ?? 'sub', filter: spec.filter, attributes: spec.attributes, paged: { pageSize } })
    for (;;) {
      let step: IteratorResult<{ searchEntries: Entry[] }>
      try {
        step = await gen.next()
      } catch (e) {
        if (isConnectionLost(e)) this.drop(c)
        throw toDirectoryError(e, `${this.where}: paged search under ${base}`)
      }
      if (step.done) return
      yield step.value.searchEntries.map((e) => new LdapEntry(e.dn, e))
    }
  }

  /**
   * A paged search streamed entry by entry, for exports: each entry is handed to `transform` the moment
   * ldapts has parsed it off the socket (values of the attributes named in `buffers`, the binary ones from
   * the schema, stay bytes), and what the transforms returned is yielded in batches as it arrives. So only
   * the compact results of at most one page wait for the consumer, never a page of parsed messages.
   *
   * Why not searchPaginated: ldapts keeps every SearchEntry of a page (its Attribute objects and a Buffer
   * per value, over the socket's chunks) until the page's SearchResultDone, then copies them into plain
   * objects. A page of 1,000 entries lives through several young-generation collections, is promoted, and
   * the old generation fills with dead pages until a full collection: the 50,000-entry export of the
   * benchmark peaked at 240 MB that way (docs/ldap-setup.md#ldif-export-memory).
   *
   * Flow control: the next page is requested only once the consumer has taken every batch of the current
   * one, so a slow consumer (a full disk, a pipe nobody reads) holds at most one page; no request waits
   * unanswered meanwhile, so the client's operation timeout never fires because of the consumer.
   * Use on a connection of its own (fork()): the paging cookie belongs to the connection.
   */
  async *entryStream<T>(base: string, spec: SearchSpec, pageSize: number, buffers: string[], transform: (e: Entry) => T): AsyncGenerator<T[]> {
    const c = await this.ensure()
    const inner = c as unknown as ClientInternals
    const sinks = entrySinks(c)
    const attributes = spec.attributes ?? []
    const filter = spec.filter ?? new PresenceFilter({ attribute: 'objectclass' })
    const paged = new PagedResultsControl({ value: { size: pageSize } })
    const where = `${this.where}: paged search under ${base}`
    for (;;) {
      const req = new SearchRequest({ messageId: inner._nextMessageId(), baseDN: base, scope: spec.scope ?? 'sub', filter, attributes, explicitBufferAttributes: buffers, controls: [paged] })
      let batch: T[] = []
      let transformError: { error: unknown } | null = null
      let outcome: { response?: Reply; error?: unknown } | null = null
      let wake: (() => void) | null = null
      const nudge = (): void => {
        const w = wake
        wake = null
        w?.()
      }
      sinks.set(req.messageId, (m) => {
        if (transformError) return
        try {
          batch.push(transform(m.toObject(attributes, buffers)))
        } catch (e) {
          transformError = { error: e }
        }
        nudge()
      })
      try {
        let sent: Promise<Reply | undefined>
        try {
          if (!inner.isConnected) throw new Error('Socket connection not established')
          sent = inner._send(req)
        } catch (e) {
          this.drop(c)
          throw toDirectoryError(e, where)
        }
        sent.then(
          (response) => {
            outcome = { response }
            nudge()
          },
          (error: unknown) => {
            outcome = { error }
            nudge()
          }
        )
        for (;;) {
          if (batch.length) {
            const out = batch
            batch = []
            yield out
            continue
          }
          if (outcome || transformError) break
          await new Promise<void>((resolve) => (wake = resolve))
        }
      } finally {
        sinks.delete(req.messageId)
      }
      if (transformError) throw (transformError as { error: unknown }).error
      const done = outcome as { response?: Reply; error?: unknown } | null
      if (!done?.response) {
        const e = done?.error ?? new Error('no response')
        if (isConnectionLost(e)) this.drop(c)
        throw toDirectoryError(e, where)
      }
      if (done.response.status !== 0) throw toDirectoryError(StatusCodeParser.parse(done.response), where)
      const answer = done.response.controls?.find((x: Control): x is PagedResultsControl => x instanceof PagedResultsControl)
      const cookie = answer?.value?.cookie
      if (!cookie?.length) return
      paged.value = { size: pageSize, cookie }
    }
  }

  /** Reads one entry raw (binary attributes as bytes); null when it does not exist. */
  async readRaw(dn: string, attributes: string[], buffers: string[]): Promise<Entry | null> {
    try {
      const r = await this.read(`read ${dn}`, (c) => c.search(dn, { scope: 'base', attributes, explicitBufferAttributes: buffers }))
      return r.searchEntries[0] ?? null
    } catch (e) {
      if (e instanceof AppError && e.details?.ldapCode === 32) return null
      throw e
    }
  }

  /** Adds an entry given as attributes (values may be bytes). */
  async addEntry(dn: string, attributes: Attribute[], field?: string): Promise<void> {
    if (carriesPassword(attributes.map((a) => a.type))) this.guardPassword(`a password sent with add ${dn}`)
    await this.write(`add ${dn}`, (c) => c.add(dn, attributes), field)
  }

  /**
   * A modify DN with the LDIF's own choices: keep or delete the old RDN value, and an optional new parent.
   * ldapts's modifyDN always deletes the old RDN, so the request is sent through its message layer.
   */
  async moveEntry(dn: string, newRdn: string, deleteOldRdn: boolean, newSuperior: string | null, field?: string): Promise<void> {
    await this.write(
      `rename ${dn}`,
      async (c) => {
        const inner = c as unknown as ClientInternals
        if (!inner.isConnected) await inner._connect()
        const req = new ModifyDNRequest({ messageId: inner._nextMessageId(), dn, deleteOldRdn, newRdn, ...(newSuperior ? { newSuperior } : {}) })
        const result = await inner._send(req)
        if (result?.status !== 0) throw StatusCodeParser.parse(result as never)
      },
      field
    )
  }

  /** Refuses to send a password over this connection when its transport does not allow it (see the module comment). */
  private guardPassword(what: string): void {
    const refused = insecureTransport(this.profile, what)
    if (refused) throw refused
  }

  async add(dn: string, attributes: Record<string, string | string[]>, field?: string): Promise<void> {
    if (carriesPassword(Object.keys(attributes))) this.guardPassword(`a password sent with add ${dn}`)
    await this.write(`add ${dn}`, (c) => c.add(dn, attributes), field)
  }

  async modify(dn: string, changes: Change[], field?: string): Promise<void> {
    if (carriesPassword(changes.map((c) => c.modification.type))) this.guardPassword(`a password change of ${dn}`)
    await this.write(`modify ${dn}`, (c) => c.modify(dn, changes), field)
  }

  /** Renames within the same parent: `newRdn` is one escaped RDN (no comma), so ldapts sends no newSuperior. */
  async rename(dn: string, newRdn: string, field?: string): Promise<void> {
    if (/(^|[^\\]),/.test(newRdn)) throw new AppError('INTERNAL', 'rename: the new RDN must be a single RDN')
    await this.write(`rename ${dn}`, (c) => c.modifyDN(dn, newRdn), field)
  }

  async del(dn: string, field?: string): Promise<void> {
    await this.write(`delete ${dn}`, (c) => c.del(dn), field)
  }

  async exop(oid: string, value: Buffer, what: string, field?: string): Promise<void> {
    if (oid === OID_PASSWORD_MODIFY) this.guardPassword(`a password change (${what})`)
    await this.write(what, (c) => c.exop(oid, value), field)
  }

  /** Whether the server offers LDAP transactions (RFC 5805; OpenLDAP 2.5+ on back-mdb). */
  async supportsTransactions(): Promise<boolean> {
    const dse = await this.rootDse()
    return dse.supportedExtension.includes(OID_TXN_START) && dse.supportedExtension.includes(OID_TXN_END)
  }

  /**
   * Adds the entries in one LDAP transaction (RFC 5805): the server queues the adds and applies them together
   * at End Transaction, in one database commit, so they are all written or none is. That is what makes a bulk
   * import fast on a durable server: slapd's back-mdb syncs each commit to disk (about 10 ms here), so one add
   * per commit tops out near 100 a second, where 100 adds per commit go about ten times faster.
   * One transaction at a time per connection: give each concurrent caller a connection of its own (fork()).
   * Throws the mapped error of the first refusal (the server's result code); nothing of the batch is written then,
   * except when the connection is lost during End Transaction (outcome unknown, as for any write).
   */
  async addAll(entries: { dn: string; attributes: Attribute[] }[], field?: string): Promise<void> {
    if (!entries.length) return
    if (entries.some((e) => carriesPassword(e.attributes.map((a) => a.type)))) this.guardPassword(`passwords sent with ${entries.length} adds`)
    const id = Buffer.from((await this.write('start an LDAP transaction', (c) => c.exop(OID_TXN_START))).value ?? '', 'latin1')
    const ctl = new TxnSpecControl(id)
    const queued = await this.write(`queue ${entries.length} adds`, (c) => Promise.allSettled(entries.map((e) => c.add(e.dn, e.attributes, ctl))), field)
    const refused = queued.findIndex((q) => q.status === 'rejected')
    if (refused >= 0) {
      await this.write('abort the LDAP transaction', (c) => c.exop(OID_TXN_END, txnEndValue(id, false))).catch(() => undefined)
      throw toDirectoryError((queued[refused] as PromiseRejectedResult).reason, `${this.where}: add ${entries[refused]!.dn}`, field)
    }
    await this.write(`add ${entries.length} entries in one transaction (${entries[0]!.dn} ...)`, (c) => c.exop(OID_TXN_END, txnEndValue(id, true)), field)
  }

  async rootDse(): Promise<RootDse> {
    if (this.dse) return this.dse
    const r = await this.search('', { scope: 'base', attributes: ['vendorName', 'vendorVersion', 'supportedExtension', 'supportedControl', 'namingContexts'] }, 'read the root DSE')
    const e = r[0]
    this.dse = {
      vendor: e ? [e.first('vendorName'), e.first('vendorVersion')].filter(Boolean).join(' ') || null : null,
      supportedExtension: e?.all('supportedExtension') ?? [],
      supportedControl: e?.all('supportedControl') ?? [],
      namingContexts: e?.all('namingContexts') ?? []
    }
    return this.dse
  }
}

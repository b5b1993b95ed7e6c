/**
 * IPAM: pools and the addresses in them.
 *
 * Every change runs as validate -> authorize -> one transaction {lock the pool row, change, audit row} ->
 * reply. The pool's row lock (SELECT ... FOR UPDATE) serialises writers of one pool and never blocks
 * another pool; the unique constraint on ip_address is the backstop. Free space comes from
 * ip_free_ranges, so finding the next free address is one index probe however full the pool is.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { cellsMap, type MapRow } from './map'
import { AppError, validationError } from '../../../shared/errors'
import {
  allocateSchema,
  allocationUpdateSchema,
  poolCreateSchema,
  poolListSchema,
  poolUpdateSchema,
  searchSchema,
  type AllocateInput,
  type AllocationDto,
  type AllocationUpdateInput,
  type IpamStats,
  type Page,
  type PoolCreateInput,
  type PoolDeleteResult,
  type PoolDto,
  type PoolListInput,
  type PoolRef,
  type PoolUpdateInput,
  type PoolMap,
  type SearchInput,
  type Utilization
} from '../../../shared/ipam'
import { describeIssue } from '../../../shared/schemas'
import { bigIntToIp, cidrLast, normalizeHostname, normalizeMac, parseCidr, parseDnsServers, parseIp, unusableReason, usableRange, type ParsedCidr } from '../../../shared/net'
import type { z } from 'zod'
import { appendAudit, appendAudits, auditBody, recordFailure, type AuditEntry } from '../audit/writer'
import { canonicalBody } from '../audit/canonical'
import { hasRole, requireRole, type RequestContext } from '../context'
import { toAppError } from '../db/errors'
import { giveAddress, rangeHolding, rebuildFreeRanges, takeAddress } from './free-ranges'

type Rows<T> = { rows: T[] }

interface PoolRow {
  id: number
  name: string
  description: string | null
  network: string
  gateway: string | null
  dns_servers: string[] | null
  vlan_id: number | null
  site: string | null
  environment: string | null
  is_active: boolean
  created_at: Date
  updated_at: Date
  created_by: string | null
}

interface AllocRow {
  id: number
  pool_id: number
  pool_name: string
  ip: string
  mac: string | null
  hostname: string | null
  owner: string | null
  purpose: string | null
  description: string | null
  status: AllocationDto['status']
  dns_managed: boolean
  dhcp_managed: boolean
  reserved_until: Date | null
  expired: boolean
  created_at: Date
  updated_at: Date
  allocated_by: string | null
  version: number
}

const POOL_COLUMNS = `p.id, p.name, p.description, p.network::text as network, host(p.gateway) as gateway, p.vlan_id, p.site,
  p.environment, p.is_active, p.created_at, p.updated_at, p.created_by,
  array(select host(d.ip) from unnest(p.dns_servers) with ordinality as d(ip, n) order by d.n) as dns_servers`

/** A list of canonical addresses as a PostgreSQL array literal (no quoting needed); null for none. */
const inetArrayLiteral = (ips: string[]): string | null => (ips.length ? `{${ips.join(',')}}` : null)

const ALLOC_FIELDS = `a.id, a.pool_id, host(a.ip_address) as ip, a.mac_address::text as mac, a.hostname, a.owner,
  a.purpose, a.description, a.status, a.dns_managed, a.dhcp_managed, a.reserved_until,
  (a.status = 'reserved' and a.reserved_until is not null and a.reserved_until <= now()) as expired,
  a.created_at, a.updated_at, a.allocated_by, a.version`
const ALLOC_COLUMNS = `${ALLOC_FIELDS}, p.name as pool_name`

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString())

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {})
  if (!r.success) {
    const { field, reason } = describeIssue(r.error)
    throw validationError(field, reason)
  }
  return r.data
}

function toAllocationDto(r: AllocRow): AllocationDto {
  return {
    id: r.id,
    poolId: r.pool_id,
    poolName: r.pool_name,
    ip: r.ip,
    mac: r.mac,
    hostname: r.hostname,
    owner: r.owner,
    purpose: r.purpose,
    description: r.description,
    status: r.status,
    dnsManaged: r.dns_managed,
    dhcpManaged: r.dhcp_managed,
    reservedUntil: iso(r.reserved_until),
    expired: r.expired,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    allocatedBy: r.allocated_by,
    version: r.version
  }
}

/** The audit snapshot of an allocation: the fields a person cares about, no bookkeeping. */
function allocSnapshot(a: AllocationDto): Record<string, unknown> {
  return {
    pool: a.poolName,
    ip: a.ip,
    status: a.status,
    hostname: a.hostname,
    mac: a.mac,
    owner: a.owner,
    purpose: a.purpose,
    description: a.description,
    dnsManaged: a.dnsManaged,
    dhcpManaged: a.dhcpManaged,
    reservedUntil: a.reservedUntil,
    allocatedBy: a.allocatedBy
  }
}

function poolSnapshot(p: PoolDto): Record<string, unknown> {
  return {
    name: p.name,
    network: p.network,
    gateway: p.gateway,
    dnsServers: p.dnsServers,
    vlanId: p.vlanId,
    site: p.site,
    environment: p.environment,
    description: p.description,
    isActive: p.isActive
  }
}

/** Fields of `after` that differ from `before`; empty when nothing changed. */
function changedKeys(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  return Object.keys(after).filter((k) => JSON.stringify(before[k] ?? null) !== JSON.stringify(after[k] ?? null))
}

function parseUntil(v: string | null | undefined, field = 'until'): Date | null {
  if (v === undefined || v === null || v === '') return null
  const d = new Date(v)
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(v)) throw validationError(field, `"${v}" is not an ISO-8601 time (e.g. 2026-12-31T18:00:00Z)`)
  return d
}

function utilization(network: string, gateway: string | null, counts: { allocated: number; reserved: number; blocked: number }): Utilization {
  const c = parseCidr(network)
  const range = usableRange(c)
  let usable = range.count
  if (gateway) {
    const g = parseIp(gateway).value
    if (g >= range.first && g <= range.last) usable -= 1n
  }
  const used = BigInt(counts.allocated + counts.reserved + counts.blocked)
  const free = usable > used ? usable - used : 0n
  // Two-decimal percentage without losing precision on IPv6-sized numbers.
  const percent = usable === 0n ? 0 : Number((used * 10000n) / usable) / 100
  return { usable: usable.toString(), ...counts, free: free.toString(), percent }
}

/** Validates and normalises an allocation request (shared by the fast and the general path). */
function prepareAllocation(input: AllocateInput) {
  const v = parse(allocateSchema, input)
  if (v.ip && v.next) throw validationError('ip', 'give either an address or next, not both')
  if (!v.ip && !v.next) throw validationError('ip', 'give an address, or ask for the next free one')
  if (v.ip && v.count !== undefined && v.count !== 1) throw validationError('count', 'only applies to next-free requests')
  const until = parseUntil(v.until)
  if (until && v.status !== 'reserved') throw validationError('until', 'only reservations can expire')
  if (until && until.getTime() <= Date.now()) throw validationError('until', 'is in the past')
  const fields = {
    hostname: v.hostname ? normalizeHostname(v.hostname) : null,
    mac: v.mac ? normalizeMac(v.mac) : null,
    owner: v.owner || null,
    purpose: v.purpose || null,
    description: v.description || null,
    dnsManaged: v.dnsManaged ?? false,
    dhcpManaged: v.dhcpManaged ?? false
  }
  return { v, until, fields }
}

/**
 * Placeholders for the row id and address in the audit body and details serialised before the rows exist
 * (see ipam_allocate_next). They hold a control character, which validated input can never contain.
 */
const ID_PLACEHOLDER = '\u0001netkeeper:id\u0001'
const IP_PLACEHOLDER = '\u0001netkeeper:ip\u0001'
const POOL_PLACEHOLDER = '\u0001netkeeper:pool\u0001'

/**
 * Extra work a caller needs in the change's own transaction (the offline replay records the edit's
 * idempotency key there, so the key and the change commit together or not at all). Called after the change
 * and its audit row, before commit, with the method's result; throwing rolls the whole change back.
 */
export type TransactionHook = (trx: Knex.Transaction, result: unknown) => Promise<void>

/** The offline replay's record of an edit (offline/replay.ts), for the one-statement next-free path. */
export interface ReplayRecord {
  /** The idempotency key; the statement raises NK002 (AppError CONFLICT, reason 'already-applied') if it is taken. */
  key: string
  operation: string
  actor: string
  queuedAt: string
}

/** The locked pool row, as a before-change check sees it (updatedAt in ISO-8601, as in PoolDto). */
export interface LockedPool {
  id: number
  name: string
  updatedAt: string
}

export interface MutationOptions {
  inTransaction?: TransactionHook
  /**
   * With inTransaction, lets next-free allocation keep its one-statement fast path: the statement records
   * the key itself (ipam_allocate_next_keyed) and the hook is not called; when the general path has to
   * run instead, the hook is. Like every replayed change it commits without waiting for the WAL flush
   * (synchronous_commit off): the replayer confirms durability before it relies on the change.
   */
  replay?: ReplayRecord
  /**
   * Pool update and delete: called in the change's transaction with the pool row locked (FOR UPDATE),
   * before anything changes; throwing refuses the change (the offline replay's staleness check).
   */
  beforeChange?: (trx: Knex.Transaction, pool: LockedPool) => Promise<void>
}

type NextOut = { outcome: string; pool_id: number | null; pool_name: string | null; id: number | null; ip: string | null; created_at: Date | null; updated_at: Date | null; version: number | null }

/** The casts of ipam_allocate_next_keyed's arguments, in order (shared by the bound and the literal form). */
const NEXT_CASTS = [
  '', '', '', '', '::macaddr', '', '', '', '', '', '', '::timestamptz', '',
  '::timestamptz', '', '::inet', '', '', '',
  '', '', '', '', '', '', '',
  '::uuid', '', '', '::timestamptz', ''
]

/** What a pg connection from knex's pool offers here (a multi-statement query resolves to one result per statement). */
interface PgConnection {
  query(text: string): Promise<{ rows: unknown[] } | { rows: unknown[] }[]>
}

/** A SQL literal for a run's multi-statement query (no bind parameters there): PostgreSQL's own escaping rules. */
function sqlLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`not an integer: ${v}`)
    return String(v)
  }
  const text = String(v)
  // As libpq's PQescapeLiteral: quotes doubled; with a backslash, the E'' form and backslashes doubled, so
  // the text reads the same whatever standard_conforming_strings says.
  const quoted = `'${text.replace(/'/g, "''").replace(/\\/g, '\\\\')}'`
  return text.includes('\\') ? `E${quoted}` : quoted
}

/**
 * One call of ipam_allocate_next_keyed: the audit body and details serialised once, with placeholders for the
 * row id, the address and the pool's name (the server fills in the name of the pool it locked, so nothing
 * reads the pool beforehand). A replayed edit commits without waiting for the WAL flush: set_config(..., true)
 * lasts until the end of the call's own transaction; the replayer confirms durability before relying on it.
 */
function nextCall(ctx: RequestContext, { v, until, fields }: ReturnType<typeof prepareAllocation>, operation: string, replay: ReplayRecord | undefined, strict: boolean) {
  const ref = String(v.pool).trim()
  const byId = typeof v.pool === 'number' || /^\d+$/.test(ref)
  const want = v.count ?? 1
  const createdAt = new Date().toISOString()
  const snapshot = {
    pool: POOL_PLACEHOLDER,
    ip: IP_PLACEHOLDER,
    status: v.status,
    hostname: fields.hostname,
    mac: fields.mac,
    owner: fields.owner,
    purpose: fields.purpose,
    description: fields.description,
    dnsManaged: fields.dnsManaged,
    dhcpManaged: fields.dhcpManaged,
    reservedUntil: until ? until.toISOString() : null,
    allocatedBy: ctx.actor
  }
  const details = { after: snapshot, context: { operation, pool: POOL_PLACEHOLDER, mode: 'next' } }
  const body = auditBody(ctx, { action: 'create', resourceType: 'ip_allocation', resourceId: ID_PLACEHOLDER, resourceName: IP_PLACEHOLDER, details })
  const params = [
    byId ? Number(ref) : null,
    ref,
    want,
    fields.hostname,
    fields.mac,
    fields.owner,
    fields.purpose,
    fields.description,
    v.status,
    fields.dnsManaged,
    fields.dhcpManaged,
    until ? until.toISOString() : null,
    ctx.actor,
    createdAt,
    body.userId,
    body.userIp,
    body.userAgent,
    body.requestId,
    body.source,
    'create',
    'ip_allocation',
    canonicalBody(body),
    JSON.stringify(body.details),
    JSON.stringify(ID_PLACEHOLDER),
    JSON.stringify(IP_PLACEHOLDER),
    JSON.stringify(POOL_PLACEHOLDER),
    replay?.key ?? null,
    replay?.operation ?? null,
    replay?.actor ?? null,
    replay?.queuedAt ?? null,
    strict
  ]
  const asyncCommit = replay ? `set_config('synchronous_commit', 'off', true) as async_commit, ` : ''
  return { ref, want, params, sql: (args: string) => `select ${asyncCommit}f.* from ipam_allocate_next_keyed(${args}) f` }
}

function nextDtos(rows: NextOut[], ctx: RequestContext, { v, until, fields }: ReturnType<typeof prepareAllocation>): AllocationDto[] {
  return rows.map((r) =>
    toAllocationDto({
      id: r.id!,
      pool_id: r.pool_id!,
      pool_name: r.pool_name!,
      ip: r.ip!,
      mac: fields.mac,
      hostname: fields.hostname,
      owner: fields.owner,
      purpose: fields.purpose,
      description: fields.description,
      status: v.status,
      dns_managed: fields.dnsManaged,
      dhcp_managed: fields.dhcpManaged,
      reserved_until: until,
      expired: false,
      created_at: r.created_at!,
      updated_at: r.updated_at!,
      allocated_by: ctx.actor,
      version: r.version!
    })
  )
}

export class IpamService {
  constructor(private readonly knex: Knex) {}

  // ---------------------------------------------------------------- helpers

  /** Runs a change in one transaction; a refusal is audited as a failure and rethrown as an AppError. */
  private async mutate<T>(ctx: RequestContext, failure: AuditEntry, fn: (trx: Knex.Transaction) => Promise<T>, hook?: TransactionHook): Promise<T> {
    try {
      return await this.knex.transaction(
        hook
          ? async (trx) => {
              const result = await fn(trx)
              await hook(trx, result)
              return result
            }
          : fn
      )
    } catch (e) {
      const err = toAppError(e)
      if (err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE') {
        await recordFailure(this.knex, ctx, failure, err)
      }
      throw err
    }
  }

  private async authorize(ctx: RequestContext, role: 'operator' | 'admin', what: string, entry: AuditEntry): Promise<void> {
    try {
      requireRole(ctx, role, what)
    } catch (e) {
      await recordFailure(this.knex, ctx, { ...entry, action: 'authorize' }, e as AppError)
      throw e
    }
  }

  private async findPoolRow(q: Knex | Knex.Transaction, ref: PoolRef, lock: boolean): Promise<PoolRow> {
    const byId = typeof ref === 'number' || /^\d+$/.test(String(ref))
    const r = await q.raw<Rows<PoolRow>>(
      `select ${POOL_COLUMNS} from ip_pools p where ${byId ? 'p.id = ?' : 'p.name = ?'} ${lock ? 'for update' : ''}`,
      [byId ? Number(ref) : String(ref).trim()]
    )
    // A pool may also be named with digits only: fall back to the name.
    if (!r.rows[0] && byId) {
      const byName = await q.raw<Rows<PoolRow>>(`select ${POOL_COLUMNS} from ip_pools p where p.name = ? ${lock ? 'for update' : ''}`, [String(ref)])
      if (byName.rows[0]) return byName.rows[0]
    }
    if (!r.rows[0]) throw new AppError('NOT_FOUND', `pool: no pool named "${ref}"`, { field: 'pool' })
    return r.rows[0]
  }

  private async counts(q: Knex | Knex.Transaction, ids: number[]): Promise<Map<number, { allocated: number; reserved: number; blocked: number }>> {
    const m = new Map<number, { allocated: number; reserved: number; blocked: number }>()
    if (!ids.length) return m
    const r = await q.raw<Rows<{ pool_id: number; allocated: number; reserved: number; blocked: number }>>(
      `select pool_id,
              count(*) filter (where status = 'allocated')::int as allocated,
              count(*) filter (where status = 'reserved' and (reserved_until is null or reserved_until > now()))::int as reserved,
              count(*) filter (where status = 'blocked')::int as blocked
         from ip_allocations where pool_id = any(?::int[]) group by pool_id`,
      [ids]
    )
    for (const row of r.rows) m.set(row.pool_id, { allocated: row.allocated, reserved: row.reserved, blocked: row.blocked })
    return m
  }

  private async toPoolDtos(q: Knex | Knex.Transaction, rows: PoolRow[]): Promise<PoolDto[]> {
    const counts = await this.counts(
      q,
      rows.map((r) => r.id)
    )
    return rows.map((r) => {
      const c = parseCidr(r.network)
      return {
        id: r.id,
        name: r.name,
        description: r.description,
        network: c.text,
        family: c.family,
        prefix: c.prefix,
        gateway: r.gateway,
        dnsServers: r.dns_servers ?? [],
        vlanId: r.vlan_id,
        site: r.site,
        environment: r.environment,
        isActive: r.is_active,
        createdAt: iso(r.created_at)!,
        updatedAt: iso(r.updated_at)!,
        createdBy: r.created_by,
        utilization: utilization(r.network, r.gateway, counts.get(r.id) ?? { allocated: 0, reserved: 0, blocked: 0 })
      }
    })
  }

  private async poolDto(q: Knex | Knex.Transaction, row: PoolRow): Promise<PoolDto> {
    return (await this.toPoolDtos(q, [row]))[0]!
  }

  private async allocationByIp(q: Knex | Knex.Transaction, ip: string, lock = false): Promise<AllocRow | undefined> {
    const r = await q.raw<Rows<AllocRow>>(
      `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where a.ip_address = ?::inet ${lock ? 'for update of a' : ''}`,
      [ip]
    )
    return r.rows[0]
  }

  /** Finds the pool with the given network overlapping `network`, if any (other than `exceptId`). */
  private async overlapping(q: Knex | Knex.Transaction, network: string, exceptId?: number): Promise<{ name: string; network: string } | undefined> {
    const r = await q.raw<Rows<{ name: string; network: string }>>(
      `select name, network::text as network from ip_pools where network && ?::cidr and id <> ? limit 1`,
      [network, exceptId ?? -1]
    )
    return r.rows[0]
  }

  /** Checks a gateway against its network; returns the canonical text. */
  private checkGateway(net: ParsedCidr, gateway: string | null | undefined): string | null {
    if (gateway === undefined || gateway === null || gateway === '') return null
    const g = parseIp(gateway, 'gateway')
    if (g.family !== net.family) throw validationError('gateway', `${g.text} is IPv${g.family} but the network ${net.text} is IPv${net.family}`)
    const why = unusableReason(net, g)
    if (why) throw validationError('gateway', why)
    return g.text
  }

  // ---------------------------------------------------------------- pools

  async createPool(ctx: RequestContext, input: PoolCreateInput, opts: MutationOptions = {}): Promise<PoolDto> {
    const entry: AuditEntry = { action: 'create', resourceType: 'ip_pool', resourceName: (input as { name?: string })?.name ?? null, details: { after: input } }
    await this.authorize(ctx, 'admin', 'creating a pool', entry)
    return this.mutate(ctx, entry, async (trx) => {
      const v = parse(poolCreateSchema, input)
      const net = parseCidr(v.network, 'network')
      const gateway = this.checkGateway(net, v.gateway)
      const dns = parseDnsServers(v.dnsServers ?? [])
      const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_pools where name = ?`, [v.name])
      if (clash.rows[0]) throw new AppError('CONFLICT', `name: a pool named "${v.name}" already exists`, { field: 'name' })
      const over = await this.overlapping(trx, net.text)
      if (over) throw new AppError('CONFLICT', `network: ${net.text} overlaps pool "${over.name}" (${over.network})`, { field: 'network', pool: over.name })
      const ins = await trx.raw<Rows<PoolRow>>(
        `insert into ip_pools as p (name, description, network, gateway, dns_servers, vlan_id, site, environment, is_active, created_by)
         values (?, ?, ?::cidr, ?::inet, ?::inet[], ?, ?, ?, ?, ?) returning ${POOL_COLUMNS}`,
        [v.name, v.description ?? null, net.text, gateway, inetArrayLiteral(dns), v.vlanId ?? null, v.site || null, v.environment || null, v.isActive ?? true, ctx.actor]
      )
      const row = ins.rows[0]!
      await rebuildFreeRanges(trx, row.id)
      const dto = await this.poolDto(trx, row)
      await appendAudit(trx, ctx, { action: 'create', resourceType: 'ip_pool', resourceId: row.id, resourceName: row.name, details: { after: poolSnapshot(dto) } })
      return dto
    }, opts.inTransaction)
  }

  async getPool(_ctx: RequestContext, ref: PoolRef): Promise<PoolDto> {
    return this.poolDto(this.knex, await this.findPoolRow(this.knex, ref, false))
  }

  async listPools(_ctx: RequestContext, input: PoolListInput = {}): Promise<Page<PoolDto>> {
    const v = parse(poolListSchema, input)
    const where: string[] = []
    const b: Knex.Value[] = []
    if (v.site) {
      where.push('p.site = ?')
      b.push(v.site)
    }
    if (v.environment) {
      where.push('p.environment = ?')
      b.push(v.environment)
    }
    if (v.active !== undefined) {
      where.push('p.is_active = ?')
      b.push(v.active)
    }
    if (v.vlanId !== undefined) {
      where.push('p.vlan_id = ?')
      b.push(v.vlanId)
    }
    if (v.search) {
      const like = `%${v.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
      let ipClause = ''
      try {
        const ip = parseIp(v.search)
        ipClause = ` or p.network >>= ?::inet`
        b.push(like, like, like, like, ip.text)
      } catch {
        b.push(like, like, like, like)
      }
      where.push(`(p.name ilike ? or p.description ilike ? or p.site ilike ? or p.network::text like ?${ipClause})`)
    }
    const whereSql = where.length ? `where ${where.join(' and ')}` : ''
    const dir = v.order === 'desc' ? 'desc' : 'asc'
    const usedExpr = `(select count(*) from ip_allocations a where a.pool_id = p.id and (a.status in ('allocated', 'blocked')
                        or (a.status = 'reserved' and (a.reserved_until is null or a.reserved_until > now()))))`
    const sizeExpr = `power(2::numeric, (case family(p.network) when 4 then 32 else 128 end) - masklen(p.network))`
    const orderSql = {
      name: `p.name ${dir}`,
      network: `p.network ${dir}`,
      site: `p.site ${dir} nulls last, p.name`,
      environment: `p.environment ${dir} nulls last, p.name`,
      vlan: `p.vlan_id ${dir} nulls last, p.name`,
      created: `p.created_at ${dir}, p.id ${dir}`,
      // Sorting by utilization has to count every pool's rows; the other sorts count only the page's.
      utilization: `${usedExpr}::numeric / greatest(${sizeExpr}, 1) ${dir}, p.name`
    }[v.sort]
    const total = await this.knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_pools p ${whereSql}`, b)
    const rows = await this.knex.raw<Rows<PoolRow>>(`select ${POOL_COLUMNS} from ip_pools p ${whereSql} order by ${orderSql} limit ? offset ?`, [
      ...b,
      v.pageSize,
      (v.page - 1) * v.pageSize
    ])
    return { items: await this.toPoolDtos(this.knex, rows.rows), page: v.page, pageSize: v.pageSize, total: total.rows[0]!.n }
  }

  async updatePool(ctx: RequestContext, ref: PoolRef, input: PoolUpdateInput, opts: MutationOptions = {}): Promise<PoolDto> {
    const entry: AuditEntry = { action: 'update', resourceType: 'ip_pool', resourceName: String(ref), details: { after: input } }
    await this.authorize(ctx, 'admin', 'changing a pool', entry)
    return this.mutate(ctx, entry, async (trx) => {
      const v = parse(poolUpdateSchema, input)
      const row = await this.findPoolRow(trx, ref, true)
      entry.resourceId = row.id
      entry.resourceName = row.name
      await opts.beforeChange?.(trx, { id: row.id, name: row.name, updatedAt: iso(row.updated_at)! })
      const before = await this.poolDto(trx, row)
      const net = v.network !== undefined ? parseCidr(v.network, 'network') : parseCidr(row.network)
      const gateway = v.gateway !== undefined ? this.checkGateway(net, v.gateway) : row.gateway ? this.checkGateway(net, row.gateway) : null
      const dns = v.dnsServers !== undefined ? parseDnsServers(v.dnsServers ?? []) : (row.dns_servers ?? [])
      const name = v.name ?? row.name
      if (name !== row.name) {
        const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_pools where name = ? and id <> ?`, [name, row.id])
        if (clash.rows[0]) throw new AppError('CONFLICT', `name: a pool named "${name}" already exists`, { field: 'name' })
      }
      const networkChanged = net.text !== parseCidr(row.network).text
      if (networkChanged) {
        const over = await this.overlapping(trx, net.text, row.id)
        if (over) throw new AppError('CONFLICT', `network: ${net.text} overlaps pool "${over.name}" (${over.network})`, { field: 'network', pool: over.name })
        // Every allocation must still fit, and not land on the new network or broadcast address.
        const misfit = await trx.raw<Rows<{ ip: string; hostname: string | null }>>(
          `select host(ip_address) as ip, hostname from ip_allocations where pool_id = ? and status <> 'available' and not (ip_address <<= ?::cidr)
           order by ip_address limit 1`,
          [row.id, net.text]
        )
        const m = misfit.rows[0]
        if (m) throw validationError('network', `${net.text} would leave out ${m.ip}${m.hostname ? ` (${m.hostname})` : ''}; release or move it first`, { ip: m.ip })
        // ...nor land on the new network's network, broadcast or subnet-router anycast address.
        const u = usableRange(net)
        const edges = [net.network, cidrLast(net)].filter((x) => x < u.first || x > u.last).map((x) => bigIntToIp(x, net.family))
        if (edges.length) {
          const hit = await trx.raw<Rows<{ ip: string }>>(
            `select host(ip_address) as ip from ip_allocations where pool_id = ? and ip_address = any(?::inet[]) limit 1`,
            [row.id, edges]
          )
          const h = hit.rows[0]
          if (h) throw validationError('network', `${net.text} would make allocated ${unusableReason(net, parseIp(h.ip))}`, { ip: h.ip })
        }
      }
      if (gateway && gateway !== row.gateway) {
        const holder = await this.allocationByIp(trx, gateway)
        // Any row at that address, even a lapsed hold, would let next-free hand out the gateway later.
        if (holder) {
          throw new AppError(
            'CONFLICT',
            `gateway: ${gateway} is ${holder.expired ? 'held by a lapsed reservation of' : `${holder.status} to`} ${holder.hostname ?? holder.owner ?? holder.allocated_by ?? 'someone'}; release it first`,
            { field: 'gateway' }
          )
        }
      }
      const upd = await trx.raw<Rows<PoolRow>>(
        `update ip_pools as p set name = ?, description = ?, network = ?::cidr, gateway = ?::inet, dns_servers = ?::inet[], vlan_id = ?, site = ?,
                environment = ?, is_active = ?, updated_at = now()
          where p.id = ? returning ${POOL_COLUMNS}`,
        [
          name,
          v.description !== undefined ? v.description : row.description,
          net.text,
          gateway,
          inetArrayLiteral(dns),
          v.vlanId !== undefined ? v.vlanId : row.vlan_id,
          v.site !== undefined ? v.site || null : row.site,
          v.environment !== undefined ? v.environment || null : row.environment,
          v.isActive ?? row.is_active,
          row.id
        ]
      )
      const updated = upd.rows[0]!
      const after = await this.poolDto(trx, updated)
      const changed = changedKeys(poolSnapshot(before), poolSnapshot(after))
      if (!changed.length) {
        // A no-op edit: undo the updated_at bump and write no audit row.
        await trx.raw(`update ip_pools set updated_at = ? where id = ?`, [row.updated_at, row.id])
        return before
      }
      if (networkChanged || gateway !== row.gateway) await rebuildFreeRanges(trx, row.id)
      const pick = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(changed.map((k) => [k, o[k] ?? null]))
      await appendAudit(trx, ctx, {
        action: 'update',
        resourceType: 'ip_pool',
        resourceId: row.id,
        resourceName: updated.name,
        details: { before: pick(poolSnapshot(before)), after: pick(poolSnapshot(after)), context: { changed } }
      })
      return after
    }, opts.inTransaction)
  }

  async deletePool(ctx: RequestContext, ref: PoolRef, opts: { force?: boolean } & MutationOptions = {}): Promise<PoolDeleteResult> {
    const entry: AuditEntry = { action: 'delete', resourceType: 'ip_pool', resourceName: String(ref), details: { context: { force: !!opts.force } } }
    await this.authorize(ctx, 'admin', 'deleting a pool', entry)
    return this.mutate(ctx, entry, async (trx) => {
      const row = await this.findPoolRow(trx, ref, true)
      entry.resourceId = row.id
      entry.resourceName = row.name
      await opts.beforeChange?.(trx, { id: row.id, name: row.name, updatedAt: iso(row.updated_at)! })
      const before = await this.poolDto(trx, row)
      const n = await trx.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_allocations where pool_id = ?`, [row.id])
      const count = n.rows[0]!.n
      if (count > 0 && !opts.force) {
        throw new AppError('CONFLICT', `pool: "${row.name}" still holds ${count} allocation(s); release them or delete with --force`, { field: 'pool', allocations: count })
      }
      await trx.raw(`delete from ip_pools where id = ?`, [row.id])
      await appendAudit(trx, ctx, {
        action: 'delete',
        resourceType: 'ip_pool',
        resourceId: row.id,
        resourceName: row.name,
        details: { before: poolSnapshot(before), context: { force: !!opts.force, allocationsRemoved: count } }
      })
      return { pool: before, allocationsRemoved: count }
    }, opts.inTransaction)
  }

  // ---------------------------------------------------------------- allocations

  /**
   * Allocates, reserves or blocks an explicit address, the next free one, or the next N. Returns the
   * rows written, lowest address first.
   */
  async allocate(ctx: RequestContext, input: AllocateInput, opts: MutationOptions = {}): Promise<AllocationDto[]> {
    const raw = (input ?? {}) as Partial<AllocateInput>
    const operation = raw.status === 'reserved' ? 'reserve' : raw.status === 'blocked' ? 'block' : 'allocate'
    const entry: AuditEntry = {
      action: 'create',
      resourceType: 'ip_allocation',
      resourceName: raw.ip ?? null,
      details: { after: { ...raw }, context: { operation, pool: raw.pool } }
    }
    await this.authorize(ctx, 'operator', `${operation === 'allocate' ? 'allocating' : operation === 'reserve' ? 'reserving' : 'blocking'} an address`, entry)
    let prepared: ReturnType<typeof prepareAllocation>
    try {
      prepared = prepareAllocation(input)
    } catch (e) {
      const err = toAppError(e)
      await recordFailure(this.knex, ctx, entry, err)
      throw err
    }
    // The fast path is one autocommit statement: a caller's transaction hook needs the general path, unless
    // the hook's work is the replay's key record, which the statement does itself.
    if (!prepared.v.ip && (!opts.inTransaction || opts.replay)) {
      const fast = await this.allocateNextFast(ctx, prepared, operation, entry, opts.replay)
      if (fast) return fast
    }
    return this.mutate(ctx, entry, async (trx) => {
      const { v, until, fields } = prepared
      type Pick = { ip: bigint; reuse: boolean; id?: number }
      const picks: Pick[] = []
      let pool: { id: number; name: string; network: string; gateway: string | null }
      let net: ParsedCidr
      const inactive = (name: string) => new AppError('CONFLICT', `pool: "${name}" is inactive; activate it before allocating from it`, { field: 'pool' })
      if (v.ip) {
        const row = await this.findPoolRow(trx, v.pool, true)
        if (!row.is_active) throw inactive(row.name)
        pool = row
        net = parseCidr(row.network)
        const ip = parseIp(v.ip, 'ip')
        if (ip.family !== net.family) throw validationError('ip', `${ip.text} is IPv${ip.family}; pool "${pool.name}" is ${net.text}`)
        const why = unusableReason(net, ip)
        if (why) throw validationError('ip', why.includes('outside') ? `${why} (pool "${pool.name}")` : why)
        if (pool.gateway && parseIp(pool.gateway).value === ip.value) throw validationError('ip', `${ip.text} is the gateway of pool "${pool.name}"`)
        const range = await rangeHolding(trx, pool.id, ip.text)
        if (range) {
          await takeAddress(trx, pool.id, net.family, range, ip.value)
          const existing = await this.allocationByIp(trx, ip.text, true)
          picks.push({ ip: ip.value, reuse: !!existing })
        } else {
          const holder = await this.allocationByIp(trx, ip.text, true)
          if (holder && holder.expired) {
            picks.push({ ip: ip.value, reuse: true })
          } else if (holder) {
            const who = holder.hostname ?? holder.owner ?? holder.allocated_by ?? 'someone'
            throw new AppError('CONFLICT', `ip: ${ip.text} is already ${holder.status} to ${who} (pool "${holder.pool_name}")`, {
              field: 'ip',
              holder: { hostname: holder.hostname, owner: holder.owner, allocatedBy: holder.allocated_by, status: holder.status }
            })
          } else {
            throw new AppError('CONFLICT', `ip: ${ip.text} is not free in pool "${pool.name}"`, { field: 'ip' })
          }
        }
      } else {
        // The hot path: lock, find and take in one call (see the ipam_next function).
        const want = v.count ?? 1
        const byId = typeof v.pool === 'number' || /^\d+$/.test(String(v.pool))
        type NextRow = { pool_id: number; pool_name: string; network: string; gateway: string | null; is_active: boolean; ip: string | null; reuse: boolean | null; new_id: number | null }
        const next = (id: number | null, name: string) =>
          trx.raw<Rows<NextRow>>(`select pool_id, pool_name, network, gateway, is_active, host(ip) as ip, reuse, new_id from ipam_next(?, ?, ?)`, [id, name, want])
        const ref = String(v.pool).trim()
        let taken = await next(byId ? Number(ref) : null, ref)
        // A pool may be named with digits only.
        if (!taken.rows[0] && byId) taken = await next(null, ref)
        const first = taken.rows[0]
        if (!first) throw new AppError('NOT_FOUND', `pool: no pool named "${ref}"`, { field: 'pool' })
        if (!first.is_active) throw inactive(first.pool_name)
        pool = { id: first.pool_id, name: first.pool_name, network: first.network, gateway: first.gateway }
        net = parseCidr(pool.network)
        picks.push(...taken.rows.filter((r) => r.ip !== null).map((r) => ({ ip: parseIp(r.ip!).value, reuse: !!r.reuse, id: r.new_id ?? undefined })))
        if (picks.length < want) {
          throw new AppError(
            'CONFLICT',
            picks.length === 0 ? `pool: "${pool.name}" (${net.text}) has no free address` : `count: pool "${pool.name}" has only ${picks.length} free address(es), ${want} asked`,
            { field: picks.length === 0 ? 'pool' : 'count', free: picks.length }
          )
        }
      }

      const fresh = picks.filter((p) => !p.reuse).map((p) => bigIntToIp(p.ip, net.family))
      const reused = picks.filter((p) => p.reuse).map((p) => bigIntToIp(p.ip, net.family))
      const params = [fields.hostname, fields.mac, fields.owner, fields.purpose, fields.description, v.status, fields.dnsManaged, fields.dhcpManaged, until, ctx.actor]
      const before = new Map<string, AllocationDto>()
      const written: AllocRow[] = []
      if (reused.length) {
        const prev = await trx.raw<Rows<AllocRow>>(
          `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where a.ip_address = any(?::inet[])`,
          [reused]
        )
        for (const r of prev.rows) before.set(r.ip, toAllocationDto(r))
        const upd = await trx.raw<Rows<AllocRow>>(
          `update ip_allocations as a set hostname = ?, mac_address = ?::macaddr, owner = ?, purpose = ?, description = ?, status = ?,
                  dns_managed = ?, dhcp_managed = ?, reserved_until = ?, allocated_by = ?, version = version + 1, updated_at = now(),
                  pool_id = ?
            where ip_address = any(?::inet[]) returning ${ALLOC_FIELDS}`,
          [...params, pool.id, reused]
        )
        written.push(...upd.rows)
      }
      if (fresh.length) {
        // ipam_next drew ids for next-free rows; explicit rows take the sequence's next value.
        const freshPicks = picks.filter((p) => !p.reuse)
        const ins = await trx.raw<Rows<AllocRow>>(
          `insert into ip_allocations as a (id, pool_id, ip_address, hostname, mac_address, owner, purpose, description, status, dns_managed, dhcp_managed, reserved_until, allocated_by)
           select coalesce(u.i, nextval('ip_allocations_id_seq')), ?, u.x, ?, ?::macaddr, ?, ?, ?, ?, ?, ?, ?::timestamptz, ?
             from unnest(?::int[], ?::inet[]) as u(i, x) returning ${ALLOC_FIELDS}`,
          [pool.id, ...params, freshPicks.map((p) => p.id ?? null), fresh] as unknown as Knex.RawBinding[]
        )
        written.push(...ins.rows)
      }
      const results = written
        .map((r) => toAllocationDto({ ...r, pool_name: pool.name }))
        .sort((x, y) => {
          const a1 = parseIp(x.ip).value
          const b1 = parseIp(y.ip).value
          return a1 < b1 ? -1 : a1 > b1 ? 1 : 0
        })
      await appendAudits(
        trx,
        ctx,
        results.map((dto) => {
          const prev = before.get(dto.ip)
          return {
            action: 'create',
            resourceType: 'ip_allocation',
            resourceId: dto.id,
            resourceName: dto.ip,
            details: {
              ...(prev ? { before: allocSnapshot(prev) } : {}),
              after: allocSnapshot(dto),
              context: { operation, pool: pool.name, mode: v.ip ? 'explicit' : 'next', ...(prev ? { reusedLapsedHold: prev.expired } : {}) }
            }
          }
        })
      )
      return results
    }, opts.inTransaction)
  }

  /**
   * Next-free in one autocommit statement (ipam_allocate_next_keyed): the pool is resolved and locked, the
   * addresses taken, inserted and audited, and a replayed edit's key recorded, all inside the server, so the
   * pool's lock is held for no client round trip at all. Returns null when the general path must run
   * instead (lapsed holds to reuse).
   */
  private async allocateNextFast(
    ctx: RequestContext,
    prepared: ReturnType<typeof prepareAllocation>,
    operation: string,
    entry: AuditEntry,
    replay?: ReplayRecord
  ): Promise<AllocationDto[] | null> {
    const call = nextCall(ctx, prepared, operation, replay, false)
    try {
      const r = await this.knex.raw<Rows<NextOut>>(call.sql(NEXT_CASTS.map((c) => `?${c}`).join(', ')), call.params)
      const head = r.rows[0]
      if (!head || head.outcome === 'not_found') throw new AppError('NOT_FOUND', `pool: no pool named "${call.ref}"`, { field: 'pool' })
      if (head.outcome === 'inactive') throw new AppError('CONFLICT', `pool: "${head.pool_name}" is inactive; activate it before allocating from it`, { field: 'pool' })
      if (head.outcome === 'slow') return null
      return nextDtos(r.rows, ctx, prepared)
    } catch (e) {
      const pgErr = e as { code?: string; detail?: string }
      // Not a refusal: the edit is in already (another replayer), so nothing to audit.
      if (pgErr?.code === 'NK002') throw new AppError('CONFLICT', `offline edit ${replay?.key} was already applied`, { reason: 'already-applied' })
      let err: AppError
      if (pgErr?.code === 'NK001') {
        const free = Number(pgErr.detail ?? 0)
        err = new AppError(
          'CONFLICT',
          free === 0 ? `pool: "${call.ref}" has no free address` : `count: pool "${call.ref}" has only ${free} free address(es), ${call.want} asked`,
          { field: free === 0 ? 'pool' : 'count', free }
        )
      } else {
        err = toAppError(e)
      }
      if (err.code !== 'INTERNAL' && err.code !== 'UNAVAILABLE') await recordFailure(this.knex, ctx, entry, err)
      throw err
    }
  }

  /**
   * The offline replay's runs of queued next-free allocations: several in one round trip, in order, each in
   * its own transaction with its audit row and key (ipam_allocate_next_keyed, strict), committed without
   * waiting for the WAL flush like every replayed change. The run stops at the first item that cannot be
   * applied this way: an item that fails authorization or validation is not sent, nor any after it; in the
   * server, any outcome but success raises, which skips the rest of the run. Returns the results of the
   * items applied, in order: fewer than given when it stopped early. A server error is thrown as it came
   * (after rolling the failed item back): the items before the failing one are committed, and the caller
   * finds which by their keys. Items that stopped a run go through allocate() alone, which refuses, audits
   * or applies them as usual.
   */
  async allocateNextRun(items: { ctx: RequestContext; input: AllocateInput; replay: ReplayRecord }[]): Promise<AllocationDto[][]> {
    const calls: { prepared: ReturnType<typeof prepareAllocation>; ctx: RequestContext; text: string }[] = []
    for (const it of items) {
      if (!hasRole(it.ctx, 'operator')) break
      let prepared: ReturnType<typeof prepareAllocation>
      try {
        prepared = prepareAllocation(it.input)
      } catch {
        break
      }
      if (prepared.v.ip) break
      const raw = it.input as Partial<AllocateInput>
      const operation = raw.status === 'reserved' ? 'reserve' : raw.status === 'blocked' ? 'block' : 'allocate'
      const call = nextCall(it.ctx, prepared, operation, it.replay, true)
      // A run is one simple-protocol query (several statements, so no bind parameters): the values go in as
      // literals, each escaped by sqlLiteral.
      const args = call.params.map((v, i) => `${sqlLiteral(v)}${NEXT_CASTS[i]}`).join(', ')
      calls.push({ prepared, ctx: it.ctx, text: `begin; ${call.sql(args)}; commit;` })
    }
    if (!calls.length) return []
    // Our own connection: after an error inside one of the run's transactions the session is left in that
    // failed transaction, and only a rollback on this same connection ends it.
    const client = this.knex.client as { acquireConnection(): Promise<PgConnection>; releaseConnection(c: PgConnection): Promise<void> }
    const conn = await client.acquireConnection()
    try {
      const res = await conn.query(calls.map((c) => c.text).join('\n'))
      const all = Array.isArray(res) ? res : [res]
      // begin, select, commit per item.
      return calls.map((c, i) => nextDtos(all[3 * i + 1]!.rows as NextOut[], c.ctx, c.prepared))
    } catch (e) {
      await conn.query('rollback').catch(() => undefined)
      throw e
    } finally {
      await client.releaseConnection(conn)
    }
  }

  async getAllocation(_ctx: RequestContext, ip: string): Promise<AllocationDto> {
    const p = parseIp(ip, 'ip')
    const row = await this.allocationByIp(this.knex, p.text)
    if (!row) throw new AppError('NOT_FOUND', `ip: ${p.text} is not allocated`, { field: 'ip' })
    return toAllocationDto(row)
  }

  async updateAllocation(ctx: RequestContext, input: AllocationUpdateInput, opts: MutationOptions = {}): Promise<AllocationDto> {
    const raw = (input ?? {}) as Partial<AllocationUpdateInput>
    const entry: AuditEntry = { action: 'update', resourceType: 'ip_allocation', resourceName: raw.ip ?? null, details: { after: { ...raw } } }
    await this.authorize(ctx, 'operator', 'changing an allocation', entry)
    return this.mutate(ctx, entry, async (trx) => {
      const v = parse(allocationUpdateSchema, input)
      const ip = parseIp(v.ip, 'ip')
      const current = await this.allocationByIp(trx, ip.text)
      if (!current) throw new AppError('NOT_FOUND', `ip: ${ip.text} is not allocated`, { field: 'ip' })
      await this.findPoolRow(trx, current.pool_id, true)
      const row = (await this.allocationByIp(trx, ip.text, true))!
      entry.resourceId = row.id
      if (v.version !== undefined && v.version !== row.version) {
        throw new AppError('CONFLICT', `version: ${ip.text} was changed by someone else (you have version ${v.version}, it is now ${row.version}); reload and try again`, {
          field: 'version',
          current: toAllocationDto(row)
        })
      }
      if (v.status === 'available') throw validationError('status', 'use release to free an address')
      const status = v.status ?? row.status
      let until = v.until !== undefined ? parseUntil(v.until) : row.reserved_until
      if (status !== 'reserved') {
        if (v.until) throw validationError('until', 'only reservations can expire')
        until = null
      }
      const before = toAllocationDto(row)
      const next = {
        hostname: v.hostname !== undefined ? (v.hostname ? normalizeHostname(v.hostname) : null) : row.hostname,
        mac: v.mac !== undefined ? (v.mac ? normalizeMac(v.mac) : null) : row.mac,
        owner: v.owner !== undefined ? v.owner || null : row.owner,
        purpose: v.purpose !== undefined ? v.purpose || null : row.purpose,
        description: v.description !== undefined ? v.description || null : row.description,
        dnsManaged: v.dnsManaged ?? row.dns_managed,
        dhcpManaged: v.dhcpManaged ?? row.dhcp_managed
      }
      const probe = { ...allocSnapshot(before), ...next, status, reservedUntil: iso(until) }
      const changed = changedKeys(allocSnapshot(before), probe)
      if (!changed.length) return before
      const upd = await trx.raw<Rows<{ id: number }>>(
        `update ip_allocations set hostname = ?, mac_address = ?::macaddr, owner = ?, purpose = ?, description = ?, status = ?,
                dns_managed = ?, dhcp_managed = ?, reserved_until = ?, version = version + 1, updated_at = now()
          where id = ? and version = ? returning id`,
        [next.hostname, next.mac, next.owner, next.purpose, next.description, status, next.dnsManaged, next.dhcpManaged, until, row.id, row.version]
      )
      if (!upd.rows[0]) throw new AppError('CONFLICT', `version: ${ip.text} changed while being updated; reload and try again`, { field: 'version' })
      const after = toAllocationDto((await this.allocationByIp(trx, ip.text))!)
      const pick = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(changed.map((k) => [k, o[k] ?? null]))
      await appendAudit(trx, ctx, {
        action: 'update',
        resourceType: 'ip_allocation',
        resourceId: row.id,
        resourceName: ip.text,
        details: { before: pick(allocSnapshot(before)), after: pick(allocSnapshot(after)), context: { changed, pool: row.pool_name, version: after.version } }
      })
      return after
    }, opts.inTransaction)
  }

  /** Frees an address. The audit row keeps who held it. */
  async release(ctx: RequestContext, ipText: string, opts: { version?: number } & MutationOptions = {}): Promise<AllocationDto> {
    const entry: AuditEntry = { action: 'delete', resourceType: 'ip_allocation', resourceName: String(ipText ?? ''), details: { context: { operation: 'release' } } }
    await this.authorize(ctx, 'operator', 'releasing an address', entry)
    return this.mutate(ctx, entry, async (trx) => {
      const ip = parseIp(ipText, 'ip')
      const current = await this.allocationByIp(trx, ip.text)
      if (!current) throw new AppError('NOT_FOUND', `ip: ${ip.text} is not allocated`, { field: 'ip' })
      const pool = await this.findPoolRow(trx, current.pool_id, true)
      const row = (await this.allocationByIp(trx, ip.text, true))!
      entry.resourceId = row.id
      if (opts.version !== undefined && opts.version !== row.version) {
        throw new AppError('CONFLICT', `version: ${ip.text} was changed by someone else (you have version ${opts.version}, it is now ${row.version})`, { field: 'version' })
      }
      await trx.raw(`delete from ip_allocations where id = ?`, [row.id])
      const net = parseCidr(pool.network)
      await giveAddress(trx, pool.id, net.family, ip.value, usableRange(net))
      const before = toAllocationDto(row)
      await appendAudit(trx, ctx, {
        action: 'delete',
        resourceType: 'ip_allocation',
        resourceId: row.id,
        resourceName: ip.text,
        details: { before: allocSnapshot(before), context: { operation: 'release', pool: pool.name } }
      })
      return before
    }, opts.inTransaction)
  }

  /** Every allocation of a pool, lowest address first (the subnet map and `pool show`). */
  async listAllocations(_ctx: RequestContext, ref: PoolRef, opts: { page?: number; pageSize?: number } = {}): Promise<Page<AllocationDto>> {
    const pool = await this.findPoolRow(this.knex, ref, false)
    const page = Math.max(1, opts.page ?? 1)
    const pageSize = Math.min(65536, Math.max(1, opts.pageSize ?? 1000))
    const total = await this.knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_allocations where pool_id = ?`, [pool.id])
    const r = await this.knex.raw<Rows<AllocRow>>(
      `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where a.pool_id = ? order by a.ip_address limit ? offset ?`,
      [pool.id, pageSize, (page - 1) * pageSize]
    )
    return { items: r.rows.map(toAllocationDto), page, pageSize, total: total.rows[0]!.n }
  }

  /** The data the subnet map draws, compact enough for a /16 in one reply (see PoolMap). */
  async poolMap(_ctx: RequestContext, ref: PoolRef): Promise<PoolMap> {
    const pool = await this.findPoolRow(this.knex, ref, false)
    const net = parseCidr(pool.network)
    if (net.family === 6) {
      const total = await this.knex.raw<Rows<{ n: number; used64: number }>>(
        `select count(*)::int as n, count(distinct set_masklen(ip_address, 64)::cidr)::int as used64 from ip_allocations where pool_id = ?`,
        [pool.id]
      )
      const rows = await this.knex.raw<Rows<AllocRow>>(
        `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where a.pool_id = ? order by a.ip_address limit 1000`,
        [pool.id]
      )
      const subnets64 = net.prefix <= 64 ? 1n << BigInt(64 - net.prefix) : 1n
      const used64 = total.rows[0]!.used64
      return {
        kind: 'v6',
        pool: pool.name,
        network: net.text,
        allocations: rows.rows.map(toAllocationDto),
        total: total.rows[0]!.n,
        subnets64: subnets64.toString(),
        used64,
        free64: (subnets64 - BigInt(used64)).toString()
      }
    }
    if (net.prefix < 16) {
      const tiles = await this.knex.raw<Rows<{ network: string; used: number; reserved: number; blocked: number }>>(
        `select t.tile::text as network, used, reserved, blocked from (
         select network(set_masklen(ip_address, 24)) as tile,
                count(*) filter (where status = 'allocated')::int as used,
                count(*) filter (where status = 'reserved' and (reserved_until is null or reserved_until > now()))::int as reserved,
                count(*) filter (where status = 'blocked')::int as blocked
           from ip_allocations where pool_id = ? group by 1) t order by t.tile`,
        [pool.id]
      )
      return { kind: 'tiles', pool: pool.name, network: net.text, tileCount: 2 ** (24 - net.prefix), tiles: tiles.rows }
    }
    const rows = await this.knex.raw<Rows<MapRow>>(
      `select (ip_address - ?::inet)::int as off, status,
              (status = 'reserved' and reserved_until is not null and reserved_until <= now()) as expired
         from ip_allocations where pool_id = ?`,
      [bigIntToIp(net.network, 4), pool.id]
    )
    return cellsMap(pool, net, rows.rows)
  }

  // ---------------------------------------------------------------- search and stats

  async search(_ctx: RequestContext, input: SearchInput): Promise<Page<AllocationDto> & { kind: string }> {
    const v = parse(searchSchema, input)
    let kind = v.kind
    const q = v.query
    if (kind === 'auto') {
      if (q.includes('/')) kind = 'cidr'
      else if (/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$|^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$|^[0-9a-f]{12}$/i.test(q)) kind = 'mac'
      else {
        try {
          parseIp(q)
          kind = 'ip'
        } catch {
          kind = 'hostname'
        }
      }
    }
    let where: string
    let b: Knex.Value[]
    switch (kind) {
      case 'ip':
        where = 'a.ip_address = ?::inet'
        b = [parseIp(q, 'query').text]
        break
      case 'cidr': {
        // Host bits are allowed here: searching 10.1.2.3/24 means "the /24 around it".
        const [addr, prefix] = q.split('/')
        const ip = parseIp(addr ?? '', 'query')
        if (!/^\d{1,3}$/.test(prefix ?? '') || Number(prefix) > (ip.family === 4 ? 32 : 128)) throw validationError('query', `"${q}": bad prefix length`)
        where = 'a.ip_address <<= network(?::inet)'
        b = [`${ip.text}/${prefix}`]
        break
      }
      case 'mac':
        where = 'a.mac_address = ?::macaddr'
        b = [normalizeMac(q, 'query')]
        break
      case 'owner':
        where = `lower(a.owner) like ? escape '\\'`
        b = [`${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`]
        break
      default: {
        // Hostname prefix, case-insensitive; owner prefix as well, so "alice" finds her hosts.
        const like = `${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
        where = `(lower(a.hostname) like ? escape '\\' or lower(a.owner) like ? escape '\\')`
        b = [like, like]
      }
    }
    const total = await this.knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_allocations a where ${where}`, b)
    const rows = await this.knex.raw<Rows<AllocRow>>(
      `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where ${where} order by a.ip_address limit ? offset ?`,
      [...b, v.pageSize, (v.page - 1) * v.pageSize]
    )
    return { kind, items: rows.rows.map(toAllocationDto), page: v.page, pageSize: v.pageSize, total: total.rows[0]!.n }
  }

  async stats(_ctx: RequestContext): Promise<IpamStats> {
    const pools = await this.knex.raw<Rows<{ id: number; name: string; network: string; gateway: string | null; site: string | null; environment: string | null; is_active: boolean }>>(
      `select id, name, network::text as network, host(gateway) as gateway, site, environment, is_active from ip_pools`
    )
    const counts = await this.knex.raw<Rows<{ pool_id: number; allocated: number; reserved: number; blocked: number }>>(
      `select pool_id,
              count(*) filter (where status = 'allocated')::int as allocated,
              count(*) filter (where status = 'reserved' and (reserved_until is null or reserved_until > now()))::int as reserved,
              count(*) filter (where status = 'blocked')::int as blocked
         from ip_allocations group by pool_id`
    )
    const byPool = new Map(counts.rows.map((r) => [r.pool_id, r]))
    const per = pools.rows.map((p) => {
      const c = byPool.get(p.id) ?? { allocated: 0, reserved: 0, blocked: 0 }
      return { p, u: utilization(p.network, p.gateway, { allocated: c.allocated, reserved: c.reserved, blocked: c.blocked }) }
    })
    const group = <K extends 'site' | 'environment'>(key: K) => {
      const m = new Map<string | null, { pools: number; allocated: number; used: bigint; usable: bigint }>()
      for (const { p, u } of per) {
        const g = m.get(p[key]) ?? { pools: 0, allocated: 0, used: 0n, usable: 0n }
        g.pools++
        g.allocated += u.allocated
        g.used += BigInt(u.allocated + u.reserved + u.blocked)
        g.usable += BigInt(u.usable)
        m.set(p[key], g)
      }
      return [...m.entries()]
        .map(([k, g]) => ({ [key]: k, pools: g.pools, allocated: g.allocated, usable: g.usable.toString(), percent: g.usable ? Number((g.used * 10000n) / g.usable) / 100 : 0 }))
        .sort((a, b) => String(a[key] ?? '').localeCompare(String(b[key] ?? '')))
    }
    const totals = per.reduce((t, { u }) => ({ allocated: t.allocated + u.allocated, reserved: t.reserved + u.reserved, blocked: t.blocked + u.blocked }), {
      allocated: 0,
      reserved: 0,
      blocked: 0
    })
    return {
      pools: pools.rows.length,
      activePools: pools.rows.filter((p) => p.is_active).length,
      allocations: totals,
      bySite: group('site') as IpamStats['bySite'],
      byEnvironment: group('environment') as IpamStats['byEnvironment'],
      mostUtilized: per
        .sort((a, b) => b.u.percent - a.u.percent || a.p.name.localeCompare(b.p.name))
        .slice(0, 10)
        .map(({ p, u }) => ({ id: p.id, name: p.name, network: parseCidr(p.network).text, percent: u.percent, used: u.allocated + u.reserved + u.blocked, usable: u.usable }))
    }
  }
}

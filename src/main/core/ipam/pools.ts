/** IPAM pools: create, read, list, change and delete, each change in one transaction with its audit row. */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import {
  poolCreateSchema,
  poolListSchema,
  poolUpdateSchema,
  type Page,
  type PoolCreateInput,
  type PoolDeleteResult,
  type PoolDto,
  type PoolListInput,
  type PoolRef,
  type PoolUpdateInput
} from '../../../shared/ipam'
import { bigIntToIp, cidrContains, cidrLast, parseCidr, parseDnsServers, parseIp, unusableReason, usableRange, type ParsedCidr } from '../../../shared/net'
import { appendAudit, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { rebuildFreeRanges } from './free-ranges'
import { authorize, mutate, type MutationOptions } from './mutation'
import { allocationByIp, changedKeys, sortedFields, findPoolRow, findSpaceId, iso, NEW_POOL_COLUMNS, parse, POOL_COLUMNS, type PoolRow, type Rows } from './rows'
import { rollups, USED_SQL } from './rollup'
import { utilization } from './utilization'
import { LIKE_ESCAPE, likeText } from '../db/like'
import type { PoolVlan, TagRef } from '../../../shared/ipam-objects'
import { findSite, findVlan, findVlanGroup } from './objects'
import { fieldFilter, fieldSortKey, mergeFieldValues, poolTags, setPoolTags, tagIds } from './tags'

/** A list of canonical addresses as a PostgreSQL array literal (no quoting needed); null for none. */
const inetArrayLiteral = (ips: string[]): string | null => (ips.length ? `{${ips.join(',')}}` : null)

/**
 * What an audit row records of a pool. `full` (for comparing before and after) keeps every key; the create
 * record leaves out the VLAN group, tags and custom fields when the pool has none.
 */
function poolSnapshot(p: PoolDto, full = true): Record<string, unknown> {
  const s: Record<string, unknown> = {
    name: p.name,
    network: p.network,
    gateway: p.gateway,
    dnsServers: p.dnsServers,
    vlanId: p.vlanId,
    site: p.site,
    environment: p.environment,
    description: p.description,
    isActive: p.isActive,
    vlanGroup: p.vlan?.group ?? null,
    tags: p.tags.map((t) => t.name),
    customFields: p.customFields
  }
  if (!full) {
    // The default group is implied by a bare VID: recorded only when it is another group.
    if (!p.vlan || p.vlan.group === 'default') delete s.vlanGroup
    if (!p.tags.length) delete s.tags
    if (!Object.keys(p.customFields).length) delete s.customFields
  }
  return s
}

/** The VLAN objects of pools, by VLAN id. */
async function poolVlans(q: Knex | Knex.Transaction, ids: number[]): Promise<Map<number, PoolVlan>> {
  const m = new Map<number, PoolVlan>()
  if (!ids.length) return m
  const r = await q.raw<Rows<PoolVlan>>(
    `select v.id, g.name as "group", v.vid, v.name, v.status from ip_vlans v join ip_vlan_groups g on g.id = v.group_id where v.id = any(?::int[])`,
    [[...new Set(ids)]]
  )
  for (const v of r.rows) m.set(v.id, v)
  return m
}

/** The object references a pool create/update names: a site that must exist, a VLAN ("GROUP/VID" or id) that must exist. */
async function objectRefs(trx: Knex.Transaction, v: { siteRef?: string | number | null; vlan?: string | number | null }): Promise<{ siteId?: number | null; vlanId?: number | null }> {
  const out: { siteId?: number | null; vlanId?: number | null } = {}
  if (v.siteRef !== undefined) out.siteId = v.siteRef === null || v.siteRef === '' ? null : (await findSite(trx, v.siteRef, 'siteRef')).id
  if (v.vlan !== undefined) out.vlanId = v.vlan === null || v.vlan === '' ? null : (await findVlan(trx, v.vlan, 'vlan')).id
  return out
}

type Counts = { allocated: number; reserved: number; blocked: number; ranged?: number }

/** Allocated, reserved (not lapsed) and blocked rows per pool, and the free addresses of its mark-used ranges. */
async function poolCounts(q: Knex | Knex.Transaction, ids: number[]): Promise<Map<number, Counts>> {
  const m = new Map<number, Counts>()
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
  const g = await q.raw<Rows<{ pool_id: number; n: string }>>(
    `select g.pool_id, sum((g.last_ip - g.first_ip) + 1 - (select count(*) from ip_allocations a
                             where a.pool_id = g.pool_id and a.ip_address between g.first_ip and g.last_ip and ${USED_SQL('a')}))::text as n
       from ip_ranges g where g.pool_id = any(?::int[]) and g.mark_used group by g.pool_id`,
    [ids]
  )
  for (const row of g.rows) {
    const c = m.get(row.pool_id) ?? { allocated: 0, reserved: 0, blocked: 0 }
    c.ranged = Number(row.n)
    m.set(row.pool_id, c)
  }
  return m
}

/**
 * `fresh`: the rows were just inserted by this transaction into free space (next-block), so they hold no
 * allocations, ranges, children or tags yet: their counts and tags are known without reading them.
 */
export async function toPoolDtos(q: Knex | Knex.Transaction, rows: PoolRow[], opts: { fresh?: boolean } = {}): Promise<PoolDto[]> {
  const counts = opts.fresh
    ? new Map<number, Counts>()
    : await poolCounts(
        q,
        rows.map((r) => r.id)
      )
  const rolled = await rollups(
    q,
    rows.filter((r) => r.children > 0).map((r) => r.id)
  )
  const vlans = await poolVlans(
    q,
    rows.flatMap((r) => (r.vlan_ref_id ? [r.vlan_ref_id] : []))
  )
  const tags = opts.fresh
    ? new Map<number, TagRef[]>()
    : await poolTags(
        q,
        rows.map((r) => r.id)
      )
  return rows.map((r) => {
    const c = parseCidr(r.network)
    const rolledUp = rolled.get(r.id)
    const rollup = rolledUp ? (({ children: _n, ...x }) => x)(rolledUp) : null
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
      utilization: utilization(r.network, r.gateway, counts.get(r.id) ?? { allocated: 0, reserved: 0, blocked: 0 }),
      spaceId: r.space_id,
      spaceName: r.space_name,
      parentId: r.parent_id,
      parentName: r.parent_name,
      children: rolledUp?.children ?? 0,
      rollup,
      siteId: r.site_ref_id ?? null,
      vlan: r.vlan_ref_id ? (vlans.get(r.vlan_ref_id) ?? null) : null,
      tags: tags.get(r.id) ?? [],
      customFields: sortedFields(r.custom_fields)
    }
  })
}

export async function poolDto(q: Knex | Knex.Transaction, row: PoolRow): Promise<PoolDto> {
  return (await toPoolDtos(q, [row]))[0]!
}

/** The sibling (same space, same parent) whose network overlaps `network`, if any (other than `exceptId`). */
export async function overlapping(
  q: Knex | Knex.Transaction,
  network: string,
  exceptId: number | undefined,
  space: number,
  parent: number | null
): Promise<{ name: string; network: string } | undefined> {
  const r = await q.raw<Rows<{ name: string; network: string }>>(
    `select name, network::text as network from ip_pools
      where network && ?::cidr and id <> ? and space_id = ? and ${parent === null ? 'parent_id is null' : 'parent_id = ?'} limit 1`,
    parent === null ? [network, exceptId ?? -1, space] : [network, exceptId ?? -1, space, parent]
  )
  return r.rows[0]
}

/**
 * Moves into a new child pool what its parent held inside the child's network: allocations (an address lives
 * in the innermost pool) and the parent's free-range bookkeeping follows through the triggers. Returns the
 * number of allocations moved.
 */
export async function adoptFromParent(trx: Knex.Transaction, child: { id: number; network: string }, parentId: number): Promise<number> {
  const moved = await trx.raw<Rows<{ n: number }>>(
    `with m as (update ip_allocations set pool_id = ?, updated_at = now()
                 where pool_id = ? and ip_address between host(?::cidr)::inet and host(broadcast(?::cidr))::inet returning 1)
     select count(*)::int as n from m`,
    [child.id, parentId, child.network, child.network]
  )
  return moved.rows[0]!.n
}

/** Checks a gateway against its network; returns the canonical text. */
function checkGateway(net: ParsedCidr, gateway: string | null | undefined): string | null {
  if (gateway === undefined || gateway === null || gateway === '') return null
  const g = parseIp(gateway, 'gateway')
  if (g.family !== net.family) throw validationError('gateway', `${g.text} is IPv${g.family} but the network ${net.text} is IPv${net.family}`)
  const why = unusableReason(net, g)
  if (why) throw validationError('gateway', why)
  return g.text
}

export async function createPool(knex: Knex, ctx: RequestContext, input: PoolCreateInput, opts: MutationOptions = {}): Promise<PoolDto> {
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_pool', resourceName: (input as { name?: string })?.name ?? null, details: { after: input } }
  await authorize(knex, ctx, 'admin', 'creating a pool', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(poolCreateSchema, input)
    const net = parseCidr(v.network, 'network')
    const gateway = checkGateway(net, v.gateway)
    const dns = parseDnsServers(v.dnsServers ?? [])
    // A child: its parent is locked (allocations in it wait, so none can land where the child goes) and the
    // child goes in the parent's space; a space given as well must be that one.
    let space: number
    let parent: PoolRow | null = null
    if (v.parent !== undefined && v.parent !== null && v.parent !== '') {
      parent = await findPoolRow(trx, v.parent, true).catch((e: unknown) => {
        if (e instanceof AppError && e.code === 'NOT_FOUND') throw new AppError('NOT_FOUND', `parent: no pool named "${v.parent}"`, { field: 'parent' })
        throw e
      })
      space = parent.space_id
      if (v.space !== undefined && (await findSpaceId(trx, v.space)) !== space) {
        throw validationError('space', `parent pool "${parent.name}" is in space "${parent.space_name}"; a child is always in its parent's space`)
      }
      const pnet = parseCidr(parent.network)
      if (pnet.family !== net.family || net.prefix <= pnet.prefix || !cidrContains(pnet, { family: net.family, value: net.network, text: net.text })) {
        throw validationError('network', `${net.text} is not inside parent pool "${parent.name}" (${pnet.text})`, { parent: parent.name })
      }
    } else {
      space = await findSpaceId(trx, v.space)
    }
    // Names are unique per address space.
    const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_pools where name = ? and space_id = ?`, [v.name, space])
    if (clash.rows[0]) throw new AppError('CONFLICT', `name: a pool named "${v.name}" already exists in this address space`, { field: 'name' })
    const over = await overlapping(trx, net.text, undefined, space, parent?.id ?? null)
    if (over) throw new AppError('CONFLICT', `network: ${net.text} overlaps pool "${over.name}" (${over.network})`, { field: 'network', pool: over.name })
    if (parent) {
      const inRange = await trx.raw<Rows<{ first: string; last: string; purpose: string }>>(
        `select host(first_ip) as first, host(last_ip) as last, purpose from ip_ranges
          where pool_id = ? and first_ip <= host(broadcast(?::cidr))::inet and last_ip >= host(?::cidr)::inet limit 1`,
        [parent.id, net.text, net.text]
      )
      const g = inRange.rows[0]
      if (g) throw new AppError('CONFLICT', `network: ${net.text} overlaps the ${g.purpose} range ${g.first}-${g.last} of pool "${parent.name}"; remove or shrink the range first`, { field: 'network' })
    }
    const refs = await objectRefs(trx, v)
    const fields = await mergeFieldValues(trx, 'pool', {}, v.customFields)
    // A site or VLAN object given wins over the older free-text site / bare VID (which find or create theirs:
    // trigger ip_pools_objects); the derived text and VID are filled in by the same trigger.
    const ins = await trx.raw<Rows<PoolRow>>(
      `insert into ip_pools as p (name, description, network, gateway, dns_servers, vlan_id, site, environment, is_active, created_by, space_id, parent_id,
                                  site_ref_id, vlan_ref_id, custom_fields)
       values (?, ?, ?::cidr, ?::inet, ?::inet[], ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb) returning ${NEW_POOL_COLUMNS}`,
      [
        v.name,
        v.description ?? null,
        net.text,
        gateway,
        inetArrayLiteral(dns),
        refs.vlanId !== undefined ? null : (v.vlanId ?? null),
        refs.siteId !== undefined ? null : v.site || null,
        v.environment || null,
        v.isActive ?? true,
        ctx.actor,
        space,
        parent?.id ?? null,
        refs.siteId ?? null,
        refs.vlanId ?? null,
        JSON.stringify(fields)
      ]
    )
    let row = ins.rows[0]!
    if (v.tags?.length) {
      await setPoolTags(trx, row.id, v.tags)
      row = await findPoolRow(trx, row.id, false)
    }
    const moved = parent ? await adoptFromParent(trx, { id: row.id, network: net.text }, parent.id) : 0
    if (gateway && moved) {
      const holder = await allocationByIp(trx, gateway, false, space)
      if (holder) throw new AppError('CONFLICT', `gateway: ${gateway} is ${holder.status} to ${holder.hostname ?? holder.owner ?? holder.allocated_by ?? 'someone'}; release it first`, { field: 'gateway' })
    }
    await rebuildFreeRanges(trx, row.id)
    const dto = await poolDto(trx, row)
    await appendAudit(trx, ctx, {
      action: 'create',
      resourceType: 'ip_pool',
      resourceId: row.id,
      resourceName: row.name,
      // Where the pool sits goes in the context (the snapshot keeps the fields a pool update can change).
      details: {
        after: poolSnapshot(dto, false),
        ...(parent || dto.spaceName !== 'default' ? { context: { space: dto.spaceName, parent: dto.parentName, ...(moved ? { allocationsMoved: moved } : {}) } } : {})
      }
    })
    return dto
  }, opts.inTransaction)
}

export async function getPool(knex: Knex, ref: PoolRef): Promise<PoolDto> {
  return poolDto(knex, await findPoolRow(knex, ref, false))
}

/**
 * The Pools list's text search, added to `where` and `b` (pool alias `p`): the name, description, site or
 * network as text; a tag's name; a custom field's value; or, for an address, the pools whose network holds
 * it. The CSV export of pools searches the same (csv-export.ts).
 */
export function wherePoolSearch(search: string, where: string[], b: Knex.RawBinding[]): void {
  const like = `%${likeText(search)}%`
  let ipClause = ''
  try {
    const ip = parseIp(search)
    ipClause = ` or p.network >>= ?::inet`
    b.push(like, like, like, like, like, like, ip.text)
  } catch {
    b.push(like, like, like, like, like, like)
  }
  where.push(
    `(p.name ilike ? ${LIKE_ESCAPE} or p.description ilike ? ${LIKE_ESCAPE} or p.site ilike ? ${LIKE_ESCAPE} or p.network::text like ? ${LIKE_ESCAPE}
      or exists (select 1 from ip_pool_tags x join ip_tags t on t.id = x.tag_id where x.pool_id = p.id and t.name ilike ? ${LIKE_ESCAPE})
      or exists (select 1 from jsonb_each_text(p.custom_fields) e where e.value ilike ? ${LIKE_ESCAPE})${ipClause})`
  )
}

/**
 * The Pools list's VLAN-group and tag filters as conditions on `p` (ip_pools), appended to `where` and
 * `b`: pools on a VLAN of the group; pools carrying every one of the tags. The CSV export of pools applies
 * the same (csv-export.ts). An unknown group or tag is refused, naming the field.
 */
export async function whereGroupAndTags(
  knex: Knex,
  f: { vlanGroup?: string | number; tags?: string[] },
  where: string[],
  b: Knex.RawBinding[]
): Promise<void> {
  if (f.vlanGroup !== undefined) {
    where.push('p.vlan_ref_id in (select g.id from ip_vlans g where g.group_id = ?)')
    b.push((await findVlanGroup(knex, f.vlanGroup, 'vlanGroup')).id)
  }
  if (f.tags?.length) {
    for (const id of (await tagIds(knex, f.tags)).values()) {
      where.push('exists (select 1 from ip_pool_tags x where x.pool_id = p.id and x.tag_id = ?)')
      b.push(id)
    }
  }
}

export async function listPools(knex: Knex, input: PoolListInput = {}): Promise<Page<PoolDto>> {
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
  if (v.space !== undefined) {
    where.push('p.space_id = ?')
    b.push(await findSpaceId(knex, v.space))
  }
  if (v.siteRef !== undefined) {
    where.push('p.site_ref_id = ?')
    b.push((await findSite(knex, v.siteRef, 'siteRef')).id)
  }
  if (v.vlan !== undefined) {
    where.push('p.vlan_ref_id = ?')
    b.push((await findVlan(knex, v.vlan, 'vlan')).id)
  }
  await whereGroupAndTags(knex, v, where, b)
  if (v.fields && Object.keys(v.fields).length) {
    // Values typed as text are converted to the field's type, so the GIN index answers the containment.
    const typed = await fieldFilter(knex, 'pool', v.fields)
    where.push('p.custom_fields @> ?::jsonb')
    b.push(JSON.stringify(typed))
  }
  if (v.parent === null) where.push('p.parent_id is null')
  else if (v.parent !== undefined) {
    where.push('p.parent_id = ?')
    b.push((await findPoolRow(knex, v.parent, false)).id)
  }
  if (v.search) wherePoolSearch(v.search, where, b)
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
  // A custom field column: its jsonb value orders as its type does (numbers numerically, booleans false
  // first, dates as YYYY-MM-DD text); rows without a value go last either way.
  const byField = v.sortField ? await fieldSortKey(knex, 'pool', v.sortField) : null
  const total = await knex.raw<Rows<{ n: number }>>(`select count(*)::int as n from ip_pools p ${whereSql}`, b)
  const rows = await knex.raw<Rows<PoolRow>>(
    `select ${POOL_COLUMNS} from ip_pools p ${whereSql} order by ${byField ? `p.custom_fields -> ? ${dir} nulls last, p.name, p.id` : orderSql} limit ? offset ?`,
    [...b, ...(byField ? [byField] : []), v.pageSize, (v.page - 1) * v.pageSize]
  )
  return { items: await toPoolDtos(knex, rows.rows), page: v.page, pageSize: v.pageSize, total: total.rows[0]!.n }
}

export async function updatePool(knex: Knex, ctx: RequestContext, ref: PoolRef, input: PoolUpdateInput, opts: MutationOptions = {}): Promise<PoolDto> {
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_pool', resourceName: String(ref), details: { after: input } }
  await authorize(knex, ctx, 'admin', 'changing a pool', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(poolUpdateSchema, input)
    const row = await findPoolRow(trx, ref, true)
    entry.resourceId = row.id
    entry.resourceName = row.name
    await opts.beforeChange?.(trx, { id: row.id, name: row.name, updatedAt: iso(row.updated_at)! })
    const before = await poolDto(trx, row)
    const net = v.network !== undefined ? parseCidr(v.network, 'network') : parseCidr(row.network)
    const gateway = v.gateway !== undefined ? checkGateway(net, v.gateway) : row.gateway ? checkGateway(net, row.gateway) : null
    const dns = v.dnsServers !== undefined ? parseDnsServers(v.dnsServers ?? []) : (row.dns_servers ?? [])
    const name = v.name ?? row.name
    if (name !== row.name) {
      const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_pools where name = ? and space_id = ? and id <> ?`, [name, row.space_id, row.id])
      if (clash.rows[0]) throw new AppError('CONFLICT', `name: a pool named "${name}" already exists in this address space`, { field: 'name' })
    }
    const networkChanged = net.text !== parseCidr(row.network).text
    if (networkChanged) {
      const over = await overlapping(trx, net.text, row.id, row.space_id, row.parent_id)
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
      const holder = await allocationByIp(trx, gateway, false, row.space_id)
      // Any row at that address, even a lapsed hold, would let next-free hand out the gateway later.
      if (holder) {
        throw new AppError(
          'CONFLICT',
          `gateway: ${gateway} is ${holder.expired ? 'held by a lapsed reservation of' : `${holder.status} to`} ${holder.hostname ?? holder.owner ?? holder.allocated_by ?? 'someone'}; release it first`,
          { field: 'gateway' }
        )
      }
    }
    const refs = await objectRefs(trx, v)
    const fields = v.customFields !== undefined ? await mergeFieldValues(trx, 'pool', row.custom_fields ?? {}, v.customFields) : (row.custom_fields ?? {})
    if (v.tags !== undefined) await setPoolTags(trx, row.id, v.tags)
    // Object references given replace the derived text/VID (trigger ip_pools_objects); the older free-text site
    // and bare VID find or create theirs.
    const upd = await trx.raw<Rows<PoolRow>>(
      `update ip_pools as p set name = ?, description = ?, network = ?::cidr, gateway = ?::inet, dns_servers = ?::inet[], vlan_id = ?, site = ?,
              environment = ?, is_active = ?, updated_at = now(), site_ref_id = ?, vlan_ref_id = ?, custom_fields = ?::jsonb
        where p.id = ? returning ${POOL_COLUMNS}`,
      [
        name,
        v.description !== undefined ? v.description : row.description,
        net.text,
        gateway,
        inetArrayLiteral(dns),
        refs.vlanId === undefined && v.vlanId !== undefined ? v.vlanId : row.vlan_id,
        refs.siteId === undefined && v.site !== undefined ? v.site || null : row.site,
        v.environment !== undefined ? v.environment || null : row.environment,
        v.isActive ?? row.is_active,
        refs.siteId !== undefined ? refs.siteId : row.site_ref_id,
        refs.vlanId !== undefined ? refs.vlanId : row.vlan_ref_id,
        JSON.stringify(fields),
        row.id
      ]
    )
    const updated = upd.rows[0]!
    const after = await poolDto(trx, updated)
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

export async function deletePool(knex: Knex, ctx: RequestContext, ref: PoolRef, opts: { force?: boolean } & MutationOptions = {}): Promise<PoolDeleteResult> {
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_pool', resourceName: String(ref), details: { context: { force: !!opts.force } } }
  await authorize(knex, ctx, 'admin', 'deleting a pool', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const row = await findPoolRow(trx, ref, true)
    entry.resourceId = row.id
    entry.resourceName = row.name
    await opts.beforeChange?.(trx, { id: row.id, name: row.name, updatedAt: iso(row.updated_at)! })
    const before = await poolDto(trx, row)
    if (before.children > 0) {
      throw new AppError('CONFLICT', `pool: "${row.name}" is a container of ${before.children} pool(s); delete or merge them first`, { field: 'pool', children: before.children })
    }
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

/**
 * Sites, VLAN groups and VLANs (issue 16, item 5): the objects pools point at. Each change runs
 * authorize -> one transaction {change + audit row}. The database keeps the rules too: VID 1-4094 and unique
 * within a group (ip_vlans_vid_check, ip_vlans_group_vid_key), and a site or VLAN a pool points at cannot be
 * deleted (the foreign keys restrict); the service says so first, naming the pools.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import {
  siteCreateSchema,
  siteUpdateSchema,
  vlanCreateSchema,
  vlanGroupCreateSchema,
  vlanListSchema,
  vlanUpdateSchema,
  type ObjectRef,
  type SiteCreateInput,
  type SiteDto,
  type SiteUpdateInput,
  type VlanCreateInput,
  type VlanDto,
  type VlanGroupCreateInput,
  type VlanGroupDto,
  type VlanListInput,
  type VlanRef,
  type VlanUpdateInput
} from '../../../shared/ipam-objects'
import { appendAudit, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { authorize, mutate, type MutationOptions } from './mutation'
import { changedKeys, iso, parse, type Rows } from './rows'

const byId = (ref: ObjectRef): boolean => typeof ref === 'number'

/** The names of (up to 10 of) the pools pointing at a site or VLAN, for a refusal. */
async function poolsUsing(q: Knex | Knex.Transaction, column: 'site_ref_id' | 'vlan_ref_id', id: number): Promise<{ n: number; names: string[] }> {
  const r = await q.raw<Rows<{ n: number; names: string[] }>>(
    `select count(*)::int as n, (array_agg(name order by name))[1:10] as names from ip_pools where ${column} = ?`,
    [id]
  )
  return { n: r.rows[0]!.n, names: r.rows[0]!.names ?? [] }
}

const inUse = (u: { n: number; names: string[] }): string =>
  `is used by ${u.n} pool(s): ${u.names.map((n) => `"${n}"`).join(', ')}${u.n > u.names.length ? ', ...' : ''}; point them elsewhere first`

const pick = (changed: string[], o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(changed.map((k) => [k, o[k] ?? null]))

// ---------------------------------------------------------------- sites

interface SiteRow {
  id: number
  name: string
  description: string | null
  pools: number
  created_at: Date
  updated_at: Date
  created_by: string | null
}
const SITE_COLUMNS = `s.id, s.name, s.description, s.created_at, s.updated_at, s.created_by, (select count(*) from ip_pools p where p.site_ref_id = s.id)::int as pools`
const siteDto = (r: SiteRow): SiteDto => ({
  id: r.id,
  name: r.name,
  description: r.description,
  pools: r.pools,
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
  createdBy: r.created_by
})
const siteSnapshot = (s: SiteDto): Record<string, unknown> => ({ name: s.name, description: s.description })

/** A site by name or id; unknown ones are refused naming the field. */
export async function findSite(q: Knex | Knex.Transaction, ref: ObjectRef, field = 'site', lock = false): Promise<SiteRow> {
  const r = await q.raw<Rows<SiteRow>>(`select ${SITE_COLUMNS} from ip_sites s where ${byId(ref) ? 's.id = ?' : 's.name = ?'} ${lock ? 'for update' : ''}`, [
    byId(ref) ? ref : String(ref).trim()
  ])
  if (!r.rows[0]) throw new AppError('NOT_FOUND', `${field}: no site named "${ref}"; create it with \`netkeeper site add\``, { field })
  return r.rows[0]
}

export async function listSites(knex: Knex): Promise<SiteDto[]> {
  const r = await knex.raw<Rows<SiteRow>>(`select ${SITE_COLUMNS} from ip_sites s order by s.name`)
  return r.rows.map(siteDto)
}

export async function createSite(knex: Knex, ctx: RequestContext, input: SiteCreateInput, opts: MutationOptions = {}): Promise<SiteDto> {
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_site', resourceName: (input as { name?: string })?.name ?? null, details: { after: input } }
  await authorize(knex, ctx, 'admin', 'creating a site', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(siteCreateSchema, input)
      const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_sites where name = ?`, [v.name])
      if (clash.rows[0]) throw new AppError('CONFLICT', `name: a site named "${v.name}" already exists`, { field: 'name' })
      const ins = await trx.raw<Rows<{ id: number }>>(`insert into ip_sites (name, description, created_by) values (?, ?, ?) returning id`, [v.name, v.description || null, ctx.actor])
      const dto = siteDto(await findSite(trx, ins.rows[0]!.id))
      await appendAudit(trx, ctx, { action: 'create', resourceType: 'ip_site', resourceId: dto.id, resourceName: dto.name, details: { after: siteSnapshot(dto) } })
      return dto
    },
    opts.inTransaction
  )
}

export async function updateSite(knex: Knex, ctx: RequestContext, ref: ObjectRef, input: SiteUpdateInput, opts: MutationOptions = {}): Promise<SiteDto> {
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_site', resourceName: String(ref), details: { after: input } }
  await authorize(knex, ctx, 'admin', 'changing a site', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(siteUpdateSchema, input)
      const cur = await findSite(trx, ref, 'site', true)
      entry.resourceId = cur.id
      const before = siteDto(cur)
      if (v.name !== undefined && v.name !== cur.name) {
        const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_sites where name = ? and id <> ?`, [v.name, cur.id])
        if (clash.rows[0]) throw new AppError('CONFLICT', `name: a site named "${v.name}" already exists`, { field: 'name' })
      }
      const next = { name: v.name ?? cur.name, description: v.description !== undefined ? v.description || null : cur.description }
      const changed = changedKeys(siteSnapshot(before), next)
      if (!changed.length) return before
      // A rename rewrites the site text of its pools (trigger ip_sites_rename).
      await trx.raw(`update ip_sites set name = ?, description = ?, updated_at = now() where id = ?`, [next.name, next.description, cur.id])
      const after = siteDto(await findSite(trx, cur.id))
      await appendAudit(trx, ctx, {
        action: 'update',
        resourceType: 'ip_site',
        resourceId: cur.id,
        resourceName: after.name,
        details: { before: pick(changed, siteSnapshot(before)), after: pick(changed, siteSnapshot(after)), context: { changed, pools: after.pools } }
      })
      return after
    },
    opts.inTransaction
  )
}

export async function deleteSite(knex: Knex, ctx: RequestContext, ref: ObjectRef, opts: MutationOptions = {}): Promise<SiteDto> {
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_site', resourceName: String(ref), details: {} }
  await authorize(knex, ctx, 'admin', 'deleting a site', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const cur = await findSite(trx, ref, 'site', true)
      entry.resourceId = cur.id
      const u = await poolsUsing(trx, 'site_ref_id', cur.id)
      if (u.n) throw new AppError('CONFLICT', `site: "${cur.name}" ${inUse(u)}`, { field: 'site', pools: u.names })
      await trx.raw(`delete from ip_sites where id = ?`, [cur.id])
      const dto = siteDto(cur)
      await appendAudit(trx, ctx, { action: 'delete', resourceType: 'ip_site', resourceId: cur.id, resourceName: cur.name, details: { before: siteSnapshot(dto) } })
      return dto
    },
    opts.inTransaction
  )
}

// ---------------------------------------------------------------- VLAN groups

interface GroupRow {
  id: number
  name: string
  description: string | null
  vlans: number
  created_at: Date
  created_by: string | null
}
const GROUP_COLUMNS = `g.id, g.name, g.description, g.created_at, g.created_by, (select count(*) from ip_vlans v where v.group_id = g.id)::int as vlans`
const groupDto = (r: GroupRow): VlanGroupDto => ({ id: r.id, name: r.name, description: r.description, vlans: r.vlans, createdAt: iso(r.created_at)!, createdBy: r.created_by })

export async function findVlanGroup(q: Knex | Knex.Transaction, ref: ObjectRef, field = 'group', lock = false): Promise<GroupRow> {
  const r = await q.raw<Rows<GroupRow>>(`select ${GROUP_COLUMNS} from ip_vlan_groups g where ${byId(ref) ? 'g.id = ?' : 'g.name = ?'} ${lock ? 'for update' : ''}`, [
    byId(ref) ? ref : String(ref).trim()
  ])
  if (!r.rows[0]) throw new AppError('NOT_FOUND', `${field}: no VLAN group named "${ref}"; create it with \`netkeeper vlan group add\``, { field })
  return r.rows[0]
}

export async function listVlanGroups(knex: Knex): Promise<VlanGroupDto[]> {
  const r = await knex.raw<Rows<GroupRow>>(`select ${GROUP_COLUMNS} from ip_vlan_groups g order by g.name`)
  return r.rows.map(groupDto)
}

export async function createVlanGroup(knex: Knex, ctx: RequestContext, input: VlanGroupCreateInput, opts: MutationOptions = {}): Promise<VlanGroupDto> {
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_vlan_group', resourceName: (input as { name?: string })?.name ?? null, details: { after: input } }
  await authorize(knex, ctx, 'admin', 'creating a VLAN group', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(vlanGroupCreateSchema, input)
      const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_vlan_groups where name = ?`, [v.name])
      if (clash.rows[0]) throw new AppError('CONFLICT', `name: a VLAN group named "${v.name}" already exists`, { field: 'name' })
      const ins = await trx.raw<Rows<{ id: number }>>(`insert into ip_vlan_groups (name, description, created_by) values (?, ?, ?) returning id`, [
        v.name,
        v.description || null,
        ctx.actor
      ])
      const dto = groupDto(await findVlanGroup(trx, ins.rows[0]!.id))
      await appendAudit(trx, ctx, {
        action: 'create',
        resourceType: 'ip_vlan_group',
        resourceId: dto.id,
        resourceName: dto.name,
        details: { after: { name: dto.name, description: dto.description } }
      })
      return dto
    },
    opts.inTransaction
  )
}

export async function deleteVlanGroup(knex: Knex, ctx: RequestContext, ref: ObjectRef, opts: MutationOptions = {}): Promise<VlanGroupDto> {
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_vlan_group', resourceName: String(ref), details: {} }
  await authorize(knex, ctx, 'admin', 'deleting a VLAN group', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const cur = await findVlanGroup(trx, ref, 'group', true)
      entry.resourceId = cur.id
      if (cur.vlans) throw new AppError('CONFLICT', `group: "${cur.name}" still holds ${cur.vlans} VLAN(s); remove them first`, { field: 'group', vlans: cur.vlans })
      await trx.raw(`delete from ip_vlan_groups where id = ?`, [cur.id])
      const dto = groupDto(cur)
      await appendAudit(trx, ctx, {
        action: 'delete',
        resourceType: 'ip_vlan_group',
        resourceId: cur.id,
        resourceName: cur.name,
        details: { before: { name: dto.name, description: dto.description } }
      })
      return dto
    },
    opts.inTransaction
  )
}

// ---------------------------------------------------------------- VLANs

interface VlanRow {
  id: number
  group_id: number
  group_name: string
  vid: number
  name: string
  status: VlanDto['status']
  description: string | null
  pools: number
  created_at: Date
  updated_at: Date
  created_by: string | null
}
const VLAN_COLUMNS = `v.id, v.group_id, g.name as group_name, v.vid, v.name, v.status, v.description, v.created_at, v.updated_at, v.created_by,
  (select count(*) from ip_pools p where p.vlan_ref_id = v.id)::int as pools`
const vlanDto = (r: VlanRow): VlanDto => ({
  id: r.id,
  groupId: r.group_id,
  groupName: r.group_name,
  vid: r.vid,
  name: r.name,
  status: r.status,
  description: r.description,
  pools: r.pools,
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
  createdBy: r.created_by
})
const vlanSnapshot = (v: VlanDto): Record<string, unknown> => ({ group: v.groupName, vid: v.vid, name: v.name, status: v.status, description: v.description })

/** Splits "GROUP/VID" (or a bare "VID": the default group); refuses anything else naming the field. */
export function parseVlanText(text: string, field = 'vlan'): { group: string; vid: number } {
  const m = /^(?:(.+)\/)?\s*(-?\d+)$/.exec(text.trim())
  if (!m) throw validationError(field, `"${text}" is not GROUP/VID (e.g. campus/120)`)
  const vid = Number(m[2])
  if (vid < 1 || vid > 4094) throw validationError(field, 'VID out of range: must be 1-4094')
  return { group: (m[1] ?? 'default').trim(), vid }
}

/** A VLAN by id or "GROUP/VID"; unknown ones are refused naming the field. */
export async function findVlan(q: Knex | Knex.Transaction, ref: VlanRef, field = 'vlan', lock = false): Promise<VlanRow> {
  let r: Rows<VlanRow>
  if (typeof ref === 'number') {
    r = await q.raw<Rows<VlanRow>>(`select ${VLAN_COLUMNS} from ip_vlans v join ip_vlan_groups g on g.id = v.group_id where v.id = ? ${lock ? 'for update of v' : ''}`, [ref])
  } else {
    const { group, vid } = parseVlanText(ref, field)
    r = await q.raw<Rows<VlanRow>>(
      `select ${VLAN_COLUMNS} from ip_vlans v join ip_vlan_groups g on g.id = v.group_id where g.name = ? and v.vid = ? ${lock ? 'for update of v' : ''}`,
      [group, vid]
    )
  }
  if (!r.rows[0]) throw new AppError('NOT_FOUND', `${field}: no VLAN ${typeof ref === 'number' ? `#${ref}` : `"${ref}"`}; create it with \`netkeeper vlan add\``, { field })
  return r.rows[0]
}

export async function listVlans(knex: Knex, input: VlanListInput = {}): Promise<VlanDto[]> {
  const v = parse(vlanListSchema, input)
  const gid = v.group !== undefined ? (await findVlanGroup(knex, v.group)).id : null
  const r = await knex.raw<Rows<VlanRow>>(
    `select ${VLAN_COLUMNS} from ip_vlans v join ip_vlan_groups g on g.id = v.group_id ${gid !== null ? 'where v.group_id = ?' : ''} order by g.name, v.vid`,
    gid !== null ? [gid] : []
  )
  return r.rows.map(vlanDto)
}

export async function createVlan(knex: Knex, ctx: RequestContext, input: VlanCreateInput, opts: MutationOptions = {}): Promise<VlanDto> {
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_vlan', resourceName: null, details: { after: input } }
  await authorize(knex, ctx, 'admin', 'creating a VLAN', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(vlanCreateSchema, input)
      const g = await findVlanGroup(trx, v.group, 'group', true)
      entry.resourceName = `${g.name}/${v.vid}`
      const clash = await trx.raw<Rows<{ name: string }>>(`select name from ip_vlans where group_id = ? and vid = ?`, [g.id, v.vid])
      if (clash.rows[0]) throw new AppError('CONFLICT', `vid: VLAN ${v.vid} already exists in group "${g.name}" ("${clash.rows[0].name}")`, { field: 'vid' })
      const ins = await trx.raw<Rows<{ id: number }>>(
        `insert into ip_vlans (group_id, vid, name, status, description, created_by) values (?, ?, ?, ?, ?, ?) returning id`,
        [g.id, v.vid, v.name || `VLAN ${v.vid}`, v.status, v.description || null, ctx.actor]
      )
      const dto = vlanDto(await findVlan(trx, ins.rows[0]!.id))
      await appendAudit(trx, ctx, { action: 'create', resourceType: 'ip_vlan', resourceId: dto.id, resourceName: entry.resourceName, details: { after: vlanSnapshot(dto) } })
      return dto
    },
    opts.inTransaction
  )
}

export async function updateVlan(knex: Knex, ctx: RequestContext, ref: VlanRef, input: VlanUpdateInput, opts: MutationOptions = {}): Promise<VlanDto> {
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_vlan', resourceName: String(ref), details: { after: input } }
  await authorize(knex, ctx, 'admin', 'changing a VLAN', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(vlanUpdateSchema, input)
      const cur = await findVlan(trx, ref, 'vlan', true)
      entry.resourceId = cur.id
      entry.resourceName = `${cur.group_name}/${cur.vid}`
      const before = vlanDto(cur)
      if (v.vid !== undefined && v.vid !== cur.vid) {
        const clash = await trx.raw<Rows<{ name: string }>>(`select name from ip_vlans where group_id = ? and vid = ? and id <> ?`, [cur.group_id, v.vid, cur.id])
        if (clash.rows[0]) throw new AppError('CONFLICT', `vid: VLAN ${v.vid} already exists in group "${cur.group_name}" ("${clash.rows[0].name}")`, { field: 'vid' })
      }
      const next = {
        vid: v.vid ?? cur.vid,
        name: v.name ?? cur.name,
        status: v.status ?? cur.status,
        description: v.description !== undefined ? v.description || null : cur.description
      }
      const changed = changedKeys(vlanSnapshot(before), { ...vlanSnapshot(before), ...next })
      if (!changed.length) return before
      // A new VID rewrites the VID of its pools (trigger ip_vlans_vid).
      await trx.raw(`update ip_vlans set vid = ?, name = ?, status = ?, description = ?, updated_at = now() where id = ?`, [next.vid, next.name, next.status, next.description, cur.id])
      const after = vlanDto(await findVlan(trx, cur.id))
      await appendAudit(trx, ctx, {
        action: 'update',
        resourceType: 'ip_vlan',
        resourceId: cur.id,
        resourceName: `${after.groupName}/${after.vid}`,
        details: { before: pick(changed, vlanSnapshot(before)), after: pick(changed, vlanSnapshot(after)), context: { changed, pools: after.pools } }
      })
      return after
    },
    opts.inTransaction
  )
}

export async function deleteVlan(knex: Knex, ctx: RequestContext, ref: VlanRef, opts: MutationOptions = {}): Promise<VlanDto> {
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_vlan', resourceName: String(ref), details: {} }
  await authorize(knex, ctx, 'admin', 'deleting a VLAN', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const cur = await findVlan(trx, ref, 'vlan', true)
      entry.resourceId = cur.id
      entry.resourceName = `${cur.group_name}/${cur.vid}`
      const u = await poolsUsing(trx, 'vlan_ref_id', cur.id)
      if (u.n) throw new AppError('CONFLICT', `vlan: ${cur.group_name}/${cur.vid} ${inUse(u)}`, { field: 'vlan', pools: u.names })
      await trx.raw(`delete from ip_vlans where id = ?`, [cur.id])
      const dto = vlanDto(cur)
      await appendAudit(trx, ctx, { action: 'delete', resourceType: 'ip_vlan', resourceId: cur.id, resourceName: entry.resourceName, details: { before: vlanSnapshot(dto) } })
      return dto
    },
    opts.inTransaction
  )
}

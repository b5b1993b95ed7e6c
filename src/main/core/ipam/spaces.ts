/** Address spaces (VRFs): create, list, show, rename/describe and delete, each change with its audit row. */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import { spaceCreateSchema, spaceUpdateSchema, type SpaceCreateInput, type SpaceDto, type SpaceRef, type SpaceUpdateInput } from '../../../shared/ipam'
import { appendAudit, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { authorize, mutate, type MutationOptions } from './mutation'
import { changedKeys, findSpaceId, iso, parse, type Rows } from './rows'

interface SpaceRow {
  id: number
  name: string
  description: string | null
  is_default: boolean
  pools: number
  created_at: Date
  updated_at: Date
  created_by: string | null
}

const COLUMNS = `s.id, s.name, s.description, s.is_default, s.created_at, s.updated_at, s.created_by,
  (select count(*) from ip_pools p where p.space_id = s.id)::int as pools`

const toDto = (r: SpaceRow): SpaceDto => ({
  id: r.id,
  name: r.name,
  description: r.description,
  isDefault: r.is_default,
  pools: r.pools,
  createdAt: iso(r.created_at)!,
  updatedAt: iso(r.updated_at)!,
  createdBy: r.created_by
})

const snapshot = (s: SpaceDto): Record<string, unknown> => ({ name: s.name, description: s.description })

async function row(q: Knex | Knex.Transaction, ref: SpaceRef, lock = false): Promise<SpaceRow> {
  const id = await findSpaceId(q, ref)
  const r = await q.raw<Rows<SpaceRow>>(`select ${COLUMNS} from ip_spaces s where s.id = ? ${lock ? 'for update' : ''}`, [id])
  return r.rows[0]!
}

export async function listSpaces(knex: Knex): Promise<SpaceDto[]> {
  const r = await knex.raw<Rows<SpaceRow>>(`select ${COLUMNS} from ip_spaces s order by s.is_default desc, s.name`)
  return r.rows.map(toDto)
}

export async function getSpace(knex: Knex, ref: SpaceRef): Promise<SpaceDto> {
  return toDto(await row(knex, ref))
}

export async function createSpace(knex: Knex, ctx: RequestContext, input: SpaceCreateInput, opts: MutationOptions = {}): Promise<SpaceDto> {
  const entry: AuditEntry = { action: 'create', resourceType: 'ip_space', resourceName: (input as { name?: string })?.name ?? null, details: { after: input } }
  await authorize(knex, ctx, 'admin', 'creating an address space', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(spaceCreateSchema, input)
    const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_spaces where name = ?`, [v.name])
    if (clash.rows[0]) throw new AppError('CONFLICT', `name: an address space named "${v.name}" already exists`, { field: 'name' })
    if (/^\d+$/.test(v.name)) throw new AppError('VALIDATION', `name: "${v.name}" is all digits, which reads as a space id; add a letter`, { field: 'name' })
    const ins = await trx.raw<Rows<{ id: number }>>(`insert into ip_spaces (name, description, created_by) values (?, ?, ?) returning id`, [v.name, v.description ?? null, ctx.actor])
    const dto = toDto(await row(trx, ins.rows[0]!.id))
    await appendAudit(trx, ctx, { action: 'create', resourceType: 'ip_space', resourceId: dto.id, resourceName: dto.name, details: { after: snapshot(dto) } })
    return dto
  }, opts.inTransaction)
}

export async function updateSpace(knex: Knex, ctx: RequestContext, ref: SpaceRef, input: SpaceUpdateInput, opts: MutationOptions = {}): Promise<SpaceDto> {
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_space', resourceName: String(ref), details: { after: input } }
  await authorize(knex, ctx, 'admin', 'changing an address space', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const v = parse(spaceUpdateSchema, input)
    const cur = await row(trx, ref, true)
    entry.resourceId = cur.id
    const before = toDto(cur)
    if (v.name !== undefined && v.name !== cur.name) {
      const clash = await trx.raw<Rows<{ id: number }>>(`select id from ip_spaces where name = ? and id <> ?`, [v.name, cur.id])
      if (clash.rows[0]) throw new AppError('CONFLICT', `name: an address space named "${v.name}" already exists`, { field: 'name' })
    }
    const next = { name: v.name ?? cur.name, description: v.description !== undefined ? v.description || null : cur.description }
    const changed = changedKeys(snapshot(before), next)
    if (!changed.length) return before
    await trx.raw(`update ip_spaces set name = ?, description = ?, updated_at = now() where id = ?`, [next.name, next.description, cur.id])
    const after = toDto(await row(trx, cur.id))
    const pick = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(changed.map((k) => [k, o[k] ?? null]))
    await appendAudit(trx, ctx, {
      action: 'update',
      resourceType: 'ip_space',
      resourceId: cur.id,
      resourceName: after.name,
      details: { before: pick(snapshot(before)), after: pick(snapshot(after)), context: { changed } }
    })
    return after
  }, opts.inTransaction)
}

export async function deleteSpace(knex: Knex, ctx: RequestContext, ref: SpaceRef, opts: MutationOptions = {}): Promise<SpaceDto> {
  const entry: AuditEntry = { action: 'delete', resourceType: 'ip_space', resourceName: String(ref), details: {} }
  await authorize(knex, ctx, 'admin', 'deleting an address space', entry)
  return mutate(knex, ctx, entry, async (trx) => {
    const cur = await row(trx, ref, true)
    entry.resourceId = cur.id
    if (cur.is_default) throw new AppError('CONFLICT', `space: "${cur.name}" is the default space and cannot be deleted`, { field: 'space' })
    if (cur.pools > 0) throw new AppError('CONFLICT', `space: "${cur.name}" still holds ${cur.pools} pool(s); delete them first`, { field: 'space', pools: cur.pools })
    await trx.raw(`delete from ip_spaces where id = ?`, [cur.id])
    const dto = toDto(cur)
    await appendAudit(trx, ctx, { action: 'delete', resourceType: 'ip_space', resourceId: cur.id, resourceName: cur.name, details: { before: snapshot(dto) } })
    return dto
  }, opts.inTransaction)
}

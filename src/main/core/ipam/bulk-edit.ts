/**
 * Bulk edit of a pool's allocations (issue 16, item 8): one change (status, owner, description, tags added or
 * removed, custom field values) applied to every selected address in one request and one transaction, with one
 * audit row per address that changed, all under the request's one id. Anything wrong with any address (not
 * held in the pool, a custom field value refused) changes nothing.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import type { AllocationDto } from '../../../shared/ipam'
import { bulkEditSchema, type BulkEditInput, type BulkEditResult } from '../../../shared/ipam-objects'
import { parseIp } from '../../../shared/net'
import { appendAudits, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { allocSnapshot } from './allocations'
import { authorize, mutate, type MutationOptions } from './mutation'
import { ALLOC_COLUMNS, changedKeys, findPoolRow, parse, toAllocationDto, type AllocRow, type Rows } from './rows'
import { applyAllocationTags, mergeFieldValues, tagIds } from './tags'

export type { BulkEditResult }

export async function bulkEdit(knex: Knex, ctx: RequestContext, input: BulkEditInput, opts: MutationOptions = {}): Promise<BulkEditResult> {
  const raw = (input ?? {}) as Partial<BulkEditInput>
  const entry: AuditEntry = {
    action: 'update',
    resourceType: 'ip_allocation',
    resourceName: String(raw.pool ?? ''),
    details: { after: { ...raw.set }, context: { operation: 'bulk-edit', addresses: raw.ips?.length ?? 0 } }
  }
  await authorize(knex, ctx, 'operator', 'editing addresses in bulk', entry)
  return mutate(
    knex,
    ctx,
    entry,
    async (trx) => {
      const v = parse(bulkEditSchema, input)
      const set = v.set
      if (!Object.values(set).some((x) => x !== undefined)) throw validationError('set', 'nothing to change')
      const pool = await findPoolRow(trx, v.pool, true, false)
      const ips = v.ips.map((t, i) => parseIp(t, `ips[${i}]`).text)
      const rows = await trx.raw<Rows<AllocRow>>(
        `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where a.pool_id = ? and a.ip_address = any(?::inet[]) order by a.ip_address for update of a`,
        [pool.id, ips]
      )
      const held = new Set(rows.rows.map((r) => r.ip))
      const missing = ips.find((ip) => !held.has(ip))
      if (missing) throw new AppError('NOT_FOUND', `ips: ${missing} is not held in pool "${pool.name}"; nothing was changed`, { field: 'ips', ip: missing })
      const add = set.addTags?.length ? [...(await tagIds(trx, set.addTags, 'addTags')).values()] : []
      const remove = set.removeTags?.length ? [...(await tagIds(trx, set.removeTags, 'removeTags')).values()] : []
      const items: AllocationDto[] = []
      const unchanged: string[] = []
      const audits: AuditEntry[] = []
      for (const row of rows.rows) {
        const before = toAllocationDto(row)
        const status = set.status ?? row.status
        let fields = before.customFields ?? {}
        if (set.fields) {
          try {
            fields = await mergeFieldValues(trx, 'allocation', fields, set.fields)
          } catch (e) {
            if (e instanceof AppError) throw new AppError(e.code, `${row.ip}: ${e.message}; nothing was changed`, { ...e.details, ip: row.ip })
            throw e
          }
        }
        await trx.raw(
          `update ip_allocations set status = ?, reserved_until = ?, owner = ?, description = ?, custom_fields = ?::jsonb where id = ?`,
          [
            status,
            status === 'reserved' ? row.reserved_until : null,
            set.owner !== undefined ? set.owner || null : row.owner,
            set.description !== undefined ? set.description || null : row.description,
            JSON.stringify(fields),
            row.id
          ]
        )
        if (add.length || remove.length) await applyAllocationTags(trx, row.id, { add, remove })
        const now = await trx.raw<Rows<AllocRow>>(`select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where a.id = ?`, [row.id])
        const after = toAllocationDto(now.rows[0]!)
        const changed = changedKeys(allocSnapshot(before, true), allocSnapshot(after, true))
        if (!changed.length) {
          unchanged.push(row.ip)
          continue
        }
        const bumped = await trx.raw<Rows<AllocRow>>(
          `update ip_allocations a set version = version + 1, updated_at = now() from ip_pools p where p.id = a.pool_id and a.id = ? returning ${ALLOC_COLUMNS}`,
          [row.id]
        )
        const final = toAllocationDto(bumped.rows[0]!)
        const pick = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(changed.map((k) => [k, o[k] ?? null]))
        audits.push({
          action: 'update',
          resourceType: 'ip_allocation',
          resourceId: row.id,
          resourceName: row.ip,
          details: { before: pick(allocSnapshot(before, true)), after: pick(allocSnapshot(final, true)), context: { operation: 'bulk-edit', changed, pool: pool.name, version: final.version } }
        })
        items.push(final)
      }
      if (audits.length) await appendAudits(trx, ctx, audits)
      return { pool: pool.name, items, unchanged }
    },
    opts.inTransaction
  )
}

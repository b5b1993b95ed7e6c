/**
 * Allocations owned by a directory person (owner_dn): the person's addresses, their hand-over to another
 * person, and the rewrite of the DN when the person is renamed. Each change is one transaction with one
 * audit row per allocation (operation owner-renamed or hand-over), under the caller's request id, so a
 * person's deletion with its hand-over reads as one request across the directory and IPAM rows.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { isDn } from '../../../shared/dn'
import { validationError } from '../../../shared/errors'
import type { AllocationDto } from '../../../shared/ipam'
import { appendAudits, type AuditEntry } from '../audit/writer'
import type { RequestContext } from '../context'
import { authorize, mutate } from './mutation'
import { ALLOC_COLUMNS, toAllocationDto, type AllocRow, type Rows } from './rows'

export async function allocationsOfOwner(knex: Knex | Knex.Transaction, dn: string): Promise<AllocationDto[]> {
  const r = await knex.raw<Rows<AllocRow>>(
    `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where lower(a.owner_dn) = lower(?) order by a.ip_address`,
    [dn]
  )
  return r.rows.map(toAllocationDto)
}

/** Moves every allocation of `fromDn` to `to` (a DN and a display name); `operation` names why in the audit rows. */
export async function reassignOwner(
  knex: Knex,
  ctx: RequestContext,
  fromDn: string,
  to: { dn: string; name: string | null },
  operation: 'owner-renamed' | 'hand-over'
): Promise<AllocationDto[]> {
  const entry: AuditEntry = { action: 'update', resourceType: 'ip_allocation', resourceName: fromDn.slice(0, 255), details: { context: { operation, fromDn, toDn: to.dn } } }
  await authorize(knex, ctx, 'operator', operation === 'hand-over' ? 'handing over addresses' : 'following a renamed owner', entry)
  if (!isDn(to.dn)) throw validationError('to', `${to.dn} is not a distinguished name`)
  return mutate(knex, ctx, entry, async (trx) => {
    const before = await trx.raw<Rows<AllocRow>>(
      `select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where lower(a.owner_dn) = lower(?) order by a.ip_address for update of a`,
      [fromDn]
    )
    if (!before.rows.length) return []
    const setName = operation === 'hand-over'
    await trx.raw(
      `update ip_allocations set owner_dn = ?, ${setName ? 'owner = ?,' : ''} version = version + 1, updated_at = now() where id = any(?::int[])`,
      [to.dn, ...(setName ? [to.name] : []), before.rows.map((r) => r.id)] as unknown as Knex.RawBinding[]
    )
    const after = await trx.raw<Rows<AllocRow>>(`select ${ALLOC_COLUMNS} from ip_allocations a join ip_pools p on p.id = a.pool_id where a.id = any(?::int[]) order by a.ip_address`, [
      before.rows.map((r) => r.id)
    ] as unknown as Knex.RawBinding[])
    const dtos = after.rows.map(toAllocationDto)
    await appendAudits(
      trx,
      ctx,
      before.rows.map((r) => ({
        action: 'update',
        resourceType: 'ip_allocation',
        resourceId: r.id,
        resourceName: r.ip,
        details: {
          before: { ownerDn: r.owner_dn ?? null, ...(setName ? { owner: r.owner } : {}) },
          after: { ownerDn: to.dn, ...(setName ? { owner: to.name } : {}) },
          context: { operation, pool: r.pool_name }
        }
      }))
    )
    return dtos
  })
}

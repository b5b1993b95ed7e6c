/**
 * Retention: the policies (days to keep per resource type; 365 where none is set; purge records forever)
 * and the purge, which leaves a checkpoint per run of removed rows and is itself audited, so verify still
 * holds and can prove what was removed.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import { DEFAULT_RETENTION_DAYS, policySetSchema, type PolicySetInput, type PurgeReport, type RetentionPolicyDto } from '../../../shared/audit'
import { requireRole, type RequestContext } from '../context'
import { parse, type Rows } from './rows'
import { SEARCH_LOCK_SQL } from './search-index'
import { appendAudit, recordFailure } from './writer'

export async function listPolicies(knex: Knex): Promise<RetentionPolicyDto[]> {
  const r = await knex.raw<Rows<{ resource_type: string; retention_days: number | null; is_active: boolean; created_at: Date; updated_at: Date }>>(
    `select resource_type, retention_days, is_active, created_at, updated_at from audit_log_retention_policies order by resource_type`
  )
  return r.rows.map((p) => ({
    resourceType: p.resource_type,
    retentionDays: p.retention_days,
    isActive: p.is_active,
    createdAt: new Date(p.created_at).toISOString(),
    updatedAt: new Date(p.updated_at).toISOString()
  }))
}

export async function setPolicy(knex: Knex, ctx: RequestContext, input: PolicySetInput): Promise<RetentionPolicyDto> {
  const entry = { action: 'update' as const, resourceType: 'audit_retention_policy', resourceName: (input as { resourceType?: string })?.resourceType ?? null, details: { after: input } }
  try {
    requireRole(ctx, 'admin', 'changing a retention policy')
    const v = parse(policySetSchema, input)
    if (v.resourceType === 'audit_log') throw validationError('resourceType', 'purge records (audit_log) are kept forever so verification can always prove what was removed')
    return await knex.transaction(async (trx) => {
      const before = (await trx.raw<Rows<{ retention_days: number | null; is_active: boolean }>>(`select retention_days, is_active from audit_log_retention_policies where resource_type = ? for update`, [v.resourceType])).rows[0]
      if (before && before.retention_days === v.retentionDays && before.is_active === v.isActive) {
        return (await listPolicies(knex)).find((p) => p.resourceType === v.resourceType)!
      }
      await trx.raw(
        `insert into audit_log_retention_policies (resource_type, retention_days, is_active) values (?, ?, ?)
         on conflict (resource_type) do update set retention_days = excluded.retention_days, is_active = excluded.is_active, updated_at = now()`,
        [v.resourceType, v.retentionDays, v.isActive]
      )
      await appendAudit(trx, ctx, {
        action: before ? 'update' : 'create',
        resourceType: 'audit_retention_policy',
        resourceName: v.resourceType,
        details: { ...(before ? { before: { retentionDays: before.retention_days, isActive: before.is_active } } : {}), after: { retentionDays: v.retentionDays, isActive: v.isActive } }
      })
      const r = await trx.raw<Rows<{ created_at: Date; updated_at: Date }>>(`select created_at, updated_at from audit_log_retention_policies where resource_type = ?`, [v.resourceType])
      return { resourceType: v.resourceType, retentionDays: v.retentionDays, isActive: v.isActive, createdAt: new Date(r.rows[0]!.created_at).toISOString(), updatedAt: new Date(r.rows[0]!.updated_at).toISOString() }
    })
  } catch (e) {
    const err = e instanceof AppError ? e : new AppError('INTERNAL', (e as Error).message)
    await recordFailure(knex, ctx, entry, err)
    throw err
  }
}

/** A refused role check is recorded like any other refusal. */
async function authorize(knex: Knex, ctx: RequestContext, what: string, resourceType: string, resourceName: string | null): Promise<void> {
  try {
    requireRole(ctx, 'admin', what)
  } catch (e) {
    await recordFailure(knex, ctx, { action: 'authorize', resourceType, resourceName }, e as AppError)
    throw e
  }
}

export async function removePolicy(knex: Knex, ctx: RequestContext, resourceType: string): Promise<{ removed: boolean }> {
  await authorize(knex, ctx, 'removing a retention policy', 'audit_retention_policy', resourceType)
  return knex.transaction(async (trx) => {
    const r = await trx.raw<Rows<{ retention_days: number | null; is_active: boolean }>>(
      `delete from audit_log_retention_policies where resource_type = ? returning retention_days, is_active`,
      [resourceType]
    )
    const before = r.rows[0]
    if (!before) return { removed: false }
    await appendAudit(trx, ctx, {
      action: 'delete',
      resourceType: 'audit_retention_policy',
      resourceName: resourceType,
      details: { before: { retentionDays: before.retention_days, isActive: before.is_active }, context: { nowUses: `${DEFAULT_RETENTION_DAYS} days (the default)` } }
    })
    return { removed: true }
  })
}

/**
 * Removes rows older than their resource type's retention (365 days where no policy is set; purge records
 * are kept forever). Each run of consecutive removed rows leaves a checkpoint, and the purge itself is
 * audited with the list of runs, so `verify` still holds and can prove what was removed.
 */
export async function purge(knex: Knex, ctx: RequestContext, opts: { dryRun?: boolean; now?: Date } = {}): Promise<PurgeReport> {
  await authorize(knex, ctx, 'purging the audit log', 'audit_log', 'retention purge')
  const now = (opts.now ?? new Date()).toISOString()
  const doomedSql = `
    select a.seq, a.row_hash, a.resource_type from audit_logs a
      left join audit_log_retention_policies p on p.resource_type = a.resource_type and p.is_active
     where a.resource_type <> 'audit_log'
       and case when p.resource_type is null then a.created_at < ?::timestamptz - make_interval(days => ${DEFAULT_RETENTION_DAYS})
                when p.retention_days is null then false
                else a.created_at < ?::timestamptz - make_interval(days => p.retention_days) end`
  const policies = await listPolicies(knex)
  const cutoffs: Record<string, string | null> = { '*': new Date(Date.parse(now) - DEFAULT_RETENTION_DAYS * 86400_000).toISOString() }
  for (const p of policies.filter((x) => x.isActive)) cutoffs[p.resourceType] = p.retentionDays === null ? null : new Date(Date.parse(now) - p.retentionDays * 86400_000).toISOString()

  return knex.transaction(async (trx) => {
    // Hold the chain head so no row is appended between choosing the runs and recording them.
    await trx.raw(`select 1 from audit_chain_head where id = 1 for update`)
    const byTypeRows = await trx.raw<Rows<{ resource_type: string; n: number }>>(`select resource_type, count(*)::int as n from (${doomedSql}) d group by 1 order by 1`, [now, now])
    const byType = Object.fromEntries(byTypeRows.rows.map((r) => [r.resource_type, r.n]))
    const rows = byTypeRows.rows.reduce((n, r) => n + r.n, 0)
    const runs = (
      await trx.raw<Rows<{ first_seq: string; last_seq: string; last_hash: string; n: string }>>(
        `select min(seq)::text as first_seq, max(seq)::text as last_seq, (array_agg(row_hash order by seq desc))[1] as last_hash, count(*)::text as n
           from (select seq, row_hash, seq - row_number() over (order by seq) as g from (${doomedSql}) d) x
          group by g order by min(seq)`,
        [now, now]
      )
    ).rows
    if (opts.dryRun || rows === 0) {
      return { dryRun: !!opts.dryRun, byType, rows, ranges: runs.length, cutoffs, purgeSeq: null }
    }
    await trx.raw(`set local netkeeper.audit_purge = 'on'`)
    // The search indexer's steps hold this lock shared: none is copying a row while it goes.
    await trx.raw(`select pg_advisory_xact_lock(${SEARCH_LOCK_SQL})`)
    // A run may continue one left by an earlier purge: checkpoints are kept per run, verify chains them.
    for (const run of runs) {
      await trx.raw(`delete from audit_logs where seq between ?::bigint and ?::bigint`, [run.first_seq, run.last_seq])
      // The search copies of removed import rows go with them.
      await trx.raw(`delete from audit_import_search where seq between ?::bigint and ?::bigint`, [run.first_seq, run.last_seq])
    }
    await trx.raw(`set local netkeeper.audit_purge = 'off'`)
    const appended = await appendAudit(trx, ctx, {
      action: 'delete',
      resourceType: 'audit_log',
      resourceName: 'retention purge',
      details: { context: { rows, byType, cutoffs, runs: runs.map((r) => [r.first_seq, r.last_seq, r.last_hash]) } }
    })
    await trx.raw(
      `insert into audit_checkpoints (first_seq, last_seq, last_hash, rows, purge_seq)
       select * from unnest(?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[])`,
      [runs.map((r) => r.first_seq), runs.map((r) => r.last_seq), runs.map((r) => r.last_hash), runs.map((r) => r.n), runs.map(() => appended.seq)] as unknown as Knex.RawBinding[]
    )
    return { dryRun: false, byType, rows, ranges: runs.length, cutoffs, purgeSeq: appended.seq }
  })
}

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
  return knex.transaction(async (trx) => {
    // The server chooses the rows by its own clock (a later `now` is the owner's test hook), holds the chain
    // head so nothing is appended between choosing the runs and recording them, and removes them unless this
    // is a dry run (audit_purge_runs, owned by netkeeper_owner: no other role may delete audit rows). The
    // search indexer's steps hold the search lock shared: the function takes it before deleting.
    const out = (
      await trx.raw<Rows<{ first_seq: string | null; last_seq: string | null; last_hash: string | null; n: string | null; by_type: Record<string, number> | null; cutoff: Date }>>(
        `select first_seq::text as first_seq, last_seq::text as last_seq, last_hash, n::text as n, by_type, cutoff from audit_purge_runs(?::timestamptz, ?::int, ?::boolean)`,
        [opts.now ? opts.now.toISOString() : null, DEFAULT_RETENTION_DAYS, !!opts.dryRun]
      )
    ).rows
    const runs = out.filter((r) => r.first_seq !== null) as Array<{ first_seq: string; last_seq: string; last_hash: string; n: string }>
    const byType = Object.fromEntries(Object.entries(out.find((r) => r.first_seq === null)?.by_type ?? {}).map(([k, v]) => [k, Number(v)]))
    const rows = Object.values(byType).reduce((n, v) => n + v, 0)
    const at = Date.parse(new Date(out[0]!.cutoff).toISOString())
    const policies = (
      await trx.raw<Rows<{ resource_type: string; retention_days: number | null }>>(
        `select resource_type, retention_days from audit_log_retention_policies where is_active order by resource_type`
      )
    ).rows
    const cutoffs: Record<string, string | null> = { '*': new Date(at - DEFAULT_RETENTION_DAYS * 86400_000).toISOString() }
    for (const p of policies) cutoffs[p.resource_type] = p.retention_days === null ? null : new Date(at - p.retention_days * 86400_000).toISOString()
    if (opts.dryRun || rows === 0) {
      return { dryRun: !!opts.dryRun, byType, rows, ranges: runs.length, cutoffs, purgeSeq: null }
    }
    const appended = await appendAudit(trx, ctx, {
      action: 'delete',
      resourceType: 'audit_log',
      resourceName: 'retention purge',
      details: { context: { rows, byType, cutoffs, runs: runs.map((r) => [r.first_seq, r.last_seq, r.last_hash]) } }
    })
    // A run may continue one left by an earlier purge: checkpoints are kept per run, verify chains them.
    await trx.raw(`select audit_purge_checkpoints(?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint)`, [
      runs.map((r) => r.first_seq),
      runs.map((r) => r.last_seq),
      runs.map((r) => r.last_hash),
      runs.map((r) => r.n),
      appended.seq
    ] as unknown as Knex.RawBinding[])
    return { dryRun: false, byType, rows, ranges: runs.length, cutoffs, purgeSeq: appended.seq }
  })
}

/**
 * Retention: the policies (days to keep per resource type; a type without an active policy is kept forever,
 * and so are purge records) and the purge, which archives what it removes before removing it, leaves a
 * checkpoint per run of removed rows and is itself audited, so verify still holds and can prove what was
 * removed, and `verify --archives` can show it.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError, validationError } from '../../../shared/errors'
import { policySetSchema, type PolicySetInput, type PurgeReport, type RetentionPolicyDto } from '../../../shared/audit'
import { requireRole, type RequestContext } from '../context'
import { prepareArchiveDir, removeArchive, writeArchiveData, writeArchiveManifest, type PendingArchive } from './archive'
import { parse, type Rows } from './rows'
import { appendAudit, recordFailure } from './writer'

/** Where a purge writes its archive: the folder, whether it is the default (then it is created), and the database's name for the manifest. */
export interface ArchiveTarget {
  dir: string
  isDefault: boolean
  database: string
}

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
      details: { before: { retentionDays: before.retention_days, isActive: before.is_active }, context: { nowKept: 'forever (no policy)' } }
    })
    return { removed: true }
  })
}

/** The cutoff of each active policy at `at` (null: kept forever). Types without an active policy have none: nothing of theirs goes. */
async function cutoffsAt(knex: Knex, at: number): Promise<Record<string, string | null>> {
  const policies = (
    await knex.raw<Rows<{ resource_type: string; retention_days: number | null }>>(
      `select resource_type, retention_days from audit_log_retention_policies where is_active order by resource_type`
    )
  ).rows
  const cutoffs: Record<string, string | null> = {}
  for (const p of policies) cutoffs[p.resource_type] = p.retention_days === null ? null : new Date(at - p.retention_days * 86400_000).toISOString()
  return cutoffs
}

type PlanRow = { first_seq: string | null; last_seq: string | null; last_hash: string | null; n: string | null; by_type: Record<string, number> | null; cutoff: Date }
type Run = { first_seq: string; last_seq: string; last_hash: string; n: string }

function summarise(out: PlanRow[]): { runs: Run[]; byType: Record<string, number>; rows: number; at: number } {
  const runs = out.filter((r) => r.first_seq !== null) as Run[]
  const byType = Object.fromEntries(Object.entries(out.find((r) => r.first_seq === null)?.by_type ?? {}).map(([k, v]) => [k, Number(v)]))
  return { runs, byType, rows: Object.values(byType).reduce((n, v) => n + v, 0), at: Date.parse(new Date(out[0]!.cutoff).toISOString()) }
}

/**
 * What a purge `inMs` milliseconds from now (by the server's clock) would remove, read without locking anything: the
 * same rows the purge itself chooses (both ask audit_purge_due). Any role may look; Settings shows it.
 */
export async function preview(knex: Knex, inMs?: number): Promise<PurgeReport> {
  const out = (
    await knex.raw<Rows<PlanRow>>(
      `with t as (select now() + ?::double precision * interval '1 millisecond' as at),
            d as (select d.* from t, audit_purge_due(t.at) d),
            g as (select d.seq, d.row_hash, d.seq - row_number() over (order by d.seq) as g from d)
       select min(seq)::text as first_seq, max(seq)::text as last_seq, null::text as last_hash, count(*)::text as n,
              null::jsonb as by_type, (select at from t) as cutoff
         from g group by g.g
       union all
       select null, null, null, null, coalesce((select jsonb_object_agg(x.resource_type, x.c) from (select resource_type, count(*) as c from d group by 1) x), '{}'::jsonb),
              (select at from t)`,
      [Math.max(0, inMs ?? 0)]
    )
  ).rows
  const s = summarise(out)
  return { dryRun: true, byType: s.byType, rows: s.rows, ranges: s.runs.length, cutoffs: await cutoffsAt(knex, s.at), purgeSeq: null, asOf: new Date(s.at).toISOString(), archive: null }
}

/**
 * Removes the rows older than their resource type's active policy; a type without one is kept forever, and
 * purge records always are. In one transaction: the server chooses the rows and locks the chain head
 * (audit_purge_plan), the rows are written to an archive in `target.dir` and synced to disk, the server
 * removes them (audit_purge_delete), the purge is audited with its runs and the archive's name and SHA-256,
 * a checkpoint is left per run, and the archive's manifest (naming the purge record) is written and synced.
 * If the archive cannot be written, nothing is removed; if the transaction fails, the archive is removed.
 */
export async function purge(knex: Knex, ctx: RequestContext, target: ArchiveTarget, opts: { dryRun?: boolean; now?: Date } = {}): Promise<PurgeReport> {
  await authorize(knex, ctx, 'purging the audit log', 'audit_log', 'retention purge')
  if (!opts.dryRun) prepareArchiveDir(target.dir, target.isDefault)
  const written: { archive?: PendingArchive } = {}
  try {
    return await knex.transaction(async (trx) => {
      // The server chooses the rows by its own clock (a later `now` is the owner's test hook) and holds the chain
      // head until this transaction ends, so nothing is appended between choosing the runs and recording them.
      const s = summarise(
        (
          await trx.raw<Rows<PlanRow>>(
            `select first_seq::text as first_seq, last_seq::text as last_seq, last_hash, n::text as n, by_type, cutoff from audit_purge_plan(?::timestamptz)`,
            [opts.now ? opts.now.toISOString() : null]
          )
        ).rows
      )
      const cutoffs = await cutoffsAt(trx, s.at)
      const asOf = new Date(s.at).toISOString()
      if (opts.dryRun || s.rows === 0) {
        return { dryRun: !!opts.dryRun, byType: s.byType, rows: s.rows, ranges: s.runs.length, cutoffs, purgeSeq: null, asOf, archive: null }
      }
      // The planned runs, with the hash before each (the previous row's, still in the log: the head is locked).
      const before = new Map(
        (
          await trx.raw<Rows<{ seq: string; prev_hash: string }>>(`select seq::text as seq, prev_hash from audit_logs where seq = any(?::bigint[])`, [
            s.runs.map((r) => r.first_seq)
          ] as unknown as Knex.RawBinding[])
        ).rows.map((r) => [r.seq, r.prev_hash])
      )
      const archive = await writeArchiveData(
        trx,
        target.dir,
        s.runs.map((r) => ({ firstSeq: r.first_seq, lastSeq: r.last_seq, rows: Number(r.n), hashBefore: before.get(r.first_seq)!, lastHash: r.last_hash }))
      )
      if (!archive) throw new AppError('INTERNAL', 'the purge chose rows but archived none; nothing was removed')
      written.archive = archive
      const deleted = Number((await trx.raw<Rows<{ n: string }>>(`select audit_purge_delete()::text as n`)).rows[0]!.n)
      if (deleted !== s.rows) throw new AppError('INTERNAL', `the purge chose ${s.rows} rows but removed ${deleted}; nothing was removed`)
      const appended = await appendAudit(trx, ctx, {
        action: 'delete',
        resourceType: 'audit_log',
        resourceName: 'retention purge',
        details: {
          context: {
            rows: s.rows,
            byType: s.byType,
            cutoffs,
            runs: s.runs.map((r) => [r.first_seq, r.last_seq, r.last_hash]),
            archive: { file: archive!.name, sha256: archive!.sha256, bytes: archive!.bytes, rows: archive!.rows }
          }
        }
      })
      // A run may continue one left by an earlier purge: checkpoints are kept per run, verify chains them.
      await trx.raw(`select audit_purge_checkpoints(?::bigint[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint)`, [
        s.runs.map((r) => r.first_seq),
        s.runs.map((r) => r.last_seq),
        s.runs.map((r) => r.last_hash),
        s.runs.map((r) => r.n),
        appended.seq
      ] as unknown as Knex.RawBinding[])
      const summary = await writeArchiveManifest(archive!, { purpose: 'purge', purgeSeq: appended.seq, purgeRowHash: appended.rowHash, database: target.database })
      return { dryRun: false, byType: s.byType, rows: s.rows, ranges: s.runs.length, cutoffs, purgeSeq: appended.seq, asOf, archive: summary }
    })
  } catch (e) {
    // Nothing was removed (the transaction rolled back): an archive of rows still in the log must not stay.
    if (written.archive) await removeArchive(written.archive)
    throw e
  }
}

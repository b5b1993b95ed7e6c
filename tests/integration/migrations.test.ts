import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
import { freshDatabase, withClient } from '../support/db'
import { migrationsList } from '../../migrations'

const ALL = migrationsList.map((m) => m.name)

let url: string
let db: Database

const tables = (u: string): Promise<string[]> =>
  withClient(u, async (c) => (await c.query(`select table_name from information_schema.tables where table_schema = 'public' order by 1`)).rows.map((r) => r.table_name))

beforeAll(async () => {
  url = await freshDatabase('mig')
  db = await Database.open(await resolveConnection({ databaseUrl: url, dataDir: '/nonexistent' }))
})
afterAll(async () => {
  await db?.close()
})

describe('migrations on a PostgreSQL server', () => {
  it('apply, roll back to 0 and apply again', async () => {
    expect((await db.migrationState()).pending).toEqual(ALL)
    expect(await db.migrate()).toEqual(ALL)
    const state = await db.migrationState()
    expect(state.pending).toEqual([])
    expect(state.applied).toEqual(ALL)
    expect(await tables(url)).toEqual(
      expect.arrayContaining(['audit_chain_head', 'audit_checkpoints', 'audit_log_retention_policies', 'audit_logs', 'ip_allocations', 'ip_free_ranges', 'ip_pools', 'mikro_orm_migrations'])
    )

    expect(await db.rollback(0)).toEqual([...ALL].reverse())
    expect(await tables(url)).toEqual(['mikro_orm_migrations'])
    const fns = await withClient(url, async (c) => (await c.query(`select proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where nspname = 'public'`)).rows)
    expect(fns).toEqual([])

    expect(await db.migrate()).toEqual(ALL)
    expect(await db.migrate()).toEqual([])
  })

  it('uses native PostgreSQL types', async () => {
    const cols = await withClient(url, async (c) =>
      (
        await c.query(
          `select table_name || '.' || column_name as col, udt_name from information_schema.columns
           where table_schema = 'public' and udt_name in ('cidr', 'inet', 'macaddr', 'uuid', 'jsonb') order by 1`
        )
      ).rows.map((r) => `${r.col}:${r.udt_name}`)
    )
    // Later migrations may add columns of these types; these must be there.
    expect(cols).toEqual(
      expect.arrayContaining([
      'audit_logs.details:jsonb',
      'audit_logs.id:uuid',
      'audit_logs.user_ip:inet',
      'ip_allocations.ip_address:inet',
      'ip_allocations.mac_address:macaddr',
      'ip_free_ranges.first_ip:inet',
      'ip_free_ranges.last_ip:inet',
      'ip_pools.gateway:inet',
      'ip_pools.network:cidr'
    ])
    )
  })

  it('has the indexes the data model asks for', async () => {
    const idx = await withClient(url, async (c) =>
      (await c.query(`select indexname from pg_indexes where schemaname = 'public' order by 1`)).rows.map((r) => r.indexname)
    )
    for (const name of [
      'ip_allocations_pool_id_status_idx',
      'ip_allocations_mac_address_idx',
      'ip_allocations_hostname_lower_idx',
      'ip_allocations_ip_address_key',
      'ip_pools_no_overlap',
      'audit_logs_created_at_seq_idx',
      'audit_logs_action_idx',
      'audit_logs_resource_id_idx',
      'audit_logs_user_id_idx',
      'audit_logs_user_ip_idx',
      'audit_logs_seq_key',
      'audit_logs_details_trgm_idx',
      'audit_import_search_doc_trgm_idx',
      'audit_logs_import_seq_idx'
    ]) {
      expect(idx).toContain(name)
    }
    // Dropped by the import_perf migration: nothing reads them (pool_id_status leads with pool_id; the
    // hostname search goes through hostname_lower).
    expect(idx).not.toContain('ip_allocations_pool_id_idx')
    expect(idx).not.toContain('ip_allocations_hostname_idx')
    // Import rows are indexed for text search after the import (audit_import_search), not in the log's index.
    const def = await withClient(url, async (c) => (await c.query(`select indexdef from pg_indexes where indexname = 'audit_logs_details_trgm_idx'`)).rows[0]?.indexdef)
    expect(def).toMatch(/WHERE \(\(source\)::text <> 'import'::text\)/)
  })

  it('refuses to work on a database newer than the app', async () => {
    const other = await freshDatabase('newer')
    const d = await Database.open(await resolveConnection({ databaseUrl: other, dataDir: '/nonexistent' }))
    try {
      await d.migrate()
      await withClient(other, (c) => c.query(`insert into mikro_orm_migrations (name, executed_at) values ('Migration20991231000000_future', now())`))
      await expect(d.migrate()).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringContaining('Migration20991231000000_future')
      })
      await expect(d.rollback(0)).rejects.toMatchObject({ code: 'UNAVAILABLE' })
      expect((await d.migrationState()).unknown).toEqual(['Migration20991231000000_future'])
    } finally {
      await d.close()
    }
  })

  it('names an unknown rollback target', async () => {
    await expect(db.rollback('Migration_nope')).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'to' } })
  })
})

import { benchServer, openCore, benchCtx } from '../util'
import { openBulkAudit } from '../../src/main/core/audit/writer'
const N = Number(process.env.N ?? 20000)
const srv = await benchServer()
try {
  const url = await srv.url('scratch')
  const core = await openCore(url)
  await core.ipam.createPool(benchCtx(), { name: 'p', network: '10.100.0.0/16' })
  const k = core.db.knex
  await k.transaction(async (trx) => {
    await trx.raw('set constraints all immediate')
    const d = await trx.raw(`select pg_get_indexdef(indexrelid) as d from pg_index where indrelid = 'ip_allocations'::regclass union all select pg_get_constraintdef(oid) from pg_constraint where conrelid = 'ip_allocations'::regclass union all select tgname from pg_trigger where tgrelid = 'ip_allocations'::regclass`)
    console.log(d.rows.map((r: any) => r.d).join('\n'))
    if (process.env.DROP) for (const t of ['ip_allocations_dns_outbox', 'ip_allocations_dhcp_outbox', 'ip_allocations_custom_fields']) await trx.raw(`drop trigger ${t} on ip_allocations`)
    const ex = await trx.raw(`explain (analyze, costs off) insert into ip_allocations (pool_id, space_id, ip_address, status, hostname, owner, dns_managed, dhcp_managed, allocated_by)
      select p.id, p.space_id, '10.100.0.0'::inet + g, 'allocated', 'host-' || g || '.example.org', 'team', false, false, 'bench' from ip_pools p, generate_series(1, ?) g`, [N])
    console.log(ex.rows.map((r: any) => r['QUERY PLAN']).join('\n'))
    const audit = await openBulkAudit(trx, { ...benchCtx(), source: 'import' })
    const entries = Array.from({ length: N }, (_, i) => ({ action: 'create' as const, resourceType: 'ip_allocation', resourceId: i + 1, resourceName: `10.100.${i >> 8}.${i & 255}`, details: { after: { pool: 'p', ip: `10.100.${i >> 8}.${i & 255}`, status: 'allocated', hostname: `host-${i}.example.org`, owner: 'team' }, context: { operation: 'csv-import', importId: 'x', line: i + 2 } } }))
    let t = performance.now()
    const prep = audit.prepare(entries)
    console.log('audit prepare ms', performance.now() - t)
    t = performance.now()
    await audit.write(prep)
    console.log('audit write ms', performance.now() - t)
    t = performance.now()
    await audit.finish()
    console.log('audit finish ms', performance.now() - t)
    t = performance.now()
    await trx.raw(`select ipam_rebuild_free_ranges(id) from ip_pools`)
    console.log('rebuild ms', performance.now() - t)
    throw new Error('rollback')
  }).catch((e) => { if (e.message !== 'rollback') throw e })
  await core.close()
} finally {
  await srv.stop()
}

/**
 * The generic outbox (src/main/core/outbox): rows written in the change's transaction, claimed with SKIP
 * LOCKED by competing workers, applied in order per target, retried with backoff, outcomes audited under
 * the originating request id. The handler here is a test kind that records what it saw; DNS and DHCP have
 * tests of their own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { awaitDurableAt } from '../../src/main/core/db/durable'
import { Outbox, backoffSeconds, type OutboxRow } from '../../src/main/core/outbox/outbox'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'

let core: Core
let url: string
let dataDir: string
const op = ctxAs('operator', 'olga')

beforeAll(async () => {
  ;({ core, url, dataDir } = await openCore('outbox'))
})
afterAll(async () => {
  await core?.close()
})

describe('outbox', () => {
  it('commits a row only with its transaction', async () => {
    await expect(
      core.db.knex.transaction(async (trx) => {
        await core.outbox.enqueue(trx, op, { kind: 'test-rollback', target: 't', payload: { n: 1 } })
        throw new Error('roll back')
      })
    ).rejects.toThrow('roll back')
    expect(await core.outbox.list({})).toHaveLength(0)
  })

  it('applies rows of one target in order, others in parallel, and audits each outcome with the request id', async () => {
    const seen: string[] = []
    const box = new Outbox(core.db.knex)
    box.register('test-order', {
      async apply(row: OutboxRow) {
        seen.push(`${row.target}:${row.payload.n}`)
        return { state: 'done', message: `did ${row.payload.n}` }
      }
    })
    const seq = await lastSeq(core)
    await core.db.knex.transaction(async (trx) => {
      for (let n = 1; n <= 3; n++) await box.enqueue(trx, op, { kind: 'test-order', target: 'a', subject: 'thing:1', payload: { n } })
      await box.enqueue(trx, op, { kind: 'test-order', target: 'b', payload: { n: 9 } })
    })
    const r = await box.drain(5000)
    expect(r.done).toBe(4)
    expect(seen.filter((s) => s.startsWith('a:'))).toEqual(['a:1', 'a:2', 'a:3'])
    const rows = (await auditRows(core, seq)).filter((x) => x.resource_type === 'outbox')
    expect(rows).toHaveLength(4)
    expect(rows.every((x) => x.request_id === op.requestId && x.status === 'success')).toBe(true)
    expect((await box.forSubjects(['thing:1'])).map((x) => x.state)).toEqual(['done', 'done', 'done'])
  })

  it('applies no row before the change that queued it is on disk, even when that change committed without waiting', async () => {
    // The suite's server runs with synchronous_commit off; a production one has it on: so does this database.
    await core.db.knex.raw(`do $$ begin execute format('alter database %I set synchronous_commit = on', current_database()); end $$`)
    const strict = await Core.open({ databaseUrl: url, dataDir, migrate: false })
    try {
      expect((await strict.db.knex.raw<{ rows: { s: string }[] }>(`select current_setting('synchronous_commit') as s`)).rows[0]!.s).toBe('on')
      const box = new Outbox(strict.db.knex)
      const ends: string[] = []
      const seen: { lsn: string; flushed: boolean }[] = []
      box.register('test-durable', {
        async apply(row: OutboxRow) {
          const lsn = ends[row.payload.i as number]!
          const r = await strict.db.knex.raw<{ rows: { flushed: boolean }[] }>(`select pg_current_wal_flush_lsn() >= ?::pg_lsn as flushed`, [lsn])
          seen.push({ lsn, flushed: r.rows[0]!.flushed })
          return { state: 'done', message: 'ok' }
        }
      })
      for (let i = 0; i < 5; i++) {
        // Committed as an allocation commits (synchronous_commit off); its end in the WAL read just after.
        await strict.db.knex.transaction(async (trx) => {
          await trx.raw(`set local synchronous_commit = off`)
          await box.enqueue(trx, op, { kind: 'test-durable', target: `d${i}`, payload: { i } })
        })
        // A read: it writes no WAL, so it flushes nothing.
        ends[i] = (await strict.db.knex.raw<{ rows: { l: string }[] }>(`select pg_current_wal_insert_lsn()::text as l`)).rows[0]!.l
        expect((await box.runOnce({ kinds: ['test-durable'] })).done).toBe(1)
      }
      // The claim's own commit waited for a flush past every change it could see.
      expect(seen).toHaveLength(5)
      expect(seen.every((x) => x.flushed)).toBe(true)
    } finally {
      await strict.close()
      await core.db.knex.raw(`do $$ begin execute format('alter database %I reset synchronous_commit', current_database()); end $$`)
    }
  })

  it('lets a handler that reads first read before the change is on disk, and tell the outside only after', async () => {
    await core.db.knex.raw(`do $$ begin execute format('alter database %I set synchronous_commit = on', current_database()); end $$`)
    const strict = await Core.open({ databaseUrl: url, dataDir, migrate: false })
    try {
      const box = new Outbox(strict.db.knex)
      const ends: string[] = []
      const seen: { read: boolean; flushed: boolean }[] = []
      const flushedPast = async (lsn: string): Promise<boolean> =>
        (await strict.db.knex.raw<{ rows: { f: boolean }[] }>(`select pg_current_wal_flush_lsn() >= ?::pg_lsn as f`, [lsn])).rows[0]!.f
      box.register('test-reads-first', {
        readsFirst: true,
        async apply(row, ctx) {
          // A read of the row's own change, before its durability is known (allowed: nothing leaves yet).
          const read = (await strict.db.knex.raw<{ rows: unknown[] }>(`select 1 from outbox where id = ?`, [row.id])).rows.length === 1
          await ctx.durable()
          // What a name server or Kea would be told now must be on disk.
          seen.push({ read, flushed: await flushedPast(ends[row.payload.i as number]!) })
          return { state: 'done', message: 'ok' }
        }
      })
      for (let i = 0; i < 5; i++) {
        await strict.db.knex.transaction(async (trx) => {
          await trx.raw(`set local synchronous_commit = off`)
          await box.enqueue(trx, op, { kind: 'test-reads-first', target: `r${i}`, payload: { i } })
        })
        ends[i] = (await strict.db.knex.raw<{ rows: { l: string }[] }>(`select pg_current_wal_insert_lsn()::text as l`)).rows[0]!.l
        expect((await box.runOnce({ kinds: ['test-reads-first'] })).done).toBe(1)
      }
      expect(seen).toEqual(Array.from({ length: 5 }, () => ({ read: true, flushed: true })))
      // The wait for a position: resolved only once the server has flushed past it.
      await strict.db.knex.transaction(async (trx) => {
        await trx.raw(`set local synchronous_commit = off`)
        await trx.raw(`select pg_logical_emit_message(true, 'test', 'async')`)
      })
      const at = (await strict.db.knex.raw<{ rows: { l: string }[] }>(`select pg_current_wal_insert_lsn()::text as l`)).rows[0]!.l
      await awaitDurableAt(strict.db.knex, at)
      expect(await flushedPast(at)).toBe(true)
    } finally {
      await strict.close()
      await core.db.knex.raw(`do $$ begin execute format('alter database %I reset synchronous_commit', current_database()); end $$`)
    }
  })

  it('claims once when it took every row due, again while rows wait behind the ones it applied', async () => {
    const box = new Outbox(core.db.knex)
    box.register('test-claims', { apply: async () => ({ state: 'done', message: 'ok' }) })
    let claims = 0
    const count = (q: { sql: string }): void => {
      if (/^with pos as materialized/.test(q.sql) && /update outbox/.test(q.sql)) claims++
    }
    core.db.knex.on('query', count)
    try {
      await core.db.knex.transaction((trx) => box.enqueue(trx, op, { kind: 'test-claims', target: 'one', payload: {} }))
      expect((await box.runOnce({ kinds: ['test-claims'] })).done).toBe(1)
      expect(claims).toBe(1)
      // Three rows of one target: one at a time, in order; the last claim knows nothing else is due.
      claims = 0
      await core.db.knex.transaction(async (trx) => {
        for (let n = 0; n < 3; n++) await box.enqueue(trx, op, { kind: 'test-claims', target: 'same', payload: { n } })
      })
      expect((await box.runOnce({ kinds: ['test-claims'] })).done).toBe(3)
      expect(claims).toBe(3)
      // Nothing due: one claim, which finds nothing.
      claims = 0
      expect((await box.runOnce({ kinds: ['test-claims'] })).claimed).toBe(0)
      expect(claims).toBe(1)
    } finally {
      core.db.knex.off('query', count)
    }
  })

  it('retries a failing row with backoff, holds its target behind it, audits the same error once, and applies it once fixed', async () => {
    let broken = true
    const box = new Outbox(core.db.knex)
    const applied: number[] = []
    box.register('test-retry', {
      async apply(row) {
        if (broken && row.payload.n === 1) throw new Error('server down')
        applied.push(row.payload.n as number)
        return { state: 'done', message: 'ok' }
      }
    })
    const seq = await lastSeq(core)
    await core.db.knex.transaction(async (trx) => {
      await box.enqueue(trx, op, { kind: 'test-retry', target: 'r', payload: { n: 1 } })
      await box.enqueue(trx, op, { kind: 'test-retry', target: 'r', payload: { n: 2 } })
    })
    const first = await box.runOnce()
    expect(first).toMatchObject({ claimed: 1, retrying: 1, done: 0 })
    expect(applied).toEqual([])
    const [pending] = (await box.list({ state: 'pending' })).filter((x) => x.payload.n === 1)
    expect(pending!.lastError).toBe('server down')
    expect(pending!.attempts).toBe(1)
    expect(new Date(pending!.nextAttemptAt).getTime()).toBeGreaterThan(Date.now())
    // Not due yet: nothing is claimed, and n=2 waits behind n=1.
    expect((await box.runOnce()).claimed).toBe(0)
    await core.db.knex.raw(`update outbox set next_attempt_at = now() where kind = 'test-retry'`)
    expect((await box.runOnce()).retrying).toBe(1)
    const failures = (await auditRows(core, seq)).filter((x) => x.resource_type === 'outbox' && x.status === 'failure')
    expect(failures).toHaveLength(1)
    expect(failures[0]!.details.error?.message).toBe('server down')
    broken = false
    await core.db.knex.raw(`update outbox set next_attempt_at = now() where kind = 'test-retry'`)
    expect((await box.drain(5000)).done).toBe(2)
    expect(applied).toEqual([1, 2])
  })

  it('never gives one row to two workers', async () => {
    const counts = new Map<string, number>()
    const mk = (): Outbox => {
      const b = new Outbox(core.db.knex)
      b.register('test-race', {
        async apply(row) {
          counts.set(row.id, (counts.get(row.id) ?? 0) + 1)
          await new Promise((r) => setTimeout(r, 5))
          return { state: 'done', message: 'ok' }
        }
      })
      return b
    }
    await core.db.knex.transaction(async (trx) => {
      for (let i = 0; i < 40; i++) await core.outbox.enqueue(trx, op, { kind: 'test-race', target: `t${i % 8}`, payload: { i } })
    })
    const [a, b] = [mk(), mk()]
    const [ra, rb] = await Promise.all([a.drain(10_000), b.drain(10_000)])
    expect(ra.done + rb.done).toBe(40)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    expect(counts.size).toBe(40)
  })

  it('records conflicts for a person, who may retry or ignore them (audited)', async () => {
    const box = new Outbox(core.db.knex)
    let mode: 'conflict' | 'done' = 'conflict'
    box.register('test-conflict', { apply: async () => ({ state: mode, message: mode === 'conflict' ? 'held by someone else' : 'ok' }) })
    await core.db.knex.transaction((trx) => box.enqueue(trx, op, { kind: 'test-conflict', target: 'c', payload: {} }))
    await box.drain(2000)
    const st = await box.status()
    expect(st.counts.conflict).toBe(1)
    const row = st.attention.find((x) => x.kind === 'test-conflict')!
    expect(row.lastError).toBe('held by someone else')
    await expect(box.retry(ctxAs('viewer'), row.id)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    mode = 'done'
    await box.retry(op, row.id)
    await box.drain(2000)
    expect((await box.list({ subject: undefined })).find((x) => x.id === row.id)!.state).toBe('done')
    await expect(box.ignore(op, row.id)).rejects.toMatchObject({ code: 'CONFLICT' })
  })

  it('hears a row committed by another program at once (LISTEN on netkeeper_outbox), not at its next interval pass', async () => {
    const box = new Outbox(core.db.knex)
    const seen: number[] = []
    box.register('test-listen', {
      async apply() {
        seen.push(Date.now())
        return { state: 'done', message: 'heard' }
      }
    })
    const until = async (ok: () => boolean, ms: number): Promise<void> => {
      const end = Date.now() + ms
      while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
    }
    // An interval of ten minutes: only the notification can bring the row in time.
    box.start(600_000, { listen: true })
    try {
      await until(() => box.listening, 10_000)
      expect(box.listening).toBe(true)
      await new Promise((r) => setTimeout(r, 200)) // the pass start() ran has finished
      // Another program's commit: a plain statement on a pooled connection, with no kick() after it.
      const t0 = Date.now()
      await core.db.knex.raw(`select outbox_enqueue(?, ?, null, ?::jsonb, ?, ?, ?)`, ['test-listen', 'listen', '{}', op.requestId, op.actor, op.source])
      await until(() => seen.length > 0, 5000)
      expect(seen).toHaveLength(1)
      expect(seen[0]! - t0).toBeLessThan(2000)
      // Its outcome is recorded right after the handler returns.
      let row: OutboxRow | undefined
      for (let i = 0; i < 100 && row?.state !== 'done'; i++) {
        row = (await box.list({})).find((r) => r.kind === 'test-listen')
        if (row?.state !== 'done') await new Promise((r) => setTimeout(r, 20))
      }
      expect(row).toMatchObject({ state: 'done' })
    } finally {
      await box.stop()
    }
    expect(box.listening).toBe(false)
  })

  it('backs off exponentially up to five minutes', () => {
    const mid = (): number => 0.5
    expect(backoffSeconds(1, mid)).toBe(1)
    expect(backoffSeconds(4, mid)).toBe(8)
    expect(backoffSeconds(30, mid)).toBe(300)
  })
})

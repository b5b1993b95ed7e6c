/**
 * `npm run bench -- audit-forward` (and part of `-- audit`): forwarding the audit log to a real rsyslogd on
 * loopback over TCP (RFC 6587 octet counting, a batch accepted when rsyslog closed after reading it), rows per
 * second sustained over a backlog of 200,000 rows (NETKEEPER_BENCH_FORWARD_ROWS for another size), and the
 * same once more with CEF; every row is counted in rsyslog's file afterwards. Goal: >= 5,000 rows/s.
 */
import fs from 'node:fs'
import { appendAudits, type AuditEntry } from '../src/main/core/audit/writer'
import { keychain } from '../src/main/core/credentials/keychain'
import { makeContext } from '../src/main/core/context'
import { AuditForwarder } from '../src/main/core/audit/forward/forwarder'
import { rsyslogMissing, startRsyslog } from '../tests/support/rsyslog'
import { log, openCore, round, time, type BenchServer } from './util'

const ROWS = Number(process.env.NETKEEPER_BENCH_FORWARD_ROWS ?? 200_000)

export async function benchAuditForward(srv: BenchServer): Promise<Record<string, unknown>> {
  const missing = rsyslogMissing()
  if (missing) return { skipped: missing }
  const out: Record<string, unknown> = {}
  const core = await openCore(await srv.url('bench_audit_forward'))
  const syslog = await startRsyslog()
  try {
    const [, seedMs] = await time(async () => {
      const c = makeContext({ actor: 'seed', roles: ['admin'], source: 'import' })
      for (let done = 0; done < ROWS; done += 5000) {
        const n = Math.min(5000, ROWS - done)
        const entries: AuditEntry[] = Array.from({ length: n }, (_, i) => ({
          action: 'create',
          resourceType: 'ip_allocation',
          resourceId: done + i,
          resourceName: `10.${(done + i) >> 16}.${((done + i) >> 8) & 255}.${(done + i) & 255}`,
          details: { after: { hostname: `h${i}.example.net`, owner: 'bench' } }
        }))
        await core.db.knex.transaction((trx) => appendAudits(trx, c, entries))
      }
    })
    log(`seeded ${ROWS} audit rows in ${round(seedMs / 1000, 1)} s`)
    const ctx = makeContext({ actor: 'bench', roles: ['admin'], source: 'cli' })
    for (const format of ['rfc5424', 'cef'] as const) {
      const name = `bench-${format}`
      await core.sinks.add(ctx, { name, url: `tcp://127.0.0.1:${syslog.tcpPort}`, format, hostname: name, test: false })
      const f = new AuditForwarder(core.db.knex, keychain, { database: 'bench', only: [name] })
      const [r, ms] = await time(() => f.drain())
      const sink = r.sinks[0]!
      if (sink.error) throw new Error(`forwarding to rsyslog failed: ${sink.error}`)
      // rsyslog writes what it read a moment later: count the lines of this sink in its file.
      let arrived = 0
      for (let i = 0; i < 100; i++) {
        arrived = fs.readFileSync(syslog.file('tcp', 'raw'), 'utf8').split('\n').filter((l) => l.includes(` ${name} `)).length
        if (arrived >= sink.sent) break
        await new Promise((res) => setTimeout(res, 100))
      }
      out[format === 'rfc5424' ? 'tcpRfc5424' : 'tcpCef'] = {
        rows: sink.sent,
        seconds: round(ms / 1000, 2),
        rowsPerSecond: Math.round(sink.sent / (ms / 1000)),
        arrivedInRsyslog: arrived,
        batch: 1000,
        goal: '>= 5,000 rows/s sustained'
      }
      log(`forward ${format}: ${JSON.stringify(out[format === 'rfc5424' ? 'tcpRfc5424' : 'tcpCef'])}`)
    }
  } finally {
    await syslog.stop()
    fs.rmSync(syslog.dir, { recursive: true, force: true })
    await core.close()
  }
  return out
}

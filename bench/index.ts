/**
 * `npm run bench [-- ipam|audit|...]`: runs the named benchmarks (all by default) against a real
 * PostgreSQL server and prints one JSON document on stdout. Progress goes to stderr.
 */
import os from 'node:os'
import { benchAudit, benchAuditPurgeMonth, benchAuditVerify } from './audit'
import { benchAuditTrail } from './audit-trail'
import { benchCli } from './cli'
import { benchAuditForward } from './audit-forward'
import { benchDirectory } from './directory'
import { benchDns } from './dns'
import { benchImport } from './import'
import { benchIpam, benchIpamConcurrent } from './ipam'
import { benchIpamTree } from './ipam-tree'
import { benchIpamCsv } from './ipam-csv'
import { benchOffline } from './offline'
import { benchFailover } from './failover'
import { appStart, appStartTimeline, auditScroll, benchUi, poolsTti } from './ui'
import { paletteBench } from './palette'
import { benchServer, log } from './util'

const suites: Record<string, (srv: Awaited<ReturnType<typeof benchServer>>) => Promise<Record<string, unknown>>> = {
  ipam: benchIpam,
  // Only the concurrent allocations of `ipam` (2 processes x 8 workers), with where the time goes.
  'ipam-concurrent': benchIpamConcurrent,
  'ipam-tree': benchIpamTree,
  // Only the CSV entries of `ipam` (csvImport, csvExport).
  'ipam-csv': benchIpamCsv,
  audit: benchAudit,
  // Only the purge of one month of 1,000,000 rows of `audit` (by partition, and row by row beside it).
  'audit-purge': (srv) => benchAuditPurgeMonth(srv),
  'audit-trail': benchAuditTrail,
  'audit-forward': benchAuditForward,
  directory: benchDirectory,
  import: benchImport,
  offline: benchOffline,
  // A primary and a streaming standby of its own: promotion to the first allocation on the new primary.
  failover: () => benchFailover(),
  ui: benchUi,
  // The palette part of `ui` alone (it runs inside `ui` too).
  'ui-palette': paletteBench,
  // App start on the embedded store, and the Pools screen of 5,000 pools (both run inside `ui` too).
  'ui-start': () => appStart(),
  // Where a cold start's time goes: each step of opening the store, and every request of the page on one clock.
  'ui-start-timeline': () => appStartTimeline(),
  'ui-pools': poolsTti,
  'ui-audit-scroll': auditScroll,
  cli: benchCli,
  dns: benchDns,
  // Only the 1,000,000-row verify of the audit suite (which runs it too), without its 5,000,000-row seeding.
  verify: benchAuditVerify
}

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const unknown = wanted.filter((w) => !(w in suites))
if (unknown.length) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(suites).join(', ')}\n`)
  process.exit(2)
}
const names = wanted.length ? wanted : Object.keys(suites)
const srv = await benchServer()
const result: Record<string, unknown> = {
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
    // Other work on the machine skews every figure: the load when the run started, and when it ended.
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100)
  },
  startedAt: new Date().toISOString()
}
try {
  for (const n of names) {
    log(`running ${n}`)
    result[n] = await suites[n]!(srv)
  }
} finally {
  await srv.stop()
}
result.loadAverageAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100)
process.stdout.write(JSON.stringify(result, null, 2) + '\n')

/** A separate process for the export benchmark, so its peak memory is the export's own. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { benchCtx, openCore } from './util'

const [url, fromSeq] = process.argv.slice(2)
const core = await openCore(url!)
// The newest million rows: everything after seq 4,000,000, selected by time so the viewer's filter is used.
const from = (await core.db.knex.raw<{ rows: { t: Date }[] }>(`select created_at as t from audit_logs where seq = ?::bigint`, [fromSeq!])).rows[0]!.t
const file = path.join(os.tmpdir(), `netkeeper-bench-export-${process.pid}.csv`)
const out = fs.createWriteStream(file)
const started = performance.now()
const r = await core.audit.export(benchCtx(), out, 'csv', { from: new Date(from).toISOString() })
await new Promise<void>((resolve) => out.end(resolve))
const seconds = (performance.now() - started) / 1000
fs.rmSync(file, { force: true })
await core.close()
process.send!({ rows: r.rows, bytes: r.bytes, seconds: Math.round(seconds * 100) / 100, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) })
process.exit(0)

/**
 * `npm run bench -- directory`: a throwaway slapd holding 50,000 users (loaded with slapadd), and through
 * the full Netkeeper path (DirectoryService over ldapts, audit rows in PostgreSQL):
 * - the first page (100) of a filtered search, as a screen asks for it: a connection of its own, the bind,
 *   the paged search, and the page read ahead so the screen knows whether a next page exists;
 * - a full paged walk of all 50,000 users (pages of 500), entries per second and the heap it needed;
 * - user creation: one at a time, and 16 concurrent creators (uidNumber by compare-and-swap, uid check,
 *   intent and outcome audit rows, the add, the read-back), creations per second and latency.
 * - LDIF export of every entry under ou=people (the 50,000 users), streamed to a file page by page: in this
 *   process (time), and as a user runs it, `netkeeper ldif export --base ... --out FILE` in a process of its
 *   own (wall time and that process's peak RSS; goal <= 5 s, <= 200 MB). This process's RSS says little: it
 *   holds the seeding, the earlier sections and the benchmark itself;
 * - bulk user import from a CSV of NETKEEPER_BENCH_CSV_USERS (10,000) new users, end to end, as a user runs
 *   it: `netkeeper user import FILE` in a process of its own (start, parse, the analysis against the live
 *   directory and the schema, the id pool, intent and outcome audit rows, the adds in LDAP transactions,
 *   group joins, the report): wall time and peak RSS (goal <= 60 s, <= 300 MB). LAM's CSV upload is not
 *   measured here (no PHP stack on this machine's bench).
 * Peak RSS of a child is the kernel's maximum resident set size (GNU time's %M), as bench/cli.ts takes it; the
 * CLI is the built one (bin/netkeeper.js over out/), built first when stale.
 * Compare with ../shared/PEERS.md: slapd's own tools, and LDAP Account Manager on the same data.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Core } from '../src/main/core'
import { makeContext } from '../src/main/core/context'
import { ProfileStore } from '../src/main/core/directory/profiles'
import { ldapProfileSchema } from '../src/shared/directory'
import { ensureBuilt } from '../tests/support/build'
import { startSlapd } from '../tests/support/slapd'
import { log, percentile, round, time, type BenchServer } from './util'

/** Runs fn while sampling the process's resident memory every 20 ms; returns its result and the peak RSS in MiB. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<[T, number, number]> {
  global.gc?.()
  const before = process.memoryUsage().rss
  let peak = before
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 20)
  try {
    const r = await fn()
    peak = Math.max(peak, process.memoryUsage().rss)
    return [r, round(peak / 2 ** 20, 1), round((peak - before) / 2 ** 20, 1)]
  } finally {
    clearInterval(timer)
  }
}

const ROOT = path.resolve(import.meta.dirname, '..')
const GNU_TIME = '/usr/bin/time'

/**
 * Runs the built CLI with `args` in a process of its own: wall time from spawn to exit, its peak RSS (GNU
 * time's %M, null where /usr/bin/time is missing) and its standard output parsed as JSON.
 */
function cliRun(args: string[], env: NodeJS.ProcessEnv): Promise<{ wallSeconds: number; maxRssMiB: number | null; out: Record<string, unknown> }> {
  const bin = path.join(ROOT, 'bin', 'netkeeper.js')
  const useTime = fs.existsSync(GNU_TIME)
  const rssFile = path.join(os.tmpdir(), `nk-bench-dir-${process.pid}.rss`)
  const [file, argv] = useTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, process.execPath, bin, ...args]] : [process.execPath, [bin, ...args]]
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(file, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      const wallSeconds = round((performance.now() - started) / 1000, 2)
      let maxRssMiB: number | null = null
      if (useTime) {
        const kb = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop())
        fs.rmSync(rssFile, { force: true })
        if (Number.isFinite(kb)) maxRssMiB = round(kb / 1024, 1)
      }
      if (code !== 0) return reject(new Error(`netkeeper ${args[0]} ${args[1]} exited ${code}: ${err.trim().slice(0, 2000)}`))
      try {
        resolve({ wallSeconds, maxRssMiB, out: JSON.parse(Buffer.concat(out).toString('utf8')) as Record<string, unknown> })
      } catch (e) {
        reject(new Error(`netkeeper ${args[0]} ${args[1]}: output is not JSON (${(e as Error).message})`))
      }
    })
  })
}

const USERS = Number(process.env.NETKEEPER_BENCH_LDAP_USERS ?? 50_000)
const CSV_USERS = Number(process.env.NETKEEPER_BENCH_CSV_USERS ?? 10_000)
const CONCURRENCY = 16
const PER_WORKER = 20

export function usersLdif(file: string, n: number): void {
  const fd = fs.openSync(file, 'w')
  try {
    const chunk: string[] = []
    for (let i = 0; i < n; i++) {
      const uid = `user${i}`
      chunk.push(
        `dn: uid=${uid},ou=people,dc=example,dc=test\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nobjectClass: shadowAccount\nuid: ${uid}\ncn: Bench User ${i}\nsn: User${i}\ngivenName: Bench\nmail: ${uid}@example.test\nuidNumber: ${100000 + i}\ngidNumber: 2000\nhomeDirectory: /home/${uid}\nloginShell: /bin/bash\n`
      )
      if (chunk.length === 1000) {
        fs.writeSync(fd, chunk.join('\n') + '\n')
        chunk.length = 0
      }
    }
    if (chunk.length) fs.writeSync(fd, chunk.join('\n') + '\n')
  } finally {
    fs.closeSync(fd)
  }
}

export async function benchDirectory(srv: BenchServer): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { users: USERS }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-bench-ldap-'))
  const ldif = path.join(work, 'users.ldif')
  usersLdif(ldif, USERS)
  const [ldap, seedMs] = await time(() => startSlapd({ extraLdif: [ldif] }))
  out.seedSeconds = round(seedMs / 1000, 1)
  log(`slapd with ${USERS} users (slapadd) in ${out.seedSeconds} s`)
  const dataDir = path.join(work, 'data')
  const profile = ldapProfileSchema.parse({
    name: 'bench',
    url: ldap.info.url,
    baseDn: ldap.info.baseDn,
    bindDn: ldap.info.adminDn,
    adminDns: [ldap.info.adminDn],
    defaultGidNumber: 2000,
    caFile: ldap.info.caFile
  })
  new ProfileStore(dataDir).write({ version: 1, defaultProfile: 'bench', profiles: [profile] })
  const databaseUrl = await srv.url('bench_directory')
  const core = await Core.open({ databaseUrl, dataDir, migrate: true })
  // The CLI runs below: the same database, data folder (the profile) and bind secret as a user would give them.
  const cliEnv = { NETKEEPER_DATABASE_URL: databaseUrl, NETKEEPER_DATA_DIR: dataDir, NETKEEPER_LDAP_PROFILE: 'bench', NETKEEPER_LDAP_PASSWORD: ldap.info.adminPassword }
  const ctx = makeContext({ actor: 'bench', source: 'cli' })
  const scope = await core.auth.commandScope(ctx, { password: ldap.info.adminPassword })
  try {
    // 1. First page of a filtered search (matches user1, user10..user19999...: 11,111 entries).
    {
      const filtered: number[] = []
      const unfiltered: number[] = []
      let matched = 0
      for (let i = 0; i < 35; i++) {
        const [page, ms] = await time(() => core.directory.users.list(scope, { search: 'user1', pageSize: 100 }))
        if (page.nextCursor) await scope.cursors.close(page.nextCursor)
        matched = page.items.length
        if (i >= 5) filtered.push(ms)
        const [p2, ms2] = await time(() => core.directory.users.list(scope, { pageSize: 100 }))
        if (p2.nextCursor) await scope.cursors.close(p2.nextCursor)
        if (i >= 5) unfiltered.push(ms2)
      }
      out.firstPage = {
        filter: 'uid, cn or mail contains "user1" (11,111 matches)',
        pageSize: 100,
        entries: matched,
        p50Ms: percentile(filtered, 50),
        p95Ms: percentile(filtered, 95),
        unfilteredP50Ms: percentile(unfiltered, 50),
        samples: filtered.length,
        includes: 'new connection + bind + paged search + read-ahead of page 2',
        goal: 'p50 <= 300 ms (LAM: 850 ms for its list, paging off; slapd floor about 10 ms)'
      }
      log(`firstPage ${JSON.stringify(out.firstPage)}`)
    }

    // 2. Full paged walk, pages of 500.
    {
      global.gc?.()
      const heap0 = process.memoryUsage().heapUsed
      let peak = heap0
      let n = 0
      let pages = 0
      const [, ms] = await time(async () => {
        for await (const page of core.directory.users.walk(scope, undefined, 500)) {
          n += page.length
          pages++
          peak = Math.max(peak, process.memoryUsage().heapUsed)
        }
      })
      out.fullWalk = {
        entries: n,
        pages,
        seconds: round(ms / 1000, 2),
        entriesPerSecond: Math.round(n / (ms / 1000)),
        peakHeapGrowthMiB: round((peak - heap0) / 2 ** 20, 1),
        heapNote: 'highest heap seen during the walk minus the heap before it, garbage not yet collected included',
        compare: 'slapd floor (ldapsearch -E pr=500): 0.4 s for 50,000; LAM keeps all 50,000 in its session (14 MB) and fails on reload at 256 MB'
      }
      log(`fullWalk ${JSON.stringify(out.fullWalk)}`)
    }

    // 3. Creations: the id pool's first use (one walk for the highest uidNumber), then one at a time, then 16 at once.
    {
      const [, initMs] = await time(() => core.directory.users.create(scope, { uid: 'first-create', sn: 'First' }))
      const serial: number[] = []
      for (let i = 0; i < 40; i++) {
        const [, ms] = await time(() => core.directory.users.create(scope, { uid: `serial${i}`, sn: 'Serial', givenName: 'Bench' }))
        serial.push(ms)
      }
      const lat: number[] = []
      const numbers: number[] = []
      const [, totalMs] = await time(() =>
        Promise.all(
          Array.from({ length: CONCURRENCY }, async (_, w) => {
            for (let i = 0; i < PER_WORKER; i++) {
              const [u, ms] = await time(() => core.directory.users.create(scope, { uid: `conc${w}x${i}`, sn: 'Concurrent', givenName: 'Bench' }))
              lat.push(ms)
              numbers.push(u.uidNumber!)
            }
          })
        )
      )
      const total = CONCURRENCY * PER_WORKER
      out.create = {
        firstCreateWithPoolInitMs: round(initMs, 1),
        serial: { creations: serial.length, p50Ms: percentile(serial, 50), p95Ms: percentile(serial, 95), perSecond: round(1000 / (serial.reduce((a, b) => a + b, 0) / serial.length), 1) },
        concurrent: {
          workers: CONCURRENCY,
          creations: total,
          seconds: round(totalMs / 1000, 2),
          perSecond: round(total / (totalMs / 1000), 1),
          p50Ms: percentile(lat, 50),
          p95Ms: percentile(lat, 95),
          distinctUidNumbers: new Set(numbers).size
        },
        includes: 'validation, uid check, uidNumber compare-and-swap + in-use check, intent and outcome audit rows (durable commits), LDAP add, read-back',
        compare: 'LAM: 1.9-2.6 s per user through its UI; ldapadd over one connection: about 760 per second (no checks, no audit)'
      }
      log(`create ${JSON.stringify(out.create)}`)
    }

    // 4. LDIF export of ou=people (every user), streamed to a file.
    {
      const file = path.join(work, 'people.ldif')
      const stream = fs.createWriteStream(file)
      const [[r, ms], peakMiB, growthMiB] = await withPeakRss(() =>
        time(async () => {
          const res = await core.directory.ldif.export(scope, { base: `ou=people,${ldap.info.baseDn}`, pageSize: 1000 }, async (chunk) => {
            if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()))
          })
          await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())))
          return res
        })
      )
      out.ldifExport = {
        entries: r.entries,
        megabytes: round(r.bytes / 2 ** 20, 1),
        seconds: round(ms / 1000, 2),
        entriesPerSecond: Math.round(r.entries / (ms / 1000)),
        benchProcessPeakRssMiB: peakMiB,
        benchProcessRssGrowthMiB: growthMiB,
        rssNote: 'benchProcess* is this whole benchmark process (it holds the seeding and the earlier sections); cli.maxRssMiB is the export as a user runs it',
        goal: `<= 5 s and <= 200 MB for 50,000 entries`
      }
      await ensureBuilt('app')
      const cliFile = path.join(work, 'people-cli.ldif')
      const load = os.loadavg().map((x) => round(x, 2))
      const cli = await cliRun(['ldif', 'export', '--base', `ou=people,${ldap.info.baseDn}`, '--page-size', '1000', '--out', cliFile, '--json'], cliEnv)
      out.ldifExport = {
        ...(out.ldifExport as object),
        cli: {
          command: `netkeeper ldif export --base ou=people,${ldap.info.baseDn} --page-size 1000 --out FILE --json`,
          entries: cli.out.entries,
          megabytes: round(fs.statSync(cliFile).size / 2 ** 20, 1),
          wallSeconds: cli.wallSeconds,
          maxRssMiB: cli.maxRssMiB,
          includes: 'node start, database connection and migration check, bind, the paged search, the file written and renamed',
          loadAverage: load,
          met: cli.wallSeconds <= 5 && (cli.maxRssMiB === null || cli.maxRssMiB <= 200)
        }
      }
      fs.rmSync(cliFile, { force: true })
      log(`ldifExport ${JSON.stringify(out.ldifExport)}`)
    }

    // 5. Bulk import of CSV_USERS new users from CSV (with a template group to join).
    {
      await core.directory.groups.create(scope, { cn: 'csv-bench', type: 'posixGroup' })
      await core.directory.templates.set(makeContext({ actor: 'bench', roles: ['admin'], source: 'cli' }), core.directory.profile('bench'), { groups: ['csv-bench'] })
      const rows = ['uid,givenName,sn,mail,telephoneNumber']
      for (let i = 0; i < CSV_USERS; i++) rows.push(`csv${i},Csv,User${i},csv${i}@example.test,+1 555 ${String(i).padStart(5, '0')}`)
      const file = path.join(work, 'users.csv')
      fs.writeFileSync(file, rows.join('\n') + '\n')
      await ensureBuilt('app')
      const load = os.loadavg().map((x) => round(x, 2))
      const cli = await cliRun(['user', 'import', file, '--json'], cliEnv)
      const r = cli.out as { created: number; failed: number; skipped: number }
      out.csvImport = {
        users: CSV_USERS,
        command: 'netkeeper user import FILE --json',
        created: r.created,
        failed: r.failed,
        skipped: r.skipped,
        wallSeconds: cli.wallSeconds,
        perSecond: round(r.created / cli.wallSeconds, 1),
        maxRssMiB: cli.maxRssMiB,
        includes: `node start, CSV parse, analysis (walk of the ${USERS} existing uids, groups, schema checks), uidNumbers from the pool in one block, intent + outcome audit rows (one bulk commit each per batch), LDAP adds in transactions of up to 100, one group join for all, the JSON report of every row`,
        loadAverage: load,
        goal: '<= 60 s and <= 300 MB for 10,000 users; LAM upload of the same file not measured here',
        met: cli.wallSeconds <= 60 && (cli.maxRssMiB === null || cli.maxRssMiB <= 300)
      }
      log(`csvImport ${JSON.stringify(out.csvImport)}`)
    }
  } finally {
    await scope.close()
    await core.close()
    await ldap.stop()
    fs.rmSync(work, { recursive: true, force: true })
  }
  return out
}

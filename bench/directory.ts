/**
 * `npm run bench -- directory`: a throwaway slapd holding 50,000 users (loaded with slapadd), and through
 * the full Netkeeper path (DirectoryService over ldapts, audit rows in PostgreSQL):
 * - the first page (100) of a filtered search, as a screen asks for it: a connection of its own, the bind,
 *   the paged search, and the page read ahead so the screen knows whether a next page exists;
 * - a full paged walk of all 50,000 users (pages of 500), entries per second and the heap it needed;
 * - user creation: one at a time, and 16 concurrent creators (uidNumber by compare-and-swap, uid check,
 *   intent and outcome audit rows, the add, the read-back), creations per second and latency.
 * - LDIF export of every entry under ou=people (the 50,000 users), streamed to a file page by page: time
 *   and peak memory (goal <= 5 s, <= 200 MB);
 * - bulk user import from a CSV of NETKEEPER_BENCH_CSV_USERS (10,000) new users, end to end (parse, the
 *   analysis against the live directory and the schema, the id pool, intent and outcome audit rows, the adds,
 *   group joins): time and peak memory (goal <= 60 s, <= 300 MB). LAM's CSV upload is not run here (no PHP
 *   stack on this machine's bench): its figure is left to PEERS.md when someone measures it.
 * Compare with ../shared/PEERS.md: slapd's own tools, and LDAP Account Manager on the same data.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Core } from '../src/main/core'
import { makeContext } from '../src/main/core/context'
import { ProfileStore } from '../src/main/core/directory/profiles'
import { ldapProfileSchema } from '../src/shared/directory'
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
  const core = await Core.open({ databaseUrl: await srv.url('bench_directory'), dataDir, migrate: true })
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
        peakRssMiB: peakMiB,
        rssGrowthMiB: growthMiB,
        goal: `<= 5 s and <= 200 MB for 50,000 entries`
      }
      log(`ldifExport ${JSON.stringify(out.ldifExport)}`)
    }

    // 5. Bulk import of CSV_USERS new users from CSV (with a template group to join).
    {
      await core.directory.groups.create(scope, { cn: 'csv-bench', type: 'posixGroup' })
      await core.directory.templates.set(makeContext({ actor: 'bench', roles: ['admin'], source: 'cli' }), core.directory.profile('bench'), { groups: ['csv-bench'] })
      const rows = ['uid,givenName,sn,mail,telephoneNumber']
      for (let i = 0; i < CSV_USERS; i++) rows.push(`csv${i},Csv,User${i},csv${i}@example.test,+1 555 ${String(i).padStart(5, '0')}`)
      const text = rows.join('\n') + '\n'
      const [[r, ms], peakMiB, growthMiB] = await withPeakRss(() => time(() => core.directory.userImport.run(scope, { text })))
      out.csvImport = {
        users: CSV_USERS,
        created: r.created,
        failed: r.failed,
        seconds: round(ms / 1000, 2),
        perSecond: round(r.created / (ms / 1000), 1),
        peakRssMiB: peakMiB,
        rssGrowthMiB: growthMiB,
        includes: 'CSV parse, analysis (uid walk, groups, schema checks), uidNumber from the pool, intent + outcome audit rows, LDAP add, one group join for all',
        goal: '<= 60 s and <= 300 MB for 10,000 users; LAM upload of the same file not measured here'
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

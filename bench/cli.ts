/**
 * `npm run bench -- cli`: the built `netkeeper` command as a person starts it (`node bin/netkeeper.js ...`,
 * a fresh process each run): wall time and peak memory of `--version`, `--help`, `pool list` and
 * `ip allocate --next`, on the embedded store (PGlite) and on a PostgreSQL server; 1 warm-up run, then the
 * p50 (and the max) of 10 runs each.
 *
 * Peak memory is the child's maximum resident set size as the kernel accounts it (GNU time's %M, from
 * wait4's rusage), and CPU time its user + system time (%U + %S), the steadier figure when the machine is
 * busy; where /usr/bin/time is missing, only wall time is reported. Wall time is measured here,
 * from spawn to exit. Both stores hold the same 100 pools of /24 and one /16 that the allocations go into.
 * The machine's load average is recorded beside the figures: other work on the machine skews them.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Core } from '../src/main/core'
import { sharedBuffersSetting } from '../src/main/core/db/pglite-wasm'
import { JS_INTERRUPT_BUDGET } from '../src/main/cli/run'
import { ensureBuilt } from '../tests/support/build'
import { benchCtx, log, openCore, percentile, round, type BenchServer } from './util'

const root = path.resolve(import.meta.dirname, '..')
const BIN = path.join(root, 'bin', 'netkeeper.js')
const GNU_TIME = '/usr/bin/time'
const RUNS = 10
const ctx = benchCtx()

interface Run {
  wallMs: number
  maxRssMiB: number | null
  /** User + system CPU time of the child (GNU time's %U + %S): steadier than wall time on a busy machine. */
  cpuMs: number | null
  code: number | null
}

/** One run of the CLI with `args`, timed from spawn to exit; its peak RSS and CPU time through GNU time when present. */
function runOnce(args: string[], env: NodeJS.ProcessEnv, script: string[] = [BIN]): Promise<Run> {
  const useTime = fs.existsSync(GNU_TIME)
  const rssFile = path.join(os.tmpdir(), `nk-bench-cli-${process.pid}.rss`)
  const [file, argv] = useTime ? [GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, process.execPath, ...script, ...args]] : [process.execPath, [...script, ...args]]
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(file, argv, { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      const wallMs = performance.now() - started
      let maxRssMiB: number | null = null
      let cpuMs: number | null = null
      if (useTime) {
        // GNU time exits with the command's code and notes a non-zero one in the file before its line.
        const [kb, user, sys] = (fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number)
        fs.rmSync(rssFile, { force: true })
        if (Number.isFinite(kb)) maxRssMiB = round(kb! / 1024, 1)
        if (Number.isFinite(user) && Number.isFinite(sys)) cpuMs = round((user! + sys!) * 1000, 0)
      }
      if (code !== 0) reject(new Error(`netkeeper ${args.join(' ')} exited ${code}: ${stderr.trim()}`))
      else resolve({ wallMs, maxRssMiB, cpuMs, code })
    })
  })
}

async function measure(label: string, args: string[], env: NodeJS.ProcessEnv, goal: { wallMs: number; maxRssMiB?: number }): Promise<Record<string, unknown>> {
  await runOnce(args, env) // warm-up: the page cache, not the process
  const runs: Run[] = []
  for (let i = 0; i < RUNS; i++) runs.push(await runOnce(args, env))
  const wall = runs.map((r) => r.wallMs)
  const rss = runs.map((r) => r.maxRssMiB).filter((x): x is number => x !== null)
  const cpu = runs.map((r) => r.cpuMs).filter((x): x is number => x !== null)
  const out = {
    command: `netkeeper ${args.filter((a) => !a.startsWith('postgres')).join(' ')}`,
    runs: RUNS,
    wallMsP50: percentile(wall, 50),
    wallMsMax: percentile(wall, 100),
    cpuMsP50: cpu.length ? percentile(cpu, 50) : null,
    maxRssMiBP50: rss.length ? percentile(rss, 50) : null,
    maxRssMiBMax: rss.length ? percentile(rss, 100) : null,
    loadAverage: os.loadavg().map((x) => round(x, 2)),
    goal: `wall <= ${goal.wallMs} ms${goal.maxRssMiB ? `, peak memory <= ${goal.maxRssMiB} MB` : ''}`,
    met: percentile(wall, 50) <= goal.wallMs && (goal.maxRssMiB === undefined || !rss.length || percentile(rss, 50) <= goal.maxRssMiB)
  }
  log(`${label} ${JSON.stringify(out)}`)
  return out
}

/** 100 pools of /24 and one /16 for the allocations, through the core (the CLI is what is measured). */
async function seed(core: Core): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await core.ipam.createPool(ctx, { name: `bench-${String(i).padStart(3, '0')}`, network: `10.${100 + (i >> 8)}.${i & 255}.0/24`, site: `site-${i % 7}` })
  }
  await core.ipam.createPool(ctx, { name: 'bench-alloc', network: '10.200.0.0/16' })
}

export async function benchCli(srv: BenchServer): Promise<Record<string, unknown>> {
  await ensureBuilt()
  const out: Record<string, unknown> = {
    how: 'node bin/netkeeper.js (built bundle), a fresh process per run, 1 warm-up + 10 runs; wall from spawn to exit, peak memory = max RSS (GNU time %M), CPU = user + system (GNU time %U + %S)',
    // The embedded store's buffers (NETKEEPER_PGLITE_SHARED_BUFFERS; 128MB is PGlite's own module, as before).
    embeddedSharedBuffers: sharedBuffersSetting(),
    // V8's JavaScript tiering budget the CLI sets for a command (run.ts; V8's default is 67,584).
    jsInterruptBudget: JS_INTERRUPT_BUDGET,
    nodeAlone: await (async () => {
      // The floor: Node starting and exiting, measured as the CLI is.
      const runs: Run[] = []
      for (let i = 0; i < RUNS; i++) runs.push(await runOnce([], process.env, ['-e', '0']))
      const cpu = runs.map((r) => r.cpuMs).filter((x): x is number => x !== null)
      return { wallMsP50: percentile(runs.map((r) => r.wallMs), 50), cpuMsP50: cpu.length ? percentile(cpu, 50) : null }
    })()
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-bench-cli-'))
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, NETKEEPER_DATA_DIR: dataDir, NETKEEPER_DATABASE_URL: '' }
  try {
    out.version = await measure('--version', ['--version'], baseEnv, { wallMs: 150 })
    out.help = await measure('--help', ['--help'], baseEnv, { wallMs: 150 })

    // The embedded store: created and migrated once, as the first run of the app or the CLI would.
    {
      const core = await Core.open({ dataDir, migrate: true })
      await seed(core)
      await core.close()
    }
    out.embedded = {
      poolList: await measure('embedded pool list', ['pool', 'list'], baseEnv, { wallMs: 600, maxRssMiB: 200 }),
      ipAllocateNext: await measure('embedded ip allocate --next', ['ip', 'allocate', '--pool', 'bench-alloc', '--next'], baseEnv, { wallMs: 600, maxRssMiB: 200 })
    }

    const url = await srv.url('bench_cli')
    {
      const core = await openCore(url)
      await seed(core)
      await core.close()
    }
    const serverArgs = ['--database-url', url]
    out.server = {
      poolList: await measure('server pool list', [...serverArgs, 'pool', 'list'], baseEnv, { wallMs: 250 }),
      ipAllocateNext: await measure('server ip allocate --next', [...serverArgs, 'ip', 'allocate', '--pool', 'bench-alloc', '--next'], baseEnv, { wallMs: 600 })
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
  return out
}

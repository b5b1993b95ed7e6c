/**
 * `npm run bench -- cli`: the built `netkeeper` command as a person starts it (`node bin/netkeeper.js ...`,
 * a fresh process each run): wall time and peak memory of `--version`, `--help`, `pool list` and
 * `ip allocate --next`, on the embedded store (PGlite) and on a PostgreSQL server; 1 warm-up run, then the
 * p50 (and the max) of 10 runs each, the commands taken in turn (see measureAll).
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

interface Case {
  label: string
  args: string[]
  env: NodeJS.ProcessEnv
  goal: { wallMs: number; maxRssMiB?: number }
  runs: Run[]
  /** The load average when its last run ended. */
  load?: number[]
}

/**
 * Runs every case RUNS times, round-robin (each round runs every command once, in the same order), after one
 * warm-up run of each (the page cache, not the process). A command's runs are so spread over the whole
 * benchmark: a few seconds of a slower machine (other work on the host; measured here, `node -e 0` took
 * 72 ms in one minute and 107 in another) fall on every command alike rather than on the one whose ten runs
 * happened to be taken then.
 */
async function measureAll(cases: Case[]): Promise<void> {
  for (const c of cases) await runOnce(c.args, c.env)
  for (let i = 0; i < RUNS; i++) {
    for (const c of cases) {
      c.runs.push(await runOnce(c.args, c.env))
      if (i === RUNS - 1) c.load = os.loadavg().map((x) => round(x, 2))
    }
  }
}

function summary(c: Case): Record<string, unknown> {
  const wall = c.runs.map((r) => r.wallMs)
  const rss = c.runs.map((r) => r.maxRssMiB).filter((x): x is number => x !== null)
  const cpu = c.runs.map((r) => r.cpuMs).filter((x): x is number => x !== null)
  const out = {
    command: `netkeeper ${c.args.filter((a) => !a.startsWith('postgres')).join(' ')}`,
    runs: c.runs.length,
    wallMsP50: percentile(wall, 50),
    wallMsMax: percentile(wall, 100),
    cpuMsP50: cpu.length ? percentile(cpu, 50) : null,
    maxRssMiBP50: rss.length ? percentile(rss, 50) : null,
    maxRssMiBMax: rss.length ? percentile(rss, 100) : null,
    loadAverage: c.load,
    goal: `wall <= ${c.goal.wallMs} ms${c.goal.maxRssMiB ? `, peak memory <= ${c.goal.maxRssMiB} MB` : ''}`,
    met: percentile(wall, 50) <= c.goal.wallMs && (c.goal.maxRssMiB === undefined || !rss.length || percentile(rss, 50) <= c.goal.maxRssMiB)
  }
  log(`${c.label} ${JSON.stringify(out)}`)
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
    how: 'node bin/netkeeper.js (built bundle), a fresh process per run, 1 warm-up + 10 runs of each command, the commands taken in turn (round-robin); wall from spawn to exit, peak memory = max RSS (GNU time %M), CPU = user + system (GNU time %U + %S)',
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
    // The embedded store: created and migrated once, as the first run of the app or the CLI would.
    {
      const core = await Core.open({ dataDir, migrate: true })
      await seed(core)
      await core.close()
    }
    const url = await srv.url('bench_cli')
    {
      const core = await openCore(url)
      await seed(core)
      await core.close()
    }
    const serverArgs = ['--database-url', url]
    const make = (label: string, args: string[], goal: Case['goal']): Case => ({ label, args, env: baseEnv, goal, runs: [] })
    const cases = {
      version: make('--version', ['--version'], { wallMs: 150 }),
      help: make('--help', ['--help'], { wallMs: 150 }),
      embeddedPoolList: make('embedded pool list', ['pool', 'list'], { wallMs: 600, maxRssMiB: 200 }),
      embeddedAllocate: make('embedded ip allocate --next', ['ip', 'allocate', '--pool', 'bench-alloc', '--next'], { wallMs: 600, maxRssMiB: 200 }),
      serverPoolList: make('server pool list', [...serverArgs, 'pool', 'list'], { wallMs: 250 }),
      serverAllocate: make('server ip allocate --next', [...serverArgs, 'ip', 'allocate', '--pool', 'bench-alloc', '--next'], { wallMs: 600 })
    }
    await measureAll(Object.values(cases))
    out.version = summary(cases.version)
    out.help = summary(cases.help)
    out.embedded = { poolList: summary(cases.embeddedPoolList), ipAllocateNext: summary(cases.embeddedAllocate) }
    out.server = { poolList: summary(cases.serverPoolList), ipAllocateNext: summary(cases.serverAllocate) }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
  return out
}

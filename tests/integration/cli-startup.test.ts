/**
 * What the built `netkeeper` loads before a command runs (docs/cli.md#start-up), read from the bundle's
 * static imports: `--version` loads the entry, run.ts's chunk and version.ts's only; the top-level `--help` adds help.ts
 * and top.ts (data and a formatter: no commander), and its text is checked against commander's at several
 * widths; a group's `--help` adds the command tree's chunk and commander's (bundled), and Node's own modules,
 * never zod, the address libraries or a database driver (the bundler once put the command tree in one chunk
 * with zod schemas). Then the two are run, and the
 * command tree is checked to be whole (a command from every group answers --help). Last, `pool list` runs
 * on a PostgreSQL server with a module hook that records every file it loads: none of the LDAP client, the
 * DNS wire format, SQLite (once its answer is remembered), undici or the other rooms' code, and of knex
 * its pg dialect only.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import os from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../support/build'
import { startPostgres, type PgServer } from '../support/postgres'
import { Core } from '../../src/main/core'
import { makeContext } from '../../src/main/core/context'
import { buildProgram } from '../../src/main/cli/program'
import { helpWidthOf, topHelp } from '../../src/main/cli/help'
import { topHelpRequest } from '../../src/main/cli/run'

const root = path.resolve(import.meta.dirname, '../..')
const OUT = path.join(root, 'out/main')
const BIN = path.join(root, 'bin/netkeeper.js')

/** The static imports of a built chunk: relative chunk files and bare package names (dynamic imports left out). */
function staticImports(file: string): { chunks: string[]; packages: string[] } {
  const src = fs.readFileSync(path.join(OUT, file), 'utf8')
  const chunks: string[] = []
  const packages: string[] = []
  for (const m of src.matchAll(/^(?:import|export)\s[^;]*?from\s*"([^"]+)";?$|^import\s*"([^"]+)";?$/gm)) {
    const spec = (m[1] ?? m[2])!
    if (spec.startsWith('./')) chunks.push(spec.slice(2))
    else packages.push(spec)
  }
  return { chunks, packages }
}

/** Every package a chunk loads before it runs, through the chunks it imports statically. */
function loadedBy(file: string): { chunks: Set<string>; packages: Set<string> } {
  const chunks = new Set<string>()
  const packages = new Set<string>()
  const walk = (f: string): void => {
    if (chunks.has(f)) return
    chunks.add(f)
    const i = staticImports(f)
    i.packages.forEach((p) => packages.add(p))
    i.chunks.forEach(walk)
  }
  walk(file)
  return { chunks, packages }
}

beforeAll(async () => {
  await ensureBuilt('app')
}, 300_000)

describe('the CLI loads only what a call needs', () => {
  it('answers --version from the entry and run.ts alone', () => {
    const { chunks, packages } = loadedBy('cli.js')
    expect([...chunks].every((c) => c === 'cli.js' || /^(run|version|rolldown-runtime)-[\w-]+\.js$/.test(c)), [...chunks].join(' ')).toBe(true)
    expect([...packages].every((p) => p.startsWith('node:'))).toBe(true)
    expect(execFileSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('answers the top-level --help from help.ts and top.ts, without commander or the command tree', () => {
    const run = fs.readdirSync(OUT).find((f) => /^run-[\w-]+\.js$/.test(f))!
    const helpChunk = /import\("\.\/(help-[\w-]+\.js)"\)/.exec(fs.readFileSync(path.join(OUT, run), 'utf8'))?.[1]
    expect(helpChunk, 'run.ts loads the top-level help from a chunk of its own').toBeDefined()
    const { chunks, packages } = loadedBy(helpChunk!)
    expect([...packages]).toEqual([])
    expect([...chunks].every((c) => /^(help|top)-[\w-]+\.js$/.test(c)), [...chunks].join(' ')).toBe(true)
    const help = execFileSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' })
    for (const group of ['pool', 'ip', 'range', 'audit', 'user', 'group', 'ldif', 'dns', 'dhcp', 'completion']) expect(help).toMatch(new RegExp(`^  ${group}\\b`, 'm'))
    // `help` prints the same on stdout; no arguments at all print it on stderr and exit 2 (a usage error), as commander did.
    expect(execFileSync(process.execPath, [BIN, 'help'], { encoding: 'utf8' })).toBe(help)
    const bare = spawnSync(process.execPath, [BIN], { encoding: 'utf8' })
    expect([bare.status, bare.stdout, bare.stderr]).toEqual([2, '', help])
  })

  it('loads the command tree for a group\'s --help without zod, address libraries or database drivers', () => {
    const run = fs.readdirSync(OUT).find((f) => /^run-[\w-]+\.js$/.test(f))!
    // Straight from the chunk, or through the bundler's one-line facade that re-exports `main` from it.
    const imported = /import\("\.\/((?:cli-)?program-[\w-]+\.js)"\)/.exec(fs.readFileSync(path.join(OUT, run), 'utf8'))?.[1]
    const program = imported?.startsWith('cli-program-') ? imported : imported && staticImports(imported).chunks.find((c) => /^cli-program-[\w-]+\.js$/.test(c))
    expect(program, 'run.ts loads the command tree from a chunk of its own').toBeDefined()
    const { packages } = loadedBy(program!)
    const outside = [...packages].filter((p) => !p.startsWith('node:'))
    // commander is bundled, in a chunk of its own (electron.vite.config.ts).
    expect(outside).toEqual([])
    expect(staticImports(program!).chunks.some((c) => /^commander-[\w-]+\.js$/.test(c))).toBe(true)
    // Options whose choices moved to shared/choices.ts still list them (commander wraps long lines).
    const helpOf = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args, '--help'], { encoding: 'utf8' }).replace(/\s+/g, ' ')
    expect(helpOf('range', 'add')).toContain('"dhcp", "reserved", "infrastructure", "other"')
    expect(helpOf('ldif', 'export')).toContain('"base", "one", "sub"')
    expect(helpOf('pool')).toMatch(/Usage: netkeeper pool \[options\] \[command\]/)
  })
})

describe('the top-level help printed without commander', () => {
  it('equals what commander prints for the whole tree, at every width', async () => {
    const whole = await buildProgram()
    // Commander wraps to the terminal's columns (80 when the output is not a terminal); below 40 it stops wrapping.
    for (const width of [20, 39, 40, 41, 60, 72, 80, 100, 120, 132, 200, 400]) {
      whole.configureHelp({ helpWidth: width })
      expect(topHelp(width), `width ${width}`).toBe(whole.helpInformation())
    }
  })

  it('takes the width commander takes: a terminal\'s columns, else 80', () => {
    expect(helpWidthOf({ isTTY: true, columns: 132 } as NodeJS.WriteStream)).toBe(132)
    expect(helpWidthOf({ isTTY: false, columns: 132 } as unknown as NodeJS.WriteStream)).toBe(80)
    expect(helpWidthOf({} as NodeJS.WriteStream)).toBe(80)
  })

  it('is asked for by --help, -h, help and no arguments, and by nothing longer', () => {
    expect(['--help', '-h', 'help'].map((a) => topHelpRequest([a]))).toEqual(['stdout', 'stdout', 'stdout'])
    expect(topHelpRequest([])).toBe('stderr')
    for (const args of [['pool', '--help'], ['help', 'pool'], ['--json', '--help'], ['--version'], ['pool']]) expect(topHelpRequest(args), args.join(' ')).toBeNull()
  })
})

describe('the command tree built for one group', () => {
  it('lists the same commands as the whole tree, and builds the group run in full', async () => {
    const whole = await buildProgram()
    const names = whole.commands.map((c) => c.name()).filter((n) => n !== 'help')
    expect(names.length).toBeGreaterThan(20)
    for (const args of [['--help'], ['help'], ...names.map((n) => ['--json', n, '--help'])]) {
      const lazy = await buildProgram(args)
      // Each top-level entry shows as in the whole tree (the descriptions kept in program.ts agree with the groups').
      expect(lazy.helpInformation(), args.join(' ')).toBe(whole.helpInformation())
    }
    const pool = (p: Awaited<ReturnType<typeof buildProgram>>) => p.commands.find((c) => c.name() === 'pool')!
    expect(pool(await buildProgram(['pool', 'list'])).commands.map((c) => c.name())).toEqual(pool(whole).commands.map((c) => c.name()))
    expect(pool(await buildProgram(['--database-url', 'postgres://x/y', 'help', 'pool'])).commands.length).toBeGreaterThan(3)
    // The groups not run are only their name: nothing under them was built.
    expect(pool(await buildProgram(['ip', 'show', '10.0.0.1'])).commands).toEqual([])
  })
})

describe('pool list on a server loads only IPAM', () => {
  let srv: PgServer
  let url: string
  let dataDir: string

  beforeAll(async () => {
    srv = await startPostgres()
    url = await srv.createDatabase('cli_startup')
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-cli-startup-'))
    const core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
    await core.ipam.createPool(makeContext({ actor: 'test', roles: ['admin'], source: 'cli' }), { name: 'lean', network: '10.61.0.0/24' })
    await core.close()
  }, 120_000)

  afterAll(async () => {
    await srv?.stop()
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })

  /** Runs the built CLI with a module hook; returns its stdout and every module URL it loaded (ES modules and CommonJS). */
  function traced(args: string[]): { stdout: string; loaded: string[] } {
    const log = path.join(dataDir, `loaded-${Math.random().toString(36).slice(2)}.txt`)
    const hooks = `import fs from 'node:fs'; export async function load(url, ctx, next) { fs.appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, ctx) }`
    const preload = [
      `import { register, createRequire } from 'node:module'; import fs from 'node:fs';`,
      `register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));`,
      `const req = createRequire(import.meta.url);`,
      `process.on('exit', () => fs.appendFileSync(${JSON.stringify(log)}, Object.keys(req.cache).join('\\n') + '\\n'));`,
      // The fetch globals: touching one loads Node's undici (pg's runtime probe did).
      `for (const k of ['fetch', 'Response', 'Request', 'Headers']) { const d = Object.getOwnPropertyDescriptor(globalThis, k); if (d?.get) Object.defineProperty(globalThis, k, { configurable: true, get() { fs.appendFileSync(${JSON.stringify(log)}, 'global:' + k + '\\n'); return d.get.call(this) }, set: d.set }) }`
    ].join('\n')
    const preloadFile = path.join(dataDir, 'trace-loads.mjs')
    fs.writeFileSync(preloadFile, preload)
    const stdout = execFileSync(process.execPath, ['--import', preloadFile, BIN, '--database-url', url, ...args], {
      encoding: 'utf8',
      env: { ...process.env, NETKEEPER_DATA_DIR: dataDir, NETKEEPER_DATABASE_URL: '' }
    })
    return { stdout, loaded: fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) }
  }

  /** The source files a built chunk holds (the bundler's `// src/...` and `// migrations/...` comments). */
  const sourcesOf = (chunkUrl: string): string[] => [...fs.readFileSync(new URL(chunkUrl), 'utf8').matchAll(/^\/\/ ((?:src|migrations)\/[\w/.-]+)$/gm)].map((m) => m[1]!)

  it('loads no LDAP, DNS, SQLite, undici or other rooms, and answers', () => {
    traced(['pool', 'list', '--json']) // the first read is remembered for offline reads (SQLite)
    const { stdout, loaded } = traced(['pool', 'list', '--json'])
    expect((JSON.parse(stdout) as { items: { name: string }[] }).items.map((p) => p.name)).toEqual(['lean'])
    const packages = new Set(loaded.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter(Boolean))
    for (const p of ['ldapts', 'dns-packet', 'better-sqlite3', 'csv-parse', 'csv-stringify', 'keytar', '@electric-sql/pglite', '@mikro-orm/core', 'lodash']) expect(packages.has(p), p).toBe(false)
    expect(loaded.filter((u) => u.startsWith('global:'))).toEqual([])
    const chunks = loaded.filter((u) => u.startsWith('file:') && u.includes('/out/main/'))
    const sources = chunks.flatMap(sourcesOf)
    expect(sources).toContain('src/main/core/ipam/service.ts')
    const foreign = sources.filter((s) => /^src\/main\/core\/(dns|dhcp|directory|auth|importer)\/|^src\/main\/core\/audit\/(service|archive|forward\/)|^src\/main\/core\/people\.ts|^migrations\/Migration/.test(s))
    expect(foreign).toEqual([])
    // The bundled knex holds its pg dialect only: not its other dialects, nor its migrator and seeder with
    // lodash's template engine (electron.vite.config.ts, knexTrim), which the parser would otherwise read.
    const bundled = chunks.flatMap((u) => [...fs.readFileSync(new URL(u), 'utf8').matchAll(/^\/\/ node_modules\/(knex\/lib\/[\w/.-]+|lodash\/[\w.-]+)$/gm)].map((m) => m[1]!))
    expect(bundled).toContain('knex/lib/dialects/postgres/index.js')
    expect(bundled.filter((f) => /^knex\/lib\/dialects\/(?!postgres\/)[\w-]+\/|^knex\/lib\/migrations\/migrate\/MigrationGenerator\.js$|^lodash\/template\.js$/.test(f))).toEqual([])
  }, 60_000)
})

/**
 * What the built `netkeeper` loads before a command runs (docs/cli.md#start-up), read from the bundle's
 * static imports: `--version` loads the entry and run.ts's chunk only; `--help` adds the command tree's chunk,
 * which imports commander and Node's own modules, never zod, the address libraries or a database driver
 * (the bundler once put the command tree in one chunk with zod schemas). Then the two are run, and the
 * command tree is checked to be whole (a command from every group answers --help).
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../support/build'

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
    expect([...chunks].every((c) => c === 'cli.js' || /^(run|rolldown-runtime)-[\w-]+\.js$/.test(c))).toBe(true)
    expect([...packages].every((p) => p.startsWith('node:'))).toBe(true)
    expect(execFileSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+/)
  })

  it('loads the command tree for --help without zod, address libraries or database drivers', () => {
    const run = fs.readdirSync(OUT).find((f) => /^run-[\w-]+\.js$/.test(f))!
    const program = /import\("\.\/(cli-program-[\w-]+\.js)"\)/.exec(fs.readFileSync(path.join(OUT, run), 'utf8'))?.[1]
    expect(program, 'run.ts loads the command tree from a chunk of its own').toBeDefined()
    const { packages } = loadedBy(program!)
    const outside = [...packages].filter((p) => !p.startsWith('node:'))
    expect(outside).toEqual(['commander'])
    const help = execFileSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' })
    for (const group of ['pool', 'ip', 'range', 'audit', 'user', 'group', 'ldif', 'dns', 'dhcp', 'completion']) expect(help).toMatch(new RegExp(`^  ${group}\\b`, 'm'))
    // Options whose choices moved to shared/choices.ts still list them (commander wraps long lines).
    const helpOf = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args, '--help'], { encoding: 'utf8' }).replace(/\s+/g, ' ')
    expect(helpOf('range', 'add')).toContain('"dhcp", "reserved", "infrastructure", "other"')
    expect(helpOf('ldif', 'export')).toContain('"base", "one", "sub"')
  })
})

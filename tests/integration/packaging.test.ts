/**
 * electron-builder.yml checked without building a package (that needs Electron's binary, which CI cannot
 * download): loaded and validated by electron-builder's own code (app-builder-lib, the library behind the
 * `electron-builder` dev dependency), its asarUnpack and files patterns matched with electron-builder's own
 * matcher against the real files, and its fuses compared with docs/packaging.md.
 */
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { BUILT, ensureBuilt } from '../support/build'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(import.meta.url)

type Config = Record<string, unknown> & { asarUnpack?: string[]; files?: string[]; electronFuses?: Record<string, boolean>; linux?: Record<string, unknown> }
type Filter = (file: string, stat: { isDirectory(): boolean }) => boolean

// electron-builder's own loader, validator and file matcher (CommonJS, reached by path: no exports map).
const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
  getConfig(projectDir: string, configPath: string | null, configFromOptions: unknown): Promise<Config>
  validateConfiguration(config: Config, debugLogger: unknown): Promise<void>
}
const { getFileMatchers } = require('app-builder-lib/out/fileMatcher.js') as {
  getFileMatchers(
    config: Config,
    name: 'asarUnpack' | 'files',
    defaultDestination: string,
    options: { macroExpander: (s: string) => string; customBuildOptions: Record<string, unknown>; globalOutDir: string; defaultSrc: string }
  ): Array<{ createFilter(): Filter }> | null
}
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown }

const asFile = { isDirectory: () => false }

/** electron-builder's filter for one of the config's pattern lists, as the packager builds it. */
function matcher(config: Config, name: 'asarUnpack' | 'files'): (relative: string) => boolean {
  const matchers = getFileMatchers(config, name, root, {
    macroExpander: (s) => s,
    customBuildOptions: config.linux ?? {},
    globalOutDir: path.join(root, 'release'),
    defaultSrc: root
  })
  const filter = matchers?.[0]?.createFilter()
  if (!filter) throw new Error(`electron-builder.yml has no ${name} patterns`)
  return (relative) => filter(path.join(root, relative), asFile)
}

function packageDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name)
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate
    if (dir === root || dir === path.dirname(dir)) return undefined
  }
}

/** The production dependency tree as installed: what electron-builder copies into the app. */
function productionPackages(): string[] {
  const dirs = new Set<string>()
  const visit = (name: string, from: string): void => {
    const dir = packageDir(name, from)
    if (!dir || dirs.has(dir)) return // an optional dependency for another platform is simply absent
    dirs.add(dir)
    const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>
    for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) visit(dep, dir)
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  for (const dep of Object.keys(pkg.dependencies)) visit(dep, root)
  return [...dirs]
}

/** Files under `dir` (not descending into nested node_modules, which are packages of their own). */
function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = []
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') out.push(...filesUnder(p, keep))
    } else if (keep(entry.name)) out.push(p)
  }
  return out
}

/**
 * The files PGlite reads from disk at run time (`new URL("./pglite.wasm", import.meta.url)` and the like):
 * found by following, from each PGlite entry point the built main bundle imports, the relative imports of
 * PGlite's own modules.
 */
function pgliteRuntimeFiles(): string[] {
  const pgliteRoot = path.join(root, 'node_modules/@electric-sql/pglite')
  const pj = JSON.parse(fs.readFileSync(path.join(pgliteRoot, 'package.json'), 'utf8')) as {
    exports: Record<string, { import: string | { default: string } }>
  }
  const entryFor = (specifier: string): string => {
    const sub = `.${specifier.slice('@electric-sql/pglite'.length)}`
    const direct = pj.exports[sub]
    if (direct) return path.join(pgliteRoot, typeof direct.import === 'string' ? direct.import : direct.import.default)
    const [pattern, target] = Object.entries(pj.exports).find(([k]) => k.endsWith('/*') && sub.startsWith(k.slice(0, -1))) ?? []
    if (!pattern || !target) throw new Error(`cannot resolve ${specifier} from PGlite's exports`)
    const imp = typeof target.import === 'string' ? target.import : target.import.default
    return path.join(pgliteRoot, imp.replace('*', sub.slice(pattern.length - 1)))
  }
  const bundle = fs.readdirSync(path.dirname(BUILT.main)).filter((f) => f.endsWith('.js'))
  const specifiers = new Set<string>()
  for (const f of bundle) {
    const code = fs.readFileSync(path.join(path.dirname(BUILT.main), f), 'utf8')
    for (const m of code.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["'](@electric-sql\/pglite(?:\/[^"']*)?)["']/g)) specifiers.add(m[1]!)
  }
  if (!specifiers.has('@electric-sql/pglite')) throw new Error('out/main no longer imports @electric-sql/pglite: update this test')
  const modules = new Set<string>()
  const assets = new Set<string>()
  const walk = (file: string): void => {
    if (modules.has(file) || !fs.existsSync(file)) return
    modules.add(file)
    const code = fs.readFileSync(file, 'utf8')
    for (const m of code.matchAll(/new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/g)) assets.add(path.resolve(path.dirname(file), m[1]!))
    for (const m of code.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["'](\.\.?\/[^"']+)["']/g)) walk(path.resolve(path.dirname(file), m[1]!))
  }
  for (const s of specifiers) walk(entryFor(s))
  return [...assets].map((a) => path.relative(root, a).split(path.sep).join('/'))
}

/** The fuse table in docs/packaging.md: `| \`name\` | true/false | why |`. */
function documentedFuses(): Record<string, boolean> {
  const doc = fs.readFileSync(path.join(root, 'docs/packaging.md'), 'utf8')
  const rows = [...doc.matchAll(/^\s*\|\s*`(\w+)`\s*\|\s*(true|false)\s*\|/gm)]
  return Object.fromEntries(rows.map((m) => [m[1]!, m[2] === 'true']))
}

describe('electron-builder.yml', () => {
  let config: Config

  beforeAll(async () => {
    await ensureBuilt()
    config = await getConfig(root, path.join(root, 'electron-builder.yml'), null)
  })

  it("passes electron-builder's own validation, which does reject a broken configuration", async () => {
    await expect(validateConfiguration(structuredClone(config), new DebugLogger(false))).resolves.toBeUndefined()
    // The validator is live: a misspelt option and a wrong type are both refused.
    await expect(validateConfiguration({ ...structuredClone(config), asarUnpak: ['x'] }, new DebugLogger(false))).rejects.toThrow(/asarUnpak/)
    await expect(validateConfiguration({ ...structuredClone(config), electronFuses: { runAsNode: 'no' } } as unknown as Config, new DebugLogger(false))).rejects.toThrow(/runAsNode/)
  })

  it('unpacks every native module of the production dependencies from the asar', () => {
    const unpacked = matcher(config, 'asarUnpack')
    const packages = productionPackages()
    const native = packages.flatMap((dir) => filesUnder(dir, (n) => n.endsWith('.node'))).map((f) => path.relative(root, f).split(path.sep).join('/'))
    // Not vacuous: both native modules are installed and built here.
    expect(native).toEqual(expect.arrayContaining([expect.stringMatching(/^node_modules\/keytar\/.*\.node$/), expect.stringMatching(/^node_modules\/better-sqlite3\/.*\.node$/)]))
    expect(native.filter((f) => !unpacked(f))).toEqual([])
    // A package built by node-gyp keeps its whole folder beside the archive (bindings looks for build/ there).
    const gyp = packages.filter((dir) => fs.existsSync(path.join(dir, 'binding.gyp'))).map((dir) => `${path.relative(root, dir).split(path.sep).join('/')}/package.json`)
    expect(gyp.length).toBeGreaterThanOrEqual(2)
    expect(gyp.filter((f) => !unpacked(f))).toEqual([])
    // And the rest of the app stays inside it.
    for (const f of ['out/main/index.js', 'out/preload/index.cjs', 'node_modules/zod/package.json']) expect(unpacked(f), f).toBe(false)
  })

  it('unpacks the files PGlite reads from disk at run time', () => {
    const unpacked = matcher(config, 'asarUnpack')
    const files = pgliteRuntimeFiles()
    expect(files).toEqual(expect.arrayContaining(['node_modules/@electric-sql/pglite/dist/pglite.wasm', 'node_modules/@electric-sql/pglite/dist/pglite.data']))
    // The contrib extension the app loads (pg_trgm) brings its tarball.
    expect(files).toContain('node_modules/@electric-sql/pglite/dist/pg_trgm.tar.gz')
    for (const f of files) expect(fs.existsSync(path.join(root, f)), f).toBe(true)
    expect(files.filter((f) => !unpacked(f))).toEqual([])
  })

  it('packs the built app and leaves sources, tests and source maps out', () => {
    const packed = matcher(config, 'files')
    for (const f of [...Object.values(BUILT), 'out/main/cli.js', 'bin/netkeeper.js', 'package.json'].map((f) => path.relative(root, path.resolve(root, f)))) {
      expect(packed(f), f).toBe(true)
    }
    for (const f of ['src/main/index.ts', 'tests/e2e/main-bundle.test.ts', 'docs/packaging.md', 'out/main/index.js.map', 'bench/index.ts']) {
      expect(packed(f), f).toBe(false)
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { main: string }
    expect(path.resolve(root, pkg.main)).toBe(BUILT.main)
  })

  it('sets the Electron fuses docs/packaging.md lists, to the values it gives', () => {
    const fuses = config.electronFuses ?? {}
    expect(fuses).toEqual(documentedFuses())
    // The ones that keep the packaged binary from being used as a general Node runtime or debugger.
    expect(fuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
      enableEmbeddedAsarIntegrityValidation: true,
      enableCookieEncryption: true,
      grantFileProtocolExtraPrivileges: false
    })
  })
})

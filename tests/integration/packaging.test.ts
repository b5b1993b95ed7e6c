/**
 * electron-builder.yml checked without building a package (that needs Electron's binary, which CI cannot
 * download): loaded and validated by electron-builder's own code (app-builder-lib, the library behind the
 * `electron-builder` dev dependency), its asarUnpack and files patterns matched with electron-builder's own
 * matcher against the real files, and its fuses compared with docs/packaging.md.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { builtinModules, createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { BUILT, ensureBuilt } from '../support/build'
import { cliArguments } from '../../src/main/shell/cli-mode'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(import.meta.url)

type FileSet = { from: string; to: string; filter?: string[] }
type FpmOptions = { afterInstall?: string; afterRemove?: string; depends?: string[] }
type Config = Record<string, unknown> & {
  productName?: string
  asarUnpack?: string[]
  files?: string[]
  extraResources?: FileSet[]
  electronFuses?: Record<string, boolean>
  linux?: Record<string, unknown> & { executableName?: string; executableArgs?: string[] }
  deb?: FpmOptions
  rpm?: FpmOptions
}
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

/**
 * Every file of out/main that the app's entry reaches through static and dynamic imports (the CLI mode
 * loads src/main/cli from index.js), and every bare package they import.
 */
function reachableFromMain(): { files: string[]; packages: Set<string> } {
  const dir = path.dirname(BUILT.main)
  const files = new Set<string>()
  const packages = new Set<string>()
  const walk = (file: string): void => {
    if (files.has(file)) return
    files.add(file)
    // Comment lines left out: bundled packages keep their JSDoc, which names modules (`import("./argument.js")`).
    const code = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line))
      .join('\n')
    // Static imports and re-exports (one per line in rolldown's output) and dynamic import() calls.
    const specs = [
      ...code.matchAll(/^(?:import|export)\b[^;\n]*?\bfrom\s*["']([^"']+)["']/gm),
      ...code.matchAll(/^import\s*["']([^"']+)["']/gm),
      ...code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)
    ].map((m) => m[1]!)
    for (const spec of specs) {
      if (spec.startsWith('.')) walk(path.resolve(path.dirname(file), spec))
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!)
    }
  }
  walk(BUILT.main)
  if (![...files].some((f) => /^(cli-)?program-/.test(path.basename(f)))) throw new Error('out/main/index.js no longer reaches the CLI program: update this test')
  return { files: [...files].map((f) => path.relative(root, f).split(path.sep).join('/')), packages: new Set([...packages].filter((p) => p !== dir)) }
}

/** An fpm script template filled in as electron-builder's FpmTarget does (an unknown macro is an error there too). */
function renderFpmTemplate(file: string, options: Record<string, string>): string {
  return fs.readFileSync(path.join(root, file), 'utf8').replace(/\$\{([a-zA-Z]+)\}/g, (_m, name: string) => {
    if (!(name in options)) throw new Error(`Macro ${name} is not defined`)
    return options[name]!
  })
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

describe('the netkeeper command in the packages', () => {
  let config: Config
  let tmp: string

  beforeAll(async () => {
    await ensureBuilt()
    config = await getConfig(root, path.join(root, 'electron-builder.yml'), null)
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-packaging-'))
    return () => fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('packs everything the CLI mode loads, and ships every package it imports as a production dependency', () => {
    const packed = matcher(config, 'files')
    const { files, packages } = reachableFromMain()
    expect(files.length).toBeGreaterThan(10)
    expect(files.filter((f) => !packed(f))).toEqual([])
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)])
    const missing = [...packages].filter((p) => p !== 'electron' && !builtins.has(p) && !builtins.has(p.split('/')[0]!) && !(p in pkg.dependencies))
    expect(missing).toEqual([])
    // Not vacuous: the CLI's own packages are among them (commander, zod and knex are bundled into out/main).
    expect([...packages]).toEqual(expect.arrayContaining(['pg', '@electric-sql/pglite', 'ldapts', 'electron']))
    expect([...packages]).not.toContain('commander')
  })

  it('ships the wrappers in resources/bin beside the app, the shell one executable', () => {
    expect(config.extraResources).toEqual([{ from: 'resources/cli', to: 'bin', filter: ['netkeeper', 'netkeeper.cmd'] }])
    const sh = path.join(root, 'resources/cli/netkeeper')
    expect(fs.statSync(sh).mode & 0o111).toBe(0o111)
    expect(fs.readFileSync(sh, 'utf8').startsWith('#!/bin/sh\n')).toBe(true)
    expect(spawnSync('sh', ['-n', sh]).status).toBe(0)
    // The names the wrappers look for are the binaries electron-builder writes.
    expect(config.linux?.executableName).toBe('netkeeper')
    expect(config.productName).toBe('Netkeeper')
    // The GUI keeps its launcher: the desktop entry runs the binary without the flag.
    expect(config.linux?.executableArgs ?? []).not.toContain('--netkeeper-cli')
  })

  /** A stand-in app binary that prints its arguments one per line and exits 7. */
  function fakeBinary(file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, '#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\nexit 7\n', { mode: 0o755 })
  }
  function installWrapper(dir: string): string {
    fs.mkdirSync(dir, { recursive: true })
    const to = path.join(dir, 'netkeeper')
    fs.copyFileSync(path.join(root, 'resources/cli/netkeeper'), to)
    fs.chmodSync(to, 0o755)
    return to
  }
  const USER_ARGS = ['pool', 'list', '--json', 'two words', '', "it's", '$HOME', '--netkeeper-cli']
  const printed = (out: string): string[] => [...out.matchAll(/^\[(.*)\]$/gm)].map((m) => m[1]!)

  it('Linux (.deb, .rpm): /usr/bin/netkeeper runs /opt/Netkeeper/netkeeper --netkeeper-cli with every argument intact', () => {
    const opt = path.join(tmp, 'linux/opt/Netkeeper')
    fakeBinary(path.join(opt, 'netkeeper'))
    const wrapper = installWrapper(path.join(opt, 'resources/bin'))
    // As the after-install links it (update-alternatives: /usr/bin -> /etc/alternatives -> the wrapper).
    const alternatives = path.join(tmp, 'linux/etc/alternatives')
    const usrBin = path.join(tmp, 'linux/usr/bin')
    fs.mkdirSync(alternatives, { recursive: true })
    fs.mkdirSync(usrBin, { recursive: true })
    fs.symlinkSync(wrapper, path.join(alternatives, 'netkeeper'))
    fs.symlinkSync('../../etc/alternatives/netkeeper', path.join(usrBin, 'netkeeper'))

    const r = spawnSync(path.join(usrBin, 'netkeeper'), USER_ARGS, { encoding: 'utf8', cwd: tmp })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(7)
    const argv = printed(r.stdout)
    expect(argv).toEqual(['--ozone-platform=headless', '--disable-gpu', '--netkeeper-cli', ...USER_ARGS])
    // ...which the app reads back as exactly the user's arguments.
    expect(cliArguments({ argv: [path.join(opt, 'netkeeper'), ...argv], defaultApp: false, env: {} })).toEqual(USER_ARGS)
  })

  it('macOS: a link to Contents/Resources/bin/netkeeper runs Contents/MacOS/Netkeeper --netkeeper-cli', () => {
    const contents = path.join(tmp, 'mac/Applications/Netkeeper.app/Contents')
    fakeBinary(path.join(contents, 'MacOS/Netkeeper'))
    const wrapper = installWrapper(path.join(contents, 'Resources/bin'))
    const link = path.join(tmp, 'mac/usr/local/bin/netkeeper')
    fs.mkdirSync(path.dirname(link), { recursive: true })
    fs.symlinkSync(wrapper, link)
    const r = spawnSync(link, ['db', 'status'], { encoding: 'utf8' })
    expect(r.status).toBe(7)
    expect(printed(r.stdout)).toEqual(['--netkeeper-cli', 'db', 'status'])
  })

  it('says where it looked, with exit 127, when the app is not beside it', () => {
    const wrapper = installWrapper(path.join(tmp, 'lonely/resources/bin'))
    const r = spawnSync(wrapper, ['--version'], { encoding: 'utf8' })
    expect(r.status).toBe(127)
    expect(r.stderr).toMatch(/the Netkeeper app was not found next to .*lonely\/resources\/bin\/netkeeper/)
  })

  it('Windows: netkeeper.cmd runs Netkeeper.exe two folders up with --netkeeper-cli and passes its exit code on', () => {
    const text = fs.readFileSync(path.join(root, 'resources/cli/netkeeper.cmd'), 'utf8')
    // cmd.exe wants CRLF line ends; %~dp0 is the script's own folder (resources\bin\).
    expect(text.split('\r\n').length).toBeGreaterThan(3)
    expect(text.replace(/\r\n/g, '')).not.toContain('\n')
    expect(text).toContain(`"%~dp0..\\..\\${config.productName}.exe" --netkeeper-cli %*\r\n`)
    expect(text).toContain('exit /b %ERRORLEVEL%')
  })

  it('the .deb and .rpm link /usr/bin/netkeeper to the wrapper, not the GUI, and keep electron-builder\'s other install steps', () => {
    for (const target of ['deb', 'rpm'] as const) {
      const opts = config[target]!
      expect(opts.afterInstall, target).toBe('resources/linux/after-install.tpl')
      expect(opts.afterRemove, target).toBe('resources/linux/after-remove.tpl')
    }
    const macros = { executable: config.linux!.executableName!, sanitizedProductName: 'Netkeeper', productFilename: 'Netkeeper' }
    const install = renderFpmTemplate('resources/linux/after-install.tpl', macros)
    const remove = renderFpmTemplate('resources/linux/after-remove.tpl', macros)
    for (const [name, script] of [['after-install', install], ['after-remove', remove]] as const) {
      const file = path.join(tmp, `${name}.sh`)
      fs.writeFileSync(file, script)
      expect(spawnSync('bash', ['-n', file]).status, name).toBe(0)
      expect(script).not.toMatch(/\$\{/)
    }
    expect(install).toContain("app_dir='/opt/Netkeeper'")
    expect(install).toContain('cli="$app_dir/resources/bin/netkeeper"')
    expect(install).toContain('update-alternatives --install "$link" netkeeper "$cli" 100 || ln -sf "$cli" "$link"')
    // The GUI binary is never what /usr/bin/netkeeper points at; an older package's registration of it goes.
    expect(install).toContain('update-alternatives --remove netkeeper "$app_dir/netkeeper"')
    expect(install).not.toMatch(/ln -sf '?\/opt\/Netkeeper\/netkeeper'? /)
    // electron-builder's own steps, kept.
    for (const step of ['chrome-sandbox', 'update-desktop-database', 'update-mime-database', "'/etc/apparmor.d/netkeeper'", 'apparmor_parser --replace']) {
      expect(install, step).toContain(step)
    }
    expect(remove).toContain('update-alternatives --remove netkeeper "$cli"')
    expect(remove).toContain("profile='/etc/apparmor.d/netkeeper'")
    // electron-builder's own templates use the same macros, so the paths agree with what it installs.
    const builtin = fs.readFileSync(require.resolve('app-builder-lib/templates/linux/after-install.tpl'), 'utf8')
    expect(builtin).toContain("'/opt/${sanitizedProductName}/${executable}'")
    expect(builtin).toContain('/opt/${sanitizedProductName}/resources/apparmor-profile')
  })

  it('the wrapper shell script really runs under the after-install layout (executing the rendered link step in a scratch root)', () => {
    // The link step of the after-install, pointed at a scratch root instead of /: the same commands, so a
    // quoting mistake in them shows here.
    const install = renderFpmTemplate('resources/linux/after-install.tpl', { executable: 'netkeeper', sanitizedProductName: 'Netkeeper', productFilename: 'Netkeeper' })
    const scratch = path.join(tmp, 'scratch')
    const linkStep = install
      .split('\n')
      .filter((l) => /^(app_dir|cli|link)=/.test(l))
      .map((l) => l.replace("'/opt/", `'${scratch}/opt/`).replace("'/usr/bin/", `'${scratch}/usr/bin/`))
      .join('\n')
    fakeBinary(path.join(scratch, 'opt/Netkeeper/netkeeper'))
    installWrapper(path.join(scratch, 'opt/Netkeeper/resources/bin'))
    fs.mkdirSync(path.join(scratch, 'usr/bin'), { recursive: true })
    execFileSync('bash', ['-c', `${linkStep}\nchmod 0755 "$cli"\nln -sf "$cli" "$link"`])
    const r = spawnSync(path.join(scratch, 'usr/bin/netkeeper'), ['-V'], { encoding: 'utf8' })
    expect(r.status).toBe(7)
    expect(printed(r.stdout)).toEqual(['--ozone-platform=headless', '--disable-gpu', '--netkeeper-cli', '-V'])
  })
})

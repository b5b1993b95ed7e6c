/**
 * electron-vite build: main (ESM, dependencies left in node_modules), preload (one self-contained CommonJS
 * file, because a sandboxed preload can require nothing but `electron`) and the Vue renderer.
 *
 * Main bundles three entries: the Electron bootstrap (src/main/index.ts), the `netkeeper` command line
 * (src/main/cli/index.ts, run by bin/netkeeper.js), which share the core, and the worker thread that hashes
 * audit rows for verification (src/main/core/audit/verify-worker.ts, started by verify.ts from beside its
 * chunk). The CLI's entry imports almost nothing: the rest is split into chunks it loads when a command
 * needs them (docs/cli.md#start-up). The browser test harness in src/main/web is never part of the
 * packaged app.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'electron-vite'
import vue from '@vitejs/plugin-vue'
import type { Plugin } from 'vite'
import { RENDERER_CSP } from './src/shared/csp'

const root = fileURLToPath(new URL('.', import.meta.url))
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { version: string }

const alias = {
  '@shared': resolve(root, 'src/shared'),
  '@renderer': resolve(root, 'src/renderer/src')
}

/**
 * What `netkeeper --help` loads: the command tree and the zod-free modules it and the command groups import
 * (src/shared/choices.ts). The groups themselves (src/main/cli/commands) are dynamic imports of program.ts,
 * each in a chunk of its own that a run loads when it names the group.
 */
const CLI_PROGRAM = /[\\/]src[\\/](main[\\/]cli[\\/](program|runtime|interrupt|terminal)|shared[\\/](choices|dn)|main[\\/]core[\\/]context)\.ts$/

/**
 * The modules of the command tree that the worker thread opening the embedded store for a command
 * (core/db/pglite-worker.ts) needs as well: in a chunk of their own, so that the worker does not load the
 * command tree (and commander with it) to start PGlite.
 */
const CLI_BASE = /[\\/]src[\\/](shared[\\/]errors|main[\\/]core[\\/](paths|log|db[\\/]errors))\.ts$/

/**
 * The bundled knex without what Netkeeper never runs through it: every database command loads knex, and
 * V8 parses all of a chunk's source before running any of it. `connect.ts` hands knex its client class,
 * so knex's registry of its eleven other dialects (234 KB: MySQL, MSSQL, Oracle, SQLite, Redshift...) is
 * never consulted; migrations run through MikroORM (with its own knex from node_modules), so knex's own
 * migrator and seeder (with lodash's template engine) are never constructed. Each is replaced by a module
 * that throws naming why, should a future change reach for it (docs/cli.md#start-up).
 */
function knexTrim(): Plugin {
  const stubs: [RegExp, string][] = [
    [
      /[\\/]node_modules[\\/]knex[\\/]lib[\\/]dialects[\\/]index\.js$/,
      "exports.getDialectByNameOrAlias = (name) => { throw new Error('knex dialect ' + JSON.stringify(name) + ' is not in this build: pass knex the client class (src/main/core/db/connect.ts)') }"
    ],
    [
      /[\\/]node_modules[\\/]knex[\\/]lib[\\/]migrations[\\/]migrate[\\/]Migrator\.js$/,
      "exports.Migrator = class { constructor() { throw new Error('knex migrations are not in this build: Netkeeper migrates through MikroORM') } }"
    ],
    [
      /[\\/]node_modules[\\/]knex[\\/]lib[\\/]migrations[\\/]seed[\\/]Seeder\.js$/,
      "module.exports = class { constructor() { throw new Error('knex seeds are not in this build') } }"
    ]
  ]
  return {
    name: 'netkeeper:knex-trim',
    enforce: 'pre',
    load(id) {
      const stub = stubs.find(([re]) => re.test(id))
      return stub ? `'use strict';\n${stub[1]}\n` : null
    }
  }
}

/** Fails the build when index.html's CSP meta tag drifts from the policy main and the harness send. */
function cspMetaCheck(): Plugin {
  return {
    name: 'netkeeper:csp-meta-check',
    transformIndexHtml: {
      order: 'pre',
      handler(html) {
        if (!html.includes(`content="${RENDERER_CSP}"`)) {
          throw new Error('src/renderer/index.html: the Content-Security-Policy meta tag must equal RENDERER_CSP in src/shared/csp.ts')
        }
        return html
      }
    }
  }
}

export default defineConfig({
  main: {
    plugins: [knexTrim()],
    define: { __APP_VERSION__: JSON.stringify(pkg.version) },
    build: {
      outDir: resolve(root, 'out/main'),
      lib: {
        entry: {
          index: resolve(root, 'src/main/index.ts'),
          cli: resolve(root, 'src/main/cli/index.ts'),
          'verify-worker': resolve(root, 'src/main/core/audit/verify-worker.ts'),
          'pglite-worker': resolve(root, 'src/main/core/db/pglite-worker.ts')
        }
      },
      // Dependencies (MikroORM, PGlite, pg, keytar...) stay external and load from node_modules, except two pure
      // JavaScript ones that every CLI command loads: zod (about 95 ES module files, 0.16 s of CPU to import one by
      // one) and commander (CommonJS, read through Node's CommonJS lexer). Bundled, they are one chunk each, and zod
      // is tree-shaken (docs/cli.md#start-up).
      externalizeDeps: { exclude: ['zod', 'commander', 'knex', '@harryplusplus/knex-pglite'] },
      rolldownOptions: {
        // The database drivers knex's other dialects require when they are used (never: Netkeeper speaks pg).
        external: ['tedious', 'mysql', 'mysql2', 'oracledb', 'sqlite3', 'pg-query-stream', 'pg-native'],
        output: {
          codeSplitting: {
            groups: [
              { name: 'cli-base', test: CLI_BASE, includeDependenciesRecursively: false },
              {
                // The command tree and the light modules it imports, in a chunk of their own: left to itself
                // the bundler puts them in one chunk with zod schemas that the same entries reach, and then
                // `netkeeper --help` pays for loading zod (docs/cli.md#start-up). None of these imports zod.
                name: 'cli-program',
                test: CLI_PROGRAM,
                // Not the modules they import: version.ts, which `--version` alone loads, stays out (every other
                // module they import is in the list or an external package).
                includeDependenciesRecursively: false
              },
              // The two bundled dependencies in chunks named after them (the tests and the profile name them).
              { name: 'commander', test: /[\\/]node_modules[\\/]commander[\\/]/ },
              { name: 'zod', test: /[\\/]node_modules[\\/]zod[\\/]/ }
            ]
          }
        }
      }
    }
  },
  preload: {
    resolve: { alias },
    build: {
      outDir: resolve(root, 'out/preload'),
      lib: { entry: resolve(root, 'src/preload/index.ts') },
      // Sandboxed preloads cannot load node_modules: bundle zod and the contract into the one file.
      externalizeDeps: false,
      rolldownOptions: {
        output: { format: 'cjs', entryFileNames: '[name].cjs' }
      }
    }
  },
  renderer: {
    root: resolve(root, 'src/renderer'),
    resolve: { alias },
    plugins: [vue(), cspMetaCheck()],
    build: {
      outDir: resolve(root, 'out/renderer'),
      // Minified, and split per screen (features/*/index.ts load their views lazily): the first screen's
      // JavaScript is what start-up parses (docs/architecture.md#renderer-bundle).
      minify: true,
      rolldownOptions: { input: resolve(root, 'src/renderer/index.html') }
    }
  }
})

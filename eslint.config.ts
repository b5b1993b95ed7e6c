import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import pluginVue from 'eslint-plugin-vue'
import vueParser from 'vue-eslint-parser'
import globals from 'globals'
import type { Linter } from 'eslint'

// Bare built-in names are matched exactly (as paths), so '@shared/net' is not mistaken for 'net'.
const builtinNames = ['fs', 'path', 'os', 'crypto', 'child_process', 'net', 'http', 'https', 'url', 'stream', 'events', 'util', 'buffer', 'process']
const nodeBuiltinPaths = (message: string) => builtinNames.map((name) => ({ name, message }))

type ImportPattern = { group: string[]; message: string } | { regex: string; message: string }

/** The renderer's own boundaries (no main-process code, no node, no electron), plus `extra` for a folder. */
function rendererRestrictions(extra: ImportPattern[] = []) {
  return {
    paths: nodeBuiltinPaths('the renderer has no node access'),
    patterns: [
      { group: ['**/main/**', '../main/*', '@main/*'], message: 'the renderer must not import main-process code' },
      { group: ['node:*'], message: 'the renderer has no node access' },
      { group: ['electron', 'electron/*'], message: 'the renderer must not import electron; use the api module' },
      ...extra
    ]
  }
}

/** The renderer's rooms: src/renderer/src/features/<room>/, each with a public index.ts (docs/architecture.md). */
const RENDERER_FEATURES = ['audit', 'dashboard', 'directory', 'dns', 'importer', 'ipam', 'offline', 'palette', 'settings', 'shell']

/** Another room's files other than its index. */
const roomInternals = (except?: string): ImportPattern[] => [
  {
    regex: `^@renderer/features/${except ? `(?!${except}(/|$))` : ''}[^/]+/(?!index$).+`,
    message: "import another room only through its index ('@renderer/features/<room>')"
  }
]

/** A file `depth` folders deep in `room`: other rooms only through their index, its own room never through it. */
function roomRules(room: string, depth: number): ImportPattern[] {
  return [
    ...roomInternals(room),
    { regex: `^@renderer/features/${room}(/index)?$`, message: `inside ${room}/, import its files directly: the index is for other rooms (and would make a cycle)` },
    { regex: `^(\\.\\./){${depth}}`, message: `a relative path may not climb out of features/${room}/: use '@renderer/ui/...', '@renderer/lib/...', '@renderer/api' or another room's index` }
  ]
}

const noElectronInCore = { group: ['electron', 'electron/*'], message: 'the core must stay free of Electron (see docs/architecture.md)' }

/**
 * The core's domains serve the doors and never import them (guide principle 12): nothing under
 * src/main/core may import src/main/ipc, cli, web or shell, nor src/main/index.ts. The patterns see the
 * import text, not the resolved file: a door is a relative path whose first named folder is ipc, cli, web
 * or shell (the core has no folder of those names), and src/main/index is exactly one "../" more than the
 * file is deep below src/main/core (from a domain, ".." or "../index" is the core's own index, which
 * stays allowed). Hence one object per depth. Each repeats the Electron rule, because a later
 * no-restricted-imports replaces an earlier one for the same file instead of adding to it.
 */
const coreKeepsOutOfTheDoors = (depth: number): Linter.Config => ({
  files: [`src/main/core/${'*/'.repeat(depth)}*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          noElectronInCore,
          { regex: '^(\\.\\./)+(ipc|cli|web|shell)(/.*)?$', message: 'the core must not import the ipc, cli, web or shell doors; they call the core, not the other way round (see docs/architecture.md)' },
          { regex: `^${'\\.\\./'.repeat(depth)}\\.\\.(/index(\\.[jt]s)?)?/?$`, message: 'the core must not import src/main/index.ts, the Electron bootstrap (see docs/architecture.md)' }
        ]
      }
    ]
  }
})

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'release/**', '.tmp/**', 'migrations/.snapshot-*.json'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...pluginVue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parser: vueParser, parserOptions: { parser: tseslint.parser, sourceType: 'module' } }
  },
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off'
    }
  },
  {
    // The contract, DTOs and schemas cross every boundary: they may not depend on node, electron or vue.
    files: ['src/shared/**/*.ts'],
    languageOptions: { globals: {} },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltinPaths('src/shared must not import node modules'),
          patterns: [
            { group: ['node:*'], message: 'src/shared must not import node modules' },
            { group: ['electron', 'electron/*', '@electron/*'], message: 'src/shared must not import electron' },
            { group: ['vue', 'pinia', '@vue/*'], message: 'src/shared must not import vue' },
            { group: ['**/main/**', '**/renderer/**', '**/preload/**'], message: 'src/shared depends on nothing else in src' }
          ]
        }
      ]
    }
  },
  {
    // The renderer talks to main only through the preload object; it never imports main or node.
    files: ['src/renderer/**/*.{ts,vue}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: { 'no-restricted-imports': ['error', rendererRestrictions()] }
  },
  {
    // Outside the rooms (App.vue, main.ts): another room only through its index.
    files: ['src/renderer/src/*.{ts,vue}'],
    rules: { 'no-restricted-imports': ['error', rendererRestrictions(roomInternals())] }
  },
  // One block per room (and per folder depth inside it, for the relative paths that would climb out of it).
  ...RENDERER_FEATURES.flatMap((room) =>
    [1, 2, 3].map((depth): Linter.Config => ({
      files: [`src/renderer/src/features/${room}/${'*/'.repeat(depth - 1)}*.{ts,vue}`],
      rules: { 'no-restricted-imports': ['error', rendererRestrictions(roomRules(room, depth))] }
    }))
  ),
  {
    // The shared kit is below every room: it knows no store, no room and no api (it gets data as props).
    files: ['src/renderer/src/ui/**/*.{ts,vue}'],
    rules: {
      'no-restricted-imports': [
        'error',
        rendererRestrictions([
          { regex: '^(@renderer/|(\\.\\./)+)(features|api)(/|$)', message: 'ui/ may not import a room (features/*) or the api module: pass data in as props, hand actions out as events' },
          { group: ['pinia'], message: 'ui/ may not use stores: pass data in as props, hand actions out as events' }
        ])
      ]
    }
  },
  {
    // lib/ holds pure helpers (unit tests load them in Node): no vue, no stores, no rooms, no ui, no api.
    files: ['src/renderer/src/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        rendererRestrictions([
          { group: ['vue', 'pinia', '@vue/*'], message: 'lib/ is plain TypeScript: no vue, no stores' },
          { regex: '^(@renderer/|(\\.\\./)+)(features|ui|api)(/|$)', message: 'lib/ may not import a room, the ui kit or the api module' }
        ])
      ]
    }
  },
  {
    // The core is shared by the app, the CLI and tests: no Electron in it.
    files: ['src/main/core/**/*.ts', 'src/main/cli/**/*.ts', 'src/main/ipc/**/*.ts', 'src/main/web/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [noElectronInCore] }
      ]
    }
  },
  // The core keeps out of the doors (ipc, cli, web, shell, src/main/index.ts): see coreKeepsOutOfTheDoors above.
  // One object per depth below src/main/core: core/*.ts, core/<domain>/*.ts, core/importer/plan/*.ts, and one
  // spare; a folder nested deeper than that needs its depth added here.
  ...[0, 1, 2, 3].map(coreKeepsOutOfTheDoors)
)

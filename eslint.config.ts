import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import pluginVue from 'eslint-plugin-vue'
import vueParser from 'vue-eslint-parser'
import globals from 'globals'

// Bare built-in names are matched exactly (as paths), so '@shared/net' is not mistaken for 'net'.
const builtinNames = ['fs', 'path', 'os', 'crypto', 'child_process', 'net', 'http', 'https', 'url', 'stream', 'events', 'util', 'buffer', 'process']
const nodeBuiltinPaths = (message: string) => builtinNames.map((name) => ({ name, message }))

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
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltinPaths('the renderer has no node access'),
          patterns: [
            { group: ['**/main/**', '../main/*', '@main/*'], message: 'the renderer must not import main-process code' },
            { group: ['node:*'], message: 'the renderer has no node access' },
            { group: ['electron', 'electron/*'], message: 'the renderer must not import electron; use the api module' }
          ]
        }
      ]
    }
  },
  {
    // The core is shared by the app, the CLI and tests: no Electron in it.
    files: ['src/main/core/**/*.ts', 'src/main/cli/**/*.ts', 'src/main/ipc/**/*.ts', 'src/main/web/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['electron', 'electron/*'], message: 'the core must stay free of Electron (see docs/architecture.md)' }] }
      ]
    }
  }
)

#!/usr/bin/env node
/**
 * The `netkeeper` command. Runs the built CLI (out/main/cli.js, written by `npm run build`); in a checkout
 * that has not been built yet it falls back to the TypeScript source through tsx.
 */
import { existsSync } from 'node:fs'

const built = new URL('../out/main/cli.js', import.meta.url)
if (existsSync(built)) {
  await import(built.href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import(new URL('../src/main/cli/index.ts', import.meta.url).href)
}

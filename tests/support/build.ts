/**
 * Tests of the built app (out/main, out/preload, out/renderer) call `ensureBuilt()` first. CI builds before
 * `npm test` (.ci/run), so there it only checks. Locally, when out/ is missing or any source is newer than
 * the oldest output, it runs `npx electron-vite build` once, under one lock folder, so two test files never
 * build over each other, and a file that waited looks again before building. The browser tests ask only for
 * the renderer (scope 'renderer', through tests/e2e/support.ts); the build covers every source either way.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const LOCK = path.join(root, 'out/.renderer-build.lock')

export const BUILT = {
  main: path.join(root, 'out/main/index.js'),
  preload: path.join(root, 'out/preload/index.cjs'),
  renderer: path.join(root, 'out/renderer/index.html')
}
const SOURCES = [path.join(root, 'src'), path.join(root, 'electron.vite.config.ts'), path.join(root, 'package.json')]

/**
 * What a test needs current: the whole app, or only the renderer (the browser harness runs the main-process
 * code from source, so only out/renderer matters to it).
 */
export type BuildScope = 'app' | 'renderer'
const SCOPES: Record<BuildScope, { outputs: string[]; sources: string[] }> = {
  app: { outputs: Object.values(BUILT), sources: SOURCES },
  renderer: {
    outputs: [BUILT.renderer],
    sources: [path.join(root, 'src/renderer'), path.join(root, 'src/shared'), path.join(root, 'electron.vite.config.ts')]
  }
}

function newestMtime(p: string): number {
  let st: fs.Stats
  try {
    st = fs.statSync(p)
  } catch {
    return 0
  }
  if (!st.isDirectory()) return st.mtimeMs
  let newest = st.mtimeMs
  for (const name of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, name)))
  return newest
}

/** Why the build is out of date for `scope`, or undefined when it is current. */
export function staleReason(scope: BuildScope = 'app'): string | undefined {
  const { outputs, sources } = SCOPES[scope]
  const missing = outputs.find((f) => !fs.existsSync(f))
  if (missing) return `${path.relative(root, missing)} is missing`
  const oldest = Math.min(...outputs.map((f) => fs.statSync(f).mtimeMs))
  const newer = sources.find((s) => newestMtime(s) > oldest)
  return newer ? `${path.relative(root, newer)} changed after the last build` : undefined
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function ensureBuilt(scope: BuildScope = 'app'): Promise<void> {
  if (!staleReason(scope)) return
  fs.mkdirSync(path.dirname(LOCK), { recursive: true })
  const deadline = Date.now() + 180_000
  for (;;) {
    try {
      fs.mkdirSync(LOCK)
      break
    } catch {
      // Another test file is building: wait, then look again. A lock left by a dead run goes after 2 minutes.
      try {
        if (Date.now() - fs.statSync(LOCK).mtimeMs > 120_000) fs.rmSync(LOCK, { recursive: true, force: true })
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK}`)
      await sleep(250)
      if (!staleReason(scope)) return
    }
  }
  try {
    const reason = staleReason(scope)
    if (!reason) return
    console.warn(`[build] ${reason}: running \`npx electron-vite build\``)
    // Build output goes to stderr: stdout stays clean for the bench, which prints its JSON there.
    try {
      execFileSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: ['ignore', 2, 2] })
    } catch (e) {
      throw new Error(`\`npx electron-vite build\` failed (${(e as Error).message}); the tests of the built app need out/. Fix the build, then run the tests again.`)
    }
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true })
  }
}

/**
 * The renderer's first chunk stays free of zod (docs/architecture.md#the-renderer-bundle): no module that
 * main.ts reaches through static imports (dynamic imports are other chunks) imports zod. Once, one shared
 * module the palette's store imported for a constant brought zod and its schemas into the first screen's
 * JavaScript: 118 KiB gzipped instead of 92.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const aliases: Record<string, string> = { '@shared': 'src/shared', '@renderer': 'src/renderer/src' }

function resolve(spec: string, from: string): string | undefined {
  let base: string | undefined
  for (const [a, dir] of Object.entries(aliases)) if (spec === a || spec.startsWith(`${a}/`)) base = path.join(root, dir, spec.slice(a.length))
  if (!base && spec.startsWith('.')) base = path.resolve(path.dirname(from), spec)
  if (!base) return undefined // a package
  for (const ext of ['', '.ts', '.vue', '/index.ts']) if (fs.existsSync(base + ext) && fs.statSync(base + ext).isFile()) return base + ext
  throw new Error(`cannot resolve ${spec} from ${from}`)
}

/** Static, non-type imports and re-exports of a module (a .vue file's script included). */
function staticImports(file: string): string[] {
  const src = fs.readFileSync(file, 'utf8')
  const out: string[] = []
  const re = /^\s*(?:import|export)\s+(?!type\b)(?:[^'"`;]*?\bfrom\s*)?['"]([^'"]+)['"]/gm
  for (let m = re.exec(src); m; m = re.exec(src)) out.push(m[1]!)
  return out
}

describe("the renderer's first chunk", () => {
  it('imports no zod, through any static import from main.ts', () => {
    const entry = path.join(root, 'src/renderer/src/main.ts')
    const parent = new Map<string, string | null>([[entry, null]])
    const todo = [entry]
    const zodVia: string[] = []
    while (todo.length) {
      const f = todo.pop()!
      for (const spec of staticImports(f)) {
        if (spec === 'zod' || spec.startsWith('zod/')) {
          const chain = [f]
          for (let p = parent.get(f); p; p = parent.get(p)) chain.push(p)
          zodVia.push(chain.map((c) => path.relative(root, c)).join(' <- '))
        }
        const r = resolve(spec, f)
        if (r && !parent.has(r)) {
          parent.set(r, f)
          todo.push(r)
        }
      }
    }
    // Not vacuous: the walk reaches the shell, the dashboard and the palette's store.
    expect(parent.size).toBeGreaterThan(50)
    expect([...parent.keys()].some((f) => f.endsWith('features/palette/paletteStore.ts'))).toBe(true)
    expect(zodVia).toEqual([])
  })
})

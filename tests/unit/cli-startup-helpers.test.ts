/**
 * Start-up helpers of the CLI that need no build and no server: the compiled-code cache (cli/program.ts),
 * which only runtimes with `module.enableCompileCache` (Node 22.1+, Electron's Node) get, in the per-user
 * cache folder; and the process-wide request id a command runs under (core/log.ts), which replaced an
 * AsyncLocalStorage run (docs/cli.md#start-up).
 */
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { enableCompileCache } from '../../src/main/cli/program'
import { currentRequestId, withProcessRequest, withRequest } from '../../src/main/core/log'
import { platformCacheDir } from '../../src/main/core/paths'

describe('the compiled-code cache', () => {
  const fake = () => {
    const calls: (string | undefined)[] = []
    return { calls, mod: { enableCompileCache: (dir?: string) => (calls.push(dir), { status: 1, directory: dir }) } }
  }

  it('is enabled in the per-user cache folder where the runtime has it', () => {
    const { calls, mod } = fake()
    expect(enableCompileCache(mod, {})).toBe(path.join(platformCacheDir(), 'compile-cache'))
    expect(calls).toEqual([path.join(platformCacheDir(), 'compile-cache')])
  })

  it('does nothing on Node 20, when NODE_COMPILE_CACHE chose already, or when turned off', () => {
    expect(enableCompileCache({}, {})).toBeNull()
    for (const env of [{ NODE_COMPILE_CACHE: '/elsewhere' }, { NETKEEPER_COMPILE_CACHE: '0' }]) {
      const { calls, mod } = fake()
      expect(enableCompileCache(mod, env)).toBeNull()
      expect(calls).toEqual([])
    }
  })

  it('never fails the command when the cache cannot be set up', () => {
    const throwing = {
      enableCompileCache: (): never => {
        throw new Error('EACCES')
      }
    }
    expect(enableCompileCache(throwing, {})).toBeNull()
  })

  it('lives in the platform cache folder, under XDG_CACHE_HOME on Linux', () => {
    if (process.platform !== 'linux') return
    const was = process.env.XDG_CACHE_HOME
    process.env.XDG_CACHE_HOME = '/tmp/xdg-test'
    try {
      expect(platformCacheDir()).toBe('/tmp/xdg-test/Netkeeper')
    } finally {
      if (was === undefined) delete process.env.XDG_CACHE_HOME
      else process.env.XDG_CACHE_HOME = was
    }
  })
})

describe('the request id of a CLI command', () => {
  it('is current through every await of the command, then gone', async () => {
    expect(currentRequestId()).toBeUndefined()
    const seen = await withProcessRequest('req-1', async () => {
      await new Promise((r) => setTimeout(r, 5))
      const inner = await Promise.resolve().then(() => currentRequestId())
      return [currentRequestId(), inner]
    })
    expect(seen).toEqual(['req-1', 'req-1'])
    expect(currentRequestId()).toBeUndefined()
  })

  it('yields to a request run inside it, and is restored after a failure', async () => {
    await expect(
      withProcessRequest('outer', async () => {
        expect(withRequest('inner', () => currentRequestId())).toBe('inner')
        expect(currentRequestId()).toBe('outer')
        throw new Error('boom')
      })
    ).rejects.toThrow('boom')
    expect(currentRequestId()).toBeUndefined()
  })
})

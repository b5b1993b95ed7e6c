/** The shared_buffers literal in PGlite's module: the setting checked, the bytes patched or left alone. */
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { DEFAULT_SHARED_BUFFERS, patchSharedBuffers, sharedBuffersSetting } from '../../src/main/core/db/pglite-wasm'

const bytesOf = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'))
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1')

describe('NETKEEPER_PGLITE_SHARED_BUFFERS', () => {
  it('defaults to 16MB and takes PostgreSQL sizes from 128kB to 128MB', () => {
    expect(DEFAULT_SHARED_BUFFERS).toBe('16MB')
    expect(sharedBuffersSetting({})).toBe('16MB')
    expect(sharedBuffersSetting({ NETKEEPER_PGLITE_SHARED_BUFFERS: '' })).toBe('16MB')
    for (const ok of ['128kB', '512kB', '8MB', '64MB', '128MB', '16', '2048', '16384', ' 32MB ']) {
      expect(sharedBuffersSetting({ NETKEEPER_PGLITE_SHARED_BUFFERS: ok })).toBe(ok.trim())
    }
  })

  it('refuses anything else, naming the variable and the reason', () => {
    for (const bad of ['64kB', '15', '129MB', '256MB', '16384kB', '1GB', '16 MB', '16mb', 'big', '-8MB', '131072']) {
      expect(() => sharedBuffersSetting({ NETKEEPER_PGLITE_SHARED_BUFFERS: bad }), bad).toThrow(
        expect.objectContaining({ code: 'VALIDATION', message: expect.stringMatching(/^NETKEEPER_PGLITE_SHARED_BUFFERS: ".*" is not a size from 128kB to 128MB/) })
      )
    }
  })
})

describe('patchSharedBuffers', () => {
  it('replaces the one literal with a same-length, NUL-padded one and leaves every other byte', () => {
    const before = 'head\0temp_buffers=8MB\0shared_buffers=128MB\0wal_buffers=4MB\0tail'
    const r = patchSharedBuffers(bytesOf(before), '16MB')
    expect('bytes' in r).toBe(true)
    const after = text((r as { bytes: Uint8Array }).bytes)
    expect(after).toBe('head\0temp_buffers=8MB\0shared_buffers=16MB\0\0wal_buffers=4MB\0tail')
    expect(after.length).toBe(before.length)
    // Read as C strings, the literal now says 16MB and its neighbours are unchanged.
    expect(after.split('\0').filter(Boolean)).toEqual(['head', 'temp_buffers=8MB', 'shared_buffers=16MB', 'wal_buffers=4MB', 'tail'])
  })

  it('leaves the bytes alone when the literal is missing, repeated, or the setting does not fit', () => {
    const missing = bytesOf('shared_buffers=256MB\0 shared_buffers=128MBx')
    expect(patchSharedBuffers(missing, '16MB')).toEqual({ skipped: expect.stringContaining('is not in this PGlite build') })
    expect(text(missing)).toBe('shared_buffers=256MB\0 shared_buffers=128MBx')
    const twice = bytesOf('shared_buffers=128MB\0shared_buffers=128MB\0')
    expect(patchSharedBuffers(twice, '16MB')).toEqual({ skipped: expect.stringContaining('more than once') })
    expect(text(twice)).toBe('shared_buffers=128MB\0shared_buffers=128MB\0')
    expect(patchSharedBuffers(bytesOf('shared_buffers=128MB\0'), '123456')).toEqual({ skipped: expect.stringContaining('longer than the built-in literal') })
  })

  it('finds the literal exactly once in the installed PGlite build', () => {
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite')
    const wasm = fs.readFileSync(path.join(path.dirname(entry), 'pglite.wasm'))
    const r = patchSharedBuffers(wasm, '16MB')
    expect(r).toHaveProperty('bytes')
    expect(wasm.includes(Buffer.from('\0shared_buffers=16MB\0\0'))).toBe(true)
    expect(wasm.includes(Buffer.from('shared_buffers=128MB'))).toBe(false)
  })
})

/**
 * lazySchema (src/shared/lazy-schema.ts): the shared schemas are built on first use, and the stand-in behaves
 * as the schema it builds: parse and its messages, composition, extend/omit/partial, spreading a lazy shape,
 * instanceof.
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { lazySchema } from '../../src/shared/lazy-schema'
import { allocateSchema, poolCreateSchema, poolListSchema, poolRef, poolUpdateSchema } from '../../src/shared/ipam'
import { poolSettingsSchema } from '../../src/shared/schemas'

describe('lazySchema', () => {
  it('builds nothing until the schema is first read, then builds once', () => {
    let built = 0
    const s = lazySchema(() => {
      built++
      return z.object({ name: z.string().min(1, 'is required') }).strict()
    })
    expect(built).toBe(0)
    expect(s.parse({ name: 'a' })).toEqual({ name: 'a' })
    expect(s.safeParse({ name: '' }).error?.issues[0]).toMatchObject({ path: ['name'], message: 'is required' })
    expect(built).toBe(1)
    expect(s instanceof z.ZodObject).toBe(true)
    expect(Object.keys(s.shape)).toEqual(['name'])
    expect(built).toBe(1)
  })

  it('composes: inside another schema, extended, and as a spread shape', () => {
    const inner = lazySchema(() => z.number().int().positive())
    const fields = lazySchema(() => ({ a: z.string(), b: inner.optional() }))
    const outer = lazySchema(() => z.object({ ...fields, list: z.array(inner) }).strict())
    expect(outer.parse({ a: 'x', list: [1, 2] })).toEqual({ a: 'x', list: [1, 2] })
    expect(outer.safeParse({ a: 'x', b: -1, list: [] }).error?.issues[0]?.path).toEqual(['b'])
    expect(outer.safeParse({ a: 'x', list: [0] }).error?.issues[0]?.path).toEqual(['list', 0])
    expect(outer.extend({ c: z.boolean() }).parse({ a: 'x', list: [], c: true })).toMatchObject({ c: true })
    expect(Object.keys(outer.omit({ list: true }).shape)).toEqual(['a', 'b'])
  })

  it('leaves the shared schemas as they were: refs, defaults, unknown keys refused, derived schemas', () => {
    expect(poolRef.parse('lab')).toBe('lab')
    expect(poolRef.safeParse(0).success).toBe(false)
    expect(poolSettingsSchema.parse({})).toEqual({ max: 4, acquireTimeoutMs: 10_000, idleTimeoutMs: 30_000, maxLifetimeMs: 1_800_000 })
    expect(poolCreateSchema.safeParse({ name: 'a', network: '10.0.0.0/24', nope: 1 }).error?.issues[0]?.code).toBe('unrecognized_keys')
    expect(poolUpdateSchema.safeParse({ space: 'x' }).success).toBe(false)
    expect(poolListSchema.parse({})).toBeTypeOf('object')
    // allocationFields (a lazy shape) spread into allocateSchema: its checks hold.
    expect(allocateSchema.safeParse({ pool: 'lab', hostname: 'a\u0001b' }).error?.issues[0]).toMatchObject({ path: ['hostname'], message: 'must not contain control characters' })
  })
})

/**
 * A schema built on first use instead of when its module is imported.
 *
 * zod builds a schema's objects (and compiles its checks) as soon as `z.object(...)` runs, and the shared
 * modules define a few hundred schemas at their top level: importing them cost a short CLI command more
 * CPU than the command's own work (docs/cli.md#start-up). `lazySchema(() => z.object(...))` returns a
 * stand-in of the same type that builds the schema the first time anything reads from it (parse, shape,
 * extend, being composed into another schema's parse...) and forwards everything to it from then on, so
 * callers, `z.infer<typeof x>` and composition are unchanged. A schema that a run never touches is never
 * built.
 *
 * What the stand-in is not: the same object as the schema it builds (`a === b` between the stand-in and
 * what it forwards to is false). Nothing in Netkeeper keys a registry or a WeakMap on schema identity; use
 * `.meta()`/`z.globalRegistry` on an eager schema if that is ever needed.
 */
export function lazySchema<T extends object>(build: () => T): T {
  let built: T | undefined
  const real = (): T => (built ??= build())
  // The target stays an empty, extensible object, so the proxy's invariants hold whatever the real schema
  // holds; descriptors are reported configurable for the same reason.
  return new Proxy({} as T, {
    get: (_t, key) => Reflect.get(real(), key, real()),
    set: (_t, key, value) => Reflect.set(real(), key, value, real()),
    has: (_t, key) => Reflect.has(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), key)
      return d && { ...d, configurable: true }
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    defineProperty: (_t, key, d) => Reflect.defineProperty(real(), key, d),
    deleteProperty: (_t, key) => Reflect.deleteProperty(real(), key)
  })
}

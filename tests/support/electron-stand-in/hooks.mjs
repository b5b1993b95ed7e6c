/**
 * Module resolve hook for the stand-in Electron (registered by register.mjs, run by Node on its loader
 * thread): the bare specifier `electron`, and `electron/main` and `electron/common` (Electron's aliases of
 * the same module), resolve to main.mjs. Everything else resolves as usual.
 */
const STAND_IN = new URL('./main.mjs', import.meta.url).href
const ELECTRON_SPECIFIERS = new Set(['electron', 'electron/main', 'electron/common'])

export async function resolve(specifier, context, nextResolve) {
  if (ELECTRON_SPECIFIERS.has(specifier)) return { url: STAND_IN, format: 'module', shortCircuit: true }
  return nextResolve(specifier, context)
}

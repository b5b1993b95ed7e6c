/**
 * Makes `electron` mean the stand-in in this Node process: `node --import <this file> out/main/index.js`.
 * See main.mjs for why and how; this file only installs the two redirections.
 *
 * - ESM (`import ... from 'electron'`, what out/main/index.js does): a resolve hook (hooks.mjs) registered
 *   with `module.register`, Node's supported way (20.6+) to customise ESM resolution.
 * - CommonJS (`require('electron')`, should a dependency ever do it): `Module._resolveFilename` answers the
 *   same file. Node 20.19+ loads an ES module through require() and shares the instance with `import`, so
 *   both paths see one app, one ipcMain, one set of records.
 */
import Module, { register } from 'node:module'
import { fileURLToPath } from 'node:url'

register(new URL('./hooks.mjs', import.meta.url))

const standIn = fileURLToPath(new URL('./main.mjs', import.meta.url))
const electronSpecifiers = new Set(['electron', 'electron/main', 'electron/common'])
const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  return electronSpecifiers.has(request) ? standIn : resolveFilename.call(this, request, ...rest)
}

#!/usr/bin/env node
/**
 * `npm test`: runs the whole suite once and ends with one plain line, `N passed, N failed, N skipped`.
 *
 * The keychain tests need a Secret Service on a session D-Bus. When none is running and dbus-run-session and
 * gnome-keyring-daemon exist, the suite re-runs itself inside a private D-Bus session with an unlocked
 * throwaway keyring (its files in a temporary HOME-like folder, so the user's own keyring is never touched).
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0

if (!process.env.NETKEEPER_TEST_SESSION && !process.env.DBUS_SESSION_BUS_ADDRESS && has('dbus-run-session') && has('gnome-keyring-daemon')) {
  const keyringHome = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-keyring-'))
  const inner = `printf netkeeper-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; exec node "${path.join(root, 'tests/support/run-all.mjs')}" "$@"`
  const r = spawnSync('dbus-run-session', ['--', 'sh', '-c', inner, 'sh', ...process.argv.slice(2)], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, NETKEEPER_TEST_SESSION: '1', XDG_DATA_HOME: keyringHome, XDG_RUNTIME_DIR: keyringHome }
  })
  fs.rmSync(keyringHome, { recursive: true, force: true })
  process.exit(r.status ?? 1)
}

const reportFile = path.join(os.tmpdir(), `netkeeper-vitest-${process.pid}.json`)
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs')
const r = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${reportFile}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, NETKEEPER_TEST_SESSION: '1' }
})

let passed = 0
let failed = 0
let skipped = 0
try {
  const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'))
  passed = report.numPassedTests ?? 0
  // A file that failed to load has no failed test of its own: count it once.
  const brokenFiles = (report.testResults ?? []).filter(
    (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')
  ).length
  failed = (report.numFailedTests ?? 0) + brokenFiles
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
  fs.rmSync(reportFile, { force: true })
} catch {
  failed = Math.max(failed, 1)
}
if (r.status !== 0 && failed === 0) failed = 1
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(r.status === 0 && failed === 0 ? 0 : 1)

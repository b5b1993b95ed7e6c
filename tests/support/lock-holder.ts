/**
 * A process that takes the embedded store's lock (tests/integration/embedded.test.ts): prints "ready",
 * waits for "go" on standard input, tries for WAIT_MS, prints "held" or "busy: <message>", and keeps
 * the lock until standard input closes (or it is killed).
 *   tsx tests/support/lock-holder.ts PGDATA_DIR WAIT_MS
 */
import readline from 'node:readline'
import { acquireEmbeddedLock } from '../../src/main/core/db/embedded-lock'

const [dir, wait] = process.argv.slice(2)
const lines = readline.createInterface({ input: process.stdin })
const next = (): Promise<string | null> => new Promise((resolve) => {
  lines.once('line', resolve)
  lines.once('close', () => resolve(null))
})
process.stdout.write('ready\n')
if ((await next()) === 'go') {
  try {
    const release = await acquireEmbeddedLock(dir!, Number(wait))
    process.stdout.write('held\n')
    await next()
    release()
  } catch (e) {
    process.stdout.write(`busy: ${(e as Error).message}\n`)
  }
}
lines.close()

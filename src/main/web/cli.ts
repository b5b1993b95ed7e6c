/**
 * `npm run web -- [--port N] [--host 127.0.0.1]`: serves the built renderer and the handler table to a
 * browser, for development and tests. Opens the database the way the CLI does (NETKEEPER_DATABASE_URL,
 * the saved profile, or the embedded database in NETKEEPER_DATA_DIR / the per-user data folder). Prints
 * the one-time sign-in URL that gives a browser its session cookie (server.ts).
 */
import { parseArgs } from 'node:util'
import { HarnessError, startWebHarness } from './server'

const usage = 'usage: npm run web -- [--port N] [--host 127.0.0.1]'

async function main(): Promise<void> {
  let values: { port?: string; host?: string; help?: boolean }
  try {
    ;({ values } = parseArgs({
      options: { port: { type: 'string', short: 'p' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true
    }))
  } catch (e) {
    console.error(`${(e as Error).message}\n${usage}`)
    process.exit(2)
  }
  if (values.help) {
    console.log(usage)
    return
  }
  const port = values.port === undefined ? 0 : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port: must be an integer 0-65535 (0 picks a free port), got "${values.port}"\n${usage}`)
    process.exit(2)
  }

  let harness
  try {
    harness = await startWebHarness({ port, host: values.host })
  } catch (e) {
    console.error(e instanceof HarnessError ? e.message : `cannot start the web harness: ${(e as Error).message}`)
    process.exit(e instanceof HarnessError ? 2 : 1)
  }
  console.log(`Netkeeper web harness on ${harness.url}`)
  // The token is the only way in: it goes to this console (its owner), never into a page.
  console.log(`Open this one-time sign-in URL (it works once, then the browser keeps a session cookie):\n  ${harness.loginUrl()}`)

  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    void harness.close().finally(() => process.exit(0))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

void main()

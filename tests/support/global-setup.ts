/**
 * Starts each real server once per test run and hands its address to the test files.
 * PostgreSQL: a throwaway cluster (tests/support/postgres.ts) unless NETKEEPER_TEST_DATABASE_URL is set.
 */
import type { TestProject } from 'vitest/node'
import { startPostgres, type PgServer } from './postgres'
import { startSlapd, unavailableSlapd, type SlapdServer } from './slapd'
import { startNamed, unavailableNamed, type NamedInfo } from './named'

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string
    pgPort: number
    pgDataDir: string
    pgBinDir: string
    named: NamedInfo
  }
}

let pg: PgServer | undefined
// OpenLDAP: a throwaway slapd with TLS, schemas and seed data (tests/support/slapd.ts); inject('slapd').
let slapd: SlapdServer | undefined
// BIND 9: a throwaway primary with dynamic zones and a TSIG key (tests/support/named.ts); inject('named').
let named: Awaited<ReturnType<typeof startNamed>> | undefined

export async function setup(project: TestProject): Promise<void> {
  pg = await startPostgres()
  project.provide('pgUrl', pg.url)
  project.provide('pgPort', pg.port)
  project.provide('pgDataDir', pg.dataDir ?? '')
  project.provide('pgBinDir', pg.binDir ?? '')
  try {
    slapd = await startSlapd()
    project.provide('slapd', slapd.info)
  } catch (e) {
    // Directory tests skip with this reason; everything else still runs.
    console.warn(`[setup] slapd could not be started: ${(e as Error).message}`)
    project.provide('slapd', unavailableSlapd((e as Error).message))
  }
  try {
    named = await startNamed()
    project.provide('named', named.info)
  } catch (e) {
    console.warn(`[setup] named could not be started: ${(e as Error).message}`)
    project.provide('named', unavailableNamed((e as Error).message))
  }
}

export async function teardown(): Promise<void> {
  await named?.stop()
  await slapd?.stop()
  await pg?.stop()
}

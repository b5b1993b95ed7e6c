/**
 * Starts each real server once per test run and hands its address to the test files.
 * PostgreSQL: a throwaway cluster (tests/support/postgres.ts) unless NETKEEPER_TEST_DATABASE_URL is set.
 */
import type { TestProject } from 'vitest/node'
import { startPostgres, type PgServer } from './postgres'

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string
    pgPort: number
    pgDataDir: string
    pgBinDir: string
  }
}

let pg: PgServer | undefined

export async function setup(project: TestProject): Promise<void> {
  pg = await startPostgres()
  project.provide('pgUrl', pg.url)
  project.provide('pgPort', pg.port)
  project.provide('pgDataDir', pg.dataDir ?? '')
  project.provide('pgBinDir', pg.binDir ?? '')
}

export async function teardown(): Promise<void> {
  await pg?.stop()
}

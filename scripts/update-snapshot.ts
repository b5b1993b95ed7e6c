/**
 * `npm run db:snapshot`: writes migrations/.snapshot-netkeeper.json, MikroORM's picture of the schema the
 * entities describe. The migrations are written by hand (exclusion constraints, triggers and functions are
 * beyond the entity metadata); the snapshot is the reference `migration:create` diffs against, and the
 * test suite checks it is current. No database is needed.
 */
import path from 'node:path'
import { MikroORM } from '@mikro-orm/core'
import { PostgreSqlDriver } from '@mikro-orm/postgresql'
import { Migrator } from '@mikro-orm/migrations'
import { entities } from '../src/main/core/db/entities'
import { migrationsList } from '../migrations'

export const SNAPSHOT_NAME = '.snapshot-netkeeper'

export async function targetSchemaJson(): Promise<unknown> {
  const orm = await MikroORM.init({
    driver: PostgreSqlDriver,
    entities,
    dbName: 'netkeeper',
    connect: false,
    discovery: { disableDynamicFileAccess: true },
    extensions: [Migrator],
    migrations: { migrationsList, snapshot: true, snapshotName: SNAPSHOT_NAME, path: path.resolve(import.meta.dirname, '../migrations') }
  })
  try {
    return JSON.parse(JSON.stringify(orm.getSchemaGenerator().getTargetSchema()))
  } finally {
    await orm.close(true)
  }
}

if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  const fs = await import('node:fs')
  const file = path.resolve(import.meta.dirname, '../migrations', `${SNAPSHOT_NAME}.json`)
  fs.writeFileSync(file, JSON.stringify(await targetSchemaJson(), null, 2) + '\n')
  console.log(`wrote ${path.relative(process.cwd(), file)}`)
}

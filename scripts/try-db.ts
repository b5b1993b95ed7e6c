import { Database } from '../src/main/core/db/database'
import { resolveConnection } from '../src/main/core/db/target'
const spec = await resolveConnection({ dataDir: process.env.NETKEEPER_DATA_DIR ?? '/tmp/nk-try', databaseUrl: process.argv[2] })
const db = await Database.open(spec)
console.log(await db.migrate())
console.log(await db.health())
console.log(await db.rollback(0))
console.log(await db.migrate())
await db.close()

import { startPostgres } from '../tests/support/postgres'
const pg = await startPostgres()
console.log(pg.url)
const url = await pg.createDatabase('nk_try')
console.log(url)
const { execFileSync } = await import('node:child_process')
console.log(execFileSync('npx', ['tsx', 'scripts/try-db.ts', url], { encoding: 'utf8' }).slice(0, 400))
await pg.stop()

/** knex's PostgreSQL client class, which connect.ts extends (knex ships no types for its dialect files). */
declare module 'knex/lib/dialects/postgres/index.js' {
  import type { Knex } from 'knex'
  const Client_PG: typeof Knex.Client
  export default Client_PG
}

/**
 * What opening a server connection costs on the wire (docs/cli.md#start-up, docs/postgresql-setup.md#tls-ssl-modes):
 * a URL without sslmode means prefer, as in libpq. Against a server without TLS the client asks for TLS,
 * hears 'N' and goes on in plain text on the same socket (one TCP connection, where node-postgres alone
 * opens a second); against a server with TLS, prefer gets TLS. Opening a migrated database then sends one
 * message (the migration check and the server role together): no `select version()`, no `select 1`.
 */
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { Database } from '../../src/main/core/db/database'
import { resolveConnection } from '../../src/main/core/db/target'
import { migrationNames } from '../../migrations/names'
import { freshDatabase } from '../support/db'
import { startPostgres, type PgServer } from '../support/postgres'

const dirs: string[] = []
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-open-'))
  dirs.push(d)
  return d
}

/** TCP connections opened to `port` and the query messages ('Q' simple, 'P' parse) written to any socket while `fn` runs. */
async function onTheWire<T>(port: number, fn: () => Promise<T>): Promise<{ result: T; connects: number; queries: string[] }> {
  const proto = net.Socket.prototype as unknown as { connect: (...a: unknown[]) => unknown; write: (...a: unknown[]) => boolean }
  const { connect, write } = proto
  let connects = 0
  const queries: string[] = []
  proto.connect = function (this: net.Socket, ...a: unknown[]) {
    const first = a[0]
    const p = typeof first === 'object' && first !== null ? (first as { port?: number }).port : first
    if (Number(p) === port) connects++
    return connect.apply(this, a)
  }
  proto.write = function (this: net.Socket, ...a: unknown[]) {
    const b = a[0]
    if (Buffer.isBuffer(b) && (b[0] === 0x51 || b[0] === 0x50)) queries.push(b.subarray(5, 60).toString('utf8').replace(/\0.*$/s, ''))
    return write.apply(this, a)
  }
  try {
    const result = await fn()
    return { result, connects, queries }
  } finally {
    proto.connect = connect
    proto.write = write
  }
}

describe('opening a server connection', () => {
  let tlsServer: PgServer
  beforeAll(async () => {
    tlsServer = await startPostgres({ tls: true })
  }, 60_000)
  afterAll(async () => {
    await tlsServer?.stop()
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
  })

  it('prefer on a server without TLS: one connection, plain text, and one message to open a migrated database', async () => {
    const url = await freshDatabase('open')
    const dataDir = tmp()
    // Migrate first (MikroORM's migrator connects on its own: told plain text, since the pool fell back).
    await (await Core.open({ databaseUrl: url, dataDir, migrate: true })).close()
    const port = Number(new URL(url).port)
    const { result: core, connects, queries } = await onTheWire(port, () => Core.open({ databaseUrl: url, dataDir, migrate: true }))
    try {
      expect(connects).toBe(1)
      expect(queries).toHaveLength(1)
      expect(queries[0]).toMatch(/^select exists \(select 1 from pg_roles/)
      expect(core.serverRole).toBe('owner')
      expect(await core.db.tlsReport()).toMatchObject({ inUse: false })
      expect((await core.db.migrationState()).pending).toEqual([])
      expect(migrationNames.length).toBeGreaterThan(0)
    } finally {
      await core.close()
    }
  })

  it('a database never migrated still opens (no migrations table: the role is asked on its own) and migrates', async () => {
    const url = await freshDatabase('open_fresh')
    const db = await Database.open(await resolveConnection({ dataDir: tmp(), databaseUrl: url, env: {} }))
    try {
      const { state, role } = await db.stateAndRole()
      expect(state).toEqual({ applied: [], pending: migrationNames, unknown: [] })
      expect(role).toBe('owner')
    } finally {
      await db.close()
    }
    const core = await Core.open({ databaseUrl: url, dataDir: tmp(), migrate: true })
    try {
      expect((await core.db.migrationState()).applied).toEqual(migrationNames)
    } finally {
      await core.close()
    }
  })

  it('prefer on a server with TLS gets TLS, on one connection; sslmode=disable stays plain', async () => {
    const url = await tlsServer.createDatabase('open_tls')
    const open = (u: string): Promise<Database> => resolveConnection({ dataDir: tmp(), databaseUrl: u, env: {} }).then((spec) => Database.open(spec))
    const { result: db, connects } = await onTheWire(tlsServer.port, () => open(url))
    try {
      expect(connects).toBe(1)
      expect(await db.tlsReport()).toMatchObject({ inUse: true, sslMode: 'prefer' })
      expect((await db.knex.raw<{ rows: { ssl: boolean }[] }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0]!.ssl).toBe(true)
    } finally {
      await db.close()
    }
    const plain = await open(`${url}?sslmode=disable`)
    try {
      expect(await plain.tlsReport()).toMatchObject({ inUse: false })
    } finally {
      await plain.close()
    }
  })

  it('sslmode=require on a server without TLS is still refused, naming the reason', async () => {
    const url = await freshDatabase('open_req')
    const err = await resolveConnection({ dataDir: tmp(), databaseUrl: `${url}?sslmode=require`, env: {} })
      .then((spec) => Database.open(spec))
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('does not offer TLS') })
  })
})

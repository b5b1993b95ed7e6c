/**
 * Kea's PostgreSQL host and lease database (the schema `kea-admin db-init pgsql` creates): one small pool
 * of connections per server, the password from the OS keychain (bound to the endpoint), none for trust.
 */
import type pg from 'pg'
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import { BoundSecrets } from '../credentials/bound'
import type { SecretStore } from '../credentials/keychain'

export interface DhcpServerRow {
  id: number
  name: string
  db_host: string
  db_port: number
  db_name: string
  db_user: string
  pools: string[] | null
}

export type KeaEndpoint = { host: string; port: number; database: string; user: string }

export const DHCP_SERVER_COLS = `s.id, s.name, s.db_host, s.db_port, s.db_name, s.db_user,
  array(select p.name from ip_pools p where p.dhcp_server_id = s.id order by p.name) as pools`

export const dhcpAccount = (name: string): string => `dhcp:${name}`
export const keaEndpoint = (r: DhcpServerRow): KeaEndpoint => ({ host: r.db_host, port: r.db_port, database: r.db_name, user: r.db_user })

export class KeaDatabases {
  readonly secrets: BoundSecrets<KeaEndpoint>
  private pools = new Map<number, { key: string; pool: pg.Pool }>()

  constructor(
    private readonly knex: Knex,
    store: SecretStore
  ) {
    this.secrets = new BoundSecrets<KeaEndpoint>(store, ['host', 'port', 'database', 'user'])
  }

  async byName(q: Knex | Knex.Transaction, name: string, field = 'server'): Promise<DhcpServerRow> {
    const r = await q.raw<{ rows: DhcpServerRow[] }>(`select ${DHCP_SERVER_COLS} from dhcp_servers s where s.name = ?`, [String(name ?? '').trim()])
    if (!r.rows[0]) throw new AppError('NOT_FOUND', `${field}: no DHCP server named "${name}" (netkeeper dhcp server list)`, { field })
    return r.rows[0]
  }

  private recent = new Map<number, { row: DhcpServerRow; at: number }>()

  /** A server by id; rows read in the last few seconds are reused (a burst of reservations reads it once). */
  async byId(id: number): Promise<DhcpServerRow> {
    const hit = this.recent.get(id)
    if (hit && Date.now() - hit.at < 5000) return hit.row
    const row = await this.byIdNow(id)
    this.recent.set(id, { row, at: Date.now() })
    return row
  }

  private async byIdNow(id: number): Promise<DhcpServerRow> {
    const r = await this.knex.raw<{ rows: DhcpServerRow[] }>(`select ${DHCP_SERVER_COLS} from dhcp_servers s where s.id = ?`, [id])
    if (!r.rows[0]) throw new AppError('NOT_FOUND', `server: no DHCP server with id ${id}`, { field: 'server' })
    return r.rows[0]
  }

  private async password(row: DhcpServerRow): Promise<string | undefined> {
    let found
    try {
      found = await this.secrets.lookup(dhcpAccount(row.name), keaEndpoint(row))
    } catch {
      // No keychain on this machine: a server without a password (trust, peer) still works.
      return undefined
    }
    if (!found) return undefined
    if (!('secret' in found)) throw new AppError('UNAVAILABLE', `password: the Kea database password of "${row.name}" was saved for another ${found.changed.join(', ')}`, { field: 'password' })
    return found.secret
  }

  /** A client of the server's Kea database (pooled, at most 4 connections). */
  async pool(row: DhcpServerRow): Promise<pg.Pool> {
    const key = JSON.stringify(keaEndpoint(row))
    const have = this.pools.get(row.id)
    if (have && have.key === key) return have.pool
    if (have) await have.pool.end().catch(() => undefined)
    // pg is loaded when a Kea database is first used: every CLI command and the app's start load this
    // module, and on the embedded store nothing else needs pg.
    const { Pool } = (await import('pg')).default
    const pool = new Pool({ host: row.db_host, port: row.db_port, database: row.db_name, user: row.db_user, password: await this.password(row), max: 4, connectionTimeoutMillis: 5000, idleTimeoutMillis: 10_000 })
    pool.on('error', () => undefined)
    this.pools.set(row.id, { key, pool })
    return pool
  }

  /** Drops a removed server's connections and cached row. */
  async forget(id: number): Promise<void> {
    const have = this.pools.get(id)
    this.pools.delete(id)
    this.recent.delete(id)
    if (have) await have.pool.end().catch(() => undefined)
  }

  async close(): Promise<void> {
    for (const { pool } of this.pools.values()) await pool.end().catch(() => undefined)
    this.pools.clear()
  }
}

/** An IPv4 address as Kea stores it (an unsigned 32-bit number in a bigint). */
export const ipToNumber = (ip: string): number => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0)
export const numberToIp = (n: number | string): string => {
  const v = Number(n)
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.')
}
/** A MAC as Kea's dhcp_identifier (bytes) and back. */
export const macToBytes = (mac: string): Buffer => Buffer.from(mac.replace(/[^0-9a-f]/gi, ''), 'hex')
export const bytesToMac = (b: Buffer | null): string | null => (b ? [...b].map((x) => x.toString(16).padStart(2, '0')).join(':') : null)

/** Netkeeper's mark on a reservation it wrote (Kea's user_context is free-form JSON text). */
export const OUR_MARK = 'netkeeper'
export const isOurs = (userContext: string | null): boolean => {
  if (!userContext) return false
  try {
    return !!(JSON.parse(userContext) as Record<string, unknown>)[OUR_MARK]
  } catch {
    return false
  }
}

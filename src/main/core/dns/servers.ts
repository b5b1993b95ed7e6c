/**
 * Name servers and their TSIG secrets. The secret lives in the OS keychain under `dns:<server name>`, bound
 * to the server's address, port, key name and algorithm (credentials/bound.ts): moving the server elsewhere
 * needs the secret again, so it is never sent to another endpoint.
 */
import type { Knex } from '@mikro-orm/postgresql'
import { AppError } from '../../../shared/errors'
import type { DnsServerDto, TsigAlgorithm } from '../../../shared/dns'
import { BoundSecrets } from '../credentials/bound'
import type { SecretStore } from '../credentials/keychain'
import { DnsClient } from './client'

export interface ServerRow {
  id: number
  name: string
  address: string
  port: number
  key_name: string
  algorithm: TsigAlgorithm
  created_at: Date
  zones: number
}

export type TsigEndpoint = { address: string; port: number; keyName: string; algorithm: string }

export const SERVER_COLS = `s.id, s.name, host(s.address) as address, s.port, s.key_name, s.algorithm, s.created_at,
  (select count(*)::int from dns_zones z where z.server_id = s.id) as zones`

export const dnsAccount = (server: string): string => `dns:${server}`

export function toServerDto(r: ServerRow): DnsServerDto {
  return { id: r.id, name: r.name, address: r.address, port: r.port, keyName: r.key_name, algorithm: r.algorithm, zones: r.zones, createdAt: new Date(r.created_at).toISOString() }
}

export const endpointOf = (r: Pick<ServerRow, 'address' | 'port' | 'key_name' | 'algorithm'>): TsigEndpoint => ({ address: r.address, port: r.port, keyName: r.key_name, algorithm: r.algorithm })

export class DnsServers {
  readonly secrets: BoundSecrets<TsigEndpoint>
  /**
   * Secrets read, keyed by server and endpoint, so updates do not ask the keychain each time (it is a D-Bus
   * round trip on the critical path of every allocation's record). Kept ten minutes; cleared when one is
   * saved here, and read again (rereadSecret) when the server refuses the key: another program on this
   * desktop (the CLI, the app) may have saved a new one meanwhile.
   */
  private cache = new Map<string, { secret: string; at: number }>()

  constructor(
    private readonly knex: Knex,
    store: SecretStore
  ) {
    this.secrets = new BoundSecrets<TsigEndpoint>(store, ['address', 'port', 'keyName', 'algorithm'])
  }

  async byName(q: Knex | Knex.Transaction, name: string, field = 'server'): Promise<ServerRow> {
    const r = await q.raw<{ rows: ServerRow[] }>(`select ${SERVER_COLS} from dns_servers s where s.name = ?`, [String(name ?? '').trim()])
    if (!r.rows[0]) throw new AppError('NOT_FOUND', `${field}: no DNS server named "${name}" (netkeeper dns server list)`, { field })
    return r.rows[0]
  }

  private rows = new Map<number, { row: ServerRow; at: number }>()

  /** A server by id; rows read in the last few seconds are reused (a burst of updates reads it once). */
  async byId(id: number): Promise<ServerRow> {
    const hit = this.rows.get(id)
    if (hit && Date.now() - hit.at < 5000) return hit.row
    const row = await this.byIdNow(id)
    this.rows.set(id, { row, at: Date.now() })
    return row
  }

  private async byIdNow(id: number): Promise<ServerRow> {
    const r = await this.knex.raw<{ rows: ServerRow[] }>(`select ${SERVER_COLS} from dns_servers s where s.id = ?`, [id])
    if (!r.rows[0]) throw new AppError('NOT_FOUND', `server: no DNS server with id ${id}`, { field: 'server' })
    return r.rows[0]
  }

  async saveSecret(row: ServerRow, secret: string): Promise<void> {
    await this.secrets.save(dnsAccount(row.name), endpointOf(row), secret)
    this.forgetSecret(row)
    this.rows.delete(row.id)
  }

  async secretOf(row: ServerRow): Promise<string> {
    const key = `${row.name}|${JSON.stringify(endpointOf(row))}`
    const hit = this.cache.get(key)
    if (hit && Date.now() - hit.at < 600_000) return hit.secret
    const found = await this.secrets.lookup(dnsAccount(row.name), endpointOf(row))
    if (!found) throw new AppError('UNAVAILABLE', `secret: no TSIG secret for DNS server "${row.name}" in the OS keychain (netkeeper dns server set-secret ${row.name})`, { field: 'secret' })
    if (!('secret' in found)) {
      throw new AppError('UNAVAILABLE', `secret: the TSIG secret of "${row.name}" was saved for another ${found.changed.join(', ')}; give it again (netkeeper dns server set-secret ${row.name})`, { field: 'secret' })
    }
    this.cache.set(key, { secret: found.secret, at: Date.now() })
    return found.secret
  }

  /** Drops the server's cached secrets (the next use reads the keychain). */
  forgetSecret(row: Pick<ServerRow, 'name'>): void {
    for (const k of [...this.cache.keys()]) {
      if (k.startsWith(`${row.name}|`)) this.cache.delete(k)
    }
  }

  /** The secret as the keychain holds it now (not the cache's), cached again for the next use. */
  async rereadSecret(row: ServerRow): Promise<string> {
    this.forgetSecret(row)
    return this.secretOf(row)
  }

  async client(row: ServerRow, timeoutMs?: number): Promise<DnsClient> {
    return this.clientWith(row, await this.secretOf(row), timeoutMs)
  }

  /** A client signing with `secret` (the caller read it: see the handler's retry after a refused key). */
  clientWith(row: ServerRow, secret: string, timeoutMs?: number): DnsClient {
    return new DnsClient({ address: row.address, port: row.port }, { name: row.key_name, algorithm: row.algorithm, secret }, timeoutMs)
  }
}

/**
 * Writes LDAP Web Manager v2.0 IPAM files (SQLite) for the import tests and the benchmark: the v2.0 schema
 * by default, or a variant without some columns, with whatever rows a test needs (damage included).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'

export interface PoolRow {
  id: string | null
  name: string | null
  network: unknown
  description?: string | null
  vlan_id?: unknown
  gateway?: string | null
  dns_servers?: string | null
  created_at?: string | null
  modified_at?: string | null
}

export interface AllocRow {
  id: string | null
  pool_id: string | null
  ip_address: unknown
  hostname?: string | null
  mac_address?: string | null
  allocation_type: string | null
  description?: string | null
  allocated_by?: string | null
  created_at?: string | null
  modified_at?: string | null
}

export interface LegacyFileOptions {
  /** Columns to leave out of the tables (the old migration script assumed columns some files never had). */
  omit?: { ip_pools?: string[]; ip_allocations?: string[] }
}

const POOL_COLUMNS = ['id', 'name', 'network', 'description', 'vlan_id', 'gateway', 'dns_servers', 'created_at', 'modified_at'] as const
const ALLOC_COLUMNS = ['id', 'pool_id', 'ip_address', 'hostname', 'mac_address', 'allocation_type', 'description', 'allocated_by', 'created_at', 'modified_at'] as const

const DDL: Record<string, string> = {
  id: 'id TEXT PRIMARY KEY',
  name: 'name TEXT UNIQUE NOT NULL',
  network: 'network TEXT NOT NULL',
  description: 'description TEXT',
  vlan_id: 'vlan_id INTEGER',
  gateway: 'gateway TEXT',
  dns_servers: 'dns_servers TEXT',
  created_at: 'created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP',
  modified_at: 'modified_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP'
}
const ALLOC_DDL: Record<string, string> = {
  id: 'id TEXT PRIMARY KEY',
  pool_id: 'pool_id TEXT NOT NULL',
  ip_address: 'ip_address TEXT NOT NULL',
  hostname: 'hostname TEXT',
  mac_address: 'mac_address TEXT',
  allocation_type: 'allocation_type TEXT NOT NULL',
  description: 'description TEXT',
  allocated_by: 'allocated_by TEXT',
  created_at: 'created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP',
  modified_at: 'modified_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP'
}

export function tempDir(prefix = 'netkeeper-legacy-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

/** Writes a legacy file; rows are inserted in the order given (their rowid order). */
export function writeLegacyFile(file: string, pools: PoolRow[], allocations: AllocRow[] | Iterable<AllocRow>, opts: LegacyFileOptions = {}): string {
  fs.rmSync(file, { force: true })
  const db = new Database(file)
  try {
    db.pragma('journal_mode = OFF')
    db.pragma('synchronous = OFF')
    // v2.0 never switched foreign keys on, so its files hold allocations of pools that do not exist.
    db.pragma('foreign_keys = OFF')
    const pc = POOL_COLUMNS.filter((c) => !opts.omit?.ip_pools?.includes(c))
    const ac = ALLOC_COLUMNS.filter((c) => !opts.omit?.ip_allocations?.includes(c))
    db.exec(`CREATE TABLE ip_pools (${pc.map((c) => DDL[c]).join(', ')})`)
    db.exec(
      `CREATE TABLE ip_allocations (${ac.map((c) => ALLOC_DDL[c]).join(', ')}, FOREIGN KEY (pool_id) REFERENCES ip_pools(id) ON DELETE CASCADE, UNIQUE(pool_id, ip_address))`
    )
    db.exec(`CREATE INDEX idx_allocations_pool ON ip_allocations(pool_id)`)
    const insPool = db.prepare(`INSERT INTO ip_pools (${pc.join(', ')}) VALUES (${pc.map(() => '?').join(', ')})`)
    const insAlloc = db.prepare(`INSERT INTO ip_allocations (${ac.join(', ')}) VALUES (${ac.map(() => '?').join(', ')})`)
    db.transaction(() => {
      for (const p of pools) insPool.run(...pc.map((c) => (p as unknown as Record<string, unknown>)[c] ?? null))
      for (const a of allocations) insAlloc.run(...ac.map((c) => (a as unknown as Record<string, unknown>)[c] ?? null))
    })()
  } finally {
    db.close()
  }
  return file
}

/**
 * A clean legacy file of `pools` /24 pools (10.P.Q.0/24) holding `perPool` allocations each, with the four
 * v2.0 types, MACs in the usual spellings and DNS servers on every other pool.
 */
export function writeCleanLegacyFile(file: string, pools: number, perPool: number): string {
  if (perPool > 250) throw new Error('at most 250 allocations per /24 pool')
  const types = ['static', 'dhcp', 'reserved', 'infrastructure']
  const poolRows: PoolRow[] = []
  for (let i = 0; i < pools; i++) {
    const net = `10.${(i >> 8) & 255}.${i & 255}`
    poolRows.push({
      id: `pool-${i}`,
      name: `legacy-${String(i).padStart(5, '0')}`,
      network: `${net}.0/24`,
      description: `generated pool ${i}`,
      vlan_id: (i % 4094) + 1,
      gateway: `${net}.1`,
      dns_servers: i % 2 ? JSON.stringify([`${net}.2`, '1.1.1.1']) : null,
      created_at: '2024-01-01 08:00:00',
      modified_at: '2024-06-01 08:00:00'
    })
  }
  function* allocs(): Generator<AllocRow> {
    for (let i = 0; i < pools; i++) {
      const net = `10.${(i >> 8) & 255}.${i & 255}`
      for (let h = 0; h < perPool; h++) {
        const n = i * perPool + h
        const mac = (n * 2654435761) >>> 0
        const hex = `02${mac.toString(16).padStart(8, '0')}${(h & 255).toString(16).padStart(2, '0')}`
        yield {
          id: `alloc-${n}`,
          pool_id: `pool-${i}`,
          ip_address: `${net}.${h + 3}`,
          hostname: `host-${n}.example.org`,
          mac_address: n % 3 === 0 ? null : n % 3 === 1 ? hex.match(/../g)!.join(':') : hex.toUpperCase().match(/../g)!.join('-'),
          allocation_type: types[n % 4]!,
          description: n % 5 === 0 ? `note ${n}` : null,
          allocated_by: n % 2 ? 'admin' : 'jdoe',
          created_at: '2024-02-01 09:00:00',
          modified_at: '2024-02-01 09:00:00'
        }
      }
    }
  }
  return writeLegacyFile(file, poolRows, allocs())
}

/**
 * The PostgreSQL data model as MikroORM entity schemas. EntitySchema (rather than decorators) keeps the
 * bundle free of reflect-metadata and lets the same definitions load in Electron, the CLI and tests.
 * Native PostgreSQL types (cidr, inet, macaddr, uuid, jsonb) are declared with columnType; constraints
 * MikroORM cannot express (the GiST exclusion, CHECKs, triggers) live in the migrations.
 */
import { EntitySchema } from '@mikro-orm/core'

export const ALLOCATION_STATUSES = ['available', 'allocated', 'reserved', 'blocked'] as const
export type AllocationStatus = (typeof ALLOCATION_STATUSES)[number]
export const AUDIT_STATUSES = ['success', 'failure', 'warning'] as const
export type AuditStatus = (typeof AUDIT_STATUSES)[number]
export const AUDIT_SOURCES = ['ui', 'cli', 'import', 'replay'] as const
export type AuditSource = (typeof AUDIT_SOURCES)[number]

export class IpPool {
  id!: number
  name!: string
  description?: string | null
  network!: string
  gateway?: string | null
  vlanId?: number | null
  site?: string | null
  environment?: string | null
  isActive: boolean = true
  createdAt: Date = new Date()
  updatedAt: Date = new Date()
  createdBy?: string | null
  /** The DNS servers a pool imported from LDAP Web Manager v2.0 listed (docs/import.md). */
  dnsServers?: string[] | null
  /** The address space (ip_spaces); the tree's rules are in Migration20261215010000 (composite keys, triggers). */
  spaceId!: number
  parentId?: number | null
}

export class IpSpace {
  id!: number
  name!: string
  description?: string | null
  isDefault: boolean = false
  createdAt: Date = new Date()
  updatedAt: Date = new Date()
  createdBy?: string | null
}

export class IpRange {
  id!: number
  pool!: IpPool
  firstIp!: string
  lastIp!: string
  purpose!: string
  description?: string | null
  markUsed: boolean = false
  createdAt: Date = new Date()
  updatedAt: Date = new Date()
  createdBy?: string | null
}

export class IpAllocation {
  id!: number
  pool!: IpPool
  ipAddress!: string
  macAddress?: string | null
  hostname?: string | null
  owner?: string | null
  /** The owner as a directory person's DN (Migration20261225000000_allocation_owner_dn). */
  ownerDn?: string | null
  purpose?: string | null
  description?: string | null
  status: AllocationStatus = 'allocated'
  dnsManaged: boolean = false
  dhcpManaged: boolean = false
  reservedUntil?: Date | null
  createdAt: Date = new Date()
  updatedAt: Date = new Date()
  allocatedBy?: string | null
  version: number = 1
  spaceId!: number
}

export class AuditLog {
  id!: string
  seq!: string
  createdAt!: Date
  action!: string
  resourceType!: string
  resourceId?: string | null
  resourceName?: string | null
  userId?: string | null
  userIp?: string | null
  userAgent?: string | null
  status!: AuditStatus
  details!: Record<string, unknown>
  requestId?: string | null
  source!: AuditSource
  prevHash!: string
  rowHash!: string
}

export class AuditRetentionPolicy {
  id!: number
  resourceType!: string
  retentionDays?: number | null
  isActive: boolean = true
  createdAt: Date = new Date()
  updatedAt: Date = new Date()
}

const timestamps = {
  createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()', onCreate: () => new Date() },
  updatedAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()', onCreate: () => new Date(), onUpdate: () => new Date() }
} as const

export const IpPoolSchema = new EntitySchema<IpPool>({
  class: IpPool,
  tableName: 'ip_pools',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    name: { type: 'string', length: 100 },
    description: { type: 'text', nullable: true },
    network: { type: 'string', columnType: 'cidr' },
    gateway: { type: 'string', columnType: 'inet', nullable: true },
    vlanId: { type: 'integer', fieldName: 'vlan_id', nullable: true },
    site: { type: 'string', length: 100, nullable: true },
    environment: { type: 'string', length: 50, nullable: true },
    isActive: { type: 'boolean', default: true },
    ...timestamps,
    createdBy: { type: 'string', length: 255, nullable: true },
    dnsServers: { type: 'string[]', columnType: 'inet[]', nullable: true },
    spaceId: { type: 'integer', fieldName: 'space_id' },
    parentId: { type: 'integer', fieldName: 'parent_id', nullable: true }
  },
  // Pool names are unique per address space (Migration20270106110000).
  uniques: [{ name: 'ip_pools_space_name_key', properties: ['spaceId', 'name'] }],
  indexes: [{ name: 'ip_pools_name_idx', properties: ['name'] }]
})

export const IpSpaceSchema = new EntitySchema<IpSpace>({
  class: IpSpace,
  tableName: 'ip_spaces',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    name: { type: 'string', length: 100, unique: 'ip_spaces_name_key' },
    description: { type: 'text', nullable: true },
    isDefault: { type: 'boolean', default: false },
    ...timestamps,
    createdBy: { type: 'string', length: 255, nullable: true }
  }
})

export const IpRangeSchema = new EntitySchema<IpRange>({
  class: IpRange,
  tableName: 'ip_ranges',
  indexes: [{ name: 'ip_ranges_pool_idx', properties: ['pool', 'firstIp'] }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    pool: { kind: 'm:1', entity: () => IpPool, fieldName: 'pool_id', deleteRule: 'cascade' },
    firstIp: { type: 'string', columnType: 'inet' },
    lastIp: { type: 'string', columnType: 'inet' },
    purpose: { type: 'string', length: 16 },
    description: { type: 'text', nullable: true },
    markUsed: { type: 'boolean', default: false },
    ...timestamps,
    createdBy: { type: 'string', length: 255, nullable: true }
  }
})

export const IpAllocationSchema = new EntitySchema<IpAllocation>({
  class: IpAllocation,
  tableName: 'ip_allocations',
  uniques: [{ name: 'ip_allocations_ip_address_key', properties: ['ipAddress', 'spaceId'] }],
  indexes: [
    { name: 'ip_allocations_pool_id_status_idx', properties: ['pool', 'status'] },
    { name: 'ip_allocations_mac_address_idx', properties: ['macAddress'] }
  ],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    pool: { kind: 'm:1', entity: () => IpPool, fieldName: 'pool_id', deleteRule: 'cascade' },
    ipAddress: { type: 'string', columnType: 'inet' },
    macAddress: { type: 'string', columnType: 'macaddr', nullable: true },
    hostname: { type: 'string', length: 253, nullable: true },
    owner: { type: 'string', length: 255, nullable: true },
    // Indexed on lower(owner_dn), partial (created by hand in the migration).
    ownerDn: { type: 'string', length: 1024, nullable: true },
    purpose: { type: 'string', length: 255, nullable: true },
    description: { type: 'text', nullable: true },
    status: { enum: true, items: () => [...ALLOCATION_STATUSES], type: 'string', length: 16, default: 'allocated' },
    dnsManaged: { type: 'boolean', default: false },
    dhcpManaged: { type: 'boolean', default: false },
    reservedUntil: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    ...timestamps,
    allocatedBy: { type: 'string', length: 255, nullable: true },
    version: { type: 'integer', version: true, default: 1 },
    spaceId: { type: 'integer', fieldName: 'space_id' }
  }
})

export const AuditLogSchema = new EntitySchema<AuditLog>({
  class: AuditLog,
  tableName: 'audit_logs',
  // Time ranges use audit_logs_created_at_seq_idx and a type alone audit_logs_resource_id_idx (both created
  // by hand in migrations, like the trigram index), so neither column has an index of its own.
  indexes: [
    { name: 'audit_logs_action_idx', properties: ['action'] },
    { name: 'audit_logs_user_id_idx', properties: ['userId'] },
    // Partial in the database (where user_ip is not null: Migration20261127210000_import_perf).
    { name: 'audit_logs_user_ip_idx', properties: ['userIp'] }
  ],
  properties: {
    id: { type: 'uuid', primary: true, defaultRaw: 'gen_random_uuid()' },
    seq: { type: 'bigint', unique: 'audit_logs_seq_key' },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
    action: { type: 'string', length: 32 },
    resourceType: { type: 'string', length: 64 },
    resourceId: { type: 'string', length: 255, nullable: true },
    resourceName: { type: 'string', length: 255, nullable: true },
    userId: { type: 'string', length: 255, nullable: true },
    userIp: { type: 'string', columnType: 'inet', nullable: true },
    userAgent: { type: 'string', length: 512, nullable: true },
    status: { enum: true, items: () => [...AUDIT_STATUSES], type: 'string', length: 16 },
    details: { type: 'json', columnType: 'jsonb', defaultRaw: `'{}'::jsonb` },
    requestId: { type: 'string', length: 64, nullable: true },
    source: { enum: true, items: () => [...AUDIT_SOURCES], type: 'string', length: 16 },
    prevHash: { type: 'string', length: 64 },
    rowHash: { type: 'string', length: 64 }
  }
})

export const AuditRetentionPolicySchema = new EntitySchema<AuditRetentionPolicy>({
  class: AuditRetentionPolicy,
  tableName: 'audit_log_retention_policies',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    resourceType: { type: 'string', length: 64, unique: 'audit_log_retention_policies_resource_type_key' },
    retentionDays: { type: 'integer', nullable: true },
    isActive: { type: 'boolean', default: true },
    ...timestamps
  }
})

/** Listed explicitly (no folder globs) so the bundled app finds every entity. */
export const entities = [IpPoolSchema, IpSpaceSchema, IpRangeSchema, IpAllocationSchema, AuditLogSchema, AuditRetentionPolicySchema]

/**
 * Every migration, registered statically so the bundled app and the CLI find them without scanning a
 * folder. Append new migrations here in timestamp order.
 */
import type { MigrationObject } from '@mikro-orm/core'
import { Migration20261127120000_initial } from './Migration20261127120000_initial'
import { Migration20261127130000_ipam_audit } from './Migration20261127130000_ipam_audit'

export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261127120000_initial', class: Migration20261127120000_initial },
  { name: 'Migration20261127130000_ipam_audit', class: Migration20261127130000_ipam_audit }
]

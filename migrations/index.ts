/**
 * Every migration, registered statically so the bundled app and the CLI find them without scanning a
 * folder. Append new migrations here in timestamp order, and their names to names.ts.
 */
import type { MigrationObject } from '@mikro-orm/core'
import { migrationNames } from './names'
import { Migration20261127120000_initial } from './Migration20261127120000_initial'
import { Migration20261127130000_ipam_audit } from './Migration20261127130000_ipam_audit'
import { Migration20261127140000_legacy_import } from './Migration20261127140000_legacy_import'
import { Migration20261127150000_directory } from './Migration20261127150000_directory'
import { Migration20261127170000_function_search_path } from './Migration20261127170000_function_search_path'
import { Migration20261127180000_offline } from './Migration20261127180000_offline'
import { Migration20261127190000_audit_perf } from './Migration20261127190000_audit_perf'
import { Migration20261127200000_offline_perf } from './Migration20261127200000_offline_perf'
import { Migration20261127210000_import_perf } from './Migration20261127210000_import_perf'
import { Migration20261203100000_server_roles } from './Migration20261203100000_server_roles'
import { Migration20261210100000_audit_archive } from './Migration20261210100000_audit_archive'
import { Migration20261212010000_audit_forwarding } from './Migration20261212010000_audit_forwarding'
import { Migration20261215010000_ipam_spaces_tree } from './Migration20261215010000_ipam_spaces_tree'
import { Migration20261215020000_ipam_usage } from './Migration20261215020000_ipam_usage'
import { Migration20261220010000_outbox } from './Migration20261220010000_outbox'
import { Migration20261220020000_dns } from './Migration20261220020000_dns'
import { Migration20261220030000_kea } from './Migration20261220030000_kea'
import { Migration20261225000000_allocation_owner_dn } from './Migration20261225000000_allocation_owner_dn'
import { Migration20261227100000_pool_usage } from './Migration20261227100000_pool_usage'
import { Migration20261228010000_ipam_objects } from './Migration20261228010000_ipam_objects'
import { Migration20261230100000_dns_zone_space } from './Migration20261230100000_dns_zone_space'
import { Migration20270105100000_allocation_trigger_speed } from './Migration20270105100000_allocation_trigger_speed'
import { Migration20270106100000_ipam_free_blocks } from './Migration20270106100000_ipam_free_blocks'
import { Migration20270106110000_ipam_pool_names_per_space } from './Migration20270106110000_ipam_pool_names_per_space'
import { Migration20270110100000_audit_partitions } from './Migration20270110100000_audit_partitions'
import { Migration20270201100000_ipam_allocate_at } from './Migration20270201100000_ipam_allocate_at'
import { Migration20270203100000_ipam_next_block } from './Migration20270203100000_ipam_next_block'
import { Migration20270204100000_pool_usage_counters } from './Migration20270204100000_pool_usage_counters'
import { Migration20270205100000_ipam_next_batch } from './Migration20270205100000_ipam_next_batch'
import { Migration20270303100000_ipam_next_batch_lock } from './Migration20270303100000_ipam_next_batch_lock'
import { Migration20270307100000_pool_name_ambiguous } from './Migration20270307100000_pool_name_ambiguous'

export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261127120000_initial', class: Migration20261127120000_initial },
  { name: 'Migration20261127130000_ipam_audit', class: Migration20261127130000_ipam_audit },
  { name: 'Migration20261127140000_legacy_import', class: Migration20261127140000_legacy_import },
  { name: 'Migration20261127150000_directory', class: Migration20261127150000_directory },
  { name: 'Migration20261127170000_function_search_path', class: Migration20261127170000_function_search_path },
  { name: 'Migration20261127180000_offline', class: Migration20261127180000_offline },
  { name: 'Migration20261127190000_audit_perf', class: Migration20261127190000_audit_perf },
  { name: 'Migration20261127200000_offline_perf', class: Migration20261127200000_offline_perf },
  { name: 'Migration20261127210000_import_perf', class: Migration20261127210000_import_perf },
  { name: 'Migration20261203100000_server_roles', class: Migration20261203100000_server_roles },
  { name: 'Migration20261210100000_audit_archive', class: Migration20261210100000_audit_archive },
  { name: 'Migration20261212010000_audit_forwarding', class: Migration20261212010000_audit_forwarding },
  { name: 'Migration20261215010000_ipam_spaces_tree', class: Migration20261215010000_ipam_spaces_tree },
  { name: 'Migration20261215020000_ipam_usage', class: Migration20261215020000_ipam_usage },
  { name: 'Migration20261220010000_outbox', class: Migration20261220010000_outbox },
  { name: 'Migration20261220020000_dns', class: Migration20261220020000_dns },
  { name: 'Migration20261220030000_kea', class: Migration20261220030000_kea },
  { name: 'Migration20261225000000_allocation_owner_dn', class: Migration20261225000000_allocation_owner_dn },
  { name: 'Migration20261227100000_pool_usage', class: Migration20261227100000_pool_usage },
  { name: 'Migration20261228010000_ipam_objects', class: Migration20261228010000_ipam_objects },
  { name: 'Migration20261230100000_dns_zone_space', class: Migration20261230100000_dns_zone_space },
  { name: 'Migration20270105100000_allocation_trigger_speed', class: Migration20270105100000_allocation_trigger_speed },
  { name: 'Migration20270106100000_ipam_free_blocks', class: Migration20270106100000_ipam_free_blocks },
  { name: 'Migration20270106110000_ipam_pool_names_per_space', class: Migration20270106110000_ipam_pool_names_per_space },
  { name: 'Migration20270110100000_audit_partitions', class: Migration20270110100000_audit_partitions },
  { name: 'Migration20270201100000_ipam_allocate_at', class: Migration20270201100000_ipam_allocate_at },
  { name: 'Migration20270203100000_ipam_next_block', class: Migration20270203100000_ipam_next_block },
  { name: 'Migration20270204100000_pool_usage_counters', class: Migration20270204100000_pool_usage_counters },
  { name: 'Migration20270205100000_ipam_next_batch', class: Migration20270205100000_ipam_next_batch },
  { name: 'Migration20270303100000_ipam_next_batch_lock', class: Migration20270303100000_ipam_next_batch_lock },
  { name: 'Migration20270307100000_pool_name_ambiguous', class: Migration20270307100000_pool_name_ambiguous }
]

// Opening a database checks the schema against names.ts without loading this file: the two must agree.
if (migrationsList.map((m) => m.name).join() !== migrationNames.join()) {
  throw new Error('migrations/names.ts and migrations/index.ts list different migrations: keep them the same, in the same order')
}

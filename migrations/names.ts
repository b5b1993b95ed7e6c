/**
 * The name of every migration, in the order they run: what opening a database compares the migrations
 * table with. Kept apart from index.ts so that this check loads no migration class (and so not MikroORM);
 * index.ts refuses to load when the two lists differ. Append new names here and in index.ts.
 */
export const migrationNames: readonly string[] = [
  'Migration20261127120000_initial',
  'Migration20261127130000_ipam_audit',
  'Migration20261127140000_legacy_import',
  'Migration20261127150000_directory',
  'Migration20261127170000_function_search_path',
  'Migration20261127180000_offline',
  'Migration20261127190000_audit_perf',
  'Migration20261127200000_offline_perf',
  'Migration20261127210000_import_perf',
  'Migration20261203100000_server_roles',
  'Migration20261210100000_audit_archive',
  'Migration20261212010000_audit_forwarding',
  'Migration20261215010000_ipam_spaces_tree',
  'Migration20261215020000_ipam_usage',
  'Migration20261220010000_outbox',
  'Migration20261220020000_dns',
  'Migration20261220030000_kea',
  'Migration20261225000000_allocation_owner_dn',
  'Migration20261227100000_pool_usage',
  'Migration20261228010000_ipam_objects',
  'Migration20261230100000_dns_zone_space',
  'Migration20270105100000_allocation_trigger_speed',
  'Migration20270106100000_ipam_free_blocks',
  'Migration20270106110000_ipam_pool_names_per_space',
  'Migration20270110100000_audit_partitions',
  'Migration20270201100000_ipam_allocate_at',
  'Migration20270203100000_ipam_next_block',
  'Migration20270204100000_pool_usage_counters',
  'Migration20270205100000_ipam_next_batch',
  'Migration20270303100000_ipam_next_batch_lock',
  'Migration20270307100000_pool_name_ambiguous'
]

/**
 * IPAM CSV in and out: the target fields a column can map to, the presets (Netkeeper's own export, phpIPAM's
 * and NetBox's CSV exports), the problems an import reports row by row, and the report. Shared by the core,
 * the CLI, the IPC contract and the wizard; no node, electron or vue imports. docs/ipam.md#csv-in-and-out.
 *
 * The column mapping is ONE table (CSV_FIELDS): a field's name, the kinds it belongs to, its help text. How
 * each field is parsed and written lives beside it in the core (core/ipam/csv-fields.ts), keyed by the same
 * name, so adding a column (a VLAN object, a tag, a custom field) is one entry here and one there.
 */
import { z } from 'zod'
import { CSV_KINDS, CSV_ON_EXISTING, CSV_PRESETS } from './choices'
import { fieldName } from './ipam'

export { CSV_KINDS, CSV_ON_EXISTING, CSV_PRESETS }
export type CsvKind = (typeof CSV_KINDS)[number]
export type CsvPreset = (typeof CSV_PRESETS)[number]
export type CsvOnExisting = (typeof CSV_ON_EXISTING)[number]

export interface CsvFieldDef {
  /** The field's name: also the column header of Netkeeper's own export. */
  name: string
  kinds: readonly CsvKind[]
  help: string
  /** The key column (with space) of its kind: a row without it is skipped. */
  required?: boolean
}

/** Every target field; `ignore` drops a column on purpose. */
export const CSV_FIELDS: readonly CsvFieldDef[] = [
  { name: 'space', kinds: ['pools', 'allocations'], help: 'address space (VRF) by name; empty, "default" or "global": the default space' },
  { name: 'network', kinds: ['pools'], help: 'the pool network as CIDR (10.1.0.0/24); with prefix_length, the network address alone', required: true },
  { name: 'prefix_length', kinds: ['pools'], help: 'prefix length or dotted mask, when network holds the address alone (phpIPAM "Mask")' },
  { name: 'name', kinds: ['pools'], help: 'pool name (unique); the network when empty' },
  { name: 'gateway', kinds: ['pools'], help: 'gateway address inside the network' },
  { name: 'vlan', kinds: ['pools'], help: 'VLAN number 1-4094' },
  { name: 'site', kinds: ['pools'], help: 'site (free text)' },
  { name: 'environment', kinds: ['pools'], help: 'environment (free text)' },
  { name: 'description', kinds: ['pools', 'allocations'], help: 'description' },
  { name: 'dns_servers', kinds: ['pools'], help: 'DNS servers, separated by spaces, commas or semicolons' },
  { name: 'active', kinds: ['pools'], help: 'true/false, yes/no, 1/0; NetBox status: active, container, reserved (true), deprecated (false)' },
  { name: 'ip', kinds: ['allocations'], help: 'the address (a prefix length after it, as NetBox writes, is dropped)', required: true },
  { name: 'pool', kinds: ['allocations'], help: 'the pool holding the address, by name or network: a row whose address lies elsewhere is skipped' },
  { name: 'status', kinds: ['allocations'], help: 'allocated, reserved, blocked; NetBox active/deprecated/dhcp/slaac; phpIPAM Used/Reserved/Offline/DHCP' },
  { name: 'hostname', kinds: ['allocations'], help: 'host name (RFC 1123)' },
  { name: 'mac', kinds: ['allocations'], help: 'MAC address' },
  { name: 'owner', kinds: ['allocations'], help: 'owner (free text)' },
  { name: 'owner_dn', kinds: ['allocations'], help: "owner's directory DN" },
  { name: 'purpose', kinds: ['allocations'], help: 'purpose' },
  { name: 'reserved_until', kinds: ['allocations'], help: 'for reservations: when the hold lapses (ISO-8601)' },
  { name: 'dns_managed', kinds: ['allocations'], help: 'true/false' },
  { name: 'dhcp_managed', kinds: ['allocations'], help: 'true/false' },
  { name: 'tags', kinds: ['pools', 'allocations'], help: 'tag names separated by commas ("web,prod"); each must exist unless "create missing tags" is chosen' },
  { name: 'ignore', kinds: ['pools', 'allocations'], help: 'leave this column out' }
]

export const csvFieldsOf = (kind: CsvKind): CsvFieldDef[] => CSV_FIELDS.filter((f) => f.kinds.includes(kind))

/**
 * Custom fields are columns too: `cf_<name>` (NetBox's own convention) for the field <name> of the kind
 * (pool fields for pools, allocation fields for allocations). Netkeeper's export writes one per defined field,
 * and every preset maps a `cf_<name>` header to it.
 */
export const CUSTOM_FIELD_PREFIX = 'cf_'
export const CUSTOM_FIELD_COLUMN = /^cf_[a-z][a-z0-9_]{0,63}$/
export const isCustomFieldColumn = (field: string): boolean => CUSTOM_FIELD_COLUMN.test(field)
/** The custom field kind of a CSV kind. */
export const customFieldKindOf = (kind: CsvKind): 'pool' | 'allocation' => (kind === 'pools' ? 'pool' : 'allocation')

/** Netkeeper's export columns, in order: exactly what the netkeeper preset imports; then one `cf_<name>` per custom field, by name. */
export const CSV_EXPORT_COLUMNS: Record<CsvKind, readonly string[]> = {
  pools: ['space', 'network', 'name', 'gateway', 'vlan', 'site', 'environment', 'description', 'dns_servers', 'active', 'tags'],
  allocations: ['space', 'ip', 'pool', 'status', 'hostname', 'mac', 'owner', 'owner_dn', 'purpose', 'description', 'reserved_until', 'dns_managed', 'dhcp_managed', 'tags']
}

/**
 * A header as the presets know it: lower case, every run of other characters than letters and digits one
 * underscore ("IP Address" -> ip_address, "DNS Name" -> dns_name).
 */
export const normaliseHeader = (h: string): string =>
  h
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')

/**
 * Presets: normalised header -> field. phpIPAM: the columns of its subnet and address exports and import
 * templates (app/admin/import-export: Section, Subnet, Mask, Description, VLAN, Domain, VRF; Section, IP
 * Address, Hostname, Description, VRF, Subnet, MAC, Owner, Device, Note, Tag, Gateway). NetBox: the fields
 * of PrefixImportForm and IPAddressImportForm (netbox/ipam/forms/bulk_import.py), which its "export all"
 * CSV also uses, and the list views' column titles.
 */
export const CSV_PRESET_MAPS: Record<CsvPreset, Record<CsvKind, Record<string, string>>> = {
  netkeeper: {
    pools: Object.fromEntries(CSV_EXPORT_COLUMNS.pools.map((c) => [c, c])),
    allocations: Object.fromEntries(CSV_EXPORT_COLUMNS.allocations.map((c) => [c, c]))
  },
  phpipam: {
    pools: {
      section: 'ignore',
      subnet: 'network',
      mask: 'prefix_length',
      description: 'description',
      vlan: 'vlan',
      domain: 'ignore',
      vlan_domain: 'ignore',
      vrf: 'space',
      master_subnet: 'ignore',
      id: 'ignore'
    },
    allocations: {
      section: 'ignore',
      ip_address: 'ip',
      ip_addr: 'ip',
      hostname: 'hostname',
      description: 'description',
      vrf: 'space',
      subnet: 'pool',
      mac: 'mac',
      owner: 'owner',
      device: 'ignore',
      port: 'ignore',
      note: 'purpose',
      tag: 'status',
      state: 'status',
      gateway: 'ignore',
      is_gateway: 'ignore'
    }
  },
  netbox: {
    pools: {
      prefix: 'network',
      vrf: 'space',
      tenant: 'ignore',
      vlan_group: 'ignore',
      vlan_site: 'ignore',
      vlan: 'vlan',
      status: 'active',
      role: 'environment',
      scope_type: 'ignore',
      scope_name: 'site',
      scope: 'site',
      scope_id: 'ignore',
      site: 'site',
      is_pool: 'ignore',
      mark_utilized: 'ignore',
      description: 'description',
      owner: 'ignore',
      comments: 'ignore',
      tags: 'tags',
      id: 'ignore'
    },
    allocations: {
      address: 'ip',
      ip_address: 'ip',
      vrf: 'space',
      tenant: 'ignore',
      status: 'status',
      role: 'ignore',
      device: 'ignore',
      virtual_machine: 'ignore',
      interface: 'ignore',
      fhrp_group: 'ignore',
      is_primary: 'ignore',
      is_oob: 'ignore',
      dns_name: 'hostname',
      description: 'description',
      owner: 'owner',
      comments: 'ignore',
      tags: 'tags',
      id: 'ignore'
    }
  }
}

/** Why a row (or the header, line 1) is skipped, or the file refused. */
export const CSV_PROBLEMS = {
  unknown_column: 'the column maps to no field: map it (col=FIELD) or leave it out (col=ignore)',
  missing_column: 'no column maps to a required field',
  duplicate_column: 'two columns map to the same field',
  encoding: 'the line is not valid UTF-8 (save the file as UTF-8)',
  field_count: 'the row has a different number of fields than the header',
  formula: 'a cell starts with = + - or @ (a spreadsheet formula); put an apostrophe before it to keep the text',
  bad_value: 'a value is not valid for its field',
  unknown_space: 'no address space has this name',
  ambiguous_pool: 'the row names no space, and pools of that name or network exist in several spaces: give the space (a column or the picker)',
  duplicate_key: 'an earlier row of the file has the same key (space + network / space + address)',
  name_taken: 'another pool already has this name',
  contains_existing: 'the network would hold pools that already exist (they are not moved under it)',
  addresses_in_parent: 'addresses of the pool around it lie in this network (move them first)',
  parent_skipped: 'the pool around it in the file is skipped',
  outside_pools: 'the address lies in no pool of its space',
  outside_named_pool: 'the address lies outside the named pool',
  unusable_address: 'the network, broadcast or gateway address of its pool',
  in_dhcp_range: 'the address lies in a dhcp range of its pool',
  exists: 'the key exists already (on-existing skip)',
  unknown_tag: 'a tag named in the tags column does not exist (create it first, or choose "create missing tags")'
} as const
export type CsvProblemKind = keyof typeof CSV_PROBLEMS

export interface CsvProblem {
  /** The physical line of the file (1 is the header). */
  line: number
  kind: CsvProblemKind
  /** The column (as in the file) the problem is about, when one. */
  column: string | null
  value: string | null
  /** The reason in words, naming the field and the value. */
  reason: string
  outcome: 'skipped' | 'refused'
}

export interface CsvColumnMap {
  column: string
  field: string
  /** How the mapping was chosen. */
  from: 'preset' | 'option' | 'unmapped'
}

export interface CsvFileInfo {
  path: string
  name: string
  size: number
  sha256: string
}

export interface CsvCounts {
  rows: number
  created: number
  updated: number
  unchanged: number
  skipped: number
}

export interface CsvImportReport {
  reportId: string
  /** The import's id (its audit row: resource_type 'import'); null unless written. */
  importId: string | null
  outcome: 'dry-run' | 'imported' | 'cancelled'
  kind: CsvKind
  preset: CsvPreset
  onExisting: CsvOnExisting
  file: CsvFileInfo
  columns: CsvColumnMap[]
  actor: string
  startedAt: string
  finishedAt: string
  durationMs: number
  counts: CsvCounts
  problems: CsvProblem[]
  /** Tags the run creates (createTags), or would create (dry run). */
  newTags: string[]
  /** Set when the file as mapped cannot be imported at all (an unknown or missing column). */
  refusal: { code: 'VALIDATION'; message: string } | null
  /** The first rows as they would be written (for the wizard's preview): line, action and values by field. */
  preview: { line: number; action: 'create' | 'update' | 'unchanged' | 'skip'; values: Record<string, string | null> }[]
}

export interface CsvImportOptions {
  file: string
  kind: CsvKind
  preset?: CsvPreset
  /** Overrides of the preset: column (as in the file, or normalised) -> field. */
  map?: Record<string, string>
  /**
   * The space of the rows that name none (the space picker, `--space`). A row's own space cell (Netkeeper's
   * space column, NetBox's and phpIPAM's vrf) wins; map that column to ignore to put every row here.
   */
  space?: string
  onExisting?: CsvOnExisting
  /** Create the tags the file names that do not exist yet (needs the admin role); otherwise such rows are skipped. */
  createTags?: boolean
  /** Read the header only: the columns and how they map (the wizard's mapping step); no row is analysed. */
  columnsOnly?: boolean
  runId?: string
}

export const CSV_PHASES = ['reading', 'checking', 'writing', 'committing', 'done'] as const
export type CsvPhase = (typeof CSV_PHASES)[number]

export interface CsvProgress {
  runId: string
  phase: CsvPhase
  done: number
  total: number
  percent: number
  cancellable: boolean
}

export interface CsvExportOptions {
  kind: CsvKind
  space?: string
  /** Allocations: only this pool's (name or id). */
  pool?: string | number
  /** Allocations: allocated, reserved, blocked or lapsed. */
  status?: 'allocated' | 'reserved' | 'blocked' | 'lapsed'
  search?: string
  /** Pools: the pools table's other filters. */
  site?: string
  environment?: string
  vlanId?: number
  /** Pools: every pool on a VLAN of this group (name or id); with vlanId, that VID in this group (as the Pools list). */
  vlanGroup?: string | number
  /** Pools: only pools carrying every one of these tags (as the Pools list). */
  tags?: string[]
  active?: boolean
  /** The lists' custom field filter: only rows whose custom fields hold these values (name -> value as text, typed by the server). */
  fields?: Record<string, string>
}

export interface CsvExportReport {
  kind: CsvKind
  rows: number
  bytes: number
  sha256: string
}

// ------------------------------------------------------------------ the IPC schemas (the wizard and the Export CSV buttons)

const uuid = z.string().uuid('must be a UUID')
const ref = z.string().trim().max(200)

export const csvImportSchema = z
  .object({
    file: z.string().trim().min(1, 'is required').max(4096, 'must be at most 4096 characters'),
    kind: z.enum(CSV_KINDS),
    preset: z.enum(CSV_PRESETS).default('netkeeper'),
    map: z.record(z.string().trim().min(1).max(200), z.string().trim().min(1).max(64)).default({}),
    space: ref.min(1).optional(),
    onExisting: z.enum(CSV_ON_EXISTING).default('skip'),
    createTags: z.boolean().default(false),
    columnsOnly: z.boolean().default(false),
    /** Chosen by the caller so it can ask for progress (ipam:csv:progress) and cancel while the run is under way. */
    runId: uuid.optional()
  })
  .strict()
export type CsvImportInput = z.input<typeof csvImportSchema>

export const csvRunRefSchema = z.object({ runId: uuid }).strict()

export const csvExportSchema = z
  .object({
    runId: uuid,
    kind: z.enum(CSV_KINDS),
    filter: z
      .object({
        space: ref.optional(),
        pool: z.union([z.number().int().positive(), ref]).optional(),
        status: z.enum(['allocated', 'reserved', 'blocked', 'lapsed']).optional(),
        search: ref.optional(),
        site: ref.optional(),
        environment: ref.optional(),
        vlanId: z.number().int().min(1).max(4094).optional(),
        vlanGroup: z.union([z.number().int().positive(), ref.min(1)]).optional(),
        tags: z.array(ref.min(1)).max(50).optional(),
        active: z.boolean().optional(),
        fields: z.record(fieldName, z.string().max(1000)).optional()
      })
      .strict()
      .default({})
  })
  .strict()
export type CsvExportInput = z.input<typeof csvExportSchema>

export interface CsvExportFileResult {
  /** saved: the file is complete; dismissed: the save dialog was closed; cancelled: stopped, nothing left behind. */
  outcome: 'saved' | 'dismissed' | 'cancelled'
  kind: CsvKind
  rows: number
  bytes: number
  file?: string
  /** In the browser harness: the one-time link the page turns into a download. */
  download?: { url: string; name: string }
}

export interface CsvExportProgress {
  runId: string
  phase: 'choosing' | 'writing'
  rows: number
  cancelling: boolean
}

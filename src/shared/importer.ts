/**
 * The legacy SQLite import (LDAP Web Manager v2.0 IPAM files): choices, problems, progress and reports,
 * shared by the core, the CLI, the IPC contract and the wizard. No node, electron or vue imports.
 *
 * The flow a wizard drives: analyse (recognise the file, list every problem row) -> choices -> dry run (the
 * report of what would happen) -> run (one transaction, progress, cancel) -> the report (JSON or CSV).
 * docs/import.md describes every problem kind and choice.
 */
import { z } from 'zod'
import { CONFLICT_MODES, REPORT_FORMATS, TYPE_TARGETS } from './choices'

export const LEGACY_TABLES = ['ip_pools', 'ip_allocations'] as const
export type LegacyTable = (typeof LEGACY_TABLES)[number]

/** What to do when a legacy pool clashes (same name, or an overlapping network) with a pool already in the target. */
export { CONFLICT_MODES, REPORT_FORMATS, TYPE_TARGETS }
export type ConflictMode = (typeof CONFLICT_MODES)[number]

/**
 * What a legacy allocation type becomes. `dhcp` is an allocated address with dhcp_managed set; `skip`
 * leaves rows of that type out on purpose.
 */
export type TypeTarget = (typeof TYPE_TARGETS)[number]

/** The built-in mapping of the v2.0 allocation types (compared trimmed and lower-cased). */
export const DEFAULT_TYPE_MAP: Readonly<Record<string, TypeTarget>> = {
  static: 'allocated',
  dhcp: 'dhcp',
  infrastructure: 'allocated',
  reserved: 'reserved'
}

export const importChoicesSchema = z
  .object({
    onConflict: z.enum(CONFLICT_MODES).default('skip'),
    /** The address space the pools go into, by name or id (the default space when left out). Clashes are checked in it only. */
    space: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters').optional(),
    /** Apply the suggested fix of every problem that has one (e.g. the canonical network); otherwise such rows are skipped. */
    fix: z.boolean().default(false),
    /** Extra or overriding allocation type mappings, e.g. { "legacy-hold": "reserved" }. */
    typeMap: z
      .record(z.string().trim().min(1, 'type must not be empty').max(64, 'type must be at most 64 characters'), z.enum(TYPE_TARGETS))
      .default({}),
    /** Per-row decisions from the wizard: skip a row, or apply its suggested fix(es) even when `fix` is off. */
    rows: z
      .array(z.object({ table: z.enum(LEGACY_TABLES), legacyId: z.string().max(255), action: z.enum(['skip', 'fix']) }).strict())
      .max(1_000_000)
      .default([])
  })
  .strict()
export type ImportChoicesInput = z.input<typeof importChoicesSchema>
export type ImportChoices = z.output<typeof importChoicesSchema>

const filePath = z.string().trim().min(1, 'is required').max(4096, 'must be at most 4096 characters')

export const importAnalyseSchema = z.object({ file: filePath, choices: importChoicesSchema.optional() }).strict()
export type ImportAnalyseInput = z.input<typeof importAnalyseSchema>

export const importRunSchema = z
  .object({
    file: filePath,
    choices: importChoicesSchema.optional(),
    /** Chosen by the caller so it can ask for progress (import:progress) and cancel (import:cancel) while the run is under way. */
    runId: z.string().uuid('must be a UUID').optional()
  })
  .strict()
export type ImportRunInput = z.input<typeof importRunSchema>

export type ReportFormat = (typeof REPORT_FORMATS)[number]

/**
 * Every kind of problem the importer reports. Errors skip the row unless a fix is applied (or, for clashes,
 * the conflict choice resolves them); warnings are noted and the row is imported.
 */
export const PROBLEM_KINDS = {
  // both tables
  missing_id: 'the row has no id, so a second run could not recognise it',
  skipped_by_choice: 'left out by a per-row choice',
  // pools
  invalid_name: 'the pool name is empty or longer than 100 characters',
  duplicate_name: 'another pool in the file already has this name',
  invalid_network: 'the network is not a valid CIDR',
  network_not_canonical: 'the network has host bits set',
  invalid_gateway: 'the gateway is not a usable address of the network',
  invalid_vlan: 'the VLAN is not a whole number from 1 to 4094',
  invalid_dns_servers: 'dns_servers is not a JSON list of IP addresses',
  overlapping_pool: 'the network overlaps another pool of the file',
  name_clash: 'a pool with this name already exists in the target',
  network_clash: 'the network overlaps a pool already in the target',
  // allocations
  invalid_ip: 'the address is not a valid IP address',
  orphan_allocation: 'the allocation refers to a pool the file does not have',
  pool_skipped: 'the allocation belongs to a pool that is not imported',
  pool_gone: 'the pool was imported before and has since been deleted',
  ip_outside_pool: 'the address lies outside its pool',
  network_or_broadcast_address: 'the address is the network or broadcast address of its pool',
  gateway_address: "the address is its pool's gateway, which stays on the pool",
  invalid_mac: 'the MAC address is not valid',
  invalid_hostname: 'the host name is not a valid RFC 1123 name',
  unknown_allocation_type: 'the allocation type has no mapping to a status',
  type_skipped: 'the allocation type is mapped to skip',
  duplicate_ip: 'another row of the file holds the same address (one address, one holder)',
  address_in_use: 'the address is already held in the target',
  merge_outside: 'the address lies in no existing pool the legacy pool was merged into',
  // warnings
  invalid_timestamp: 'a timestamp could not be read; the import time is used',
  text_cleaned: 'control characters were removed or a value was shortened to fit'
} as const
export type ProblemKind = keyof typeof PROBLEM_KINDS

/** The kinds that are clashes with the target database (governed by onConflict). */
export const CLASH_KINDS: readonly ProblemKind[] = ['name_clash', 'network_clash', 'address_in_use']

export interface ImportProblem {
  table: LegacyTable
  /** The row's id in the legacy file (null when the row has none). */
  legacyId: string | null
  /** The row's position in the legacy table (SQLite rowid), to find rows without an id. */
  row: number
  kind: ProblemKind
  severity: 'error' | 'warning'
  /** The legacy column the problem is about (network, ip_address, mac_address...). */
  field: string
  /** The offending value as found in the file. */
  value: string | null
  message: string
  /** The suggested fix, when one exists. */
  fix?: { description: string; value: string | null }
  /** What happens to the row under the current choices. */
  outcome: 'skipped' | 'fixed' | 'imported' | 'refused'
  /** The legacy pool's name (allocations) or the pool itself. */
  pool?: string | null
}

export interface SkippedRow {
  table: LegacyTable
  legacyId: string | null
  row: number
  /** Pool name (legacy) for context. */
  pool: string | null
  /** The network (pools) or address (allocations) as found in the file. */
  value: string | null
  /** The first reason, then every other. */
  kind: ProblemKind
  reason: string
  also: ProblemKind[]
}

export interface AppliedFix {
  table: LegacyTable
  legacyId: string | null
  row: number
  kind: ProblemKind
  field: string
  from: string | null
  to: string | null
}

export interface LegacyFileInfo {
  path: string
  name: string
  size: number
  sha256: string
  modifiedAt: string
}

export interface ImportCounts {
  pools: { inFile: number; created: number; renamed: number; merged: number; alreadyImported: number; skipped: number; fixed: number }
  allocations: { inFile: number; created: number; alreadyImported: number; skipped: number; fixed: number }
}

export interface PoolOutcome {
  legacyId: string | null
  row: number
  name: string | null
  network: string | null
  action: 'create' | 'rename' | 'merge' | 'already' | 'skip'
  /** The pool it became or joined (null for skipped pools, and for new pools in a dry run). */
  targetId: number | null
  targetName: string | null
  allocations: number
}

export interface ImportTypeSummary {
  type: string
  count: number
  /** What it becomes under the current choices; null when it has no mapping (rows of that type are skipped). */
  mapsTo: TypeTarget | null
}

export interface ImportAnalysis {
  file: LegacyFileInfo
  source: { pools: number; allocations: number; missingColumns: string[]; types: ImportTypeSummary[] }
  choices: ImportChoices
  /** Every problem row with its reason, pools first, in file order. */
  problems: ImportProblem[]
  /** What a run with these choices would do. */
  counts: ImportCounts
  /** Set when a run with these choices would be refused (onConflict fail and a clash). */
  refusal: { code: 'CONFLICT'; message: string } | null
}

export interface ImportReport {
  reportId: string
  /** The import run (its audit row has resource_type 'import' and this id); null for a dry run. */
  importId: string | null
  outcome: 'dry-run' | 'imported' | 'cancelled'
  file: LegacyFileInfo
  choices: ImportChoices
  actor: string
  startedAt: string
  finishedAt: string
  durationMs: number
  /** The headline numbers. */
  created: { pools: number; allocations: number }
  counts: ImportCounts
  pools: PoolOutcome[]
  skipped: SkippedRow[]
  fixes: AppliedFix[]
  warnings: ImportProblem[]
  missingColumns: string[]
  /** Set on a dry run that a real run would refuse. */
  refusal: { code: 'CONFLICT'; message: string } | null
}

export const IMPORT_PHASES = ['reading', 'checking', 'pools', 'allocations', 'free-space', 'audit', 'committing', 'done'] as const
export type ImportPhase = (typeof IMPORT_PHASES)[number]

export interface ImportProgress {
  runId: string
  phase: ImportPhase
  /** Rows (or pools) done in this phase and the phase's total. */
  done: number
  total: number
  /** Overall, 0-100. */
  percent: number
  /** False once the commit has started: from then on the import finishes. */
  cancellable: boolean
}

export interface ReportFile {
  fileName: string
  mimeType: string
  content: string
}

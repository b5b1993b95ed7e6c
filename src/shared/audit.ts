/** Audit DTOs and filter schemas, shared by the core, the CLI, the IPC contract and the renderer. */
import { z } from 'zod'
import { AUDIT_ACTIONS, AUDIT_SOURCES, AUDIT_STATUSES, EXPORT_FORMATS } from './choices'

export { AUDIT_ACTIONS, AUDIT_SOURCES, AUDIT_STATUSES, EXPORT_FORMATS }

const isoTime = (field: string) =>
  z
    .string()
    .trim()
    .refine((v) => /^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(new Date(v).getTime()), `${field} must be an ISO-8601 date or time`)

export const auditFilterSchema = z
  .object({
    from: isoTime('from').optional(),
    to: isoTime('to').optional(),
    action: z.array(z.enum(AUDIT_ACTIONS)).or(z.enum(AUDIT_ACTIONS)).optional(),
    resourceType: z.string().trim().min(1).max(64).optional(),
    /** Matches the resource id exactly, or the resource name case-insensitively by prefix. */
    resource: z.string().trim().min(1).max(255).optional(),
    actor: z.string().trim().min(1).max(255).optional(),
    /** An address, or a CIDR: every actor address inside it. */
    ip: z.string().trim().min(1).max(64).optional(),
    status: z.enum(AUDIT_STATUSES).optional(),
    source: z.enum(AUDIT_SOURCES).optional(),
    requestId: z.string().trim().min(1).max(64).optional(),
    /** Text anywhere inside details (before, after, error, context), case-insensitive. */
    text: z.string().trim().min(1).max(200).optional()
  })
  .strict()
export type AuditFilter = z.input<typeof auditFilterSchema>

export const auditListSchema = auditFilterSchema
  .extend({
    /** Keyset cursor: the sequence number of the last row of the previous page. */
    before: z.string().regex(/^\d+$/, 'must be a sequence number').optional(),
    /**
     * Keyset cursor the other way: the `limit` rows just newer than this sequence number (still returned
     * newest first). A viewer that let go of the rows above its window reads them back with it.
     */
    after: z.string().regex(/^\d+$/, 'must be a sequence number').optional(),
    limit: z.number().int().min(1, 'must be 1-1000').max(1000, 'must be 1-1000').default(100)
  })
  .strict()
  .refine((v) => !(v.before && v.after), { path: ['after'], message: 'cannot be given with before' })
export type AuditListInput = z.input<typeof auditListSchema>

export interface AuditEntryDto {
  id: string
  seq: string
  createdAt: string
  action: string
  resourceType: string
  resourceId: string | null
  resourceName: string | null
  /** The database login that wrote the row, taken by the server (null on rows older than the server roles). */
  dbUser: string | null
  /** Who the app says acted (a directory identity or the desktop user): a claim beside dbUser. */
  userId: string | null
  userIp: string | null
  userAgent: string | null
  status: string
  source: string
  requestId: string | null
  details: { before?: unknown; after?: unknown; error?: unknown; context?: Record<string, unknown> }
  prevHash: string
  rowHash: string
}

export interface AuditPage {
  items: AuditEntryDto[]
  /** Pass as `before` to get the next (older) page; null at the end. */
  nextCursor: string | null
  /** With `after`: pass as `after` to get the next newer page; null when none is newer. */
  newerCursor?: string | null
}

export interface AuditCounts {
  days: { day: string; action: string; count: number }[]
  total: number
}

export interface VerifyProblem {
  seq: string
  /**
   * archive: an archive file is missing, altered, overlaps another or is backed by no purge (verify --archives);
   * anchor: a head anchored outside the database is no longer the chain's (verify --anchors).
   */
  kind: 'altered' | 'missing' | 'reordered' | 'checkpoint' | 'archive' | 'anchor'
  message: string
  /** The archive file concerned, for kind archive. */
  file?: string
}

export interface VerifyReport {
  ok: boolean
  checked: number
  firstSeq: string | null
  lastSeq: string | null
  headSeq: string
  checkpoints: number
  problem: VerifyProblem | null
  seconds: number
  /** With --archives: the folder, the archive files read and the rows they hold. */
  archives?: { dir: string; files: number; rows: number }
  /** With --anchors: anchors compared with the chain, anchored rows purged since, anchors of other databases left aside. */
  anchors?: { file: string; checked: number; purged: number; otherDatabase: number }
}

export interface RetentionPolicyDto {
  resourceType: string
  /** null keeps rows forever. */
  retentionDays: number | null
  isActive: boolean
  createdAt: string
  updatedAt: string
}

export const policySetSchema = z
  .object({
    resourceType: z.string().trim().min(1, 'is required').max(64).regex(/^[a-z][a-z0-9_]*$/, 'must be lower-case letters, digits and _'),
    retentionDays: z.number().int('must be a whole number').min(1, 'must be at least 1 day').max(36500, 'must be at most 36500 days').nullable(),
    isActive: z.boolean().default(true)
  })
  .strict()
export type PolicySetInput = z.input<typeof policySetSchema>

export interface PurgeReport {
  dryRun: boolean
  /** Rows removed (or that would be), per resource type. Only types with an active policy ever appear. */
  byType: Record<string, number>
  rows: number
  ranges: number
  /** The cutoff of each active policy (null: kept forever); rows older than it go. */
  cutoffs: Record<string, string | null>
  purgeSeq: string | null
  /** The time the rows were chosen by (the server's clock). */
  asOf?: string
  /** The archive the removed rows were written to first (null for a dry run or when nothing was due). */
  archive?: ArchiveSummary | null
  /** The chain head anchored after the purge (when an anchor file is set), or why that failed. */
  anchor?: { at: string; seq: string; hash: string }
  anchorError?: string
}

/** An archive file of audit rows (gzipped JSON Lines) and its manifest, as a purge or `audit archive` wrote them. */
export interface ArchiveSummary {
  dir: string
  file: string
  manifest: string
  sha256: string
  bytes: number
  rows: number
  firstSeq: string
  lastSeq: string
}

/** This installation's archive folder (settings.json `audit.archiveDir`, or the default in the data folder). */
export interface ArchiveSettings {
  archiveDir: string
  isDefault: boolean
  defaultDir: string
}

export const archiveDirSchema = z
  .object({ archiveDir: z.string().trim().min(1, 'give a folder, or null for the default').max(4096).nullable() })
  .strict()

/** Where this installation anchors the chain head (settings.json), and how often the app does. */
export interface AnchorSettings {
  file: string | null
  /** A syslog sink (by name) the head is also sent to. */
  sink: string | null
  everyMinutes: number
}

export const anchorSettingsSchema = z
  .object({
    file: z.string().trim().min(1, 'give a file, or null for none').max(4096).nullable().optional(),
    sink: z.string().trim().min(1, 'give a syslog sink, or null for none').max(63).nullable().optional(),
    everyMinutes: z.number().int().min(1, 'must be 1 to 1440 minutes').max(1440, 'must be 1 to 1440 minutes').optional()
  })
  .strict()

/** What the next automatic purge will remove, and when (Settings). */
export interface PurgeOutlook {
  /** When this app runs its next purge; null when it runs none (no admin right on the server, or not started). */
  nextRunAt: string | null
  /** Why there is no next run, when nextRunAt is null. */
  reason?: string
  /** The folder purged rows are archived to first. */
  archiveDir: string
  /** The rows due at nextRunAt (or now, when there is no next run). */
  report: PurgeReport
}

/** The columns of a CSV export, in order: the core's streaming export and the viewer's export alike. */
export const AUDIT_CSV_COLUMNS = [
  'seq',
  'createdAt',
  'action',
  'resourceType',
  'resourceId',
  'resourceName',
  'dbUser',
  'userId',
  'userIp',
  'userAgent',
  'status',
  'source',
  'requestId',
  'details',
  'prevHash',
  'rowHash',
  'id'
] as const satisfies readonly (keyof AuditEntryDto)[]

export type ExportFormat = (typeof EXPORT_FORMATS)[number]

export interface ExportReport {
  format: ExportFormat
  rows: number
  bytes: number
  file?: string
  /** SHA-256 (hex) of the bytes written. */
  sha256?: string
  /** The lowest and highest sequence number exported (null when no row matched). */
  firstSeq?: string | null
  lastSeq?: string | null
  /** The chain head when the export read the rows (the same snapshot). */
  head?: { seq: string; hash: string }
  /** The signed manifest written beside the file (FILE.manifest.json). */
  manifest?: string
  /** Why the manifest is not signed, when it is not (no key could be had from the OS keychain). */
  unsigned?: string
}

/** FILE.manifest.json beside every export: what was exported, from which chain, signed (docs/audit.md#signed-exports). */
export interface ExportManifest {
  kind: 'netkeeper-audit-export'
  version: 1
  file: string
  format: ExportFormat
  filters: Record<string, unknown>
  rows: number
  bytes: number
  sha256: string
  firstSeq: string | null
  lastSeq: string | null
  chainHead: { seq: string; hash: string }
  createdAt: string
  createdBy: string
  database: string
  key: { algorithm: 'Ed25519'; fingerprint: string; publicKey: string } | null
  /** Base64 Ed25519 signature over the canonical JSON of every other field; null when unsigned. */
  signature: string | null
  unsigned?: string
}

/** This installation's export signing key (its private half stays in the OS keychain). */
export interface SigningKeyDto {
  algorithm: 'Ed25519'
  /** Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo. */
  fingerprint: string
  /** PEM (SPKI). */
  publicKey: string
  createdAt: string
  installation: string
  /** Whether this database's audit log records the public key. */
  recorded: boolean
}

export interface ExportVerifyProblem {
  kind: 'file' | 'manifest' | 'signature' | 'key' | 'row' | 'live'
  message: string
  seq?: string
}

export interface ExportVerifyReport {
  ok: boolean
  file: string
  manifest: string
  format: ExportFormat | null
  rows: number
  /** Where the public key came from: --public-key, or the manifest itself (then only its fingerprint vouches for it). */
  keySource: 'given' | 'manifest' | null
  fingerprint: string | null
  /** With a database: every row compared with the live chain (purged rows are counted, not compared). */
  live?: { compared: number; purged: number; keyRecorded: boolean }
  problems: ExportVerifyProblem[]
  seconds: number
}

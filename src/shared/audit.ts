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
    limit: z.number().int().min(1, 'must be 1-1000').max(1000, 'must be 1-1000').default(100)
  })
  .strict()
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
}

export interface AuditCounts {
  days: { day: string; action: string; count: number }[]
  total: number
}

export interface VerifyProblem {
  seq: string
  kind: 'altered' | 'missing' | 'reordered' | 'checkpoint'
  message: string
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
}

export interface RetentionPolicyDto {
  resourceType: string
  /** null keeps rows forever. */
  retentionDays: number | null
  isActive: boolean
  createdAt: string
  updatedAt: string
}

export const DEFAULT_RETENTION_DAYS = 365

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
  /** Rows removed (or that would be), per resource type. */
  byType: Record<string, number>
  rows: number
  ranges: number
  cutoffs: Record<string, string | null>
  purgeSeq: string | null
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
}

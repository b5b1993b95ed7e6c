/**
 * Settings kept as JSON in the data folder. Never holds a secret: passwords live in the OS keychain.
 * Writes go to a temporary file that is renamed into place, so a crash never leaves half a file.
 *
 * The database connections: `connections` (saved server connections, by name) and `activeConnection`
 * (the one the app and the CLI open when nothing else decides; absent or `embedded` means the embedded
 * store). A file written before connections holds one `database` profile instead: it is read as the single,
 * active connection, and the file is rewritten in the new shape (upgrade in place, nothing dropped).
 */
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { lazySchema } from '../../../shared/lazy-schema'
import { dbProfileSchema, describeIssue, EMBEDDED_CONNECTION, legacyDbProfileSchema, type DbProfile } from '../../../shared/schemas'
import { AppError } from '../../../shared/errors'

const fileSchema = lazySchema(() =>
  z
    .object({
      connections: z.array(dbProfileSchema).optional(),
      activeConnection: z.string().trim().min(1).max(64).optional(),
      /** Before connections: the one saved profile. Folded into `connections` on read. */
      database: legacyDbProfileSchema.optional(),
      /** This installation's audit settings: where purges archive the rows they remove (docs/audit.md#archives). */
      audit: z
        .object({
          archiveDir: z.string().min(1).refine((d) => path.isAbsolute(d), 'must be an absolute path').optional(),
          /** The append-only file the chain head is anchored to (docs/audit.md#anchoring-the-head). */
          anchorFile: z.string().min(1).refine((d) => path.isAbsolute(d), 'must be an absolute path').optional(),
          /** Minutes between anchors written by the app (default 10). */
          anchorEveryMinutes: z.number().int().min(1).max(1440).optional(),
          /** The syslog sink (audit_sinks.name) the chain head is also anchored to (docs/audit.md#anchoring-the-head). */
          anchorSink: z.string().min(1).max(63).optional(),
          /** Whether the app forwards the audit log to the sinks (docs/audit.md#forwarding). */
          forwardInApp: z.boolean().optional()
        })
        .passthrough()
        .optional()
    })
    .passthrough()
)

/** This installation's audit settings (archive folder, head anchoring). */
export type AuditSettings = NonNullable<z.output<typeof fileSchema>['audit']>

/** The settings as the rest of the app sees them: always the new shape. */
export interface Settings {
  connections: DbProfile[]
  /** A saved connection's name, or `embedded`; absent means embedded. */
  activeConnection?: string
  audit?: AuditSettings
  /** This installation's id (made on first use by the export signing key, audit/signing.ts). */
  installationId?: string
  /** Keys this version does not know (a newer one wrote them): kept as they are. */
  other?: Record<string, unknown>
}

/** What may be written: the new shape, or (tests, older callers) one legacy `database` profile, folded in. */
export interface SettingsInput {
  connections?: DbProfile[]
  activeConnection?: string
  audit?: AuditSettings
  installationId?: string
  database?: DbProfile
  other?: Record<string, unknown>
}

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** Folds a legacy `database` profile into `connections`, active unless another connection already is. */
function normalize(input: SettingsInput): Settings {
  const list = [...(input.connections ?? [])]
  let active = input.activeConnection
  const legacy = input.database
  if (legacy) {
    if (!list.some((c) => same(c.name, legacy.name))) list.push(legacy)
    active ??= legacy.name
  }
  return {
    connections: list,
    ...(active !== undefined ? { activeConnection: active } : {}),
    ...(input.audit !== undefined ? { audit: input.audit } : {}),
    ...(input.installationId !== undefined ? { installationId: input.installationId } : {}),
    ...(input.other && Object.keys(input.other).length ? { other: input.other } : {}) }
}

/** The parsed file split into the keys this version knows and the others. */
function fromFile(data: z.output<typeof fileSchema>): SettingsInput {
  const { connections, activeConnection, database, audit, installationId, ...other } = data as {
    connections?: DbProfile[]
    activeConnection?: string
    database?: DbProfile
    audit?: AuditSettings
    installationId?: unknown
  } & Record<string, unknown>
  return { connections, activeConnection, database, audit, ...(typeof installationId === 'string' ? { installationId } : {}), other }
}

/** Names are unique (case-insensitively: they name keychain entries); the active one exists. */
function check(s: Settings, where: string): void {
  const seen = new Set<string>()
  s.connections.forEach((c, i) => {
    const key = c.name.toLowerCase()
    if (seen.has(key)) throw new AppError('VALIDATION', `${where}connections.${i}.name: "${c.name}" is used by another connection`, { field: `connections.${i}.name` })
    seen.add(key)
  })
  const a = s.activeConnection
  if (a !== undefined && !same(a, EMBEDDED_CONNECTION) && !s.connections.some((c) => same(c.name, a))) {
    throw new AppError('VALIDATION', `${where}activeConnection: no saved connection is named "${a}"`, { field: 'activeConnection' })
  }
}

export class SettingsStore {
  readonly file: string
  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'settings.json')
  }

  read(): Settings {
    let raw: string
    try {
      raw = fs.readFileSync(this.file, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { connections: [] }
      throw e
    }
    let json: unknown
    try {
      json = JSON.parse(raw)
    } catch (e) {
      throw new AppError('VALIDATION', `${this.file}: not valid JSON (${(e as Error).message})`, { field: 'settings' })
    }
    const parsed = fileSchema.safeParse(json)
    if (!parsed.success) {
      const { field, reason } = describeIssue(parsed.error)
      throw new AppError('VALIDATION', `${this.file}: ${field}: ${reason}`, { field })
    }
    const settings = normalize(fromFile(parsed.data))
    check(settings, `${this.file}: `)
    if (parsed.data.database) {
      // Upgrade in place. Best effort: a read-only folder keeps the old file, read the same way next time.
      try {
        this.write(settings)
      } catch (e) {
        console.warn(`[settings] could not rewrite ${this.file} in the new shape: ${(e as Error).message}`)
      }
    }
    return settings
  }

  write(next: SettingsInput): void {
    const { other, ...known } = next
    const settings = normalize({ ...fromFile(fileSchema.parse(known)), other })
    check(settings, '')
    const { other: kept, ...shape } = settings
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify({ ...kept, ...shape }, null, 2) + '\n', { mode: 0o600 })
    fs.renameSync(tmp, this.file)
  }

  /** The saved connection named `name` (case-insensitively), if any. */
  static find(s: Settings, name: string | undefined): DbProfile | undefined {
    return name === undefined ? undefined : s.connections.find((c) => same(c.name, name))
  }

  /** The active server connection; undefined when the embedded store is active. */
  static active(s: Settings): DbProfile | undefined {
    const a = s.activeConnection
    return a === undefined || same(a, EMBEDDED_CONNECTION) ? undefined : SettingsStore.find(s, a)
  }
}

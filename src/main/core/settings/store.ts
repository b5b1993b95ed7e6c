/**
 * Settings kept as JSON in the data folder. Never holds a secret: passwords live in the OS keychain.
 * Writes go to a temporary file that is renamed into place, so a crash never leaves half a file.
 */
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { dbProfileSchema, describeIssue } from '../../../shared/schemas'
import { AppError } from '../../../shared/errors'

export const settingsSchema = z
  .object({
    database: dbProfileSchema.optional(),
    /** This installation's audit settings: where purges archive the rows they remove (docs/audit.md#archives). */
    audit: z
      .object({
        archiveDir: z.string().min(1).refine((d) => path.isAbsolute(d), 'must be an absolute path').optional(),
        /** The append-only file the chain head is anchored to (docs/audit.md#anchoring-the-head). */
        anchorFile: z.string().min(1).refine((d) => path.isAbsolute(d), 'must be an absolute path').optional(),
        /** Minutes between anchors written by the app (default 10). */
        anchorEveryMinutes: z.number().int().min(1).max(1440).optional()
      })
      .passthrough()
      .optional()
  })
  .passthrough()
export type Settings = z.output<typeof settingsSchema>

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
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}
      throw e
    }
    let json: unknown
    try {
      json = JSON.parse(raw)
    } catch (e) {
      throw new AppError('VALIDATION', `${this.file}: not valid JSON (${(e as Error).message})`, { field: 'settings' })
    }
    const parsed = settingsSchema.safeParse(json)
    if (!parsed.success) {
      const { field, reason } = describeIssue(parsed.error)
      throw new AppError('VALIDATION', `${this.file}: ${field}: ${reason}`, { field })
    }
    return parsed.data
  }

  write(next: Settings): void {
    const parsed = settingsSchema.parse(next)
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(parsed, null, 2) + '\n', { mode: 0o600 })
    fs.renameSync(tmp, this.file)
  }
}

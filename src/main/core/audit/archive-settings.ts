/**
 * Where this installation archives the audit rows a purge removes: `audit.archiveDir` in the data folder's
 * settings.json, or `<data folder>/audit-archive`. A folder is a machine's, so it is a setting of the
 * installation, not of the database.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { ArchiveSettings } from '../../../shared/audit'
import { AppError } from '../../../shared/errors'
import { SettingsStore } from '../settings/store'
import { ARCHIVE_DIR_NAME, prepareArchiveDir } from './archive'
import type { ArchiveTarget } from './retention'

export function archiveSettings(dataDir: string): ArchiveSettings {
  const defaultDir = path.join(dataDir, ARCHIVE_DIR_NAME)
  const configured = new SettingsStore(dataDir).read().audit?.archiveDir
  return { archiveDir: configured ?? defaultDir, isDefault: !configured, defaultDir }
}

export function archiveTarget(dataDir: string, database: string): ArchiveTarget {
  const s = archiveSettings(dataDir)
  return { dir: s.archiveDir, isDefault: s.isDefault, database }
}

/** Sets the folder (it must exist and be a folder), or goes back to the default with null. */
export function setArchiveDir(dataDir: string, dir: string | null): ArchiveSettings {
  const store = new SettingsStore(dataDir)
  const settings = store.read()
  if (dir === null) {
    const { archiveDir: _gone, ...rest } = settings.audit ?? {}
    store.write({ ...settings, audit: rest })
  } else {
    const abs = path.resolve(dir)
    prepareArchiveDir(abs, false)
    // Write something now, so a folder that cannot take an archive is refused here and not at the next purge.
    const probe = path.join(abs, `.netkeeper-probe-${process.pid}`)
    try {
      fs.writeFileSync(probe, '', { mode: 0o600 })
      fs.rmSync(probe)
    } catch (e) {
      throw new AppError('VALIDATION', `archiveDir: the folder ${abs} cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { field: 'archiveDir' })
    }
    store.write({ ...settings, audit: { ...settings.audit, archiveDir: abs } })
  }
  return archiveSettings(dataDir)
}

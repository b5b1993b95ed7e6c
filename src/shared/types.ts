/** DTOs that cross the IPC boundary. Plain data only: no classes, no Dates (ISO strings instead). */
import type { DbProfile } from './schemas'

export type DatabaseKind = 'embedded' | 'postgresql'

export interface DatabaseTarget {
  kind: DatabaseKind
  /** Where the connection came from: a flag, the environment, the saved profile or the embedded default. */
  origin: 'flag' | 'env' | 'profile' | 'embedded'
  /** A human label without any secret: `postgres://netkeeper@db.example:5432/ipam` or the embedded folder. */
  label: string
}

export interface MigrationState {
  applied: string[]
  pending: string[]
  /** Migrations recorded in the database that this build does not know: the database is newer than the app. */
  unknown: string[]
}

export interface HealthReport {
  reachable: boolean
  target: DatabaseTarget
  serverVersion?: string
  latencyMs?: number
  pool?: { size: number; used: number; free: number; pendingAcquires: number; max: number }
  migrations?: MigrationState
  /** The database login (session_user) and the Netkeeper role the server grants it (docs/postgresql-setup.md#roles). */
  login?: string
  serverRole?: 'owner' | 'admin' | 'operator' | 'viewer' | null
  error?: string
  checkedAt: string
}

export interface AppInfo {
  version: string
  platform: string
  dataDir: string
  target: DatabaseTarget
}

/** A saved database profile as the UI sees it: never the password, only whether the keychain has one. */
export interface DbProfileView {
  profile: DbProfile
  /** null when the keychain could not be asked. */
  passwordStored: boolean | null
}

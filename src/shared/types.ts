/** DTOs that cross the IPC boundary. Plain data only: no classes, no Dates (ISO strings instead). */
import type { DbProfile, SslMode } from './schemas'

export type DatabaseKind = 'embedded' | 'postgresql'

export interface DatabaseTarget {
  kind: DatabaseKind
  /** Where the connection came from: a flag, the environment, the saved profile or the embedded default. */
  origin: 'flag' | 'env' | 'profile' | 'embedded'
  /** A human label without any secret: `postgres://netkeeper@db.example:5432/ipam` or the embedded folder. */
  label: string
  /** The saved connection's name (origin profile), or `embedded`. */
  connection?: string
  /** A saved connection's TLS mode, and its warning when the mode is weak (schemas.ts sslWarning), said wherever it is named. */
  sslMode?: SslMode
  tlsWarning?: string
}

/** TLS on the connection a health check used. */
export interface TlsReport {
  /** False when the connection is not encrypted (sslMode disable, or prefer against a server without TLS). */
  inUse: boolean
  sslMode?: SslMode
  protocol?: string
  cipher?: string
  /** The server certificate's subject and issuer (`CN=db.example.com, O=Example`), its validity and SHA-256 fingerprint. */
  subject?: string
  issuer?: string
  subjectAltName?: string
  validTo?: string
  fingerprint256?: string
  /** What was checked, in words: the chain (against which CAs) and the host name, or nothing. */
  verification: string
  /** Why the certificate would not have passed verification, when the mode did not verify it. */
  unverifiedReason?: string
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
  /** Server connections: TLS in use, the certificate and the verification done. */
  tls?: TlsReport
  /** With several hosts: the one that answered, and those tried before it with why they did not. */
  host?: string
  hostsSkipped?: { host: string; error: string }[]
  /** A connection with several hosts: the primary in use, or that it is looking for one (docs/postgresql-setup.md#failover). */
  failover?: FailoverStatus
  /** The read-only standby for heavy reads, when the connection names one. */
  replica?: ReplicaStatus
  error?: string
  checkedAt: string
}

export interface FailoverStatus {
  /** Every host of the list (`host:port`), in order. */
  hosts: string[]
  /** The primary in use; null while none answers. */
  host: string | null
  /** True while looking for a primary after the last one went away. */
  reconnecting: boolean
  /** When the current primary was found, or when the search began. */
  since: string
  /** Why the last primary was given up, or why the last round found none. */
  lastError: string | null
  /** The last round's hosts that were not used, and why (unreachable, a standby). */
  tried: { host: string; error: string }[]
  /** How many times the primary changed (or came back) since the connection opened. */
  switches: number
}

export interface ReplicaStatus {
  /** `host:port` of the standby. */
  host: string
  reachable: boolean
  /** Whether heavy reads go there now (false while it is down or not a standby). */
  inUse: boolean
  /** Bytes of WAL it has not replayed yet (0: caught up). */
  bytesBehind?: number | null
  /** 0 when caught up; else seconds since the last transaction it replayed was committed on the primary. */
  lagSeconds?: number | null
  lastReplayAt?: string | null
  error?: string
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

/** One entry of the Connections list: the embedded store, or a saved server connection (never its password). */
export type ConnectionView =
  | { kind: 'embedded'; name: 'embedded'; label: string; active: boolean; inUse: boolean }
  | {
      kind: 'server'
      name: string
      profile: DbProfile
      label: string
      /** null when the keychain could not be asked. */
      passwordStored: boolean | null
      /** The weak TLS mode's warning (prefer, require, disable). */
      tlsWarning: string | null
      /** The connection the app opens at start (settings.json activeConnection). */
      active: boolean
      /** The connection the running app (or this CLI run) is on. */
      inUse: boolean
    }

export type ServerConnectionView = Extract<ConnectionView, { kind: 'server' }>

export interface RemoveConnectionResult {
  removed: boolean
  secretRemoved: boolean
  /** It was the active connection: the embedded store is active now. */
  wasActive: boolean
}

export interface ConnectionList {
  /** The name of the active connection, `embedded` when none is saved as active. */
  active: string
  /** The embedded store first, then the saved connections by name. */
  connections: ConnectionView[]
  /** Set when something decides instead of the active connection: a URL, --profile or NETKEEPER_PROFILE. */
  overriddenBy?: string
  /** Set when a URL (--database-url, NETKEEPER_DATABASE_URL) pins the app to one database: no switching then. */
  pinnedBy?: string
}

/** The reply to a switch: where the app is now, and that database's health. */
export interface SwitchResult {
  target: DatabaseTarget
  health: HealthReport
}

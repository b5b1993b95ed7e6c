/**
 * The core: every capability of Netkeeper behind one object, with no Electron import. The Electron main
 * process, the CLI, the browser test bridge and the tests all build it the same way.
 */
import { Database, type ServerRole } from './db/database'
import { resolveConnection, type ConnectionSpec } from './db/target'
import { resolveDataDir } from './paths'
import { IpamService } from './ipam/service'
import { ImportSearchIndexer } from './audit/search-index'
import { AuditService } from './audit/service'
import { ImporterService } from './importer/service'
import { makeContext } from './context'
import { DirectoryService } from './directory/service'
import { AuthService } from './auth/service'
import { withRequest } from './log'

export interface CoreOptions {
  databaseUrl?: string
  dataDir?: string
  /** Apply pending migrations on open (the app and most CLI commands do; `db status` does not). */
  migrate?: boolean
}

export class Core {
  readonly ipam: IpamService
  readonly audit: AuditService
  readonly importer: ImporterService
  /** Builds the text-search index of imported audit rows after each import commits (audit/search-index.ts). */
  readonly auditSearch: ImportSearchIndexer
  /** LDAP profiles, users and groups (core/directory). */
  readonly directory: DirectoryService
  /** Directory sign-in, sessions and command scopes (core/auth). */
  readonly auth: AuthService
  private maintenance?: NodeJS.Timeout

  private constructor(
    readonly db: Database,
    readonly dataDir: string,
    /** What the server grants this login; the app's roles may narrow it, never widen it. */
    readonly serverRole: ServerRole | null
  ) {
    this.ipam = new IpamService(db.knex)
    this.audit = new AuditService(db.knex)
    this.directory = new DirectoryService(db.knex, dataDir)
    this.auth = new AuthService(db.knex, this.directory, serverRole)
    this.auditSearch = new ImportSearchIndexer(db.knex)
    this.importer = new ImporterService(db.knex, () => this.auditSearch.kick())
  }

  /**
   * Background upkeep for long-running hosts (the app, the web harness): the audit retention purge, once
   * at start and then daily, and the text-search index of imported audit rows left behind by another
   * process (a CLI import, say) at start. Errors are logged, never thrown: upkeep must not take the app down.
   */
  startMaintenance(intervalMs = 24 * 3600_000): void {
    if (this.maintenance) return
    const run = async (): Promise<void> => {
      // Purging is an admin's right on the server: other logins leave it to someone who has it.
      if (this.serverRole !== 'owner' && this.serverRole !== 'admin') return
      const ctx = makeContext({ actor: 'netkeeper (retention)', roles: ['admin'], source: 'ui' })
      // Its log lines carry the purge's request id, as its audit row does.
      await withRequest(ctx.requestId, async () => {
        try {
          const r = await this.audit.purge(ctx)
          if (r.rows) console.info(`[retention] purged ${r.rows} audit row(s) in ${r.ranges} run(s)`)
        } catch (e) {
          console.error('[retention] purge failed:', (e as Error).message)
        }
      })
    }
    void run()
    this.auditSearch.kick()
    this.maintenance = setInterval(() => void run(), intervalMs)
    this.maintenance.unref()
  }

  static async open(opts: CoreOptions = {}): Promise<Core> {
    const dataDir = opts.dataDir ?? resolveDataDir()
    const spec: ConnectionSpec = await resolveConnection({ databaseUrl: opts.databaseUrl, dataDir })
    const db = await Database.open(spec)
    let role: ServerRole | null
    try {
      if (opts.migrate) await db.migrate()
      else await db.assertNotNewer()
      role = await db.serverRole()
    } catch (e) {
      await db.close()
      throw e
    }
    const core = new Core(db, dataDir, role)
    // The shared sign-in policy, so the first status the app shows already knows it.
    await core.auth.refreshPolicy(true)
    return core
  }

  async close(): Promise<void> {
    if (this.maintenance) clearInterval(this.maintenance)
    await this.auditSearch.close()
    // Sign the directory session out (audited) while the audit store is still open.
    await this.auth.close().catch((e) => console.error('[auth] closing the directory session failed:', (e as Error).message))
    await this.db.close()
  }

  /**
   * Stops at once on a signal (the CLI's Ctrl-C): no more upkeep, and every database session ended, so what
   * is in flight rolls back and the embedded store is released. The directory session is not signed out:
   * that would need the database this gives up.
   */
  async interrupt(): Promise<void> {
    if (this.maintenance) clearInterval(this.maintenance)
    void this.auditSearch.close()
    await this.db.interrupt()
  }
}

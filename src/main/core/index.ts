/**
 * The core: every capability of Netkeeper behind one object, with no Electron import. The Electron main
 * process, the CLI, the browser test bridge and the tests all build it the same way.
 */
import { Database } from './db/database'
import { resolveConnection, type ConnectionSpec } from './db/target'
import { resolveDataDir } from './paths'
import { IpamService } from './ipam/service'

export interface CoreOptions {
  databaseUrl?: string
  dataDir?: string
  /** Apply pending migrations on open (the app and most CLI commands do; `db status` does not). */
  migrate?: boolean
}

export class Core {
  readonly ipam: IpamService

  private constructor(
    readonly db: Database,
    readonly dataDir: string
  ) {
    this.ipam = new IpamService(db.knex)
  }

  static async open(opts: CoreOptions = {}): Promise<Core> {
    const dataDir = opts.dataDir ?? resolveDataDir()
    const spec: ConnectionSpec = await resolveConnection({ databaseUrl: opts.databaseUrl, dataDir })
    const db = await Database.open(spec)
    try {
      if (opts.migrate) await db.migrate()
      else await db.assertNotNewer()
    } catch (e) {
      await db.close()
      throw e
    }
    return new Core(db, dataDir)
  }

  async close(): Promise<void> {
    await this.db.close()
  }
}

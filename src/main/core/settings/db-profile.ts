/**
 * The one "database profile" of the app before it had several connections, kept for scripts and the
 * `settings:db:*` channels: it is the active server connection (connections.ts). `save` adds or replaces a
 * connection and makes it active (the CLI's `db profile set`); `clear` removes the active one, so the
 * embedded store is active again.
 */
import type { DbProfileView, HealthReport } from '../../../shared/types'
import type { RequestContext } from '../context'
import { keychain, type SecretStore } from '../credentials/keychain'
import { ConnectionService, parseConnection } from './connections'
import { SettingsStore } from './store'

export class DbProfileService {
  readonly connections: ConnectionService
  constructor(dataDir: string, secrets: SecretStore = keychain) {
    this.connections = new ConnectionService(dataDir, secrets)
  }

  /** The connection whose saved password a profile of this name may reuse: its own, else the active one's. */
  private savedAs(name: string): string | undefined {
    const s = this.connections.settings()
    return (SettingsStore.find(s, name) ?? SettingsStore.active(s))?.name
  }

  /** The active server connection (never its password), and whether the keychain holds one for it. */
  async get(): Promise<DbProfileView | null> {
    const active = SettingsStore.active(this.connections.settings())
    if (!active) return null
    const v = await this.connections.get(active.name)
    return { profile: v.profile, passwordStored: v.passwordStored }
  }

  async test(input: unknown, password?: string): Promise<HealthReport> {
    const profile = parseConnection(input)
    return this.connections.test(profile, password, { savedAs: this.savedAs(profile.name) })
  }

  /** Tests, then saves the connection (and, when given, its password) and makes it active: used from the next start. */
  async save(ctx: RequestContext, input: unknown, password?: string, opts: { skipTest?: boolean } = {}): Promise<DbProfileView> {
    const profile = parseConnection(input)
    const v = await this.connections.save(ctx, profile, password, { use: true, skipTest: opts.skipTest, passwordFrom: this.savedAs(profile.name) })
    return { profile: v.profile, passwordStored: v.passwordStored }
  }

  /** Removes the active server connection and its password: the embedded store is used from the next start. */
  async clear(): Promise<{ removed: boolean }> {
    const active = SettingsStore.active(this.connections.settings())
    if (!active) return { removed: false }
    await this.connections.remove(active.name)
    return { removed: true }
  }
}

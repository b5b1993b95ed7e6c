/**
 * The database settings as the app serves them: the single-profile channels of old (`settings:db:*`) and
 * the Connections screen's (`settings:connection:*`). They are served whether or not a database is open
 * (the live and the degraded table share them): they are how a person fixes a connection that fails.
 * Testing, saving, removing and switching are admin actions: of the desktop user, or, while someone is
 * signed in to the directory, of that person (`auth`, the live table's AuthService; the degraded table has
 * no session). Switching needs the host that owns the core (`host`, CoreHost's HostControl).
 */
import { AppError } from '../../shared/errors'
import { EMBEDDED_CONNECTION } from '../../shared/schemas'
import type { SwitchResult } from '../../shared/types'
import type { AuthService } from '../core/auth/service'
import { requireRole, type RequestContext } from '../core/context'
import { ConnectionService } from '../core/settings/connections'
import { DbProfileService } from '../core/settings/db-profile'
import { archiveSettings, setArchiveDir } from '../core/audit/archive-settings'
import type { HandlerTable } from './handlers'

/** What the settings handlers may ask of the host that owns the core (CoreHost). */
export interface HostControl {
  /** The saved connection the host is on (`embedded` for the embedded store); undefined for a URL. */
  current(): string | undefined
  /** What pins the host to one database so saved connections do not decide (a URL), if anything. */
  pinnedBy(): string | undefined
  /** What decides instead of the active connection at start, if anything (for the list). */
  overriddenBy(): string | undefined
  /** Reopens the core on a saved connection or `embedded`, and makes it the active one. */
  switchTo(name: string): Promise<SwitchResult>
}

export type SettingsChannel =
  | 'settings:db:get'
  | 'settings:db:test'
  | 'settings:db:save'
  | 'settings:db:clear'
  | 'settings:connection:list'
  | 'settings:connection:test'
  | 'settings:connection:save'
  | 'settings:connection:remove'
  | 'settings:connection:switch'
  | 'settings:audit:get'
  | 'settings:audit:set'

export function settingsHandlers(dataDir: string, auth?: Pick<AuthService, 'configContext'>, host?: HostControl): Pick<HandlerTable, SettingsChannel> {
  const profiles = new DbProfileService(dataDir)
  const connections = new ConnectionService(dataDir)
  const as = (ctx: RequestContext): RequestContext => (auth ? auth.configContext(ctx) : ctx)
  const admin = (ctx: RequestContext, what: string): RequestContext => {
    const who = as(ctx)
    requireRole(who, 'admin', what)
    return who
  }
  return {
    'settings:db:get': async () => profiles.get(),
    'settings:db:test': async (a, ctx) => {
      admin(ctx, 'testing a database connection')
      return profiles.test(a.profile, a.password)
    },
    'settings:db:save': async (a, ctx) => profiles.save(admin(ctx, 'changing the database profile'), a.profile, a.password),
    'settings:db:clear': async (_a, ctx) => {
      admin(ctx, 'removing the database profile')
      return profiles.clear()
    },
    // This installation's audit archive folder (docs/audit.md#archives).
    'settings:audit:get': async () => archiveSettings(dataDir),
    'settings:audit:set': async (a, ctx) => {
      admin(ctx, 'changing the audit archive folder')
      return setArchiveDir(dataDir, a.archiveDir)
    },

    'settings:connection:list': async () => connections.list({ inUse: host?.current(), overriddenBy: host?.overriddenBy(), pinnedBy: host?.pinnedBy() }),
    'settings:connection:test': async (a, ctx) => {
      admin(ctx, 'testing a database connection')
      return connections.test(a.profile, a.password, { savedAs: a.previousName })
    },
    'settings:connection:save': async (a, ctx) =>
      connections.save(admin(ctx, 'saving a database connection'), a.profile, a.password, { previousName: a.previousName, create: a.create }),
    'settings:connection:remove': async (a, ctx) => {
      admin(ctx, 'removing a database connection')
      if (host?.current()?.toLowerCase() === a.name.toLowerCase()) {
        throw new AppError('CONFLICT', `name: the app is using connection "${a.name}"; switch to another connection first`, { field: 'name' })
      }
      return connections.remove(a.name)
    },
    'settings:connection:switch': async (a, ctx) => {
      admin(ctx, 'switching the database connection')
      if (!host) throw new AppError('UNAVAILABLE', 'switching connections needs the app; on the command line use `netkeeper db profile use NAME` or --profile')
      return host.switchTo(a.name.trim().toLowerCase() === EMBEDDED_CONNECTION ? EMBEDDED_CONNECTION : a.name.trim())
    }
  }
}

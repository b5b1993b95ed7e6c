/**
 * The handler table: one entry per contract channel, each a thin call into the core. The Electron IPC
 * transport (main/index.ts) and the browser test bridge (main/web) both serve this same table, and both go
 * through `dispatch`, which validates the argument with the contract's schema before anything runs.
 */
import { contract, type Channel, type Envelope, type ParsedArgsOf, type ResultOf } from '../../shared/contract'
import { AppError } from '../../shared/errors'
import { describeIssue } from '../../shared/schemas'
import type { Core } from '../core'
import { requireRole, type RequestContext } from '../core/context'
import { anchorSettings, setAnchorSettings } from '../core/audit/anchors'
import { isConnectFailure, toAppError } from '../core/db/errors'
import type { OfflineQueue, TargetSnapshot } from '../core/offline/queue'
import { OfflineRuntime, queuedReply, withQueueAt, type OfflineRuntimeOptions } from '../core/offline/runtime'
import { staleAllocation, staleAllocations, staleMap, stalePool, stalePoolList } from '../core/offline/stale'
import { applyObjectEdit } from '../core/offline/replay'
import type { BackendState, OfflineEdit, OfflineStateDto } from '../../shared/offline'
import { AuditExports, chooseOpenFile, IpamCsvExports, noFileDialogs, type FileDialogs } from './file-export'
import { settingsHandlers, type HostControl } from './settings'

export { settingsHandlers, type HostControl } from './settings'
import { paletteSearch } from '../core/palette/search'
import { UsageAlertState } from '../core/ipam/usage-alerts'
import { processLog, seeTheLog, withRequest } from '../core/log'

export type Handler<C extends Channel> = (args: ParsedArgsOf<C>, ctx: RequestContext) => Promise<ResultOf<C>>
export type HandlerTable = { [C in Channel]: Handler<C> }

declare const __APP_VERSION__: string | undefined

/** Channels that act as the signed-in person (see AuthService.requestContext). */
const SESSION_SCOPED = /^(ipam|audit|import|offline|dns|dhcp):/

/**
 * `dialogs`: the shell's file dialogs (Electron's native ones, the harness's download stand-in); `host`: the
 * host that owns the core, for switching connections (absent where nothing can reopen it: tests, the CLI).
 */
export function createHandlers(core: Core, dialogs: FileDialogs = noFileDialogs, host?: HostControl): HandlerTable {
  const rt = offlineRuntime(core)
  const table = withDirectoryQueue(withOffline(baseHandlers(core, dialogs, host), rt), rt)
  for (const channel of Object.keys(table) as Channel[]) {
    if (!SESSION_SCOPED.test(channel)) continue
    const inner = table[channel] as Handler<Channel>
    ;(table as Record<Channel, Handler<Channel>>)[channel] = async (args, ctx) => inner(args, await core.auth.requestContext(ctx))
  }
  return table
}

/** One alert memory per data folder (a switch of connection keeps it: the file is per installation). */
const alertStates = new Map<string, UsageAlertState>()
function usageAlerts(dataDir: string): UsageAlertState {
  let s = alertStates.get(dataDir)
  if (!s) alertStates.set(dataDir, (s = UsageAlertState.inDataDir(dataDir)))
  return s
}

/** One offline runtime per open core; long-running hosts start it (CoreHost), tests may leave it idle. */
const runtimes = new WeakMap<Core, OfflineRuntime>()

/** The core's offline runtime; `opts` apply when it is created (the first call for that core). */
export function offlineRuntime(core: Core, opts?: OfflineRuntimeOptions): OfflineRuntime {
  let r = runtimes.get(core)
  if (!r) runtimes.set(core, (r = new OfflineRuntime(core, opts)))
  return r
}

/** The IPAM edits that are queued when the database cannot be reached, with their queue operation. */
type QueueableChannel =
  | 'ipam:allocate'
  | 'ipam:allocation:update'
  | 'ipam:release'
  | 'ipam:pool:create'
  | 'ipam:pool:update'
  | 'ipam:pool:delete'
  | 'ipam:pool:next-block'
  | 'ipam:hold-range'
  | 'ipam:release-many'
  | 'ipam:pool:split'
  | 'ipam:pool:merge'
  | 'ipam:space:create'
  | 'ipam:space:update'
  | 'ipam:space:delete'
  | 'ipam:range:add'
  | 'ipam:range:remove'
  | 'ipam:object:edit'
  | 'ipam:ip:tag'
  | 'ipam:bulk-edit'
const QUEUEABLE: { [C in QueueableChannel]: (a: ParsedArgsOf<C>) => OfflineEdit } = {
  'ipam:allocate': (a) => ({ operation: 'ipam.allocate', args: a }),
  'ipam:allocation:update': (a) => ({ operation: 'ipam.update', args: a }),
  'ipam:release': (a) => ({ operation: 'ipam.release', args: { ip: a.ip, ...(a.version !== undefined ? { version: a.version } : {}), ...(a.space !== undefined ? { space: a.space } : {}) } }),
  'ipam:pool:create': (a) => ({ operation: 'ipam.pool.create', args: a }),
  'ipam:pool:update': (a) => ({ operation: 'ipam.pool.update', args: { pool: a.pool, changes: a.changes } }),
  'ipam:pool:delete': (a) => ({ operation: 'ipam.pool.delete', args: { pool: a.pool, ...(a.force ? { force: true } : {}) } }),
  'ipam:pool:next-block': (a) => ({ operation: 'ipam.pool.nextBlock', args: a }),
  'ipam:hold-range': (a) => ({ operation: 'ipam.holdRange', args: a }),
  'ipam:release-many': (a) => ({ operation: 'ipam.releaseMany', args: a }),
  'ipam:pool:split': (a) => ({ operation: 'ipam.pool.split', args: a }),
  'ipam:pool:merge': (a) => ({ operation: 'ipam.pool.merge', args: a }),
  'ipam:space:create': (a) => ({ operation: 'ipam.space.create', args: a }),
  'ipam:space:update': (a) => ({ operation: 'ipam.space.update', args: a }),
  'ipam:space:delete': (a) => ({ operation: 'ipam.space.delete', args: a }),
  'ipam:range:add': (a) => ({ operation: 'ipam.range.add', args: a }),
  'ipam:range:remove': (a) => ({ operation: 'ipam.range.remove', args: a }),
  'ipam:object:edit': (a) => ({ operation: 'ipam.object', args: a }),
  'ipam:ip:tag': (a) => ({ operation: 'ipam.ip.tag', args: a }),
  'ipam:bulk-edit': (a) => ({ operation: 'ipam.bulkEdit', args: a })
}

/** The IPAM reads answered from the database's last-known snapshot while it cannot be reached. */
type StaleChannel = 'ipam:pool:list' | 'ipam:pool:get' | 'ipam:pool:allocations' | 'ipam:pool:map' | 'ipam:allocation:get'
const STALE: { [C in StaleChannel]: (q: TargetSnapshot, a: ParsedArgsOf<C>, why: string) => ResultOf<C> } = {
  'ipam:pool:list': (q, a, why) => stalePoolList(q, a, why),
  'ipam:pool:get': (q, a, why) => stalePool(q, a.pool, why),
  'ipam:pool:allocations': (q, a, why) => staleAllocations(q, a.pool, a, why),
  'ipam:pool:map': (q, a, why) => staleMap(q, a.pool, why),
  'ipam:allocation:get': (q, a, why) => staleAllocation(q, a.ip, why)
}

/** The directory edits that are queued when the directory server cannot be reached. */
type DirectoryQueueable =
  | 'directory:user:create'
  | 'directory:user:update'
  | 'directory:user:delete'
  | 'directory:user:lock'
  | 'directory:user:unlock'
  | 'directory:group:create'
  | 'directory:group:update'
  | 'directory:group:delete'
  | 'directory:group:members:add'
  | 'directory:group:members:remove'
const DIRECTORY_QUEUEABLE: { [C in DirectoryQueueable]: (a: ParsedArgsOf<C>) => OfflineEdit } = {
  'directory:user:create': (a) => ({ operation: 'directory.user.create', args: a }),
  'directory:user:update': (a) => ({ operation: 'directory.user.update', args: a }),
  'directory:user:delete': (a) => ({ operation: 'directory.user.delete', args: { uid: a.uid } }),
  'directory:user:lock': (a) => ({ operation: 'directory.user.lock', args: { uid: a.uid } }),
  'directory:user:unlock': (a) => ({ operation: 'directory.user.unlock', args: { uid: a.uid } }),
  'directory:group:create': (a) => ({ operation: 'directory.group.create', args: a }),
  'directory:group:update': (a) => ({ operation: 'directory.group.update', args: a }),
  'directory:group:delete': (a) => ({ operation: 'directory.group.delete', args: { cn: a.cn } }),
  'directory:group:members:add': (a) => ({ operation: 'directory.group.members.add', args: a }),
  'directory:group:members:remove': (a) => ({ operation: 'directory.group.members.remove', args: a })
}

/**
 * Directory edits of the signed-in person are queued when the directory server cannot be reached (no
 * connection could be made; a write whose connection dropped mid-way is reported as unknown, not queued),
 * and applied under their session when it answers again. Passwords are never queued.
 */
function withDirectoryQueue(table: HandlerTable, rt: OfflineRuntime): HandlerTable {
  const t = table as Record<Channel, Handler<Channel>>
  for (const channel of Object.keys(DIRECTORY_QUEUEABLE) as DirectoryQueueable[]) {
    const inner = t[channel]
    const toEdit = DIRECTORY_QUEUEABLE[channel] as (a: unknown) => OfflineEdit
    t[channel] = async (args, ctx) => {
      if (rt.directory.online === false && rt.directory.active && rt.directorySignedIn()) return rt.enqueueDirectory(ctx, toEdit(args)) as never
      try {
        const r = await inner(args, ctx)
        rt.directory.observeSuccess()
        return r
      } catch (e) {
        if (!rt.directory.observe(e)) throw e
        if (e instanceof AppError && e.details?.kind === 'unreachable') return rt.enqueueDirectory(ctx, toEdit(args)) as never
        throw e
      }
    }
  }
  return table
}

/** Channels whose outcome says whether the database answers (everything that runs SQL). */
const DATABASE_BACKED = /^(ipam|audit|import|db):/

/**
 * Wraps the database-backed channels so the health monitor hears every outcome, edits are queued instead
 * of failing when no connection can be made (or the monitor already knows the database is down), and the
 * reads fall back on the last-known snapshot. A connection that drops in the middle of an edit is not
 * queued: its commit may have landed, so the person is told to check before trying again.
 */
function withOffline(table: HandlerTable, rt: OfflineRuntime): HandlerTable {
  const t = table as Record<Channel, Handler<Channel>>
  for (const channel of Object.keys(table) as Channel[]) {
    if (!DATABASE_BACKED.test(channel)) continue
    const inner = t[channel]
    const toEdit = (QUEUEABLE as Partial<Record<Channel, (a: unknown) => OfflineEdit>>)[channel]
    const stale = (STALE as Partial<Record<Channel, (q: TargetSnapshot, a: unknown, why: string) => unknown>>)[channel]
    t[channel] = async (args, ctx) => {
      // A started monitor probes on its own: while it says the database is down, do not wait for a timeout.
      if (toEdit && rt.monitor.online === false && rt.monitor.active) return rt.enqueue(ctx, toEdit(args)) as never
      try {
        const r = await inner(args, ctx)
        rt.monitor.observeSuccess()
        return r
      } catch (e) {
        if (!rt.monitor.observe(e)) throw e
        if (toEdit && isConnectFailure(e)) return rt.enqueue(ctx, toEdit(args)) as never
        if (toEdit) {
          // With several hosts the primary may just have changed: ask the new one whether this edit landed
          // (its audit row carries the request id), and do it there when it did not; never twice.
          const fate = await rt.fateOf(ctx.requestId)
          if (fate.state === 'not-applied') {
            try {
              const r = await inner(args, ctx)
              rt.monitor.observeSuccess()
              return r
            } catch (e2) {
              if (isConnectFailure(e2)) return rt.enqueue(ctx, toEdit(args)) as never
              throw e2
            }
          }
          if (fate.state === 'applied') {
            throw new AppError(
              'CONFLICT',
              `the connection to the database dropped while this edit was being saved, and it had been applied (audit row ${fate.seq}, request ${ctx.requestId}) before the primary changed: it is not applied again. Reload to see it.`,
              { reason: 'already-applied', seq: fate.seq }
            )
          }
          throw new AppError(
            'UNAVAILABLE',
            `the connection to the database dropped while this edit was being saved, so it may or may not have been applied: ${toAppError(e).message}. Check the address or pool once the database is back before trying again; new edits are queued meanwhile.`,
            { reason: 'unreachable' }
          )
        }
        if (stale) {
          const why = toAppError(e).message
          try {
            return rt.withQueue((q) => stale(q.snapshot(rt.target), args, why)) as never
          } catch (e2) {
            if (e2 instanceof AppError && e2.code === 'NOT_FOUND') throw e2
            throw e
          }
        }
        throw e
      }
    }
  }
  return table
}

function baseHandlers(core: Core, dialogs: FileDialogs, host?: HostControl): HandlerTable {
  const exports = new AuditExports(core, dialogs)
  const csvExports = new IpamCsvExports(core, dialogs)
  return {
    'app:info': async () => ({
      version: typeof __APP_VERSION__ === 'string' ? __APP_VERSION__ : (process.env.npm_package_version ?? '0.0.0'),
      platform: process.platform,
      dataDir: core.dataDir,
      target: core.db.target
    }),
    'db:health': async () => core.db.health(),
    'db:status': async () => core.db.migrationState(),
    ...settingsHandlers(core.dataDir, core.auth, host),
    ...offlineHandlers(core.dataDir, offlineRuntime(core)),

    'ipam:pool:list': (a, ctx) => core.ipam.listPools(ctx, a),
    'ipam:pool:get': (a, ctx) => core.ipam.getPool(ctx, a.pool),
    'ipam:pool:create': (a, ctx) => core.ipam.createPool(ctx, a),
    'ipam:pool:update': (a, ctx) => core.ipam.updatePool(ctx, a.pool, a.changes),
    'ipam:pool:delete': (a, ctx) => core.ipam.deletePool(ctx, a.pool, { force: a.force }),
    'ipam:pool:allocations': (a, ctx) => core.ipam.listAllocations(ctx, a.pool, a),
    'ipam:pool:map': (a, ctx) => core.ipam.poolMap(ctx, a.pool),
    'ipam:allocate': (a, ctx) => core.ipam.allocate(ctx, a),
    'ipam:allocation:get': async (a, ctx) => {
      const alloc = await core.ipam.getAllocation(ctx, a.ip, a.space)
      // DNS and DHCP state for the subnet map's tooltip and the details; a server that cannot be read leaves it out.
      const [dns, dhcp] = await Promise.all([
        alloc.dnsManaged ? core.dns.allocationDns(alloc.id).catch(() => null) : null,
        alloc.dhcpManaged ? core.dhcp.allocationDhcp(alloc.id).catch(() => null) : null
      ])
      const last = dns?.effects[0]
      return {
        ...alloc,
        sideEffects: { dns: dns ? { names: dns.names, ptr: dns.ptr, state: last?.state ?? null, message: last?.message ?? null } : null, dhcp }
      }
    },
    'ipam:allocation:update': (a, ctx) => core.ipam.updateAllocation(ctx, a),
    'ipam:release': (a, ctx) => core.ipam.release(ctx, a.ip, { version: a.version, space: a.space }),
    'ipam:search': (a, ctx) => core.ipam.search(ctx, a),
    'ipam:stats': (_a, ctx) => core.ipam.stats(ctx),
    'ipam:pool:facets': (_a, ctx) => core.ipam.poolFacets(ctx),
    'ipam:hold-range': (a, ctx) => core.ipam.holdRange(ctx, a),
    'ipam:release-many': (a, ctx) => core.ipam.releaseMany(ctx, a),
    'ipam:space:list': (_a, ctx) => core.ipam.listSpaces(ctx),
    'ipam:space:create': (a, ctx) => core.ipam.createSpace(ctx, a),
    'ipam:space:update': (a, ctx) => core.ipam.updateSpace(ctx, a.space, a.changes),
    'ipam:space:delete': (a, ctx) => core.ipam.deleteSpace(ctx, a.space),
    'ipam:pool:tree': (a, ctx) => core.ipam.poolTree(ctx, a),
    'ipam:pool:next-block': (a, ctx) => core.ipam.nextBlock(ctx, a),
    'ipam:pool:split': (a, ctx) => core.ipam.splitPool(ctx, a),
    'ipam:pool:merge': (a, ctx) => core.ipam.mergePools(ctx, a),
    'ipam:range:list': (a, ctx) => core.ipam.listRanges(ctx, a.pool),
    'ipam:range:add': (a, ctx) => core.ipam.addRange(ctx, a),
    'ipam:range:remove': (a, ctx) => core.ipam.removeRange(ctx, a),
    'ipam:objects': async (_a, ctx) => ({
      sites: await core.ipam.listSites(ctx),
      vlanGroups: await core.ipam.listVlanGroups(ctx),
      vlans: await core.ipam.listVlans(ctx),
      tags: await core.ipam.listTags(ctx),
      fields: await core.ipam.listFields(ctx)
    }),
    'ipam:object:edit': (a, ctx) => applyObjectEdit(core, ctx, a),
    'ipam:ip:tag': (a, ctx) => core.ipam.tagAllocations(ctx, a.input, a.remove),
    'ipam:bulk-edit': (a, ctx) => core.ipam.bulkEdit(ctx, a),

    'dns:server:list': () => core.dns.listServers(),
    'dns:zone:list': () => core.dns.listZones(),
    'dns:pool': (a) => core.dns.poolDns(a.pool),
    'dns:record:list': (a, ctx) => core.dns.records(ctx, a.zone, a),
    'dns:drift': (a, ctx) => core.dns.drift.report(ctx, { zone: a.zone }),
    'dns:drift:repair': async (a, ctx) => {
      const r = await core.dns.drift.repair(ctx, a)
      core.outbox.kick()
      return r
    },
    'dns:drift:ignore': async (a, ctx) => {
      await core.dns.drift.ignore(ctx, a.id, a.undo)
      return { id: a.id, ignored: !a.undo }
    },
    'dns:server:add': (a, ctx) => core.dns.addServer(ctx, a),
    'dns:server:test': (a, ctx) => core.dns.testServer(ctx, a.name),
    'dns:server:set-secret': async (a, ctx) => {
      const r = await core.dns.setSecret(ctx, a.name, a.secret)
      core.outbox.kick()
      return r
    },
    'dns:server:remove': (a, ctx) => core.dns.removeServer(ctx, a.name),
    'dns:zone:add': (a, ctx) => core.dns.addZone(ctx, a),
    'dns:zone:remove': (a, ctx) => core.dns.removeZone(ctx, a.name),
    'dns:pool:set': async (a, ctx) => {
      const r = await core.dns.setPoolDns(ctx, a)
      if (r.published?.rows) core.outbox.kick()
      return r
    },
    'dhcp:server:list': () => core.dhcp.listServers(),
    'dhcp:server:add': (a, ctx) => core.dhcp.addServer(ctx, a),
    'dhcp:server:test': (a, ctx) => core.dhcp.testServer(ctx, a.name),
    'dhcp:server:remove': (a, ctx) => core.dhcp.removeServer(ctx, a.name),
    'dhcp:pool': (a) => core.dhcp.poolDhcp(a.pool),
    'dhcp:pool:set': async (a, ctx) => {
      await core.dhcp.setPoolDhcp(ctx, a)
      return core.dhcp.poolDhcp(a.pool)
    },
    'dhcp:subnet-ids': (a, ctx) => core.dhcp.subnetChoices(ctx, a.server, a.pool),
    'dhcp:drift': (a, ctx) => core.dhcp.drift(ctx, { pool: a.pool }),
    'dhcp:drift:repair': async (a, ctx) => {
      const r = await core.dhcp.repair(ctx, a)
      core.outbox.kick()
      return r
    },
    'dhcp:drift:ignore': async (a, ctx) => {
      await core.dhcp.ignore(ctx, a.id, a.undo)
      return { id: a.id, ignored: !a.undo }
    },
    'ipam:usage:history': (a, ctx) => core.ipam.usageHistory(ctx, a),
    'ipam:usage:snapshot': async (_a, ctx) => ({ pools: await core.ipam.snapshotUsage(ctx) }),
    'ipam:usage:thresholds:set': (a, ctx) => core.ipam.setThresholds(ctx, a),
    'ipam:usage:alerts': async (_a, ctx) => usageAlerts(core.dataDir).update(await core.ipam.poolLevels(ctx)),
    'ipam:usage:levels': async (_a, ctx) => (await core.ipam.poolLevels(ctx)).filter((l) => l.level !== 'ok'),
    'palette:search': async (a, ctx) => paletteSearch(core, await core.auth.requestContext(ctx), ctx, a),

    'audit:list': (a, ctx) => core.audit.list(ctx, a),
    'audit:get': (a, ctx) => core.audit.get(ctx, a.seq),
    'audit:counts': (a, ctx) => core.audit.counts(ctx, a),
    'audit:verify': (_a, ctx) => core.audit.verify(ctx),
    'audit:policy:list': (_a, ctx) => core.audit.listPolicies(ctx),
    'audit:policy:set': (a, ctx) => core.audit.setPolicy(ctx, a),
    'audit:policy:remove': (a, ctx) => core.audit.removePolicy(ctx, a.resourceType),
    'audit:purge': (a, ctx) => core.audit.purge(ctx, { dryRun: a.dryRun }),
    'audit:purge:next': (_a, ctx) => core.purgeOutlook(ctx),
    'audit:forward:status': (_a, ctx) => core.forwardStatus(ctx),
    'audit:forward:app': async (a, ctx) => {
      requireRole(ctx, 'admin', a.enabled ? 'turning on forwarding in the app' : 'turning off forwarding in the app')
      return core.setForwardInApp(a.enabled)
    },
    'audit:sink:add': (a, ctx) => core.sinks.add(ctx, a),
    'audit:sink:remove': (a, ctx) => core.sinks.remove(ctx, a.name),
    'audit:sink:test': (a, ctx) => core.sinks.test(ctx, a.name),
    'audit:sink:enable': (a, ctx) => core.sinks.setEnabled(ctx, a.name, a.enabled),
    'audit:anchors:get': async () => anchorSettings(core.dataDir),
    'audit:anchors:set': async (a, ctx) => {
      requireRole(ctx, 'admin', 'changing where the audit head is anchored')
      if (a.sink) {
        const s = await core.sinks.row(a.sink).catch(() => {
          throw new AppError('VALIDATION', `sink: no audit sink is called ${a.sink}`, { field: 'sink' })
        })
        if (s.kind !== 'syslog') throw new AppError('VALIDATION', `sink: ${a.sink} is a webhook; anchors go to a syslog sink`, { field: 'sink' })
      }
      return setAnchorSettings(core.dataDir, a)
    },
    'audit:anchor': async (_a, ctx) => {
      const r = await core.audit.anchor(ctx)
      return { seq: r.seq, hash: r.hash, at: r.at, ...(r.sink ? { sink: r.sink } : {}) }
    },
    'audit:export': (a, ctx) => exports.run(ctx, a),
    'audit:export:progress': async (a, ctx) => exports.progress(ctx, a.runId),
    'audit:export:cancel': async (a, ctx) => exports.cancel(ctx, a.runId),
    'dialog:open-file': (a) => chooseOpenFile(dialogs, a.purpose),

    // Directory: profiles are this machine's configuration (admin of the caller, see AuthService.configContext);
    // users and groups run in the signed-in session's scope, under its bind and its role.
    'directory:profile:list': (_a, ctx) => core.directory.listProfiles(ctx),
    'directory:profile:save': (a, ctx) => core.directory.saveProfile(core.auth.configContext(ctx), a),
    'directory:profile:remove': (a, ctx) => core.directory.removeProfile(core.auth.configContext(ctx), a.name),
    'directory:profile:test': (a, ctx) => core.directory.testProfile(core.auth.configContext(ctx), a.name, a.password),
    'auth:session': async () => {
      await core.auth.refreshPolicy()
      return core.auth.status()
    },
    'settings:security:get': async () => core.auth.refreshPolicy(),
    'settings:security:set': (a, ctx) => core.auth.setSignInPolicy(ctx, a),
    'auth:signin': (a, ctx) => core.auth.signIn(ctx, a),
    'auth:signout': (_a, ctx) => core.auth.signOut(ctx),
    'auth:lock': (_a, ctx) => core.auth.lock(ctx),
    'auth:unlock': (a, ctx) => core.auth.unlock(ctx, a),
    'directory:user:list': async (a, ctx) => core.directory.users.list(await core.auth.scope(ctx), a),
    'directory:user:get': async (a, ctx) => core.directory.users.get(await core.auth.scope(ctx), a.uid),
    'directory:user:create': async (a, ctx) => core.directory.users.create(await core.auth.scope(ctx), a),
    'directory:user:update': async (a, ctx) => core.directory.users.update(await core.auth.scope(ctx), a),
    'directory:user:rename': async (a, ctx) => core.directory.users.rename(await core.auth.scope(ctx), a),
    'directory:user:delete': async (a, ctx) => core.directory.users.delete(await core.auth.scope(ctx), a.uid),
    'directory:user:password': async (a, ctx) => core.directory.users.setPassword(await core.auth.scope(ctx), a),
    'directory:user:lock': async (a, ctx) => core.directory.users.lock(await core.auth.scope(ctx), a.uid),
    'directory:user:unlock': async (a, ctx) => core.directory.users.unlock(await core.auth.scope(ctx), a.uid),
    'directory:group:list': async (a, ctx) => core.directory.groups.list(await core.auth.scope(ctx), a),
    'directory:group:get': async (a, ctx) => core.directory.groups.get(await core.auth.scope(ctx), a.cn),
    'directory:group:create': async (a, ctx) => core.directory.groups.create(await core.auth.scope(ctx), a),
    'directory:group:update': async (a, ctx) => core.directory.groups.update(await core.auth.scope(ctx), a),
    'directory:group:delete': async (a, ctx) => core.directory.groups.delete(await core.auth.scope(ctx), a.cn),
    'directory:group:members:add': async (a, ctx) => core.directory.groups.addMembers(await core.auth.scope(ctx), a),
    'directory:group:members:remove': async (a, ctx) => core.directory.groups.removeMembers(await core.auth.scope(ctx), a),
    'directory:user:bulk': async (a, ctx) => {
      const s = await core.auth.scope(ctx)
      return core.directory.jobs.track(ctx, a.runId, 'user-bulk', (h) => core.directory.bulk.run(s, a, h.progress, h.cancelled))
    },
    'directory:group:bulk': async (a, ctx) => {
      const s = await core.auth.scope(ctx)
      return core.directory.jobs.track(ctx, a.runId, 'group-bulk', (h) => core.directory.bulk.runGroups(s, a, h.progress, h.cancelled))
    },
    'directory:ldif:import': async (a, ctx) => {
      const s = await core.auth.scope(ctx)
      const source = (async function* () {
        yield a.text
      })()
      return core.directory.jobs.track(ctx, a.runId, 'ldif-import', (h) =>
        core.directory.ldif.import(s, { source, dryRun: a.dryRun, continueOnError: a.continueOnError }, (p) => h.progress(p.done, p.total, p.dn), h.cancelled)
      )
    },
    'directory:job:progress': async (a, ctx) => core.directory.jobs.progress(ctx, a.runId),
    'directory:job:cancel': async (a, ctx) => core.directory.jobs.cancel(ctx, a.runId),
    'directory:user:expire': async (a, ctx) => core.directory.expiry.set(await core.auth.scope(ctx), a),
    'directory:user:expiring': async (a, ctx) => core.directory.expiry.expiring(await core.auth.scope(ctx), a),
    'directory:user:policy': async (a, ctx) => core.directory.expiry.policy(await core.auth.scope(ctx), a.uid),
    'directory:user:import': async (a, ctx) => {
      const s = await core.auth.scope(ctx)
      return core.directory.jobs.track(ctx, a.runId, 'user-import', (h) => core.directory.userImport.run(s, a, (done, total) => h.progress(done, total), h.cancelled))
    },
    'directory:entry:get': async (a, ctx) => core.directory.entries.show(await core.auth.scope(ctx), a),
    'directory:entry:set': async (a, ctx) => core.directory.entries.set(await core.auth.scope(ctx), a),
    'directory:entry:classes': async (a, ctx) => core.directory.entries.classes(await core.auth.scope(ctx), a),
    'directory:entry:value': async (a, ctx) => {
      const buf = await core.directory.entries.value(await core.auth.scope(ctx), a.dn, a.attribute, a.index)
      return { base64: buf.toString('base64'), bytes: buf.length }
    },
    'directory:tree:list': async (a, ctx) => core.directory.entries.tree(await core.auth.scope(ctx), a),
    'directory:template:get': async (_a, ctx) => core.directory.templates.get((await core.auth.scope(ctx)).conn.profile),
    'directory:template:set': async (a, ctx) => {
      const s = await core.auth.scope(ctx)
      return core.directory.templates.set(s.ctx, s.conn.profile, a)
    },
    'directory:person:addresses': async (a, ctx) => core.people.addresses(await core.auth.scope(ctx), a.uid),
    'directory:person:retire': async (a, ctx) => core.people.retire(await core.auth.scope(ctx), a),
    'directory:cursor:close': async (a, ctx) => ({ closed: await (await core.auth.scope(ctx)).cursors.close(a.cursor) }),

    'ipam:csv:export': (a, ctx) => csvExports.run(ctx, a),
    'ipam:csv:export:progress': async (a, ctx) => csvExports.progress(ctx, a.runId),
    'ipam:csv:export:cancel': async (a, ctx) => csvExports.cancel(ctx, a.runId),
    'ipam:csv:dry-run': (a, ctx) => core.ipamCsv.dryRunTracked(ctx, a),
    'ipam:csv:run': (a, ctx) => core.ipamCsv.runTracked(ctx, a),
    'ipam:csv:progress': async (a, ctx) => core.ipamCsv.progress(ctx, a.runId),
    'ipam:csv:cancel': async (a, ctx) => core.ipamCsv.cancel(ctx, a.runId),
    'import:analyse': (a, ctx) => core.importer.analyse(ctx, a),
    'import:dry-run': (a, ctx) => core.importer.dryRunTracked(ctx, a),
    'import:run': (a, ctx) => core.importer.runTracked(ctx, a),
    'import:progress': async (a, ctx) => core.importer.progress(ctx, a.runId),
    'import:cancel': async (a, ctx) => core.importer.cancel(ctx, a.runId),
    'import:report': async (a, ctx) => core.importer.reportFile(ctx, a.reportId, a.format)
  }
}

type OfflineChannels = 'offline:state' | 'offline:queue:list' | 'offline:queue:conflicts' | 'offline:queue:cancel' | 'offline:queue:retry' | 'offline:queue:replay'

/**
 * The offline queue lives in the data folder and is served whether or not the database is open (the live
 * and the degraded table share these); replay needs the open core's runtime. Without one the database
 * state is offline with the reason the core could not open.
 */
export function offlineHandlers(dataDir: string, rt?: OfflineRuntime, degraded?: { error: string; target: string }): Pick<HandlerTable, OfflineChannels> {
  const withQueue = <T>(fn: (q: OfflineQueue) => T): Promise<T> => (async () => withQueueAt(dataDir, fn))()
  const degradedState = (): OfflineStateDto => {
    const database: BackendState = {
      online: false,
      since: null,
      lastError: degraded?.error ?? 'the database is not open',
      checkedAt: new Date().toISOString(),
      nextProbeAt: null,
      failures: 1
    }
    return withQueueAt(dataDir, (q) => ({ database, directory: null, queue: q.counts(), snapshotAt: degraded ? q.snapshot(degraded.target).at() : null, replaying: false, lastReplay: null, lastReplayError: null }))
  }
  return {
    'offline:state': async () => (rt ? rt.state() : degradedState()),
    'offline:queue:list': async (a) => withQueue((q) => q.list(a)),
    'offline:queue:conflicts': async () => withQueue((q) => q.conflicts()),
    'offline:queue:cancel': async (a, ctx) => {
      requireRole(ctx, 'operator', 'cancelling a queued edit')
      return withQueue((q) => q.cancel(a.id))
    },
    'offline:queue:retry': async (a, ctx) => {
      requireRole(ctx, 'operator', 'retrying a queued edit')
      // Re-stamped with the person retrying (ctx is the signed-in person when there is one): it replays as them.
      return withQueue((q) => q.retry(a.id, ctx, a.args))
    },
    'offline:queue:replay': async (_a, ctx) => {
      requireRole(ctx, 'operator', 'replaying queued edits')
      if (!rt) throw new AppError('UNAVAILABLE', `the database is not open: ${degraded?.error ?? 'unknown reason'}; queued edits stay queued`)
      return rt.replay('manual', ctx)
    }
  }
}

/**
 * For the degraded table (the core could not open because the server is unreachable): IPAM edits are
 * queued for the intended database and the reads come from the last-known snapshot.
 */
export function degradedOfflineHandlers(dataDir: string, target: string, why: string): Pick<HandlerTable, QueueableChannel | StaleChannel> {
  const queued = Object.entries(QUEUEABLE).map(([c, toEdit]): [string, Handler<Channel>] => [
    c,
    async (a, ctx) => withQueueAt(dataDir, (q) => queuedReply(q, ctx, (toEdit as (a: unknown) => OfflineEdit)(a), target, why)) as never
  ])
  const reads = Object.entries(STALE).map(([c, read]): [string, Handler<Channel>] => [
    c,
    async (a) => withQueueAt(dataDir, (q) => (read as (q: TargetSnapshot, a: unknown, why: string) => unknown)(q.snapshot(target), a, why)) as never
  ])
  return Object.fromEntries([...queued, ...reads]) as Pick<HandlerTable, QueueableChannel | StaleChannel>
}

/**
 * Validates and runs one call. Everything it does is stamped with the context's request id in the log
 * (core/log.ts); an unexpected failure is logged in full there and the reply says where the log is.
 */
export function dispatch<C extends Channel>(table: HandlerTable, channel: C, rawArgs: unknown, ctx: RequestContext): Promise<Envelope<ResultOf<C>>> {
  return withRequest(ctx.requestId, () => dispatchNow(table, channel, rawArgs, ctx))
}

async function dispatchNow<C extends Channel>(
  table: HandlerTable,
  channel: C,
  rawArgs: unknown,
  ctx: RequestContext
): Promise<Envelope<ResultOf<C>>> {
  try {
    if (!Object.hasOwn(contract, channel)) {
      throw new AppError('NOT_FOUND', `unknown channel "${String(channel)}"`)
    }
    const parsed = contract[channel].args.safeParse(rawArgs ?? {})
    if (!parsed.success) {
      const { field, reason } = describeIssue(parsed.error)
      throw new AppError('VALIDATION', `${field}: ${reason}`, { field })
    }
    const handler = table[channel] as Handler<C>
    const value = await handler(parsed.data as ParsedArgsOf<C>, ctx)
    return { ok: true, value }
  } catch (e) {
    const err = toAppError(e)
    // Internal errors keep their details in the main-process log, never in the UI.
    if (err.code === 'INTERNAL') {
      console.error(`[ipc] ${String(channel)} failed:`, e)
      return { ok: false, error: { code: 'INTERNAL', message: `${String(channel)} failed unexpectedly; ${seeTheLog()}` } }
    }
    // A refusal is the person's to read in the UI; the log keeps one line of it for whoever helps them.
    processLog()?.write(err.code === 'UNAVAILABLE' ? 'warn' : 'info', 'ipc', [`${String(channel)}: ${err.code} ${err.message}`])
    return { ok: false, error: err.toPayload() }
  }
}

/**
 * The handler table: one entry per contract channel, each a thin call into the core. The Electron IPC
 * transport (main/index.ts) and the browser test bridge (main/web) both serve this same table, and both go
 * through `dispatch`, which validates the argument with the contract's schema before anything runs.
 */
import { contract, type Channel, type Envelope, type ParsedArgsOf, type ResultOf } from '../../shared/contract'
import { AppError } from '../../shared/errors'
import { describeIssue } from '../../shared/schemas'
import type { Core } from '../core'
import type { RequestContext } from '../core/context'
import { toAppError } from '../core/db/errors'

export type Handler<C extends Channel> = (args: ParsedArgsOf<C>, ctx: RequestContext) => Promise<ResultOf<C>>
export type HandlerTable = { [C in Channel]: Handler<C> }

declare const __APP_VERSION__: string | undefined

export function createHandlers(core: Core): HandlerTable {
  return {
    'app:info': async () => ({
      version: typeof __APP_VERSION__ === 'string' ? __APP_VERSION__ : (process.env.npm_package_version ?? '0.0.0'),
      platform: process.platform,
      dataDir: core.dataDir,
      target: core.db.target
    }),
    'db:health': async () => core.db.health(),
    'db:status': async () => core.db.migrationState(),

    'ipam:pool:list': (a, ctx) => core.ipam.listPools(ctx, a),
    'ipam:pool:get': (a, ctx) => core.ipam.getPool(ctx, a.pool),
    'ipam:pool:create': (a, ctx) => core.ipam.createPool(ctx, a),
    'ipam:pool:update': (a, ctx) => core.ipam.updatePool(ctx, a.pool, a.changes),
    'ipam:pool:delete': (a, ctx) => core.ipam.deletePool(ctx, a.pool, { force: a.force }),
    'ipam:pool:allocations': (a, ctx) => core.ipam.listAllocations(ctx, a.pool, a),
    'ipam:pool:map': (a, ctx) => core.ipam.poolMap(ctx, a.pool),
    'ipam:allocate': (a, ctx) => core.ipam.allocate(ctx, a),
    'ipam:allocation:get': (a, ctx) => core.ipam.getAllocation(ctx, a.ip),
    'ipam:allocation:update': (a, ctx) => core.ipam.updateAllocation(ctx, a),
    'ipam:release': (a, ctx) => core.ipam.release(ctx, a.ip, { version: a.version }),
    'ipam:search': (a, ctx) => core.ipam.search(ctx, a),
    'ipam:stats': (_a, ctx) => core.ipam.stats(ctx),

    'audit:list': (a, ctx) => core.audit.list(ctx, a),
    'audit:get': (a, ctx) => core.audit.get(ctx, a.seq),
    'audit:counts': (a, ctx) => core.audit.counts(ctx, a),
    'audit:verify': (_a, ctx) => core.audit.verify(ctx),
    'audit:policy:list': (_a, ctx) => core.audit.listPolicies(ctx),
    'audit:policy:set': (a, ctx) => core.audit.setPolicy(ctx, a),
    'audit:policy:remove': (a, ctx) => core.audit.removePolicy(ctx, a.resourceType),
    'audit:purge': (a, ctx) => core.audit.purge(ctx, { dryRun: a.dryRun })
  }
}

export async function dispatch<C extends Channel>(
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
      return { ok: false, error: { code: 'INTERNAL', message: `${String(channel)} failed unexpectedly; see the application log` } }
    }
    return { ok: false, error: err.toPayload() }
  }
}

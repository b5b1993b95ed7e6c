/** `netkeeper ipam usage ...`: utilization over time (daily snapshots, history, thresholds, pools over them). */
import { Command, InvalidArgumentError } from 'commander'
import type { PoolLevel, UsageHistory } from '../../../shared/usage'
import { action, cliContext, emit, table, withCore } from '../runtime'

const num = (name: string) => (v: string): number => {
  if (!/^\d+(\.\d{1,2})?$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a number such as 80 or 92.5`)
  return Number(v)
}
const days = (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError('days must be a whole number')
  return Number(v)
}
const poolArg = (v: string): string | number => (/^\d+$/.test(v) ? Number(v) : v)

function historyText(h: UsageHistory): string {
  const head = h.pool ? `pool ${h.pool.name}: warn at ${h.thresholds.warnPercent}%, critical at ${h.thresholds.criticalPercent}%${h.thresholds.custom ? '' : ' (defaults)'}` : 'every pool together'
  if (!h.points.length) return `${head}\nno snapshot in the last ${h.days} days (the app takes one a day; \`netkeeper ipam usage snapshot\` takes one now)`
  return `${head}\n${table(
    h.points.map((p) => ({ day: p.day, used: p.used, usable: p.usable, util: `${p.percent.toFixed(2)}%` })),
    ['day', 'used', 'usable', 'util']
  )}`
}

function levelsText(levels: PoolLevel[]): string {
  if (!levels.length) return 'no pool is at or above its warning level'
  return table(
    levels.map((l) => ({ pool: l.pool, util: `${l.percent.toFixed(2)}%`, level: l.level, warn: `${l.thresholds.warnPercent}%`, critical: `${l.thresholds.criticalPercent}%` })),
    ['pool', 'util', 'level', 'warn', 'critical']
  )
}

export function usageCommand(): Command {
  const usage = new Command('usage').description('utilization over time: daily snapshots, history, thresholds')
  usage
    .command('snapshot')
    .description("take (or bring up to date) today's utilization row of every pool; the app does this daily")
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const pools = await core.ipam.snapshotUsage(cliContext())
          emit(cmd, { pools }, () => `took today's snapshot of ${pools} pool(s)`)
        })
      })
    )
  usage
    .command('show')
    .description('daily utilization of one pool, or of every pool together')
    .argument('[pool]', 'pool name or id (every pool together when left out)')
    .option('--days <n>', 'how many days back (2-366)', days, 30)
    .action(
      action(async (pool: string | undefined, o: { days: number }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const h = await core.ipam.usageHistory(cliContext(), { ...(pool ? { pool: poolArg(pool) } : {}), days: o.days })
          emit(cmd, h, () => historyText(h))
        })
      })
    )
  usage
    .command('thresholds')
    .description("set a pool's warning and critical levels in percent (an admin's change, audited)")
    .argument('<pool>', 'pool name or id')
    .requiredOption('--warn <percent>', 'warning level, 1-100 (default of every pool: 80)', num('--warn'))
    .requiredOption('--critical <percent>', 'critical level, 1-100, not below --warn (default: 95)', num('--critical'))
    .action(
      action(async (pool: string, o: { warn: number; critical: number }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const t = await core.ipam.setThresholds(cliContext(), { pool: poolArg(pool), warnPercent: o.warn, criticalPercent: o.critical })
          emit(cmd, t, () => `pool ${pool}: warn at ${t.warnPercent}%, critical at ${t.criticalPercent}%`)
        })
      })
    )
  usage
    .command('over')
    .description('pools at or above their warning level now')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const levels = (await core.ipam.poolLevels(cliContext())).filter((l) => l.level !== 'ok')
          emit(cmd, levels, () => levelsText(levels))
        })
      })
    )
  return usage
}

/** `netkeeper range ...`: dhcp, reserved, infrastructure and other ranges inside a pool. */
import { Command, InvalidArgumentError, Option } from 'commander'
import { RANGE_PURPOSES } from '../../../shared/choices'
import type { RangeDto } from '../../../shared/ipam'
import { action, cliContext, emit, table, UsageError, withCore, withCoreOrQueue } from '../runtime'

const line = (g: RangeDto): Record<string, unknown> => ({
  id: g.id,
  first: g.first,
  last: g.last,
  size: g.size,
  purpose: g.purpose,
  used: g.markUsed ? 'marked' : '',
  held: g.held,
  description: g.description ?? ''
})

export function rangeCommand(): Command {
  const range = new Command('range').description('ranges inside a pool: next free skips dhcp and reserved ones; an address in a dhcp range needs --force')

  range
    .command('add')
    .description('add a range to a pool')
    .requiredOption('--pool <pool>', 'the pool (name or id)')
    .requiredOption('--first <ip>', 'first address of the range')
    .requiredOption('--last <ip>', 'last address of the range')
    .addOption(new Option('--purpose <purpose>', 'what the range is for').choices([...RANGE_PURPOSES]).makeOptionMandatory())
    .option('--description <text>', 'what the range is for, in words')
    .option('--mark-used', 'count every address of the range as used in the pool\'s utilization')
    .action(
      action(async (o: { pool: string; first: string; last: string; purpose: RangeDto['purpose']; description?: string; markUsed?: boolean }, cmd: Command) => {
        const input = { pool: o.pool, first: o.first, last: o.last, purpose: o.purpose, description: o.description, ...(o.markUsed ? { markUsed: true } : {}) }
        await withCoreOrQueue(cmd, { operation: 'ipam.range.add', args: input }, async (core) => {
          const g = await core.ipam.addRange(cliContext(), input)
          emit(cmd, g, () => `added ${g.purpose} range ${g.first}-${g.last} (${g.size} addresses) to pool ${g.poolName}${g.held ? `; ${g.held} of its addresses are already held` : ''}`)
        })
      })
    )

  range
    .command('list <pool>')
    .description('list the ranges of a pool')
    .action(
      action(async (pool: string, _o: unknown, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.ipam.listRanges(cliContext(), pool)
          emit(cmd, r, () => (r.length ? table(r.map(line), ['id', 'first', 'last', 'size', 'purpose', 'used', 'held', 'description']) : `pool ${pool} has no ranges`))
        })
      })
    )

  range
    .command('remove [id]')
    .description('remove a range, by id or by --pool and --first')
    .option('--pool <pool>', 'pool name or id (with --first, instead of the range id)')
    .option('--first <ip>', 'first address of the range to remove')
    .action(
      action(async (id: string | undefined, o: { pool?: string; first?: string }, cmd: Command) => {
        if (id !== undefined && !/^\d+$/.test(id)) throw new InvalidArgumentError('id must be a whole number')
        if (id === undefined && !(o.pool && o.first)) throw new UsageError('give the range id, or --pool and --first')
        const ref = id !== undefined ? { id: Number(id) } : { pool: o.pool!, first: o.first! }
        await withCoreOrQueue(cmd, { operation: 'ipam.range.remove', args: ref }, async (core) => {
          const g = await core.ipam.removeRange(cliContext(), ref)
          emit(cmd, g, () => `removed ${g.purpose} range ${g.first}-${g.last} from pool ${g.poolName}`)
        })
      })
    )
  return range
}

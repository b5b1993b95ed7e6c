/**
 * The pool tree's commands, added to `netkeeper pool`: next-block, split, merge and tree; and `netkeeper ipam
 * calc`. (`pool create --parent/--space` is in ipam.ts with the rest of create.)
 */
import { Command, InvalidArgumentError } from 'commander'
import type { PoolDto, PoolTreeNode } from '../../../shared/ipam'
import { action, cliContext, emit, table, withCore, withCoreOrQueue } from '../runtime'

const int = (name: string) => (v: string): number => {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}

const brief = (p: PoolDto): string => (p.name.endsWith(p.network) ? p.name : `${p.name} (${p.network})`)

/** One line per node: indentation by depth, the network, the roll-up (containers) or the utilization (leaves). */
function treeLine(n: PoolTreeNode): Record<string, unknown> {
  const p = n.pool
  const u = p.utilization
  return {
    network: `${'  '.repeat(n.depth)}${p.network}`,
    name: p.name,
    kids: p.children || '',
    used: p.rollup ? `${p.rollup.used}/${p.rollup.size}` : `${u.allocated + u.reserved + u.blocked}/${u.usable}`,
    util: `${(p.rollup ? p.rollup.percent : u.percent).toFixed(2)}%`,
    assigned: p.rollup ? `${p.rollup.assignedPercent.toFixed(2)}%` : ''
  }
}

export function addPoolTreeCommands(pool: Command): void {
  pool
    .command('next-block')
    .description('carve the lowest aligned free /N (or N of them) out of a container, as child pools')
    .requiredOption('--in <pool>', 'the container (name or id)')
    .requiredOption('--prefix-length <n>', 'prefix length of each new block, e.g. 26', int('--prefix-length'))
    .option('--count <k>', 'how many blocks (1-256)', int('--count'), 1)
    .option('--name <name>', 'name of the new pool (numbered -1, -2 ... when several); default "<container> <network>"')
    .option('--description <text>', 'free text for the new pools')
    .option('--site <site>', 'site of the new pools')
    .option('--environment <env>', 'environment of the new pools')
    .option('--vlan <id>', 'VLAN 1-4094', int('--vlan'))
    .action(
      action(async (o: { in: string; prefixLength: number; count: number; name?: string; description?: string; site?: string; environment?: string; vlan?: number }, cmd: Command) => {
        const input = { in: o.in, prefixLength: o.prefixLength, count: o.count, name: o.name, description: o.description, site: o.site, environment: o.environment, vlanId: o.vlan }
        await withCoreOrQueue(cmd, { operation: 'ipam.pool.nextBlock', args: input }, async (core) => {
          const r = await core.ipam.nextBlock(cliContext(), input)
          emit(cmd, r, () => r.map((p) => `created ${brief(p)} in ${p.parentName}`).join('\n'))
        })
      })
    )

  pool
    .command('split <pool>')
    .description('split a pool into 2^k equal children of the given prefix length; its allocations and ranges move into them')
    .requiredOption('--prefix-length <n>', 'prefix length of the children', int('--prefix-length'))
    .action(
      action(async (ref: string, o: { prefixLength: number }, cmd: Command) => {
        const input = { pool: ref, prefixLength: o.prefixLength }
        await withCoreOrQueue(cmd, { operation: 'ipam.pool.split', args: input }, async (core) => {
          const r = await core.ipam.splitPool(cliContext(), input)
          emit(cmd, r, () => [`split ${brief(r.container)} into ${r.children.length} pools (${r.moved} allocation(s) moved):`, ...r.children.map((c) => `  ${brief(c)}`)].join('\n'))
        })
      })
    )

  pool
    .command('merge <a> <b>')
    .description('merge two adjacent sibling pools (the two halves of one block) into their aggregate')
    .action(
      action(async (a: string, b: string, _o: unknown, cmd: Command) => {
        const input = { a, b }
        await withCoreOrQueue(cmd, { operation: 'ipam.pool.merge', args: input }, async (core) => {
          const r = await core.ipam.mergePools(cliContext(), input)
          emit(cmd, r, () => `merged ${r.removed.map((x) => `${x.name} ${x.network}`).join(' and ')} into ${brief(r.pool)} (${r.moved} allocation(s) moved)`)
        })
      })
    )

  pool
    .command('tree [root]')
    .description('the pools of a space as a tree, with roll-up utilization of containers')
    .option('--space <space>', 'address space (default: the default space); ignored with a root pool')
    .option('--depth <n>', 'levels below the roots', int('--depth'), 128)
    .option('--limit <n>', 'nodes per page', int('--limit'), 500)
    .option('--offset <n>', 'nodes to skip', int('--offset'), 0)
    .action(
      action(async (root: string | undefined, o: { space?: string; depth: number; limit: number; offset: number }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.ipam.poolTree(cliContext(), { root, space: o.space, depth: o.depth, limit: o.limit, offset: o.offset })
          emit(cmd, r, () =>
            r.nodes.length
              ? `${table(r.nodes.map(treeLine), ['network', 'name', 'kids', 'used', 'util', 'assigned'])}${r.total > r.nodes.length ? `\n(${r.nodes.length} of ${r.total} nodes)` : ''}`
              : 'no pools'
          )
        })
      })
    )
}

export function calcCommand(): Command {
  return new Command('calc')
    .description('the CIDR calculator: network, broadcast, usable range, mask, wildcard, IPv6 nibble boundaries (no database needed)')
    .argument('<cidr>', 'a prefix, host bits allowed, e.g. 10.1.2.3/22 or 2001:db8::/62')
    .action(
      action(async (cidr: string, _o: unknown, cmd: Command) => {
        // Loaded when the command runs: the address libraries are not needed to describe it for --help.
        const { describeCidr } = await import('../../../shared/cidr-calc')
        const f = describeCidr(cidr, 'cidr')
        emit(cmd, f, () =>
          [
            `network:     ${f.network}${f.hostAddress ? ` (around ${f.hostAddress})` : ''}`,
            `addresses:   ${f.firstAddress} - ${f.lastAddress} (${f.size})`,
            `usable:      ${f.usableFirst ?? '-'} - ${f.usableLast ?? '-'} (${f.usable})`,
            ...(f.family === 4 ? [`broadcast:   ${f.broadcast ?? '- (none for /31 and /32)'}`, `mask:        ${f.mask}`, `wildcard:    ${f.wildcard}`] : []),
            ...(f.nibble ? [`nibble:      ${f.nibble.aligned ? 'on a nibble boundary' : `not on a nibble boundary (nearest /${f.nibble.below} and /${f.nibble.above})`}`] : []),
            `reverse:     ${f.nibble ? f.nibble.reverseZone : f.reverseZone}`
          ].join('\n')
        )
      })
    )
}

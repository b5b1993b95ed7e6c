/** `netkeeper space ...`: address spaces (VRFs). The same prefix may exist once per space. */
import { Command } from 'commander'
import type { SpaceDto } from '../../../shared/ipam'
import { action, cliContext, emit, table, UsageError, withCore, withCoreOrQueue } from '../runtime'

const line = (s: SpaceDto): Record<string, unknown> => ({ name: s.name, pools: s.pools, default: s.isDefault ? 'yes' : '', description: s.description ?? '' })
const text = (s: SpaceDto): string =>
  [`space ${s.name} (#${s.id})${s.isDefault ? ' [default]' : ''}`, `  pools:       ${s.pools}`, `  description: ${s.description ?? '-'}`, `  created by ${s.createdBy ?? '-'} at ${s.createdAt}`].join('\n')

export function spaceCommand(): Command {
  const space = new Command('space').description('address spaces (VRFs): the same prefix may exist once in each')

  space
    .command('list')
    .description('list address spaces with their pool counts')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.ipam.listSpaces(cliContext())
          emit(cmd, r, () => table(r.map(line), ['name', 'pools', 'default', 'description']))
        })
      })
    )

  space
    .command('show <space>')
    .description('show an address space (by name or id)')
    .action(
      action(async (ref: string, _o: unknown, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const s = await core.ipam.getSpace(cliContext(), ref)
          emit(cmd, s, () => text(s))
        })
      })
    )

  space
    .command('create')
    .description('create an address space')
    .requiredOption('--name <name>', 'unique name, e.g. a customer or VRF name')
    .option('--description <text>', 'free text')
    .action(
      action(async (o: { name: string; description?: string }, cmd: Command) => {
        const input = { name: o.name, description: o.description }
        await withCoreOrQueue(cmd, { operation: 'ipam.space.create', args: input }, async (core) => {
          const s = await core.ipam.createSpace(cliContext(), input)
          emit(cmd, s, () => `created ${text(s)}`)
        })
      })
    )

  space
    .command('update <space>')
    .description('rename or describe an address space')
    .option('--name <name>', 'new name')
    .option('--description <text>', 'new description ("" to clear)')
    .action(
      action(async (ref: string, o: { name?: string; description?: string }, cmd: Command) => {
        const changes = { ...(o.name !== undefined ? { name: o.name } : {}), ...(o.description !== undefined ? { description: o.description || null } : {}) }
        if (!Object.keys(changes).length) throw new UsageError('nothing to change: give --name or --description')
        await withCoreOrQueue(cmd, { operation: 'ipam.space.update', args: { space: ref, changes } }, async (core) => {
          const s = await core.ipam.updateSpace(cliContext(), ref, changes)
          emit(cmd, s, () => `updated ${text(s)}`)
        })
      })
    )

  space
    .command('delete <space>')
    .description('delete an empty address space (never the default)')
    .action(
      action(async (ref: string, _o: unknown, cmd: Command) => {
        await withCoreOrQueue(cmd, { operation: 'ipam.space.delete', args: { space: ref } }, async (core) => {
          const s = await core.ipam.deleteSpace(cliContext(), ref)
          emit(cmd, s, () => `deleted address space ${s.name}`)
        })
      })
    )
  return space
}

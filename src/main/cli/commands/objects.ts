/**
 * `netkeeper vlan ...`, `site ...`, `tag ...`, `field ...`: the IPAM objects pools and allocations point at
 * (docs/ipam.md#vlans-and-sites, #tags-and-custom-fields). Every change is queued like the other edits when the
 * database server is unreachable (operation ipam.object).
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { FIELD_KINDS, FIELD_TYPES, VLAN_STATUSES } from '../../../shared/choices'
import type { FieldDto, ObjectEdit, SiteDto, TagDto, VlanDto, VlanGroupDto } from '../../../shared/ipam-objects'
import { action, cliContext, emit, table, UsageError, withCore, withCoreOrQueue } from '../runtime'

const int = (name: string) => (v: string): number => {
  if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}

/** Runs an object edit now, or queues it when the server is unreachable; prints the result. */
async function runEdit(cmd: Command, edit: ObjectEdit, text: (r: never) => string): Promise<void> {
  await withCoreOrQueue(cmd, { operation: 'ipam.object', args: edit }, async (core) => {
    const { applyObjectEdit } = await import('../../core/offline/replay')
    const r = await applyObjectEdit(core, cliContext(), edit)
    emit(cmd, r, () => text(r as never))
  })
}

const defined = <T extends Record<string, unknown>>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>

// ---------------------------------------------------------------- vlan

const vlanLine = (v: VlanDto): Record<string, unknown> => ({ vlan: `${v.groupName}/${v.vid}`, name: v.name, status: v.status, pools: v.pools, description: v.description ?? '' })

export function vlanCommand(): Command {
  const vlan = new Command('vlan').description('VLANs (VID 1-4094, unique within a VLAN group) that pools point at')
  const group = vlan.command('group').description('VLAN groups: a VID is unique within its group')
  group
    .command('add <name>')
    .description('create a VLAN group')
    .option('--description <text>', 'free text')
    .action(
      action(async (name: string, o: { description?: string }, cmd: Command) => {
        await runEdit(cmd, { action: 'vlanGroup.add', input: defined({ name, description: o.description }) as { name: string } }, (g: VlanGroupDto) => `created VLAN group ${g.name}`)
      })
    )
  group
    .command('list')
    .description('list VLAN groups with their VLAN counts')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.ipam.listVlanGroups(cliContext())
          emit(cmd, r, () => table(r.map((g) => ({ name: g.name, vlans: g.vlans, description: g.description ?? '' })), ['name', 'vlans', 'description']))
        })
      })
    )
  group
    .command('remove <group>')
    .description('delete an empty VLAN group')
    .action(
      action(async (ref: string, _o: unknown, cmd: Command) => {
        await runEdit(cmd, { action: 'vlanGroup.remove', ref }, (g: VlanGroupDto) => `deleted VLAN group ${g.name}`)
      })
    )

  vlan
    .command('add <vid>')
    .description('create a VLAN')
    .option('--group <group>', 'VLAN group (default: "default")')
    .option('--name <name>', 'name (default: "VLAN <vid>")')
    .addOption(new Option('--status <status>', 'status').choices([...VLAN_STATUSES]).default('active'))
    .option('--description <text>', 'free text')
    .action(
      action(async (vid: string, o: { group?: string; name?: string; status: 'active'; description?: string }, cmd: Command) => {
        const input = defined({ group: o.group, vid: int('vid')(vid), name: o.name, status: o.status, description: o.description }) as { vid: number }
        await runEdit(cmd, { action: 'vlan.add', input }, (v: VlanDto) => `created VLAN ${v.groupName}/${v.vid} (${v.name}, ${v.status})`)
      })
    )
  vlan
    .command('list')
    .description('list VLANs with the number of pools on each')
    .option('--group <group>', 'only this VLAN group')
    .action(
      action(async (o: { group?: string }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.ipam.listVlans(cliContext(), defined({ group: o.group }))
          emit(cmd, r, () => table(r.map(vlanLine), ['vlan', 'name', 'status', 'pools', 'description']))
        })
      })
    )
  vlan
    .command('update <vlan>')
    .description('change a VLAN (GROUP/VID); a new VID shows on its pools at once')
    .option('--vid <vid>', 'new VID 1-4094', int('--vid'))
    .option('--name <name>', 'new name')
    .addOption(new Option('--status <status>', 'new status').choices([...VLAN_STATUSES]))
    .option('--description <text>', 'new description ("" to clear)')
    .action(
      action(async (ref: string, o: { vid?: number; name?: string; status?: 'active'; description?: string }, cmd: Command) => {
        const input = defined({ vid: o.vid, name: o.name, status: o.status, description: o.description })
        if (!Object.keys(input).length) throw new UsageError('nothing to change: give --vid, --name, --status or --description')
        await runEdit(cmd, { action: 'vlan.update', ref, input }, (v: VlanDto) => `updated VLAN ${v.groupName}/${v.vid} (${v.name}, ${v.status})`)
      })
    )
  vlan
    .command('remove <vlan>')
    .description('delete a VLAN (GROUP/VID); refused while pools point at it, naming them')
    .action(
      action(async (ref: string, _o: unknown, cmd: Command) => {
        await runEdit(cmd, { action: 'vlan.remove', ref }, (v: VlanDto) => `deleted VLAN ${v.groupName}/${v.vid}`)
      })
    )
  return vlan
}

// ---------------------------------------------------------------- site

export function siteCommand(): Command {
  const site = new Command('site').description('sites that pools point at')
  site
    .command('add <name>')
    .description('create a site')
    .option('--description <text>', 'free text')
    .action(
      action(async (name: string, o: { description?: string }, cmd: Command) => {
        await runEdit(cmd, { action: 'site.add', input: defined({ name, description: o.description }) as { name: string } }, (s: SiteDto) => `created site ${s.name}`)
      })
    )
  site
    .command('list')
    .description('list sites with their pool counts')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.ipam.listSites(cliContext())
          emit(cmd, r, () => table(r.map((s) => ({ name: s.name, pools: s.pools, description: s.description ?? '' })), ['name', 'pools', 'description']))
        })
      })
    )
  site
    .command('update <site>')
    .description('rename or describe a site; a new name shows on its pools at once')
    .option('--name <name>', 'new name')
    .option('--description <text>', 'new description ("" to clear)')
    .action(
      action(async (ref: string, o: { name?: string; description?: string }, cmd: Command) => {
        const input = defined({ name: o.name, description: o.description })
        if (!Object.keys(input).length) throw new UsageError('nothing to change: give --name or --description')
        await runEdit(cmd, { action: 'site.update', ref, input }, (s: SiteDto) => `updated site ${s.name}`)
      })
    )
  site
    .command('remove <site>')
    .description('delete a site; refused while pools point at it, naming them')
    .action(
      action(async (ref: string, _o: unknown, cmd: Command) => {
        await runEdit(cmd, { action: 'site.remove', ref }, (s: SiteDto) => `deleted site ${s.name}`)
      })
    )
  return site
}

// ---------------------------------------------------------------- tag

export function tagCommand(): Command {
  const tag = new Command('tag').description('tags (name, colour) on pools and allocations')
  tag
    .command('add <name>')
    .description('create a tag')
    .option('--colour <#rrggbb>', 'colour, e.g. #d62728 (one of a palette when absent)')
    .option('--description <text>', 'free text')
    .action(
      action(async (name: string, o: { colour?: string; description?: string }, cmd: Command) => {
        await runEdit(cmd, { action: 'tag.add', input: defined({ name, colour: o.colour, description: o.description }) as { name: string } }, (t: TagDto) => `created tag ${t.name} (${t.colour})`)
      })
    )
  tag
    .command('list')
    .description('list tags with how many pools and allocations carry each')
    .action(
      action(async (_o: unknown, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.ipam.listTags(cliContext())
          emit(cmd, r, () => table(r.map((t) => ({ name: t.name, colour: t.colour, pools: t.pools, allocations: t.allocations, description: t.description ?? '' })), ['name', 'colour', 'pools', 'allocations', 'description']))
        })
      })
    )
  tag
    .command('update <tag>')
    .description('rename, recolour or describe a tag')
    .option('--name <name>', 'new name')
    .option('--colour <#rrggbb>', 'new colour')
    .option('--description <text>', 'new description ("" to clear)')
    .action(
      action(async (ref: string, o: { name?: string; colour?: string; description?: string }, cmd: Command) => {
        const input = defined({ name: o.name, colour: o.colour, description: o.description })
        if (!Object.keys(input).length) throw new UsageError('nothing to change: give --name, --colour or --description')
        await runEdit(cmd, { action: 'tag.update', ref, input }, (t: TagDto) => `updated tag ${t.name} (${t.colour})`)
      })
    )
  tag
    .command('remove <tag>')
    .description('delete a tag, taking it off every pool and allocation')
    .action(
      action(async (ref: string, _o: unknown, cmd: Command) => {
        await runEdit(cmd, { action: 'tag.remove', ref }, (t: TagDto) => `deleted tag ${t.name} (was on ${t.pools} pool(s), ${t.allocations} allocation(s))`)
      })
    )
  return tag
}

// ---------------------------------------------------------------- field

const fieldLine = (f: FieldDto): Record<string, unknown> => ({
  kind: f.kind,
  name: f.name,
  type: f.type,
  choices: f.choices?.join(',') ?? '',
  required: f.required ? 'yes' : '',
  default: f.defaultValue ?? '',
  'in use': f.inUse
})

export function fieldCommand(): Command {
  const field = new Command('field').description('custom fields on pools and allocations, checked by the database server')
  field
    .command('add <name>')
    .description('define a custom field')
    .addOption(new Option('--kind <kind>', 'what the field is on').choices([...FIELD_KINDS]).makeOptionMandatory())
    .addOption(new Option('--type <type>', 'value type').choices([...FIELD_TYPES]).makeOptionMandatory())
    .option('--choices <a,b,...>', 'for --type choice: the allowed values, comma-separated')
    .option('--required', 'every row must hold a value (existing rows take --default)')
    .option('--default <value>', 'the value a required field takes when none is given')
    .option('--label <text>', 'the label forms and tables show')
    .option('--description <text>', 'free text')
    .action(
      action(async (name: string, o: { kind: 'pool'; type: 'text'; choices?: string; required?: boolean; default?: string; label?: string; description?: string }, cmd: Command) => {
        const input = defined({
          kind: o.kind,
          name,
          type: o.type,
          choices: o.choices !== undefined ? o.choices.split(',').map((c) => c.trim()).filter(Boolean) : undefined,
          required: o.required ? true : undefined,
          defaultValue: o.default,
          label: o.label,
          description: o.description
        }) as { kind: 'pool'; name: string; type: 'text' }
        await runEdit(cmd, { action: 'field.add', input }, (f: FieldDto) => `defined ${f.kind} field ${f.name} (${f.type}${f.choices ? `: ${f.choices.join(', ')}` : ''}${f.required ? ', required' : ''})`)
      })
    )
  field
    .command('list')
    .description('list custom fields with how many rows hold a value')
    .addOption(new Option('--kind <kind>', 'only fields on pools or on allocations').choices([...FIELD_KINDS]))
    .action(
      action(async (o: { kind?: 'pool' }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.ipam.listFields(cliContext(), o.kind)
          emit(cmd, r, () => table(r.map(fieldLine), ['kind', 'name', 'type', 'choices', 'required', 'default', 'in use']))
        })
      })
    )
  field
    .command('remove <name>')
    .description('remove a custom field; refused while rows hold values for it unless --force')
    .addOption(new Option('--kind <kind>', 'what the field is on').choices([...FIELD_KINDS]).makeOptionMandatory())
    .option('--force', 'also delete the values rows hold for it')
    .action(
      action(async (name: string, o: { kind: 'pool'; force?: boolean }, cmd: Command) => {
        await runEdit(cmd, { action: 'field.remove', input: defined({ kind: o.kind, name, force: o.force }) as { kind: 'pool'; name: string } }, (f: FieldDto & { valuesRemoved: number }) =>
          `removed ${f.kind} field ${f.name}${f.valuesRemoved ? ` and its value on ${f.valuesRemoved} row(s)` : ''}`
        )
      })
    )
  return field
}

/** `k=v` options collected into a record (repeatable); `k=` clears the field. */
export function collectField(v: string, prev: Record<string, string | null> = {}): Record<string, string | null> {
  const i = v.indexOf('=')
  if (i <= 0) throw new InvalidArgumentError(`"${v}" is not name=value`)
  return { ...prev, [v.slice(0, i).trim()]: v.slice(i + 1) === '' ? null : v.slice(i + 1) }
}

/** A repeatable option's values collected into a list (commas split too). */
export const collectList = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').map((x) => x.trim()).filter(Boolean)]

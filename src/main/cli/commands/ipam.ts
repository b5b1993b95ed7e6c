/** `netkeeper pool ...`, `netkeeper ip ...`, `netkeeper ipam stats` (and `ipam usage`, in usage.ts). */
import { Command, InvalidArgumentError, Option } from 'commander'
import type { AllocationDto, Page, PoolDto } from '../../../shared/ipam'
import { action, cliContext, emit, table, UsageError, withCore, withCoreOrQueue, withCoreOrStale, rememberRead } from '../runtime'
import { addPoolTreeCommands, calcCommand } from './pool-tree'

/** The last-known snapshot readers, loaded only when the server is unreachable. */
const staleReads = () => import('../../core/offline/stale')
import { confirmRemoval } from '../terminal'
import { usageCommand } from './usage'
import { collectField, collectList } from './objects'

/** How a pool's VLAN reads: the bare VID in the default group, else GROUP/VID. */
const vlanText = (p: PoolDto): string => (p.vlan ? (p.vlan.group === 'default' ? String(p.vlan.vid) : `${p.vlan.group}/${p.vlan.vid}`) : p.vlanId != null ? String(p.vlanId) : '')
const fieldsText = (f: Record<string, unknown> | undefined): string =>
  Object.entries(f ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ')
import { ipamExportCommand } from './ipam-csv'

const int = (name: string) => (v: string): number => {
  if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number`)
  return Number(v)
}

function poolLine(p: PoolDto): Record<string, unknown> {
  const u = p.utilization
  return {
    name: p.name,
    network: p.network,
    gateway: p.gateway ?? '',
    vlan: vlanText(p),
    site: p.site ?? '',
    tags: (p.tags ?? []).map((t) => t.name).join(','),
    env: p.environment ?? '',
    used: `${u.allocated + u.reserved + u.blocked}/${u.usable}`,
    util: `${u.percent.toFixed(2)}%`,
    active: p.isActive ? 'yes' : 'no'
  }
}

/** "10.0.0.53, 10.0.0.54" (commas and/or spaces) -> the list; "" -> none. The core checks each entry. */
const dnsList = (v: string): string[] => v.split(/[\s,]+/).filter(Boolean)

function poolText(p: PoolDto): string {
  const u = p.utilization
  return [
    `pool ${p.name} (#${p.id})`,
    `  network:     ${p.network}`,
    `  space:       ${p.spaceName ?? 'default'}`,
    `  parent:      ${p.parentName ?? '-'}${p.children ? `; ${p.children} child pool(s)` : ''}`,
    `  gateway:     ${p.gateway ?? '-'}`,
    `  dns:         ${p.dnsServers.length ? p.dnsServers.join(', ') : '-'}`,
    `  vlan:        ${p.vlan ? `${p.vlan.group}/${p.vlan.vid} ${p.vlan.name} (${p.vlan.status})` : (p.vlanId ?? '-')}`,
    `  site:        ${p.site ?? '-'}`,
    `  environment: ${p.environment ?? '-'}`,
    `  active:      ${p.isActive ? 'yes' : 'no'}`,
    `  description: ${p.description ?? '-'}`,
    `  tags:        ${(p.tags ?? []).map((t) => t.name).join(', ') || '-'}`,
    `  fields:      ${fieldsText(p.customFields) || '-'}`,
    `  usable ${u.usable}, allocated ${u.allocated}, reserved ${u.reserved}, blocked ${u.blocked}, free ${u.free} (${u.percent.toFixed(2)}% used)`,
    ...(p.rollup
      ? [`  subtree: ${p.rollup.descendants} pool(s), ${p.rollup.assignedPercent.toFixed(2)}% assigned to children, ${p.rollup.used} of ${p.rollup.size} addresses used (${p.rollup.percent.toFixed(2)}%)`]
      : [])
  ].join('\n')
}

function allocLine(a: AllocationDto): Record<string, unknown> {
  return {
    ip: a.ip,
    status: a.expired ? 'reserved (lapsed)' : a.status,
    pool: a.poolName,
    space: a.spaceName ?? '',
    hostname: a.hostname ?? '',
    mac: a.mac ?? '',
    owner: a.owner ?? '',
    version: a.version
  }
}

const allocCols = ['ip', 'status', 'pool', 'space', 'hostname', 'mac', 'owner', 'version']

/** `verb`: the command's own word for the change ("allocated"), which then stands for the status it gave. */
function allocText(a: AllocationDto, verb?: string): string {
  const managed = [a.dnsManaged ? 'DNS' : '', a.dhcpManaged ? 'DHCP' : ''].filter(Boolean).join(', ')
  return [
    `${verb ? `${verb} ${a.ip}` : `${a.ip} ${a.status}`}${a.expired ? ' (hold lapsed: counts as free)' : ''} in pool ${a.poolName}${a.spaceName && a.spaceName !== 'default' ? ` (space ${a.spaceName})` : ''}`,
    `  hostname:    ${a.hostname ?? '-'}`,
    `  mac:         ${a.mac ?? '-'}`,
    `  owner:       ${a.owner ?? '-'}${a.ownerDn ? ` (${a.ownerDn})` : ''}`,
    `  purpose:     ${a.purpose ?? '-'}`,
    `  description: ${a.description ?? '-'}`,
    a.reservedUntil ? `  held until:  ${a.reservedUntil}` : '',
    managed ? `  follows:     ${managed} (\`netkeeper ip show ${a.ip}\` shows the records' state)` : '',
    a.tags?.length ? `  tags:        ${a.tags.join(', ')}` : '',
    Object.keys(a.customFields ?? {}).length ? `  fields:      ${fieldsText(a.customFields)}` : '',
    `  by ${a.allocatedBy ?? '-'} at ${a.createdAt}, version ${a.version}`
  ]
    .filter(Boolean)
    .join('\n')
}

/** Options shared by allocate/reserve/block/update: what describes an address. */
function describeOptions(c: Command): Command {
  return c
    .option('--hostname <name>', 'host name (RFC 1123)')
    .option('--mac <mac>', 'MAC address in any common form')
    .option('--owner <owner>', 'who is responsible for it')
    .option('--owner-dn <dn>', 'the owner as a directory person (their DN; --owner then holds their name; "" clears it)')
    .option('--purpose <purpose>', 'what it is for')
    .option('--description <text>', 'free text')
    .option('--dns-managed', 'DNS is managed for it')
    .option('--dhcp-managed', 'DHCP is managed for it')
}

interface DescribeOpts {
  hostname?: string
  mac?: string
  owner?: string
  ownerDn?: string
  purpose?: string
  description?: string
  dnsManaged?: boolean
  dhcpManaged?: boolean
}

/** Drops absent options, so a queued edit stores only what was given. */
function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

const describeFields = (o: DescribeOpts) => ({
  hostname: o.hostname,
  mac: o.mac,
  owner: o.owner,
  ownerDn: o.ownerDn,
  purpose: o.purpose,
  description: o.description,
  dnsManaged: o.dnsManaged,
  dhcpManaged: o.dhcpManaged
})

export function poolCommand(): Command {
  const pool = new Command('pool').description('IP pools')

  pool
    .command('create')
    .description('create a pool')
    .requiredOption('--name <name>', 'unique name')
    .requiredOption('--network <cidr>', 'network in canonical CIDR form, e.g. 10.1.2.0/24 or 2001:db8::/64')
    .option('--gateway <ip>', 'gateway address inside the network')
    .option('--dns <ips>', 'DNS servers, comma-separated, in order of preference (at most 8)')
    .option('--vlan <group/vid>', 'the VLAN object, GROUP/VID (a bare VID: the "default" group); see `netkeeper vlan`')
    .option('--site <name>', 'the site object; see `netkeeper site`')
    .option('--tag <tag>', 'a tag (repeatable, or comma-separated)', collectList)
    .option('--set-field <name=value>', 'a custom field value (repeatable)', collectField)
    .option('--environment <env>', 'environment, e.g. production or lab')
    .option('--description <text>', 'free text')
    .option('--inactive', 'create it inactive (no allocations until activated)')
    .option('--space <space>', 'address space (name or id); the default space when absent')
    .option('--parent <pool>', 'the container this pool is carved from; what the container held inside it moves into the new pool')
    .action(
      action(async (o: { name: string; network: string; gateway?: string; dns?: string; vlan?: string; site?: string; tag?: string[]; setField?: Record<string, string | null>; environment?: string; description?: string; inactive?: boolean; space?: string; parent?: string }, cmd: Command) => {
        const input = {
          ...(o.space !== undefined ? { space: o.space } : {}),
          ...(o.parent !== undefined ? { parent: o.parent } : {}),
          name: o.name,
          network: o.network,
          gateway: o.gateway,
          ...(o.dns !== undefined ? { dnsServers: dnsList(o.dns) } : {}),
          ...(o.vlan !== undefined ? { vlan: o.vlan } : {}),
          ...(o.site !== undefined ? { siteRef: o.site } : {}),
          ...(o.tag !== undefined ? { tags: o.tag } : {}),
          ...(o.setField !== undefined ? { customFields: o.setField } : {}),
          environment: o.environment,
          description: o.description,
          isActive: !o.inactive
        }
        await withCoreOrQueue(cmd, { operation: 'ipam.pool.create', args: input }, async (core) => {
          const p = await core.ipam.createPool(cliContext(), input)
          emit(cmd, p, () => `created ${poolText(p)}`)
        })
      })
    )

  pool
    .command('list')
    .description('list pools with their utilization')
    .option('--site <site>', 'only pools of this site')
    .option('--environment <env>', 'only pools of this environment')
    .option('--vlan <group/vid>', 'only pools on this VLAN (GROUP/VID; a bare VID: the "default" group)')
    .option('--vlan-group <group>', 'only pools on a VLAN of this VLAN group (name or id)')
    .option('--vid <vid>', 'only pools on a VLAN with this VID (in any group; with --vlan-group, in that one)', int('--vid'))
    .option('--space <space>', 'only pools of this address space (name or id)')
    .option('--tag <tag>', 'only pools carrying this tag (repeatable: all of them)', collectList)
    .option('--field <name=value>', 'only pools whose custom field holds this value (repeatable)', collectField)
    .addOption(new Option('--active <yes|no>', 'only active or inactive pools').choices(['yes', 'no']))
    .option('--search <text>', 'text in name, description, site or network; or an address the pool contains')
    .addOption(new Option('--sort <field>', 'order by').choices(['name', 'network', 'site', 'environment', 'vlan', 'created', 'utilization']).default('name'))
    .option('--sort-field <name>', 'order by this custom field instead (rows without a value last)')
    .addOption(new Option('--order <dir>', 'ascending or descending').choices(['asc', 'desc']).default('asc'))
    .option('--page <n>', 'page number', int('--page'), 1)
    .option('--page-size <n>', 'rows per page (max 500)', int('--page-size'), 50)
    .action(
      action(async (o: { site?: string; environment?: string; vlan?: string; vlanGroup?: string; vid?: number; space?: string; tag?: string[]; field?: Record<string, string | null>; active?: 'yes' | 'no'; search?: string; sort: 'name'; sortField?: string; order: 'asc' | 'desc'; page: number; pageSize: number }, cmd: Command) => {
        const input = {
          site: o.site,
          environment: o.environment,
          ...(o.vlan !== undefined ? { vlan: o.vlan } : {}),
          ...(o.vlanGroup !== undefined ? { vlanGroup: o.vlanGroup } : {}),
          ...(o.vid !== undefined ? { vlanId: o.vid } : {}),
          ...(o.space !== undefined ? { space: o.space } : {}),
          ...(o.tag !== undefined ? { tags: o.tag } : {}),
          ...(o.field !== undefined ? { fields: Object.fromEntries(Object.entries(o.field).map(([k, v]) => [k, v ?? ''])) } : {}),
          active: o.active === undefined ? undefined : o.active === 'yes',
          search: o.search,
          sort: o.sort,
          ...(o.sortField !== undefined ? { sortField: o.sortField } : {}),
          order: o.order,
          page: o.page,
          pageSize: o.pageSize
        }
        const show = (r: Page<PoolDto>): void =>
          emit(cmd, r, () => `${table(r.items.map(poolLine), ['name', 'network', 'gateway', 'vlan', 'site', 'env', 'tags', 'used', 'util', 'active'])}\n(page ${r.page}, ${r.items.length} of ${r.total})`)
        await withCoreOrStale(
          cmd,
          async (core) => {
            const r = await core.ipam.listPools(cliContext(), input)
            show(r)
            // What was read is remembered as last known, for reads while the server is unreachable.
            await rememberRead(cmd, core.db.target.label, 'pool list', r.items, (q) => q.snapshot(core.db.target.label).rememberPools(r.items))
          },
          async (q, why) => show((await staleReads()).stalePoolList(q, input, why))
        )
      })
    )

  pool
    .command('show <pool>')
    .description('show a pool (by name or id) and its allocations')
    .option('--limit <n>', 'allocations to list', int('--limit'), 100)
    .action(
      action(async (ref: string, o: { limit: number }, cmd: Command) => {
        const show = (p: PoolDto, allocs: Page<AllocationDto>): void =>
          emit(cmd, { ...p, allocations: allocs }, () => `${poolText(p)}\n\n${table(allocs.items.map(allocLine), allocCols)}${allocs.total > allocs.items.length ? `\n(${allocs.items.length} of ${allocs.total})` : ''}`)
        await withCoreOrStale(
          cmd,
          async (core) => {
            const p = await core.ipam.getPool(cliContext(), ref)
            const allocs = await core.ipam.listAllocations(cliContext(), p.id, { pageSize: o.limit })
            show(p, allocs)
            const complete = allocs.total <= allocs.items.length
            await rememberRead(cmd, core.db.target.label, `pool show ${p.id}`, { p, allocs }, (q) => {
              const snap = q.snapshot(core.db.target.label)
              snap.rememberPools([p], complete ? new Map([[p.name, allocs.items]]) : undefined)
              if (!complete) snap.rememberAllocations(allocs.items)
            })
          },
          async (q, why) => {
            const { stalePool, staleAllocations } = await staleReads()
            const p = stalePool(q, ref, why)
            show(p, staleAllocations(q, p.id, { pageSize: o.limit }, why))
          }
        )
      })
    )

  pool
    .command('update <pool>')
    .description('change a pool; a network change is refused unless every allocation still fits')
    .option('--name <name>', 'new name')
    .option('--network <cidr>', 'new network (every address it holds must stay inside)')
    .option('--gateway <ip>', 'new gateway ("" to clear)')
    .option('--dns <ips>', 'DNS servers, comma-separated, replacing the list ("" to clear)')
    .option('--vlan <group/vid>', 'the VLAN object, GROUP/VID (a bare VID: the "default" group)')
    .option('--no-vlan', 'clear the VLAN')
    .option('--site <name>', 'the site object ("" to clear)')
    .option('--set-field <name=value>', 'set a custom field (repeatable; name= clears it)', collectField)
    .option('--environment <env>', 'new environment')
    .option('--description <text>', 'new description')
    .addOption(new Option('--active <yes|no>', 'switch the pool on or off').choices(['yes', 'no']))
    .action(
      action(async (ref: string, o: { name?: string; network?: string; gateway?: string; dns?: string; vlan?: string | false; site?: string; setField?: Record<string, string | null>; environment?: string; description?: string; active?: 'yes' | 'no' }, cmd: Command) => {
        {
          const changes = {
            ...(o.name !== undefined ? { name: o.name } : {}),
            ...(o.network !== undefined ? { network: o.network } : {}),
            ...(o.gateway !== undefined ? { gateway: o.gateway || null } : {}),
            ...(o.dns !== undefined ? { dnsServers: dnsList(o.dns) } : {}),
            ...(o.vlan === false ? { vlan: null } : o.vlan !== undefined ? { vlan: o.vlan } : {}),
            ...(o.site !== undefined ? { siteRef: o.site || null } : {}),
            ...(o.setField !== undefined ? { customFields: o.setField } : {}),
            ...(o.environment !== undefined ? { environment: o.environment } : {}),
            ...(o.description !== undefined ? { description: o.description } : {}),
            ...(o.active !== undefined ? { isActive: o.active === 'yes' } : {})
          }
          if (!Object.keys(changes).length) throw new UsageError('nothing to change: give at least one option (see --help)')
          await withCoreOrQueue(cmd, { operation: 'ipam.pool.update', args: { pool: ref, changes } }, async (core) => {
            const p = await core.ipam.updatePool(cliContext(), ref, changes)
            emit(cmd, p, () => `updated ${poolText(p)}`)
          })
        }
      })
    )

  pool
    .command('delete <pool>')
    .description('delete a pool; refused while it holds allocations unless --force; asks first on a terminal')
    .option('--force', 'delete its allocations with it')
    .option('-y, --yes', 'do not ask first (needed without a terminal)')
    .action(
      action(async (ref: string, o: { force?: boolean; yes?: boolean }, cmd: Command) => {
        await withCoreOrQueue(
          cmd,
          { operation: 'ipam.pool.delete', args: { pool: ref, ...(o.force ? { force: true } : {}) } },
          async (core) => {
            const p = await core.ipam.getPool(cliContext(), ref)
            const held = (await core.ipam.listAllocations(cliContext(), ref, { page: 1, pageSize: 1 })).total
            // Without --force a pool that holds addresses is refused below: nothing to ask about.
            if (!held || o.force) {
              await confirmRemoval('pool delete', [`pool ${p.name} (${p.network})`, ...(held ? [`its ${held} address record(s) (allocated, reserved or blocked)`] : [])], o.yes)
            }
            const r = await core.ipam.deletePool(cliContext(), ref, { force: o.force })
            emit(cmd, r, () => `deleted pool ${r.pool.name} (${r.pool.network})${r.allocationsRemoved ? ` and its ${r.allocationsRemoved} allocation(s)` : ''}`)
          },
          () => confirmRemoval('pool delete (queued until the database is back)', [`pool ${ref}${o.force ? ', with every address recorded in it' : ''}`], o.yes)
        )
      })
    )
  for (const remove of [false, true]) {
    pool
      .command(`${remove ? 'untag' : 'tag'} <pool> <tags...>`)
      .description(remove ? 'take tags off a pool' : 'put tags on a pool (see `netkeeper tag`)')
      .action(
        action(async (ref: string, tags: string[], _o: unknown, cmd: Command) => {
          const edit = { action: 'pool.tag' as const, input: { pool: ref, tags }, remove }
          await withCoreOrQueue(cmd, { operation: 'ipam.object', args: edit }, async (core) => {
            const r = await core.ipam.tagPool(cliContext(), edit.input, remove)
            emit(cmd, r, () => `pool ${ref} tags: ${r.map((t) => t.name).join(', ') || '(none)'}`)
          })
        })
      )
  }
  addPoolTreeCommands(pool)
  return pool
}

export function ipCommand(): Command {
  const ip = new Command('ip').description('addresses: allocate, reserve, block, update, release, show, search')

  const addTarget = (c: Command, withCount: boolean): Command => {
    c.requiredOption('--pool <pool>', 'pool name or id')
      .option('--ip <ip>', 'a specific address')
      .option('--next', 'the lowest free address')
      .option('--force', 'allocate an explicit address even inside a dhcp range')
    if (withCount) c.option('--count <n>', 'with --next: this many addresses in one call', int('--count'))
    return c
  }

  const run = (status: 'allocated' | 'reserved' | 'blocked') =>
    action(async (o: DescribeOpts & { pool: string; ip?: string; next?: boolean; count?: number; until?: string; force?: boolean }, cmd: Command) => {
      if (!o.ip && !o.next) throw new UsageError('give --ip IP or --next')
      if (o.ip && o.next) throw new UsageError('give --ip or --next, not both')
      if (o.count !== undefined && !o.next) throw new UsageError('--count goes with --next')
      const input = stripUndefined({ pool: o.pool, ip: o.ip, next: o.next, count: o.count, status, until: o.until, force: o.force || undefined, ...describeFields(o) })
      await withCoreOrQueue(cmd, { operation: 'ipam.allocate', args: input }, async (core) => {
        const r = await core.ipam.allocate(cliContext(), input)
        emit(cmd, r, () => (r.length === 1 ? allocText(r[0]!, status) : `${status} ${r.length} addresses:\n${table(r.map(allocLine), allocCols)}`))
      })
    })

  describeOptions(addTarget(ip.command('allocate').description('allocate an address, the next free one, or the next N'), true)).action(run('allocated'))
  describeOptions(addTarget(ip.command('reserve').description('reserve an address, optionally until a time'), false))
    .option('--until <iso-time>', 'the hold lapses then, and the address counts as free')
    .action(run('reserved'))
  describeOptions(
    ip.command('block').description('block an address so it is never handed out').requiredOption('--pool <pool>', 'pool name or id').requiredOption('--ip <ip>', 'the address to block').option('--force', 'even inside a dhcp range')
  ).action(run('blocked'))

  describeOptions(ip.command('update <ip>').description('change what is recorded for an address'))
    .addOption(new Option('--status <status>', 'new status').choices(['allocated', 'reserved', 'blocked']))
    .option('--until <iso-time>', 'for reservations: when the hold lapses ("" to clear)')
    .option('--if-version <n>', 'refuse if the row changed since this version (optimistic check)', int('--if-version'))
    .option('--space <space>', 'the address space, when the address is held in more than one')
    .option('--set-field <name=value>', 'set a custom field (repeatable; name= clears it)', collectField)
    .action(
      action(async (addr: string, o: DescribeOpts & { status?: 'allocated'; until?: string; ifVersion?: number; space?: string; setField?: Record<string, string | null> }, cmd: Command) => {
        const input = stripUndefined({ ip: addr, space: o.space, status: o.status, until: o.until, version: o.ifVersion, ...describeFields(o), customFields: o.setField })
        await withCoreOrQueue(cmd, { operation: 'ipam.update', args: input }, async (core) => {
          const r = await core.ipam.updateAllocation(cliContext(), input)
          emit(cmd, r, () => `updated ${allocText(r)}`)
        })
      })
    )

  for (const remove of [false, true]) {
    ip.command(`${remove ? 'untag' : 'tag'} <ip> <tags...>`)
      .description(remove ? 'take tags off an address' : 'put tags on an address (see `netkeeper tag`)')
      .option('--space <space>', 'the address space, when the address is held in more than one')
      .action(
        action(async (addr: string, tags: string[], o: { space?: string }, cmd: Command) => {
          const input = stripUndefined({ ips: [addr], tags, space: o.space })
          await withCoreOrQueue(cmd, { operation: 'ipam.ip.tag', args: { input, remove } }, async (core) => {
            const r = await core.ipam.tagAllocations(cliContext(), input, remove)
            emit(cmd, r, () => (r.changed.length ? `${remove ? 'untagged' : 'tagged'} ${r.changed.join(', ')}` : 'nothing changed'))
          })
        })
      )
  }

  ip.command('bulk-edit')
    .description('one change to many addresses of a pool: one request, one transaction; nothing changes if any address fails')
    .requiredOption('--pool <pool>', 'pool name or id')
    .requiredOption('--ips <list>', 'the addresses, comma-separated (repeatable)', collectList)
    .addOption(new Option('--status <status>', 'new status').choices(['allocated', 'reserved', 'blocked']))
    .option('--owner <owner>', 'new owner ("" clears it)')
    .option('--description <text>', 'new description ("" clears it)')
    .option('--add-tag <tag>', 'add a tag (repeatable)', collectList)
    .option('--remove-tag <tag>', 'remove a tag (repeatable)', collectList)
    .option('--set-field <name=value>', 'set a custom field (repeatable; name= clears it)', collectField)
    .action(
      action(
        async (
          o: { pool: string; ips: string[]; status?: 'allocated'; owner?: string; description?: string; addTag?: string[]; removeTag?: string[]; setField?: Record<string, string | null> },
          cmd: Command
        ) => {
          const set = stripUndefined({ status: o.status, owner: o.owner, description: o.description, addTags: o.addTag, removeTags: o.removeTag, fields: o.setField })
          if (!Object.keys(set).length) throw new UsageError('nothing to change: give --status, --owner, --description, --add-tag, --remove-tag or --set-field')
          const input = { pool: o.pool, ips: o.ips, set }
          await withCoreOrQueue(cmd, { operation: 'ipam.bulkEdit', args: input }, async (core) => {
            const r = await core.ipam.bulkEdit(cliContext(), input)
            emit(cmd, r, () => `changed ${r.items.length} address(es) of pool ${r.pool}${r.unchanged.length ? `; ${r.unchanged.length} already as asked` : ''}`)
          })
        }
      )
    )

  ip.command('release <ip>')
    .description('free an address (the audit log keeps who held it)')
    .option('--if-version <n>', 'refuse if the row changed since this version (optimistic check)', int('--if-version'))
    .option('--space <space>', 'the address space, when the address is held in more than one')
    .action(
      action(async (addr: string, o: { ifVersion?: number; space?: string }, cmd: Command) => {
        await withCoreOrQueue(cmd, { operation: 'ipam.release', args: stripUndefined({ ip: addr, version: o.ifVersion, space: o.space }) }, async (core) => {
          const r = await core.ipam.release(cliContext(), addr, { version: o.ifVersion, space: o.space })
          emit(cmd, { released: r }, () => `released ${r.ip} (was ${r.status} to ${r.hostname ?? r.owner ?? r.allocatedBy ?? 'unknown'})`)
        })
      })
    )

  for (const status of ['reserved', 'blocked'] as const) {
    ip.command(status === 'reserved' ? 'reserve-range' : 'block-range')
      .description(`${status === 'reserved' ? 'reserve' : 'block'} every free address from --first to --last, in one transaction`)
      .requiredOption('--pool <pool>', 'pool name or id')
      .requiredOption('--first <ip>', 'first address of the run')
      .requiredOption('--last <ip>', 'last address of the run')
      .option('--owner <owner>', 'who is responsible for the addresses')
      .option('--purpose <purpose>', 'what they are for')
      .option('--description <text>', 'free text')
      .option('--force', 'also inside dhcp ranges')
      .option(...((status === 'reserved' ? ['--until <iso-time>', 'the holds lapse then'] : ['--until <iso-time>', '(reservations only)']) as [string, string]))
      .action(
        action(async (o: { pool: string; first: string; last: string; owner?: string; purpose?: string; description?: string; force?: boolean; until?: string }, cmd: Command) => {
          const input = stripUndefined({ pool: o.pool, first: o.first, last: o.last, status, owner: o.owner, purpose: o.purpose, description: o.description, force: o.force || undefined, until: o.until })
          await withCoreOrQueue(cmd, { operation: 'ipam.holdRange', args: input }, async (core) => {
            const r = await core.ipam.holdRange(cliContext(), input)
            emit(cmd, r, () => `${status} ${r.items.length} address(es) in pool ${r.pool}${r.skipped.length ? `; left alone ${r.skipped.length}, e.g. ${r.skipped[0]!.ip} (${r.skipped[0]!.reason})` : ''}`)
          })
        })
      )
  }

  ip.command('release-range')
    .description('release every allocation of a pool from --first to --last (optionally only one status), in one transaction')
    .requiredOption('--pool <pool>', 'pool name or id')
    .requiredOption('--first <ip>', 'first address of the run')
    .requiredOption('--last <ip>', 'last address of the run')
    .addOption(new Option('--status <status>', 'release only addresses in this state').choices(['allocated', 'reserved', 'blocked']))
    .action(
      action(async (o: { pool: string; first: string; last: string; status?: 'allocated' | 'reserved' | 'blocked' }, cmd: Command) => {
        const input = stripUndefined({ pool: o.pool, first: o.first, last: o.last, status: o.status })
        await withCoreOrQueue(cmd, { operation: 'ipam.releaseMany', args: input }, async (core) => {
          const r = await core.ipam.releaseMany(cliContext(), input)
          emit(cmd, r, () => `released ${r.items.length} address(es) in pool ${r.pool}`)
        })
      })
    )

  ip.command('show <ip>')
    .description('show an address')
    .option('--space <space>', 'the address space, when the address is held in more than one')
    .action(
      action(async (addr: string, o: { space?: string }, cmd: Command) => {
        await withCoreOrStale(
          cmd,
          async (core) => {
            const r = await core.ipam.getAllocation(cliContext(), addr, o.space)
            await core.load('dns')
            const dns = await core.dns.allocationDns(r.id)
            const last = dns.effects[0]
            emit(cmd, { ...r, dns }, () =>
              [
                allocText(r),
                ...(dns.names.length || dns.ptr ? [`dns:     ${[...dns.names, ...(dns.ptr ? [`PTR ${dns.ptr}`] : [])].join(', ')}${last ? ` (${last.state}${last.message ? `: ${last.message}` : ''})` : ''}`] : [])
              ].join('\n')
            )
          },
          async (q, why) => {
            const r = (await staleReads()).staleAllocation(q, addr, why)
            emit(cmd, r, () => allocText(r))
          }
        )
      })
    )

  ip.command('search <query>')
    .description('find addresses by IP, CIDR (every address inside), MAC (any form), hostname prefix or owner')
    .addOption(new Option('--kind <kind>', 'how to read the query').choices(['auto', 'ip', 'cidr', 'hostname', 'mac', 'owner']).default('auto'))
    .option('--page <n>', 'page', int('--page'), 1)
    .option('--page-size <n>', 'rows per page (max 500)', int('--page-size'), 50)
    .action(
      action(async (query: string, o: { kind: 'auto'; page: number; pageSize: number }, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const r = await core.ipam.search(cliContext(), { query, kind: o.kind, page: o.page, pageSize: o.pageSize })
          emit(cmd, r, () => `${table(r.items.map(allocLine), allocCols)}\n(${r.kind} search: ${r.items.length} of ${r.total})`)
        })
      })
    )
  return ip
}

export function ipamCommand(): Command {
  const ipam = new Command('ipam').description('IPAM overview')
  ipam.addCommand(calcCommand())
  ipam
    .command('stats')
    .description('totals, per site and environment, most utilized pools')
    .action(
      action(async (_o: object, cmd: Command) => {
        await withCore(cmd, { migrate: true }, async (core) => {
          const s = await core.ipam.stats(cliContext())
          emit(cmd, s, () =>
            [
              `pools: ${s.pools} (${s.activePools} active)`,
              `addresses: ${s.allocations.allocated} allocated, ${s.allocations.reserved} reserved, ${s.allocations.blocked} blocked`,
              '',
              'by site:',
              table(s.bySite.map((x) => ({ site: x.site ?? '(none)', pools: x.pools, allocated: x.allocated, util: `${x.percent}%` })), ['site', 'pools', 'allocated', 'util']),
              '',
              'by environment:',
              table(s.byEnvironment.map((x) => ({ environment: x.environment ?? '(none)', pools: x.pools, allocated: x.allocated, util: `${x.percent}%` })), ['environment', 'pools', 'allocated', 'util']),
              '',
              'most utilized:',
              table(s.mostUtilized.map((x) => ({ name: x.name, network: x.network, used: `${x.used}/${x.usable}`, util: `${x.percent}%` })), ['name', 'network', 'used', 'util'])
            ].join('\n')
          )
        })
      })
    )
  ipam.addCommand(usageCommand())
  ipam.addCommand(ipamExportCommand())
  return ipam
}

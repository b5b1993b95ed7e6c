/**
 * The IPAM room's context menus: on an allocation (a row, a search result, a map cell), on a pool (a row,
 * the pool page's network) and on a free address of the map. Copy, open, show audit history, allocate here,
 * copy the netkeeper:// link; the callers hand in what "open" and "allocate" mean where they are.
 */
import type { AllocationDto, PoolDto } from '@shared/ipam'
import { formatLink } from '@shared/links'
import { useAuditStore } from '@renderer/features/audit'
import { useNavigationStore, useNoticesStore } from '@renderer/features/shell'
import { copyItem, menu, showContextMenu, type MenuItem } from '@renderer/ui/contextMenu'

export function useIpamMenus() {
  const notices = useNoticesStore()
  const audit = useAuditStore()
  const nav = useNavigationStore()

  const copied = notices.notifyCopied
  const copy = (what: string, value: string | null | undefined): MenuItem | null => copyItem(what, value, copied)

  function history(resourceType: string, resource: string): MenuItem {
    return {
      label: 'Show audit history',
      separator: true,
      action: () => {
        audit.showFor({ resourceType, resource })
        nav.go('audit')
      }
    }
  }

  function allocation(e: MouseEvent | KeyboardEvent, a: AllocationDto, acts: { open?: () => void; openPool?: () => void }): void {
    showContextMenu(
      e,
      menu(
        copy('address', a.ip),
        copy('host name', a.hostname),
        copy('MAC address', a.mac),
        copy('owner', a.owner),
        copy('link', formatLink({ kind: 'ip', address: a.ip })),
        acts.open && { label: 'Open address…', separator: true, action: acts.open },
        acts.openPool && { label: `Open pool ${a.poolName}`, action: acts.openPool },
        history('ip_allocation', a.ip)
      ),
      `Address ${a.ip}`
    )
  }

  function pool(e: MouseEvent | KeyboardEvent, p: Pick<PoolDto, 'name' | 'network' | 'gateway' | 'family' | 'isActive'>, acts: { open?: () => void; allocate?: () => void }): void {
    showContextMenu(
      e,
      menu(
        copy('name', p.name),
        copy('prefix', p.network),
        copy('gateway', p.gateway),
        copy('link', formatLink({ kind: 'pool', name: p.name })),
        acts.open && { label: 'Open pool', separator: true, action: acts.open },
        acts.allocate && p.family === 4 && { label: 'Allocate here…', disabled: !p.isActive, action: acts.allocate },
        history('ip_pool', p.name)
      ),
      `Pool ${p.name}`
    )
  }

  /** A free (or special) address of the map. */
  function address(e: MouseEvent | KeyboardEvent, ip: string, acts: { allocate?: () => void }): void {
    showContextMenu(
      e,
      menu(copy('address', ip), copy('link', formatLink({ kind: 'ip', address: ip })), acts.allocate && { label: 'Allocate here…', separator: true, action: acts.allocate }, history('ip_allocation', ip)),
      `Address ${ip}`
    )
  }

  return { allocation, pool, address, copied }
}

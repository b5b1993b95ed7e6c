/**
 * Opens what the palette found, what a netkeeper:// link names, or what a context menu points at, in the
 * room that shows it: a pool or an address (IPAM), a user or a group (Directory), an audit entry or request.
 */
import { parseLink, type AppLink } from '@shared/links'
import type { PaletteItem } from '@shared/palette'
import { AppError } from '@shared/errors'
import { api } from '@renderer/api'
import { userMessage } from '@renderer/lib/errors'
import { useAuditStore } from '@renderer/features/audit'
import { useDirectoryFocusStore } from '@renderer/features/directory'
import { usePoolsStore } from '@renderer/features/ipam'
import { useNavigationStore, useNoticesStore } from '@renderer/features/shell'

export function useOpener() {
  const nav = useNavigationStore()
  const pools = usePoolsStore()
  const focus = useDirectoryFocusStore()
  const audit = useAuditStore()
  const notices = useNoticesStore()

  function openPool(id: number): void {
    pools.openPool(id)
    nav.go('ipam')
  }

  /** An address: its allocation in its pool's dialog; a free address: the pool it lies in. */
  async function openAddress(ip: string, poolId?: number): Promise<void> {
    if (poolId === undefined) {
      try {
        poolId = (await api['ipam:allocation:get']({ ip })).poolId
      } catch (e) {
        if (!(e instanceof AppError && e.code === 'NOT_FOUND')) throw e
        const around = await api['ipam:pool:list']({ search: ip, pageSize: 1 })
        const p = around.items[0]
        if (!p) throw new AppError('NOT_FOUND', `${ip} is not allocated and lies in no pool`)
        notices.notify(`${ip} is not allocated; it lies in ${p.name} (${p.network}).`)
        openPool(p.id)
        return
      }
    }
    pools.openAddress(poolId, ip)
    nav.go('ipam')
  }

  function openUser(uid: string): void {
    focus.openUser(uid)
    nav.go('directory')
  }

  function openGroup(cn: string): void {
    focus.openGroup(cn)
    nav.go('directory')
  }

  function openAudit(seq: string): void {
    audit.openSeq(seq)
    nav.go('audit')
  }

  function showRequest(id: string): void {
    nav.go('audit')
    void audit.showRequest(id)
  }

  /** The audit history of one resource (a pool by name, an address, a user, a group). */
  function showHistory(resourceType: string, resource: string): void {
    audit.showFor({ resourceType, resource })
    nav.go('audit')
  }

  async function openItem(item: PaletteItem): Promise<void> {
    switch (item.kind) {
      case 'pool':
        return openPool(Number(item.key))
      case 'address':
        return openAddress(item.key, item.poolId)
      case 'user':
        return openUser(item.key)
      case 'group':
        return openGroup(item.key)
      case 'audit':
        return openAudit(item.key)
    }
  }

  async function openParsed(l: AppLink): Promise<void> {
    switch (l.kind) {
      case 'pool': {
        const p = await api['ipam:pool:get']({ pool: /^\d+$/.test(l.name) ? Number(l.name) : l.name })
        return openPool(p.id)
      }
      case 'ip':
        return openAddress(l.address)
      case 'user':
        return openUser(l.uid)
      case 'group':
        return openGroup(l.cn)
      case 'audit':
        return openAudit(l.seq)
      case 'request':
        return showRequest(l.id)
    }
  }

  /** A netkeeper:// link; a malformed or dangling one is reported, never thrown. */
  async function openLink(link: string): Promise<boolean> {
    const l = parseLink(link)
    if (!l) {
      notices.notify(`Not a Netkeeper link: ${link.slice(0, 200)}`, 'warn')
      return false
    }
    try {
      await openParsed(l)
      return true
    } catch (e) {
      notices.notify(`${link}: ${userMessage(e)}`, 'bad')
      return false
    }
  }

  return { openItem, openLink, openPool, openAddress, openUser, openGroup, openAudit, showRequest, showHistory }
}

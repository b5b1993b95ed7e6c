/**
 * People and their addresses: the directory person an allocation belongs to (ip_allocations.owner_dn), the
 * addresses a person holds, and what happens to them when the person goes. Between the directory room and
 * the IPAM room, so neither imports the other: the Core wires it (core/index.ts).
 *
 * Locking or deleting a person offers to release their addresses or hand them over to another person; both
 * happen in the same request (one request id across the directory's and IPAM's audit rows), directory
 * first: an address is never released for a person who is still there. A renamed person's DN is rewritten
 * on their allocations (users.ts calls back after a rename).
 */
import { AppError } from '../../shared/errors'
import { ADDRESS_CHOICES, type AddressChoice, type PersonAddressesDto, type RetireResultDto } from '../../shared/directory-admin'
import type { DirectoryService } from './directory/service'
import type { DirectoryScope } from './directory/scope'
import type { IpamService } from './ipam/service'

export { ADDRESS_CHOICES, type AddressChoice }
export type PersonAddresses = PersonAddressesDto
export type RetireResult = RetireResultDto

export class PeopleService {
  constructor(
    private readonly directory: DirectoryService,
    private readonly ipam: IpamService
  ) {
    // The IPAM side follows a renamed person.
    directory.users.onRenamed = async (scope, fromDn, toDn) => {
      await this.ipam.reassignOwner(scope.ctx, fromDn, { dn: toDn, name: null }, 'owner-renamed')
    }
  }

  async addresses(scope: DirectoryScope, uid: string): Promise<PersonAddresses> {
    const u = await this.directory.users.get(scope, uid)
    return { uid: u.uid, dn: u.dn, cn: u.cn, allocations: await this.ipam.ownedBy(u.dn) }
  }

  /** Deletes or locks a person, and releases, hands over or keeps their addresses, as one request. */
  async retire(scope: DirectoryScope, input: { uid: string; action: 'delete' | 'lock'; addresses: AddressChoice; to?: string }): Promise<RetireResult> {
    if (!(ADDRESS_CHOICES as readonly string[]).includes(input.addresses)) throw new AppError('VALIDATION', `addresses: must be one of ${ADDRESS_CHOICES.join(', ')}`, { field: 'addresses' })
    const person = await this.directory.users.get(scope, input.uid)
    let to: { uid: string; dn: string; cn: string } | null = null
    if (input.addresses === 'handover') {
      if (!input.to) throw new AppError('VALIDATION', 'to: a hand-over needs the person who gets the addresses', { field: 'to' })
      const t = await this.directory.users.get(scope, input.to)
      if (t.dn.toLowerCase() === person.dn.toLowerCase()) throw new AppError('VALIDATION', 'to: the addresses cannot be handed over to the same person', { field: 'to' })
      to = { uid: t.uid, dn: t.dn, cn: t.cn }
    }
    const held = await this.ipam.ownedBy(person.dn)
    if (input.action === 'delete') await this.directory.users.delete(scope, person.uid)
    else await this.directory.users.lock(scope, person.uid)
    const r: RetireResult = { uid: person.uid, dn: person.dn, action: input.action, addresses: input.addresses, requestId: scope.ctx.requestId, released: [], handedOver: [], to: to && { uid: to.uid, dn: to.dn }, errors: [] }
    if (input.addresses === 'release') {
      for (const a of held) {
        try {
          await this.ipam.release(scope.ctx, a.ip)
          r.released.push(a.ip)
        } catch (e) {
          r.errors.push({ ip: a.ip, message: (e as Error).message })
        }
      }
    } else if (input.addresses === 'handover' && to && held.length) {
      try {
        r.handedOver = (await this.ipam.reassignOwner(scope.ctx, person.dn, { dn: to.dn, name: to.cn }, 'hand-over')).map((a) => a.ip)
      } catch (e) {
        for (const a of held) r.errors.push({ ip: a.ip, message: (e as Error).message })
      }
    }
    return r
  }
}

/** An allocation request read and checked: shared by the general path (allocations.ts) and the fast one (next-free.ts). */
import { validationError } from '../../../shared/errors'
import { allocateSchema, type AllocateInput } from '../../../shared/ipam'
import { normalizeHostname, normalizeMac } from '../../../shared/net'
import { parse } from './rows'

export function parseUntil(v: string | null | undefined, field = 'until'): Date | null {
  if (v === undefined || v === null || v === '') return null
  const d = new Date(v)
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(v)) throw validationError(field, `"${v}" is not an ISO-8601 time (e.g. 2026-12-31T18:00:00Z)`)
  return d
}

/** Validates and normalises an allocation request (shared by the fast and the general path). */
export function prepareAllocation(input: AllocateInput) {
  const v = parse(allocateSchema, input)
  if (v.ip && v.next) throw validationError('ip', 'give either an address or next, not both')
  if (!v.ip && !v.next) throw validationError('ip', 'give an address, or ask for the next free one')
  if (v.ip && v.count !== undefined && v.count !== 1) throw validationError('count', 'only applies to next-free requests')
  const until = parseUntil(v.until)
  if (until && v.status !== 'reserved') throw validationError('until', 'only reservations can expire')
  if (until && until.getTime() <= Date.now()) throw validationError('until', 'is in the past')
  const fields = {
    hostname: v.hostname ? normalizeHostname(v.hostname) : null,
    mac: v.mac ? normalizeMac(v.mac) : null,
    owner: v.owner || null,
    ownerDn: v.ownerDn || null,
    purpose: v.purpose || null,
    description: v.description || null,
    dnsManaged: v.dnsManaged ?? false,
    dhcpManaged: v.dhcpManaged ?? false
  }
  if (fields.dhcpManaged && !fields.mac) throw validationError('mac', 'is required when DHCP is on (the host reservation is keyed by the hardware address)')
  if (fields.dhcpManaged && v.count !== undefined && v.count > 1) throw validationError('count', 'a DHCP reservation needs a MAC of its own: allocate DHCP-on addresses one at a time')
  return { v, until, fields }
}

export type PreparedAllocation = ReturnType<typeof prepareAllocation>

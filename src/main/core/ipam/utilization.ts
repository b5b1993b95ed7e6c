/** A pool's utilization from its network, gateway and counts: used by the pool DTOs and the statistics. */
import type { Utilization } from '../../../shared/ipam'
import { parseCidr, parseIp, usableRange } from '../../../shared/net'

export function utilization(network: string, gateway: string | null, counts: { allocated: number; reserved: number; blocked: number; ranged?: number }): Utilization {
  const c = parseCidr(network)
  const range = usableRange(c)
  let usable = range.count
  if (gateway) {
    const g = parseIp(gateway).value
    if (g >= range.first && g <= range.last) usable -= 1n
  }
  const used = BigInt(counts.allocated + counts.reserved + counts.blocked + (counts.ranged ?? 0))
  const free = usable > used ? usable - used : 0n
  // Two-decimal percentage without losing precision on IPv6-sized numbers.
  const percent = usable === 0n ? 0 : Number((used * 10000n) / usable) / 100
  const { ranged, ...rest } = counts
  return { usable: usable.toString(), ...rest, ...(ranged ? { ranged } : {}), free: free.toString(), percent }
}

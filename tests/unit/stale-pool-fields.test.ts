/** The offline pool list (last-known data) sorts and filters by a custom field as the server does. */
import { describe, expect, it } from 'vitest'
import type { PoolDto } from '../../src/shared/ipam'
import { stalePoolList } from '../../src/main/core/offline/stale'
import type { TargetSnapshot } from '../../src/main/core/offline/queue'

const pool = (id: number, name: string, customFields: PoolDto['customFields']): PoolDto => ({ id, name, network: `10.0.${id}.0/24`, customFields }) as unknown as PoolDto
const snap = {
  pools: () => ({ asOf: '2026-12-04T00:00:00.000Z', data: [pool(1, 'a', { rack: 12 }), pool(2, 'b', {}), pool(3, 'c', { rack: 3, tier: 'gold' }), pool(4, 'd', { rack: 40, tier: 'gold' })] })
} as unknown as TargetSnapshot

describe('stalePoolList with custom fields', () => {
  it('sorts by a field, rows without a value last in both directions', () => {
    expect(stalePoolList(snap, { sortField: 'rack' }, 'down').items.map((p) => p.name)).toEqual(['c', 'a', 'd', 'b'])
    expect(stalePoolList(snap, { sortField: 'rack', order: 'desc' }, 'down').items.map((p) => p.name)).toEqual(['d', 'a', 'c', 'b'])
  })
  it('filters by a field value as text and marks the answer stale', () => {
    const r = stalePoolList(snap, { fields: { tier: 'gold' }, sortField: 'rack' }, 'down')
    expect(r.items.map((p) => p.name)).toEqual(['c', 'd'])
    expect(r.total).toBe(2)
    expect(r.stale?.asOf).toBe('2026-12-04T00:00:00.000Z')
  })
})

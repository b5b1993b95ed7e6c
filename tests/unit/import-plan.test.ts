/**
 * The import's judgement without a database: timestamps, DNS lists, conflict choices, and properties that
 * must hold for any legacy file (every row accounted for; what is created fits its pool, once).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { LegacyAllocation, LegacyPool } from '../../src/main/core/importer/legacy-file'
import {
  allocationValues,
  FATE_ALREADY,
  FATE_CREATE,
  FATE_SKIP,
  legacyTime,
  makePlan,
  parseDnsServers,
  type PlanSource,
  type TargetState
} from '../../src/main/core/importer/plan'
import { importChoicesSchema, type ImportChoicesInput } from '../../src/shared/importer'
import { cidrContains, parseCidr, parseIp, unusableReason } from '../../src/shared/net'

const emptyTarget = (): TargetState => ({ pools: [], poolMap: new Map(), allocMap: new Set() })
const noHolders = { holders: async () => new Map() }

function pool(row: number, id: string | null, name: string | null, network: string, extra: Partial<LegacyPool> = {}): LegacyPool {
  return { row, id, name, network, description: null, vlanId: null, gateway: null, dnsServers: null, createdAt: null, modifiedAt: null, ...extra }
}

function alloc(row: number, id: string | null, poolId: string | null, ip: string, type = 'static', extra: Partial<LegacyAllocation> = {}): LegacyAllocation {
  return { row, id, poolId, ip, type, hostname: null, mac: null, description: null, allocatedBy: null, createdAt: null, modifiedAt: null, ...extra }
}

function source(pools: LegacyPool[], allocations: LegacyAllocation[]): PlanSource {
  return { pools, allocationCount: allocations.length, allocations: () => allocations[Symbol.iterator]() }
}

const plan = (pools: LegacyPool[], allocations: LegacyAllocation[], choices: ImportChoicesInput = {}, target = emptyTarget()) =>
  makePlan(source(pools, allocations), target, importChoicesSchema.parse(choices), noHolders)

describe('legacyTime', () => {
  it.each([
    ['2024-01-01 08:00:00', '2024-01-01T08:00:00.000Z'],
    ['2024-01-01T08:00:00Z', '2024-01-01T08:00:00.000Z'],
    ['2024-03-01T10:00:00+02:00', '2024-03-01T08:00:00.000Z'],
    ['2024-03-01 10:00:00.250-0130', '2024-03-01T11:30:00.250Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
    ['1700000000', '2023-11-14T22:13:20.000Z']
  ])('reads %s as UTC', (input, iso) => {
    expect(legacyTime(input)).toEqual({ iso, bad: false })
  })

  it.each(['2019-02-30 25:61:00', '2023-02-29', '2024-13-01', 'yesterday', '01/02/2024'])('refuses %s', (input) => {
    expect(legacyTime(input)).toEqual({ iso: null, bad: true })
  })

  it('treats an empty value as no value', () => {
    expect(legacyTime(null)).toEqual({ iso: null, bad: false })
    expect(legacyTime('  ')).toEqual({ iso: null, bad: false })
  })
})

describe('parseDnsServers', () => {
  it('reads JSON lists and plain lists, canonically and once', () => {
    expect(parseDnsServers('["10.0.0.2", "2001:DB8::1", "10.0.0.2"]')).toEqual({ valid: ['10.0.0.2', '2001:db8::1'], error: null })
    expect(parseDnsServers('10.0.0.2, 10.0.0.3;1.1.1.1')).toEqual({ valid: ['10.0.0.2', '10.0.0.3', '1.1.1.1'], error: null })
    expect(parseDnsServers(null)).toEqual({ valid: [], error: null })
    expect(parseDnsServers('[]')).toEqual({ valid: [], error: null })
  })

  it('names what is not an address and keeps the rest', () => {
    expect(parseDnsServers('["10.0.0.2", "nope"]')).toEqual({ valid: ['10.0.0.2'], error: expect.stringContaining('"nope"') })
    expect(parseDnsServers('not json')).toEqual({ valid: [], error: expect.stringContaining('not a JSON list') })
  })
})

describe('conflict choices', () => {
  const target: TargetState = {
    pools: [
      { id: 7, name: 'lab', network: parseCidr('192.168.0.0/24'), gateway: '192.168.0.1' },
      { id: 8, name: 'wide', network: parseCidr('10.0.0.0/16'), gateway: null }
    ],
    poolMap: new Map(),
    allocMap: new Set()
  }
  const pools = [pool(1, 'a', 'lab', '172.16.0.0/24'), pool(2, 'b', 'b', '10.0.5.0/24'), pool(3, 'c', 'lab-imported', '172.17.0.0/24')]
  const allocs = [alloc(1, 'x1', 'a', '172.16.0.5'), alloc(2, 'x2', 'b', '10.0.5.9'), alloc(3, 'x3', 'b', '10.0.5.1')]

  it('skip leaves clashing pools and their rows out', async () => {
    const p = await plan(pools, allocs, { onConflict: 'skip' }, target)
    expect(p.pools.map((x) => x.action)).toEqual(['skip', 'skip', 'create'])
    expect(p.problems.filter((x) => x.table === 'ip_pools').map((x) => x.kind)).toEqual(['name_clash', 'network_clash'])
    expect([...p.fate]).toEqual([FATE_SKIP, FATE_SKIP, FATE_SKIP])
  })

  it('rename picks a name neither the target nor the file uses', async () => {
    const p = await plan(pools, allocs, { onConflict: 'rename' }, target)
    expect(p.pools[0]).toMatchObject({ action: 'rename', name: 'lab-imported-2' })
    expect(p.pools[1]).toMatchObject({ action: 'skip' })
    expect(p.fixes).toContainEqual(expect.objectContaining({ kind: 'name_clash', from: 'lab', to: 'lab-imported-2' }))
  })

  it('merge sends rows into the existing pool that holds them', async () => {
    const p = await plan(pools, allocs, { onConflict: 'merge' }, target)
    expect(p.pools[1]).toMatchObject({ action: 'merge', targetId: 8 })
    expect(p.fate[1]).toBe(FATE_CREATE)
    expect(p.dest[1]).toBe(-8)
    // Merged by name only into 192.168.0.0/24: 172.16.0.5 fits nowhere.
    expect(p.problems.find((x) => x.legacyId === 'x1')).toMatchObject({ kind: 'merge_outside', outcome: 'skipped' })
    // Any usable address of the existing pool is fine.
    expect(p.fate[2]).toBe(FATE_CREATE)
  })

  it('fail refuses, naming the first clash', async () => {
    const p = await plan(pools, allocs, { onConflict: 'fail' }, target)
    expect(p.refusal).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('"lab" already exists') })
  })

  it('an address held in the target is a clash too', async () => {
    const p = await makePlan(source(pools, allocs), target, importChoicesSchema.parse({ onConflict: 'merge' }), {
      holders: async (ips) => new Map(ips.filter((ip) => ip === '10.0.5.9').map((ip) => [ip, { id: 1, poolName: 'wide', hostname: 'db1', status: 'allocated' }]))
    })
    expect(p.problems.find((x) => x.legacyId === 'x2')).toMatchObject({ kind: 'address_in_use', message: expect.stringContaining('db1') })
    expect(p.fate[1]).toBe(FATE_SKIP)
  })
})

describe('rows imported before', () => {
  it('are counted, not judged again, and keep their addresses', async () => {
    const target: TargetState = {
      pools: [{ id: 3, name: 'p', network: parseCidr('10.9.0.0/24'), gateway: null }],
      poolMap: new Map([['p1', { targetId: 3, action: 'created' as const }]]),
      allocMap: new Set(['a1'])
    }
    const p = await plan([pool(1, 'p1', 'p', '10.9.0.0/24')], [alloc(1, 'a1', 'p1', '10.9.0.5'), alloc(2, 'a2', 'p1', '10.9.0.5'), alloc(3, 'a3', 'p1', '10.9.0.6')], {}, target)
    expect(p.counts.pools.alreadyImported).toBe(1)
    expect([...p.fate]).toEqual([FATE_ALREADY, FATE_SKIP, FATE_CREATE])
    expect(p.problems.find((x) => x.legacyId === 'a2')).toMatchObject({ kind: 'duplicate_ip', message: expect.stringContaining('a1') })
    expect(p.dest[2]).toBe(-3)
  })
})

// Random legacy files: pools drawn from a few /22-/26 networks of 10.0.0.0/16 (so they overlap and clash by
// name), addresses near them, some bad values, some rows pointing at pools that do not exist.
const octet = fc.nat(255)
const poolArb = fc.record({
  id: fc.option(fc.constantFrom('p1', 'p2', 'p3', 'p4', 'p5', 'p6'), { nil: null, freq: 10 }),
  name: fc.constantFrom('a', 'b', 'c', 'd', ' a', ''),
  third: fc.nat(7),
  fourth: fc.constantFrom(0, 0, 0, 64, 5),
  prefix: fc.constantFrom(22, 24, 25, 26),
  gateway: fc.option(octet, { nil: null })
})
const allocArb = fc.record({
  id: fc.option(fc.string({ minLength: 1, maxLength: 3 }), { nil: null, freq: 15 }),
  poolId: fc.constantFrom('p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'nope'),
  ip: fc.oneof(
    fc.tuple(fc.nat(7), octet).map(([c, d]) => `10.0.${c}.${d}`),
    fc.constantFrom('10.0.0.300', 'banana', ' 10.0.1.7 ', '2001:db8::1')
  ),
  type: fc.constantFrom('static', 'dhcp', 'reserved', 'infrastructure', 'STATIC', 'weird'),
  mac: fc.option(fc.constantFrom('aa:bb:cc:dd:ee:ff', 'zz', 'AABB.CCDD.EEFF'), { nil: null }),
  hostname: fc.option(fc.constantFrom('web01', 'Bad_Name', 'ok.example.org'), { nil: null })
})

describe('for any legacy file', () => {
  it('accounts for every row, and creates only what fits, once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(poolArb, { maxLength: 8 }), fc.array(allocArb, { maxLength: 60 }), fc.boolean(), async (ps, as, fix) => {
        const pools = ps.map((p, i) => pool(i + 1, p.id, p.name, `10.0.${p.third}.${p.fourth}/${p.prefix}`, { gateway: p.gateway === null ? null : `10.0.${p.third}.${p.gateway}` }))
        const allocs = as.map((a, i) => alloc(i + 1, a.id, a.poolId, a.ip, a.type, { mac: a.mac, hostname: a.hostname }))
        const p = await plan(pools, allocs, { fix })
        const c = p.counts
        expect(c.pools.created + c.pools.renamed + c.pools.merged + c.pools.alreadyImported + c.pools.skipped).toBe(pools.length)
        expect(c.allocations.created + c.allocations.alreadyImported + c.allocations.skipped).toBe(allocs.length)
        if (!fix) expect(p.fixes).toEqual([])

        // New pools: unique names, no overlaps, canonical networks.
        const created = p.pools.filter((x) => x.action === 'create')
        expect(new Set(created.map((x) => x.name)).size).toBe(created.length)
        for (const x of created) {
          expect(parseCidr(x.net!.text).text).toBe(x.net!.text)
          // Two networks overlap exactly when one contains the other's first address.
          for (const y of created) if (x !== y) expect(cidrContains(x.net!, parseIp(y.net!.text.split('/')[0]!))).toBe(false)
        }

        // Created allocations: usable in their pool, not its gateway, one holder per address.
        const seen = new Set<string>()
        for (let i = 0; i < allocs.length; i++) {
          if (p.fate[i] === FATE_CREATE) {
            const v = allocationValues(allocs[i]!, p.drop[i]!, p.typeMap)
            const dest = p.pools[p.dest[i]!]!
            expect(['create', 'rename']).toContain(dest.action)
            expect(unusableReason(dest.net!, parseIp(v.ip))).toBeNull()
            expect(v.ip).not.toBe(dest.gateway)
            expect(seen.has(v.ip)).toBe(false)
            seen.add(v.ip)
          } else {
            expect(p.fate[i]).toBe(FATE_SKIP)
            const why = p.problems.filter((x) => x.table === 'ip_allocations' && x.row === i + 1 && x.severity === 'error')
            expect(why.length).toBeGreaterThan(0)
            expect(why.every((x) => x.outcome === 'skipped')).toBe(true)
            expect(p.skippedValues.has(i + 1)).toBe(true)
          }
        }
      }),
      { numRuns: 150 }
    )
  })
})

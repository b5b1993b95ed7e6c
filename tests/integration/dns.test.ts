/**
 * DNS follows the addresses, against a real BIND 9 (tests/support/named.ts, started once per run): records
 * written by TSIG-signed RFC 2136 updates through the outbox, checked with dig; names held by others left
 * alone (a conflict on the allocation); a wrong secret and a stopped server delay the change, never lose it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { inject } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Core } from '../../src/main/core'
import { auditRows, ctxAs, lastSeq, openCore } from '../support/core'
import { dig, nsupdate, runNamed, startNamed, stopNamedSync } from '../support/named'

const named = inject('named')
const skip = !named.available
if (skip) console.warn(`[dns.test] skipped: named is not available (${named.reason})`)

let core: Core
let url: string
const admin = ctxAs('admin', 'alice')
const op = ctxAs('operator', 'olga')
const Z = named.zones

beforeAll(async () => {
  if (skip) return
  ;({ core, url } = await openCore('dns'))
  await core.dns.addServer(admin, { name: 'ns1', address: '127.0.0.1', port: named.port, keyName: named.keyName, secret: named.secret })
  for (const z of [Z.forward, Z.reverse24, Z.classless, Z.reverse6]) await core.dns.addZone(admin, { server: 'ns1', name: z, ttl: 60 })
  await core.ipam.createPool(admin, { name: 'dns-lan', network: '192.0.2.0/24' })
  await core.ipam.createPool(admin, { name: 'dns-small', network: '198.51.100.0/25' })
  await core.ipam.createPool(admin, { name: 'dns-v6', network: '2001:db8:1::/64' })
  for (const pool of ['dns-lan', 'dns-small', 'dns-v6']) await core.dns.setPoolDns(admin, { pool, zone: Z.forward, ptr: true })
})
afterAll(async () => {
  await core?.close()
})

const drain = async (): Promise<void> => {
  await core.outbox.drain(10_000)
}

describe.skipIf(skip)('DNS records follow allocations', () => {
  it('knows each zone: forward, /24 reverse, classless reverse (RFC 2317), nibble reverse', async () => {
    const zones = await core.dns.listZones()
    expect(zones.map((z) => [z.name, z.kind, z.network, z.classless])).toEqual(
      expect.arrayContaining([
        [Z.forward, 'forward', null, false],
        [Z.reverse24, 'reverse4', '192.0.2.0/24', false],
        [Z.classless, 'reverse4', '198.51.100.0/25', true],
        [Z.reverse6, 'reverse6', '2001:db8::/32', false]
      ])
    )
    const cov = await core.dns.poolDns('dns-small')
    expect(cov).toMatchObject({ zone: Z.forward, ptr: true, uncovered: false, reverseZones: [{ zone: Z.classless, network: '198.51.100.0/25' }] })
  })

  it('refuses a zone the server does not serve, naming the field', async () => {
    await expect(core.dns.addZone(admin, { server: 'ns1', name: 'not-served.test' })).rejects.toMatchObject({ code: 'VALIDATION', details: { field: 'name' } })
    await expect(core.dns.addZone(admin, { server: 'ns1', name: 'bad..name' })).rejects.toMatchObject({ code: 'VALIDATION' })
  })

  it('allocate: A and PTR answer; the outcome is audited under the allocation request id', async () => {
    const seq = await lastSeq(core)
    const [a] = await core.ipam.allocate(op, { pool: 'dns-lan', ip: '192.0.2.10', hostname: 'web1', dnsManaged: true })
    await drain()
    expect(dig(named, 'web1.nk.test')).toEqual(['192.0.2.10'])
    expect(dig(named, '192.0.2.10', 'PTR')).toEqual(['web1.nk.test.'])
    const rows = await auditRows(core, seq)
    const outcome = rows.find((r) => r.resource_type === 'outbox')!
    expect(outcome).toMatchObject({ status: 'success', request_id: op.requestId })
    expect(rows.find((r) => r.resource_type === 'ip_allocation')!.request_id).toBe(op.requestId)
    const st = await core.dns.allocationDns(a!.ip)
    expect(st.names).toEqual(['web1.nk.test'])
    expect(st.effects[0]).toMatchObject({ state: 'done' })
  })

  it('rename: the old name goes, the new one answers, the PTR follows', async () => {
    await core.ipam.updateAllocation(op, { ip: '192.0.2.10', hostname: 'web2' })
    await drain()
    expect(dig(named, 'web1.nk.test')).toEqual([])
    expect(dig(named, 'web2.nk.test')).toEqual(['192.0.2.10'])
    expect(dig(named, '192.0.2.10', 'PTR')).toEqual(['web2.nk.test.'])
  })

  it('re-address (allocate the new address, release the old): the name moves, the old PTR goes', async () => {
    await core.ipam.allocate(op, { pool: 'dns-lan', ip: '192.0.2.11', hostname: 'web2', dnsManaged: true })
    await drain()
    expect(dig(named, 'web2.nk.test').sort()).toEqual(['192.0.2.10', '192.0.2.11'])
    await core.ipam.release(op, '192.0.2.10')
    await drain()
    expect(dig(named, 'web2.nk.test')).toEqual(['192.0.2.11'])
    expect(dig(named, '192.0.2.10', 'PTR')).toEqual([])
    expect(dig(named, '192.0.2.11', 'PTR')).toEqual(['web2.nk.test.'])
  })

  it('release: A and PTR are removed', async () => {
    await core.ipam.release(op, '192.0.2.11')
    await drain()
    expect(dig(named, 'web2.nk.test')).toEqual([])
    expect(dig(named, '192.0.2.11', 'PTR')).toEqual([])
  })

  it('a classless reverse zone gets its PTR under the delegated name; IPv6 gets AAAA and a nibble PTR', async () => {
    await core.ipam.allocate(op, { pool: 'dns-small', ip: '198.51.100.5', hostname: 'small5', dnsManaged: true })
    await core.ipam.allocate(op, { pool: 'dns-v6', ip: '2001:db8:1::5', hostname: 'six', dnsManaged: true })
    await drain()
    expect(dig(named, `5.${Z.classless}`, 'PTR')).toEqual(['small5.nk.test.'])
    expect(dig(named, 'six.nk.test', 'AAAA')).toEqual(['2001:db8:1::5'])
    expect(dig(named, '2001:db8:1::5', 'PTR')).toEqual(['six.nk.test.'])
  })

  it('an allocation without DNS on writes nothing', async () => {
    await core.ipam.allocate(op, { pool: 'dns-lan', ip: '192.0.2.20', hostname: 'quiet' })
    await drain()
    expect(dig(named, 'quiet.nk.test')).toEqual([])
  })

  it('never overwrites a name someone else holds: the allocation shows the conflict', async () => {
    nsupdate(named, ['update add taken.nk.test 300 A 192.0.2.99'])
    await core.ipam.allocate(op, { pool: 'dns-lan', ip: '192.0.2.30', hostname: 'taken', dnsManaged: true })
    await drain()
    expect(dig(named, 'taken.nk.test')).toEqual(['192.0.2.99'])
    const st = await core.dns.allocationDns('192.0.2.30')
    expect(st.effects[0]!.state).toBe('conflict')
    expect(st.effects[0]!.message).toContain('taken.nk.test A: holds 192.0.2.99, which Netkeeper did not write')
    // Its PTR had no other holder and was written.
    expect(dig(named, '192.0.2.30', 'PTR')).toEqual(['taken.nk.test.'])
  })

  it('a wrong TSIG secret: the allocation commits, the change waits with the server answer, and applies once the secret is fixed', async () => {
    await core.dns.setSecret(admin, 'ns1', Buffer.alloc(32, 7).toString('base64'))
    const [a] = await core.ipam.allocate(op, { pool: 'dns-lan', ip: '192.0.2.40', hostname: 'waits', dnsManaged: true })
    expect(a!.ip).toBe('192.0.2.40')
    const r = await core.outbox.drain(5000)
    expect(r.retrying).toBe(1)
    const st = await core.dns.allocationDns('192.0.2.40')
    expect(st.effects[0]!.state).toBe('pending')
    expect(st.effects[0]!.message).toMatch(/refused the TSIG key "netkeeper-test" \(BADSIG\).*set-secret ns1/)
    expect(dig(named, 'waits.nk.test')).toEqual([])
    await core.dns.setSecret(admin, 'ns1', named.secret)
    await drain()
    expect(dig(named, 'waits.nk.test')).toEqual(['192.0.2.40'])
    expect((await core.dns.allocationDns('192.0.2.40')).effects[0]!.state).toBe('done')
  })

  it('a secret saved by another program while this one still holds the old one: re-read once and the update sent again', async () => {
    // This core caches the wrong secret: it read it for an update the server refused.
    await core.dns.setSecret(admin, 'ns1', Buffer.alloc(32, 9).toString('base64'))
    await core.ipam.allocate(op, { pool: 'dns-lan', ip: '192.0.2.41', hostname: 'cached', dnsManaged: true })
    expect((await core.outbox.drain(5000)).retrying).toBe(1)
    expect((await core.dns.allocationDns('192.0.2.41')).effects[0]!.state).toBe('pending')
    // Another program (a colleague's app, the CLI) saves the right secret to the same keychain and makes the row due.
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-dns-other-'))
    const other = await Core.open({ databaseUrl: url, dataDir: otherDir, migrate: false })
    try {
      await other.dns.setSecret(admin, 'ns1', named.secret)
    } finally {
      await other.close()
      fs.rmSync(otherDir, { recursive: true, force: true })
    }
    // One pass: the cached secret is refused, dropped, read again from the keychain, and the update goes out.
    const r = await core.outbox.drain(5000)
    expect(r).toMatchObject({ done: 1, retrying: 0 })
    expect(dig(named, 'cached.nk.test')).toEqual(['192.0.2.41'])
    expect((await core.dns.allocationDns('192.0.2.41')).effects[0]!.state).toBe('done')
  })

  it('allocates a host the later tests find in the zone', async () => {
    await core.ipam.allocate(op, { pool: 'dns-lan', ip: '192.0.2.50', hostname: 'later', dnsManaged: true })
    await drain()
    expect(dig(named, 'later.nk.test')).toEqual(['192.0.2.50'])
    expect(dig(named, '192.0.2.50', 'PTR')).toEqual(['later.nk.test.'])
  })

  it('lists a zone with the allocation behind each record, searched and paged', async () => {
    const page = await core.dns.records(op, Z.forward, { search: 'later' })
    expect(page.items).toEqual([{ name: 'later.nk.test', type: 'A', ttl: 60, data: '192.0.2.50', allocation: { ip: '192.0.2.50', hostname: 'later', pool: 'dns-lan' } }])
    const all = await core.dns.records(op, Z.forward, { pageSize: 2, page: 1 })
    expect(all.items).toHaveLength(2)
    expect(all.total).toBeGreaterThan(4)
    expect(all.serial).toBeGreaterThan(1)
  })

  it('address spaces: the same address in two spaces gets one PTR, from the space the reverse zone belongs to', async () => {
    expect((await core.dns.listZones()).find((z) => z.name === Z.reverse24)).toMatchObject({ space: 'default' })
    await core.ipam.createSpace(admin, { name: 'lab' })
    await core.ipam.createPool(admin, { name: 'lab-lan', network: '192.0.2.0/24', space: 'lab' })
    await core.dns.setPoolDns(admin, { pool: 'lab-lan', zone: Z.forward, ptr: true })
    // The reverse zone's pools are those of its space only.
    expect((await core.dns.listZones()).find((z) => z.name === Z.reverse24)!.pools).toEqual(['dns-lan'])
    await core.ipam.allocate(op, { pool: 'dns-lan', ip: '192.0.2.77', hostname: 'main77', dnsManaged: true })
    await core.ipam.allocate(op, { pool: 'lab-lan', ip: '192.0.2.77', hostname: 'lab77', dnsManaged: true })
    await core.outbox.drain(10_000)
    expect(dig(named, 'main77.nk.test')).toEqual(['192.0.2.77'])
    expect(dig(named, 'lab77.nk.test')).toEqual(['192.0.2.77'])
    expect(dig(named, '192.0.2.77', 'PTR')).toEqual(['main77.nk.test.'])
    // Releasing the lab allocation leaves the PTR of the zone's space alone; drift sees nothing to fix at .77.
    await core.ipam.release(op, '192.0.2.77', { space: 'lab' })
    await core.outbox.drain(10_000)
    expect(dig(named, 'lab77.nk.test')).toEqual([])
    expect(dig(named, '192.0.2.77', 'PTR')).toEqual(['main77.nk.test.'])
    const [lab77b] = await core.ipam.allocate(op, { pool: 'lab-lan', ip: '192.0.2.77', hostname: 'lab77b', dnsManaged: true })
    await core.outbox.drain(10_000)
    expect(dig(named, '192.0.2.77', 'PTR')).toEqual(['main77.nk.test.'])
    // The allocation's DNS state is read by its id (or address + space), never "whichever space comes first".
    const main77 = await core.ipam.getAllocation(op, '192.0.2.77', 'default')
    expect((await core.dns.allocationDns(main77.id)).names).toEqual(['main77.nk.test'])
    expect((await core.dns.allocationDns(lab77b!.id)).names).toEqual(['lab77b.nk.test'])
    expect((await core.dns.allocationDns('192.0.2.77', 'lab')).names).toEqual(['lab77b.nk.test'])
    expect((await core.dns.allocationDns('192.0.2.77', 'default')).ptr).toBe('main77.nk.test')
    await expect(core.dns.allocationDns('192.0.2.77')).rejects.toMatchObject({ code: 'CONFLICT', details: { field: 'space' } })
    expect(await core.dhcp.allocationDhcp(lab77b!.id)).toEqual({ state: null, message: null, lease: null })
    await expect(core.dhcp.allocationDhcp('192.0.2.77')).rejects.toMatchObject({ code: 'CONFLICT' })
    const drift = await core.dns.drift.report(op, { zone: Z.reverse24 })
    expect(drift.items.filter((i) => i.name === '77.2.0.192.in-addr.arpa')).toEqual([])
    // A reverse zone bound to a space that does not exist is refused, naming the field.
    await expect(core.dns.addZone(admin, { server: 'ns1', name: Z.cliReverse, space: 'nowhere', noCheck: true })).rejects.toMatchObject({ code: 'NOT_FOUND', details: { field: 'space' } })
    // Clean up for the drift tests below: release both, the PTR goes with the zone space's allocation.
    await core.ipam.release(op, '192.0.2.77', { space: 'lab' })
    await core.ipam.release(op, '192.0.2.77', { space: 'default' })
    await core.outbox.drain(10_000)
    expect(dig(named, '192.0.2.77', 'PTR')).toEqual([])
    expect(dig(named, 'lab77b.nk.test')).toEqual([])
  })
})

describe.skipIf(skip)('DNS drift', () => {
  it('a record added with nsupdate shows as drift, and repairs towards IPAM (adopted) and towards the zone (removed)', async () => {
    nsupdate(named, ['update add stray.nk.test 300 A 192.0.2.77', 'update add gone.nk.test 300 A 192.0.2.78'])
    const report = await core.dns.drift.report(op, { zone: Z.forward })
    expect(report.zones[0]).toMatchObject({ zone: Z.forward })
    const stray = report.items.find((i) => i.name === 'stray.nk.test')!
    expect(stray).toMatchObject({ kind: 'record-without-allocation', type: 'A', inZone: ['192.0.2.77'], expected: [], allocation: null })
    // The taken.nk.test conflict above is drift too: the name holds another address than its allocation.
    expect(report.items.find((i) => i.name === 'taken.nk.test')).toMatchObject({ kind: 'record-differs', inZone: ['192.0.2.99'], expected: ['192.0.2.30'] })

    const seq = await lastSeq(core)
    const [toIpam] = await core.dns.drift.repair(op, { ids: [stray.id], direction: 'ipam' })
    expect(toIpam).toMatchObject({ ok: true })
    expect((await core.ipam.getAllocation(op, '192.0.2.77')).hostname).toBe('stray.nk.test')
    const gone = report.items.find((i) => i.name === 'gone.nk.test')!
    const [toZone] = await core.dns.drift.repair(op, { ids: [gone.id], direction: 'zone' })
    expect(toZone).toMatchObject({ ok: true })
    expect(dig(named, 'gone.nk.test')).toEqual([])
    await drain()
    const rows = await auditRows(core, seq)
    expect(rows.some((r) => r.resource_type === 'ip_allocation' && r.action === 'create' && r.resource_name === '192.0.2.77')).toBe(true)
    expect(rows.some((r) => r.resource_type === 'dns_record' && r.action === 'delete' && r.resource_name === 'gone.nk.test A')).toBe(true)
    const after = await core.dns.drift.report(op, { zone: Z.forward })
    expect(after.items.map((i) => i.name)).not.toContain('stray.nk.test')
    expect(after.items.map((i) => i.name)).not.toContain('gone.nk.test')
  })

  it('the allocations win when repaired towards the zone: a name held by someone else is replaced (a person asked)', async () => {
    const r = await core.dns.drift.report(op, { zone: Z.forward })
    const taken = r.items.find((i) => i.name === 'taken.nk.test')!
    await core.dns.drift.repair(op, { ids: [taken.id], direction: 'zone' })
    expect(dig(named, 'taken.nk.test')).toEqual(['192.0.2.30'])
  })

  it('finds an allocation whose record was removed behind its back, and a PTR that disagrees', async () => {
    nsupdate(named, ['update delete later.nk.test A'])
    nsupdate(named, [`update delete 50.2.0.192.in-addr.arpa PTR`, `update add 50.2.0.192.in-addr.arpa 300 PTR elsewhere.example.`])
    const r = await core.dns.drift.report(op, {})
    expect(r.items.find((i) => i.name === 'later.nk.test')).toMatchObject({ kind: 'allocation-without-record', expected: ['192.0.2.50'], allocation: { ip: '192.0.2.50' } })
    expect(r.items.find((i) => i.name === '50.2.0.192.in-addr.arpa')).toMatchObject({ kind: 'ptr-mismatch', inZone: ['elsewhere.example'], expected: ['later.nk.test'] })
  })

  it('ignores a line (audited) and repairs the rest at once', async () => {
    const r = await core.dns.drift.report(op, {})
    const ptr = r.items.find((i) => i.name === '50.2.0.192.in-addr.arpa')!
    await core.dns.drift.ignore(op, ptr.id)
    const r2 = await core.dns.drift.report(op, {})
    expect(r2.items.find((i) => i.id === ptr.id)!.ignored).toBe(true)
    const results = await core.dns.drift.repair(op, { direction: 'zone' })
    expect(results.filter((x) => !x.ok)).toEqual([])
    expect(dig(named, 'later.nk.test')).toEqual(['192.0.2.50'])
    expect(dig(named, '192.0.2.50', 'PTR')).toEqual(['elsewhere.example.'])
    const r3 = await core.dns.drift.report(op, {})
    expect(r3.items.filter((i) => !i.ignored)).toEqual([])
  })
})

/**
 * Stopping a name server would break every other file using the run's shared named (they run in parallel
 * workers), so this test starts a named of its own (own free port and folder), with a core and database of
 * its own, stops it during an allocation and starts it again.
 */
describe.skipIf(skip)('named stopped during an allocation', () => {
  it('the record arrives after it restarts', async () => {
    const own = await startNamed()
    const { core: c } = await openCore('dns-restart')
    try {
      expect(own.info.port).not.toBe(named.port)
      await c.dns.addServer(admin, { name: 'ns-own', address: '127.0.0.1', port: own.info.port, keyName: own.info.keyName, secret: own.info.secret })
      for (const z of [Z.forward, Z.reverse24]) await c.dns.addZone(admin, { server: 'ns-own', name: z, ttl: 60 })
      await c.ipam.createPool(admin, { name: 'restart-lan', network: '192.0.2.0/24' })
      await c.dns.setPoolDns(admin, { pool: 'restart-lan', zone: Z.forward, ptr: true })
      stopNamedSync(own.info)
      try {
        await c.ipam.allocate(op, { pool: 'restart-lan', ip: '192.0.2.50', hostname: 'later', dnsManaged: true })
        const r = await c.outbox.drain(5000)
        expect(r.retrying).toBe(1)
        const st = await c.dns.allocationDns('192.0.2.50')
        expect(st.effects[0]!.message).toContain('refused the connection')
      } finally {
        await runNamed(own.info)
      }
      await c.db.knex.raw(`update outbox set next_attempt_at = now() where state = 'pending'`)
      await c.outbox.drain(10_000)
      expect(dig(own.info, 'later.nk.test')).toEqual(['192.0.2.50'])
      expect(dig(own.info, '192.0.2.50', 'PTR')).toEqual(['later.nk.test.'])
    } finally {
      await c.close()
      await own.stop()
    }
  })
})

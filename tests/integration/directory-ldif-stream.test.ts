/**
 * The LDIF export's stream against the real slapd: entries are handed over as they come off the socket
 * (ldapts never holds a page of parsed messages), a slow consumer holds back the server instead of the
 * whole result piling up in memory (at most one page ahead, the next page asked for only after the last
 * one was taken), every entry arrives once and in the server's order, a consumer that stops early leaves
 * the connection usable, and failures (a transform that throws, a base that does not exist) surface as
 * errors. docs/ldap-setup.md#ldif-export-memory says why the export streams this way.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { FilterParser } from 'ldapts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CommandScope } from '../../src/main/core/auth/service'
import { ldapadd, openDirectory, slapdMissing, type DirectoryFixture } from '../support/directory'

const skip = slapdMissing()
const USERS = 120
const PAGE = 10
let fx: DirectoryFixture
let admin: CommandScope
const people = (): { scope: 'one'; filter: ReturnType<typeof FilterParser.parseString>; attributes: string[] } => ({ scope: 'one', filter: FilterParser.parseString('(uid=*)'), attributes: ['uid'] })
const uidOf = (e: Record<string, unknown>): string => String(e.uid)

beforeAll(async () => {
  if (skip) return
  fx = await openDirectory('ldifstream')
  admin = await fx.admin()
  const blocks: string[] = []
  for (let i = 0; i < USERS; i++) blocks.push(`dn: uid=s${i},${fx.usersDn}\nobjectClass: inetOrgPerson\nuid: s${i}\ncn: Stream ${i}\nsn: S${i}\ndescription: ${'x'.repeat(200)}\n`)
  ldapadd(blocks.join('\n'))
})

afterAll(async () => {
  await fx?.close()
})

describe.skipIf(skip)('LDIF export stream', () => {
  it('keeps a slow consumer at most one page behind the server, and delivers every entry once', async () => {
    const conn = admin.conn.fork()
    try {
      let parsed = 0
      let taken = 0
      let ahead = 0
      let pausedAt: number | null = null
      const seen: string[] = []
      for await (const batch of conn.entryStream(fx.usersDn, people(), PAGE, [], (e) => {
        parsed++
        return uidOf(e)
      })) {
        taken += batch.length
        seen.push(...batch)
        ahead = Math.max(ahead, parsed - taken)
        if (pausedAt === null) {
          // A consumer that stalls after its first batch: nothing beyond the first page may arrive meanwhile.
          await sleep(300)
          pausedAt = parsed
        } else await sleep(5)
      }
      expect(pausedAt).not.toBeNull()
      expect(pausedAt!).toBeLessThanOrEqual(PAGE)
      expect(ahead).toBeLessThan(PAGE)
      expect(taken).toBe(USERS)
      expect(new Set(seen).size).toBe(USERS)
      expect(seen.sort()).toEqual(Array.from({ length: USERS }, (_, i) => `s${i}`).sort())
    } finally {
      await conn.close()
    }
  })

  it('leaves the connection usable after a consumer stops early, and pages again from the start', async () => {
    const conn = admin.conn.fork()
    try {
      let first: string[] = []
      for await (const batch of conn.entryStream(fx.usersDn, people(), PAGE, [], uidOf)) {
        first = batch
        break
      }
      expect(first.length).toBeGreaterThan(0)
      // The rest of that page lands on the same socket; other operations still get their answers.
      const one = await conn.search(`uid=s7,${fx.usersDn}`, { scope: 'base', attributes: ['cn'] })
      expect(one.map((e) => e.dn)).toEqual([`uid=s7,${fx.usersDn}`])
      let n = 0
      for await (const batch of conn.entryStream(fx.usersDn, people(), 50, [], uidOf)) n += batch.length
      expect(n).toBe(USERS)
    } finally {
      await conn.close()
    }
  })

  it('fails with what went wrong: a transform that throws, a base that does not exist', async () => {
    const conn = admin.conn.fork()
    try {
      let calls = 0
      const run = async (): Promise<number> => {
        let n = 0
        for await (const batch of conn.entryStream(fx.usersDn, people(), PAGE, [], (e) => {
          if (++calls === 15) throw new Error('cannot format this one')
          return uidOf(e)
        }))
          n += batch.length
        return n
      }
      await expect(run()).rejects.toThrow('cannot format this one')
      expect(calls).toBe(15)
    } finally {
      await conn.close()
    }
    const again = admin.conn.fork()
    try {
      const missing = async (): Promise<void> => {
        for await (const _ of again.entryStream(`ou=nowhere,${fx.usersDn}`, people(), PAGE, [], uidOf)) void _
      }
      await expect(missing()).rejects.toMatchObject({ code: 'NOT_FOUND', details: { ldapCode: 32 } })
    } finally {
      await again.close()
    }
  })

  it('writes the export to a slow writer at most a page per chunk, the same text as to a fast one', async () => {
    let fast = ''
    const r1 = await fx.core.directory.ldif.export(admin, { base: fx.usersDn, scope: 'one', pageSize: PAGE }, (c) => {
      fast += c
    })
    expect(r1.entries).toBe(USERS)
    let slow = ''
    let chunks = 0
    let biggest = 0
    const r2 = await fx.core.directory.ldif.export(admin, { base: fx.usersDn, scope: 'one', pageSize: PAGE }, async (c) => {
      chunks++
      biggest = Math.max(biggest, (c.match(/^dn: /gm) ?? []).length)
      slow += c
      await sleep(10)
    })
    expect(r2).toEqual(r1)
    expect(slow).toBe(fast)
    expect(slow.match(/^dn: /gm)).toHaveLength(USERS)
    expect(chunks).toBeGreaterThanOrEqual(USERS / PAGE)
    expect(biggest).toBeLessThanOrEqual(PAGE)
    expect(r2.bytes).toBe(Buffer.byteLength(slow))
  })
})

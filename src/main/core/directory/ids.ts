/**
 * uidNumber and gidNumber without races, and never max+1 unguarded.
 *
 * The id pool is one entry (default cn=netkeeper-idpool,<baseDn>) holding the next free uidNumber and
 * gidNumber. Taking a number is a compare-and-swap in one LDAP modify: delete the value we read and add
 * value + 1. The server applies a modify atomically, and deleting a value that is no longer there fails
 * (noSuchAttribute), so when two writers read the same value exactly one wins and the other reads again.
 * Works with several Netkeeper instances, the CLI in scripts, and other tools that honour the same entry.
 *
 * A number that is already in use by an entry (given out by another tool that ignores the pool) is skipped:
 * after winning a number we check that no account or group carries it, and take the next one if one does.
 *
 * The pool entry is created on first use: organizationalRole + extensibleObject (stock schemas only; no
 * schema to install), starting above the highest number already in the directory (one paged walk, once).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { AppError } from '../../../shared/errors'
import { parseDn } from '../../../shared/dn'
import type { LdapConnection } from './connection'
import { and, change, eq, isClass, present } from './filters'

export type IdKind = 'uidNumber' | 'gidNumber'

const MAX_ATTEMPTS = 200

export interface IdPoolEvents {
  /** Called before the pool entry is added, so it can be audited (throws to refuse). */
  creatingPool(dn: string, start: { uidNumber: number; gidNumber: number }, add: () => Promise<void>): Promise<void>
}

const ownerClass = (kind: IdKind): string => (kind === 'uidNumber' ? 'posixAccount' : 'posixGroup')

export async function numberInUse(conn: LdapConnection, kind: IdKind, n: number): Promise<boolean> {
  const r = await conn.search(conn.profile.baseDn, { filter: and(isClass(ownerClass(kind)), eq(kind, String(n))), attributes: ['1.1'], sizeLimit: 1 }, `check ${kind} ${n}`)
  return r.length > 0
}

/** The highest value of `kind` in use at or above `min`, by a paged walk on a connection of its own. */
async function highestInUse(conn: LdapConnection, kind: IdKind): Promise<number> {
  const walker = conn.fork()
  let max = -1
  try {
    for await (const page of walker.pages(conn.profile.baseDn, { filter: and(isClass(ownerClass(kind)), present(kind)), attributes: [kind] }, 1000)) {
      for (const e of page) {
        const v = e.int(kind)
        if (v !== null && v > max) max = v
      }
    }
  } finally {
    await walker.close()
  }
  return max
}

async function createPool(conn: LdapConnection, events: IdPoolEvents): Promise<void> {
  const p = conn.profile
  const rdn = parseDn(p.idPoolDn)[0]?.[0]
  if (!rdn || rdn.type.toLowerCase() !== 'cn') {
    throw new AppError('NOT_FOUND', `idPoolDn: the id pool entry ${p.idPoolDn} does not exist; create it (see docs/ldap-setup.md, "The id pool") or use a cn=... DN that Netkeeper can create`, {
      field: 'idPoolDn'
    })
  }
  const [uidMax, gidMax] = [await highestInUse(conn, 'uidNumber'), await highestInUse(conn, 'gidNumber')]
  const start = { uidNumber: Math.max(p.uidNumberMin, uidMax + 1), gidNumber: Math.max(p.gidNumberMin, gidMax + 1) }
  try {
    await events.creatingPool(p.idPoolDn, start, () =>
      conn.add(p.idPoolDn, {
        objectClass: ['organizationalRole', 'extensibleObject'],
        cn: rdn.value,
        description: 'Netkeeper id pool: the next free uidNumber and gidNumber (taken by compare-and-swap; do not edit by hand while Netkeeper runs)',
        uidNumber: String(start.uidNumber),
        gidNumber: String(start.gidNumber)
      })
    )
  } catch (e) {
    // Another creator won the race: fine, use theirs.
    if (e instanceof AppError && e.details?.ldapCode === 68) return
    throw e
  }
}

/**
 * Allocations from one process are queued per pool and kind ("lanes"): losing compare-and-swap rounds to
 * our own concurrent creators would only burn round trips. Within a lane the value we wrote last is tried
 * first, without reading it again; another writer (another process) makes that fail and we read. The
 * compare-and-swap still decides between processes.
 */
const lanes = new Map<string, { chain: Promise<unknown>; last?: number }>()

async function takeNumber(conn: LdapConnection, kind: IdKind, events: IdPoolEvents, lane: { last?: number }): Promise<number> {
  const p = conn.profile
  const min = kind === 'uidNumber' ? p.uidNumberMin : p.gidNumberMin
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 1) await sleep(Math.random() * Math.min(50, 2 * attempt))
    let current = lane.last ?? null
    if (current === null) {
      const pool = await conn.readEntry(p.idPoolDn, ['uidNumber', 'gidNumber'], 'read the id pool')
      if (!pool) {
        await createPool(conn, events)
        continue
      }
      current = pool.int(kind)
      if (current === null) {
        // A pool entry made by hand with only one of the two numbers: add the other.
        try {
          await conn.modify(p.idPoolDn, [change('add', kind, [String(Math.max(min, (await highestInUse(conn, kind)) + 1))])], 'idPoolDn')
        } catch (e) {
          if (!(e instanceof AppError && [16, 19, 20].includes(Number(e.details?.ldapCode)))) throw e
        }
        continue
      }
    }
    const candidate = Math.max(current, min)
    try {
      await conn.modify(p.idPoolDn, [change('delete', kind, [String(current)]), change('add', kind, [String(candidate + 1)])], 'idPoolDn')
    } catch (e) {
      lane.last = undefined
      // Someone else took `current` first (noSuchAttribute on the delete, or typeOrValueExists on the add).
      if (e instanceof AppError && (e.details?.ldapCode === 16 || e.details?.ldapCode === 20)) continue
      throw e
    }
    lane.last = candidate + 1
    return candidate
  }
  throw new AppError('CONFLICT', `${kind}: could not take a number from the id pool ${p.idPoolDn} after ${MAX_ATTEMPTS} attempts (heavy contention?); try again`, { field: kind })
}

/** Takes the next free number of `kind` from the pool (see the module comment). */
export async function allocateId(conn: LdapConnection, kind: IdKind, events: IdPoolEvents): Promise<number> {
  const key = `${conn.profile.url}|${conn.profile.idPoolDn.toLowerCase()}|${kind}`
  let lane = lanes.get(key)
  if (!lane) lanes.set(key, (lane = { chain: Promise.resolve() }))
  for (let skipped = 0; skipped < MAX_ATTEMPTS; skipped++) {
    const l = lane
    const run = (): Promise<number> => takeNumber(conn, kind, events, l)
    const p = l.chain.then(run, run)
    l.chain = p.catch(() => undefined)
    const n = await p
    // Outside the lane: a number some other tool already gave out is skipped.
    if (!(await numberInUse(conn, kind, n))) return n
  }
  throw new AppError('CONFLICT', `${kind}: every number taken from the id pool ${conn.profile.idPoolDn} was already in use; raise it past the numbers in use`, { field: kind })
}

/**
 * Takes `n` numbers of `kind` at once (the bulk import): the first through allocateId (which creates the
 * pool when needed), the rest as one block by the same compare-and-swap, moving the pool past them in one
 * modify. Numbers found in `inUse` (what the caller already knows the directory holds) are skipped and made
 * up for. The block goes through the lane, so this process's single allocations wait for it.
 */
export async function allocateBlock(conn: LdapConnection, kind: IdKind, n: number, events: IdPoolEvents, inUse: ReadonlySet<number> = new Set()): Promise<number[]> {
  const out: number[] = []
  if (n <= 0) return out
  const first = await allocateId(conn, kind, events)
  if (!inUse.has(first)) out.push(first)
  const key = `${conn.profile.url}|${conn.profile.idPoolDn.toLowerCase()}|${kind}`
  const lane = lanes.get(key)!
  const p = conn.profile
  const min = kind === 'uidNumber' ? p.uidNumberMin : p.gidNumberMin
  for (let attempt = 0; out.length < n && attempt < MAX_ATTEMPTS; attempt++) {
    const want = n - out.length
    const run = async (): Promise<number[] | null> => {
      const pool = await conn.readEntry(p.idPoolDn, [kind], 'read the id pool')
      const current = pool?.int(kind) ?? null
      if (current === null) throw new AppError('NOT_FOUND', `idPoolDn: the id pool ${p.idPoolDn} lost its ${kind}`, { field: 'idPoolDn' })
      const start = Math.max(current, min)
      try {
        await conn.modify(p.idPoolDn, [change('delete', kind, [String(current)]), change('add', kind, [String(start + want)])], 'idPoolDn')
      } catch (e) {
        lane.last = undefined
        if (e instanceof AppError && (e.details?.ldapCode === 16 || e.details?.ldapCode === 20)) return null
        throw e
      }
      lane.last = start + want
      return Array.from({ length: want }, (_, i) => start + i)
    }
    const q = lane.chain.then(run, run)
    lane.chain = q.catch(() => undefined)
    const got = await q
    if (got) out.push(...got.filter((x) => !inUse.has(x)))
  }
  if (out.length < n) throw new AppError('CONFLICT', `${kind}: could not take ${n} numbers from the id pool ${p.idPoolDn} (heavy contention?); try again`, { field: kind })
  return out
}

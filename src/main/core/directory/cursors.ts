/**
 * Paged listings that a screen (or the CLI) walks one page at a time, RFC 2696 style: the first page opens
 * a paged search on a connection of its own (the server ties the paging cookie to the connection, and a
 * slow page must not time out other operations); each later page asks the server for exactly one more
 * page. Nothing ever holds more than one page in memory. A cursor idle for `idleMs` is closed, and so is the
 * oldest when a scope opens more than `max`.
 */
import { randomBytes } from 'node:crypto'
import { AppError } from '../../../shared/errors'
import type { DirectoryPage } from '../../../shared/directory'
import type { LdapConnection, LdapEntry, SearchSpec } from './connection'

interface Cursor {
  id: string
  conn: LdapConnection
  pages: AsyncGenerator<LdapEntry[]>
  lastUsed: number
  /** The page read ahead of the caller, if any. */
  ahead: LdapEntry[] | null
  /** Serialises page requests on one cursor. */
  chain: Promise<unknown>
}

export class CursorRegistry {
  private readonly cursors = new Map<string, Cursor>()
  constructor(private readonly opts: { max: number; idleMs: number } = { max: 8, idleMs: 5 * 60_000 }) {}

  get size(): number {
    return this.cursors.size
  }

  /** Closes listings idle for too long (and the oldest beyond the limit). */
  async sweep(): Promise<void> {
    const now = Date.now()
    for (const c of [...this.cursors.values()]) if (now - c.lastUsed > this.opts.idleMs) await this.close(c.id)
    while (this.cursors.size >= this.opts.max) {
      const oldest = [...this.cursors.values()].sort((a, b) => a.lastUsed - b.lastUsed)[0]
      if (!oldest) break
      await this.close(oldest.id)
    }
  }

  /** Opens a listing on a fork of `conn` and returns its first page. */
  async open<T>(conn: LdapConnection, base: string, spec: SearchSpec, pageSize: number, map: (e: LdapEntry) => T): Promise<DirectoryPage<T>> {
    await this.sweep()
    const own = conn.fork()
    const cursor: Cursor = { id: randomBytes(18).toString('base64url'), conn: own, pages: own.pages(base, spec, pageSize), lastUsed: Date.now(), ahead: null, chain: Promise.resolve() }
    this.cursors.set(cursor.id, cursor)
    return this.step(cursor, map)
  }

  /** The next page of an open listing. */
  async next<T>(id: string, map: (e: LdapEntry) => T): Promise<DirectoryPage<T>> {
    const now = Date.now()
    for (const c of [...this.cursors.values()]) if (c.id !== id && now - c.lastUsed > this.opts.idleMs) await this.close(c.id)
    const cursor = this.cursors.get(id)
    if (!cursor) throw new AppError('NOT_FOUND', 'cursor: this listing has ended or expired (idle too long, or signed out); list again from the first page', { field: 'cursor' })
    return this.step(cursor, map)
  }

  private step<T>(cursor: Cursor, map: (e: LdapEntry) => T): Promise<DirectoryPage<T>> {
    const run = async (): Promise<DirectoryPage<T>> => {
      cursor.lastUsed = Date.now()
      try {
        const page = cursor.ahead ?? (await this.pull(cursor))
        cursor.ahead = null
        if (!page) {
          await this.close(cursor.id)
          return { items: [], nextCursor: null }
        }
        // Read one page ahead so the caller knows whether a next page exists (no empty last page) and the
        // next request answers at once. A short page means the server sent no cookie: nothing to read.
        const ahead = page.length ? await this.pull(cursor) : null
        if (!ahead) await this.close(cursor.id)
        else cursor.ahead = ahead
        return { items: page.map(map), nextCursor: ahead ? cursor.id : null }
      } catch (e) {
        await this.close(cursor.id)
        throw e
      }
    }
    const p = cursor.chain.then(run, run)
    cursor.chain = p.catch(() => undefined)
    return p
  }

  /** The next non-empty page from the server, or null at the end. */
  private async pull(cursor: Cursor): Promise<LdapEntry[] | null> {
    const r = await cursor.pages.next()
    return r.done || r.value.length === 0 ? null : r.value
  }

  async close(id: string): Promise<boolean> {
    const c = this.cursors.get(id)
    if (!c) return false
    this.cursors.delete(id)
    await c.conn.close()
    return true
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.cursors.keys()].map((id) => this.close(id)))
  }
}

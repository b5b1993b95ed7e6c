/**
 * The command palette's search: pools, addresses by address, network, MAC (or MAC prefix) or host-name /
 * owner prefix, directory users and groups, audit entries by request id or sequence number, a few of each,
 * grouped. The renderer asks each source in a call of its own (`sources: [kind]`) so it paints each group as
 * it arrives; without `sources` one call fans out to all of them. Every source is a lean look-up with a
 * limit (ipam/palette.ts, directory/quick-find.ts), not the screens' full listings. A source that cannot
 * answer (signed out of the directory, say) gives its group a note instead of failing the whole search.
 */
import type { Core } from '..'
import type { RequestContext } from '../context'
import { AppError } from '../../../shared/errors'
import { PALETTE_KINDS, paletteSearchSchema, paletteSourceApplies, type PaletteGroup, type PaletteItem, type PaletteKind, type PaletteResults, type PaletteSearchInput } from '../../../shared/palette'
import { quickFindGroups, quickFindUsers } from '../directory/quick-find'
import { parse } from '../ipam/rows'
import { toAppError } from '../db/errors'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Why a group has nothing to show, in words for the palette. */
function noteOf(e: unknown): string {
  const err = toAppError(e)
  if (err.code === 'VALIDATION') return ''
  return err.message
}

async function settle(kind: PaletteGroup['kind'], work: () => Promise<Omit<PaletteGroup, 'kind'> | null>): Promise<PaletteGroup | null> {
  const started = performance.now()
  try {
    const r = await work()
    return r ? { kind, ...r, tookMs: Math.round((performance.now() - started) * 10) / 10 } : null
  } catch (e) {
    const note = noteOf(e)
    return note ? { kind, items: [], note } : null
  }
}

/**
 * `ctx`: the request's context as the session sees it (core.auth.requestContext); `raw`: the caller's own
 * context, from which the directory scope of the signed-in person is taken.
 */
export async function paletteSearch(core: Core, ctx: RequestContext, raw: RequestContext, input: PaletteSearchInput): Promise<PaletteResults> {
  const started = performance.now()
  const v = parse(paletteSearchSchema, input)
  const q = v.query
  const limit = v.limit
  const wanted = new Set<PaletteKind>((v.sources ?? PALETTE_KINDS).filter((k) => paletteSourceApplies(k, q)))

  const pools = (): Promise<PaletteGroup | null> =>
    settle('pool', async () => {
      const r = await core.ipam.palettePools(ctx, q, limit)
      return {
        total: r.total,
        ...(r.capped ? { totalCapped: true } : {}),
        items: r.items.map((p) => ({
          kind: 'pool' as const,
          key: String(p.id),
          title: p.name,
          detail: `${p.network}${p.site ? ` · ${p.site}` : ''} · ${p.percent}% used`
        }))
      }
    })

  const addresses = (): Promise<PaletteGroup | null> =>
    settle('address', async () => {
      // A bare word of one or two letters would match half the host names: wait for a little more.
      if (q.length < 2) return null
      const r = await core.ipam.paletteAddresses(ctx, q, limit)
      return {
        total: r.total,
        ...(r.capped ? { totalCapped: true } : {}),
        items: r.items.map((a) => ({
          kind: 'address' as const,
          key: a.ip,
          title: a.ip,
          detail: [a.hostname, a.mac, a.owner, a.poolName].filter(Boolean).join(' · '),
          poolId: a.poolId
        }))
      }
    })

  // The directory only for a signed-in person, and never a query per keystroke for one letter.
  const session = core.auth.status()
  const signedIn = session.signedIn && !session.locked
  const directoryNote = 'sign in to the directory to search users and groups'
  const users = (): Promise<PaletteGroup | null> =>
    settle('user', async () => {
      if (!signedIn) return { items: [], note: directoryNote }
      if (q.length < 2) return null
      const scope = await core.auth.scope(raw)
      const r = await quickFindUsers(scope.conn, q, limit)
      return { items: r.items.map((u) => ({ kind: 'user' as const, key: u.uid, title: u.uid, detail: [u.cn, u.mail].filter(Boolean).join(' · ') })), ...more(r) }
    })
  const groups = (): Promise<PaletteGroup | null> =>
    settle('group', async () => {
      if (!signedIn || q.length < 2) return null
      const scope = await core.auth.scope(raw)
      const r = await quickFindGroups(scope.conn, q, limit)
      return { items: r.items.map((g) => ({ kind: 'group' as const, key: g.cn, title: g.cn, detail: g.description ?? `${g.type} group` })), ...more(r) }
    })

  const audit = (): Promise<PaletteGroup | null> =>
    settle('audit', async () => {
      if (UUID.test(q)) {
        const page = await core.audit.list(ctx, { requestId: q.toLowerCase(), limit })
        return { items: page.items.map((e) => auditItem(e)) }
      }
      const seq = /^#?(\d{1,19})$/.exec(q)?.[1]
      if (seq) {
        try {
          return { items: [auditItem(await core.audit.get(ctx, seq))] }
        } catch (e) {
          if (e instanceof AppError && e.code === 'NOT_FOUND') return null
          throw e
        }
      }
      return null
    })

  const sources: Record<PaletteKind, () => Promise<PaletteGroup | null>> = { pool: pools, address: addresses, user: users, group: groups, audit }
  const answered = await Promise.all(PALETTE_KINDS.filter((k) => wanted.has(k)).map((k) => sources[k]()))
  const groupsOut = answered.filter((g): g is PaletteGroup => g !== null && (g.items.length > 0 || !!g.note))
  return { query: q, groups: groupsOut, tookMs: Math.round(performance.now() - started) }
}

/** A size-limited directory search knows only that there are more, not how many. */
const more = (r: { items: unknown[]; more: boolean }): Pick<PaletteGroup, 'total' | 'totalCapped'> => (r.more ? { total: r.items.length, totalCapped: true } : {})

function auditItem(e: { seq: string; action: string; resourceType: string; resourceName: string | null; userId: string | null; createdAt: string; requestId: string | null }): PaletteItem {
  return {
    kind: 'audit',
    key: e.seq,
    title: `#${e.seq} ${e.action} ${e.resourceType}${e.resourceName ? ` ${e.resourceName}` : ''}`,
    detail: [e.userId, e.createdAt.slice(0, 19).replace('T', ' '), e.requestId].filter(Boolean).join(' · ')
  }
}

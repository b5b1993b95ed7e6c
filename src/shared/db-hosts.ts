/**
 * Host lists of a server connection, as libpq writes them: a saved connection's host field
 * (`db1,db2:5433,[fd00::1]:5432`: an entry without a port takes the connection's port), a URL with several
 * hosts (`postgres://u@db1:5432,db2:5433/ipam`, or `?host=db1,db2&port=5432,5433`), and the key=value
 * form (`host=db1,db2 port=5432,5433 dbname=ipam user=u`). Shared by the core (connecting), the CLI and the
 * connection form (showing which host is in use). No node, electron or vue.
 */

export interface DbEndpoint {
  host: string
  port: number
  /** How the entry was written in a saved connection's host list (`db1`, `db2:5433`), for messages. */
  label?: string
}

/** The entry as written in a host list, else `host:port` (an IPv6 address in brackets). */
export const endpointLabel = (e: DbEndpoint): string => e.label ?? `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`

/** The same server (host names compare without regard to case). */
export const sameEndpoint = (a: DbEndpoint, b: DbEndpoint): boolean => a.host.toLowerCase() === b.host.toLowerCase() && Number(a.port) === Number(b.port)

/** One entry of a host list: `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address (no port). */
export function splitHostPort(entry: string, defaultPort: number): DbEndpoint {
  const e = entry.trim()
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(e)
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : defaultPort }
  const hp = /^([^:]+):(\d+)$/.exec(e)
  if (hp) return { host: hp[1]!, port: Number(hp[2]) }
  return { host: e, port: defaultPort }
}

/** A host field's endpoints in the order they are tried. */
export function endpointsOf(hostField: string, defaultPort: number): DbEndpoint[] {
  return hostField
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean)
    .map((h) => ({ ...splitHostPort(h, defaultPort), label: h }))
}

/** A port outside 1-65535 in a host list, named, or null. */
export function badPortIn(hostField: string): string | null {
  for (const e of endpointsOf(hostField, 5432)) if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) return endpointLabel(e)
  return null
}

export interface MultiHostUrl {
  /** The URL with only its first host (what a URL parser accepts), query parameters kept. */
  url: string
  /** Every host with its port, in order (one entry for a single-host URL). */
  endpoints: DbEndpoint[]
}

/**
 * Splits a postgres:// URL whose authority lists several hosts (`a:1,b:2`), or whose `host` / `port`
 * query parameters do (libpq), into a single-host URL and the endpoint list. Returns null when the text is
 * not a postgres URL at all (the caller refuses it with its own words).
 */
export function splitMultiHostUrl(text: string): MultiHostUrl | null {
  const m = /^(postgres(?:ql)?:\/\/)([^/?#@]*@)?([^/?#]*)(.*)$/i.exec(text.trim())
  if (!m) return null
  const [, scheme, userinfo = '', authority = '', rest = ''] = m
  const q = new URLSearchParams(/\?([^#]*)/.exec(rest)?.[1] ?? '')
  const qHost = q.get('host')
  const qPort = q.get('port')
  // The query's host list outranks the authority's, as in libpq.
  const hostText = qHost ?? authority
  const entries = hostText.split(',').map((h) => h.trim())
  const ports = (qPort ?? '').split(',').map((p) => p.trim()).filter(Boolean)
  const endpoints = entries.map((h, i) => {
    const e = splitHostPort(h || '127.0.0.1', 5432)
    const p = ports.length === 1 ? ports[0] : ports[i]
    return p && !/:\d+$/.test(h) ? { host: e.host, port: Number(p) } : e
  })
  const first = endpoints[0] ?? { host: '127.0.0.1', port: 5432 }
  if (qHost !== null || qPort !== null) {
    q.delete('host')
    q.delete('port')
  }
  const query = q.toString()
  const path = rest.replace(/\?[^#]*/, '')
  const url = `${scheme}${userinfo}${endpointLabel(first)}${path}${query ? `?${query}` : ''}`
  return { url, endpoints }
}

/**
 * libpq's key=value connection string (`host=a,b port=1,2 dbname=ipam user=nk sslmode=require`) as a
 * postgres:// URL with the same meaning; null when the text is not of that form.
 */
export function conninfoToUrl(text: string): string | null {
  const t = text.trim()
  if (!/^[a-z_]+\s*=/.test(t)) return null
  const pairs = new Map<string, string>()
  const re = /\s*([a-z_]+)\s*=\s*(?:'((?:\\.|[^'\\])*)'|(\S*))/gy
  let m: RegExpExecArray | null
  let end = 0
  while ((m = re.exec(t))) {
    pairs.set(m[1]!, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? ''))
    end = re.lastIndex
    if (end >= t.length) break
  }
  if (t.slice(end).trim()) return null
  const host = pairs.get('host') ?? pairs.get('hostaddr') ?? '127.0.0.1'
  const ports = (pairs.get('port') ?? '').split(',').filter(Boolean)
  const hosts = host.split(',').map((h, i) => {
    const p = ports.length === 1 ? ports[0] : ports[i]
    return endpointLabel({ host: h.trim(), port: Number(p || 5432) })
  })
  const user = pairs.get('user')
  const password = pairs.get('password')
  const auth = user ? `${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@` : ''
  const q = new URLSearchParams()
  for (const [k, v] of pairs) if (!['host', 'hostaddr', 'port', 'user', 'password', 'dbname'].includes(k)) q.set(k, v)
  const query = q.toString()
  return `postgresql://${auth}${hosts.join(',')}/${encodeURIComponent(pairs.get('dbname') ?? user ?? 'postgres')}${query ? `?${query}` : ''}`
}

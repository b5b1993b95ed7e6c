/**
 * The browser test harness: serves the BUILT renderer (out/renderer) on loopback and answers the same
 * handler table the Electron shell serves, over HTTP instead of IPC, so the real UI can be driven by a
 * real Chromium where Electron's binary is not available. Development and testing only: electron-vite
 * bundles just src/main/index.ts, so nothing here reaches the packaged app.
 *
 * What stands in for the preload: index.html gets `<script src="/__bridge/shim.js">` injected before the
 * app's own script; the shim defines `window.netkeeper` with the preload object's shape and calls
 * POST /__bridge/invoke/:channel.
 *
 * Who may use it: the one who started it. The harness prints a one-time sign-in URL on its console
 * (`/__bridge/login?token=...`, 192 random bits). Opening it trades the token, once, for a session cookie
 * (HttpOnly, SameSite=Strict, this port's own name) and redirects to the clean URL. Every other request
 * needs that cookie (else 401), so the page and the shim carry no secret another local user could fetch;
 * a used token is refused (403). Every request also needs a Host header naming this server by a loopback
 * name and its port (against DNS rebinding; else 421), and a bridge call, when the browser sends one, an
 * Origin of this server (else 403).
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { channels, contract, type Channel } from '../../shared/contract'
import { RESPONSE_CSP } from '../../shared/csp'
import type { Core } from '../core'
import { makeContext, type RequestContext } from '../core/context'
import { toAppError } from '../core/db/errors'
import { resolveDataDir } from '../core/paths'
import { CoreHost } from '../ipc/degraded'
import type { FileDialogs, SaveTarget } from '../ipc/file-export'
import { dispatch } from '../ipc/handlers'
import { AppError } from '../../shared/errors'

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const DEFAULT_RENDERER_DIR = path.join(projectRoot, 'out/renderer')
const BRIDGE_PREFIX = '/__bridge/'
const MAX_BODY_BYTES = 1024 * 1024

export interface WebHarnessOptions {
  /** 0 (the default) picks a free port. */
  port?: number
  /** Loopback only: 127.0.0.1 (default), another 127.x address, ::1 or localhost. */
  host?: string
  /** An open core to serve; the harness does not close it. Without one, the harness opens its own. */
  core?: Core
  /**
   * Used when no core is given. Without it the core resolves the database as the CLI does:
   * NETKEEPER_DATABASE_URL, the saved profile, or the embedded database in the data folder.
   */
  databaseUrl?: string
  rendererDir?: string
}

export interface WebHarness {
  /** The clean URL of the app (needs the session cookie). */
  url: string
  /** A new one-time sign-in URL: opening it sets the session cookie and redirects to `url`. Works once. */
  loginUrl(): string
  /** The name of the session cookie (port-specific: cookies do not tell ports apart). */
  cookieName: string
  close(): Promise<void>
}

export class HarnessError extends Error {}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true
  return /^127(\.\d{1,3}){3}$/.test(host) && host.split('.').every((p) => Number(p) <= 255)
}

/**
 * The Electron build replaces `__APP_VERSION__` at build time; run from source there is no build step, so
 * provide the same global from package.json for app:info (see createHandlers).
 */
function provideAppVersion(): void {
  const g = globalThis as { __APP_VERSION__?: string }
  if (typeof g.__APP_VERSION__ === 'string') return
  try {
    g.__APP_VERSION__ = (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    /* leave app:info to its npm_package_version fallback */
  }
}

function userName(): string {
  try {
    return os.userInfo().username
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'unknown'
  }
}

function uiContext(req: http.IncomingMessage): RequestContext {
  return makeContext({ actor: userName(), roles: ['admin'], source: 'ui', ip: req.socket.remoteAddress, userAgent: req.headers['user-agent'] })
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json'
}

const BASE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin'
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...BASE_HEADERS, 'Content-Length': Buffer.byteLength(body), ...headers })
  res.end(body)
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON.stringify(value), { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' })
}

/**
 * The browser-side stand-in for the preload object: same members as createBridge() in src/preload/bridge.ts
 * (`invoke`, `onNavigate`, `onOpenLink`, `onHistory`), with fetch as the transport. Plain ES2017 so no build step is needed.
 */
function shimSource(): string {
  return `'use strict';
(() => {
  const known = new Set(${JSON.stringify(channels)});
  const fail = (code, message) => ({ ok: false, error: { code, message } });
  const bridge = {
    nativeNotifications: false, // the page uses the web Notification
    async invoke(channel, args) {
      if (!known.has(channel)) return fail('NOT_FOUND', 'unknown channel "' + String(channel) + '"');
      const res = await fetch(${JSON.stringify(`${BRIDGE_PREFIX}invoke/`)} + encodeURIComponent(channel), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(args === undefined ? {} : args)
      });
      if (!res.ok) return fail('UNAVAILABLE', 'the web harness answered HTTP ' + res.status);
      return res.json();
    },
    onNavigate() {
      return () => undefined; // no native menu in a browser
    },
    // The harness's link entry: opening the page at #open=<netkeeper link> (or changing the hash to one
    // later) stands in for the OS handing a link to the app (a first launch, or a second one).
    onOpenLink(callback) {
      const take = () => {
        const m = /^#open=(.+)$/.exec(location.hash);
        if (!m) return;
        let link;
        try { link = decodeURIComponent(m[1]); } catch (e) { return; }
        history.replaceState(null, '', location.pathname + location.search);
        if (link.length <= 2048) callback(link);
      };
      window.addEventListener('hashchange', take);
      setTimeout(take, 0);
      return () => window.removeEventListener('hashchange', take);
    },
    onHistory() {
      return () => undefined; // the page hears the mouse's back and forward buttons itself
    }
  };
  Object.defineProperty(window, 'netkeeper', { value: Object.freeze(bridge), enumerable: true });
})();
`
}

/**
 * A set of random secrets (one-time sign-in tokens, session ids) looked up by their SHA-256, so the look-up
 * takes the same time however much of a guess matches.
 */
class SecretSet {
  private readonly hashes = new Set<string>()
  private static hash(s: string): string {
    return createHash('sha256').update(s).digest('hex')
  }
  /** A new secret, remembered. */
  issue(): string {
    const s = randomBytes(24).toString('hex')
    this.hashes.add(SecretSet.hash(s))
    return s
  }
  has(s: string | undefined): boolean {
    return typeof s === 'string' && s.length > 0 && this.hashes.has(SecretSet.hash(s))
  }
  /** Forgets `s`; true when it was there (so a one-time token is taken exactly once). */
  take(s: string | undefined): boolean {
    return typeof s === 'string' && s.length > 0 && this.hashes.delete(SecretSet.hash(s))
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY_BYTES) throw new HarnessError('request body too large')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * A browser has no native file dialogs. A save goes to a private temporary folder and is offered to the
 * page as a one-time download link (an unguessable id; served once the file is complete, then removed),
 * which the page turns into a download; choosing a file to open is refused with what to do instead.
 */
function harnessFileDialogs(): FileDialogs & { serve(id: string): { file: string; name: string } | undefined; close(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-harness-downloads-'))
  const files = new Map<string, { file: string; name: string; ready: boolean }>()
  return {
    async chooseSaveFile({ defaultName }) {
      const id = randomBytes(16).toString('hex')
      const name = path.basename(defaultName)
      const file = path.join(dir, `${id}-${name}`)
      files.set(id, { file, name, ready: false })
      return { file, download: { url: `${BRIDGE_PREFIX}download/${id}`, name } }
    },
    async chooseOpenFile() {
      throw new AppError('UNAVAILABLE', 'file: this browser window has no file chooser (the desktop app has one); type the path of the file instead')
    },
    beside(target: SaveTarget, suffix: string) {
      const id = randomBytes(16).toString('hex')
      const name = `${target.download?.name ?? path.basename(target.file)}${suffix}`
      const file = path.join(dir, `${id}-${name}`)
      files.set(id, { file, name, ready: false })
      return { file, download: { url: `${BRIDGE_PREFIX}download/${id}`, name } }
    },
    saved(target: SaveTarget) {
      const id = target.download?.url.split('/').pop()
      const entry = id ? files.get(id) : undefined
      if (entry) entry.ready = true
    },
    serve(id: string) {
      const entry = files.get(id)
      if (!entry?.ready) return undefined
      files.delete(id)
      return entry
    },
    close() {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

export async function startWebHarness(opts: WebHarnessOptions = {}): Promise<WebHarness> {
  const host = opts.host ?? '127.0.0.1'
  if (!isLoopbackHost(host)) {
    throw new HarnessError(`--host ${host}: the web harness listens on loopback only (127.0.0.1, ::1 or localhost)`)
  }
  const rendererDir = path.resolve(opts.rendererDir ?? DEFAULT_RENDERER_DIR)
  const indexFile = path.join(rendererDir, 'index.html')
  if (!fs.existsSync(indexFile)) {
    throw new HarnessError(`${indexFile} does not exist: build the renderer first with \`npx electron-vite build\``)
  }

  provideAppVersion()
  const loginTokens = new SecretSet()
  const sessions = new SecretSet()
  const dialogs = harnessFileDialogs()
  const coreHost = opts.core
    ? CoreHost.fromCore(opts.core, dialogs)
    : // NETKEEPER_DATABASE_URL is left to the core, so the UI reports it as coming from the environment.
      CoreHost.start({ databaseUrl: opts.databaseUrl, dataDir: resolveDataDir(), migrate: true }, dialogs)
  // Not waited for: as the Electron shell does, the page loads while the core opens (PGlite's start, the
  // migration check), and its first requests wait in CoreHost.handlers() until the core is open or known to
  // be unreachable; meanwhile the window says it is opening the database.

  // index.html is small and fixed for the life of the process: inject the shim once. Neither carries a secret.
  const shimTag = `<script src="${BRIDGE_PREFIX}shim.js"></script>`
  const rawIndex = fs.readFileSync(indexFile, 'utf8')
  const firstScript = rawIndex.indexOf('<script')
  const indexHtml =
    firstScript >= 0 ? `${rawIndex.slice(0, firstScript)}${shimTag}\n    ${rawIndex.slice(firstScript)}` : rawIndex.replace('</head>', `${shimTag}</head>`)

  let origins: Set<string> = new Set()
  let hosts: Set<string> = new Set()
  let cookieName = 'netkeeper_harness'

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((e) => {
      console.error('[web] request failed:', e)
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' })
      else res.destroy()
    })
  })

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example.
    if (!req.headers.host || !hosts.has(req.headers.host.toLowerCase())) {
      return send(res, 421, 'unknown host', { 'Content-Type': 'text/plain' })
    }
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`)

    if (url.pathname === `${BRIDGE_PREFIX}login`) return login(req, res, url)
    if (!sessions.has(cookieValue(req.headers.cookie, cookieName))) {
      return send(res, 401, 'not signed in: open the one-time sign-in URL the web harness printed on its console\n', { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
    }
    if (url.pathname.startsWith(BRIDGE_PREFIX)) return handleBridge(req, res, url)

    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed', { Allow: 'GET, HEAD' })
    if (url.pathname === '/' || url.pathname === '/index.html') {
      return send(res, 200, indexHtml, {
        'Content-Type': CONTENT_TYPES['.html'],
        'Content-Security-Policy': RESPONSE_CSP,
        'Cache-Control': 'no-store'
      })
    }
    return serveStatic(res, url.pathname)
  }

  /** Trades a one-time token for a session cookie, then sends the browser to the clean URL. */
  function login(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    if (req.method !== 'GET') return send(res, 405, 'method not allowed', { Allow: 'GET' })
    if (!loginTokens.take(url.searchParams.get('token') ?? undefined)) {
      return send(res, 403, 'this sign-in URL is unknown or was already used (each works once); restart the web harness for a new one\n', {
        'Content-Type': 'text/plain; charset=utf-8',
        'Cache-Control': 'no-store'
      })
    }
    const sid = sessions.issue()
    res.writeHead(303, {
      ...BASE_HEADERS,
      Location: '/',
      'Set-Cookie': `${cookieName}=${sid}; Path=/; HttpOnly; SameSite=Strict`,
      'Cache-Control': 'no-store',
      'Content-Length': 0
    })
    res.end()
  }

  async function handleBridge(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const rest = url.pathname.slice(BRIDGE_PREFIX.length)
    if (rest === 'shim.js' && req.method === 'GET') {
      return send(res, 200, shimSource(), { 'Content-Type': CONTENT_TYPES['.js'], 'Cache-Control': 'no-store' })
    }
    if (rest.startsWith('download/') && (req.method === 'GET' || req.method === 'HEAD')) return serveDownload(res, rest.slice('download/'.length))
    if (!rest.startsWith('invoke/')) return sendJson(res, 404, { error: 'not found' })
    if (req.method !== 'POST') return send(res, 405, 'method not allowed', { Allow: 'POST' })
    if (req.headers.origin !== undefined && !origins.has(req.headers.origin)) return sendJson(res, 403, { error: 'foreign origin' })
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return sendJson(res, 415, { error: 'expected application/json' })

    let channel: string
    try {
      channel = decodeURIComponent(rest.slice('invoke/'.length))
    } catch {
      return sendJson(res, 400, { error: 'bad channel name' })
    }
    if (!Object.hasOwn(contract, channel)) return sendJson(res, 404, { error: `unknown channel "${channel}"` })

    let args: unknown
    try {
      const body = await readBody(req)
      args = body.trim() ? JSON.parse(body) : {}
    } catch (e) {
      return sendJson(res, e instanceof HarnessError ? 413 : 400, { error: e instanceof HarnessError ? e.message : 'body is not JSON' })
    }
    // Transport errors above are HTTP statuses; from here on every answer is an Envelope, as over IPC.
    try {
      const table = await coreHost.handlers()
      return sendJson(res, 200, await dispatch(table, channel as Channel, args, uiContext(req)))
    } catch (e) {
      return sendJson(res, 200, { ok: false, error: toAppError(e).toPayload() })
    }
  }

  /** A finished export, once: the link is the capability (128 random bits), like a one-time URL. */
  function serveDownload(res: http.ServerResponse, id: string): void {
    const entry = /^[0-9a-f]{32}$/.test(id) ? dialogs.serve(id) : undefined
    if (!entry) return sendJson(res, 404, { error: 'no such download (each link works once)' })
    const type = entry.name.endsWith('.csv') ? 'text/csv; charset=utf-8' : entry.name.endsWith('.jsonl') ? 'application/jsonl' : 'application/json'
    let size: number
    try {
      size = fs.statSync(entry.file).size
    } catch {
      return sendJson(res, 404, { error: 'the exported file is gone' })
    }
    // Streamed: an export can be far larger than memory should hold. Removed once sent (or abandoned).
    res.writeHead(200, {
      ...BASE_HEADERS,
      'Content-Type': type,
      'Content-Length': size,
      'Content-Disposition': `attachment; filename="${entry.name.replace(/["\\\r\n]/g, '_')}"`,
      'Cache-Control': 'no-store'
    })
    const stream = fs.createReadStream(entry.file)
    const cleanup = (): void => void fs.promises.rm(entry.file, { force: true })
    stream.on('error', () => res.destroy())
    res.on('close', () => {
      stream.destroy()
      cleanup()
    })
    stream.pipe(res)
  }

  function serveStatic(res: http.ServerResponse, pathname: string): void {
    let rel: string
    try {
      rel = decodeURIComponent(pathname)
    } catch {
      return send(res, 400, 'bad path', { 'Content-Type': 'text/plain' })
    }
    const file = path.resolve(rendererDir, '.' + rel)
    // No escaping the renderer folder (../, encoded or not), and no dotfiles.
    if (!file.startsWith(rendererDir + path.sep) || rel.split('/').some((p) => p.startsWith('.'))) {
      return send(res, 404, 'not found', { 'Content-Type': 'text/plain' })
    }
    let body: Buffer
    try {
      body = fs.readFileSync(file)
    } catch {
      return send(res, 404, 'not found', { 'Content-Type': 'text/plain' })
    }
    const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream'
    // Vite's assets carry a content hash in their names: safe to cache.
    const cache = rel.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache'
    send(res, 200, body, { 'Content-Type': type, 'Cache-Control': cache })
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (e) {
    await coreHost.close()
    dialogs.close()
    throw e
  }
  const address = server.address()
  if (!address || typeof address === 'string') throw new HarnessError('the server has no TCP address')
  const hostInUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${hostInUrl}:${address.port}/`
  hosts = new Set([`${hostInUrl}:${address.port}`, `localhost:${address.port}`])
  origins = new Set([...hosts].map((h) => `http://${h}`))
  cookieName = `netkeeper_harness_${address.port}`

  let closing: Promise<void> | undefined
  return {
    url,
    loginUrl: () => `${url}${BRIDGE_PREFIX.slice(1)}login?token=${loginTokens.issue()}`,
    cookieName,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
        await coreHost.close()
        dialogs.close()
      })())
  }
}

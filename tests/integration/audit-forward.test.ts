/**
 * Forwarding the audit log (docs/audit.md#forwarding) to a real rsyslogd started here on loopback (plain
 * TCP, TLS with a CA made by the test, UDP) and to a local HTTP receiver that checks webhook signatures:
 * every row arrives in order with the expected fields; rsyslog stopped for a while loses nothing; the CLI's
 * forwarder killed with SIGKILL at random points leaves no gap, only repeats a receiver can spot by seq.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Core } from '../../src/main/core'
import { readAnchors, setAnchorSettings } from '../../src/main/core/audit/anchors'
import { checkWebhookSignature } from '../../src/main/core/audit/forward/webhook'
import { appendAudit } from '../../src/main/core/audit/writer'
import { makeContext } from '../../src/main/core/context'
import { cli } from '../support/cli'
import { ctxAs } from '../support/core'
import { freshDatabase } from '../support/db'
import { freePort } from '../support/postgres'
import { rsyslogMissing, startRsyslog, type Rsyslog } from '../support/rsyslog'
import { until } from '../support/until'

const missing = rsyslogMissing()
if (missing) console.warn(`[audit-forward] skipped: ${missing}`)

const root = path.resolve(import.meta.dirname, '..', '..')
let core: Core
let url: string
let dir: string
let dataDir: string
let syslog: Rsyslog
const admin = ctxAs('admin', 'alice')
/** Forwarders this file started: none is left running, whatever fails. */
const children: ChildProcess[] = []
const env = (): NodeJS.ProcessEnv => ({ NETKEEPER_DATABASE_URL: url, NETKEEPER_DATA_DIR: dataDir })

async function seed(n: number, name = (i: number) => `item ${i}`): Promise<void> {
  const ctx = makeContext({ actor: 'seeder', roles: ['admin'], source: 'cli' })
  await core.db.knex.transaction(async (trx) => {
    for (let i = 0; i < n; i++) await appendAudit(trx, ctx, { action: 'update', resourceType: 'forwarded_item', resourceId: i, resourceName: name(i), details: { after: { n: i } } })
  })
}

const headSeq = async (): Promise<number> => Number((await core.db.knex.raw<{ rows: { s: string }[] }>(`select last_seq::text as s from audit_chain_head`)).rows[0]!.s)
const allSeqs = async (): Promise<number[]> => (await core.db.knex.raw<{ rows: { s: string }[] }>(`select seq::text as s from audit_logs order by seq`)).rows.map((r) => Number(r.s))

/** The seqs of forwarded audit rows in a receiver's file, in the order they arrived. */
function received(lines: string[]): number[] {
  return lines.map((l) => /\[netkeeper@32473 seq="(\d+)"/.exec(l)?.[1]).filter((s): s is string => !!s).map(Number)
}

/** At-least-once, in order: first arrivals are exactly `want` in order; every repeat is of a row already seen. */
function expectInOrder(got: number[], want: number[]): { repeats: number } {
  const seen = new Set<number>()
  const firsts: number[] = []
  let repeats = 0
  for (const s of got) {
    if (seen.has(s)) repeats++
    else {
      seen.add(s)
      firsts.push(s)
    }
  }
  expect(firsts).toEqual(want)
  return { repeats }
}

beforeAll(async () => {
  if (missing) return
  url = await freshDatabase('audit_forward')
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-forward-'))
  dataDir = path.join(dir, 'data')
  fs.mkdirSync(dataDir)
  core = await Core.open({ databaseUrl: url, dataDir, migrate: true })
  syslog = await startRsyslog()
}, 60_000)
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await core?.close()
  await syslog?.stop()
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
  if (syslog) fs.rmSync(syslog.dir, { recursive: true, force: true })
})

describe.skipIf(!!missing)('audit forwarding to rsyslog', () => {
  it('refuses bad input naming the field', async () => {
    const bad = async (input: Parameters<Core['sinks']['add']>[1]): Promise<string> => {
      const e = await core.sinks.add(admin, input).then(
        () => null,
        (x: Error) => x
      )
      expect(e).not.toBeNull()
      return e!.message
    }
    expect(await bad({ name: 'x', url: 'tcp://127.0.0.1:99999' })).toMatch(/^url: port 99999 is not a port/)
    expect(await bad({ name: 'x', url: 'gopher://h:1' })).toMatch(/^url: the scheme gopher: is not one of/)
    expect(await bad({ name: 'x', url: 'tcp://127.0.0.1' })).toMatch(/^url: give the port/)
    const closed = await freePort()
    expect(await bad({ name: 'x', url: `tcp://127.0.0.1:${closed}` })).toBe(`url: cannot deliver to tcp://127.0.0.1:${closed}: connection refused (ECONNREFUSED)`)
    expect(await bad({ name: 'x', url: `http://127.0.0.1:${closed}/hook` })).toMatch(/^url: cannot deliver to http:\/\/127\.0\.0\.1:\d+: connection refused/)
    expect(await bad({ name: 'x', url: `tls://127.0.0.1:${syslog.tlsPort}`, ca: syslog.otherCaPem })).toMatch(/^ca: the TLS handshake with tls:\/\/127\.0\.0\.1:\d+ failed: .*give the CA/)
    expect(await bad({ name: 'x', url: `tls://127.0.0.1:${syslog.tlsPort}`, ca: syslog.caPem, serverName: 'wrong.example' })).toMatch(/^serverName: the certificate of tls:\/\/127\.0\.0\.1:\d+ is not for wrong\.example/)
    expect(await bad({ name: 'x', url: `tcp://127.0.0.1:${syslog.tcpPort}`, ca: syslog.caPem })).toMatch(/^ca: applies to tls:\/\/ and https:\/\/ sinks only/)
    expect(await bad({ name: 'bad name!', url: `tcp://127.0.0.1:${syslog.tcpPort}` })).toMatch(/^name: /)
    expect(await bad({ name: 'x', url: `tcp://127.0.0.1:${syslog.tcpPort}`, secret: 'k'.repeat(20) })).toMatch(/^secret: is the HMAC key of a webhook/)
    // The CLI says the same and exits 1.
    const r = await cli(['audit', 'sink', 'add', 'x', 'tcp://127.0.0.1:70000'], env())
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/url: port 70000 is not a port \(1 to 65535\)/)
    expect((await core.sinks.list(admin)).length).toBe(0)
  })

  it('delivers every row once, in order, with the expected fields, over TCP, TLS and UDP', async () => {
    await seed(150)
    await seed(1, () => 'odd "name" ] \\ ünï')
    await core.sinks.add(admin, { name: 'tcp', url: `tcp://127.0.0.1:${syslog.tcpPort}`, hostname: 'nk-test', batchSize: 40 })
    await core.sinks.add(admin, { name: 'tls', url: `tls://127.0.0.1:${syslog.tlsPort}`, ca: syslog.caPem })
    await core.sinks.add(admin, { name: 'udp', url: `udp://127.0.0.1:${syslog.udpPort}`, format: 'cef', facility: 'audit' })
    const before = await core.forwardStatus(admin)
    expect(before.sinks.map((s) => [s.name, s.cursorSeq, s.backlog > 150])).toEqual([
      ['tcp', '0', true],
      ['tls', '0', true],
      ['udp', '0', true]
    ])
    const f = core.makeForwarder()
    const r = await f.drain()
    expect(r.sinks.map((s) => [s.name, s.error, s.backlog])).toEqual([
      ['tcp', null, 0],
      ['tls', null, 0],
      ['udp', null, 0]
    ])
    const want = await allSeqs()
    const head = await headSeq()
    // TCP: exactly once, in order; rsyslog parsed the header and the structured data.
    await until('rsyslog wrote the TCP rows', async () => received(syslog.lines('tcp')).length >= want.length, 15_000)
    expect(received(syslog.lines('tcp'))).toEqual(want)
    const fields = syslog.lines('tcp', 'fields').filter((l) => l.includes('|audit|'))
    expect(fields.length).toBe(want.length)
    expect(fields[0]).toMatch(/^13[2-4]\|\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)\|nk-test\|netkeeper\|\d+\|audit\|\[netkeeper@32473 seq="1" chain="[0-9a-f-]{36}" action="/)
    const oddSeq = (await core.db.knex.raw<{ rows: { s: string }[] }>(`select seq::text as s from audit_logs where resource_name like 'odd %'`)).rows[0]!.s
    const odd = syslog.lines('tcp').find((l) => l.includes('seq="' + oddSeq + '"'))!
    expect(odd).toContain('resourceName="odd \\"name\\" \\] \\\\ ünï"')
    expect(syslog.lines('tcp', 'fields').find((l) => l.includes('seq="' + oddSeq + '"'))).toContain('resourceName="odd \\"name\\" \\] \\\\ ünï"')
    // The message is the row as a JSON Lines export writes it: its hash is the chain's.
    const msg = JSON.parse(odd.slice(odd.indexOf('"] {') + 3)) as { seq: string; rowHash: string; resourceName: string }
    const dbRow = (await core.db.knex.raw<{ rows: { row_hash: string }[] }>(`select row_hash from audit_logs where seq = ?`, [oddSeq])).rows[0]!
    expect(msg).toMatchObject({ seq: oddSeq, rowHash: dbRow.row_hash, resourceName: 'odd "name" ] \\ ünï' })
    // TLS: the same.
    await until('rsyslog wrote the TLS rows', async () => received(syslog.lines('tls')).length >= want.length, 15_000)
    expect(received(syslog.lines('tls'))).toEqual(want)
    // UDP (CEF): on loopback every datagram arrives; CEF carries the seq as externalId.
    await until('rsyslog wrote the UDP rows', async () => syslog.lines('udp').filter((l) => l.includes('CEF:0|')).length >= want.length, 15_000)
    const cef = syslog.lines('udp').filter((l) => l.includes('CEF:0|'))
    expect(cef.map((l) => Number(/externalId=(\d+)/.exec(l)![1]))).toEqual(want)
    // Row 1 is the refused sink of the first test (a failure): facility audit (13) * 8 + warning (4); CEF severity 7.
    expect(cef[0]).toMatch(/^<108>1 .* audit - CEF:0\|Netkeeper\|Netkeeper\|[^|]+\|audit_sink:create\|create audit_sink\|7\|rt=\d+ externalId=1 act=create outcome=failure suser=alice /)
    // Nothing more to send: a second drain sends nothing.
    const again = await f.drain()
    expect(again.sinks.every((s) => s.sent === 0)).toBe(true)
    const st = await cli(['--json', 'audit', 'forward', '--status'], env())
    expect(st.code).toBe(0)
    expect(st.json().sinks.map((s: { name: string; cursorSeq: string; backlog: number; lastError: null }) => [s.name, s.cursorSeq, s.backlog, s.lastError])).toEqual([
      ['tcp', String(head), 0, null],
      ['tls', String(head), 0, null],
      ['udp', String(head), 0, null]
    ])
    await core.sinks.setEnabled(admin, 'udp', false)
    await core.sinks.setEnabled(admin, 'tls', false)
  }, 60_000)

  it('loses nothing while rsyslog is stopped: the follower retries with backoff and catches up', async () => {
    const f = core.makeForwarder({ pollMs: 100, backoffBaseMs: 200, backoffMaxMs: 800, log: () => undefined })
    const following = f.follow()
    await seed(30)
    await until('the follower sent the new rows', async () => (await core.forwardStatus(admin)).sinks.find((s) => s.name === 'tcp')!.backlog === 0)
    await syslog.stop()
    await seed(40)
    const failing = await until('the sink shows the failure', async () => {
      const s = (await core.forwardStatus(admin)).sinks.find((x) => x.name === 'tcp')!
      return s.lastError && s.attempts >= 2 ? s : undefined
    })
    expect(failing.lastError).toMatch(/^url: cannot deliver to tcp:\/\/127\.0\.0\.1:\d+: connection refused/)
    expect(failing.backlog).toBe(40)
    expect(failing.nextRetryAt).not.toBeNull()
    await seed(10)
    await new Promise((r) => setTimeout(r, 1500))
    await syslog.start()
    await until('the follower caught up', async () => {
      const s = (await core.forwardStatus(admin)).sinks.find((x) => x.name === 'tcp')!
      return s.backlog === 0 && !s.lastError
    })
    await f.stop()
    await following
    await until('rsyslog wrote every row', async () => new Set(received(syslog.lines('tcp'))).size >= (await allSeqs()).length)
    expectInOrder(received(syslog.lines('tcp')), await allSeqs())
  }, 90_000)

  it('after SIGKILL at random points the CLI forwarder resumes with no gap; repeats only of rows already sent', async () => {
    const added = await core.sinks.add(admin, { name: 'killed', url: `tcp://127.0.0.1:${syslog.tcpPort}`, hostname: 'nk-killed', batchSize: 25, start: 'now' })
    // Forwarding starts after the head as it was when the sink was added (its own creation row is the first sent).
    const startSeq = Number(added.sink.cursorSeq)
    await seed(400)
    const cliArgs = (): string[] => {
      const built = path.join(root, 'out', 'main', 'cli.js')
      return fs.existsSync(built) && fs.statSync(built).mtimeMs > fs.statSync(path.join(root, 'src/main/core/audit/forward/forwarder.ts')).mtimeMs
        ? [process.execPath, built]
        : // tsx's own CLI would run the program in a child process, which a SIGKILL of its parent leaves running.
          [process.execPath, '--import', 'tsx', path.join(root, 'src/main/cli/index.ts')]
    }
    let killed = 0
    for (let round = 0; round < 4; round++) {
      const [bin, ...pre] = cliArgs()
      const child: ChildProcess = spawn(bin!, [...pre, 'audit', 'forward', '--sink', 'killed', '--interval', '100'], { cwd: root, env: { ...process.env, ...env() }, stdio: 'ignore' })
      children.push(child)
      // Let it start and send some of the backlog, then kill it mid-way.
      const base = Number((await core.forwardStatus(admin)).sinks.find((s) => s.name === 'killed')!.cursorSeq)
      await until('the forwarder moved', async () => Number((await core.forwardStatus(admin)).sinks.find((s) => s.name === 'killed')!.cursorSeq) > base || child.exitCode !== null, 60_000)
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)))
      if (child.exitCode === null) {
        child.kill('SIGKILL')
        await new Promise((r) => child.once('exit', r))
      }
      killed++
      await seed(50)
    }
    expect(killed).toBe(4)
    // A last run drains what is left; a dead forwarder's lease on this machine is taken over at once.
    const r = await cli(['--json', 'audit', 'forward', '--once', '--sink', 'killed'], env())
    expect(r.code, r.stderr).toBe(0)
    expect(r.json().sinks[0]).toMatchObject({ name: 'killed', error: null, backlog: 0 })
    const want = (await allSeqs()).filter((s) => s > startSeq)
    await until('rsyslog wrote every row', async () => new Set(received(syslog.lines('tcp').filter((l) => l.includes(' nk-killed ')))).size >= want.length)
    const got = received(syslog.lines('tcp').filter((l) => l.includes(' nk-killed ')))
    const { repeats } = expectInOrder(got, want)
    // A kill can repeat at most the batch in flight (25 rows) per kill.
    expect(repeats).toBeLessThanOrEqual(killed * 25)
  }, 240_000)

  it('a CLI follower stopped with SIGTERM finishes its batch, gives the lease back and exits 0', async () => {
    await seed(20)
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/main/cli/index.ts'), 'audit', 'forward', '--sink', 'killed', '--interval', '100'], {
      cwd: root,
      env: { ...process.env, ...env() },
      stdio: ['ignore', 'ignore', 'pipe']
    })
    children.push(child)
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const sink = async () => (await core.forwardStatus(admin)).sinks.find((s) => s.name === 'killed')!
    const held = await until('the follower holds the lease and caught up', async () => {
      const s = await sink()
      return s.forwarder && s.backlog === 0 ? s : undefined
    })
    expect(held.forwarder).toMatch(new RegExp(`^${os.hostname()}:${child.pid}:[0-9a-f]{8}$`))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    expect(await exited, stderr).toBe(0)
    expect((await sink()).forwarder).toBeNull()
  }, 60_000)

  it('anchors the head to a syslog sink; verify --anchors reads the receiver file', async () => {
    setAnchorSettings(dataDir, { sink: 'tcp' })
    const a = await core.audit.anchor(admin)
    expect(a.sink).toBe('tcp')
    await until('rsyslog wrote the anchor', async () => syslog.lines('tcp').some((l) => l.includes(' anchor [netkeeper-anchor@32473 ')))
    const line = syslog.lines('tcp').find((l) => l.includes(' anchor [netkeeper-anchor@32473 '))!
    expect(line).toContain(`seq="${a.seq}" hash="${a.hash}"`)
    const fromFile = readAnchors(syslog.file('tcp', 'raw'))
    expect(fromFile.map((x) => [x.seq, x.hash])).toEqual([[a.seq, a.hash]])
    const v = await core.audit.verify(admin, undefined, { anchors: syslog.file('tcp', 'raw') })
    expect(v.ok).toBe(true)
    expect(v.anchors).toMatchObject({ checked: 1 })
    // A sink that is not there is named.
    setAnchorSettings(dataDir, { sink: 'nope' })
    await expect(core.audit.anchor(admin)).rejects.toThrow(/^anchorSink: no audit sink is called nope/)
    setAnchorSettings(dataDir, { sink: null })
  })
})

describe.skipIf(!!missing)('audit forwarding over TLS with a client certificate', () => {
  it('presents the certificate with its key from the keychain; a server that requires one refuses a sink without it', async () => {
    const { execFileSync } = await import('node:child_process')
    const tls = await import('node:tls')
    const d = syslog.dir
    const ssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: d, stdio: 'ignore' })
    ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=netkeeper-forwarder'])
    fs.writeFileSync(path.join(d, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
    ssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2', '-extfile', 'client.ext'])
    const got: string[] = []
    const peers: string[] = []
    const server = tls.createServer(
      { key: fs.readFileSync(path.join(d, 'server.key')), cert: fs.readFileSync(path.join(d, 'server.pem')), ca: syslog.caPem, requestCert: true, rejectUnauthorized: true },
      (sock) => {
        peers.push(String(sock.getPeerCertificate().subject?.CN ?? ''))
        let buf = ''
        sock.setEncoding('utf8')
        sock.on('data', (c: string) => (buf += c))
        sock.on('end', () => {
          got.push(buf)
          sock.end()
        })
      }
    )
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
    try {
      const url = `tls://127.0.0.1:${port}`
      const refused = await core.sinks.add(admin, { name: 'nocert', url, ca: syslog.caPem }).then(
        () => null,
        (e: Error) => e.message
      )
      expect(refused).toMatch(/^clientCert: tls:\/\/127\.0\.0\.1:\d+ refused the connection for want of a client certificate it trusts \(.+\); give one with its key$/)
      const cert = fs.readFileSync(path.join(d, 'client.pem'), 'utf8')
      const key = fs.readFileSync(path.join(d, 'client.key'), 'utf8')
      expect(await core.sinks.add(admin, { name: 'x', url, ca: syslog.caPem, clientCert: cert, clientKey: syslog.otherCaPem }).catch((e: Error) => e.message)).toMatch(/^clientKey: /)
      const added = await core.sinks.add(admin, { name: 'mtls', url, ca: syslog.caPem, clientCert: cert, clientKey: key, start: 'now' })
      expect(added.sink).toMatchObject({ hasClientCert: true, needsSecret: true, hasSecret: true })
      await seed(3)
      const r = await core.makeForwarder({ only: ['mtls'] }).drain()
      expect(r.sinks[0]).toMatchObject({ error: null, backlog: 0 })
      expect(peers.every((p) => p === 'netkeeper-forwarder')).toBe(true)
      expect(received(got.join('\n').split(/(?=\d+ <\d+>1 )/))).toHaveLength(4)
      // The key is in the keychain, not in the database.
      const stored = (await core.db.knex.raw<{ rows: { config: string }[] }>(`select config::text from audit_sinks where name = 'mtls'`)).rows[0]!.config
      expect(stored).not.toContain('PRIVATE KEY')
      await core.sinks.setEnabled(admin, 'mtls', false)
    } finally {
      server.close()
    }
  }, 60_000)
})

describe.skipIf(!!missing)('audit forwarding to a webhook', () => {
  it('POSTs the rows in order, signed with the key from the keychain; a wrong key is detectable; a failing receiver is retried', async () => {
    const bodies: { body: string; sig: string | undefined }[] = []
    let failNext = 0
    const server = http.createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => (body += c))
      req.on('end', () => {
        if (failNext > 0) {
          failNext--
          res.writeHead(503, 'Busy').end('try later')
          return
        }
        bodies.push({ body, sig: req.headers['x-netkeeper-signature'] as string | undefined })
        res.writeHead(204).end()
      })
    })
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
    try {
      const key = 'webhook-key-for-the-test-0123456789'
      const added = await core.sinks.add(admin, { name: 'hook', url: `http://127.0.0.1:${port}/audit`, secret: key, batchSize: 50 })
      expect(added.test?.ok).toBe(true)
      expect(added.generatedSecret).toBeUndefined()
      expect(added.sink).toMatchObject({ kind: 'webhook', hasSecret: true, needsSecret: true })
      const test = JSON.parse(bodies[0]!.body) as { kind: string }
      expect(test.kind).toBe('netkeeper-audit-test')
      failNext = 1
      const f = core.makeForwarder({ only: ['hook'] })
      const first = await f.drain()
      expect(first.sinks[0]!.error).toMatch(/^url: http:\/\/127\.0\.0\.1:\d+\/audit answered HTTP 503 Busy: try later/)
      const st = (await core.forwardStatus(admin)).sinks.find((s) => s.name === 'hook')!
      expect(st).toMatchObject({ cursorSeq: '0', attempts: 1 })
      expect(st.nextRetryAt).not.toBeNull()
      const second = await f.drain()
      expect(second.sinks[0]).toMatchObject({ error: null, backlog: 0 })
      const batches = bodies.slice(1)
      const seqs: number[] = []
      for (const b of batches) {
        expect(checkWebhookSignature(key, b.body, b.sig)).toEqual({ ok: true })
        // The receiver with another key sees a bad signature.
        expect(checkWebhookSignature('another-key-0123456789abcdef', b.body, b.sig)).toMatchObject({ ok: false, reason: expect.stringMatching(/wrong key/) })
        const j = JSON.parse(b.body) as { kind: string; chain: string; rows: { seq: string; rowHash: string }[]; firstSeq: string; lastSeq: string }
        expect(j.kind).toBe('netkeeper-audit')
        expect(j.rows[0]!.seq).toBe(j.firstSeq)
        seqs.push(...j.rows.map((r) => Number(r.seq)))
      }
      expect(seqs).toEqual(await allSeqs())
      // A generated key is shown once.
      const gen = await core.sinks.add(admin, { name: 'hook2', url: `http://127.0.0.1:${port}/other`, start: 'now' })
      expect(gen.generatedSecret).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(checkWebhookSignature(gen.generatedSecret!, bodies.at(-1)!.body, bodies.at(-1)!.sig).ok).toBe(true)
      // Sink changes are audited; removing drops the key from the keychain.
      const removed = await core.sinks.remove(admin, 'hook2')
      expect(removed.removed).toBe(true)
      const audited = (await core.db.knex.raw<{ rows: { action: string; resource_name: string }[] }>(`select action, resource_name from audit_logs where resource_type = 'audit_sink' and status = 'success' order by seq`)).rows
      expect(audited.map((a) => `${a.action} ${a.resource_name}`)).toEqual(
        expect.arrayContaining(['create tcp', 'create tls', 'create udp', 'update udp', 'create hook', 'create hook2', 'delete hook2'])
      )
      // An operator may not add a sink.
      await expect(core.sinks.add(ctxAs('operator'), { name: 'op', url: `http://127.0.0.1:${port}/x` })).rejects.toThrow(/needs the admin role/)
    } finally {
      server.close()
    }
  }, 60_000)
})

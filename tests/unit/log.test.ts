/** The log (src/main/core/log.ts): levels, the request id on every line, no secrets, rotation, modes. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { captureConsole, describeError, Logger, redact, withRequest } from '../../src/main/core/log'
import { keepStatement } from '../../src/main/core/db/errors'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-log-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const lines = (log: Logger): string[] => fs.readFileSync(log.file, 'utf8').trimEnd().split('\n')

describe('the log', () => {
  it('writes levels from the chosen one up, each line with the request id it was written under', async () => {
    const log = new Logger({ dir: path.join(tmp, 'a', 'logs'), file: 'netkeeper.log', level: 'info' })
    log.debug('x', 'not written')
    log.info('main', 'starting')
    await withRequest('11111111-2222-3333-4444-555555555555', async () => {
      await new Promise((r) => setTimeout(r, 5))
      log.warn('ipc', 'after an await', { n: 1 })
      await Promise.all([1, 2].map(async (i) => log.error('core', `in parallel ${i}`)))
    })
    const got = lines(log)
    expect(got).toHaveLength(4)
    expect(got[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}req=- \[main\] starting$/)
    expect(got[1]).toMatch(/ WARN {2}req=11111111-2222-3333-4444-555555555555 \[ipc\] after an await \{ n: 1 \}$/)
    expect(got.slice(2).every((l) => l.includes(' ERROR req=11111111-2222-3333-4444-555555555555 [core] in parallel '))).toBe(true)
    expect(fs.statSync(log.file).mode & 0o777).toBe(0o600)
    expect(fs.statSync(log.dir).mode & 0o777).toBe(0o700)
  })

  it('never writes a password, a secret or a token', () => {
    const log = new Logger({ dir: path.join(tmp, 'b'), file: 'netkeeper.log' })
    log.error('db', 'could not reach postgres://ana:hunter2@db.example.org/nk')
    log.warn('ldap', { url: 'ldap://x', bindPassword: 'hunter3', nested: { apiToken: 'hunter4' } })
    log.info('cfg', '{"password":"hunter5","user":"ana"} PGPASSWORD=hunter6 secret=hunter7')
    log.error('auth', new Error('bind failed for {"userPassword":"hunter8"}'))
    const text = fs.readFileSync(log.file, 'utf8')
    for (const s of ['hunter2', 'hunter3', 'hunter4', 'hunter5', 'hunter6', 'hunter7', 'hunter8']) expect(text).not.toContain(s)
    expect(text).toContain('postgres://ana:***@db.example.org/nk')
    expect(text).toContain(`bindPassword: '***'`)
    expect(text).toContain('"user":"ana"')
    expect(redact('token: abc')).toBe('token: abc') // a word, not a key with a value: left alone
  })

  it('writes an error with its SQL statement (never the values) and its stack, on indented lines', () => {
    const e = Object.assign(new Error('select x from t where p = $1 - column "x" does not exist'), { code: '42703' })
    keepStatement(e, 'select x from t where p = $1')
    expect(describeError(e).split('\n').slice(0, 2)).toEqual(['column "x" does not exist [42703]', 'statement: select x from t where p = $1'])
    const log = new Logger({ dir: path.join(tmp, 'c'), file: 'cli.log' })
    withRequest('req-1', () => log.error('cli', 'ip search failed:', e))
    const got = lines(log)
    expect(got[0]).toMatch(/ERROR req=req-1 \[cli\] ip search failed: column "x" does not exist \[42703\]$/)
    expect(got[1]).toBe('    statement: select x from t where p = $1')
    expect(got[2]).toMatch(/^ {4}\s*at /)
  })

  it('rotates by size, keeping the newest files', () => {
    const dir = path.join(tmp, 'd')
    const log = new Logger({ dir, file: 'netkeeper.log', maxBytes: 1000, keep: 3 })
    for (let i = 0; i < 60; i++) log.info('fill', `line ${i} ${'x'.repeat(80)}`)
    expect(fs.readdirSync(dir).sort()).toEqual(['netkeeper.1.log', 'netkeeper.2.log', 'netkeeper.log'])
    for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(1000)
    expect(lines(log).at(-1)).toContain('line 59 ')
    expect(fs.readFileSync(path.join(dir, 'netkeeper.1.log'), 'utf8')).toMatch(/line \d+ /)
  })

  it('takes in console output, still printing it, with its [scope] and the request id', () => {
    const log = new Logger({ dir: path.join(tmp, 'e'), file: 'netkeeper.log', level: 'debug' })
    const printed: unknown[][] = []
    const real = console.warn
    console.warn = (...a: unknown[]) => void printed.push(a)
    const undo = captureConsole(log)
    try {
      withRequest('req-2', () => console.warn('[retention] purge failed:', 'no role'))
    } finally {
      undo()
      console.warn = real
    }
    expect(printed).toEqual([['[retention] purge failed:', 'no role']])
    expect(lines(log)).toEqual([expect.stringMatching(/ WARN {2}req=req-2 \[retention\] purge failed: no role$/)])
  })
})

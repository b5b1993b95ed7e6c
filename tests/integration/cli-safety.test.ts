/**
 * The CLI never loses data by accident: destructive commands ask on a terminal (driven here through a real
 * pseudo-terminal) and need --yes without one, naming what would go; passwords typed at a terminal are not
 * echoed; Ctrl-C rolls back what is in flight and releases the store; completion scripts come from the
 * command tree, and every option in it has help text.
 */
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, cliInvocation, root } from '../support/cli'
import { cliOnTerminal } from '../support/pty'
import { freshDatabase, withClient } from '../support/db'
import { until } from '../support/until'
import { migrationsList } from '../../migrations'

const ALL = migrationsList.map((m) => m.name)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netkeeper-cli-safety-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const applied = (url: string): Promise<number> => withClient(url, async (c) => Number((await c.query(`select count(*) as n from mikro_orm_migrations`)).rows[0].n))

describe('db rollback --to 0', () => {
  it('is refused without --yes where nobody can be asked, naming what would go; on a terminal it asks', async () => {
    const url = await freshDatabase('safety')
    expect((await cli(['--database-url', url, 'db', 'migrate'])).code).toBe(0)

    const refused = await cli(['--database-url', url, 'db', 'rollback', '--to', '0'])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(`migration ${ALL[ALL.length - 1]}`)
    expect(refused.stderr).toMatch(/table audit_logs \(\d+ rows?\): the whole audit log/)
    expect(refused.stderr).toContain('Nothing was done. There is no terminal to ask on: add --yes to confirm.')
    expect(await applied(url)).toBe(ALL.length)

    const no = await cliOnTerminal(['--database-url', url, 'db', 'rollback', '--to', '0'], [{ expect: 'Go ahead? [y/N] ', send: 'n\r' }])
    expect(no.screen).toContain('will remove:')
    expect(no.screen).toContain('table ip_pools (0 rows)')
    expect(no.screen).toContain('netkeeper: cancelled: nothing was changed')
    expect(no.code).toBe(1)
    expect(await applied(url)).toBe(ALL.length)

    const yes = await cliOnTerminal(['--database-url', url, 'db', 'rollback', '--to', '0'], [{ expect: 'Go ahead? [y/N] ', send: 'y\r' }])
    expect(yes.screen).toContain(`rolled back ${ALL.length} migration(s)`)
    expect(yes.code).toBe(0)
    expect(await applied(url)).toBe(0)
  })
})

describe('on a terminal', () => {
  it('reads a password without echoing it', async () => {
    const r = await cliOnTerminal(
      ['db', 'profile', 'test', '--host', '127.0.0.1', '--port', '1', '--database', 'x', '--user', 'u', '--password-stdin'],
      [{ expect: 'Password (not shown): ', send: 'typed-s3cret\r' }],
      { NETKEEPER_DATA_DIR: tmp }
    )
    expect(r.screen).toContain('unreachable')
    expect(r.screen).not.toContain('typed-s3cret')
    expect(r.code).toBe(1)
  })

  it('Ctrl-C at a question rolls back, releases the embedded store at once and exits 130', async () => {
    const env = { NETKEEPER_DATA_DIR: path.join(tmp, 'embedded') }
    expect((await cli(['db', 'migrate'], env)).code).toBe(0)
    const r = await cliOnTerminal(['db', 'rollback'], [{ expect: 'Go ahead? [y/N] ', send: '\u0003' }], env)
    expect(r.screen).toContain('SIGINT: rolling back and closing the database (Ctrl-C again forces)')
    expect(r.code).toBe(130)
    // The lock went with the process's store: the next command opens it without waiting, nothing rolled back.
    const status = await cli(['db', 'status', '--json'], { ...env, NETKEEPER_LOCK_WAIT_MS: '0' })
    expect(status.code, status.stderr).toBe(0)
    expect(status.json().pending).toEqual([])
  })
})

describe('SIGINT during a transaction', () => {
  it('rolls it back on the server and exits promptly, even while a statement waits on a lock', async () => {
    const url = await freshDatabase('safety_sig')
    expect((await cli(['--database-url', url, 'db', 'migrate'])).code).toBe(0)
    await withClient(url, async (c) => {
      await c.query(`insert into ip_pools (name, network) values ('doomed', '10.9.0.0/24')`)
      await c.query(`insert into ip_allocations (pool_id, ip_address) select id, '10.9.0.5' from ip_pools where name = 'doomed'`)
    })
    // pg_stat_activity is read from a connection of its own: inside a transaction it would stay a snapshot.
    await withClient(url, (watcher) => withClient(url, async (holder) => {
      // Hold the allocation's row so the delete waits inside its transaction.
      await holder.query('begin')
      await holder.query(`select * from ip_allocations where ip_address = '10.9.0.5' for update`)
      const { file, args } = cliInvocation()
      // Its own process group, signalled as a whole: what a terminal's Ctrl-C does.
      const child = spawn(file, [...args, '--database-url', url, 'pool', 'delete', 'doomed', '--force', '--yes'], {
        cwd: root,
        detached: true,
        env: { ...process.env, NETKEEPER_DATABASE_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += String(d)))
      child.stdout.on('data', (d) => (stderr += String(d)))
      let done = false
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => ((done = true), resolve(code))))
      await until('the delete to wait on the row lock', async () => {
        if (done) throw new Error(`the CLI ended before it waited: ${stderr}`)
        return (await watcher.query(`select 1 from pg_stat_activity where application_name = 'netkeeper' and datname = current_database() and wait_event_type = 'Lock'`)).rowCount === 1
      }, 120_000)
      const sent = Date.now()
      process.kill(-child.pid!, 'SIGINT')
      expect(await exited).toBe(130)
      expect(Date.now() - sent).toBeLessThan(10_000)
      expect(stderr).toContain('SIGINT: rolling back and closing the database')
      // Its session is gone (the statement was cancelled, the connection closed) while we still hold the row.
      await until('its session to end', async () => (await watcher.query(`select 1 from pg_stat_activity where application_name = 'netkeeper' and datname = current_database()`)).rowCount === 0, 10_000)
      await holder.query('rollback')
    }))
    await withClient(url, async (c) => {
      expect((await c.query(`select count(*)::int as n from ip_pools where name = 'doomed'`)).rows[0].n).toBe(1)
      expect((await c.query(`select count(*)::int as n from ip_allocations where ip_address = '10.9.0.5'`)).rows[0].n).toBe(1)
      expect((await c.query(`select count(*)::int as n from audit_logs where action = 'delete'`)).rows[0].n).toBe(0)
    })
  })
})

describe('netkeeper completion', () => {
  it('prints a bash script that completes commands, options and choices from the command tree', async () => {
    const r = await cli(['completion', 'bash'])
    expect(r.code).toBe(0)
    const script = path.join(tmp, 'netkeeper.bash')
    fs.writeFileSync(script, r.stdout)
    const complete = (...words: string[]): string =>
      execFileSync('bash', ['-c', `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _netkeeper; echo "\${COMPREPLY[*]}"`, 'bash', script, 'netkeeper', ...words], { encoding: 'utf8' }).trim()
    expect(complete('d')).toBe('db dns dhcp')
    expect(complete('db')).toBe('db')
    expect(complete('db', 'ro')).toBe('rollback roles')
    expect(complete('--data-dir', '/x', 'db', 'rollback', '--')).toBe('--to --archive-dir --discard-audit --yes --profile --database-url --db-profile --data-dir --json --no-queue --help')
    expect(complete('db', 'grant', '--role', '')).toBe('viewer operator admin')
    expect(complete('completion', '')).toBe('')
    expect(r.stdout).toContain('complete -o default -F _netkeeper netkeeper')
  })

  it('prints zsh and fish scripts; every option in them has help text', async () => {
    const zsh = await cli(['completion', 'zsh'])
    expect(zsh.code).toBe(0)
    expect(zsh.stdout.startsWith('#compdef netkeeper\n')).toBe(true)
    expect(zsh.stdout).toContain(`'--yes:do not ask before dropping tables and their data (needed without a terminal)'`)
    const fish = await cli(['completion', 'fish'])
    expect(fish.code).toBe(0)
    const options = fish.stdout.split('\n').filter((l) => /^complete -c netkeeper .*(-l|-s) '/.test(l))
    expect(options.length).toBeGreaterThan(150)
    const bare = options.filter((l) => / -d ''$/.test(l) || !/ -d '/.test(l))
    expect(bare).toEqual([])
    expect(fish.stdout).toContain(`complete -c netkeeper -n "__netkeeper_at 'db rollback'" -l 'to' -r -d 'roll back down to this migration (exclusive); 0 for all'`)
    expect((await cli(['completion', 'tcsh'])).code).toBe(2)
  })
})

/**
 * Settings › Audit forwarding and anchors, in Chromium against the web harness, with a real rsyslogd on
 * loopback: a person adds a TCP sink (tried first), sees a bad port named on its field, watches the backlog
 * drain once forwarding in the app is on, tests the sink, and anchors the head to it. The screen is saved as
 * test-results/settings-audit-forwarding.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hasChromium, goTo, invoke, openSession, resultsDir, type Session } from './support'
import { rsyslogMissing, startRsyslog, type Rsyslog } from '../support/rsyslog'
import { until } from '../support/until'

const missing = !hasChromium ? 'Chromium is not installed (/usr/bin/chromium)' : rsyslogMissing()
if (missing) console.warn(`[e2e audit-forward] skipped: ${missing}`)

let s: Session
let syslog: Rsyslog

beforeAll(async () => {
  if (missing) return
  syslog = await startRsyslog()
  s = await openSession(undefined, 'forward')
}, 180_000)
afterAll(async () => {
  await s?.close()
  await syslog?.stop()
})

describe.skipIf(!!missing)('Settings › Audit forwarding', () => {
  it('adds a sink, shows the backlog drain, tests it and anchors to it', async () => {
    const { page, harness } = s
    await goTo(page, 'Settings')
    const card = page.getByRole('article', { name: 'Audit forwarding and anchors' })
    await card.getByText('No sinks: the audit log is kept in the database only.').waitFor()
    const form = card.getByRole('form', { name: 'Add a sink' })
    await form.getByLabel('Name').fill('siem')
    await form.getByLabel('Receiver').fill('tcp://127.0.0.1:70000')
    await form.getByRole('button', { name: 'Test and add' }).click()
    await form.getByText('port 70000 is not a port (1 to 65535)').waitFor()
    await form.getByLabel('Receiver').fill(`tcp://127.0.0.1:${syslog.tcpPort}`)
    await form.getByRole('button', { name: 'Test and add' }).click()
    const row = card.locator('tr[data-sink="siem"]')
    await row.waitFor()
    expect(await row.getByText('Syslog TCP').count()).toBe(1)
    // Nothing forwards yet: the rows so far are the backlog.
    const backlog = Number((await row.getByTestId('sink-backlog').innerText()).replace(/,/g, ''))
    expect(backlog).toBeGreaterThan(0)
    await card.getByTestId('forward-in-app').getByRole('checkbox').check()
    await until('the app forwarded the backlog', async () => (await invoke(harness, 'audit:forward:status', {})).sinks[0]?.backlog === 0, 30_000)
    await until('the screen shows no backlog', async () => (await row.getByTestId('sink-backlog').innerText()) === '0', 15_000)
    await until('rsyslog got the rows', async () => syslog.lines('tcp').filter((l) => l.includes('[netkeeper@32473 seq=')).length >= backlog, 15_000)
    await row.getByRole('button', { name: 'Test siem' }).click()
    await row.getByText(/read a test message and closed cleanly/).waitFor()
    // Anchors to the sink.
    const anchorsForm = card.getByRole('form', { name: 'Anchors' })
    await anchorsForm.getByLabel('Syslog sink').selectOption('siem')
    await anchorsForm.getByRole('button', { name: 'Save anchors' }).click()
    await until('the anchor sink is saved', async () => (await invoke(harness, 'audit:anchors:get', {})).sink === 'siem', 10_000)
    await anchorsForm.getByRole('button', { name: 'Anchor now' }).click()
    await until('rsyslog got the anchor', async () => syslog.lines('tcp').some((l) => l.includes(' anchor [netkeeper-anchor@32473 ')), 15_000)
    // A failing sink shows its error.
    await form.getByLabel('Name').fill('down')
    await form.getByLabel('Receiver').fill(`udp://127.0.0.1:${syslog.udpPort}`)
    await form.getByRole('button', { name: 'Test and add' }).click()
    const down = card.locator('tr[data-sink="down"]')
    await down.waitFor()
    await down.getByRole('button', { name: 'Disable' }).click()
    await down.getByText('Disabled').waitFor()
    // The receiver goes away: the next entries wait, and the sink shows why and when it tries again.
    await syslog.stop()
    // A new entry to send once it is gone (the entries above may all have been delivered before it stopped).
    await invoke(harness, 'ipam:pool:create', { name: 'after-stop', network: '10.250.0.0/24' })
    await until('the sink shows its error', async () => !!(await invoke(harness, 'audit:forward:status', {})).sinks.find((x) => x.name === 'siem')?.lastError, 30_000)
    await row.getByText('Failing').waitFor({ timeout: 15_000 })
    expect(await row.getByTestId('sink-error').innerText()).toMatch(/^url: cannot deliver to tcp:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\) \(\d+ attempts?, next /)
    // The notices of the steps above would cover the card.
    const dismiss = page.getByRole('button', { name: 'Dismiss' })
    await until('the notices are gone', async () => {
      if ((await dismiss.count()) === 0) return true
      await dismiss.first().click({ timeout: 1000 }).catch(() => undefined)
      return false
    }, 30_000)
    await card.scrollIntoViewIfNeeded()
    await card.screenshot({ path: `${resultsDir}/settings-audit-forwarding.png` })
    expect(s.problems).toEqual([])
  }, 120_000)
})

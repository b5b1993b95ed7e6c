/**
 * The host's gate for background work (src/main/ipc/first-screen.ts): upkeep starts once the window's first
 * requests are answered and quiet, or after the deadline; a snapshot's queries wait for a gap between the
 * window's requests.
 */
import { describe, expect, it } from 'vitest'
import { FirstScreenGate } from '../../src/main/ipc/first-screen'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false
  void p.then(() => (done = true))
  await sleep(0)
  return done
}

describe('FirstScreenGate', () => {
  it('opens once the window has asked and every answer is out, after a quiet spell', async () => {
    const gate = new FirstScreenGate({ quietMs: 300, maxWaitMs: 10_000 })
    await sleep(100)
    expect(await settled(gate.firstScreen)).toBe(false) // nothing asked yet
    let release!: () => void
    const slow = gate.track(() => new Promise<void>((r) => (release = r)))
    await gate.track(async () => 'health')
    await sleep(400)
    expect(await settled(gate.firstScreen)).toBe(false) // one request still in flight
    release()
    await slow
    // A second wave right after the first (the screen's data after its health check) keeps it shut.
    await sleep(20)
    await gate.track(async () => 'stats')
    await sleep(20)
    expect(gate.isOpen).toBe(false)
    await sleep(600)
    expect(gate.isOpen).toBe(true)
    expect(await settled(gate.firstScreen)).toBe(true)
    gate.close()
  })

  it('opens after the deadline when the window never asks', async () => {
    const gate = new FirstScreenGate({ quietMs: 10, maxWaitMs: 80 })
    expect(await settled(gate.firstScreen)).toBe(false)
    await sleep(120)
    expect(gate.isOpen).toBe(true)
  })

  it('idle() lets background work through only between the window\'s requests', async () => {
    const gate = new FirstScreenGate({ quietMs: 10, maxWaitMs: 10_000, yieldMs: 300 })
    expect(await settled(gate.idle())).toBe(true) // nothing in flight, nothing lately
    let release!: () => void
    const req = gate.track(() => new Promise<void>((r) => (release = r)))
    const waiting = gate.idle()
    await sleep(80)
    expect(await settled(waiting)).toBe(false)
    release()
    await req
    await sleep(20)
    expect(await settled(waiting)).toBe(false) // within yieldMs of the last answer
    await sleep(600)
    expect(await settled(waiting)).toBe(true)
    gate.close()
  })

  it('close() lets every waiter through, and every later one, but starts no upkeep', async () => {
    const gate = new FirstScreenGate({ quietMs: 10, maxWaitMs: 50 })
    void gate.track(() => new Promise(() => undefined))
    const waiting = gate.idle()
    gate.close()
    expect(await settled(waiting)).toBe(true)
    expect(await settled(gate.idle())).toBe(true) // the request is still in flight
    await sleep(100) // past the deadline
    expect(await settled(gate.firstScreen)).toBe(false)
    expect(gate.isOpen).toBe(false)
  })
})

/**
 * outputDrained (src/main/cli/run.ts): both ways the CLI starts (bin/netkeeper.js and the app's CLI mode)
 * exit only once what they wrote has been handed over, so a reader that is slower than the command still
 * gets the whole report.
 */
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { outputDrained } from '../../src/main/cli/run'

/** A stream that takes `ms` per chunk (a pipe whose reader is slow), recording what it took. */
function slowSink(ms: number): { stream: NodeJS.WriteStream; taken: string[] } {
  const taken: string[] = []
  const stream = new Writable({
    highWaterMark: 4,
    write(chunk: Buffer, _enc, done) {
      setTimeout(() => {
        if (chunk.length) taken.push(chunk.toString())
        done()
      }, ms)
    }
  })
  return { stream: stream as unknown as NodeJS.WriteStream, taken }
}

describe('outputDrained', () => {
  it('resolves only after every chunk written before it was taken, on each stream', async () => {
    const out = slowSink(15)
    const err = slowSink(5)
    for (const c of ['a', 'b', 'c', 'd']) out.stream.write(c)
    err.stream.write('warning')
    expect(out.taken).toEqual([])
    await outputDrained(out.stream, err.stream)
    expect(out.taken.join('')).toBe('abcd')
    expect(err.taken).toEqual(['warning'])
  })

  it('resolves at once for a stream that is already closed or ended', async () => {
    const gone = slowSink(1)
    gone.stream.destroy()
    const ended = slowSink(1)
    ended.stream.end('last')
    await expect(Promise.race([outputDrained(gone.stream, ended.stream).then(() => 'drained'), new Promise((r) => setTimeout(() => r('stuck'), 1000))])).resolves.toBe('drained')
  })
})

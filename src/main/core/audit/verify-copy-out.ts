/**
 * One `COPY … TO STDOUT` read straight off the connection's socket into a CopySplitter (verify-copy.ts), for
 * verify. pg-copy-streams hands each CopyData message (one per row) on as a Buffer of its own and then
 * joins them again: a million rows made a million small objects, two copies of every byte and most of the
 * reading thread's time (half of it collecting them). Here the messages' 5-byte headers are squeezed out
 * of each socket chunk in place, and the chunk's rows go to the splitter in one piece.
 *
 * The hand-over with pg is the one pg-copy-streams makes (a pg "submittable"): while the COPY runs this
 * object takes the socket's data from pg's parser; at CopyDone, or at an ErrorResponse or any message a
 * COPY does not send, it gives the socket back with the bytes from there on, and pg goes on with
 * CommandComplete, the error and ReadyForQuery as usual (an error then reaches handleError).
 */
import type { CopySplitter } from './verify-copy'

interface PgConnection {
  stream: NodeJS.ReadableStream & { listeners(e: 'data'): ((b: Buffer) => void)[] }
  query(text: string): void
}

/** The backend messages a COPY TO may interleave with its data: skipped (pg-copy-streams does the same). */
const SKIPPED = new Set([0x48 /* H CopyOutResponse */, 0x4e /* N notice */, 0x53 /* S parameter status */, 0x41 /* A notification */])

export class CopyOut {
  private connection: PgConnection | null = null
  private pgData: ((b: Buffer) => void) | null = null
  /** Batches the splitter completed, not yet taken. */
  private readonly ready: Uint8Array[] = []
  private wake: (() => void) | null = null
  private paused = false
  /** The COPY's data has ended (CopyDone, an error or pg's own end of the query). */
  private ended = false
  private failure: Error | null = null
  /** Bytes of the current CopyData payload still to come; of a skipped message; of a header split across chunks. */
  private payloadLeft = 0
  private skipLeft = 0
  private readonly header = Buffer.alloc(5)
  private headerLen = 0

  constructor(
    private readonly text: string,
    private readonly splitter: CopySplitter,
    /** Batches held before the socket is paused. */
    private readonly maxReady = 2
  ) {}

  /** pg calls this when the query's turn comes on the connection; an error returned is the query's (pg's rule). */
  submit(connection: PgConnection): Error | undefined {
    this.connection = connection
    const listeners = connection.stream.listeners('data')
    if (listeners.length !== 1) return new Error('verify: the connection is not in the state a COPY needs')
    this.pgData = listeners[0]!
    connection.stream.removeListener('data', this.pgData)
    connection.stream.on('data', this.onData)
    connection.query(this.text)
    return undefined
  }

  handleError(e: Error): void {
    this.failure ??= e
    this.finish()
  }

  handleCommandComplete(): void {}

  /** CopyData pg reads itself: only after this object gave the socket back early (a stream it could not split). */
  handleCopyData(): void {}

  handleReadyForQuery(): void {
    this.finish()
  }

  /** The batches of whole tuples, in order, as the splitter cuts them; throws the COPY's error. */
  async *batches(): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.failure) throw this.failure
      const b = this.ready.shift()
      if (b) {
        if (this.paused && this.ready.length < this.maxReady) {
          this.paused = false
          this.connection?.stream.resume()
        }
        yield b
        continue
      }
      if (this.ended) return
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }

  private finish(): void {
    this.ended = true
    this.wake?.()
    this.wake = null
  }

  private readonly onData = (chunk: Buffer): void => {
    this.take(chunk)
    if (this.ready.length || this.failure) {
      if (this.ready.length >= this.maxReady && !this.paused && this.pgData !== null) this.pause()
      this.wake?.()
      this.wake = null
    }
  }

  private pause(): void {
    this.paused = true
    this.connection?.stream.pause()
  }

  /** Squeezes the message headers out of `chunk` in place and hands its CopyData bytes to the splitter. */
  private take(chunk: Buffer): void {
    const end = chunk.length
    let r = 0
    let w = 0
    while (r < end) {
      if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, end - r)
        if (w !== r) chunk.copyWithin(w, r, r + n)
        w += n
        r += n
        this.payloadLeft -= n
        continue
      }
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, end - r)
        r += n
        this.skipLeft -= n
        continue
      }
      while (this.headerLen < 5 && r < end) this.header[this.headerLen++] = chunk[r++]!
      if (this.headerLen < 5) break
      this.headerLen = 0
      const code = this.header[0]!
      const len = this.header.readInt32BE(1) - 4
      if (code === 0x64 /* d CopyData */) this.payloadLeft = len
      else if (SKIPPED.has(code)) this.skipLeft = len
      else {
        this.push(chunk.subarray(0, w))
        // CopyDone (empty) is the COPY's; anything else (an error, the end of the query) is pg's to read.
        // (A header split across chunks starts before this one: its first bytes are put back in front.)
        const from = code === 0x63 ? r + len : r - 5
        const rest = from >= 0 ? chunk.subarray(from) : Buffer.concat([this.header.subarray(0, -from), chunk])
        this.giveBack(rest)
        return
      }
    }
    this.push(chunk.subarray(0, w))
  }

  private push(bytes: Buffer): void {
    if (!bytes.length || this.failure) return
    try {
      for (const b of this.splitter.push(bytes)) this.ready.push(b)
    } catch (e) {
      // Rows verify cannot split: the error is the answer, and the rest of the COPY is read and dropped
      // (the connection goes on with the transaction once pg has its end).
      this.failure = e instanceof Error ? e : new Error(String(e))
      this.ready.length = 0
      if (this.paused) {
        this.paused = false
        this.connection?.stream.resume()
      }
    }
  }

  /** The socket back to pg, with the bytes it has yet to read. */
  private giveBack(rest: Buffer): void {
    const conn = this.connection
    const pgData = this.pgData
    if (!conn || !pgData) return
    this.pgData = null
    conn.stream.removeListener('data', this.onData)
    conn.stream.on('data', pgData)
    if (this.paused) {
      this.paused = false
      conn.stream.resume()
    }
    if (rest.length) pgData(rest)
  }
}

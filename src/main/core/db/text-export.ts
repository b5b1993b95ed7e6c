/**
 * What the streamed exports share (the audit log's, audit/export.ts; IPAM's CSV, ipam/csv-export.ts): the
 * SQL that formats a CSV cell on the server, and the writer that moves the server's lines to a stream in
 * constant memory while counting and hashing them.
 */
import crypto from 'node:crypto'
import type { Writable } from 'node:stream'

/**
 * A CSV cell as SQL, for the text expression `e` (NULL: empty): a cell that starts with = + - @ tab or CR
 * gets a leading apostrophe so a spreadsheet does not run it as a formula, then a cell holding a comma,
 * quote or line break is quoted with doubled quotes (RFC 4180).
 */
export function csvGuardedSql(e: string): string {
  const v = `coalesce(${e}, '')`
  const neutral = `(case when ${v} ~ E'^[=+\\\\-@\\t\\r]' then '''' || ${v} else ${v} end)`
  return `(case when ${neutral} ~ E'[",\\r\\n]' then '"' || replace(${neutral}, '"', '""') || '"' else ${neutral} end)`
}

/**
 * csvGuardedSql with a fast path: each value is tested once (one regular expression); only a value that
 * needs a guard or quotes takes the longer expression. A NULL `e` fails the test and comes out empty.
 */
export function csvCellSql(e: string): string {
  return `(case when ${e} !~ E'^[=+\\\\-@\\t\\r]|[",\\r\\n]' then ${e} else ${csvGuardedSql(e)} end)`
}

/**
 * Writes text to `out`, counting its UTF-8 bytes and hashing them (SHA-256). `lines` writes a batch in
 * pieces of about 64 kB and waits for the stream once per batch: strings that large stay in V8's young
 * generation, which is reclaimed at once; one string per batch (megabytes) would sit in the large-object
 * space until a full collection and make the process grow by a hundred MB.
 */
export class TextOut {
  bytes = 0
  private readonly sha = crypto.createHash('sha256')

  constructor(private readonly out: Writable) {}

  private put(piece: string): boolean {
    this.bytes += Buffer.byteLength(piece)
    this.sha.update(piece, 'utf8')
    return this.out.write(piece)
  }

  write(chunk: string): Promise<void> | void {
    if (!this.put(chunk)) return new Promise((resolve) => this.out.once('drain', resolve))
  }

  /** `lead`, the lines joined by `sep`, then `tail`. */
  lines(lines: string[], sep: string, lead = '', tail = ''): Promise<void> | void {
    let piece = lead
    let wait = false
    for (let i = 0; i < lines.length; i++) {
      piece += i === 0 ? lines[i] : sep + lines[i]
      if (piece.length >= 65536) {
        wait = !this.put(piece) || wait
        piece = ''
      }
    }
    piece += tail
    if (piece) wait = !this.put(piece) || wait
    if (wait && this.out.writableNeedDrain) return new Promise((resolve) => this.out.once('drain', resolve))
  }

  sha256(): string {
    return this.sha.digest('hex')
  }
}

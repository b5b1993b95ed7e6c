/**
 * A worker thread of `audit verify`: hashes the batches the main thread sends, either rows of the cursor
 * (ROW_JSON texts, verify-batch.ts) or whole tuples of the binary COPY (raw bytes, moved here without a
 * copy: verify-copy.ts), and sends each summary back with the batch's id. Built as its own entry
 * (out/main/verify-worker.js).
 */
import { parentPort } from 'node:worker_threads'
import { hashBatch } from './verify-batch'
import { hashCopyBatch } from './verify-copy'

const port = parentPort
if (!port) throw new Error('verify-worker.ts runs as a worker thread of verify.ts')
port.on('message', (m: { id: number; rows?: string[]; bytes?: Uint8Array; want?: string[] }) => {
  try {
    const want = m.want ? new Set(m.want) : undefined
    // The batch's buffer was moved here (CopySplitter made it for this batch): the room after the tuples is ours.
    port.postMessage({ id: m.id, summary: m.bytes ? hashCopyBatch(m.bytes, want, true) : hashBatch(m.rows!, want) })
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message })
  }
})
port.postMessage({ ready: true })

/**
 * A worker thread of `audit verify`: hashes the batches of rows the main thread sends (verify-batch.ts)
 * and sends each summary back with the batch's id. Built as its own entry (out/main/verify-worker.js).
 */
import { parentPort } from 'node:worker_threads'
import { hashBatch } from './verify-batch'

const port = parentPort
if (!port) throw new Error('verify-worker.ts runs as a worker thread of verify.ts')
port.on('message', (m: { id: number; rows: string[]; want?: string[] }) => {
  try {
    port.postMessage({ id: m.id, summary: hashBatch(m.rows, m.want ? new Set(m.want) : undefined) })
  } catch (e) {
    port.postMessage({ id: m.id, error: (e as Error).message })
  }
})
port.postMessage({ ready: true })

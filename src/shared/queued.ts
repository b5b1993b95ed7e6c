/** Whether an IPAM channel's answer is a queued edit (offline.ts). No zod, so the renderer's first chunk can import it. */
import type { QueuedEdit } from './offline'

export function isQueued(v: unknown): v is QueuedEdit {
  return typeof v === 'object' && v !== null && (v as { status?: unknown }).status === 'queued' && typeof (v as { entry?: unknown }).entry === 'object'
}

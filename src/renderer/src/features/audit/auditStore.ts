/**
 * The audit viewer's state: the filter form, the filters last applied, a window of loaded rows (newest
 * first, keyset-paged with the `before` cursor going down and `after` going back up) and the chain
 * verification report. Other screens open the viewer pre-filtered with showFor().
 *
 * The window holds at most AUDIT_WINDOW rows: reading on past it lets go of the rows at the other end and
 * counts them (`offset` above, the older end simply reloads from `cursor`), so memory stays flat however
 * far one scrolls; the view draws only the rows in sight (a virtual list) and placeholders for the rest.
 */
import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import type { AuditEntryDto, AuditFilter, VerifyReport } from '@shared/audit'
import { AUDIT_ACTIONS, AUDIT_SOURCES, AUDIT_STATUSES } from '@shared/choices'
import { parseIp } from '@shared/net'
import { api } from '@renderer/api'
import { fieldOf, reasonOf, userMessage } from '@renderer/lib/errors'
import { localInputToIso } from '@renderer/lib/time'
import { appendWithin } from '@renderer/lib/window'

export const AUDIT_PAGE_SIZE = 100
/** The most rows the viewer keeps loaded at once (ten pages). */
export const AUDIT_WINDOW = 1000

export interface AuditForm {
  from: string
  to: string
  action: string
  resourceType: string
  resource: string
  actor: string
  ip: string
  status: string
  source: string
  requestId: string
  text: string
}

export type AuditFormField = keyof AuditForm

const emptyForm = (): AuditForm => ({ from: '', to: '', action: '', resourceType: '', resource: '', actor: '', ip: '', status: '', source: '', requestId: '', text: '' })

/** Checks the form the way the core will, and turns it into the filter the contract takes. */
export function formToFilter(f: AuditForm): { filter: AuditFilter; errors: Partial<Record<AuditFormField, string>> } {
  const errors: Partial<Record<AuditFormField, string>> = {}
  const filter: AuditFilter = {}
  const from = f.from.trim() ? localInputToIso(f.from) : undefined
  const to = f.to.trim() ? localInputToIso(f.to) : undefined
  if (f.from.trim() && !from) errors.from = 'Give a date and time'
  if (f.to.trim() && !to) errors.to = 'Give a date and time'
  if (from && to && from > to) errors.to = 'Must be after "from"'
  if (from) filter.from = from
  if (to) filter.to = to
  if (f.action && (AUDIT_ACTIONS as readonly string[]).includes(f.action)) filter.action = f.action as (typeof AUDIT_ACTIONS)[number]
  if (f.status && (AUDIT_STATUSES as readonly string[]).includes(f.status)) filter.status = f.status as (typeof AUDIT_STATUSES)[number]
  if (f.source && (AUDIT_SOURCES as readonly string[]).includes(f.source)) filter.source = f.source as (typeof AUDIT_SOURCES)[number]
  for (const k of ['resourceType', 'resource', 'actor', 'requestId', 'text'] as const) {
    const v = f[k].trim()
    if (v) filter[k] = v
  }
  const ip = f.ip.trim()
  if (ip) {
    const [addr, prefix, extra] = ip.split('/')
    try {
      const p = parseIp(addr ?? '', 'ip')
      if (extra !== undefined || (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (p.family === 4 ? 32 : 128)))) {
        errors.ip = `"${ip}": the prefix length must be 0-${p.family === 4 ? 32 : 128}`
      } else filter.ip = ip
    } catch (e) {
      errors.ip = reasonOf(e).replace(/^"[^"]*" is not/, `"${ip}" is not`)
    }
  }
  return { filter, errors }
}

export const useAuditStore = defineStore('audit', () => {
  const form = reactive<AuditForm>(emptyForm())
  const errors = ref<Partial<Record<AuditFormField, string>>>({})
  const applied = ref<AuditFilter>({})
  const items = ref<AuditEntryDto[]>([])
  const cursor = ref<string | null>(null)
  /** How many newer rows (of these filters) lie above the window, let go of while reading on. */
  const offset = ref(0)
  const loading = ref(false)
  const loaded = ref(false)
  const error = ref<string>()
  const verifying = ref(false)
  const report = ref<VerifyReport>()
  const verifyError = ref<string>()

  const done = computed(() => loaded.value && cursor.value === null)
  const filtered = computed(() => Object.keys(applied.value).length > 0)

  let generation = 0

  /** Validates the form; on success starts over from the newest matching row. */
  async function apply(): Promise<boolean> {
    const r = formToFilter(form)
    errors.value = r.errors
    if (Object.keys(r.errors).length) return false
    applied.value = r.filter
    await reload()
    return true
  }

  async function reload(): Promise<void> {
    generation++
    items.value = []
    cursor.value = null
    offset.value = 0
    loaded.value = false
    error.value = undefined
    loading.value = false
    await loadMore()
  }

  function failed(e: unknown): void {
    const f = fieldOf(e) as AuditFormField | undefined
    if (f && f in form) errors.value = { ...errors.value, [f]: reasonOf(e) }
    error.value = userMessage(e)
    loaded.value = true
    cursor.value = null
  }

  /** The next older page, appended; past AUDIT_WINDOW the newest rows of the window are let go of. */
  async function loadMore(): Promise<void> {
    if (loading.value || (loaded.value && cursor.value === null)) return
    const mine = generation
    loading.value = true
    try {
      const page = await api['audit:list']({ ...applied.value, ...(cursor.value ? { before: cursor.value } : {}), limit: AUDIT_PAGE_SIZE })
      if (mine !== generation) return
      const { rows, dropped } = appendWithin(items.value, page.items, AUDIT_WINDOW)
      offset.value += dropped
      items.value = rows
      cursor.value = page.nextCursor
      loaded.value = true
      error.value = undefined
    } catch (e) {
      if (mine === generation) failed(e)
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  /** The page just newer than the window, read back after it was let go of; the oldest rows then go. */
  async function loadNewer(): Promise<void> {
    if (loading.value || offset.value === 0 || !items.value.length) return
    const mine = generation
    loading.value = true
    try {
      const page = await api['audit:list']({ ...applied.value, after: items.value[0]!.seq, limit: Math.min(AUDIT_PAGE_SIZE, offset.value) })
      if (mine !== generation) return
      let next = page.items.concat(items.value)
      // Rows may have gone meanwhile (a purge): when nothing newer is left, the window starts the list.
      offset.value = page.newerCursor === null && page.items.length < Math.min(AUDIT_PAGE_SIZE, offset.value) ? 0 : Math.max(0, offset.value - page.items.length)
      const over = next.length - AUDIT_WINDOW
      if (over > 0) {
        next = next.slice(0, next.length - over)
        cursor.value = next[next.length - 1]!.seq
      }
      items.value = next
      error.value = undefined
    } catch (e) {
      if (mine === generation) error.value = userMessage(e)
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  function clearForm(): void {
    Object.assign(form, emptyForm())
    errors.value = {}
  }

  async function resetFilters(): Promise<void> {
    clearForm()
    await apply()
  }

  /** Presets the filters for another screen that opens the viewer; the viewer applies them when it mounts. */
  function showFor(preset: Partial<AuditForm>): void {
    clearForm()
    Object.assign(form, preset)
  }

  /** An entry asked for from outside (palette, netkeeper://audit/SEQ): the viewer opens it in its drawer. */
  const pendingSeq = ref<string | null>(null)
  function openSeq(seq: string): void {
    pendingSeq.value = seq
  }

  /** Every entry of one request (palette, a request id's context menu). */
  async function showRequest(requestId: string): Promise<void> {
    clearForm()
    form.requestId = requestId
    await apply()
  }

  async function verify(): Promise<void> {
    verifying.value = true
    verifyError.value = undefined
    try {
      report.value = await api['audit:verify']({})
    } catch (e) {
      verifyError.value = userMessage(e)
    } finally {
      verifying.value = false
    }
  }

  return { form, errors, applied, items, cursor, offset, loading, loaded, error, done, filtered, verifying, report, verifyError, apply, reload, loadMore, loadNewer, clearForm, resetFilters, showFor, verify, pendingSeq, openSeq, showRequest }
})

/**
 * What the DNS and the DHCP drift panels share: the report and its reading, repairing one line, several or
 * all of them towards one side (then reading again), ignoring a line and taking that back, the "show
 * ignored" filter, and the error and busy state. Each panel brings its own calls (`dns:drift*` or
 * `dhcp:drift*`), its words and its table; the core audits every repair and ignore.
 */
import { computed, ref, type Ref } from 'vue'
import { userMessage } from '@renderer/lib/errors'
import { useNoticesStore } from '@renderer/features/shell'

/** A drift line as both panels have it: its id and whether someone chose to ignore it. */
export interface DriftLine {
  id: string
  ignored: boolean
}

export interface DriftCalls<Report extends { items: Line[] }, Line extends DriftLine, Direction extends string> {
  /** Reads the drift (the panel's chosen zone or pool goes in here). */
  read(): Promise<Report>
  /** Repairs the lines `ids` (every line when undefined) towards `direction`. */
  repair(direction: Direction, ids: string[] | undefined): Promise<{ ok: boolean; message: string }[]>
  /** Ignores the line, or takes that back when it is ignored. */
  ignore(line: Line): Promise<unknown>
  /** The notice after `count` lines were repaired without a failure. */
  repaired(count: number, direction: Direction): string
}

export function useDrift<Report extends { items: Line[] }, Line extends DriftLine, Direction extends string>(calls: DriftCalls<Report, Line, Direction>) {
  const notices = useNoticesStore()
  // Deep: a line's `ignored` flips in place and its row follows.
  const report = ref() as Ref<Report | undefined>
  const error = ref<string>()
  const busy = ref(false)
  const showIgnored = ref(false)
  /** How long the last reading took, from the request to the answer, in ms. */
  const ms = ref(0)
  const shown = computed(() => (report.value?.items ?? []).filter((i) => showIgnored.value || !i.ignored))

  async function check(): Promise<void> {
    busy.value = true
    const t0 = performance.now()
    try {
      report.value = await calls.read()
      ms.value = Math.round(performance.now() - t0)
      error.value = undefined
    } catch (e) {
      error.value = userMessage(e)
    } finally {
      busy.value = false
    }
  }

  async function repair(direction: Direction, ids?: string[]): Promise<void> {
    busy.value = true
    try {
      const results = await calls.repair(direction, ids)
      const failed = results.filter((r) => !r.ok)
      if (failed.length) notices.notify(`${failed.length} repair(s) failed: ${failed[0]!.message}`, 'bad')
      else notices.notify(calls.repaired(results.length, direction))
    } catch (e) {
      error.value = userMessage(e)
    } finally {
      busy.value = false
    }
    await check()
  }

  async function ignore(line: Line): Promise<void> {
    try {
      await calls.ignore(line)
      line.ignored = !line.ignored
    } catch (e) {
      error.value = userMessage(e)
    }
  }

  return { report, error, busy, showIgnored, ms, shown, check, repair, ignore }
}

/**
 * The rules of the toast stack, kept pure so they can be tested without a DOM: identical messages merge
 * (the count goes up and the toast moves to the newest place with a fresh timer), at most MAX_TOASTS show
 * (the oldest confirmation goes first; errors are dropped only when nothing else is left), and every
 * toast has a lifetime by tone: errors stay longer because they usually say what to do.
 */
export type NoticeTone = 'ok' | 'bad' | 'warn'

export interface Notice {
  id: number
  text: string
  tone: NoticeTone
  /** How many times this message was raised while shown. */
  count: number
}

export const MAX_TOASTS = 3
export const NOTICE_MS: Record<NoticeTone, number> = { ok: 6000, warn: 9000, bad: 15000 }

export interface PushResult {
  items: Notice[]
  /** The toast that now carries the message (new, or the merged one). */
  notice: Notice
  /** Toasts pushed out by the cap (their timers can go). */
  dropped: Notice[]
}

export function pushNotice(items: readonly Notice[], text: string, tone: NoticeTone, nextId: number): PushResult {
  const same = items.find((n) => n.text === text && n.tone === tone)
  const notice: Notice = same ? { ...same, count: same.count + 1 } : { id: nextId, text, tone, count: 1 }
  let list = [...items.filter((n) => n !== same), notice]
  const dropped: Notice[] = []
  while (list.length > MAX_TOASTS) {
    // The oldest that is not an error, else the oldest; never the one just raised.
    const victim = list.find((n) => n.tone !== 'bad' && n !== notice) ?? list.find((n) => n !== notice)!
    dropped.push(victim)
    list = list.filter((n) => n !== victim)
  }
  return { items: list, notice, dropped }
}

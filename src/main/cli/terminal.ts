/**
 * Talking to the person at the terminal: confirmation before a command removes data, and secrets typed
 * without echo. "A terminal" means standard input and standard error are both TTYs: the question goes to
 * standard error (standard output may be --json for a script) and the answer comes from standard input.
 * Without a terminal nothing is asked: a destructive command then needs --yes, and says what it would
 * have removed.
 */
import readline from 'node:readline'

/** The person said no, or gave no answer: nothing was done (exit 1). */
export class Declined extends Error {}

/** Ctrl-C while a secret was being typed (raw mode swallows the signal; exit 130 like the signal would). */
export class TypingInterrupted extends Error {}

/** A refusal for want of --yes where nobody can be asked (exit 2, a usage error). */
export class ConfirmationNeeded extends Error {}

export function isTerminal(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true
}

/**
 * Reads one line from the terminal. The terminal stays in its normal (cooked) mode, so it echoes the answer
 * and Ctrl-C is a real SIGINT, handled like anywhere else (cli/interrupt.ts).
 */
function askLine(question: string): Promise<string | null> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: false })
    let answered = false
    process.stderr.write(question)
    rl.once('line', (line) => {
      answered = true
      rl.close()
      resolve(line)
    })
    rl.once('close', () => {
      if (!answered) resolve(null)
    })
  })
}

/**
 * Before a command removes data: `what` names it, one line each ("pool lan (10.0.0.0/24)", "its 12
 * allocations"). With --yes it returns at once. On a terminal it shows the list and asks; anything but
 * y/yes throws Declined. Without a terminal it throws ConfirmationNeeded naming the same things.
 */
export async function confirmRemoval(action: string, what: string[], yes: boolean | undefined): Promise<void> {
  if (yes) return
  const list = what.map((w) => `  - ${w}`).join('\n')
  if (!isTerminal()) {
    throw new ConfirmationNeeded(`${action} would remove:\n${list}\nNothing was done. There is no terminal to ask on: add --yes to confirm.`)
  }
  process.stderr.write(`${action} will remove:\n${list}\n`)
  const answer = await askLine('Go ahead? [y/N] ')
  if (!answer || !/^\s*y(es)?\s*$/i.test(answer)) throw new Declined('nothing was changed')
}

/**
 * Reads a secret typed at the terminal with echo off (raw mode: every key arrives here, nothing is shown).
 * Enter or Ctrl-D ends it, Backspace deletes, Ctrl-U clears, Ctrl-C throws TypingInterrupted. The
 * secret is kept in memory only.
 */
export function readHidden(prompt: string): Promise<string> {
  const input = process.stdin
  return new Promise((resolve, reject) => {
    let value: string[] = []
    const finish = (err?: Error): void => {
      input.off('data', onData)
      input.setRawMode(false)
      input.pause()
      process.stderr.write('\n')
      if (err) reject(err)
      else resolve(value.join(''))
    }
    const onData = (chunk: Buffer | string): void => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish()
        if (ch === '\u0003') return finish(new TypingInterrupted('interrupted'))
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else if (ch === '\u0015') value = []
        else if (ch >= ' ') value.push(ch)
      }
    }
    // Echo off before the prompt shows: whatever is typed after it (even at once) is never displayed.
    input.setEncoding('utf8')
    input.setRawMode(true)
    input.on('data', onData)
    input.resume()
    process.stderr.write(prompt)
  })
}

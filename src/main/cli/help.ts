/**
 * `netkeeper --help` (and `-h`, `help`, and no arguments at all) without commander: the top-level help is
 * the program's options and the groups' names and descriptions (top.ts), laid out exactly as commander lays
 * it out, wrapped to the terminal's width. Loading commander and building even the stub tree cost more than
 * the rest of a `--help` run above Node's own start (docs/cli.md#start-up). A test checks that this text
 * equals commander's for the same tree at several widths (tests/integration/cli-startup.test.ts).
 *
 * Every other help (`netkeeper pool --help`, `help ip`) still comes from commander, with the group built.
 */
import { PROGRAM_DESCRIPTION, PROGRAM_NAME, PROGRAM_OPTIONS, TOP_COMMANDS } from './top'

/** commander's defaults: wrapping stops below this width; items are indented by 2, term and text 2 apart. */
const MIN_WIDTH_TO_WRAP = 40
const INDENT = 2
const SPACER = 2

/** Wraps at whitespace, keeping existing line breaks (commander's Help.boxWrap). */
function boxWrap(str: string, width: number): string {
  if (width < MIN_WIDTH_TO_WRAP) return str
  const out: string[] = []
  for (const line of str.split(/\r\n|\n/)) {
    const chunks = line.match(/[\s]*[^\s]+/g)
    if (!chunks) {
      out.push('')
      continue
    }
    let sum = [chunks.shift()!]
    let sumWidth = sum[0]!.length
    for (const chunk of chunks) {
      if (sumWidth + chunk.length <= width) {
        sum.push(chunk)
        sumWidth += chunk.length
        continue
      }
      out.push(sum.join(''))
      const next = chunk.trimStart()
      sum = [next]
      sumWidth = next.length
    }
    out.push(sum.join(''))
  }
  return out.join('\n')
}

/** A term and its description, the description wrapped beside the padded term (commander's Help.formatItem). */
function formatItem(term: string, termWidth: number, description: string, helpWidth: number): string {
  const indent = ' '.repeat(INDENT)
  if (!description) return indent + term
  const remaining = helpWidth - termWidth - SPACER - INDENT
  const text = remaining < MIN_WIDTH_TO_WRAP || /\n[^\S\r\n]/.test(description) ? description : boxWrap(description, remaining).replace(/\n/g, '\n' + ' '.repeat(termWidth + SPACER))
  return indent + term.padEnd(termWidth) + ' '.repeat(SPACER) + text.replace(/\n/g, `\n${indent}`)
}

/** The top-level help at `helpWidth` columns (80 when the output is not a terminal, as commander has it). */
export function topHelp(helpWidth = 80): string {
  const options: [string, string][] = [
    ['-V, --version', 'output the version number'],
    ...PROGRAM_OPTIONS.map((o): [string, string] => [o.flags, o.description]),
    ['-h, --help', 'display help for command']
  ]
  const commands: [string, string][] = [
    ...TOP_COMMANDS.map((c): [string, string] => [c.args ? `${c.name} ${c.args}` : c.name, c.description]),
    ['help [command]', 'display help for command']
  ]
  const termWidth = Math.max(...[...options, ...commands].map(([t]) => t.length))
  return [
    `Usage: ${PROGRAM_NAME} [options] [command]`,
    '',
    boxWrap(PROGRAM_DESCRIPTION, helpWidth),
    '',
    'Options:',
    ...options.map(([t, d]) => formatItem(t, termWidth, d, helpWidth)),
    '',
    'Commands:',
    ...commands.map(([t, d]) => formatItem(t, termWidth, d, helpWidth)),
    ''
  ].join('\n')
}

/** The width commander would wrap to on this stream: a terminal's columns, otherwise 80. */
export function helpWidthOf(stream: NodeJS.WriteStream): number {
  return (stream.isTTY ? stream.columns : undefined) ?? 80
}

/**
 * LDIF (RFC 2849) read and written here, streaming: the parser takes the file a chunk at a time and hands
 * out each record as soon as its blank line (or the end) arrives, with the line it started on; the writer
 * turns one entry into its text, values base64-encoded whenever they are not a SAFE-STRING, lines folded at
 * 76 columns.
 *
 * Written here rather than taken from npm: the one LDIF package on the registry (`ldif` 0.5.1, a PEG
 * grammar) has not been published since 2017, parses a whole string at once (a 50,000-entry file in
 * memory twice) and reports positions as characters, not the line a person can open. What LDIF needs is
 * small and fully specified; tests/unit/ldif.test.ts covers every production we accept and refuse.
 *
 * Refused with the line and the reason: a line outside the grammar, base64 that does not decode, a URL
 * value (`attr:< file:///etc/shadow` would read local files on behalf of whoever wrote the LDIF), control
 * lines (their criticality cannot be honoured here), an unknown changetype or modify operation.
 */
import { StringDecoder } from 'node:string_decoder'
import { AppError } from '../../../shared/errors'

export type LdifValue = string | Buffer

export interface LdifMod {
  op: 'add' | 'delete' | 'replace' | 'increment'
  type: string
  values: LdifValue[]
}

interface Base {
  dn: string
  /** The line (1-based) the record's `dn:` is on. */
  line: number
}
/** A content record (no changetype): an entry to add. */
export interface LdifContent extends Base {
  kind: 'add'
  attrs: [string, LdifValue[]][]
}
export interface LdifDelete extends Base {
  kind: 'delete'
}
export interface LdifModify extends Base {
  kind: 'modify'
  mods: LdifMod[]
}
export interface LdifModRdn extends Base {
  kind: 'modrdn'
  newRdn: string
  deleteOldRdn: boolean
  newSuperior: string | null
}
export type LdifRecord = LdifContent | LdifDelete | LdifModify | LdifModRdn

export class LdifSyntaxError extends AppError {
  constructor(
    readonly line: number,
    reason: string
  ) {
    super('VALIDATION', `line ${line}: ${reason}`, { field: 'ldif', line })
  }
}

const ATTR_DESC = /^[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9-]+)*$|^\d+(\.\d+)*(;[A-Za-z0-9-]+)*$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

interface Line {
  n: number
  text: string
}

/** One `name: value` line split: `::` base64, `:<` URL, `:` plain. */
function splitLine(l: Line): { name: string; kind: ':' | '::' | ':<'; raw: string } {
  const i = l.text.indexOf(':')
  if (i <= 0) throw new LdifSyntaxError(l.n, `expected "name: value", found ${JSON.stringify(l.text.slice(0, 60))}`)
  const name = l.text.slice(0, i)
  let rest = l.text.slice(i + 1)
  let kind: ':' | '::' | ':<' = ':'
  if (rest.startsWith(':')) {
    kind = '::'
    rest = rest.slice(1)
  } else if (rest.startsWith('<')) {
    kind = ':<'
    rest = rest.slice(1)
  }
  return { name, kind, raw: rest.replace(/^ +/, '') }
}

function valueOf(l: Line, kind: ':' | '::' | ':<', raw: string, name: string): LdifValue {
  if (kind === ':<') throw new LdifSyntaxError(l.n, `${name}: URL values ("${name}:< ${raw.slice(0, 40)}") are not accepted; put the value in the file (base64 with "${name}::")`)
  if (kind === '::') {
    const b64 = raw.replace(/ +$/, '')
    if (!BASE64.test(b64) || b64.length % 4 !== 0) throw new LdifSyntaxError(l.n, `${name}: the base64 value does not decode`)
    const buf = Buffer.from(b64, 'base64')
    // Text that round-trips through UTF-8 is text (a DN, a name with accents); anything else stays bytes.
    const text = buf.toString('utf8')
    return Buffer.from(text, 'utf8').equals(buf) && !text.includes('\u0000') ? text : buf
  }
  return raw
}

const asText = (v: LdifValue): string => (typeof v === 'string' ? v : v.toString('utf8'))

/** Builds records from the logical lines of one record (comments removed, continuations joined). */
function buildRecord(lines: Line[], firstRecord: { version: boolean }): LdifRecord | null {
  let i = 0
  if (firstRecord.version) {
    firstRecord.version = false
    const v = /^version:\s*(\d+)\s*$/.exec(lines[0]!.text)
    if (v) {
      if (v[1] !== '1') throw new LdifSyntaxError(lines[0]!.n, `version ${v[1]} is not supported (only version: 1)`)
      i = 1
      if (i >= lines.length) return null
    }
  }
  const head = lines[i]!
  const d = splitLine(head)
  if (d.name.toLowerCase() !== 'dn') throw new LdifSyntaxError(head.n, `a record must start with "dn:", found "${d.name}:"`)
  const dn = asText(valueOf(head, d.kind, d.raw, 'dn')).trim()
  i++
  while (i < lines.length && /^control:/i.test(lines[i]!.text)) {
    throw new LdifSyntaxError(lines[i]!.n, 'control lines are not supported (their criticality cannot be honoured); remove them')
  }
  const base = { dn, line: head.n }
  const ct = i < lines.length ? splitLine(lines[i]!) : null
  if (!ct || ct.name.toLowerCase() !== 'changetype') {
    const attrs: [string, LdifValue[]][] = []
    const byName = new Map<string, LdifValue[]>()
    for (; i < lines.length; i++) {
      const l = lines[i]!
      const s = splitLine(l)
      if (!ATTR_DESC.test(s.name)) throw new LdifSyntaxError(l.n, `"${s.name}" is not an attribute name`)
      if (s.name.toLowerCase() === 'changetype') throw new LdifSyntaxError(l.n, 'changetype must come right after dn:')
      const v = valueOf(l, s.kind, s.raw, s.name)
      const key = s.name.toLowerCase()
      let vals = byName.get(key)
      if (!vals) {
        vals = []
        byName.set(key, vals)
        attrs.push([s.name, vals])
      }
      vals.push(v)
    }
    if (!attrs.length) throw new LdifSyntaxError(head.n, `the entry ${dn} has no attributes`)
    return { kind: 'add', ...base, attrs }
  }
  const ctLine = lines[i]!
  const type = asText(valueOf(ctLine, ct.kind, ct.raw, 'changetype')).trim().toLowerCase()
  i++
  const rest = lines.slice(i)
  switch (type) {
    case 'add': {
      if (!rest.length) throw new LdifSyntaxError(ctLine.n, `the add of ${dn} has no attributes`)
      const r = buildRecord([head, ...rest], { version: false }) as LdifContent
      return r
    }
    case 'delete':
      if (rest.length) throw new LdifSyntaxError(rest[0]!.n, 'a delete record takes no further lines')
      return { kind: 'delete', ...base }
    case 'modrdn':
    case 'moddn': {
      let newRdn: string | null = null
      let deleteOldRdn: boolean | null = null
      let newSuperior: string | null = null
      for (const l of rest) {
        const s = splitLine(l)
        const v = asText(valueOf(l, s.kind, s.raw, s.name)).trim()
        const n = s.name.toLowerCase()
        if (n === 'newrdn') newRdn = v
        else if (n === 'deleteoldrdn') {
          if (v !== '0' && v !== '1') throw new LdifSyntaxError(l.n, 'deleteoldrdn must be 0 or 1')
          deleteOldRdn = v === '1'
        } else if (n === 'newsuperior') newSuperior = v
        else throw new LdifSyntaxError(l.n, `"${s.name}" does not belong in a modrdn record (newrdn, deleteoldrdn, newsuperior)`)
      }
      if (!newRdn) throw new LdifSyntaxError(ctLine.n, 'a modrdn record needs newrdn:')
      if (deleteOldRdn === null) throw new LdifSyntaxError(ctLine.n, 'a modrdn record needs deleteoldrdn: 0 or 1')
      return { kind: 'modrdn', ...base, newRdn, deleteOldRdn, newSuperior }
    }
    case 'modify': {
      const mods: LdifMod[] = []
      let cur: LdifMod | null = null
      for (const l of rest) {
        if (l.text === '-') {
          if (!cur) throw new LdifSyntaxError(l.n, '"-" without a modification before it')
          mods.push(cur)
          cur = null
          continue
        }
        const s = splitLine(l)
        if (!cur) {
          const op = s.name.toLowerCase()
          if (op !== 'add' && op !== 'delete' && op !== 'replace' && op !== 'increment') throw new LdifSyntaxError(l.n, `"${s.name}:" is not a modify operation (add, delete, replace, increment)`)
          const attr = asText(valueOf(l, s.kind, s.raw, op)).trim()
          if (!ATTR_DESC.test(attr)) throw new LdifSyntaxError(l.n, `"${attr}" is not an attribute name`)
          cur = { op, type: attr, values: [] }
          continue
        }
        if (s.name.toLowerCase() !== cur.type.toLowerCase()) throw new LdifSyntaxError(l.n, `expected a value of ${cur.type} or "-", found "${s.name}:"`)
        cur.values.push(valueOf(l, s.kind, s.raw, s.name))
      }
      if (cur) mods.push(cur) // a missing final "-" is tolerated (ldapmodify does too)
      if (!mods.length) throw new LdifSyntaxError(ctLine.n, `the modify of ${dn} has no modifications`)
      return { kind: 'modify', ...base, mods }
    }
    default:
      throw new LdifSyntaxError(ctLine.n, `changetype "${type}" is not one of add, delete, modify, modrdn, moddn`)
  }
}

/**
 * The streaming parser: push() chunks as they are read, end() at the end; each returns the records
 * completed so far. Memory holds one record at a time.
 */
export class LdifParser {
  private readonly decoder = new StringDecoder('utf8')
  private pending = ''
  private lineNo = 0
  private logical: Line | null = null
  private inComment = false
  private record: Line[] = []
  private readonly first = { version: true }

  push(chunk: string | Buffer): LdifRecord[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk)
    const out: LdifRecord[] = []
    let nl: number
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const raw = this.pending.slice(0, nl).replace(/\r$/, '')
      this.pending = this.pending.slice(nl + 1)
      this.line(raw, out)
    }
    return out
  }

  end(): LdifRecord[] {
    this.pending += this.decoder.end()
    const out: LdifRecord[] = []
    if (this.pending) this.line(this.pending.replace(/\r$/, ''), out)
    this.pending = ''
    this.flushLogical()
    this.flushRecord(out)
    return out
  }

  private line(raw: string, out: LdifRecord[]): void {
    this.lineNo++
    if (raw.startsWith(' ')) {
      // A continuation of the line before (comments fold too).
      if (this.inComment) return
      if (!this.logical) throw new LdifSyntaxError(this.lineNo, 'a continuation line (starting with a space) with no line before it')
      this.logical.text += raw.slice(1)
      return
    }
    this.flushLogical()
    this.inComment = false
    if (raw === '') {
      this.flushRecord(out)
      return
    }
    if (raw.startsWith('#')) {
      this.inComment = true
      return
    }
    this.logical = { n: this.lineNo, text: raw }
  }

  private flushLogical(): void {
    if (this.logical) this.record.push(this.logical)
    this.logical = null
  }

  private flushRecord(out: LdifRecord[]): void {
    if (!this.record.length) return
    const lines = this.record
    this.record = []
    const r = buildRecord(lines, this.first)
    if (r) out.push(r)
  }
}

/** Parses an async source (a file stream) record by record. */
export async function* parseLdif(source: AsyncIterable<string | Buffer>): AsyncGenerator<LdifRecord> {
  const p = new LdifParser()
  for await (const chunk of source) yield* p.push(chunk)
  yield* p.end()
}

/** Parses a whole text (tests, the app's preview of a picked file). */
export function parseLdifText(text: string): LdifRecord[] {
  const p = new LdifParser()
  return [...p.push(text), ...p.end()]
}

// ------------------------------------------------------------------ writing

/** SAFE-STRING of RFC 2849: ASCII without NUL/LF/CR, not starting with space, ":" or "<", and (by our choice) not ending in a space. */
export function isSafeString(s: string): boolean {
  if (s === '') return true
  const c0 = s.charCodeAt(0)
  if (c0 === 0x20 || c0 === 0x3a || c0 === 0x3c) return false
  if (s.charCodeAt(s.length - 1) === 0x20) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0 || c === 10 || c === 13 || c > 0x7f) return false
  }
  return true
}

/** Folds one logical line at 76 columns (continuations start with one space). */
export function fold(line: string, width = 76): string {
  if (line.length <= width) return line
  const parts = [line.slice(0, width)]
  for (let i = width; i < line.length; i += width - 1) parts.push(' ' + line.slice(i, i + width - 1))
  return parts.join('\n')
}

export function ldifLine(name: string, value: LdifValue): string {
  if (typeof value === 'string' && isSafeString(value)) return fold(`${name}: ${value}`)
  const buf = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  return fold(`${name}:: ${buf.toString('base64')}`)
}

/** One entry as an LDIF content record, ending with its blank line. */
export function formatEntry(dn: string, attrs: Iterable<[string, LdifValue[]]>): string {
  const lines = [ldifLine('dn', dn)]
  for (const [name, values] of attrs) for (const v of values) lines.push(ldifLine(name, v))
  return lines.join('\n') + '\n\n'
}

/** A change record (for previews and tests): modify, delete or modrdn. */
export function formatChange(r: LdifRecord): string {
  if (r.kind === 'add') {
    const lines = [ldifLine('dn', r.dn), 'changetype: add']
    for (const [name, values] of r.attrs) for (const v of values) lines.push(ldifLine(name, v))
    return lines.join('\n') + '\n\n'
  }
  const lines = [ldifLine('dn', r.dn), `changetype: ${r.kind}`]
  if (r.kind === 'modify') {
    for (const m of r.mods) {
      lines.push(`${m.op}: ${m.type}`)
      for (const v of m.values) lines.push(ldifLine(m.type, v))
      lines.push('-')
    }
  } else if (r.kind === 'modrdn') {
    lines.push(ldifLine('newrdn', r.newRdn), `deleteoldrdn: ${r.deleteOldRdn ? 1 : 0}`)
    if (r.newSuperior) lines.push(ldifLine('newsuperior', r.newSuperior))
  }
  return lines.join('\n') + '\n\n'
}

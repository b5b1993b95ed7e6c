/**
 * Distinguished names (RFC 4514) and filter values (RFC 4515), without any LDAP library, so the renderer's
 * forms, the core and the tests share one definition. Imports nothing from node, electron or vue.
 *
 * Why our own escaping: ldapts' RDN class quotes values with leading or trailing spaces (an RFC 2253 form
 * RFC 4514 dropped) and leaves NUL unescaped. Here every special character is written as a two-digit hex
 * escape (`\2C`, `\5C`, ...), which RFC 4514 allows for any character, so an escaped value never contains a
 * raw separator and never a backslash right before one: a value can never end an RDN early or address
 * another entry.
 */

export interface Ava {
  type: string
  value: string
}
export type Rdn = Ava[]

export class DnSyntaxError extends Error {}

const hex2 = (code: number): string => `\\${code.toString(16).toUpperCase().padStart(2, '0')}`

/** Escapes one attribute value for use in a DN (RFC 4514 section 2.4). */
export function escapeDnValue(value: string): string {
  let out = ''
  const chars = Array.from(value)
  chars.forEach((ch, i) => {
    const code = ch.codePointAt(0)!
    const first = i === 0
    const last = i === chars.length - 1
    if (ch === '"' || ch === '+' || ch === ',' || ch === ';' || ch === '<' || ch === '>' || ch === '\\' || ch === '=') out += hex2(code)
    else if (code === 0) out += '\\00'
    else if (first && (ch === '#' || ch === ' ')) out += hex2(code)
    else if (last && ch === ' ') out += '\\20'
    else out += ch
  })
  return out
}

/** Escapes one assertion value for use in a string filter (RFC 4515 section 3). */
export function escapeFilterValue(value: string): string {
  let out = ''
  for (const ch of value) {
    if (ch === '*') out += '\\2a'
    else if (ch === '(') out += '\\28'
    else if (ch === ')') out += '\\29'
    else if (ch === '\\') out += '\\5c'
    else if (ch === '\u0000') out += '\\00'
    else out += ch
  }
  return out
}

const TYPE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9A-Fa-f]$/.test(c)

/**
 * Parses a DN string into RDNs (leftmost first). Accepts RFC 4514 plus what people type: spaces around
 * separators and `=`, `;` as a separator and quoted values (RFC 1779/2253). Hex escapes are decoded as
 * UTF-8. A value in `#hex` (BER) form is kept as written.
 */
export function parseDn(input: string): Rdn[] {
  const s = input
  let i = 0
  const rdns: Rdn[] = []
  if (s.trim() === '') return rdns
  const skipSpaces = (): void => {
    while (s[i] === ' ') i++
  }
  const fail = (why: string): never => {
    throw new DnSyntaxError(`${why} at position ${i + 1}`)
  }
  let rdn: Ava[] = []
  for (;;) {
    skipSpaces()
    const typeStart = i
    while (i < s.length && s[i] !== '=' && s[i] !== ',' && s[i] !== '+' && s[i] !== ';') i++
    const type = s.slice(typeStart, i).trim()
    if (s[i] !== '=') fail(type ? `"${type}" is not followed by "="` : 'an attribute type is missing')
    if (!TYPE.test(type)) fail(`"${type}" is not an attribute type`)
    i++ // '='
    skipSpaces()
    let value = ''
    if (s[i] === '#') {
      const start = i
      i++
      while (isHex(s[i])) i++
      value = s.slice(start, i)
      skipSpaces()
      if ((value.length - 1) % 2 !== 0 || value.length < 3 || (i < s.length && s[i] !== ',' && s[i] !== '+' && s[i] !== ';')) {
        fail('a value starting with "#" must be a BER hex string; escape a literal "#" as \\23')
      }
    } else if (s[i] === '"') {
      i++
      let bytes: number[] = []
      let text = ''
      const flush = (): void => {
        if (bytes.length) {
          text += new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes))
          bytes = []
        }
      }
      for (;;) {
        if (i >= s.length) fail('a quoted value is not closed')
        const c = s[i]!
        if (c === '"') {
          i++
          break
        }
        if (c === '\\') {
          if (isHex(s[i + 1]) && isHex(s[i + 2])) {
            bytes.push(parseInt(s.slice(i + 1, i + 3), 16))
            i += 3
            continue
          }
          if (i + 1 >= s.length) fail('a backslash ends the value')
          flush()
          text += s[i + 1]
          i += 2
          continue
        }
        flush()
        text += c
        i++
      }
      flush()
      value = text
      skipSpaces()
      if (i < s.length && s[i] !== ',' && s[i] !== '+' && s[i] !== ';') fail('text follows a quoted value')
    } else {
      let bytes: number[] = []
      let text = ''
      // Index in `text` after the last escaped character: trailing spaces after it are significant.
      let keepUpTo = 0
      const flush = (): void => {
        if (bytes.length) {
          try {
            text += new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes))
          } catch {
            fail('a hex escape is not valid UTF-8')
          }
          bytes = []
          keepUpTo = text.length
        }
      }
      while (i < s.length && s[i] !== ',' && s[i] !== '+' && s[i] !== ';') {
        const c = s[i]!
        if (c === '\\') {
          if (isHex(s[i + 1]) && isHex(s[i + 2])) {
            bytes.push(parseInt(s.slice(i + 1, i + 3), 16))
            i += 3
            continue
          }
          const next = s[i + 1]
          if (next === undefined) fail('a backslash ends the value')
          if (!' "#+,;<=>\\'.includes(next!)) fail(`"\\${next}" is not a valid escape`)
          flush()
          text += next
          keepUpTo = text.length
          i += 2
          continue
        }
        if (c === '"' || c === '<' || c === '>' || c === '\u0000') fail(`"${c === '\u0000' ? '\\0' : c}" must be escaped`)
        flush()
        text += c
        i++
      }
      flush()
      // Unescaped trailing spaces are insignificant (people type "ou=people, dc=example").
      let end = text.length
      while (end > keepUpTo && text[end - 1] === ' ') end--
      value = text.slice(0, end)
    }
    rdn.push({ type, value })
    if (i >= s.length) {
      rdns.push(rdn)
      break
    }
    const sep = s[i]
    i++
    if (sep === '+') continue
    rdns.push(rdn)
    rdn = []
    if (i >= s.length) fail('the DN ends with a separator')
  }
  return rdns
}

export function formatRdn(rdn: Rdn): string {
  return rdn.map((a) => `${a.type}=${a.value.startsWith('#') && /^#(?:[0-9A-Fa-f]{2})+$/.test(a.value) ? a.value : escapeDnValue(a.value)}`).join('+')
}

export function formatDn(rdns: Rdn[]): string {
  return rdns.map(formatRdn).join(',')
}

/** True when the text parses as a DN with at least one RDN. */
export function isDn(s: string): boolean {
  try {
    return parseDn(s).length > 0
  } catch {
    return false
  }
}

/**
 * A comparison key: types and values lower-cased, canonical escaping. Naming attributes (uid, cn, ou, dc,
 * o) use case-insensitive matching on OpenLDAP; this key is what we use to compare configured DNs with
 * DNs the server returns.
 */
export function normalizeDn(s: string): string {
  return formatDn(parseDn(s).map((rdn) => rdn.map((a) => ({ type: a.type.toLowerCase(), value: a.value.toLowerCase() })).sort((x, y) => (x.type < y.type ? -1 : 1))))
}

export function dnEquals(a: string, b: string): boolean {
  try {
    return normalizeDn(a) === normalizeDn(b)
  } catch {
    return false
  }
}

/** True when `dn` is `base` or lies below it. */
export function isUnderDn(dn: string, base: string): boolean {
  try {
    const d = normalizeDn(dn)
    const b = normalizeDn(base)
    return b === '' || d === b || d.endsWith(`,${b}`)
  } catch {
    return false
  }
}

/** Builds `type=value,parent` with the value escaped. */
export function childDn(type: string, value: string, parent: string): string {
  const rdn = `${type}=${escapeDnValue(value)}`
  return parent.trim() ? `${rdn},${parent}` : rdn
}

/** The value of the first attribute of the leftmost RDN (`uid=alice,ou=people` -> `alice`). */
export function leafValue(dn: string): string {
  return parseDn(dn)[0]?.[0]?.value ?? ''
}

/** The parent DN (everything after the leftmost RDN), in canonical form. */
export function parentDn(dn: string): string {
  return formatDn(parseDn(dn).slice(1))
}

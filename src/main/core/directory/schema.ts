/**
 * The server's own schema, read from its subschema subentry (RFC 4512 §4.2: the root DSE's
 * subschemaSubentry, cn=Subschema on OpenLDAP): attribute types (syntax, single-value, user modifiable,
 * inheritance through SUP) and object classes (kind, SUP chain, MUST and MAY). Used to check a value
 * before it is sent (its syntax, its length bound, a second value of a single-valued attribute), to refuse
 * the removal of a MUST attribute, and to know which attributes carry bytes rather than text.
 *
 * Read once per connection and kept (a schema changes with a server restart, not between two clicks).
 */
import { isDn } from '../../../shared/dn'
import { AppError } from '../../../shared/errors'
import type { AttributeInfo, ObjectClassInfo } from '../../../shared/directory-admin'
import type { LdapConnection } from './connection'

export const SYNTAX = {
  binary: '1.3.6.1.4.1.1466.115.121.1.5',
  boolean: '1.3.6.1.4.1.1466.115.121.1.7',
  certificate: '1.3.6.1.4.1.1466.115.121.1.8',
  certificateList: '1.3.6.1.4.1.1466.115.121.1.9',
  certificatePair: '1.3.6.1.4.1.1466.115.121.1.10',
  country: '1.3.6.1.4.1.1466.115.121.1.11',
  dn: '1.3.6.1.4.1.1466.115.121.1.12',
  directoryString: '1.3.6.1.4.1.1466.115.121.1.15',
  generalizedTime: '1.3.6.1.4.1.1466.115.121.1.24',
  ia5: '1.3.6.1.4.1.1466.115.121.1.26',
  integer: '1.3.6.1.4.1.1466.115.121.1.27',
  jpeg: '1.3.6.1.4.1.1466.115.121.1.28',
  nameAndUid: '1.3.6.1.4.1.1466.115.121.1.34',
  numeric: '1.3.6.1.4.1.1466.115.121.1.36',
  oid: '1.3.6.1.4.1.1466.115.121.1.38',
  octetString: '1.3.6.1.4.1.1466.115.121.1.40',
  postal: '1.3.6.1.4.1.1466.115.121.1.41',
  printable: '1.3.6.1.4.1.1466.115.121.1.44',
  telephone: '1.3.6.1.4.1.1466.115.121.1.50'
} as const

const BINARY_SYNTAXES = new Set<string>([SYNTAX.binary, SYNTAX.certificate, SYNTAX.certificateList, SYNTAX.certificatePair, SYNTAX.jpeg, SYNTAX.octetString, '1.3.6.1.4.1.1466.115.121.1.49'])

const SYNTAX_NAMES: Record<string, string> = Object.fromEntries(Object.entries(SYNTAX).map(([k, v]) => [v, k]))

// ------------------------------------------------------------------ RFC 4512 descriptions

type Token = { t: '(' | ')' | '$' } | { t: 'q'; v: string } | { t: 'w'; v: string }

function tokenize(s: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < s.length) {
    const c = s[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++
    else if (c === '(' || c === ')' || c === '$') {
      out.push({ t: c })
      i++
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1)
      if (end < 0) throw new Error('unterminated quoted string')
      // \27 is a quote and \5C a backslash inside qdstrings (RFC 4512 §4.1).
      out.push({ t: 'q', v: s.slice(i + 1, end).replace(/\\27/gi, "'").replace(/\\5c/gi, '\\') })
      i = end + 1
    } else {
      let j = i
      while (j < s.length && !' \t\n\r()$\''.includes(s[j]!)) j++
      out.push({ t: 'w', v: s.slice(i, j) })
      i = j
    }
  }
  return out
}

/** A description as OID plus keyword -> values (a keyword with no value maps to []). */
export function parseDescription(s: string): { oid: string; fields: Map<string, string[]> } {
  const tk = tokenize(s)
  let i = 0
  const next = (): Token | undefined => tk[i++]
  if (next()?.t !== '(') throw new Error('a description starts with "("')
  const oidTok = next()
  if (!oidTok || oidTok.t !== 'w') throw new Error('a description needs its OID first')
  const fields = new Map<string, string[]>()
  for (;;) {
    const k = next()
    if (!k) throw new Error('a description ends with ")"')
    if (k.t === ')') break
    if (k.t !== 'w') throw new Error('expected a keyword')
    const key = k.v.toUpperCase()
    const peek = tk[i]
    const values: string[] = []
    if (peek?.t === '(') {
      i++
      for (;;) {
        const v = next()
        if (!v) throw new Error('unterminated list')
        if (v.t === ')') break
        if (v.t === 'q' || v.t === 'w') values.push(v.v)
      }
    } else if (peek?.t === 'q' || (peek?.t === 'w' && !/^[A-Z][A-Z-]*$/.test(peek.v)) || (peek?.t === 'w' && ['SUP', 'EQUALITY', 'ORDERING', 'SUBSTR', 'SYNTAX', 'USAGE', 'MUST', 'MAY'].includes(key))) {
      i++
      values.push((peek as { v: string }).v)
    }
    fields.set(key, values)
  }
  return { oid: oidTok.v, fields }
}

interface AttrDef {
  oid: string
  names: string[]
  desc: string | null
  sup: string | null
  syntax: string | null
  maxLength: number | null
  singleValue: boolean
  noUserModification: boolean
  usage: string
}

interface ClassDef {
  oid: string
  names: string[]
  desc: string | null
  sup: string[]
  kind: 'ABSTRACT' | 'STRUCTURAL' | 'AUXILIARY'
  must: string[]
  may: string[]
}

export class DirectorySchema {
  private readonly attrs = new Map<string, AttrDef>()
  private readonly classes = new Map<string, ClassDef>()
  readonly attributeTypes: AttrDef[] = []
  readonly objectClasses: ClassDef[] = []

  constructor(attributeTypes: string[], objectClasses: string[]) {
    for (const s of attributeTypes) {
      let d
      try {
        d = parseDescription(s)
      } catch {
        continue // one definition we cannot read must not hide the rest
      }
      const f = d.fields
      const syn = f.get('SYNTAX')?.[0] ?? null
      const m = syn ? /^([\d.]+)(?:\{(\d+)\})?$/.exec(syn) : null
      const def: AttrDef = {
        oid: d.oid,
        names: f.get('NAME') ?? [],
        desc: f.get('DESC')?.[0] ?? null,
        sup: f.get('SUP')?.[0] ?? null,
        syntax: m ? m[1]! : null,
        maxLength: m?.[2] ? Number(m[2]) : null,
        singleValue: f.has('SINGLE-VALUE'),
        noUserModification: f.has('NO-USER-MODIFICATION'),
        usage: f.get('USAGE')?.[0] ?? 'userApplications'
      }
      this.attributeTypes.push(def)
      this.attrs.set(d.oid, def)
      for (const n of def.names) this.attrs.set(n.toLowerCase(), def)
    }
    for (const s of objectClasses) {
      let d
      try {
        d = parseDescription(s)
      } catch {
        continue
      }
      const f = d.fields
      const def: ClassDef = {
        oid: d.oid,
        names: f.get('NAME') ?? [],
        desc: f.get('DESC')?.[0] ?? null,
        sup: f.get('SUP') ?? [],
        kind: f.has('ABSTRACT') ? 'ABSTRACT' : f.has('AUXILIARY') ? 'AUXILIARY' : 'STRUCTURAL',
        must: f.get('MUST') ?? [],
        may: f.get('MAY') ?? []
      }
      this.objectClasses.push(def)
      this.classes.set(d.oid, def)
      for (const n of def.names) this.classes.set(n.toLowerCase(), def)
    }
  }

  /** An attribute description without its options (`userCertificate;binary` -> `userCertificate`). */
  private static base(name: string): string {
    return name.split(';')[0]!.toLowerCase()
  }

  attribute(name: string): AttrDef | null {
    return this.attrs.get(DirectorySchema.base(name)) ?? null
  }

  objectClass(name: string): ClassDef | null {
    return this.classes.get(name.toLowerCase()) ?? null
  }

  /** The canonical name of an attribute (its first NAME), or the name as given. */
  canonical(name: string): string {
    return this.attribute(name)?.names[0] ?? name
  }

  /** Syntax and length bound, following SUP when the type has none of its own. */
  syntaxOf(name: string): { syntax: string | null; maxLength: number | null } {
    let d = this.attribute(name)
    for (let hops = 0; d && !d.syntax && d.sup && hops < 10; hops++) d = this.attribute(d.sup)
    return { syntax: d?.syntax ?? null, maxLength: d?.maxLength ?? null }
  }

  isBinary(name: string): boolean {
    if (/;binary$/i.test(name)) return true
    const s = this.syntaxOf(name).syntax
    return s !== null && BINARY_SYNTAXES.has(s)
  }

  /** Every name (and alias) of every attribute with a binary syntax: ldapts's explicitBufferAttributes. */
  binaryAttributeNames(): string[] {
    const out: string[] = []
    for (const d of this.attributeTypes) if (d.names.length && this.isBinary(d.names[0]!)) out.push(...d.names)
    return out
  }

  /** The classes of `names` with their SUP chains (top included), each once, as canonical names. */
  closure(names: string[]): ClassDef[] {
    const seen = new Map<string, ClassDef>()
    const visit = (n: string, depth: number): void => {
      const c = this.objectClass(n)
      if (!c || seen.has(c.oid) || depth > 20) return
      seen.set(c.oid, c)
      for (const s of c.sup) visit(s, depth + 1)
    }
    for (const n of names) visit(n, 0)
    return [...seen.values()]
  }

  /** MUST and MAY of a set of object classes (canonical names, lower-case keys). */
  allowed(classes: string[]): { must: Map<string, string>; may: Map<string, string>; unknown: string[] } {
    const must = new Map<string, string>()
    const may = new Map<string, string>()
    const unknown = classes.filter((c) => !this.objectClass(c))
    for (const c of this.closure(classes)) {
      for (const a of c.must) must.set(this.canonical(a).toLowerCase(), this.canonical(a))
      for (const a of c.may) may.set(this.canonical(a).toLowerCase(), this.canonical(a))
    }
    for (const k of must.keys()) may.delete(k)
    return { must, may, unknown }
  }

  /**
   * Why `value` breaks `attr`'s syntax, or null when it fits (or the syntax is one not checked here: the
   * server has the last word). Checks the syntaxes people type into forms and files.
   */
  syntaxProblem(attr: string, value: string | Buffer): string | null {
    const { syntax, maxLength } = this.syntaxOf(attr)
    if (!syntax || BINARY_SYNTAXES.has(syntax) || Buffer.isBuffer(value)) return null
    const v = value
    if (maxLength !== null && [...v].length > maxLength) return `is longer than the ${maxLength} characters ${this.canonical(attr)} allows`
    switch (syntax) {
      case SYNTAX.integer:
        return /^-?(0|[1-9]\d*)$/.test(v) ? null : 'is not an integer (Integer syntax)'
      case SYNTAX.boolean:
        return v === 'TRUE' || v === 'FALSE' ? null : 'must be TRUE or FALSE (Boolean syntax)'
      case SYNTAX.ia5:
        return [...v].every((c) => c.codePointAt(0)! < 0x80) ? null : 'must be ASCII (IA5 String syntax)'
      case SYNTAX.directoryString:
        return v.length ? null : 'must not be empty (Directory String syntax)'
      case SYNTAX.dn:
        return isDn(v) ? null : 'is not a distinguished name (DN syntax)'
      case SYNTAX.generalizedTime:
        return /^\d{10}(\d{2}(\d{2})?)?([.,]\d+)?(Z|[+-]\d{2}(\d{2})?)$/.test(v) ? null : 'is not a Generalized Time such as 20261231235959Z'
      case SYNTAX.printable:
      case SYNTAX.telephone:
        return /^[A-Za-z0-9 '()+,\-./:=?]+$/.test(v) ? null : `may contain only letters, digits, spaces and ' ( ) + , - . / : = ? (${syntax === SYNTAX.printable ? 'Printable String' : 'Telephone Number'} syntax)`
      case SYNTAX.numeric:
        return /^[0-9 ]+$/.test(v) ? null : 'may contain only digits and spaces (Numeric String syntax)'
      case SYNTAX.country:
        return /^[A-Za-z]{2}$/.test(v) ? null : 'must be a two-letter country code (Country String syntax)'
      case SYNTAX.oid:
        return /^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)$/.test(v) ? null : 'is not a name or a dotted OID (OID syntax)'
      default:
        return null
    }
  }

  describeAttribute(name: string): AttributeInfo {
    const d = this.attribute(name)
    const { syntax, maxLength } = this.syntaxOf(name)
    return {
      name: d?.names[0] ?? name,
      oid: d?.oid ?? null,
      aliases: d?.names.slice(1) ?? [],
      description: d?.desc ?? null,
      syntax,
      syntaxName: syntax ? (SYNTAX_NAMES[syntax] ?? null) : null,
      maxLength,
      singleValue: d?.singleValue ?? false,
      binary: this.isBinary(name),
      userModifiable: d ? !d.noUserModification && d.usage === 'userApplications' : true,
      operational: d ? d.usage !== 'userApplications' : false,
      known: d !== null
    }
  }

  describeClass(name: string): ObjectClassInfo {
    const c = this.objectClass(name)
    return {
      name: c?.names[0] ?? name,
      oid: c?.oid ?? null,
      kind: c?.kind ?? null,
      sup: c?.sup ?? [],
      must: (c?.must ?? []).map((a) => this.canonical(a)),
      may: (c?.may ?? []).map((a) => this.canonical(a)),
      description: c?.desc ?? null
    }
  }
}

const cache = new WeakMap<LdapConnection, Promise<DirectorySchema>>()

/** The schema of the server behind `conn`, read once per connection. */
export function schemaOf(conn: LdapConnection): Promise<DirectorySchema> {
  let p = cache.get(conn)
  if (!p) {
    p = readSchema(conn)
    p.catch(() => cache.delete(conn))
    cache.set(conn, p)
  }
  return p
}

async function readSchema(conn: LdapConnection): Promise<DirectorySchema> {
  const dse = await conn.search('', { scope: 'base', attributes: ['subschemaSubentry'] }, 'read the root DSE')
  const where = dse[0]?.first('subschemaSubentry') ?? 'cn=Subschema'
  const r = await conn.search(where, { scope: 'base', attributes: ['attributeTypes', 'objectClasses'] }, `read the schema (${where})`)
  const e = r[0]
  if (!e || !e.has('attributeTypes')) {
    throw new AppError('UNAVAILABLE', `${conn.where}: the schema at ${where} cannot be read by this account; the server's ACLs must let it read ${where} (see docs/ldap-setup.md)`, { kind: 'schema' })
  }
  return new DirectorySchema(e.all('attributeTypes'), e.all('objectClasses'))
}

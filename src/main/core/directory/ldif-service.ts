/**
 * LDIF out and in.
 *
 * Export: any search under the profile's base (a subtree, the users, one filter) written as RFC 2849
 * content records while the pages arrive (entryStream on a connection of its own: each entry turned into
 * its text as it comes off the socket, at most one page of that text waiting for the writer), so 50,000
 * entries never sit in memory; binary attributes (from the server's schema) are written as the bytes they are.
 *
 * Import: add, modify, delete and modrdn records. First a preview: each record read against the live entry
 * (and against what the records before it in the same file will have done), shown as a diff per attribute,
 * with the reason it would be refused before sending (outside the base, no such entry, already exists, a
 * value breaking its attribute's syntax, a MUST attribute removed). Then, unless it is a dry run, the
 * records are applied in file order, each one audited (intent before, outcome after, see audited.ts) under
 * the one request id of the import; at a refusal (ours or the server's, with its result code) it stops, or
 * records it and goes on, as chosen up front.
 */
import { Attribute, Change, FilterParser, type Entry } from 'ldapts'
import { AppError } from '../../../shared/errors'
import { dnEquals, formatDn, isDn, isUnderDn, normalizeDn, parseDn } from '../../../shared/dn'
import {
  ldifExportSchema,
  type AttributeDiff,
  type LdifChangePreview,
  type LdifExportResult,
  type LdifImportReport,
  type LdifRecordFailure
} from '../../../shared/directory-admin'
import type { AuditEntry } from '../audit/writer'
import type { DirectoryAudit } from './audited'
import { formatEntry, parseLdif, type LdifRecord, type LdifValue } from './ldif'
import { schemaOf, type DirectorySchema } from './schema'
import { auditName, parseInput, type DirectoryScope, type Guard } from './scope'

/** Attributes whose values never appear in a preview or an audit row. */
const SECRET = new Set(['userpassword', 'sambantpassword', 'sambalmpassword', 'krbprincipalkey'])

export type AttrMap = Map<string, { name: string; values: LdifValue[] }>

/** An entry's attributes with their values, in the server's order (the dn and empty attributes left out). */
function* entryAttrs(e: Entry): Generator<[string, LdifValue[]]> {
  for (const [k, v] of Object.entries(e)) {
    if (k === 'dn') continue
    const values = (Array.isArray(v) ? v : [v]) as LdifValue[]
    if (values.length) yield [k, values]
  }
}

export function entryToMap(e: Entry): AttrMap {
  const m: AttrMap = new Map()
  for (const [k, v] of Object.entries(e)) {
    if (k === 'dn') continue
    const values = (Array.isArray(v) ? v : [v]) as LdifValue[]
    if (!values.length) continue
    m.set(k.toLowerCase(), { name: k, values })
  }
  return m
}

const same = (a: LdifValue, b: LdifValue): boolean => (typeof a === 'string' && typeof b === 'string' ? a === b : Buffer.from(a).equals(Buffer.from(b)))

/** A value as shown in a preview or an audit row. */
export function shown(attr: string, v: LdifValue, schema: DirectorySchema | null): string {
  if (SECRET.has(attr.toLowerCase())) return '(hidden)'
  if (Buffer.isBuffer(v) || schema?.isBinary(attr)) return `(${Buffer.byteLength(v)} bytes)`
  return v
}

function toAttributes(attrs: Iterable<[string, LdifValue[]]>): Attribute[] {
  const out: Attribute[] = []
  for (const [type, values] of attrs) {
    const anyBytes = values.some((v) => Buffer.isBuffer(v))
    out.push(new Attribute({ type, values: anyBytes ? values.map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8'))) : (values as string[]) }))
  }
  return out
}

function change(operation: 'add' | 'delete' | 'replace', type: string, values: LdifValue[]): Change {
  return new Change({ operation, modification: toAttributes([[type, values]])[0]! })
}

/** Where the record writes: its DN, and for modrdn its new DN too. */
function newDnOf(r: Extract<LdifRecord, { kind: 'modrdn' }>): string {
  const parent = r.newSuperior ?? formatDn(parseDn(r.dn).slice(1))
  return parent ? `${r.newRdn},${parent}` : r.newRdn
}

export interface ImportProgress {
  done: number
  total: number
  dn: string
}

export class LdifService {
  constructor(
    private readonly audit: DirectoryAudit,
    private readonly guard: Guard
  ) {}

  private outsideBase(scope: DirectoryScope, dn: string, field: string): AppError | null {
    if (!isDn(dn)) return new AppError('VALIDATION', `${field}: "${dn}" is not a distinguished name`, { field })
    if (!isUnderDn(dn, scope.conn.profile.baseDn)) return new AppError('VALIDATION', `${field}: ${dn} lies outside the profile's base DN ${scope.conn.profile.baseDn}`, { field })
    return null
  }

  /**
   * Writes the search as LDIF through `write`, which may be slow: each call is awaited before the next, and
   * the next page is asked for only after every entry of the previous one was written, so a slow consumer
   * holds back the server instead of filling memory. Audited as one read with the count.
   */
  async export(scope: DirectoryScope, input: unknown, write: (chunk: string) => Promise<void> | void): Promise<LdifExportResult> {
    const entry: AuditEntry = { action: 'read', resourceType: 'ldap_export', resourceName: auditName((input as { base?: unknown })?.base), details: { context: { profile: scope.conn.profile.name } } }
    return this.guard.run(scope, entry, 'viewer', 'exporting LDIF', async () => {
      const v = parseInput(ldifExportSchema, input)
      const bad = this.outsideBase(scope, v.base, 'base')
      if (bad) throw bad
      const filterText = v.filter?.trim() || '(objectClass=*)'
      let filter
      try {
        filter = FilterParser.parseString(filterText.startsWith('(') ? filterText : `(${filterText})`)
      } catch (e) {
        throw new AppError('VALIDATION', `filter: ${JSON.stringify(filterText)} is not an LDAP filter (${(e as Error).message})`, { field: 'filter' })
      }
      const schema = await schemaOf(scope.conn)
      const attributes = v.attributes?.length ? v.attributes : v.operational ? ['*', '+'] : ['*']
      const own = scope.conn.fork()
      let entries = 0
      let bytes = 0
      try {
        // Each entry becomes its LDIF text as it comes off the socket; what arrived together is written as one chunk.
        const text = (e: Entry): string => formatEntry(e.dn, entryAttrs(e))
        for await (const batch of own.entryStream(v.base, { scope: v.scope, filter, attributes }, v.pageSize, schema.binaryAttributeNames(), text)) {
          const chunk = batch.length === 1 ? batch[0]! : batch.join('')
          entries += batch.length
          bytes += Buffer.byteLength(chunk)
          await write(chunk)
        }
      } finally {
        await own.close()
      }
      await this.audit.event(scope.ctx, { ...entry, resourceId: v.base, status: 'success', details: { context: { ...entry.details?.context, filter: filterText, scope: v.scope, entries } } })
      return { base: v.base, filter: filterText, entries, bytes }
    })
  }

  /** Reads every record of an LDIF source (text, or a stream for the CLI). Syntax errors name the line. */
  async records(source: AsyncIterable<string | Buffer>): Promise<LdifRecord[]> {
    const out: LdifRecord[] = []
    for await (const r of parseLdif(source)) out.push(r)
    return out
  }

  /** The import: preview every record, then (unless dryRun) apply them in order. */
  async import(
    scope: DirectoryScope,
    input: { source: AsyncIterable<string | Buffer>; dryRun?: boolean; continueOnError?: boolean },
    onProgress?: (p: ImportProgress) => void,
    cancelled?: () => boolean
  ): Promise<LdifImportReport> {
    const dryRun = input.dryRun ?? false
    const continueOnError = input.continueOnError ?? false
    const entry: AuditEntry = { action: 'update', resourceType: 'ldap_entry', details: { context: { profile: scope.conn.profile.name, via: 'ldif' } } }
    return this.guard.run(scope, { ...entry, resourceName: 'LDIF import' }, dryRun ? 'viewer' : 'operator', dryRun ? 'previewing an LDIF import' : 'importing LDIF', async () => {
      const records = await this.records(input.source)
      const schema = await schemaOf(scope.conn)
      const preview = await this.preview(scope, records, schema)
      const report: LdifImportReport = { dryRun, continueOnError, requestId: scope.ctx.requestId, records: records.length, applied: 0, failed: [], notAttempted: 0, cancelled: false, preview }
      if (dryRun) return report
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!
        const p = preview[i]!
        if (cancelled?.()) {
          report.notAttempted = records.length - i
          report.cancelled = true
          break
        }
        try {
          if (p.problem) throw new AppError('VALIDATION', `line ${r.line}: ${p.problem}`, { field: 'ldif', line: r.line })
          await this.apply(scope, r, p)
          report.applied++
        } catch (e) {
          const err = e instanceof AppError ? e : new AppError('INTERNAL', (e as Error).message)
          const f: LdifRecordFailure = { line: r.line, dn: r.dn, kind: r.kind, code: err.code, message: err.message }
          if (typeof err.details?.ldapCode === 'number') f.ldapCode = err.details.ldapCode
          report.failed.push(f)
          if (p.problem) await this.audit.refused(scope.ctx, this.auditEntry(scope, r, p), err)
          if (!continueOnError) {
            report.notAttempted = records.length - i - 1
            break
          }
        }
        onProgress?.({ done: i + 1, total: records.length, dn: r.dn })
      }
      return report
    })
  }

  private auditEntry(scope: DirectoryScope, r: LdifRecord, p: LdifChangePreview): AuditEntry {
    const before = Object.fromEntries(p.changes.filter((c) => c.before.length).map((c) => [c.attribute, c.before]))
    const after = Object.fromEntries(p.changes.filter((c) => c.after.length || r.kind === 'modify').map((c) => [c.attribute, c.after]))
    return {
      action: r.kind === 'add' ? 'create' : r.kind === 'delete' ? 'delete' : 'update',
      resourceType: 'ldap_entry',
      resourceId: r.dn,
      resourceName: auditName(r.dn),
      details: {
        ...(r.kind !== 'add' ? { before: r.kind === 'modrdn' ? { dn: r.dn } : before } : {}),
        ...(r.kind !== 'delete' ? { after: r.kind === 'modrdn' ? { dn: p.newDn } : after } : {}),
        context: { profile: scope.conn.profile.name, via: 'ldif', line: r.line, change: r.kind }
      }
    }
  }

  private async apply(scope: DirectoryScope, r: LdifRecord, p: LdifChangePreview): Promise<void> {
    const conn = scope.conn
    await this.audit.change(scope.ctx, this.auditEntry(scope, r, p), async () => {
      switch (r.kind) {
        case 'add':
          await conn.addEntry(r.dn, toAttributes(r.attrs))
          return
        case 'delete':
          await conn.del(r.dn)
          return
        case 'modify':
          await conn.modify(
            r.dn,
            r.mods.map((m) => {
              if (m.op === 'increment') throw new AppError('VALIDATION', `line ${r.line}: increment is not supported by this client; use replace`, { field: 'ldif', line: r.line })
              return change(m.op, m.type, m.values)
            })
          )
          return
        case 'modrdn':
          await conn.moveEntry(r.dn, r.newRdn, r.deleteOldRdn, r.newSuperior)
          return
      }
    })
  }

  /**
   * Each record against the live directory as the records before it will have left it: reads the entry
   * once, then keeps it in a map by DN, so an add followed by a modify of the same entry previews right.
   */
  async preview(scope: DirectoryScope, records: LdifRecord[], schema: DirectorySchema): Promise<LdifChangePreview[]> {
    const conn = scope.conn
    const state = new Map<string, AttrMap | null>()
    const buffers = schema.binaryAttributeNames()
    const live = async (dn: string): Promise<AttrMap | null> => {
      const key = normalizeDn(dn)
      if (state.has(key)) return state.get(key)!
      const e = await conn.readRaw(dn, ['*'], buffers)
      const m = e ? entryToMap(e) : null
      state.set(key, m)
      return m
    }
    const out: LdifChangePreview[] = []
    for (const r of records) {
      const p: LdifChangePreview = { line: r.line, dn: r.dn, kind: r.kind, changes: [], problem: null }
      out.push(p)
      const bad = this.outsideBase(scope, r.dn, 'dn')
      if (bad) {
        p.problem = bad.message.replace(/^dn: /, '')
        continue
      }
      const diff = (attr: string, before: LdifValue[], after: LdifValue[]): AttributeDiff => ({
        attribute: attr,
        before: before.map((v) => shown(attr, v, schema)),
        after: after.map((v) => shown(attr, v, schema))
      })
      const cur = await live(r.dn)
      if (r.kind === 'add') {
        if (cur) p.problem = `${r.dn} already exists`
        const m: AttrMap = new Map()
        for (const [name, values] of r.attrs) {
          m.set(name.toLowerCase(), { name, values })
          p.changes.push(diff(name, [], values))
        }
        p.problem ??= entryProblem(schema, m, null)
        const parent = formatDn(parseDn(r.dn).slice(1))
        if (!p.problem && parent && !isUnderDn(scope.conn.profile.baseDn, r.dn) && (await live(parent)) === null) p.problem = `the parent ${parent} does not exist`
        if (!p.problem) state.set(normalizeDn(r.dn), m)
      } else if (r.kind === 'delete') {
        if (!cur) p.problem = `${r.dn} does not exist`
        else {
          for (const a of cur.values()) p.changes.push(diff(a.name, a.values, []))
          state.set(normalizeDn(r.dn), null)
        }
      } else if (r.kind === 'modrdn') {
        const target = newDnOf(r)
        p.newDn = target
        const badTarget = this.outsideBase(scope, target, 'newrdn')
        if (!cur) p.problem = `${r.dn} does not exist`
        else if (badTarget) p.problem = `the new DN ${badTarget.message.replace(/^newrdn: /, '')}`
        else if (!dnEquals(target, r.dn) && (await live(target))) p.problem = `${target} already exists`
        else {
          p.changes.push({ attribute: 'dn', before: [r.dn], after: [target] })
          state.set(normalizeDn(r.dn), null)
          const moved: AttrMap = new Map(cur)
          // The new RDN's value joins the entry; the old one leaves it with deleteoldrdn: 1.
          const [oldAva] = parseDn(r.dn)[0] ?? []
          const [newAva] = parseDn(target)[0] ?? []
          if (newAva) {
            const k = newAva.type.toLowerCase()
            const a = moved.get(k) ?? { name: newAva.type, values: [] }
            if (!a.values.some((v) => typeof v === 'string' && v.toLowerCase() === newAva.value.toLowerCase())) moved.set(k, { ...a, values: [...a.values, newAva.value] })
          }
          if (r.deleteOldRdn && oldAva && oldAva.value.toLowerCase() !== newAva?.value.toLowerCase()) {
            const k = oldAva.type.toLowerCase()
            const a = moved.get(k)
            if (a) moved.set(k, { ...a, values: a.values.filter((v) => !(typeof v === 'string' && v.toLowerCase() === oldAva.value.toLowerCase())) })
          }
          state.set(normalizeDn(target), moved)
        }
      } else {
        if (!cur) {
          p.problem = `${r.dn} does not exist`
          continue
        }
        const next: AttrMap = new Map([...cur].map(([k, a]) => [k, { ...a, values: [...a.values] }]))
        const touched = new Map<string, string>()
        for (const m of r.mods) {
          const k = m.type.toLowerCase()
          touched.set(k, m.type)
          const a = next.get(k) ?? { name: m.type, values: [] }
          if (m.op === 'add') {
            const dup = m.values.find((v) => a.values.some((x) => same(x, v)))
            if (dup !== undefined) p.problem ??= `${m.type} already has the value ${shown(m.type, dup, schema)}`
            next.set(k, { ...a, values: [...a.values, ...m.values] })
          } else if (m.op === 'replace') {
            next.set(k, { name: a.name, values: [...m.values] })
          } else if (m.op === 'delete') {
            if (!m.values.length) {
              if (!a.values.length) p.problem ??= `${m.type} is not present on ${r.dn}`
              next.set(k, { ...a, values: [] })
            } else {
              const missing = m.values.find((v) => !a.values.some((x) => same(x, v)))
              if (missing !== undefined) p.problem ??= `${m.type} has no value ${shown(m.type, missing, schema)}`
              next.set(k, { ...a, values: a.values.filter((x) => !m.values.some((v) => same(x, v))) })
            }
          } else {
            if (a.values.length !== 1 || !/^-?\d+$/.test(String(a.values[0])) || m.values.length !== 1 || !/^-?\d+$/.test(String(m.values[0]))) p.problem ??= `increment of ${m.type} needs one integer value on each side`
            else next.set(k, { ...a, values: [String(BigInt(String(a.values[0])) + BigInt(String(m.values[0])))] })
          }
        }
        for (const [k, name] of touched) {
          const b = cur.get(k)?.values ?? []
          const after = next.get(k)?.values ?? []
          if (b.length !== after.length || b.some((v, i) => !same(v, after[i]!))) p.changes.push(diff(cur.get(k)?.name ?? name, b, after))
        }
        for (const [k, a] of next) if (!a.values.length) next.delete(k)
        p.problem ??= entryProblem(schema, next, new Set(touched.keys()))
        if (!p.problem) state.set(normalizeDn(r.dn), next)
      }
    }
    return out
  }
}

/**
 * What the server's schema would refuse in an entry as it will be: a value breaking its syntax (only
 * the attributes `touched`, or all for an add), a second value of a single-valued attribute, a MUST
 * attribute missing, an attribute no object class allows.
 */
export function entryProblem(schema: DirectorySchema, m: AttrMap, touched: Set<string> | null): string | null {
  const classes = (m.get('objectclass')?.values ?? []).map(String)
  for (const [k, a] of m) {
    if (touched && !touched.has(k)) continue
    const def = schema.attribute(a.name)
    if (!def) return `${a.name} is not an attribute the server's schema knows`
    if (def.singleValue && a.values.length > 1) return `${a.name} takes a single value (${a.values.length} given)`
    for (const v of a.values) {
      const why = schema.syntaxProblem(a.name, v)
      if (why) return `${a.name}: ${JSON.stringify(shown(a.name, v, schema))} ${why}`
    }
  }
  if (!classes.length) return 'the entry would have no objectClass'
  const { must, may, unknown } = schema.allowed(classes)
  if (unknown.length) return `objectClass ${unknown.join(', ')} is not in the server's schema`
  const have = new Set([...m.values()].map((a) => schema.canonical(a.name).toLowerCase()))
  for (const [k, name] of must) if (!have.has(k)) return `${name} is required by the entry's object classes (MUST) and would be missing`
  const extensible = classes.some((c) => c.toLowerCase() === 'extensibleobject')
  if (!extensible) {
    for (const a of m.values()) {
      const k = schema.canonical(a.name).toLowerCase()
      if (k === 'objectclass' || must.has(k) || may.has(k)) continue
      const def = schema.attribute(a.name)
      if (def && def.usage !== 'userApplications') continue
      if (!touched || touched.has(a.name.toLowerCase())) return `${a.name} is not allowed by the entry's object classes (${classes.join(', ')})`
    }
  }
  return null
}

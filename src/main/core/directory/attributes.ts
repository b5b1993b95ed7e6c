/**
 * Every attribute of any entry under the profile's base, driven by the server's schema (schema.ts): the
 * "All attributes" panel, `entry show DN --all`, `entry set DN ATTR VALUE...`, object classes added and
 * removed, binary values given as their size (and downloadable one by one), and the tree browser (one level
 * at a time, paged).
 *
 * What is refused before anything is sent, naming the attribute and the reason: a value breaking the
 * attribute's syntax or length bound, a second value of a single-valued attribute, removing an attribute
 * an object class of the entry requires (MUST), changing what only the server writes
 * (NO-USER-MODIFICATION, operational), removing the structural class, removing a class whose attributes
 * the entry still carries, adding a class without values for the attributes it requires, and an entry
 * outside the profile's base. A change is made against the values it was based on (`expected`): another
 * writer's change in between makes it a CONFLICT instead of being overwritten.
 */
import { Attribute, Change } from 'ldapts'
import { AppError } from '../../../shared/errors'
import { formatDn, isUnderDn, parseDn } from '../../../shared/dn'
import {
  entrySetSchema,
  objectClassChangeSchema,
  treeListSchema,
  type EntryAttribute,
  type EntryDetail,
  type TreeNode
} from '../../../shared/directory-admin'
import type { DirectoryPage } from '../../../shared/directory'
import type { AuditEntry } from '../audit/writer'
import type { DirectoryAudit } from './audited'
import { present } from './filters'
import { entryToMap } from './ldif-service'
import { schemaOf, type DirectorySchema } from './schema'
import { auditName, parseInput, type DirectoryScope, type Guard } from './scope'
import type { LdapEntry } from './connection'

const SECRET = new Set(['userpassword'])

export class EntryEditor {
  constructor(
    private readonly audit: DirectoryAudit,
    private readonly guard: Guard
  ) {}

  private entry(scope: DirectoryScope, action: AuditEntry['action'], dn: unknown, details?: AuditEntry['details']): AuditEntry {
    return { action, resourceType: 'ldap_entry', resourceId: typeof dn === 'string' ? dn : null, resourceName: auditName(dn), details: { ...details, context: { profile: scope.conn.profile.name, ...details?.context } } }
  }

  private inBase(scope: DirectoryScope, dn: string): void {
    if (!isUnderDn(dn, scope.conn.profile.baseDn)) throw new AppError('VALIDATION', `dn: ${dn} lies outside the profile's base DN ${scope.conn.profile.baseDn}`, { field: 'dn' })
  }

  private async load(scope: DirectoryScope, dn: string, schema: DirectorySchema) {
    const e = await scope.conn.readRaw(dn, ['*', '+'], schema.binaryAttributeNames())
    if (!e) throw new AppError('NOT_FOUND', `dn: no entry ${dn}`, { field: 'dn' })
    return { dn: e.dn, attrs: entryToMap(e) }
  }

  /** The entry with every attribute it has, each described by the schema, and what it could add. */
  async show(scope: DirectoryScope, input: unknown): Promise<EntryDetail> {
    const dn = parseInput(entrySetSchema.pick({ dn: true }), input).dn
    this.inBase(scope, dn)
    const schema = await schemaOf(scope.conn)
    const cur = await this.load(scope, dn, schema)
    const classes = (cur.attrs.get('objectclass')?.values ?? []).map(String)
    const { must, may } = schema.allowed(classes)
    const attributes: EntryAttribute[] = []
    for (const a of cur.attrs.values()) {
      const info = schema.describeAttribute(a.name)
      const binary = info.binary || a.values.some((v) => Buffer.isBuffer(v)) || SECRET.has(a.name.toLowerCase())
      attributes.push({
        info: { ...info, binary },
        values: binary ? a.values.map((v) => `(${Buffer.byteLength(v)} bytes)`) : a.values.map(String),
        ...(binary ? { sizes: a.values.map((v) => Buffer.byteLength(v)) } : {}),
        required: must.has(schema.canonical(a.name).toLowerCase())
      })
    }
    // Object classes first, then MUST, then the rest by name; operational ones last.
    const rank = (x: EntryAttribute): number => (x.info.name.toLowerCase() === 'objectclass' ? 0 : x.info.operational ? 3 : x.required ? 1 : 2)
    attributes.sort((a, b) => rank(a) - rank(b) || a.info.name.localeCompare(b.info.name))
    const have = new Set(attributes.map((a) => a.info.name.toLowerCase()))
    const allowed = [...may.values()].filter((n) => !have.has(n.toLowerCase())).map((n) => schema.describeAttribute(n)).sort((a, b) => a.name.localeCompare(b.name))
    const present = new Set(schema.closure(classes).map((c) => c.oid))
    const auxiliaryClasses = schema.objectClasses.filter((c) => c.kind === 'AUXILIARY' && !present.has(c.oid) && c.names.length).map((c) => c.names[0]!).sort()
    const sub = cur.attrs.get('hassubordinates')?.values[0]
    return {
      dn: cur.dn,
      objectClasses: schema.closure(classes).filter((c) => c.names[0]?.toLowerCase() !== 'top').map((c) => schema.describeClass(c.names[0] ?? c.oid)),
      attributes,
      allowed,
      auxiliaryClasses,
      hasChildren: sub === undefined ? null : String(sub).toUpperCase() === 'TRUE'
    }
  }

  /** One value of an attribute as bytes (a binary value's download). */
  async value(scope: DirectoryScope, dn: string, attribute: string, index = 0): Promise<Buffer> {
    this.inBase(scope, dn)
    const schema = await schemaOf(scope.conn)
    const cur = await this.load(scope, dn, schema)
    const a = cur.attrs.get(attribute.toLowerCase()) ?? cur.attrs.get(schema.canonical(attribute).toLowerCase())
    const v = a?.values[index]
    if (v === undefined) throw new AppError('NOT_FOUND', `attribute: ${dn} has no value #${index + 1} of ${attribute}`, { field: 'attribute' })
    return Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8')
  }

  /** Sets an attribute to exactly `values` ([] removes it), after the checks in the module comment. */
  async set(scope: DirectoryScope, input: unknown): Promise<EntryDetail> {
    const raw = input as { dn?: unknown; attribute?: unknown }
    const entry = this.entry(scope, 'update', raw?.dn, { context: { attribute: typeof raw?.attribute === 'string' ? raw.attribute : null } })
    return this.guard.run(scope, entry, 'operator', 'editing an attribute', async () => {
      const v = parseInput(entrySetSchema, input)
      this.inBase(scope, v.dn)
      const schema = await schemaOf(scope.conn)
      const info = schema.describeAttribute(v.attribute)
      const field = 'attribute'
      if (!info.known) throw new AppError('VALIDATION', `attribute: ${v.attribute} is not an attribute of the server's schema`, { field })
      if (info.name.toLowerCase() === 'objectclass') throw new AppError('VALIDATION', 'attribute: object classes are changed with their own action (entry class --add/--remove), which checks what each class requires', { field })
      if (!info.userModifiable) throw new AppError('VALIDATION', `attribute: ${info.name} is maintained by the server (${info.operational ? 'operational' : 'NO-USER-MODIFICATION'}) and cannot be edited`, { field })
      if (info.binary) throw new AppError('VALIDATION', `attribute: ${info.name} holds binary values; it cannot be set from text here`, { field })
      if (info.singleValue && v.values.length > 1) throw new AppError('VALIDATION', `values: ${info.name} takes a single value (${v.values.length} given)`, { field: 'values' })
      if (new Set(v.values).size !== v.values.length) throw new AppError('VALIDATION', `values: the same value is given twice for ${info.name}`, { field: 'values' })
      for (const [i, value] of v.values.entries()) {
        const why = schema.syntaxProblem(info.name, value)
        if (why) throw new AppError('VALIDATION', `values.${i}: ${JSON.stringify(value)} ${why}`, { field: `values.${i}`, attribute: info.name, syntax: info.syntaxName })
      }
      const cur = await this.load(scope, v.dn, schema)
      const classes = (cur.attrs.get('objectclass')?.values ?? []).map(String)
      const { must, may } = schema.allowed(classes)
      const key = info.name.toLowerCase()
      const isMust = must.has(key)
      if (!v.values.length && isMust) {
        const by = schema.closure(classes).filter((c) => c.must.some((m) => schema.canonical(m).toLowerCase() === key)).map((c) => c.names[0])
        throw new AppError('VALIDATION', `attribute: ${info.name} is required by ${by.join(', ')} (MUST) and cannot be removed`, { field, required: true })
      }
      if (v.values.length && !isMust && !may.has(key) && !classes.some((c) => c.toLowerCase() === 'extensibleobject')) {
        throw new AppError('VALIDATION', `attribute: ${info.name} is not allowed by the entry's object classes (${classes.join(', ')}); add a class that allows it first`, { field })
      }
      const found = [...cur.attrs.entries()].find(([k]) => schema.canonical(k).toLowerCase() === key)
      const before = (found?.[1].values ?? []).map(String)
      if (v.expected && (v.expected.length !== before.length || v.expected.some((x, i) => x !== before[i]))) {
        throw new AppError('CONFLICT', `${info.name}: the entry changed since it was loaded (now ${JSON.stringify(before)}); reload and edit again`, { field, current: before })
      }
      if (before.length === v.values.length && before.every((x, i) => x === v.values[i])) return this.show(scope, { dn: v.dn })
      // Delete the values we read and add the new ones: a concurrent change makes the modify fail.
      const changes: Change[] = []
      if (before.length) changes.push(new Change({ operation: 'delete', modification: new Attribute({ type: found![1].name, values: before }) }))
      if (v.values.length) changes.push(new Change({ operation: 'add', modification: new Attribute({ type: info.name, values: v.values }) }))
      const secret = SECRET.has(key)
      await this.audit.change(
        scope.ctx,
        { ...entry, resourceId: cur.dn, resourceName: auditName(cur.dn), details: { before: { [info.name]: secret ? '(hidden)' : before }, after: { [info.name]: secret ? '(hidden)' : v.values }, context: entry.details?.context } },
        () => scope.conn.modify(cur.dn, changes, 'attribute')
      )
      return this.show(scope, { dn: cur.dn })
    })
  }

  /** Adds and removes object classes (with values for what added classes require). */
  async classes(scope: DirectoryScope, input: unknown): Promise<EntryDetail> {
    const raw = input as { dn?: unknown }
    const entry = this.entry(scope, 'update', raw?.dn, { context: { change: 'objectClass' } })
    return this.guard.run(scope, entry, 'operator', 'changing object classes', async () => {
      const v = parseInput(objectClassChangeSchema, input)
      this.inBase(scope, v.dn)
      const schema = await schemaOf(scope.conn)
      const cur = await this.load(scope, v.dn, schema)
      const classes = (cur.attrs.get('objectclass')?.values ?? []).map(String)
      const has = (c: string): boolean => classes.some((x) => x.toLowerCase() === c.toLowerCase())
      for (const c of [...v.add, ...v.remove]) if (!schema.objectClass(c)) throw new AppError('VALIDATION', `objectClass: ${c} is not in the server's schema`, { field: 'objectClass' })
      const add = v.add.filter((c) => !has(c)).map((c) => schema.objectClass(c)!.names[0] ?? c)
      const remove = v.remove.filter((c) => has(c)).map((c) => classes.find((x) => x.toLowerCase() === c.toLowerCase())!)
      for (const c of remove) {
        if (schema.objectClass(c)!.kind === 'STRUCTURAL') throw new AppError('VALIDATION', `objectClass: ${c} is a structural class of the entry; it cannot be removed (the entry would have to be re-created)`, { field: 'objectClass' })
      }
      const next = [...classes.filter((c) => !remove.includes(c)), ...add]
      const nextAllowed = schema.allowed(next)
      const nowMust = schema.allowed(classes).must
      // Attributes only the removed classes allowed must go first.
      const orphaned = [...cur.attrs.values()]
        .map((a) => schema.canonical(a.name))
        .filter((n) => {
          const k = n.toLowerCase()
          const def = schema.attribute(n)
          return k !== 'objectclass' && def?.usage === 'userApplications' && !nextAllowed.must.has(k) && !nextAllowed.may.has(k)
        })
      if (orphaned.length) throw new AppError('VALIDATION', `objectClass: removing ${remove.join(', ')} leaves ${orphaned.join(', ')} without a class that allows ${orphaned.length > 1 ? 'them' : 'it'}; remove ${orphaned.length > 1 ? 'those attributes' : 'it'} first`, { field: 'objectClass', attributes: orphaned })
      const values = new Map(Object.entries(v.values).map(([k, vals]) => [schema.canonical(k).toLowerCase(), { name: schema.canonical(k), vals }]))
      const addValues: Change[] = []
      for (const [k, name] of nextAllowed.must) {
        if (nowMust.has(k) || cur.attrs.has(k) || [...cur.attrs.keys()].some((x) => schema.canonical(x).toLowerCase() === k)) continue
        const given = values.get(k)
        if (!given?.vals.length) throw new AppError('VALIDATION', `values.${name}: ${add.join(', ')} requires ${name} (MUST); give its value`, { field: `values.${name}`, required: name })
        for (const x of given.vals) {
          const why = schema.syntaxProblem(name, x)
          if (why) throw new AppError('VALIDATION', `values.${name}: ${JSON.stringify(x)} ${why}`, { field: `values.${name}` })
        }
        addValues.push(new Change({ operation: 'add', modification: new Attribute({ type: name, values: given.vals }) }))
      }
      if (!add.length && !remove.length) return this.show(scope, { dn: v.dn })
      const changes = [
        ...(add.length ? [new Change({ operation: 'add', modification: new Attribute({ type: 'objectClass', values: add }) })] : []),
        ...addValues,
        ...(remove.length ? [new Change({ operation: 'delete', modification: new Attribute({ type: 'objectClass', values: remove }) })] : [])
      ]
      await this.audit.change(
        scope.ctx,
        { ...entry, resourceId: cur.dn, resourceName: auditName(cur.dn), details: { before: { objectClass: classes }, after: { objectClass: next }, context: { ...entry.details?.context, added: add, removed: remove } } },
        () => scope.conn.modify(cur.dn, changes, 'objectClass')
      )
      return this.show(scope, { dn: cur.dn })
    })
  }

  /** The children of an entry (default the base DN), one page at a time, with whether each has children. */
  async tree(scope: DirectoryScope, input: unknown = {}): Promise<DirectoryPage<TreeNode>> {
    const v = parseInput(treeListSchema, input)
    const map = (e: LdapEntry): TreeNode => ({
      dn: e.dn,
      rdn: formatDn(parseDn(e.dn).slice(0, 1)),
      objectClasses: e.all('objectClass'),
      hasChildren: (e.first('hasSubordinates') ?? 'TRUE').toUpperCase() === 'TRUE'
    })
    if (v.cursor) return scope.cursors.next(v.cursor, map)
    const dn = v.dn ?? scope.conn.profile.baseDn
    this.inBase(scope, dn)
    if (v.dn === undefined) {
      // The root of the tree is the base entry itself.
      const base = await scope.conn.readEntry(dn, ['objectClass', 'hasSubordinates'])
      if (!base) throw new AppError('NOT_FOUND', `dn: the base DN ${dn} does not exist`, { field: 'dn' })
      return { items: [map(base)], nextCursor: null }
    }
    return scope.cursors.open(scope.conn, dn, { scope: 'one', filter: present('objectClass'), attributes: ['objectClass', 'hasSubordinates'] }, v.pageSize, map)
  }
}

/**
 * Bulk user import from CSV: the columns mapped to attributes, the profile's template applied, every row
 * analysed with the reason it would be skipped (bad uid, duplicate in the file, missing required attribute,
 * unknown group, a value the server's schema refuses, an existing uid when existing ones are skipped),
 * a dry run, then apply with progress and cancel, and a report per row.
 *
 * Existing uids are skipped or updated (chosen up front); an update changes only the mapped attributes
 * whose value differs, so a second run of the same file changes nothing. Every created or updated user is
 * audited like a single create (intent, write, outcome) under the import's one request id; passwords from
 * the file go to the server through Password Modify (or as an {SSHA} hash made here, as user create does)
 * and never into a report, a log or an audit row. In update mode a mapped password column sets the
 * password of an existing user the same way (checked against the password policy first); a password the
 * entry already holds (its {SSHA} value verified here, when the bind may read userPassword) is left alone,
 * so a second run stays a no-op. Group memberships are added per group at the end, one
 * audited change per group.
 *
 * uidNumbers are taken from the id pool as one block (ids.ts allocateBlock), skipping numbers the directory
 * already holds (read in the same walk as the existing uids). Up to 32 rows are in flight at once: LDAP answers on one connection out of order and the audit rows of
 * concurrent writers share a commit (audit/writer.ts groupCommit), which is what makes 10,000 rows fit in a
 * minute.
 */
import { CsvError, parse } from 'csv-parse/sync'
import { Attribute, Change } from 'ldapts'
import { AppError } from '../../../shared/errors'
import { childDn } from '../../../shared/dn'
import { posixName } from '../../../shared/directory'
import { userImportSchema, type AttributeDiff, type UserImportReport, type UserImportRow } from '../../../shared/directory-admin'
import type { AuditEntry } from '../audit/writer'
import type { DirectoryAudit } from './audited'
import { OID_PASSWORD_MODIFY, type LdapConnection } from './connection'
import { GROUP_CLASSES, present } from './filters'
import type { GroupDirectory } from './groups'
import { allocateBlock, type IdPoolEvents } from './ids'
import { entryProblem, type AttrMap } from './ldif-service'
import { epochDays, passwordModifyValue, sshaHash, sshaVerify } from './password'
import { schemaOf } from './schema'
import { auditName, parseInput, type DirectoryScope, type Guard } from './scope'
import { expandPattern, type TemplateStore } from './templates'
import type { UserDirectory } from './users'

/**
 * Rows in flight at once. The import waits on the servers, not on this process (a CPU profile of 1,500 rows
 * is half idle): each row is an intent and an outcome audit row (durable commits, shared between concurrent
 * writers by audit/writer.ts groupCommit) and an LDAP add pipelined on the one connection. More rows in
 * flight make bigger group commits: 32 imported 1,500 users at 83/s where 8 gave 66/s on the same loaded
 * machine (load average 11-14).
 */
const CONCURRENCY = 32

/**
 * New users per LDAP transaction, and transactions in flight (each on a connection of its own). Measured with
 * 2,000 users on a loaded machine (load average 10): one add per commit went at 100-127 a second whatever the
 * pipelining (slapd's back-mdb syncs every commit, about 10 ms here); 25 per transaction gave 800 a second,
 * 100 gave 1,090. Two connections let one batch's audit rows commit while the other's adds are written.
 */
const BATCH = 100
const BATCH_CONNECTIONS = 2
/** Smaller imports use smaller transactions: a cancel then waits for at most two small batches in flight. */
const BATCHES_AT_LEAST = 50

interface PlannedRow extends UserImportRow {
  attrs?: Map<string, { name: string; values: string[] }>
  password?: string
  groups?: string[]
  dn?: string
  needsUidNumber?: boolean
  update?: Change[]
  /** update: the entry is a shadowAccount, so a new password also sets shadowLastChange. */
  shadow?: boolean
}

function sniffDelimiter(text: string): ',' | ';' | '\t' {
  const first = text.split(/\r?\n/, 1)[0] ?? ''
  const count = (c: string): number => first.split(c).length - 1
  const best = ([',', ';', '\t'] as const).map((d) => [d, count(d)] as const).sort((a, b) => b[1] - a[1])[0]!
  return best[1] > 0 ? best[0] : ','
}

const uidSchema = posixName('uid')

export class UserImporter {
  constructor(
    private readonly audit: DirectoryAudit,
    private readonly guard: Guard,
    private readonly users: () => UserDirectory,
    private readonly groups: () => GroupDirectory,
    private readonly templates: TemplateStore,
    private readonly idEvents: (scope: DirectoryScope) => IdPoolEvents
  ) {}

  async run(scope: DirectoryScope, input: unknown, onProgress?: (done: number, total: number) => void, cancelled?: () => boolean): Promise<UserImportReport> {
    const dry = (input as { dryRun?: unknown })?.dryRun === true
    const entry: AuditEntry = { action: 'create', resourceType: 'ldap_user', resourceName: 'CSV import', details: { context: { profile: scope.conn.profile.name, via: 'csv-import' } } }
    return this.guard.run(scope, entry, dry ? 'viewer' : 'operator', dry ? 'previewing a user import' : 'importing users', async () => {
      const v = parseInput(userImportSchema, input)
      const conn = scope.conn
      const p = conn.profile
      const schema = await schemaOf(conn)
      const template = this.templates.get(p)

      let records: { record: string[]; info: { lines: number } }[]
      try {
        records = parse(v.text, { bom: true, delimiter: v.delimiter ?? sniffDelimiter(v.text), relax_column_count: true, skip_empty_lines: true, info: true, trim: false }) as never
      } catch (e) {
        const line = e instanceof CsvError ? ((e as unknown as { lines?: number }).lines ?? null) : null
        throw new AppError('VALIDATION', `${line ? `line ${line}: ` : ''}the file is not readable CSV (${(e as Error).message.replace(/^Invalid Record Length: |^Invalid Opening Quote: |^Quote Not Closed: /, '')})`, { field: 'text', ...(line ? { line } : {}) })
      }
      if (!records.length) throw new AppError('VALIDATION', 'text: the file is empty (a header row naming the columns is needed)', { field: 'text' })
      const header = records[0]!.record.map((h) => h.trim())

      // Columns -> attributes.
      const columns: { column: string; attribute: string }[] = []
      const unknown: string[] = []
      for (const h of header) {
        const mapped = Object.prototype.hasOwnProperty.call(v.mapping, h) ? v.mapping[h]! : undefined
        let attr: string | null
        if (mapped !== undefined) attr = mapped === '' ? null : mapped === 'password' || mapped === 'groups' ? mapped : schema.canonical(mapped)
        else if (/^(password|userpassword)$/i.test(h)) attr = 'password'
        else if (/^(groups?|memberof)$/i.test(h)) attr = 'groups'
        else if (schema.attribute(h)) attr = schema.canonical(h)
        else {
          unknown.push(h)
          continue
        }
        if (attr && attr !== 'password' && attr !== 'groups' && !schema.attribute(attr)) {
          throw new AppError('VALIDATION', `mapping: column "${h}" is mapped to ${attr}, which the server's schema does not know`, { field: 'mapping' })
        }
        columns.push({ column: h, attribute: attr ?? '' })
      }
      if (unknown.length) {
        throw new AppError('VALIDATION', `mapping: column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')} name${unknown.length > 1 ? '' : 's'} no attribute of the server's schema; map ${unknown.length > 1 ? 'them' : 'it'} to an attribute, or to nothing to ignore ${unknown.length > 1 ? 'them' : 'it'}`, {
          field: 'mapping',
          columns: unknown
        })
      }
      const uidCol = columns.findIndex((c) => c.attribute.toLowerCase() === 'uid')
      if (uidCol < 0) throw new AppError('VALIDATION', 'mapping: no column is mapped to uid', { field: 'mapping' })
      const mappedAttrs = [...new Set(columns.map((c) => c.attribute).filter((a) => a && a !== 'password' && a !== 'groups' && a.toLowerCase() !== 'uid'))]

      // What the directory holds already: uids (with the mapped attributes, for updates) and groups.
      const fileUids = new Set(records.slice(1).map((r) => (r.record[uidCol] ?? '').trim().toLowerCase()).filter(Boolean))
      const existing = new Map<string, { dn: string; attrs: Map<string, string[]> }>()
      const uidNumbersInUse = new Set<number>()
      // With a password column, updates compare the file's password with the stored hash (when readable).
      const readsPassword = v.onExisting === 'update' && columns.some((c) => c.attribute === 'password')
      const extra = readsPassword ? ['userPassword', 'objectClass'] : []
      const knownGroups = new Map<string, string>()
      const walker = conn.fork()
      try {
        for await (const page of walker.pages(p.baseDn, { filter: present('uid'), attributes: ['uid', 'uidNumber', ...mappedAttrs, ...extra] }, 1000)) {
          for (const e of page) {
            const n = e.int('uidNumber')
            if (n !== null) uidNumbersInUse.add(n)
            const uid = e.first('uid')
            if (!uid || !fileUids.has(uid.toLowerCase())) continue
            existing.set(uid.toLowerCase(), { dn: e.dn, attrs: new Map([...mappedAttrs, ...extra].map((a) => [a.toLowerCase(), e.all(a)])) })
          }
        }
        for await (const page of walker.pages(p.groupsDn, { filter: GROUP_CLASSES, attributes: ['cn'] }, 1000)) for (const g of page) for (const cn of g.all('cn')) knownGroups.set(cn.toLowerCase(), cn)
      } finally {
        await walker.close()
      }
      const missingTemplateGroups = template.groups.filter((g) => !knownGroups.has(g.toLowerCase()))
      if (missingTemplateGroups.length) {
        throw new AppError('VALIDATION', `template: the group${missingTemplateGroups.length > 1 ? 's' : ''} ${missingTemplateGroups.join(', ')} of profile ${p.name}'s template do${missingTemplateGroups.length > 1 ? '' : 'es'} not exist; fix the template (template set)`, { field: 'template' })
      }

      const classes = template.objectClasses
      const posix = classes.some((c) => c.toLowerCase() === 'posixaccount')
      const person = classes.some((c) => ['inetorgperson', 'person', 'organizationalperson'].includes(c.toLowerCase()))
      const seen = new Map<string, number>()
      const rows: PlannedRow[] = []
      for (const { record, info } of records.slice(1)) {
        const line = info.lines
        const uidRaw = (record[uidCol] ?? '').trim()
        const row: PlannedRow = { line, uid: uidRaw || null, action: 'create', reason: null }
        rows.push(row)
        const skip = (reason: string): void => {
          row.action = 'skip'
          row.reason = reason
        }
        if (record.length !== header.length) {
          skip(`has ${record.length} field${record.length === 1 ? '' : 's'}; the header has ${header.length}`)
          continue
        }
        const u = uidSchema.safeParse(uidRaw)
        if (!u.success) {
          skip(`bad uid ${JSON.stringify(uidRaw)}: ${u.error.issues[0]?.message ?? 'invalid'}`)
          continue
        }
        const key = uidRaw.toLowerCase()
        const first = seen.get(key)
        if (first !== undefined) {
          skip(`duplicate: uid ${uidRaw} is already on line ${first}`)
          continue
        }
        seen.set(key, line)

        const values = new Map<string, { name: string; values: string[] }>()
        let password: string | undefined
        const groups = new Set<string>(template.groups.map((g) => knownGroups.get(g.toLowerCase())!))
        let bad: string | null = null
        columns.forEach((c, i) => {
          const cell = record[i] ?? ''
          if (!c.attribute || bad) return
          if (c.attribute === 'password') {
            if (cell !== '') password = cell
            return
          }
          if (c.attribute === 'groups') {
            for (const g of cell.split(/[;|]/).map((x) => x.trim()).filter(Boolean)) {
              const known = knownGroups.get(g.toLowerCase())
              if (!known) bad = `unknown group "${g}"`
              else groups.add(known)
            }
            return
          }
          const value = cell.trim()
          if (value === '') return
          const k = c.attribute.toLowerCase()
          const cur = values.get(k) ?? { name: c.attribute, values: [] }
          cur.values.push(value)
          values.set(k, cur)
        })
        if (bad) {
          skip(bad)
          continue
        }
        const ex = existing.get(key)
        if (ex) {
          if (v.onExisting === 'skip') {
            skip(`exists (${ex.dn})`)
            continue
          }
          const changes: Change[] = []
          const diffs: AttributeDiff[] = []
          for (const [k, a] of values) {
            if (k === 'uid') continue
            const before = ex.attrs.get(k) ?? []
            const same = before.length === a.values.length && before.every((x, i) => x === a.values[i])
            if (same) continue
            const why = a.values.map((x) => schema.syntaxProblem(a.name, x)).find(Boolean)
            if (why) {
              bad = `schema: ${a.name} ${why}`
              break
            }
            changes.push(new Change({ operation: 'replace', modification: new Attribute({ type: a.name, values: a.values }) }))
            diffs.push({ attribute: a.name, before, after: a.values })
          }
          if (bad) {
            skip(bad)
            continue
          }
          // A password in the file: set unless the entry already holds it (verified against its {SSHA} hash).
          if (password) {
            const stored = ex.attrs.get('userpassword') ?? []
            if (!stored.some((h) => sshaVerify(password!, h))) {
              try {
                await this.users().passwordCheck?.(conn, ex.dn, password)
              } catch (e) {
                skip(`password: ${(e as Error).message.replace(/^password: /, '')}`)
                continue
              }
              row.password = password
              row.passwordSet = true
              row.shadow = (ex.attrs.get('objectclass') ?? []).some((c) => c.toLowerCase() === 'shadowaccount')
            }
          }
          row.dn = ex.dn
          row.groups = [...groups]
          row.update = changes
          row.changes = diffs
          row.action = changes.length || row.passwordSet ? 'update' : 'unchanged'
          continue
        }

        // A new user: the template, then the row's values, then what can be derived.
        const attrs: AttrMap = new Map()
        const put = (name: string, vals: string[]): void => {
          attrs.set(name.toLowerCase(), { name, values: vals })
        }
        put('objectClass', [...classes])
        for (const [name, vals] of Object.entries(template.attributes)) put(schema.canonical(name), vals.map((x) => expandPattern(x, uidRaw)))
        for (const a of values.values()) put(a.name, a.values)
        put('uid', [uidRaw])
        if (person && !attrs.has('cn')) {
          const given = attrs.get('givenname')?.values[0] as string | undefined
          const sn = attrs.get('sn')?.values[0] as string | undefined
          if (sn) put('cn', [given ? `${given} ${sn}` : sn])
        }
        if (posix) {
          if (!attrs.has('homedirectory')) put('homeDirectory', [expandPattern(template.homeDirectory, uidRaw)])
          if (!attrs.has('loginshell')) put('loginShell', [template.loginShell])
          if (!attrs.has('gidnumber') && p.defaultGidNumber !== undefined) put('gidNumber', [String(p.defaultGidNumber)])
          if (!attrs.has('uidnumber')) {
            row.needsUidNumber = true
            put('uidNumber', ['0']) // checked as an integer now, taken from the id pool when applied
          }
        }
        if (password) {
          try {
            await this.users().passwordCheck?.(conn, null, password)
          } catch (e) {
            skip(`password: ${(e as Error).message.replace(/^password: /, '')}`)
            continue
          }
        }
        if (password && classes.some((c) => c.toLowerCase() === 'shadowaccount')) put('shadowLastChange', [String(epochDays())])
        const problem = entryProblem(schema, attrs, null)
        if (problem) {
          skip(/is required/.test(problem) ? `missing required attribute: ${problem}` : `schema: ${problem}`)
          continue
        }
        row.dn = childDn('uid', uidRaw, p.usersDn)
        row.attrs = attrs as Map<string, { name: string; values: string[] }>
        row.password = password
        row.groups = [...groups]
      }

      const report: UserImportReport = {
        dryRun: v.dryRun,
        onExisting: v.onExisting,
        requestId: scope.ctx.requestId,
        columns,
        rows: [],
        created: 0,
        updated: 0,
        unchanged: rows.filter((r) => r.action === 'unchanged').length,
        skipped: rows.filter((r) => r.action === 'skip').length,
        failed: 0,
        cancelled: false,
        notAttempted: 0
      }
      const publicRow = (r: PlannedRow): UserImportRow => ({ line: r.line, uid: r.uid, action: r.action, reason: r.reason, ...(r.changes?.length ? { changes: r.changes } : {}), ...(r.passwordSet ? { passwordSet: true } : {}), ...(r.notAttempted ? { notAttempted: true } : {}), ...(r.error ? { error: r.error } : {}) })
      if (v.dryRun) {
        report.rows = rows.map(publicRow)
        report.created = rows.filter((r) => r.action === 'create').length
        report.updated = rows.filter((r) => r.action === 'update').length
        return report
      }

      const work = rows.filter((r) => r.action === 'create' || r.action === 'update' || (r.action === 'unchanged' && r.groups?.length))
      const method = work.some((r) => r.password) ? await this.users().passwordMethod(conn) : 'ssha'
      const needing = work.filter((r) => r.action === 'create' && r.needsUidNumber)
      if (needing.length && !cancelled?.()) {
        const numbers = await allocateBlock(conn, 'uidNumber', needing.length, this.idEvents(scope), uidNumbersInUse)
        needing.forEach((r, i) => r.attrs!.set('uidnumber', { name: 'uidNumber', values: [String(numbers[i])] }))
      }
      const joined = new Map<string, string[]>()
      // Appended in place: copying the list per row made 10,000 rows joining one group quadratic.
      const join = (g: string, uid: string): void => {
        const list = joined.get(g)
        if (list) list.push(uid)
        else joined.set(g, [uid])
      }
      let done = 0
      const attempted = new Set<PlannedRow>()
      // New users go in LDAP transactions of BATCH when the server offers them (see LdapConnection.addAll);
      // a create that also needs Password Modify, and every update, goes on its own.
      const batched = (await conn.supportsTransactions().catch(() => false)) ? work.filter((r) => r.action === 'create' && !(r.password && method === 'password-modify')) : []
      const inBatch = new Set(batched)
      const single = work.filter((r) => !inBatch.has(r))
      // At least about BATCHES_AT_LEAST batches, so that progress moves and a cancel stops a small import early.
      const batchSize = Math.max(1, Math.min(BATCH, Math.ceil(batched.length / BATCHES_AT_LEAST)))
      let nextBatch = 0
      const batchWorker = async (): Promise<void> => {
        if (nextBatch >= batched.length || cancelled?.()) return
        const own = conn.fork()
        try {
          for (;;) {
            if (cancelled?.()) {
              report.cancelled = true
              return
            }
            const batch = batched.slice(nextBatch, nextBatch + batchSize)
            nextBatch += batchSize
            if (!batch.length) return
            for (const r of batch) attempted.add(r)
            let results: (AppError | null)[]
            try {
              results = await this.createBatch(scope, own, batch, method)
            } catch (e) {
              results = batch.map(() => (e instanceof AppError ? e : new AppError('INTERNAL', (e as Error).message)))
            }
            batch.forEach((r, i) => {
              const err = results[i]
              if (err) {
                r.error = err.message
                report.failed++
              } else {
                report.created++
                for (const g of r.groups ?? []) join(g, r.uid!)
              }
            })
            // Progress per row, as the rows settle (the batch's commit settles them together).
            for (let i = 0; i < batch.length; i++) onProgress?.(++done, work.length)
          }
        } finally {
          await own.close()
        }
      }
      let next = 0
      const worker = async (): Promise<void> => {
        for (;;) {
          if (cancelled?.()) {
            report.cancelled = true
            return
          }
          const r = single[next++]
          if (!r) return
          attempted.add(r)
          try {
            if (r.action === 'create') {
              await this.create(scope, r, method)
              report.created++
            } else if (r.action === 'update') {
              await this.update(scope, r, method)
              report.updated++
            }
            for (const g of r.groups ?? []) join(g, r.uid!)
          } catch (e) {
            r.error = (e as Error).message
            report.failed++
          }
          onProgress?.(++done, work.length)
        }
      }
      await Promise.all([...Array.from({ length: BATCH_CONNECTIONS }, batchWorker), ...Array.from({ length: CONCURRENCY }, worker)])
      if (report.cancelled) {
        // LDAP has no transaction: the rows taken before the cancel stay written; the rest are named.
        for (const r of work) if (!attempted.has(r)) r.notAttempted = true
        report.notAttempted = work.filter((r) => r.notAttempted).length
      }

      // Memberships: one audited change per group (members already in it are left as they are).
      for (const [cn, uids] of joined) {
        try {
          await this.groups().addMembers(scope, { cn, members: uids })
        } catch (e) {
          for (const r of rows) if (r.uid && uids.includes(r.uid)) r.error = `${r.error ? `${r.error}; ` : ''}not added to group ${cn}: ${(e as Error).message}`
        }
      }
      report.rows = rows.map(publicRow)
      return report
    })
  }

  /** A new user's audit entry: the attributes as sent (never the password, only whether one was set and how). */
  private createEntry(scope: DirectoryScope, r: PlannedRow, method: 'password-modify' | 'ssha'): AuditEntry {
    const after = Object.fromEntries([...r.attrs!.values()].filter((a) => a.name !== 'objectClass' && a.name !== 'shadowLastChange').map((a) => [a.name, a.values.length === 1 ? a.values[0] : a.values]))
    return {
      action: 'create',
      resourceType: 'ldap_user',
      resourceId: r.dn!,
      resourceName: auditName(r.uid),
      details: { after: { dn: r.dn, ...after }, context: { profile: scope.conn.profile.name, via: 'csv-import', line: r.line, passwordSet: Boolean(r.password), ...(r.password ? { passwordMethod: method } : {}) } }
    }
  }

  /** The attributes an add sends: the planned ones, and the {SSHA} hash of the file's password when the server has no Password Modify. */
  private addList(r: PlannedRow, method: 'password-modify' | 'ssha'): Attribute[] {
    const list = [...r.attrs!.values()].map((a) => new Attribute({ type: a.name, values: a.values }))
    if (r.password && method === 'ssha') list.push(new Attribute({ type: 'userPassword', values: [sshaHash(r.password)] }))
    return list
  }

  /**
   * New users in one LDAP transaction on `conn` (a connection of the caller's own), audited per user by
   * DirectoryAudit.changeMany. When the server refuses the transaction (one add of it refused: nothing was
   * written), each add is sent again on its own, so the refused row fails with its own reason and the others
   * are created. A lost connection leaves the batch's outcome unknown: every row is reported with that error.
   */
  private async createBatch(scope: DirectoryScope, conn: LdapConnection, batch: PlannedRow[], method: 'password-modify' | 'ssha'): Promise<(AppError | null)[]> {
    return this.audit.changeMany(
      scope.ctx,
      batch.map((r) => this.createEntry(scope, r, method)),
      async () => {
        try {
          await conn.addAll(batch.map((r) => ({ dn: r.dn!, attributes: this.addList(r, method) })), 'uid')
          return batch.map(() => null)
        } catch (e) {
          if (e instanceof AppError && e.details?.kind === 'outcome-unknown') return batch.map(() => e)
          return Promise.all(
            batch.map((r) =>
              conn.addEntry(r.dn!, this.addList(r, method), 'uid').then(
                () => null,
                (e2: unknown) => (e2 instanceof AppError ? e2 : new AppError('INTERNAL', (e2 as Error).message))
              )
            )
          )
        }
      }
    )
  }

  private async create(scope: DirectoryScope, r: PlannedRow, method: 'password-modify' | 'ssha'): Promise<void> {
    const conn = scope.conn
    await this.audit.change(
      scope.ctx,
      this.createEntry(scope, r, method),
      async () => {
        await conn.addEntry(r.dn!, this.addList(r, method), 'uid')
        if (r.password && method === 'password-modify') {
          try {
            await conn.exop(OID_PASSWORD_MODIFY, passwordModifyValue(r.dn!, r.password), `set the password of ${r.dn}`, 'password')
          } catch (e) {
            await conn.del(r.dn!).catch(() => undefined)
            throw e
          }
        }
      }
    )
  }

  private async update(scope: DirectoryScope, r: PlannedRow, method: 'password-modify' | 'ssha'): Promise<void> {
    const conn = scope.conn
    await this.audit.change(
      scope.ctx,
      {
        action: 'update',
        resourceType: 'ldap_user',
        resourceId: r.dn!,
        resourceName: auditName(r.uid),
        details: {
          before: Object.fromEntries((r.changes ?? []).map((c) => [c.attribute, c.before])),
          after: Object.fromEntries((r.changes ?? []).map((c) => [c.attribute, c.after])),
          context: { profile: conn.profile.name, via: 'csv-import', line: r.line, passwordSet: Boolean(r.password), ...(r.password ? { passwordMethod: method } : {}) }
        }
      },
      async () => {
        if (r.update?.length) await conn.modify(r.dn!, r.update, 'uid')
        if (!r.password) return
        const last = r.shadow ? [new Change({ operation: 'replace', modification: new Attribute({ type: 'shadowLastChange', values: [String(epochDays())] }) })] : []
        if (method === 'password-modify') {
          await conn.exop(OID_PASSWORD_MODIFY, passwordModifyValue(r.dn!, r.password), `set the password of ${r.dn}`, 'password')
          if (last.length) await conn.modify(r.dn!, last, 'password')
        } else {
          await conn.modify(r.dn!, [new Change({ operation: 'replace', modification: new Attribute({ type: 'userPassword', values: [sshaHash(r.password)] }) }), ...last], 'password')
        }
      }
    )
  }
}

/** The renderer's CSV writer (RFC 4180 quoting, formula neutralisation) and the client-side audit export. */
import { parse } from 'csv-parse/sync'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { AuditEntryDto, AuditPage } from '../../src/shared/audit'
import { loadAuditExport, loadCsv } from './renderer-modules'

const { csvField, csvRecord, neutraliseFormula, toCsv } = await loadCsv()
const { AUDIT_CSV_COLUMNS, exportAudit, exportFileName } = await loadAuditExport()

describe('csvField', () => {
  it('leaves plain text alone', () => {
    expect(csvField('web01')).toBe('web01')
    expect(csvField(42)).toBe('42')
    expect(csvField(true)).toBe('true')
  })

  it('writes null and undefined as empty fields and objects as JSON', () => {
    expect(csvField(null)).toBe('')
    expect(csvField(undefined)).toBe('')
    expect(csvField({ a: 1 })).toBe('"{""a"":1}"')
  })

  it('quotes fields holding a comma, a quote, CR or LF, doubling inner quotes', () => {
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField('line1\nline2')).toBe('"line1\nline2"')
    expect(csvField('a\r\nb')).toBe('"a\r\nb"')
  })

  it('neutralises cells a spreadsheet would run as a formula', () => {
    for (const s of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) expect(neutraliseFormula(s)).toBe(`'${s}`)
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`)
    expect(csvField('\rcmd')).toBe(`"'\rcmd"`)
    expect(neutraliseFormula('a=b')).toBe('a=b')
    expect(neutraliseFormula('')).toBe('')
  })

  it('ends every record with CRLF', () => {
    expect(csvRecord(['a', 'b,c', null])).toBe('a,"b,c",\r\n')
    expect(toCsv(['h1', 'h2'], [['1', '2']])).toBe('h1,h2\r\n1,2\r\n')
  })

  it('round-trips any text through an RFC 4180 parser (after neutralisation)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 5 }), (rows) => {
        const width = rows[0]!.length
        const table = rows.map((r) => Array.from({ length: width }, (_, i) => r[i] ?? ''))
        const text = table.map((r) => csvRecord(r)).join('')
        const back = parse(text, { relax_column_count: false, record_delimiter: '\r\n', skip_empty_lines: false }) as string[][]
        expect(back).toEqual(table.map((r) => r.map(neutraliseFormula)))
      })
    )
  })
})

function entry(seq: number, over: Partial<AuditEntryDto> = {}): AuditEntryDto {
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    seq: String(seq),
    createdAt: new Date(Date.UTC(2026, 10, 27, 12, 0, seq % 60)).toISOString(),
    action: 'update',
    resourceType: 'ip_allocation',
    resourceId: String(seq),
    resourceName: '10.0.0.1',
    userId: 'alice',
    userIp: '127.0.0.1',
    userAgent: 'Mozilla/5.0 (X11, "quoted")',
    status: 'success',
    source: 'ui',
    requestId: null,
    details: { before: { hostname: 'a' }, after: { hostname: '=cmd|calc' } },
    prevHash: 'p'.repeat(64),
    rowHash: 'r'.repeat(64),
    ...over
  }
}

/** A fake audit:list over `n` rows numbered n..1, newest first, honouring before and limit. */
function source(n: number) {
  const calls: { before?: string; limit: number }[] = []
  const fetchPage = async (before: string | undefined, limit: number): Promise<AuditPage> => {
    calls.push({ before, limit })
    const top = before ? Number(before) - 1 : n
    const items: AuditEntryDto[] = []
    for (let s = top; s >= 1 && items.length < limit + 1; s--) items.push(entry(s))
    const page = items.slice(0, limit)
    return { items: page, nextCursor: items.length > limit ? page[page.length - 1]!.seq : null }
  }
  return { calls, fetchPage }
}

describe('exportAudit', () => {
  it('pages through every row with the keyset cursor and writes parseable CSV', async () => {
    const { calls, fetchPage } = source(2500)
    const progress: number[] = []
    const r = await exportAudit('csv', fetchPage, { pageSize: 1000, onProgress: (n) => progress.push(n) })
    expect(r).toMatchObject({ rows: 2500, truncated: false, cancelled: false })
    expect(calls.map((c) => c.before)).toEqual([undefined, '1501', '501'])
    expect(progress).toEqual([1000, 2000, 2500])
    const records = parse(r.parts.join(''), { columns: true }) as Record<string, string>[]
    expect(records).toHaveLength(2500)
    expect(Object.keys(records[0]!)).toEqual([...AUDIT_CSV_COLUMNS])
    expect(records[0]!.seq).toBe('2500')
    expect(records[2499]!.seq).toBe('1')
    expect(records[0]!.userAgent).toBe('Mozilla/5.0 (X11, "quoted")')
    // details is JSON text; it starts with { so it is not neutralised, and it parses back.
    expect(JSON.parse(records[0]!.details!)).toEqual({ before: { hostname: 'a' }, after: { hostname: '=cmd|calc' } })
  })

  it('stops at the cap and says more rows matched', async () => {
    const { fetchPage } = source(2500)
    const r = await exportAudit('json', fetchPage, { pageSize: 1000, cap: 1500 })
    expect(r.rows).toBe(1500)
    expect(r.truncated).toBe(true)
    const rows = JSON.parse(r.parts.join('')) as AuditEntryDto[]
    expect(rows.map((e) => e.seq)).toEqual(Array.from({ length: 1500 }, (_, i) => String(2500 - i)))
  })

  it('is not truncated when the rows fit the cap exactly', async () => {
    const { fetchPage } = source(1500)
    const r = await exportAudit('csv', fetchPage, { pageSize: 1000, cap: 1500 })
    expect(r).toMatchObject({ rows: 1500, truncated: false })
  })

  it('writes an empty JSON array and a header-only CSV when nothing matches', async () => {
    const { fetchPage } = source(0)
    expect(JSON.parse((await exportAudit('json', fetchPage)).parts.join(''))).toEqual([])
    expect((await exportAudit('csv', fetchPage)).parts.join('')).toBe(AUDIT_CSV_COLUMNS.join(',') + '\r\n')
  })

  it('stops when cancelled', async () => {
    const { fetchPage } = source(5000)
    const ctl = new AbortController()
    const r = await exportAudit('csv', fetchPage, { pageSize: 1000, onProgress: (n) => n >= 2000 && ctl.abort(), signal: ctl.signal })
    expect(r).toMatchObject({ rows: 2000, cancelled: true })
  })

  it('names files by format and local time', () => {
    expect(exportFileName('csv', new Date(2026, 10, 27, 9, 5, 3))).toBe('netkeeper-audit-20261127-090503.csv')
  })
})

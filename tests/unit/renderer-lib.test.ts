/** The renderer's pure helpers: subnet map geometry and states, the audit diff, error wording. */
import { describe, expect, it } from 'vitest'
import { AppError } from '../../src/shared/errors'
import { parseCidr } from '../../src/shared/net'
import { loadDiff, loadErrors, loadFormatNum, loadSubnet, loadTime, loadToasts, loadWindow, type ToastNotice } from './renderer-modules'

const { diffValues, displayValue } = await loadDiff()
const { check, fieldOf, reasonOf, userMessage } = await loadErrors()
const { formatCount } = await loadFormatNum()
const { appendWithin } = await loadWindow()
const { isoToLocalInput, localInputToIso, relativeTime } = await loadTime()
const {
  addressGridLayout,
  aggregateTiles,
  cellOrigin,
  countStates,
  decodeStates,
  indexAt,
  intToIpv4,
  ipv4ToInt,
  moveFocus,
  ROW_LABEL_LINE,
  ROW_LABEL_MIN_GAP,
  rowLabelPositions,
  STATE_CODE,
  statesForTile,
  tileGridLayout,
  tilesFromServer
} = await loadSubnet()

const { MAX_TOASTS, pushNotice } = await loadToasts()

describe('row labels of the subnet map', () => {
  it.each([
    ['a /16 as 65,536 addresses', () => addressGridLayout(65536)],
    ['a /22', () => addressGridLayout(1024)],
    ['a /24', () => addressGridLayout(256)],
    ['a /8 as 65,536 tiles', () => tileGridLayout(65536)],
    ['a /12 as 4,096 tiles', () => tileGridLayout(4096)]
  ])('spaces the labels of %s evenly, a line and a gap apart, starting with the first row', (_name, make) => {
    const layout = make()
    const labels = rowLabelPositions(layout)
    expect(labels[0]!.row).toBe(0)
    expect(labels[0]!.top).toBeGreaterThanOrEqual(0)
    const gaps = labels.slice(1).map((l, i) => l.top - labels[i]!.top)
    expect(gaps.length).toBeGreaterThan(0)
    expect(new Set(gaps).size).toBe(1) // the first two no closer than the rest
    expect(gaps[0]).toBeGreaterThanOrEqual(ROW_LABEL_LINE + ROW_LABEL_MIN_GAP)
    expect(labels.every((l) => l.top + ROW_LABEL_LINE <= layout.height + layout.pitch)).toBe(true)
  })

  it('labels the /16 every 8th row (every 8th /24: 10.20.0.0, 10.20.8.0, ...)', () => {
    expect(rowLabelPositions(addressGridLayout(65536)).slice(0, 3)).toEqual([
      { row: 0, top: 0 },
      { row: 8, top: 24 },
      { row: 16, top: 48 }
    ])
  })
})

describe('the toast stack', () => {
  const push = (items: ToastNotice[], text: string, tone: 'ok' | 'bad' | 'warn' = 'ok', id = items.length + 100) => pushNotice(items, text, tone, id)

  it('merges an identical message into one toast with a count, moved to the newest place', () => {
    let items: ToastNotice[] = []
    items = push(items, 'Saved.', 'ok', 1).items
    items = push(items, 'Other.', 'ok', 2).items
    const r = push(items, 'Saved.', 'ok', 3)
    expect(r.items.map((n) => [n.id, n.text, n.count])).toEqual([
      [2, 'Other.', 1],
      [1, 'Saved.', 2]
    ])
    expect(r.notice).toMatchObject({ id: 1, count: 2 })
    expect(r.dropped).toEqual([])
    // Same words in another tone are a different message.
    expect(push(r.items, 'Saved.', 'bad', 4).items).toHaveLength(3)
  })

  it('keeps at most MAX_TOASTS, pushing out the oldest confirmation before any error', () => {
    let items: ToastNotice[] = []
    items = push(items, 'Failed A.', 'bad', 1).items
    items = push(items, 'Done B.', 'ok', 2).items
    items = push(items, 'Done C.', 'ok', 3).items
    const r = push(items, 'Done D.', 'warn', 4)
    expect(r.items).toHaveLength(MAX_TOASTS)
    expect(r.items.map((n) => n.text)).toEqual(['Failed A.', 'Done C.', 'Done D.'])
    expect(r.dropped.map((n) => n.text)).toEqual(['Done B.'])
  })

  it('drops the oldest error only when every toast is an error, never the one just raised', () => {
    let items: ToastNotice[] = []
    for (let i = 1; i <= MAX_TOASTS; i++) items = push(items, `Failed ${i}.`, 'bad', i).items
    const r = push(items, 'Failed new.', 'bad', 99)
    expect(r.items.map((n) => n.text)).toEqual(['Failed 2.', 'Failed 3.', 'Failed new.'])
    expect(r.dropped.map((n) => n.id)).toEqual([1])
  })
})

describe('subnet map helpers', () => {
  it('converts IPv4 text and numbers both ways, including the top of the range', () => {
    expect(ipv4ToInt('10.1.2.3')).toBe(0x0a010203)
    expect(ipv4ToInt('255.255.255.255')).toBe(0xffffffff)
    expect(intToIpv4(0xffffffff)).toBe('255.255.255.255')
    expect(intToIpv4(ipv4ToInt('192.168.0.1') + 255)).toBe('192.168.1.0')
    expect(() => ipv4ToInt('10.1.2')).toThrow()
  })

  it('decodes base64 states and counts them', () => {
    const raw = new Uint8Array([5, 1, 0, 2, 3, 4, 6, 5, 9, 11, 11])
    const b64 = Buffer.from(raw).toString('base64')
    const s = decodeStates(b64)
    expect([...s]).toEqual([...raw])
    expect(countStates(s)).toEqual({ free: 1, allocated: 1, reserved: 1, blocked: 1, gateway: 1, network: 2, lapsed: 1, range: 0, child: 0, leased: 1, 'leased-range': 0, 'leased-free': 2 })
  })

  it('lays a /16 out as 256 rows of 256 cells and finds the cell under a point', () => {
    const l = addressGridLayout(65536)
    expect(l).toMatchObject({ cols: 256, rows: 256, cell: 3, gap: 0 })
    expect(l.width).toBe(768)
    expect(indexAt(l, 65536, 0, 0)).toBe(0)
    expect(indexAt(l, 65536, 3, 0)).toBe(1)
    expect(indexAt(l, 65536, 767, 767)).toBe(65535)
    expect(indexAt(l, 65536, 800, 0)).toBeNull()
    expect(cellOrigin(l, 257)).toEqual({ x: 3, y: 3 })
    // With gaps, a point in the gap belongs to the cell before it.
    const small = addressGridLayout(256)
    expect(indexAt(small, 256, small.cell + 1, 0)).toBe(0)
  })

  it('returns null for points past the last cell of a short last row', () => {
    const l = addressGridLayout(40)
    expect(l.cols).toBe(16)
    expect(indexAt(l, 40, 15 * l.pitch, 2 * l.pitch)).toBeNull()
    expect(indexAt(l, 40, 7 * l.pitch, 2 * l.pitch)).toBe(39)
  })

  it('moves the focus cell with arrow keys, Home/End and paging, clamped to the grid', () => {
    const l = addressGridLayout(256) // 32 x 8
    expect(moveFocus(l, 256, 0, 'ArrowLeft')).toBe(0)
    expect(moveFocus(l, 256, 0, 'ArrowRight')).toBe(1)
    expect(moveFocus(l, 256, 5, 'ArrowDown')).toBe(37)
    expect(moveFocus(l, 256, 37, 'ArrowUp')).toBe(5)
    expect(moveFocus(l, 256, 37, 'Home')).toBe(32)
    expect(moveFocus(l, 256, 37, 'End')).toBe(63)
    expect(moveFocus(l, 256, 250, 'ArrowDown')).toBe(255)
    expect(moveFocus(l, 256, 5, 'PageDown')).toBe(229)
    expect(moveFocus(l, 256, 5, 'PageUp')).toBe(5)
    expect(moveFocus(l, 256, 5, 'x')).toBeNull()
  })

  it('sizes tile grids for every width of pool', () => {
    expect(tileGridLayout(256)).toMatchObject({ cols: 16, rows: 16 })
    expect(tileGridLayout(65536)).toMatchObject({ cols: 256, rows: 256 })
  })

  it('aggregates a cells map into /24 tiles, leaving network, broadcast and gateway out of the usable count', () => {
    const states = new Uint8Array(1024)
    states[0] = STATE_CODE.network
    states[1] = STATE_CODE.gateway
    states[1023] = STATE_CODE.network
    states[2] = STATE_CODE.allocated
    states[300] = STATE_CODE.reserved
    states[301] = STATE_CODE.blocked
    states[302] = STATE_CODE.lapsed
    const tiles = aggregateTiles(states, ipv4ToInt('10.0.0.0'))
    expect(tiles.map((t) => t.network)).toEqual(['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24'])
    expect(tiles[0]).toMatchObject({ allocated: 1, usable: 254 })
    expect(tiles[1]).toMatchObject({ reserved: 1, blocked: 1, allocated: 0, usable: 256 })
    expect(tiles[3]).toMatchObject({ usable: 255 })
  })

  it('fills in the empty tiles of a server tile summary', () => {
    const tiles = tilesFromServer('10.0.0.0/14', 1024, [{ network: '10.0.5.0/24', used: 3, reserved: 1, blocked: 0 }], '10.0.0.1')
    expect(tiles).toHaveLength(1024)
    expect(tiles[5]).toMatchObject({ network: '10.0.5.0/24', allocated: 3, reserved: 1, usable: 256 })
    expect(tiles[0]).toMatchObject({ usable: 254, allocated: 0 })
    expect(tiles[1023]).toMatchObject({ network: '10.3.255.0/24', usable: 255 })
  })

  it('rebuilds the cells of one /24 from its allocations', () => {
    const pool = { network: '10.0.0.0/14', gateway: '10.0.0.1' }
    const s = statesForTile(ipv4ToInt('10.0.0.0'), [
      { ip: '10.0.0.7', status: 'allocated', expired: false },
      { ip: '10.0.0.8', status: 'reserved', expired: true },
      { ip: '10.0.1.9', status: 'allocated', expired: false }
    ], pool)
    expect(s[0]).toBe(STATE_CODE.network)
    expect(s[1]).toBe(STATE_CODE.gateway)
    expect(s[7]).toBe(STATE_CODE.allocated)
    expect(s[8]).toBe(STATE_CODE.lapsed)
    expect(s[255]).toBe(STATE_CODE.free)
    const last = statesForTile(ipv4ToInt('10.3.255.0'), [], pool)
    expect(last[255]).toBe(STATE_CODE.network)
  })
})

describe('diffValues', () => {
  it('lists changed, unchanged, added and removed fields, flattening nested objects', () => {
    const rows = diffValues({ hostname: 'a', owner: 'x', holder: { mac: '1' }, gone: 1 }, { hostname: 'b', owner: 'x', holder: { mac: '2' }, added: [1, 2] })
    expect(rows).toEqual([
      { field: 'hostname', kind: 'changed', before: 'a', after: 'b' },
      { field: 'owner', kind: 'unchanged', before: 'x', after: 'x' },
      { field: 'holder.mac', kind: 'changed', before: '1', after: '2' },
      { field: 'gone', kind: 'removed', before: 1 },
      { field: 'added', kind: 'added', after: [1, 2] }
    ])
  })

  it('treats a create as all added and a delete as all removed', () => {
    expect(diffValues(undefined, { a: 1 })).toEqual([{ field: 'a', kind: 'added', after: 1 }])
    expect(diffValues({ a: null }, undefined)).toEqual([{ field: 'a', kind: 'removed', before: null }])
  })

  it('shows values plainly', () => {
    expect(displayValue(null)).toBe('null')
    expect(displayValue('x')).toBe('x')
    expect(displayValue([1])).toBe('[1]')
    expect(displayValue(undefined)).toBe('')
  })
})

describe('error wording', () => {
  it('finds the field and strips it from the reason', () => {
    const e = new AppError('VALIDATION', 'changes.network: "10.1.2.3/24" has host bits set', { field: 'changes.network' })
    expect(fieldOf(e)).toBe('network')
    expect(reasonOf(e)).toBe('"10.1.2.3/24" has host bits set')
    expect(fieldOf(new Error('x'))).toBeUndefined()
  })

  it('adds what to do for errors about no field', () => {
    expect(userMessage(new AppError('UNAVAILABLE', 'the database is not open'))).toMatch(/^The database is not open\. Check the database connection/)
    expect(userMessage(new AppError('CONFLICT', 'ip: taken'))).toBe('ip: taken')
  })

  it('reads validator errors from src/shared/net, suggestion included', () => {
    expect(check(() => parseCidr('10.1.2.3/24'))).toBe('"10.1.2.3/24" has host bits set; did you mean 10.1.2.0/24?')
    expect(check(() => parseCidr('10.1.2.0/24'))).toBeUndefined()
  })
})

describe('time helpers', () => {
  it('round-trips a datetime-local value through ISO-8601', () => {
    const iso = localInputToIso('2026-11-27T14:05')!
    expect(isoToLocalInput(iso)).toBe('2026-11-27T14:05')
    expect(localInputToIso('')).toBeUndefined()
    expect(isoToLocalInput(null)).toBe('')
  })

  it('says how long ago', () => {
    const now = Date.parse('2026-11-27T12:00:00Z')
    expect(relativeTime('2026-11-27T11:59:50Z', now)).toBe('just now')
    expect(relativeTime('2026-11-27T11:58:00Z', now)).toBe('2 minutes ago')
    expect(relativeTime('2026-11-25T12:00:00Z', now)).toBe('2 days ago')
  })
})

describe('formatCount', () => {
  it('separates thousands and turns counts too long to read into a power of ten', () => {
    expect(formatCount(65533)).toBe('65,533')
    expect(formatCount('999999999999999')).toBe('999,999,999,999,999')
    expect(formatCount('1208925819614629174706175')).toBe('1.2 × 10²⁴')
    expect(formatCount(18446744073709551616n)).toBe('1.8 × 10¹⁹')
  })
})

describe('a bounded window of rows', () => {
  it('appends a page and lets go of the oldest rows past the limit, saying how many', () => {
    expect(appendWithin([1, 2, 3], [4, 5], 10)).toEqual({ rows: [1, 2, 3, 4, 5], dropped: 0 })
    expect(appendWithin([1, 2, 3], [4, 5], 4)).toEqual({ rows: [2, 3, 4, 5], dropped: 1 })
    expect(appendWithin([1, 2], [3, 4, 5, 6], 3)).toEqual({ rows: [4, 5, 6], dropped: 3 })
    const rows = [1]
    appendWithin(rows, [2], 1)
    expect(rows).toEqual([1])
  })
})
